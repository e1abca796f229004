"""A transient fault inside a step that changes the cluster is retried within a bound; a
persistent one still ends the step with a clear message.

The crash-and-fault matrix (bench/bench_crash_matrix.py) found three faults that failed a
renewal on their first occurrence: a 503 with Retry-After on a certificate read
(``http-error``), an SSH password refusal (``ssh-auth-fail``) and a subscriber briefly
unreachable while the multi-server CSR was exported (``unreachable-flap``).

Sources: RFC 9110 §9.2.2 (GET is idempotent, so a client may repeat it on its own), §15.6.4
and §10.2.3 (503 with Retry-After: come back then); RFC 6585 §4 (429). ssh_config(5): a
stock OpenSSH client asks for a password ``NumberOfPasswordPrompts`` (3) times before it
gives up. Cisco's Certificate Management guide: a multi-server CSR is distributed to every
node of the cluster, and a node that was not reached lacks it.
"""

from __future__ import annotations

import dataclasses

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.clients.cucm import ssh_logins
from activities.clients.cucm.axl import AxlClient
from activities.clients.cucm.backoff import Backoff
from activities.clients.cucm.certmgr import CertMgrClient
from activities.clients.cucm.cli import CucmCli
from activities.clients.cucm.controlcenter import ControlCenterClient
from activities.clients.cucm.errors import (
    CucmAuthError,
    CucmHttpError,
    CucmResponseLost,
    CucmUnreachable,
)
from activities.clients.cucm.risport import RisPortClient
from activities.clients.cucm.transport import BasicAuth
from activities.cluster_models import CsrRequest
from activities.cucm import CucmActivities, csr_misses
from lab.faults import Fault
from tests.lab.conftest import LabHandle


def _rest_503(count: int | None) -> Fault:
    return Fault(
        kind="http-error",
        node="cucm-pub",
        target="rest",
        count=count,
        params={"status": 503, "retry_after": 1},
    )


def _recording(waits: list[float]) -> Backoff:
    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    return Backoff(attempts=5, maximum=30.0, sleep=sleep)


@pytest.fixture(autouse=True)
def _fresh_logins(monkeypatch: pytest.MonkeyPatch) -> None:
    """No login vouches from another test, and no real waits between SSH tries."""
    ssh_logins.LOGINS.forget()
    monkeypatch.setattr(ssh_logins, "WAIT_SECONDS", 0.0)


async def test_a_503_on_a_certificate_read_is_read_again_after_retry_after(
    lab: LabHandle,
) -> None:
    """The matrix's ``identity read failed with HTTP 503`` / ``trust list failed with HTTP
    503``: one 503 on a GET no longer fails the step; the wait is what the node asked."""
    waits: list[float] = []
    lab.lab.faults.add(_rest_503(count=2))
    async with CertMgrClient(lab.endpoint("cucm-pub"), lab.os_admin, _recording(waits)) as rest:
        pem = await rest.get_identity("tomcat")
        trust = await rest.list_trust("tomcat-trust")
    assert "BEGIN CERTIFICATE" in pem and trust
    assert waits == [1.0, 1.0]
    assert lab.lab.faults.active() == []  # both 503s were answered, and read past


async def test_a_503_that_persists_is_still_reported_after_a_bounded_number_of_reads(
    lab: LabHandle,
) -> None:
    waits: list[float] = []
    fault = lab.lab.faults.add(_rest_503(count=None))
    async with CertMgrClient(lab.endpoint("cucm-pub"), lab.os_admin, _recording(waits)) as rest:
        with pytest.raises(CucmHttpError) as failed:
            await rest.get_identity("tomcat")
    assert failed.value.status == 503 and "identity read failed with HTTP 503" in str(failed.value)
    assert len(waits) == 4
    assert next(f for f in lab.lab.faults.active() if f.id == fault.id).fired == 5


async def test_a_write_is_sent_once_on_a_503(lab: LabHandle) -> None:
    """A POST that answered 503 is not repeated by the client (its caller reads back)."""
    waits: list[float] = []
    lab.lab.faults.add(_rest_503(count=1))
    async with CertMgrClient(lab.endpoint("cucm-pub"), lab.os_admin, _recording(waits)) as rest:
        with pytest.raises(CucmHttpError):
            await rest.generate_csr("tomcat", multi_server=True)
    assert waits == [] and lab.lab.journal.entries("csr.generated") == []


async def test_one_ssh_password_refusal_is_tried_again(lab: LabHandle) -> None:
    """The matrix's ``does not answer SSH: SSH password refused`` at a 1-in-5 rate."""
    lab.lab.faults.add(Fault(kind="ssh-auth-fail", node="cucm-pub", count=2))
    async with CucmCli(lab.endpoint("cucm-pub"), lab.os_admin) as shell:
        assert (await shell.sso_status()) is not None
    assert len(lab.lab.journal.entries("fault.fired")) == 2


