"""Phone-impacting renewals (CallManager) on the time-skipping server with stub activities:
four-eyes approvals, maintenance windows, CTL ordering, rolling waves and health gates."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import pytest
import pytest_asyncio
from temporalio.client import WorkflowFailureError, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from tests.workflows.stubs import FQDNS, StubCluster
from tests.workflows.test_renewal_workflow import Handle, start, update_message, wait_for
from workflows.cluster_lock import ClusterLockWorkflow
from workflows.intents import CONFIRMED_AFTER_RETRY
from workflows.models import ApprovalInput, OperatorDecision, RenewalStatus
from workflows.renewal import CertRenewalWorkflow

CUCM = FQDNS[:3]


@pytest_asyncio.fixture(loop_scope="session")
async def stub() -> StubCluster:
    return StubCluster(sso_enabled=False, version="12.5.1.14900-63")


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


def window(start: datetime, hours: float) -> dict[str, Any]:
    return {"start": start.isoformat(), "end": (start + timedelta(hours=hours)).isoformat()}


async def now(env: WorkflowEnvironment) -> datetime:
    return await env.get_current_time()


async def start_cm(env: WorkflowEnvironment, task_queue: str, **kw: Any) -> Handle:
    # These tests follow the resets made before the first CallManager wave; the resets by
    # primary (the default) have tests of their own (test_phone_resets_by_primary.py).
    options = {"phone_resets_by_primary": False, **(kw.pop("options", None) or {})}
    return await start(env, task_queue, purposes=["CallManager"], options=options, **kw)


async def approve(handle: Handle, who: str = "bob", **kw: Any) -> None:
    if "plan_hash" not in kw:
        status = await handle.query(CertRenewalWorkflow.get_status)
        assert status.plan is not None
        kw["plan_hash"] = status.gate_hash or status.plan.plan_hash
    await handle.execute_update(CertRenewalWorkflow.approve, ApprovalInput(principal=who, **kw))


async def run_approved(env: WorkflowEnvironment, task_queue: str, **options: Any) -> RenewalStatus:
    """Run a CallManager change inside an open window, approved once; its final status."""
    opens = await now(env) - timedelta(minutes=5)
    handle = await start_cm(env, task_queue, windows=[window(opens, 12)], options=options)
    await wait_for(handle, "approval")
    await approve(handle)
    return await handle.result()


def restarts_between(calls: list[tuple[str, Any]], lo: int, hi: int) -> list[tuple[str, str]]:
    return [(c[1].node, c[1].service) for c in calls[lo:hi] if c[0] == "restart_service"]


async def test_callmanager_change_four_eyes_window_ctl_and_rolling_waves(
    time_skipping_env: WorkflowEnvironment, worker: Worker, stub: StubCluster, task_queue: str
) -> None:
    stub.security_mode = 1
    opens = await now(time_skipping_env) + timedelta(days=2)
    handle = await start_cm(time_skipping_env, task_queue, windows=[window(opens, 6)])
    status = await wait_for(handle, "approval")
    assert status.phase == "approve-impact" and status.gate == "impact"
    assert "upload_certificate" in stub.names()  # uploads need no window: nothing restarts
    assert "restart_service" not in stub.names()

    with pytest.raises(WorkflowUpdateFailedError) as own:
        await approve(handle, "alice")  # alice requested the change
    assert "four eyes" in update_message(own.value)
    await approve(handle, "bob", comment="CAB-42")

    status = await wait_for(handle, "window")
    assert status.phase == "window" and "restart_service" not in stub.names()
    final = await handle.result()  # the time-skipping server jumps to the window
    assert final.phase == "done"

    names = stub.names()
    assert names.index("ctl_update") < names.index("restart_service")
    plan = final.plan
    assert plan is not None and plan.restarts is not None
    waves = plan.restarts.waves
    assert len(waves) >= 2
    # every wave with phone impact, and every batch of SCCP phone resets, was followed by a
    # health gate before the next step
    gates = [i for i, n in enumerate(names) if n == "wait_for_registrations"]
    sccp_batches = [
        c for c in stub.calls if c[0] == "reset_phones" and c[1].names[0].startswith("SEPSCCP")
    ]
    assert len(sccp_batches) == 1
    assert len(gates) == sum(1 for w in waves if w.phones_affected) + len(sccp_batches)
    first_restart = names.index("restart_service")
    for lo, hi in zip([first_restart, *gates], gates, strict=False):
        assert restarts_between(stub.calls, lo, hi), "a gate without restarts before it"
    # no group ever lost every member in one wave
    for wave in waves:
        down = {nr.node for nr in wave.nodes if "Cisco CallManager" in nr.services}
        assert {FQDNS[1], FQDNS[0]} - down and {FQDNS[2], FQDNS[1]} - down
    verified = {(c[1].purpose, c[1].node) for c in stub.calls if c[0] == "verify_node"}
    assert verified == {("CallManager", f) for f in CUCM}
    assert ("bob", "approved-impact") in [(e.actor, e.action) for e in final.audit]


async def test_ctl_updated_then_worker_lost_is_one_update_by_ucrenew(
    time_skipping_env: WorkflowEnvironment, worker: Worker, stub: StubCluster, task_queue: str
) -> None:
    """The matrix's ``during-ctl-update`` kill: the CTL update took effect and the worker died
    before answering. The retry's read-back finds the CTL current and does not update it
    again; the audit still says ucrenew updated it (the intent was recorded first)."""
    stub.security_mode = 1
    stub.lost_responses = {"ctl_update"}
    final = await run_approved(time_skipping_env, task_queue)
    assert final.phase == "done"
    assert stub.names().count("ctl_update") == 2  # the first attempt never answered
    said = [e.comment for e in final.audit if e.action.startswith("ctl-")]
    assert len(said) == 1 and CONFIRMED_AFTER_RETRY in said[0]
    assert [e.action for e in final.audit if e.action.startswith("ctl-")] == ["ctl-updated"]
    [intent] = [i for i in final.intents if i.effect == "ctl-update"]
    assert intent.outcome == "done-after-retry"


async def test_a_ctl_already_current_is_not_claimed_as_ucrenews_update(
    time_skipping_env: WorkflowEnvironment, worker: Worker, stub: StubCluster, task_queue: str
) -> None:
    stub.security_mode = 1
    stub.ctl_current = True
    final = await run_approved(time_skipping_env, task_queue)
    assert final.phase == "done"
    assert [e.action for e in final.audit if e.action.startswith("ctl-")] == ["ctl-current"]
    [intent] = [i for i in final.intents if i.effect == "ctl-update"]
    assert intent.outcome == "already"
    assert not any("CTL" in o for o in final.outstanding)


async def test_health_gate_pauses_and_waits_for_the_operator(
    time_skipping_env: WorkflowEnvironment, worker: Worker, stub: StubCluster, task_queue: str
) -> None:
    stub.gate_answers = [False, True]
    opens = await now(time_skipping_env) - timedelta(minutes=5)
    handle = await start_cm(time_skipping_env, task_queue, windows=[window(opens, 12)])
    await wait_for(handle, "approval")
    await approve(handle)
    status = await wait_for(handle, "operator")
    assert status.question and "re-registered" in status.question
    restarts_at_pause = stub.names().count("restart_service")
    with pytest.raises(WorkflowUpdateFailedError) as wrong:
        await handle.execute_update(
            CertRenewalWorkflow.decide, OperatorDecision(principal="carol", decision="regenerate")
        )
    assert "continue or roll-forward or abort" in update_message(wrong.value)
    assert stub.names().count("restart_service") == restarts_at_pause  # never barrels on
    await handle.execute_update(
        CertRenewalWorkflow.decide, OperatorDecision(principal="carol", decision="continue")
    )
    final = await handle.result()
    assert final.phase == "done"
    assert ("carol", "decided-continue") in [(e.actor, e.action) for e in final.audit]


async def test_health_gate_abort_stops_the_change(
    time_skipping_env: WorkflowEnvironment, worker: Worker, stub: StubCluster, task_queue: str
) -> None:
    stub.gate_answers = [False]
    opens = await now(time_skipping_env) - timedelta(minutes=5)
    handle = await start_cm(time_skipping_env, task_queue, windows=[window(opens, 12)])
    await wait_for(handle, "approval")
    await approve(handle)
    await wait_for(handle, "operator")
    restarts = stub.names().count("restart_service")
    await handle.execute_update(
        CertRenewalWorkflow.decide, OperatorDecision(principal="carol", decision="abort")
    )
    with pytest.raises(WorkflowFailureError) as failed:
        await handle.result()
    assert isinstance(failed.value.cause, ApplicationError)
    assert failed.value.cause.type == "HealthGateAborted"
    assert stub.names().count("restart_service") == restarts


async def test_approval_policy_groups_count_and_justification(
    time_skipping_env: WorkflowEnvironment, worker: Worker, stub: StubCluster, task_queue: str
) -> None:
    stub.approvals = {
        "impact": {"approver_groups": ["voice-cab"], "required": 2, "justification_required": True}
    }
    opens = await now(time_skipping_env) - timedelta(minutes=5)
    handle = await start_cm(time_skipping_env, task_queue, windows=[window(opens, 12)])
    status = await wait_for(handle, "approval")
    with pytest.raises(WorkflowUpdateFailedError) as outsider:
        await approve(handle, "bob", comment="ok")
    assert "approver groups" in update_message(outsider.value)
    with pytest.raises(WorkflowUpdateFailedError) as terse:
        await approve(handle, "bob", groups=["voice-cab"])
    assert "justification" in update_message(terse.value)
    await approve(handle, "bob", groups=["voice-cab"], comment="CAB-7 approved")
    status = await handle.query(CertRenewalWorkflow.get_status)
    assert status.awaiting == "approval"  # one of two
    with pytest.raises(WorkflowUpdateFailedError) as twice:
        await approve(handle, "bob", groups=["voice-cab"], comment="again")
    assert "already approved" in update_message(twice.value)
    # the ITSM integration approves by signal, bound to the plan like any approval
    await handle.signal(
        CertRenewalWorkflow.approve_signal,
        ApprovalInput(principal="erin", groups=["voice-cab"], comment="no plan named"),
    )
    assert status.plan is not None
    await handle.signal(
        CertRenewalWorkflow.approve_signal,
        ApprovalInput(
            principal="dana",
            groups=["voice-cab"],
            comment="CAB-7 second approver",
            plan_hash=status.plan.plan_hash,
        ),
    )
    final = await handle.result()
    assert final.phase == "done"
    assert [e.actor for e in final.approvals] == ["bob", "dana"]
    [ignored] = [e for e in final.audit if e.action == "approval-ignored"]
    assert ignored.actor == "erin" and "plan hash" in ignored.comment


async def test_a_window_too_short_for_a_wave_pauses_until_the_operator_resumes(
    time_skipping_env: WorkflowEnvironment, worker: Worker, stub: StubCluster, task_queue: str
) -> None:
    t = await now(time_skipping_env)
    windows = [window(t - timedelta(hours=1), 1.5), window(t + timedelta(days=1), 8)]
    handle = await start_cm(
        time_skipping_env, task_queue, windows=windows, options={"expected_wave_seconds": 1800}
    )
    await wait_for(handle, "approval")
    await approve(handle)
    status = await wait_for(handle, "operator")
    assert status.question and "resume" in status.question
    assert "restart_service" not in stub.names()  # no wave starts outside a window
    await handle.execute_update(
        CertRenewalWorkflow.decide, OperatorDecision(principal="carol", decision="resume")
    )
    final = await handle.result()
    assert final.phase == "done"
    assert final.finished_at is not None and final.finished_at >= t + timedelta(days=1)


async def test_no_window_is_a_preflight_failure(
    time_skipping_env: WorkflowEnvironment, worker: Worker, stub: StubCluster, task_queue: str
) -> None:
    handle = await start_cm(time_skipping_env, task_queue)
    with pytest.raises(WorkflowFailureError) as failed:
        await handle.result()
    assert "maintenance window" in str(failed.value.cause)
    assert "generate_csr" not in stub.names()


async def test_naive_strategy_restarts_every_node_in_one_wave(
    time_skipping_env: WorkflowEnvironment, worker: Worker, stub: StubCluster, task_queue: str
) -> None:
    final = await run_approved(time_skipping_env, task_queue, restart_strategy="naive")
    assert final.plan is not None and final.plan.restarts is not None
    assert len(final.plan.restarts.waves) == 1
    assert {nr.node for nr in final.plan.restarts.waves[0].nodes} == set(CUCM)


async def test_staged_phone_resets_come_between_tftp_and_the_callmanager_waves(
    time_skipping_env: WorkflowEnvironment, worker: Worker, stub: StubCluster, task_queue: str
) -> None:
    final = await run_approved(time_skipping_env, task_queue, phone_reset_batch=4)
    assert final.phase == "done", final.error
    assert final.plan is not None and final.plan.restarts is not None
    assert final.plan.restarts.reset_phones
    calls, names = stub.calls, stub.names()

    # TVS and TFTP restart before any phone is reset, and nothing else does.
    first_reset = names.index("reset_phones")
    early = restarts_between(calls, 0, first_reset)
    assert {svc for _, svc in early} == {"Cisco Trust Verification Service", "Cisco Tftp"}

    resets = [(i, c[1]) for i, c in enumerate(calls) if c[0] == "reset_phones"]
    # 5 phones on each of 3 CUCM nodes, in batches of 4, taken from the nodes in turn.
    assert [len(r.names) for _, r in resets] == [4, 4, 4, 3]
    assert resets[0][1].names == ["SEPSCCP000", "SEPSCCP100", "SEPSCCP200", "SEPSCCP001"]
    everyone = [n for _, r in resets for n in r.names]
    assert sorted(everyone) == sorted(set(everyone)) and len(everyone) == 15
    first_cm = next(
        i
        for i, c in enumerate(calls)
        if c[0] == "restart_service" and "CallManager" in c[1].service
    )
    assert all(i < first_cm for i, _ in resets)
    # Each batch is back (health gate) before the next one, and before the first wave.
    for i, j in itertools.pairwise([*(i for i, _ in resets), first_cm]):
        assert "wait_for_registrations" in names[i:j]
    assert final.phones_reset == 15
    assert [e.action for e in final.audit].count("phones-reset") == len(resets)
    # The phones are listed again after the batches (nobody new: no further reset).
    assert names.count("registered_phones") == 2


async def test_phones_registered_after_the_batches_began_are_reset_in_a_last_sweep(
    time_skipping_env: WorkflowEnvironment, worker: Worker, stub: StubCluster, task_queue: str
) -> None:
    stub.late_phones = ["SEPLATE0001", "SEPLATE0002"]
    final = await run_approved(time_skipping_env, task_queue, phone_reset_batch=10)
    assert final.phase == "done", final.error
    resets = [c[1].names for c in stub.calls if c[0] == "reset_phones"]
    assert [len(r) for r in resets] == [10, 5, 2]
    assert resets[-1] == ["SEPLATE0001", "SEPLATE0002"]
    everyone = [n for r in resets for n in r]
    assert len(everyone) == len(set(everyone)) == 17
    assert final.phones_reset == 17
    gate_label = [
        e.comment for e in final.audit if e.action == "phones-reset" and "late phone" in e.comment
    ]
    assert gate_label == ["late phone reset batch 1/1: 2 of 2 phones reset"]


async def test_reset_phones_off_leaves_the_resets_to_cucm(
    time_skipping_env: WorkflowEnvironment, worker: Worker, stub: StubCluster, task_queue: str
) -> None:
    final = await run_approved(time_skipping_env, task_queue, reset_phones=False)
    assert final.phase == "done", final.error
    assert "reset_phones" not in stub.names() and "registered_phones" not in stub.names()
    last = [c[1] for c in stub.calls if c[0] == "restart_service"][-3:]
    assert {r.service for r in last} == {"Cisco Tftp"}  # TFTP last, as before


async def test_phones_not_back_after_a_reset_batch_stop_before_any_callmanager_restart(
    time_skipping_env: WorkflowEnvironment, worker: Worker, stub: StubCluster, task_queue: str
) -> None:
    stub.gate_answers = [False]
    opens = await now(time_skipping_env) - timedelta(minutes=5)
    handle = await start_cm(
        time_skipping_env, task_queue, windows=[window(opens, 12)], options={"phone_reset_batch": 4}
    )
    await wait_for(handle, "approval")
    await approve(handle)
    status = await wait_for(handle, "operator")
    assert status.phase == "phone-resets"
    assert status.question and "after phone reset batch 1/4" in status.question
    assert stub.names().count("reset_phones") == 1  # the next batch waits for the operator
    await handle.execute_update(
        CertRenewalWorkflow.decide, OperatorDecision(principal="carol", decision="abort")
    )
    with pytest.raises(WorkflowFailureError) as failed:
        await handle.result()
    assert isinstance(failed.value.cause, ApplicationError)
    assert "after phone reset batch 1/4" in str(failed.value.cause)
    restarted = {c[1].service for c in stub.calls if c[0] == "restart_service"}
    assert restarted == {"Cisco Trust Verification Service", "Cisco Tftp"}


async def test_each_wave_gate_waits_for_fallback_off_the_next_waves_callmanager_nodes(
    time_skipping_env: WorkflowEnvironment, worker: Worker, stub: StubCluster, task_queue: str
) -> None:
    final = await run_approved(time_skipping_env, task_queue, reset_phones=False)
    assert final.phase == "done", final.error
    assert final.plan is not None and final.plan.restarts is not None
    cm_waves = [
        [nr.node for nr in w.nodes if "Cisco CallManager" in nr.services]
        for w in final.plan.restarts.waves
        if w.phones_affected
    ]
    gates = [c[1] for c in stub.calls if c[0] == "wait_for_registrations"]
    assert len(gates) == len(cm_waves) >= 2
    for gate, following in zip(gates, [*cm_waves[1:], []], strict=True):
        assert gate.drain_nodes == following
        home = {"cucm-sub1.lab.example.com": 120, "cucm-sub2.lab.example.com": 80}
        assert gate.home_per_node == (home if following else {})
