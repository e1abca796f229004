"""Record the representative histories the replay test checks every change against.

Run ``.venv/bin/python -m tests.replay.record NAME...`` after a *deliberate* workflow change
that is guarded by ``workflow.patched()``, naming the new scenarios only (new histories beside
the old ones, which keep what older code did), never to make a failing replay pass. Without
names every scenario is recorded. Scenarios run on the time-skipping server with the stubs.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio import activity
from temporalio.client import (
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowUpdateFailedError,
)
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.clients.itsm.models import ItsmReason
from activities.clients.notify.models import (
    NOTIFICATION_KINDS,
    DeliveryRequest,
    DeliveryResult,
    NotificationPolicy,
    NotificationRoutes,
    RoutesRequest,
)
from activities.cluster_models import ItsmPolicy
from activities.registry import RegistryActivities
from tests.workflows.stubs import BAD_PEM, GOOD_PEM, ROOT_PEM, StubCluster
from tests.workflows.test_renewal_workflow import Handle, start, wait_for
from workers.binaries import temporal_test_server_path
from workers.converter import make_data_converter
from workers.devserver import ensure_search_attributes
from workflows.cluster_lock import ClusterLockWorkflow
from workflows.models import (
    ApprovalInput,
    CaCheckInput,
    CertificateSubmission,
    OperatorDecision,
    SsoConfirmation,
)
from workflows.notifications import NotificationWorkflow
from workflows.phone_resets_workflow import PhoneResetsWorkflow
from workflows.renewal import CertRenewalWorkflow

HISTORIES = Path(__file__).parent / "histories"

Scenario = Callable[[WorkflowEnvironment, StubCluster, str], Awaitable[Handle]]


async def confirm(handle: Handle, stub: StubCluster) -> None:
    await wait_for(handle, "sso-confirm")
    stub.sso_enabled = True
    await handle.execute_update(CertRenewalWorkflow.confirm_sso, SsoConfirmation(principal="carol"))


async def tomcat_local_ca(env: WorkflowEnvironment, stub: StubCluster, tq: str) -> Handle:
    handle = await start(env, tq, require_plan_approval=True)
    status = await wait_for(handle, "approval")
    assert status.plan is not None
    await handle.execute_update(
        CertRenewalWorkflow.approve,
        ApprovalInput(principal="bob", plan_hash=status.plan.plan_hash),
    )
    await confirm(handle, stub)
    await handle.result()
    return handle


async def manual_ca_refused_then_accepted(
    env: WorkflowEnvironment, stub: StubCluster, tq: str
) -> Handle:
    handle = await start(env, tq, ca="manual")
    await wait_for(handle, "ca")
    await env.sleep(timedelta(days=4))
    with contextlib.suppress(WorkflowUpdateFailedError):  # the refusal is the point
        await handle.execute_update(
            CertRenewalWorkflow.submit_certificate,
            CertificateSubmission(principal="dave", certificate_pem=BAD_PEM),
        )
    await handle.execute_update(
        CertRenewalWorkflow.submit_certificate,
        CertificateSubmission(principal="dave", certificate_pem=GOOD_PEM, chain_pem=ROOT_PEM),
    )
    await confirm(handle, stub)
    await handle.result()
    return handle


async def callmanager_waves(env: WorkflowEnvironment, stub: StubCluster, tq: str) -> Handle:
    stub.sso_enabled = False
    stub.version = "12.5.1.14900-63"
    stub.security_mode = 1
    stub.gate_answers = [False, True]
    opens = await env.get_current_time() + timedelta(hours=10)
    window = {"start": opens.isoformat(), "end": (opens + timedelta(hours=6)).isoformat()}
    handle = await start(env, tq, purposes=["CallManager"], windows=[window])
    waiting = await wait_for(handle, "approval")
    assert waiting.plan is not None
    await handle.execute_update(
        CertRenewalWorkflow.approve,
        ApprovalInput(principal="bob", plan_hash=waiting.plan.plan_hash),
    )
    await wait_for(handle, "window")
    await env.sleep(timedelta(hours=11))
    await wait_for(handle, "operator")
    await handle.execute_update(
        CertRenewalWorkflow.decide, OperatorDecision(principal="carol", decision="continue")
    )
    await handle.result()
    return handle


async def callmanager_staged_resets(env: WorkflowEnvironment, stub: StubCluster, tq: str) -> Handle:
    """CallManager on 12.5 in mixed mode, run as rollout stages: CTL, TVS/TFTP wave, phone
    resets in batches (one health gate answered `continue`), a late-phone sweep, waves."""
    stub.sso_enabled = False
    stub.version = "12.5.1.14900-63"
    stub.security_mode = 1
    stub.late_phones = ["SEPLATE000001"]
    stub.gate_answers = [True, False, True]
    opens = await env.get_current_time() - timedelta(minutes=5)
    window = {"start": opens.isoformat(), "end": (opens + timedelta(hours=12)).isoformat()}
    handle = await start(
        env,
        tq,
        purposes=["CallManager"],
        windows=[window],
        options={"phone_reset_batch": 4, "reset_phones": True},
    )
    waiting = await wait_for(handle, "approval")
    assert waiting.plan is not None
    await handle.execute_update(
        CertRenewalWorkflow.approve,
        ApprovalInput(principal="bob", plan_hash=waiting.plan.plan_hash),
    )
    await wait_for(handle, "operator")
    await handle.execute_update(
        CertRenewalWorkflow.decide, OperatorDecision(principal="carol", decision="continue")
    )
    await handle.result()
    return handle


async def callmanager_phone_resets_child(
    env: WorkflowEnvironment, stub: StubCluster, tq: str
) -> Handle:
    """The staged resets of a cluster above ``phone_resets_child_above``: phone-reset children
    chosen by cursor (one health gate answered `continue` between two children, a child run
    continuing as new), then a late-phone sweep in a child of its own."""
    stub.sso_enabled = False
    stub.version = "12.5.1.14900-63"
    stub.late_phones = ["SEPLATE000001"]
    stub.gate_answers = [True, False, True]
    opens = await env.get_current_time() - timedelta(minutes=5)
    window = {"start": opens.isoformat(), "end": (opens + timedelta(hours=12)).isoformat()}
    handle = await start(
        env,
        tq,
        purposes=["CallManager"],
        windows=[window],
        options={
            "phone_reset_batch": 4,
            "reset_phones": True,
            "phone_resets_child_above": 0,
            "phone_reset_batches_per_run": 2,
        },
    )
    waiting = await wait_for(handle, "approval")
    assert waiting.plan is not None
    await handle.execute_update(
        CertRenewalWorkflow.approve,
        ApprovalInput(principal="bob", plan_hash=waiting.plan.plan_hash),
    )
    await wait_for(handle, "operator")
    await handle.execute_update(
        CertRenewalWorkflow.decide, OperatorDecision(principal="carol", decision="continue")
    )
    await handle.result()
    return handle


async def cancelled_after_sso(env: WorkflowEnvironment, stub: StubCluster, tq: str) -> Handle:
    handle = await start(env, tq)
    await wait_for(handle, "sso-confirm")
    await handle.cancel()
    with contextlib.suppress(WorkflowFailureError):
        await handle.result()
    return handle


async def callmanager_purposes(env: WorkflowEnvironment, stub: StubCluster, tq: str) -> Handle:
    """A CallManager change to the end: per-purpose discovery, then the CSCur97909 listing."""
    stub.sso_enabled = False
    stub.version = "12.5.1.14900-63"
    opens = await env.get_current_time() - timedelta(minutes=5)
    window = {"start": opens.isoformat(), "end": (opens + timedelta(hours=12)).isoformat()}
    handle = await start(env, tq, purposes=["CallManager"], windows=[window])
    waiting = await wait_for(handle, "approval")
    assert waiting.plan is not None
    await handle.execute_update(
        CertRenewalWorkflow.approve,
        ApprovalInput(principal="bob", plan_hash=waiting.plan.plan_hash),
    )
    await handle.result()
    return handle


async def callmanager_cancelled_after_upload(
    env: WorkflowEnvironment, stub: StubCluster, tq: str
) -> Handle:
    """Cancelled at the impact approval, after the upload: compensation per purpose."""
    stub.sso_enabled = False
    stub.version = "12.5.1.14900-63"
    opens = await env.get_current_time() + timedelta(days=2)
    window = {"start": opens.isoformat(), "end": (opens + timedelta(hours=6)).isoformat()}
    handle = await start(env, tq, purposes=["CallManager"], windows=[window])
    await wait_for(handle, "approval")
    await handle.cancel()
    with contextlib.suppress(WorkflowFailureError):
        await handle.result()
    return handle


async def decide(handle: Handle, choice: str) -> None:
    await handle.execute_update(
        CertRenewalWorkflow.decide,
        OperatorDecision(principal="dave", decision=choice),  # type: ignore[arg-type]
    )


async def node_step_retry_then_skip(env: WorkflowEnvironment, stub: StubCluster, tq: str) -> Handle:
    """Tomcat does not start on a subscriber: retried (fails again), then the node skipped."""
    stub.restart_fails_on = {"cucm-sub1.lab.example.com"}
    handle = await start(env, tq)
    await wait_for(handle, "operator")
    await decide(handle, "retry")
    await wait_for(handle, "operator")
    await decide(handle, "skip")
    await confirm(handle, stub)
    await handle.result()
    return handle


async def node_step_rollback(env: WorkflowEnvironment, stub: StubCluster, tq: str) -> Handle:
    """Tomcat does not start on a subscriber; fixed, then the change rolled back."""
    stub.restart_fails_on = {"cucm-sub1.lab.example.com"}
    handle = await start(env, tq)
    await wait_for(handle, "operator")
    stub.restart_fails_on.clear()
    await decide(handle, "rollback")
    with contextlib.suppress(WorkflowFailureError):
        await handle.result()
    return handle


async def status_memo_after_stop(env: WorkflowEnvironment, stub: StubCluster, tq: str) -> Handle:
    """Patch "status-memo": Tomcat does not start on a subscriber, the operator stops the
    change, which writes its final status (waves, failure and advice) to its memo."""
    stub.restart_fails_on = {"cucm-sub1.lab.example.com"}
    handle = await start(env, tq)
    await wait_for(handle, "operator")
    await decide(handle, "stop")
    with contextlib.suppress(WorkflowFailureError):
        await handle.result()
    return handle


async def adcs_check_now(env: WorkflowEnvironment, stub: StubCluster, tq: str) -> Handle:
    """A pending ADCS request checked now twice: still pending, then issued."""
    stub.sso_enabled = False
    now = await env.get_current_time()
    stub.ca_pending_until = now + timedelta(days=10)
    handle = await start(env, tq, ca="adcs", options={"ca_poll_seconds": 86400})
    await wait_for(handle, "ca")
    await handle.execute_update(CertRenewalWorkflow.check_ca, CaCheckInput(principal="fay"))
    stub.ca_pending_until = now
    await handle.execute_update(CertRenewalWorkflow.check_ca, CaCheckInput(principal="fay"))
    await handle.result()
    return handle


async def ca_poll_carries_csr(env: WorkflowEnvironment, stub: StubCluster, tq: str) -> Handle:
    """A pending ADCS request polled until issued, the poll carrying the CSR (any worker, with
    nothing on its disk, can finish the request: patch ``stateless-ca-poll``)."""
    stub.sso_enabled = False
    now = await env.get_current_time()
    stub.ca_pending_until = now + timedelta(hours=1)
    handle = await start(env, tq, ca="adcs", options={"ca_poll_seconds": 600})
    await handle.result()
    return handle


async def dashboard_attributes(env: WorkflowEnvironment, stub: StubCluster, tq: str) -> Handle:
    """CallManager with the dashboard's attributes: two approvers of a group whose approvals
    expire, a window ahead (deadline), a health gate asking once, restarts counted."""
    stub.sso_enabled = False
    stub.version = "12.5.1.14900-63"
    stub.gate_answers = [False, True]
    stub.approvals = {
        "impact": {"approver_groups": ["voice-cab"], "required": 2, "expiry_seconds": 86400}
    }
    opens = await env.get_current_time() + timedelta(hours=10)
    window = {"start": opens.isoformat(), "end": (opens + timedelta(hours=6)).isoformat()}
    handle = await start(env, tq, purposes=["CallManager"], windows=[window])
    plan = (await wait_for(handle, "approval")).plan
    assert plan is not None
    for who in ("bob", "dana"):
        await handle.execute_update(
            CertRenewalWorkflow.approve,
            ApprovalInput(
                principal=who, groups=["voice-cab"], comment="CAB-7", plan_hash=plan.plan_hash
            ),
        )
    await wait_for(handle, "window")
    await env.sleep(timedelta(hours=11))
    await wait_for(handle, "operator")
    await handle.execute_update(
        CertRenewalWorkflow.decide, OperatorDecision(principal="carol", decision="continue")
    )
    await handle.result()
    return handle


async def itsm_checked_and_written(env: WorkflowEnvironment, stub: StubCluster, tq: str) -> Handle:
    """A cluster with a change system: the record checked in preflight, the outcome written
    back after one failed attempt."""
    stub.itsm = ItsmPolicy(kind="servicenow", write_back_attempts=3, write_back_initial_seconds=1)
    stub.write_back_failures = 1
    handle = await start(env, tq)
    await confirm(handle, stub)
    await handle.result()
    return handle


@activity.defn(name="notification_routes")
async def notification_routes(req: RoutesRequest) -> NotificationRoutes:
    return NotificationRoutes(channels=["team"], retry_for_seconds=600)


@activity.defn(name="deliver_notification")
async def deliver_notification(req: DeliveryRequest) -> DeliveryResult:
    return DeliveryResult(channel=req.channel, detail="HTTP 200")


async def notifications(env: WorkflowEnvironment, stub: StubCluster, tq: str) -> Handle:
    """Patch "notifications": plan approval, a manual CA slower than the threshold, SSO to
    re-enable, done; each event one notification workflow."""
    stub.notifications = NotificationPolicy(
        events=list(NOTIFICATION_KINDS), ca_wait_threshold_seconds=12 * 3600
    )
    handle = await start(env, tq, ca="manual", require_plan_approval=True)
    status = await wait_for(handle, "approval")
    assert status.plan is not None
    await handle.execute_update(
        CertRenewalWorkflow.approve,
        ApprovalInput(principal="bob", plan_hash=status.plan.plan_hash),
    )
    await wait_for(handle, "ca")
    await env.sleep(timedelta(hours=13))
    await handle.execute_update(
        CertRenewalWorkflow.submit_certificate,
        CertificateSubmission(principal="dave", certificate_pem=GOOD_PEM, chain_pem=ROOT_PEM),
    )
    await confirm(handle, stub)
    await handle.result()
    return handle


async def approvals_bound_four_eyes(env: WorkflowEnvironment, stub: StubCluster, tq: str) -> Handle:
    """Plan approvals by signal without a plan hash and from the requester (both ignored,
    patch approvals-bound-four-eyes), then a bound approval by someone else."""
    handle = await start(env, tq, require_plan_approval=True)
    status = await wait_for(handle, "approval")
    assert status.plan is not None
    await handle.signal(CertRenewalWorkflow.approve_signal, ApprovalInput(principal="erin"))
    await handle.signal(
        CertRenewalWorkflow.approve_signal,
        ApprovalInput(principal="alice", plan_hash=status.plan.plan_hash),
    )
    await handle.execute_update(
        CertRenewalWorkflow.approve,
        ApprovalInput(principal="bob", plan_hash=status.plan.plan_hash, comment="CAB ok"),
    )
    await confirm(handle, stub)
    final = await handle.result()
    ignored = [e.actor for e in final.audit if e.action == "approval-ignored"]
    assert ignored == ["erin", "alice"], ignored
    return handle


async def itsm_refused(env: WorkflowEnvironment, stub: StubCluster, tq: str) -> Handle:
    """A change record that does not allow the work: preflight stops, the failure is told."""
    stub.itsm = ItsmPolicy(kind="servicenow")
    stub.record_reasons = [
        ItsmReason(code="change-record-not-approved", message="state 'Authorize'")
    ]
    handle = await start(env, tq)
    with contextlib.suppress(WorkflowFailureError):
        await handle.result()
    return handle


async def intents_sso_lost_then_cancelled(
    env: WorkflowEnvironment, stub: StubCluster, tq: str
) -> Handle:
    """``utils sso disable`` took effect and its answer was lost; the change is cancelled at
    the SSO confirmation (intents recorded, SSO left to re-enable)."""
    stub.lost_responses = {"disable_sso"}
    handle = await start(env, tq)
    await wait_for(handle, "sso-confirm")
    await handle.cancel()
    with contextlib.suppress(WorkflowFailureError):
        await handle.result()
    return handle


async def intents_lost_answers(env: WorkflowEnvironment, stub: StubCluster, tq: str) -> Handle:
    """A tomcat change whose trust upload, certificate upload and one restart lose their
    first answer after the effect (trust read before the upload, retries confirmed)."""
    stub.lost_responses = {
        "upload_trust",
        "upload_certificate",
        "restart_service@cucm-sub1.lab.example.com",
    }
    handle = await start(env, tq)
    await confirm(handle, stub)
    await handle.result()
    return handle


async def cluster_lock_released(env: WorkflowEnvironment, stub: StubCluster, tq: str) -> Handle:
    """Patch "cluster-lock": the lock taken in preflight and released before the end."""
    return await tomcat_local_ca(env, stub, tq)


async def cluster_busy_refused(env: WorkflowEnvironment, stub: StubCluster, tq: str) -> Handle:
    """Patch "cluster-lock": a change refused because another one holds the cluster."""
    holder = await start(env, tq, require_plan_approval=True)
    await wait_for(holder, "approval")
    refused = await start(env, tq, require_plan_approval=True)
    with contextlib.suppress(WorkflowFailureError):
        await refused.result()
    # Skipping time while awaiting the refusal may have ended the holder's approval wait.
    if (await holder.describe()).status == WorkflowExecutionStatus.RUNNING:
        await holder.terminate("recorded")
    return refused


SCENARIOS: dict[str, Scenario] = {
    "tomcat-local-ca": tomcat_local_ca,
    "manual-ca-refused-then-accepted": manual_ca_refused_then_accepted,
    "callmanager-waves-health-gate": callmanager_waves,
    "cancelled-after-sso-disable": cancelled_after_sso,
    "callmanager-staged-resets": callmanager_staged_resets,
    "callmanager-purposes": callmanager_purposes,
    "callmanager-phone-resets-child": callmanager_phone_resets_child,
    "callmanager-cancelled-after-upload": callmanager_cancelled_after_upload,
    "node-step-retry-then-skip": node_step_retry_then_skip,
    "node-step-rollback": node_step_rollback,
    "adcs-check-now": adcs_check_now,
    "ca-poll-carries-csr": ca_poll_carries_csr,
    "dashboard-attributes": dashboard_attributes,
    "approvals-bound-four-eyes": approvals_bound_four_eyes,
    "itsm-checked-and-written": itsm_checked_and_written,
    "itsm-refused": itsm_refused,
    "notifications": notifications,
    "intents-sso-lost-then-cancelled": intents_sso_lost_then_cancelled,
    "intents-lost-answers": intents_lost_answers,
    "status-memo-after-stop": status_memo_after_stop,
    "cluster-lock-released": cluster_lock_released,
    "cluster-busy-refused": cluster_busy_refused,
}

#: Scenarios whose first phone-reset child run is recorded too, under this name.
CHILD_RUNS = {"callmanager-phone-resets-child": "phone-resets-child-run"}


async def main(names: list[str]) -> None:
    unknown = sorted(set(names) - set(SCENARIOS))
    if unknown:
        raise SystemExit(f"unknown scenarios {unknown}: choose from {', '.join(SCENARIOS)}")
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=make_data_converter(),
        test_server_existing_path=str(temporal_test_server_path()),
    )
    try:
        await ensure_search_attributes(env.client, env.client.namespace)
        HISTORIES.mkdir(parents=True, exist_ok=True)
        for name, scenario in SCENARIOS.items():
            if names and name not in names:
                continue
            stub = StubCluster()
            tq = f"record-{uuid.uuid4()}"
            async with Worker(
                env.client,
                task_queue=tq,
                workflows=[
                    CertRenewalWorkflow,
                    NotificationWorkflow,
                    ClusterLockWorkflow,
                    PhoneResetsWorkflow,
                ],
                activities=[
                    *(a for a in stub.activities() if a.__name__ != "cluster_lock_holder"),
                    notification_routes,
                    deliver_notification,
                    RegistryActivities(env.client).cluster_lock_holder,
                ],
            ):
                handle = await scenario(env, stub, tq)
                history = await handle.fetch_history()
            data: dict[str, Any] = json.loads(history.to_json())
            (HISTORIES / f"{name}.json").write_text(json.dumps(data, indent=1) + "\n")
            print(f"{name}: {len(history.events)} events")
            if name in CHILD_RUNS:
                # The first run of the change's first phone-reset child, beside its renewal.
                started = [
                    e.child_workflow_execution_started_event_attributes.workflow_execution
                    for e in history.events
                    if e.HasField("child_workflow_execution_started_event_attributes")
                ]
                first = next(c for c in started if "/phone-resets/" in c.workflow_id)
                child = await env.client.get_workflow_handle(
                    first.workflow_id, run_id=first.run_id
                ).fetch_history()
                child_name = CHILD_RUNS[name]
                (HISTORIES / f"{child_name}.json").write_text(
                    json.dumps(json.loads(child.to_json()), indent=1) + "\n"
                )
                print(f"{child_name}: {len(child.events)} events")
    finally:
        await env.shutdown()


if __name__ == "__main__":
    # Names record only those scenarios (a new one beside the histories already kept).
    asyncio.run(main(sys.argv[1:]))
