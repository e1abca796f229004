"""Renewals on the real Temporal dev server against the lab, over real sockets.

The lab's journal is the oracle: it records what really happened on the cluster, whatever
the orchestrator believed.
"""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from temporalio.client import WorkflowFailureError, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from activities.clients.ca.local import LocalCa
from activities.clients.cucm.tls import probe_tls
from lab.faults import Fault
from tests.e2e.conftest import Stack
from workflows.models import CertificateSubmission, OperatorDecision
from workflows.renewal import CertRenewalWorkflow

pytestmark = pytest.mark.e2e

WRITE_KINDS = (
    "csr.generated",
    "trust.uploaded",
    "identity.uploaded",
    "service.control",
    "sso.disabled",
    "cert.activated",
)


def tomcat_restarts(stack: Stack, since: int = 0) -> list[str]:
    return [
        e.node or ""
        for e in stack.lab.lab.journal.entries("service.control", since=since)
        if e.data["service"] == "Cisco Tomcat" and e.data["action"] == "restart"
    ]


def refusal(exc: BaseException) -> str:
    cause: BaseException | None = exc
    while cause is not None and not isinstance(cause, ApplicationError):
        cause = cause.__cause__
    assert isinstance(cause, ApplicationError), exc
    return cause.message


async def test_tomcat_renewal_with_the_local_ca(stack: Stack) -> None:
    cluster = stack.lab.lab.cluster
    old = {n.hostname: n.active["tomcat"].cert.serial_number for n in cluster.nodes}
    async with stack.worker():
        handle = await stack.start()
        await stack.reenable_sso(handle)
        status = await handle.result()

    assert status.phase == "done"
    journal = stack.lab.lab.journal
    csr = journal.entries("csr.generated")
    assert len(csr) == 1 and csr[0].node == "cucm-pub"
    assert csr[0].data["distribution"] == "Multi-server(SAN)"
    assert sorted(csr[0].data["exported"]) == sorted(old)
    uploads = journal.entries("identity.uploaded")
    assert len(uploads) == 1 and sorted(uploads[0].data["nodes"]) == sorted(old)
    ca = LocalCa(stack.settings.state_dir / "ca" / "local")
    root = x509.load_pem_x509_certificate(ca.root_pem.encode())
    intermediate = x509.load_pem_x509_certificate(ca.intermediate_pem.encode())
    trust = journal.entries("trust.uploaded")
    assert [(e.data["serial"], e.data["outcome"]) for e in trust] == [
        (format(root.serial_number, "x"), "added"),
        (format(intermediate.serial_number, "x"), "added"),
    ]
    assert tomcat_restarts(stack) == ["cucm-pub", "cucm-sub1", "cucm-sub2", "imp-pub"]
    # SSO was off for the whole tomcat change, then re-enabled by the operator.
    kinds = [e.kind for e in journal.entries()]
    assert kinds.index("csr.generated") < kinds.index("sso.disabled")
    assert kinds.index("sso.disabled") < kinds.index("trust.uploaded")
    assert kinds.index("sso.enabled") > max(i for i, k in enumerate(kinds) if k == "cert.activated")
    assert not journal.entries("sso.broken")

    new_serial = status.new_serial
    for node in cluster.nodes:
        assert format(node.active["tomcat"].cert.serial_number, "x") == new_serial
        assert node.active["tomcat"].cert.serial_number != old[node.hostname]
        endpoint = stack.lab.endpoint(node.hostname)
        probe = await probe_tls(endpoint, endpoint.https_port, [ca.root_pem])
        assert probe.serial == new_serial and probe.verified
    assert all(
        n.verified and n.steps == {"restart": "done", "verify": "done"} for n in status.nodes
    )


async def test_history_carries_no_secret(stack: Stack) -> None:
    passwords = [pw for _, pw in stack.lab.lab.credentials.values()]
    async with stack.worker():
        handle = await stack.start(cluster=stack.lab.cluster_entry.name)
        await stack.reenable_sso(handle)
        await handle.result()
    history = await handle.fetch_history()
    # Payload bytes appear verbatim in the protobuf encoding of the events.
    raw = b"".join(event.SerializeToString() for event in history.events)
    assert b"CERTIFICATE REQUEST" in raw  # the history is readable: the check below means something
    for pw in passwords:
        assert pw.encode() not in raw
    assert b"PRIVATE KEY" not in raw


