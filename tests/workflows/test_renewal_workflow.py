"""CertRenewalWorkflow on the time-skipping server with stub activities."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
import pytest_asyncio
from temporalio.client import (
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowUpdateFailedError,
)
from temporalio.exceptions import ApplicationError, CancelledError
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.clients.inventory import CertificatesEntry
from tests.workflows.stubs import (
    BAD_PEM,
    FQDNS,
    GOOD_PEM,
    ROOT_PEM,
    STARTED_RENEWALS,
    WRITES,
    StubCluster,
)
from workflows.cluster_lock import ClusterLockWorkflow
from workflows.models import (
    ApprovalInput,
    CertificateSubmission,
    OperatorDecision,
    RenewalInput,
    RenewalStatus,
    SsoConfirmation,
)
from workflows.renewal import CertRenewalWorkflow

Handle = WorkflowHandle[CertRenewalWorkflow, RenewalStatus]


@pytest_asyncio.fixture(loop_scope="session")
async def stub() -> StubCluster:
    return StubCluster()


@pytest_asyncio.fixture(loop_scope="session")
async def worker(
    time_skipping_env: WorkflowEnvironment, stub: StubCluster, task_queue: str
) -> AsyncIterator[Worker]:
    async with Worker(
        time_skipping_env.client,
        task_queue=task_queue,
        workflows=[CertRenewalWorkflow, ClusterLockWorkflow],
        activities=stub.activities(),
    ) as w:
        yield w


@pytest_asyncio.fixture(loop_scope="session")
async def days_env() -> AsyncIterator[WorkflowEnvironment]:
    """A time-skipping server of the test's own, for tests that skip days: the shared one
    stands its clock still while any workflow an earlier test left behind waits for a worker,
    so a days-long skip there depends on every earlier test having cleaned up."""
    from tests.time_skipping import time_skipping_server

    async with time_skipping_server() as env:
        yield env


@pytest_asyncio.fixture(loop_scope="session")
async def days_worker(
    days_env: WorkflowEnvironment, stub: StubCluster, task_queue: str
) -> AsyncIterator[Worker]:
    async with Worker(
        days_env.client,
        task_queue=task_queue,
        workflows=[CertRenewalWorkflow, ClusterLockWorkflow],
        activities=stub.activities(),
    ) as w:
        yield w


async def start(env: WorkflowEnvironment, task_queue: str, **kw: object) -> Handle:
    inp = RenewalInput.model_validate(
        {
            "change_id": f"CHG-{uuid.uuid4().hex[:8]}",
            "cluster": "lab",
            "requested_by": "alice",
            **kw,
        }
    )
    handle = await env.client.start_workflow(
        CertRenewalWorkflow.run, inp, id=inp.change_id, task_queue=task_queue
    )
    STARTED_RENEWALS.append(handle)
    return handle


async def wait_for(handle: Handle, awaiting: str, timeout: float = 20.0) -> RenewalStatus:
    """Poll the status query until the renewal awaits ``awaiting`` (or ends)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        status = await handle.query(CertRenewalWorkflow.get_status)
        if status.awaiting == awaiting:
            return status
        if status.phase in ("done", "failed", "cancelled") or loop.time() > deadline:
            raise AssertionError(f"never awaited {awaiting}: phase {status.phase}")
        await asyncio.sleep(0.05)


def update_message(exc: BaseException) -> str:
    cause: BaseException | None = exc
    while cause is not None and not isinstance(cause, ApplicationError):
        cause = cause.__cause__
    return cause.message if isinstance(cause, ApplicationError) else str(exc)


async def confirm_sso(handle: Handle, stub: StubCluster) -> None:
    await wait_for(handle, "sso-confirm")
    stub.sso_enabled = True
    await handle.execute_update(
        CertRenewalWorkflow.confirm_sso, SsoConfirmation(principal="carol", comment="test ok")
    )


async def test_local_ca_renewal_runs_the_runbook_in_order(
    time_skipping_env: WorkflowEnvironment, worker: Worker, stub: StubCluster, task_queue: str
) -> None:
    handle = await start(time_skipping_env, task_queue)
    await confirm_sso(handle, stub)
    status = await handle.result()

    assert status.phase == "done"
    names = stub.names()
    assert names[:8] == [
        "discover_cluster",
        "load_change_policy",
        "find_other_renewals",
        "generate_csr",
        "submit_csr",
        "validate_certificate",
        "check_pending_csr",
        "disable_sso",  # as late as possible: SSO stays on while the CA works
    ]
    assert (
        names.index("validate_certificate")
        < names.index("upload_trust")
        < names.index("upload_certificate")
        < names.index("restart_service")
    )
    restarts = [c[1].node for c in stub.calls if c[0] == "restart_service"]
    assert restarts == FQDNS  # publisher first, then subscribers, then IM&P
    assert {c[1].node for c in stub.calls if c[0] == "verify_node"} == set(FQDNS)
    trust = next(c[1] for c in stub.calls if c[0] == "upload_trust")
    assert trust.ca_pems == [ROOT_PEM]
    assert all(n.verified and n.new_serial == "abcd" for n in status.nodes)
    assert [e.action for e in status.audit if e.actor == "carol"] == ["sso-reenabled"]