async def test_a_wrong_ssh_password_fails_after_three_tries_with_what_to_check(
    lab: LabHandle,
) -> None:
    wrong = BasicAuth(lab.os_admin.username, "not-the-password")
    with pytest.raises(CucmAuthError) as refused:
        async with CucmCli(lab.endpoint("cucm-pub"), wrong):
            pass
    message = str(refused.value)
    assert "refused" in message and "3 times in a row" in message
    assert "credentials.os_admin" in message and "not-the-password" not in message
    assert not refused.value.retryable
    assert lab.lab.journal.entries("cli.login") == []


async def test_an_account_the_cluster_accepted_gets_more_tries_than_a_new_one(
    lab: LabHandle,
) -> None:
    ep = lab.endpoint("cucm-pub")
    lab.lab.faults.add(Fault(kind="ssh-auth-fail", node="cucm-pub", count=3))
    with pytest.raises(CucmAuthError, match="3 times in a row"):
        async with CucmCli(ep, lab.os_admin):
            pass
    async with CucmCli(ep, lab.os_admin):
        pass  # accepted: the password is right
    lab.lab.faults.add(
        Fault(kind="ssh-auth-fail", node="cucm-pub", count=ssh_logins.KNOWN_TRIES - 1)
    )
    async with CucmCli(ep, lab.os_admin) as shell:
        assert (await shell.sso_status()) is not None
    lab.lab.faults.add(Fault(kind="ssh-auth-fail", node="cucm-pub"))
    with pytest.raises(CucmAuthError, match="accepted it shortly before"):
        async with CucmCli(ep, lab.os_admin):
            pass


def test_csr_misses_compares_host_names() -> None:
    exported = ["cucm-pub.lab.example.com", "CUCM-SUB1"]
    expected = [
        "cucm-pub.lab.example.com",
        "cucm-sub1.lab.example.com",
        "cucm-sub2.lab.example.com",
    ]
    assert csr_misses(exported, expected) == ["cucm-sub2.lab.example.com"]
    assert csr_misses(exported, []) == []


async def test_a_csr_that_missed_an_unreachable_node_is_a_retryable_step_error(
    lab: LabHandle,
) -> None:
    """The matrix's ``the CSR did not reach every node``: the activity raises a retryable
    error (a fresh CSR on the next attempt), no longer a result the renewal stops on."""
    path = lab.lab.state_dir / "inventory.yaml"
    acts = CucmActivities(inventory_loader=lambda: path)
    san = [n.fqdn for n in lab.cluster_entry.nodes if n.product == "cucm"]
    sub = lab.cluster_entry.node("cucm-sub1").fqdn
    fault = lab.lab.faults.add(Fault(kind="unreachable", node="cucm-sub1"))
    request = CsrRequest(cluster=lab.cluster_entry.name, expected_nodes=san)
    with pytest.raises(ApplicationError) as missed:
        await ActivityEnvironment().run(acts.generate_csr, request)
    assert missed.value.type == "CsrExportPartial" and not missed.value.non_retryable
    assert sub in missed.value.message
    lab.lab.faults.clear(fault.id)
    csr = await ActivityEnvironment().run(acts.generate_csr, request)
    assert csr_misses(csr.exported_nodes, san) == []


async def test_an_ssh_port_closed_for_a_moment_is_tried_again(
    lab: LabHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The matrix's ``unreachable-flap`` during a restart (``SSH connection failed:
    ConnectionRefusedError``): a closed port means nothing reached the node, so the client
    connects again after a short wait; a port that stays closed is still reported."""
    fault = await lab.lab.add_fault(Fault(kind="unreachable", node="cucm-sub1"))
    waits: list[float] = []

    async def node_comes_back(seconds: float) -> None:
        waits.append(seconds)
        if len(waits) == 2:
            await lab.lab.clear_faults(fault.id)

    monkeypatch.setattr(ssh_logins, "sleep", node_comes_back)
    async with CucmCli(lab.endpoint("cucm-sub1"), lab.os_admin) as shell:
        assert (await shell.sso_status()) is not None
    assert len(waits) == 2

    await lab.lab.add_fault(Fault(kind="unreachable", node="cucm-sub1"))
    waits.clear()
    monkeypatch.setattr(ssh_logins, "sleep", lambda s: _record(waits, s))
    with pytest.raises(CucmUnreachable, match="SSH connection failed"):
        async with CucmCli(lab.endpoint("cucm-sub1"), lab.os_admin):
            pass
    assert len(waits) == ssh_logins.CLOSED_TRIES - 1


async def _record(waits: list[float], seconds: float) -> None:
    waits.append(seconds)


async def test_an_axl_read_is_asked_again_after_a_busy_answer(lab: LabHandle) -> None:
    """The matrix's ``AXL on cucm-pub: listProcessNode: HTTP 503 (failed 3 times)`` in
    preflight: AXL answers 503 when it throttles (cucm-interfaces.md §6.3), and a get/list/
    SQL query changes nothing, so the client asks again after the node's Retry-After."""
    waits: list[float] = []
    lab.lab.faults.add(
        Fault(
            kind="http-error",
            node="cucm-pub",
            target="axl",
            count=2,
            params={"status": 503, "retry_after": 1},
        )
    )
    async with AxlClient(lab.endpoint("cucm-pub"), lab.app_user, reads=_recording(waits)) as axl:
        assert await axl.list_process_nodes()
    assert waits == [1.0, 1.0]