async def test_manual_ca_refuses_a_wrong_certificate_and_keeps_waiting(
    stack: Stack, tmp_path: Path
) -> None:
    enterprise = LocalCa(tmp_path / "enterprise-ca", name="enterprise")
    async with stack.worker():
        handle = await stack.start(ca="manual")
        status = await stack.wait_for(handle, "ca")
        assert status.csr_pem

        # A certificate for the right names but another key (e.g. an old CSR's).
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        names = x509.load_pem_x509_csr(status.csr_pem.encode()).extensions.get_extension_for_class(
            x509.SubjectAlternativeName
        )
        wrong_csr = (
            x509.CertificateSigningRequestBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "wrong")]))
            .add_extension(names.value, critical=False)
            .sign(key, hashes.SHA256())
        )
        wrong_pem, chain = enterprise.sign(
            wrong_csr.public_bytes(serialization.Encoding.PEM).decode()
        )
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await handle.execute_update(
                CertRenewalWorkflow.submit_certificate,
                CertificateSubmission(
                    principal="pki-admin", certificate_pem=wrong_pem, chain_pem=chain
                ),
            )
        assert "does not match the CSR" in refusal(refused.value)
        status = await handle.query(CertRenewalWorkflow.get_status)
        assert status.awaiting == "ca"
        assert not stack.lab.lab.journal.entries("trust.uploaded")

        good_pem, chain = enterprise.sign(status.csr_pem)
        accepted = await handle.execute_update(
            CertRenewalWorkflow.submit_certificate,
            CertificateSubmission(principal="pki-admin", certificate_pem=good_pem, chain_pem=chain),
        )
        assert accepted.accepted
        await stack.reenable_sso(handle)
        final = await handle.result()
    assert final.phase == "done"
    assert all(n.verified for n in final.nodes)
    assert [e.action for e in final.audit if e.actor == "pki-admin"] == [
        "certificate-refused",
        "certificate-submitted",
    ]


async def test_preflight_failure_writes_nothing(stack: Stack) -> None:
    await stack.lab.lab.add_fault(Fault(kind="paws-down", node="cucm-sub2"))
    since = stack.lab.lab.journal.last_seq
    async with stack.worker():
        handle = await stack.start()
        with pytest.raises(WorkflowFailureError) as failed:
            await handle.result()
    assert isinstance(failed.value.cause, ApplicationError)
    assert failed.value.cause.type == "PreflightFailed"
    assert "cucm-sub2" in failed.value.cause.message
    assert "Platform Administrative Web Service" in failed.value.cause.message
    written = [
        e.kind for e in stack.lab.lab.journal.entries(since=since) if e.kind.startswith(WRITE_KINDS)
    ]
    assert written == []


async def test_lost_responses_are_retried_and_applied_exactly_once(stack: Stack) -> None:
    lab = stack.lab.lab
    await lab.add_fault(
        Fault(kind="response-lost", node="cucm-pub", target="upload-identity", count=1)
    )
    await lab.add_fault(
        Fault(kind="response-lost", node="cucm-sub1", target="service-restart", count=1)
    )
    async with stack.worker():
        handle = await stack.start()
        await stack.reenable_sso(handle)
        status = await handle.result()
    assert status.phase == "done"
    fired = [e.data["operation"] for e in lab.journal.entries("fault.fired")]
    assert sorted(fired) == ["service-restart", "upload-identity"]
    assert len(lab.journal.entries("identity.uploaded")) == 1
    assert tomcat_restarts(stack) == ["cucm-pub", "cucm-sub1", "cucm-sub2", "imp-pub"]


async def test_worker_killed_mid_restart_the_renewal_finishes_under_a_new_worker(
    stack: Stack, dev_address: str
) -> None:
    lab = stack.lab.lab
    hang = await lab.add_fault(Fault(kind="service-hang", node="cucm-sub1", target="Cisco Tomcat"))
    first = stack.worker_process(dev_address)
    handle = await stack.start(
        options={"restart_poll_seconds": 0.1, "restart_heartbeat_seconds": 2.0}
    )
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
        status = await handle.result()
    assert status.phase == "done"
    assert tomcat_restarts(stack) == ["cucm-pub", "cucm-sub1", "cucm-sub2", "imp-pub"]
    assert all(n.verified for n in status.nodes)


async def test_a_csr_regenerated_on_the_cluster_is_caught_before_upload(
    stack: Stack, tmp_path: Path
) -> None:
    enterprise = LocalCa(tmp_path / "enterprise-ca", name="enterprise")
    lab = stack.lab.lab
    async with stack.worker():
        handle = await stack.start(ca="manual")
        status = await stack.wait_for(handle, "ca")
        signed_csr = status.csr_pem
        assert signed_csr
        # Someone generates a new multi-server CSR on the publisher while the CA works.
        lab.cluster.regenerate_pending_csr(lab.cluster.publisher, "tomcat")
        leaf, chain = enterprise.sign(signed_csr)
        await handle.execute_update(
            CertRenewalWorkflow.submit_certificate,
            CertificateSubmission(principal="pki-admin", certificate_pem=leaf, chain_pem=chain),
        )
        status = await stack.wait_for(handle, "operator")
        assert [p.code for p in status.problems] == ["csr-no-longer-pending"]
        assert not lab.journal.entries("identity.uploaded")
        await handle.execute_update(
            CertRenewalWorkflow.decide,
            OperatorDecision(principal="voice-eng", decision="regenerate"),
        )
        status = await stack.wait_for(handle, "ca")
        assert status.csr_pem and status.csr_pem != signed_csr
        leaf, chain = enterprise.sign(status.csr_pem)
        await handle.execute_update(
            CertRenewalWorkflow.submit_certificate,
            CertificateSubmission(principal="pki-admin", certificate_pem=leaf, chain_pem=chain),
        )
        await stack.reenable_sso(handle)
        final = await handle.result()
    assert final.phase == "done"
    uploads = lab.journal.entries("identity.uploaded")
    assert len(uploads) == 1
    assert uploads[0].data["serial"] == final.new_serial