async def test_no_sso_step_when_sso_is_disabled(
    time_skipping_env: WorkflowEnvironment, worker: Worker, stub: StubCluster, task_queue: str
) -> None:
    stub.sso_enabled = False
    status = await (await start(time_skipping_env, task_queue)).result()
    assert status.phase == "done"
    assert "disable_sso" not in stub.names()
    assert "sso_status" not in stub.names()


async def test_plan_approval_gates_the_first_write(
    time_skipping_env: WorkflowEnvironment, worker: Worker, stub: StubCluster, task_queue: str
) -> None:
    handle = await start(time_skipping_env, task_queue, require_plan_approval=True)
    status = await wait_for(handle, "approval")
    assert not WRITES & set(stub.names())
    assert status.plan is not None

    with pytest.raises(WorkflowUpdateFailedError) as stale:
        await handle.execute_update(
            CertRenewalWorkflow.approve, ApprovalInput(principal="bob", plan_hash="000000000000")
        )
    assert "plan changed" in update_message(stale.value)
    with pytest.raises(WorkflowUpdateFailedError) as anonymous:
        await handle.execute_update(
            CertRenewalWorkflow.approve,
            ApprovalInput(principal=" ", plan_hash=status.plan.plan_hash),
        )
    assert "approver" in update_message(anonymous.value)
    with pytest.raises(WorkflowUpdateFailedError) as unbound:
        await handle.execute_update(CertRenewalWorkflow.approve, ApprovalInput(principal="bob"))
    assert "must name the plan hash" in update_message(unbound.value)
    with pytest.raises(WorkflowUpdateFailedError) as own:
        await handle.execute_update(
            CertRenewalWorkflow.approve,
            ApprovalInput(principal="alice", plan_hash=status.plan.plan_hash),
        )
    assert "requested this change" in update_message(own.value)
    assert not WRITES & set(stub.names())

    await handle.execute_update(
        CertRenewalWorkflow.approve,
        ApprovalInput(principal="bob", comment="CAB ok", plan_hash=status.plan.plan_hash),
    )
    await confirm_sso(handle, stub)
    final = await handle.result()
    approvals = [e for e in final.audit if e.action == "approved"]
    assert [(e.actor, e.comment) for e in approvals] == [("bob", "CAB ok")]


async def test_rejection_ends_before_any_write(
    time_skipping_env: WorkflowEnvironment, worker: Worker, stub: StubCluster, task_queue: str
) -> None:
    handle = await start(time_skipping_env, task_queue, require_plan_approval=True)
    await wait_for(handle, "approval")
    await handle.execute_update(
        CertRenewalWorkflow.reject, ApprovalInput(principal="bob", comment="wrong window")
    )
    with pytest.raises(WorkflowFailureError) as failed:
        await handle.result()
    assert isinstance(failed.value.cause, ApplicationError)
    assert failed.value.cause.type == "PlanRejected"
    assert not WRITES & set(stub.names())
    status = await handle.query(CertRenewalWorkflow.get_status)
    assert status.phase == "failed" and "wrong window" in (status.error or "")


async def test_manual_ca_waits_days_refuses_a_bad_certificate_and_keeps_waiting(
    days_env: WorkflowEnvironment, days_worker: Worker, stub: StubCluster, task_queue: str
) -> None:
    handle = await start(days_env, task_queue, ca="manual")
    await wait_for(handle, "ca")
    await days_env.sleep(timedelta(days=9))
    status = await handle.query(CertRenewalWorkflow.get_status)
    assert status.awaiting == "ca" and status.phase == "ca-wait"

    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update(
            CertRenewalWorkflow.submit_certificate,
            CertificateSubmission(principal="dave", certificate_pem=BAD_PEM),
        )
    assert "imp-pub.lab.example.com" in update_message(refused.value)
    with pytest.raises(WorkflowUpdateFailedError) as not_pem:
        await handle.execute_update(
            CertRenewalWorkflow.submit_certificate,
            CertificateSubmission(principal="dave", certificate_pem="hello"),
        )
    assert "PEM" in update_message(not_pem.value)
    status = await handle.query(CertRenewalWorkflow.get_status)
    assert status.awaiting == "ca"
    assert [p.code for p in status.refused_submissions[0]] == ["san-missing"]
    assert "upload_trust" not in stub.names()

    result = await handle.execute_update(
        CertRenewalWorkflow.submit_certificate,
        CertificateSubmission(principal="dave", certificate_pem=GOOD_PEM, chain_pem=ROOT_PEM),
    )
    assert result.accepted and result.serial == "abcd"
    await confirm_sso(handle, stub)
    final = await handle.result()
    assert final.phase == "done"
    assert [e.action for e in final.audit if e.actor == "dave"] == [
        "certificate-refused",
        "certificate-submitted",
    ]


