"""What ucrenew did is recorded before it is done (issue 16), against the lab.

Each state-changing activity here is the real one over real sockets, except that its first
attempt loses its answer once the effect is made on the lab: the worker is as good as killed
between the effect and its report, so Temporal retries and the retry's read-back finds the
state as wanted (SSO disabled, the root in tomcat-trust, the certificate installed, Tomcat
started since the restarts began). The lab's journal is the oracle: it shows each effect was
made once, by ucrenew, and the audit trail must say so.
"""

from __future__ import annotations

import asyncio
import functools
import signal
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from temporalio import activity
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ApplicationError

from activities.cucm import CucmActivities
from lab.faults import Fault
from tests.e2e.conftest import Stack
from tests.e2e.test_renewal_e2e import tomcat_restarts
from workflows.intents import CONFIRMED_AFTER_RETRY
from workflows.models import RenewalStatus
from workflows.renewal import CertRenewalWorkflow

pytestmark = pytest.mark.e2e

Method = Callable[[CucmActivities, Any], Awaitable[Any]]


def answer_lost(method: Method, when: Callable[[Any], bool] = lambda req: True) -> Method:
    """``method`` whose first attempt (for requests ``when`` picks) makes its effect on the
    lab and then dies before answering, as a worker SIGKILLed right after the effect."""

    @functools.wraps(method)
    async def lost_once(self: CucmActivities, req: Any) -> Any:
        result = await method(self, req)
        if activity.info().attempt == 1 and when(req):
            raise ApplicationError("the worker died after the effect (test)", type="WorkerLost")
        return result

    # wraps() copied the original's activity definition: this one is defined anew.
    lost_once.__dict__.pop("__temporal_activity_definition", None)
    return activity.defn(name=method.__name__)(lost_once)


def audit(status: RenewalStatus, action: str) -> list[str]:
    return [e.comment for e in status.audit if e.action == action]


async def run_to_sso_confirm(stack: Stack) -> tuple[Any, RenewalStatus]:
    handle = await stack.start()
    return handle, await stack.wait_for(handle, "sso-confirm")


