"""The search attributes the dashboard's list is read from: who asked, whom a renewal waits
for, its deadline and its rollout progress, each upserted only when it changes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import pytest_asyncio
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import EventType
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest
from temporalio.common import TypedSearchAttributes
from temporalio.converter import decode_typed_search_attributes
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from tests.workflows.stubs import StubCluster
from tests.workflows.test_renewal_workflow import Handle, start, wait_for
from workflows import search_attributes as sa
from workflows.cluster_lock import ClusterLockWorkflow
from workflows.models import ApprovalInput
from workflows.renewal import CertRenewalWorkflow


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


def window(start_at: datetime, hours: float) -> dict[str, Any]:
    return {"start": start_at.isoformat(), "end": (start_at + timedelta(hours=hours)).isoformat()}


async def attributes(env: WorkflowEnvironment, handle: Handle) -> TypedSearchAttributes:
    """The execution's attributes; the time-skipping server keeps an unset one as ``null``
    (the dev server drops it, and the SDK's describe cannot decode it), so those read as
    absent."""
    desc = await env.client.workflow_service.describe_workflow_execution(
        DescribeWorkflowExecutionRequest(
            namespace=env.client.namespace, execution=WorkflowExecution(workflow_id=handle.id)
        )
    )
    raw = desc.workflow_execution_info.search_attributes
    for name in [n for n, p in raw.indexed_fields.items() if p.data in (b"null", b"", b"[]")]:
        del raw.indexed_fields[name]
    return decode_typed_search_attributes(raw)


async def test_a_gate_says_whom_it_waits_for_and_when_the_first_approval_lapses(
    time_skipping_env: WorkflowEnvironment, worker: Worker, stub: StubCluster, task_queue: str
) -> None:
    stub.approvals = {
        "impact": {"approver_groups": ["voice-cab", "cab"], "required": 2, "expiry_seconds": 3600}
    }
    opens = await time_skipping_env.get_current_time() - timedelta(minutes=5)
    handle = await start(
        time_skipping_env,
        task_queue,
        purposes=["CallManager"],
        windows=[window(opens, 12)],
        requested_by="alice",
    )
    plan = (await wait_for(handle, "approval")).plan
    assert plan is not None
    attrs = await attributes(time_skipping_env, handle)
    assert attrs.get(sa.RENEWAL_REQUESTER) == "alice"
    assert attrs.get(sa.RENEWAL_WAITING_ON) == ["voice-cab", "cab"]
    assert attrs.get(sa.RENEWAL_DEADLINE) is None  # nobody approved yet: nothing lapses

    await handle.execute_update(
        CertRenewalWorkflow.approve,
        ApprovalInput(principal="bob", groups=["cab"], comment="ok", plan_hash=plan.plan_hash),
    )
    status = await handle.query(CertRenewalWorkflow.get_status)
    approved_at = status.approvals[0].at
    attrs = await attributes(time_skipping_env, handle)
    assert attrs.get(sa.RENEWAL_DEADLINE) == approved_at + timedelta(hours=1)

    await handle.execute_update(
        CertRenewalWorkflow.approve,
        ApprovalInput(principal="dana", groups=["cab"], comment="ok", plan_hash=plan.plan_hash),
    )
    final = await handle.result()
    assert final.phase == "done"
    attrs = await attributes(time_skipping_env, handle)
    assert attrs.get(sa.RENEWAL_WAITING_ON) is None
    assert attrs.get(sa.RENEWAL_DEADLINE) is None
    assert final.plan is not None and final.plan.restarts is not None
    total = sum(len(nr.services) for w in final.plan.restarts.waves for nr in w.nodes)
    progress = sa.parse_progress(attrs.get(sa.RENEWAL_PROGRESS))
    assert (progress.restarts_done, progress.restarts_total) == (total, total)
    assert progress.phones_baseline is not None and progress.phones_back is not None


async def test_every_upsert_changes_a_value(
    time_skipping_env: WorkflowEnvironment, worker: Worker, stub: StubCluster, task_queue: str
) -> None:
    opens = await time_skipping_env.get_current_time() - timedelta(minutes=5)
    handle = await start(
        time_skipping_env, task_queue, purposes=["CallManager"], windows=[window(opens, 12)]
    )
    plan = (await wait_for(handle, "approval")).plan
    assert plan is not None
    await handle.execute_update(
        CertRenewalWorkflow.approve,
        ApprovalInput(principal="bob", comment="ok", plan_hash=plan.plan_hash),
    )
    final = await handle.result()
    assert final.phase == "done"
    history = await handle.fetch_history()
    kind = EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES
    seen: dict[str, bytes] = {}
    count = 0
    for event in history.events:
        if event.event_type != kind:
            continue
        count += 1
        fields = event.upsert_workflow_search_attributes_event_attributes.search_attributes
        values = {name: p.SerializeToString() for name, p in fields.indexed_fields.items()}
        # the health gate calls the phase again at every look, the gates re-check the impact
        # approval before each wave: none of that may write an event
        assert any(seen.get(name) != value for name, value in values.items()), values.keys()
        seen.update(values)
    assert count > 10  # phases, waits and counters were written


def test_progress_round_trips_and_reads_for_people() -> None:
    progress = sa.Progress(3, 8, 1980, 2000)
    assert sa.parse_progress(progress.value()) == progress
    assert progress.text() == "restarts 3/8, phones back 1,980/2,000"
    assert sa.parse_progress("restarts=2/4;phones=-/10").phones_back is None
    assert sa.parse_progress("garbage;restarts=x/1") == sa.Progress()
    assert sa.parse_progress(None).text() == ""


async def test_waiting_for_the_window_says_when_it_closes(
    time_skipping_env: WorkflowEnvironment, worker: Worker, stub: StubCluster, task_queue: str
) -> None:
    opens = await time_skipping_env.get_current_time() + timedelta(days=2)
    handle = await start(
        time_skipping_env, task_queue, purposes=["CallManager"], windows=[window(opens, 6)]
    )
    try:
        plan = (await wait_for(handle, "approval")).plan
        assert plan is not None
        await handle.execute_update(
            CertRenewalWorkflow.approve,
            ApprovalInput(principal="bob", comment="ok", plan_hash=plan.plan_hash),
        )
        await wait_for(handle, "window")
        attrs = await attributes(time_skipping_env, handle)
        assert attrs.get(sa.RENEWAL_WAITING_ON) == [sa.WAITING_ON_WINDOW]
        deadline = attrs.get(sa.RENEWAL_DEADLINE)
        assert deadline is not None
        assert abs(deadline - (opens + timedelta(hours=6))) < timedelta(seconds=1)
    finally:
        await handle.terminate("test over")