async def test_cancellation_reports_where_the_cluster_stands(
    time_skipping_env: WorkflowEnvironment, worker: Worker, stub: StubCluster, task_queue: str
) -> None:
    handle = await start(time_skipping_env, task_queue, ca="manual")
    await wait_for(handle, "ca")
    await handle.cancel()
    with pytest.raises(WorkflowFailureError) as failed:
        await handle.result()
    assert isinstance(failed.value.cause, CancelledError)
    status = await handle.query(CertRenewalWorkflow.get_status)
    assert status.phase == "cancelled"
    # Cancelled while the CA worked: SSO was never touched, nothing is left to undo.
    assert "disable_sso" not in stub.names()
    assert status.outstanding == []
    assert stub.names()[-1] == "assess_cluster"
    assert "upload_certificate" not in stub.names()
    assert all(n.detail.startswith("serving tomcat serial 01") for n in status.nodes)


async def test_cancellation_after_sso_was_disabled_says_to_reenable_it(
    time_skipping_env: WorkflowEnvironment, worker: Worker, stub: StubCluster, task_queue: str
) -> None:
    handle = await start(time_skipping_env, task_queue)
    await wait_for(handle, "sso-confirm")
    await handle.cancel()
    with pytest.raises(WorkflowFailureError):
        await handle.result()
    status = await handle.query(CertRenewalWorkflow.get_status)
    assert status.phase == "cancelled"
    assert any("re-enable it" in o and "SAML SSO" in o for o in status.outstanding)


async def test_preflight_failure_writes_nothing(
    time_skipping_env: WorkflowEnvironment, worker: Worker, stub: StubCluster, task_queue: str
) -> None:
    stub.paws_down_on = FQDNS[2]
    handle = await start(time_skipping_env, task_queue)
    with pytest.raises(WorkflowFailureError) as failed:
        await handle.result()
    assert isinstance(failed.value.cause, ApplicationError)
    assert failed.value.cause.type == "PreflightFailed"
    assert FQDNS[2] in failed.value.cause.message
    assert not WRITES & set(stub.names())
    status = await handle.query(CertRenewalWorkflow.get_status)
    assert [(p.code, p.node) for p in status.problems] == [("service-not-started", FQDNS[2])]


async def test_confirm_sso_is_checked_against_the_cluster(
    time_skipping_env: WorkflowEnvironment, worker: Worker, stub: StubCluster, task_queue: str
) -> None:
    handle = await start(time_skipping_env, task_queue)
    await wait_for(handle, "sso-confirm")
    with pytest.raises(WorkflowUpdateFailedError) as still_off:
        await handle.execute_update(
            CertRenewalWorkflow.confirm_sso, SsoConfirmation(principal="carol")
        )
    assert "still disabled" in update_message(still_off.value)
    assert (await handle.query(CertRenewalWorkflow.get_status)).awaiting == "sso-confirm"
    await confirm_sso(handle, stub)
    assert (await handle.result()).phase == "done"


async def test_messages_outside_their_phase_are_refused(
    time_skipping_env: WorkflowEnvironment, worker: Worker, stub: StubCluster, task_queue: str
) -> None:
    handle = await start(time_skipping_env, task_queue)
    await wait_for(handle, "sso-confirm")
    with pytest.raises(WorkflowUpdateFailedError) as approve:
        await handle.execute_update(CertRenewalWorkflow.approve, ApprovalInput(principal="bob"))
    assert "nothing to approve" in update_message(approve.value)
    with pytest.raises((WorkflowUpdateFailedError, RPCError)):
        await handle.execute_update(
            CertRenewalWorkflow.submit_certificate,
            CertificateSubmission(principal="dave", certificate_pem=GOOD_PEM),
        )
    await confirm_sso(handle, stub)
    await handle.result()


async def history_events(handle: Handle) -> int:
    return len((await handle.fetch_history()).events)