def _soap_503(count: int) -> Fault:
    return Fault(
        kind="http-error",
        node="cucm-sub1",
        target="soap",
        count=count,
        params={"status": 503, "retry_after": 1},
    )


async def test_a_control_center_status_read_is_asked_again_after_a_busy_answer(
    lab: LabHandle,
) -> None:
    """The chaos bench's ``soapGetServiceStatus: HTTP 503`` that made a CallManager restart an
    operator question: a status query changes nothing (like an AXL get), so a busy node is
    asked again after its Retry-After (RFC 9110 §15.6.4, §10.2.3)."""
    waits: list[float] = []
    lab.lab.faults.add(_soap_503(2))
    async with ControlCenterClient(
        lab.endpoint("cucm-sub1"), lab.app_user, reads=_recording(waits)
    ) as cc:
        [status] = await cc.get_service_status(["Cisco CallManager"])
    assert status.status == "Started"
    assert waits == [1.0, 1.0]


async def test_a_service_control_is_sent_once_on_a_busy_answer(lab: LabHandle) -> None:
    """soapDoControlServices changes the node: the client never repeats it on its own (the
    restart step reads the service's start time before it tries again)."""
    waits: list[float] = []
    lab.lab.faults.add(_soap_503(1))
    mark = lab.lab.journal.last_seq
    async with ControlCenterClient(
        lab.endpoint("cucm-sub1"), lab.app_user, reads=_recording(waits)
    ) as cc:
        with pytest.raises(CucmHttpError, match="503"):
            await cc.control_services("Restart", ["Cisco CallManager"])
    assert waits == []
    assert lab.lab.journal.entries("service.control", since=mark) == []


async def test_a_risport_query_is_asked_again_after_a_busy_answer(lab: LabHandle) -> None:
    """The chaos bench's CallManager change that failed on ``selectCmDeviceExt: HTTP 503``:
    selectCmDevice changes nothing, so a 503 is waited out (its Retry-After, RFC 9110
    §10.2.3) and the query sent again; one that persists still reaches the caller."""
    waits: list[float] = []
    lab.lab.faults.add(
        Fault(
            kind="http-error",
            node="cucm-pub",
            target="soap",
            count=2,
            params={"status": 503, "retry_after": 1},
        )
    )
    async with RisPortClient(
        lab.endpoint("cucm-pub"), lab.app_user, sleep=lambda s: _record(waits, s)
    ) as ris:
        summary = await ris.registration_summary()
        assert summary.total > 0 and waits == [1.0, 1.0]
        lab.lab.faults.add(
            Fault(kind="http-error", node="cucm-pub", target="soap", params={"status": 503})
        )
        with pytest.raises(CucmHttpError, match="503"):
            await ris.registration_summary()
    assert waits == [1.0, 1.0, 2.0, 4.0, 8.0, 16.0]


async def test_a_read_that_timed_out_is_not_repeated_by_the_client(lab: LabHandle) -> None:
    """A node slow past the endpoint's timeout already cost that timeout: the step's own
    attempts (and their heartbeat and start-to-close) decide, not a loop of timeouts."""
    waits: list[float] = []
    await lab.lab.add_fault(
        Fault(kind="latency", node="cucm-sub1", target="rest", count=2, params={"seconds": 1.0})
    )
    endpoint = dataclasses.replace(lab.endpoint("cucm-sub1"), timeout=0.2)
    async with CertMgrClient(endpoint, lab.os_admin, _recording(waits)) as impatient:
        with pytest.raises(CucmResponseLost):
            await impatient.list_trust("tomcat-trust")
    assert waits == []
    assert [f.fired for f in lab.lab.faults.active()] == [1]
