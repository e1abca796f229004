"""The change record in a renewal: checked in preflight, written back at every ending, and a
write-back that fails never fails the renewal (time-skipping server, stub activities)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.clients.itsm.models import ItsmReason, WriteBackRequest
from activities.cluster_models import ItsmPolicy
from tests.workflows.stubs import WRITES, StubCluster
from tests.workflows.test_renewal_workflow import confirm_sso, start, stub, wait_for
from workflows.cluster_lock import ClusterLockWorkflow
from workflows.models import ApprovalInput, PlanReport, PlanRequest
from workflows.plan_workflow import PlanWorkflow
from workflows.renewal import CertRenewalWorkflow

__all__ = ["stub"]

POLICY = ItsmPolicy(kind="servicenow", write_back_attempts=3, write_back_initial_seconds=1)
NOT_APPROVED = ItsmReason(
    code="change-record-not-approved",
    message="change record X is in state 'Authorize', which does not allow implementation",
)


@pytest_asyncio.fixture(loop_scope="session")
async def worker(
    time_skipping_env: WorkflowEnvironment, stub: StubCluster, task_queue: str
) -> AsyncIterator[Worker]:
    stub.itsm = POLICY
    async with Worker(
        time_skipping_env.client,
        task_queue=task_queue,
        workflows=[CertRenewalWorkflow, ClusterLockWorkflow, PlanWorkflow],
        activities=stub.activities(),
    ) as w:
        yield w


def write_backs(stub: StubCluster) -> list[WriteBackRequest]:
    return [c[1] for c in stub.calls if c[0] == "write_back_outcome"]


async def failure(handle: object) -> ApplicationError:
    with pytest.raises(WorkflowFailureError) as failed:
        await handle.result()  # type: ignore[attr-defined]
    assert isinstance(failed.value.cause, ApplicationError)
    return failed.value.cause


async def test_allowed_record_is_checked_and_told_done(
    time_skipping_env: WorkflowEnvironment, worker: Worker, stub: StubCluster, task_queue: str
) -> None:
    handle = await start(time_skipping_env, task_queue)
    await confirm_sso(handle, stub)
    status = await handle.result()
    assert status.phase == "done"
    names = stub.names()
    assert names.index("check_change_record") < names.index("generate_csr")
    assert status.change_record is not None and status.change_record.allowed
    [back] = write_backs(stub)
    assert back.outcome == "done" and back.change_id == status.change_id
    assert "done" in back.summary
    assert any(n.startswith("tomcat: new certificate serial") for n in back.work_notes)
    actions = [e.action for e in status.audit]
    assert "change-record-checked" in actions and actions[-1] == "change-record-written"


async def test_unapproved_record_stops_the_change_before_any_write(
    time_skipping_env: WorkflowEnvironment, worker: Worker, stub: StubCluster, task_queue: str
) -> None:
    stub.record_reasons = [NOT_APPROVED]
    handle = await start(time_skipping_env, task_queue)
    cause = await failure(handle)
    assert cause.type == "PreflightFailed"
    assert "does not allow implementation" in cause.message
    status = await handle.query(CertRenewalWorkflow.get_status)
    assert [p.code for p in status.problems] == ["change-record-not-approved"]
    assert not WRITES & set(stub.names())
    [back] = write_backs(stub)
    assert back.outcome == "failed"
    assert back.work_notes == [f"problem: {NOT_APPROVED.message}"]


async def test_missing_record_is_refused_and_not_written_to(
    time_skipping_env: WorkflowEnvironment, worker: Worker, stub: StubCluster, task_queue: str
) -> None:
    stub.record_missing = True
    handle = await start(time_skipping_env, task_queue)
    assert (await failure(handle)).type == "PreflightFailed"
    status = await handle.query(CertRenewalWorkflow.get_status)
    assert [p.code for p in status.problems] == ["change-record-not-found"]
    assert write_backs(stub) == []


async def test_a_non_blocking_check_only_warns(
    time_skipping_env: WorkflowEnvironment, worker: Worker, stub: StubCluster, task_queue: str
) -> None:
    stub.itsm = POLICY.model_copy(update={"block": False})
    stub.record_reasons = [NOT_APPROVED]
    handle = await start(time_skipping_env, task_queue)
    await confirm_sso(handle, stub)
    status = await handle.result()
    assert status.phase == "done"
    assert [w.code for w in status.warnings] == ["change-record-not-approved"]


async def test_unreachable_change_system_is_a_preflight_problem(
    time_skipping_env: WorkflowEnvironment, worker: Worker, stub: StubCluster, task_queue: str
) -> None:
    stub.record_check_fails = True
    handle = await start(time_skipping_env, task_queue)
    assert (await failure(handle)).type == "PreflightFailed"
    status = await handle.query(CertRenewalWorkflow.get_status)
    [problem] = status.problems
    assert problem.code == "change-record-unchecked" and "503" in problem.message


async def test_failing_write_back_is_retried_then_recorded_and_the_renewal_is_done(
    time_skipping_env: WorkflowEnvironment, worker: Worker, stub: StubCluster, task_queue: str
) -> None:
    stub.write_back_failures = 10
    handle = await start(time_skipping_env, task_queue)
    await confirm_sso(handle, stub)
    status = await handle.result()
    assert status.phase == "done"
    assert len(write_backs(stub)) == POLICY.write_back_attempts
    last = status.audit[-1]
    assert last.action == "change-record-write-back-failed"
    assert "done could not be written" in last.comment


async def test_write_back_succeeds_after_retries(
    time_skipping_env: WorkflowEnvironment, worker: Worker, stub: StubCluster, task_queue: str
) -> None:
    stub.write_back_failures = 2
    handle = await start(time_skipping_env, task_queue)
    await confirm_sso(handle, stub)
    status = await handle.result()
    assert len(write_backs(stub)) == 3
    assert status.audit[-1].action == "change-record-written"


async def test_rejected_plan_and_cancelled_change_are_told(
    time_skipping_env: WorkflowEnvironment, worker: Worker, stub: StubCluster, task_queue: str
) -> None:
    rejected = await start(time_skipping_env, task_queue, require_plan_approval=True)
    await wait_for(rejected, "approval")
    await rejected.execute_update(
        CertRenewalWorkflow.reject, ApprovalInput(principal="bob", comment="wrong week")
    )
    assert (await failure(rejected)).type == "PlanRejected"
    cancelled = await start(time_skipping_env, task_queue, require_plan_approval=True)
    await wait_for(cancelled, "approval")
    await cancelled.cancel()
    with pytest.raises(WorkflowFailureError):
        await cancelled.result()
    outcomes = {(b.change_id, b.outcome) for b in write_backs(stub)}
    assert outcomes == {(rejected.id, "rejected"), (cancelled.id, "cancelled")}


async def test_no_itsm_no_calls(
    time_skipping_env: WorkflowEnvironment, worker: Worker, stub: StubCluster, task_queue: str
) -> None:
    stub.itsm = None
    handle = await start(time_skipping_env, task_queue)
    await confirm_sso(handle, stub)
    status = await handle.result()
    assert status.change_record is None
    assert not {"check_change_record", "write_back_outcome"} & set(stub.names())


async def test_plan_checks_the_record_when_given_the_change_id(
    time_skipping_env: WorkflowEnvironment, worker: Worker, stub: StubCluster, task_queue: str
) -> None:
    async def dry_run(**kw: object) -> PlanReport:
        req = PlanRequest.model_validate({"cluster": "lab", **kw})
        return await time_skipping_env.client.execute_workflow(
            PlanWorkflow.run, req, id=f"plan-{uuid.uuid4().hex[:8]}", task_queue=task_queue
        )

    stub.record_reasons = [NOT_APPROVED]
    without = await dry_run()
    assert [(p.code, p.blocking) for p in without.problems] == [("change-record-unchecked", False)]
    checked = await dry_run(change_id="CHG0030002")
    assert [(p.code, p.blocking) for p in checked.problems] == [
        ("change-record-not-approved", True)
    ]
    assert checked.change_record is not None
    assert write_backs(stub) == []