async def test_ca_pending_for_30_days_costs_a_bounded_history(
    days_env: WorkflowEnvironment, days_worker: Worker, stub: StubCluster, task_queue: str
) -> None:
    stub.sso_enabled = False
    now = await days_env.get_current_time()
    stub.ca_pending_until = now + timedelta(days=30)
    handle = await start(days_env, task_queue, ca="adcs", options={"ca_poll_seconds": 900})
    status = await handle.result()
    assert status.phase == "done"
    assert status.ca_request_ref == "7"
    events = await history_events(handle)
    # Polled every 15 minutes for 30 days: thousands of polls, none of them in the history.
    assert stub.polls >= 30 * 24 * 4
    assert events < 2000
    print(f"\n30-day CA wait: {stub.polls} polls, {events} history events")


async def test_every_ca_poll_carries_the_submitted_csr(
    days_env: WorkflowEnvironment, days_worker: Worker, stub: StubCluster, task_queue: str
) -> None:
    """Any worker, with nothing on its disk, can finish the request (an ACME order is
    finalized with the CSR): the poll carries the CSR the renewal submitted."""
    stub.sso_enabled = False
    now = await days_env.get_current_time()
    stub.ca_pending_until = now + timedelta(hours=2)
    handle = await start(days_env, task_queue, ca="adcs", options={"ca_poll_seconds": 600})
    status = await handle.result()
    assert status.phase == "done"
    submitted = [req.csr_pem for name, req in stub.calls if name == "submit_csr"]
    polled = [req.csr_pem for name, req in stub.calls if name == "await_certificate"]
    assert len(submitted) == 1 and submitted[0]
    assert len(polled) > 1 and set(polled) == {submitted[0]}


async def test_ca_denial_fails_the_renewal_and_reports_sso(
    days_env: WorkflowEnvironment, days_worker: Worker, stub: StubCluster, task_queue: str
) -> None:
    now = await days_env.get_current_time()
    stub.ca_pending_until = now + timedelta(days=2)
    stub.ca_denies = True
    handle = await start(days_env, task_queue, ca="adcs", options={"ca_poll_seconds": 3600})
    with pytest.raises(WorkflowFailureError) as failed:
        await handle.result()
    assert isinstance(failed.value.cause, ApplicationError)
    assert failed.value.cause.type == "CaRequestDenied"
    status = await handle.query(CertRenewalWorkflow.get_status)
    assert status.phase == "failed" and "denied by the CA admin" in (status.error or "")
    # SSO stays as it was: it is disabled only right before the first upload.
    assert stub.sso_enabled and "disable_sso" not in stub.names()
    assert status.outstanding == []
    assert "upload_trust" not in stub.names()


async def test_manual_wait_of_30_days_reminds_and_stays_bounded(
    days_env: WorkflowEnvironment, days_worker: Worker, stub: StubCluster, task_queue: str
) -> None:
    handle = await start(days_env, task_queue, ca="manual")
    await wait_for(handle, "ca")
    await days_env.sleep(timedelta(days=30))
    status = await handle.query(CertRenewalWorkflow.get_status)
    assert status.awaiting == "ca"
    assert [r.split(":")[0] for r in status.reminders] == ["reminder", "reminder", "escalation"]
    await handle.execute_update(
        CertRenewalWorkflow.submit_certificate,
        CertificateSubmission(principal="dave", certificate_pem=GOOD_PEM, chain_pem=ROOT_PEM),
    )
    await confirm_sso(handle, stub)
    assert (await handle.result()).phase == "done"
    events = await history_events(handle)
    assert events < 2000
    print(f"\n30-day manual wait: {events} history events")


async def test_a_csr_regenerated_on_the_box_asks_the_operator(
    time_skipping_env: WorkflowEnvironment, worker: Worker, stub: StubCluster, task_queue: str
) -> None:
    stub.stale_checks = 1
    handle = await start(time_skipping_env, task_queue)
    status = await wait_for(handle, "operator")
    assert [p.code for p in status.problems] == ["csr-no-longer-pending"]
    assert "upload_trust" not in stub.names()
    await handle.execute_update(
        CertRenewalWorkflow.decide, OperatorDecision(principal="erin", decision="regenerate")
    )
    await confirm_sso(handle, stub)
    final = await handle.result()
    assert final.phase == "done"
    assert stub.names().count("generate_csr") == 2
    assert stub.names().count("submit_csr") == 2