async def test_sso_disable_answer_lost_then_cancel_asks_to_reenable(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(CucmActivities, "disable_sso", answer_lost(CucmActivities.disable_sso))
    lab = stack.lab.lab
    async with stack.worker():
        handle, status = await run_to_sso_confirm(stack)
        try:
            [said] = audit(status, "sso-disabled")
            assert "already" not in said and CONFIRMED_AFTER_RETRY in said
            assert len(lab.journal.entries("sso.disabled")) == 1
            await handle.cancel()
            with pytest.raises(WorkflowFailureError):
                await handle.result()
        finally:
            await _end(handle)
        status = await handle.query(CertRenewalWorkflow.get_status)
    assert status.phase == "cancelled"
    assert any("SAML SSO" in o and "re-enable it" in o for o in status.outstanding)


async def test_trust_and_certificate_upload_answers_lost_are_ucrenews(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(CucmActivities, "upload_trust", answer_lost(CucmActivities.upload_trust))
    monkeypatch.setattr(
        CucmActivities, "upload_certificate", answer_lost(CucmActivities.upload_certificate)
    )
    lab = stack.lab.lab
    async with stack.worker():
        handle, _ = await run_to_sso_confirm(stack)
        try:
            await stack.reenable_sso(handle)
            final = await handle.result()
        finally:
            await _end(handle)
    assert final.phase == "done"
    assert len(lab.journal.entries("identity.uploaded")) == 1
    [trust] = audit(final, "trust-uploaded")
    assert "uploaded nothing" not in trust and CONFIRMED_AFTER_RETRY in trust
    added = [
        e.data["subject"]
        for e in lab.journal.entries("trust.uploaded")
        if e.data["store"] == "tomcat-trust" and e.data["outcome"] == "added"
    ]
    assert added and len(added) == len(set(added))  # each CA added once, by ucrenew
    assert all(subject in trust.split("; already present")[0] for subject in added)
    [cert] = audit(final, "certificate-uploaded")
    assert "already installed" not in cert and CONFIRMED_AFTER_RETRY in cert
    outcomes = {i.effect: i.outcome for i in final.intents}
    assert outcomes["trust-upload"] == outcomes["certificate-upload"] == "done-after-retry"


async def test_restart_answer_lost_is_ucrenews_and_not_repeated(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    lab = stack.lab.lab
    sub1 = next(n.fqdn for n in stack.lab.cluster_entry.nodes if n.fqdn.startswith("cucm-sub1"))
    monkeypatch.setattr(
        CucmActivities,
        "restart_service",
        answer_lost(CucmActivities.restart_service, lambda req: req.node == sub1),
    )
    async with stack.worker():
        handle, _ = await run_to_sso_confirm(stack)
        try:
            await stack.reenable_sso(handle)
            final = await handle.result()
        finally:
            await _end(handle)
    assert final.phase == "done"
    restarts = [
        e.node
        for e in lab.journal.entries("service.control")
        if e.data["service"] == "Cisco Tomcat" and e.data["action"] == "restart"
    ]
    assert restarts.count("cucm-sub1") == 1  # the retry read back, it did not restart again
    assert audit(final, "service-restarted") == [
        f"Cisco Tomcat on {sub1}: restarted by ucrenew ({CONFIRMED_AFTER_RETRY})"
    ]


async def _end(handle: Any) -> None:
    """Leave nothing running on the shared dev server."""
    desc = await handle.describe()
    if desc.status is not None and desc.status.name == "RUNNING":
        await handle.terminate("test over")


async def test_worker_sigkilled_just_after_a_restart_the_next_worker_records_it_as_ucrenews(
    stack: Stack, dev_address: str
) -> None:
    """A real worker process is SIGKILLed once Tomcat's restart on cucm-sub1 has been issued
    (the lab holds it starting, so the kill lands after the effect, before the answer). The
    next worker's retry finds it restarted since the restarts began: it restarts nothing
    again, and the audit says ucrenew restarted it."""
    lab = stack.lab.lab
    hang = await lab.add_fault(Fault(kind="service-hang", node="cucm-sub1", target="Cisco Tomcat"))
    first = stack.worker_process(dev_address)
    handle = await stack.start(
        options={"restart_poll_seconds": 0.1, "restart_heartbeat_seconds": 2.0}
    )
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 60
        while "cucm-sub1" not in tomcat_restarts(stack):
            assert loop.time() < deadline, "the restart of cucm-sub1 never began"
            assert first.poll() is None, (stack.settings.state_dir / "worker.log").read_text()
            await asyncio.sleep(0.05)
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        await lab.clear_faults(hang.id)  # the hung Tomcat finishes starting on its own
        async with stack.worker():
            await stack.reenable_sso(handle)
            final = await handle.result()
    finally:
        await _end(handle)
    assert final.phase == "done"
    assert tomcat_restarts(stack) == ["cucm-pub", "cucm-sub1", "cucm-sub2", "imp-pub"]
    sub1 = next(n.fqdn for n in stack.lab.cluster_entry.nodes if n.fqdn.startswith("cucm-sub1"))
    assert audit(final, "service-restarted") == [
        f"Cisco Tomcat on {sub1}: restarted by ucrenew ({CONFIRMED_AFTER_RETRY})"
    ]


async def test_worker_sigkilled_just_after_sso_is_disabled_the_cancel_asks_to_reenable_it(
    stack: Stack, dev_address: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real worker process is SIGKILLed the moment the lab records SSO disabled, before
    ``utils sso disable`` prints its answer: the effect is made and the worker never reports
    it. ``disable_sso`` heartbeats, so the next worker retries within the heartbeat timeout
    and reads SSO disabled: the audit says ucrenew disabled it (confirmed after a retry, not
    "already disabled") and a cancel tells the operator to re-enable it."""
    lab = stack.lab.lab
    first = stack.worker_process(dev_address)
    record = lab.journal.record

    def kill_after_sso_disabled(kind: str, node: str | None = None, /, **data: Any) -> Any:
        entry = record(kind, node, **data)
        if kind == "sso.disabled" and first.poll() is None:
            # Synchronously, before the lab's CLI answers: the kill lands after the effect.
            first.send_signal(signal.SIGKILL)
            first.wait(10)
        return entry

    monkeypatch.setattr(lab.journal, "record", kill_after_sso_disabled)
    handle = await stack.start(
        options={
            "restart_poll_seconds": 0.1,
            "verify_timeout_seconds": 30,
            "step_heartbeat_seconds": 2.0,
        }
    )
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 60
        while first.poll() is None:
            assert loop.time() < deadline, "SSO was never disabled by the first worker"
            await asyncio.sleep(0.05)
        assert lab.journal.entries("sso.disabled"), "the worker died before disabling SSO"
        async with stack.worker():
            status = await stack.wait_for(handle, "sso-confirm")
            [said] = audit(status, "sso-disabled")
            assert "already" not in said and CONFIRMED_AFTER_RETRY in said
            assert len(lab.journal.entries("sso.disabled")) == 1
            await handle.cancel()
            with pytest.raises(WorkflowFailureError):
                await handle.result()
            status = await handle.query(CertRenewalWorkflow.get_status)
    finally:
        await _end(handle)
    assert status.phase == "cancelled"
    assert any("SAML SSO" in o and "re-enable it" in o for o in status.outstanding)


async def test_lab_response_lost_on_a_trust_upload_is_recorded_as_ucrenews(stack: Stack) -> None:
    """The lab's own ``response-lost`` fault: the root is added to tomcat-trust and the
    connection drops before the answer. The retried activity finds it present; the audit
    still says ucrenew uploaded it (on main: "uploaded nothing; already present")."""
    lab = stack.lab.lab
    await lab.add_fault(
        Fault(kind="response-lost", node="cucm-pub", target="upload-trust", count=1)
    )
    async with stack.worker():
        handle, _ = await run_to_sso_confirm(stack)
        try:
            await stack.reenable_sso(handle)
            final = await handle.result()
        finally:
            await _end(handle)
    assert final.phase == "done"
    fired = [e.data["operation"] for e in lab.journal.entries("fault.fired")]
    assert fired == ["upload-trust"]
    added = [
        e.data["subject"]
        for e in lab.journal.entries("trust.uploaded")
        if e.data["store"] == "tomcat-trust" and e.data["outcome"] == "added"
    ]
    [trust] = audit(final, "trust-uploaded")
    uploaded, present = trust.split("; already present ")
    assert added and all(subject in uploaded for subject in added)
    assert not any(subject in present.split(" (")[0] for subject in added)