async def test_a_stale_csr_can_be_aborted(
    time_skipping_env: WorkflowEnvironment, worker: Worker, stub: StubCluster, task_queue: str
) -> None:
    stub.stale_checks = 1
    handle = await start(time_skipping_env, task_queue)
    await wait_for(handle, "operator")
    with pytest.raises(WorkflowUpdateFailedError):
        await handle.execute_update(
            CertRenewalWorkflow.decide, OperatorDecision(principal=" ", decision="abort")
        )
    await handle.execute_update(
        CertRenewalWorkflow.decide, OperatorDecision(principal="erin", decision="abort")
    )
    with pytest.raises(WorkflowFailureError) as failed:
        await handle.result()
    assert isinstance(failed.value.cause, ApplicationError)
    assert failed.value.cause.type == "CsrNoLongerPending"
    assert "upload_trust" not in stub.names()


async def test_per_node_renewal_is_one_change_with_a_certificate_per_node(
    time_skipping_env: WorkflowEnvironment, worker: Worker, stub: StubCluster, task_queue: str
) -> None:
    stub.sso_enabled = False
    stub.version = "12.5.1.16900-48"
    handle = await start(time_skipping_env, task_queue, options={"distribution": "per-node"})
    status = await handle.result()
    assert status.phase == "done", status.error
    assert status.plan is not None and status.plan.certificate_path is not None
    path = status.plan.certificate_path
    assert (path.distribution, path.csr, path.identity) == ("per-node", "cli", "cli")
    csrs = [c[1] for c in stub.calls if c[0] == "generate_csr"]
    uploads = [c[1] for c in stub.calls if c[0] == "upload_certificate"]
    # One CSR and one upload on each node of tomcat's SAN, each naming that node only.
    assert [r.node for r in csrs] == FQDNS
    assert [(r.node, r.expected_nodes) for r in uploads] == [(f, [f]) for f in FQDNS]
    assert all(r.path == path for r in [*csrs, *uploads])
    checks = [c[1] for c in stub.calls if c[0] == "check_pending_csr"]
    assert [r.node for r in checks] == FQDNS
    validations = [c[1] for c in stub.calls if c[0] == "validate_certificate"]
    assert [v.expected_dns for v in validations] == [[f] for f in FQDNS]
    # Verified node by node against that node's own certificate.
    assert {c[1].node for c in stub.calls if c[0] == "verify_node"} == set(FQDNS)
    assert all(n.verified for n in status.nodes)


async def test_fourteen_su3_uploads_the_multi_server_certificate_in_os_administration(
    time_skipping_env: WorkflowEnvironment, worker: Worker, stub: StubCluster, task_queue: str
) -> None:
    stub.version = "14.0.1.13900-155"
    stub.sso_enabled = False
    handle = await start(time_skipping_env, task_queue, options={"distribution": "multi-server"})
    status = await handle.result()
    assert status.phase == "done"
    assert status.plan is not None and status.plan.certificate_path is not None
    # 14SU3: CSR over REST, the multi-server upload in OS Administration (GUI only from 14SU2).
    upload = next(c[1] for c in stub.calls if c[0] == "upload_certificate")
    assert (upload.path.csr, upload.path.identity, upload.node) == ("rest", "os-admin", None)


async def test_a_path_the_release_lacks_stops_before_any_write(
    time_skipping_env: WorkflowEnvironment, worker: Worker, stub: StubCluster, task_queue: str
) -> None:
    stub.version = "12.5.1.16900-48"
    stub.certificates = CertificatesEntry(interface="rest")
    handle = await start(time_skipping_env, task_queue)
    with pytest.raises(WorkflowFailureError):
        await handle.result()
    status = await handle.query(CertRenewalWorkflow.get_status)
    assert [p.code for p in status.problems] == ["certificate-path-unavailable"]
    assert "CUCM 14 and later" in status.problems[0].message
    assert not WRITES & set(stub.names())


async def test_an_invalid_change_policy_stops_the_change_naming_fields_not_values(
    time_skipping_env: WorkflowEnvironment, worker: Worker, stub: StubCluster, task_queue: str
) -> None:
    secret = "Hunter2-in-the-wrong-place"
    stub.windows = [
        {"days": ["sat"], "start": "22:00", "duration_seconds": 3600, "timezone": secret}
    ]
    stub.approvals = {"impact": {"required": secret}}
    handle = await start(time_skipping_env, task_queue)
    with pytest.raises(WorkflowFailureError) as failed:
        await handle.result()
    cause = failed.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == "InvalidChangePolicy"
    assert "change_policy.windows[0] is invalid: timezone: unknown IANA time zone" in cause.message
    assert secret not in cause.message
    assert not WRITES & set(stub.names())
    status = await handle.query(CertRenewalWorkflow.get_status)
    assert status.error is not None and secret not in status.error
