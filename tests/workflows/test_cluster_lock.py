"""One change per cluster, by the cluster's identity, on the time-skipping server.

The cluster lock is a child workflow whose id is derived from the identity discovery reads
(workflows/cluster_lock.py); these tests drive the renewal with stub activities and the real
``cluster_lock_holder`` activity (it reads Temporal, which is not the far end). The lab
versions (twenty concurrent starts, a second inventory name) are in
tests/e2e/test_cluster_lock_e2e.py.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from temporalio.client import WorkflowExecutionStatus, WorkflowFailureError, WorkflowHandle
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.cluster_models import ClusterIdentity
from activities.registry import RegistryActivities
from tests.workflows.stubs import FQDNS, STARTED_RENEWALS, WRITES, StubCluster
from workflows.cluster_lock import ClusterLockWorkflow, lock_id
from workflows.models import ApprovalInput, RenewalInput, RenewalStatus
from workflows.renewal import CertRenewalWorkflow

Handle = WorkflowHandle[CertRenewalWorkflow, RenewalStatus]


@pytest_asyncio.fixture(loop_scope="session")
async def stub() -> StubCluster:
    return StubCluster()


@pytest_asyncio.fixture(loop_scope="session")
async def worker(
    time_skipping_env: WorkflowEnvironment, stub: StubCluster, task_queue: str
) -> AsyncIterator[Worker]:
    registry = RegistryActivities(time_skipping_env.client)
    async with Worker(
        time_skipping_env.client,
        task_queue=task_queue,
        workflows=[CertRenewalWorkflow, ClusterLockWorkflow],
        activities=[
            *(a for a in stub.activities() if a.__name__ != "cluster_lock_holder"),
            registry.cluster_lock_holder,
        ],
    ) as w:
        yield w


async def start(env: WorkflowEnvironment, task_queue: str, cluster: str = "lab") -> Handle:
    """A renewal that stops at its plan approval (after preflight: it holds the lock)."""
    inp = RenewalInput.model_validate(
        {
            "change_id": f"CHG-{uuid.uuid4().hex[:8]}",
            "cluster": cluster,
            "requested_by": "alice",
            "require_plan_approval": True,
        }
    )
    handle = await env.client.start_workflow(
        CertRenewalWorkflow.run, inp, id=inp.change_id, task_queue=task_queue
    )
    STARTED_RENEWALS.append(handle)
    return handle


async def awaiting_plan_approval(handle: Handle, timeout: float = 20.0) -> RenewalStatus:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        status = await handle.query(CertRenewalWorkflow.get_status)
        if status.awaiting == "approval" and status.gate == "plan":
            return status
        if status.phase in ("done", "failed", "cancelled") or loop.time() > deadline:
            raise AssertionError(f"never held the cluster: {status.phase} {status.error}")
        await asyncio.sleep(0.05)


async def refusal(handle: Handle) -> ApplicationError:
    with pytest.raises(WorkflowFailureError) as failed:
        await handle.result()
    cause = failed.value.cause
    assert isinstance(cause, ApplicationError)
    return cause


async def end(*handles: Handle) -> None:
    for handle in handles:
        desc = await handle.describe()
        if desc.status == WorkflowExecutionStatus.RUNNING:
            await handle.terminate("test over")


def the_lock(stub: StubCluster) -> str:
    assert stub.publisher_uuid is not None
    return lock_id(ClusterIdentity(publisher=FQDNS[0], publisher_uuid=stub.publisher_uuid))


async def test_a_second_inventory_name_of_a_held_cluster_is_refused_naming_the_holder(
    time_skipping_env: WorkflowEnvironment, worker: Worker, stub: StubCluster, task_queue: str
) -> None:
    """Both names discover the same identity (the stub's publisher): the second change is
    refused before any write, and says which change holds the cluster under which name."""
    holder = await start(time_skipping_env, task_queue, cluster="lab")
    await awaiting_plan_approval(holder)
    other = await start(time_skipping_env, task_queue, cluster="lab-by-address")
    try:
        refused = await refusal(other)
        assert refused.type == "ClusterBusy"
        assert holder.id in refused.message
        assert "cluster lab " in refused.message  # the holder's inventory name
        assert "lab-by-address" in refused.message
        status = await other.query(CertRenewalWorkflow.get_status)
        assert status.phase == "failed"
        assert [p.code for p in status.problems] == ["cluster-busy"]
        assert not status.wrote_to_cluster()
        assert not WRITES & set(stub.names())
        # A refused change assesses nothing: the cluster is the holder's.
        assert [c for c in stub.calls if c[0] == "assess_cluster"] == []
        assert (await holder.query(CertRenewalWorkflow.get_status)).awaiting == "approval"
    finally:
        await end(holder, other)


async def test_the_lock_is_released_when_its_holder_ends_so_the_next_change_runs(
    time_skipping_env: WorkflowEnvironment, worker: Worker, stub: StubCluster, task_queue: str
) -> None:
    holder = await start(time_skipping_env, task_queue)
    nxt: Handle | None = None
    try:
        status = await awaiting_plan_approval(holder)
        lock = time_skipping_env.client.get_workflow_handle(the_lock(stub))
        assert (await lock.describe()).status == WorkflowExecutionStatus.RUNNING
        assert status.plan is not None
        await holder.execute_update(
            CertRenewalWorkflow.reject,
            ApprovalInput(principal="bob", comment="not now", plan_hash=status.plan.plan_hash),
        )
        assert (await refusal(holder)).type != "ClusterBusy"
        # Released by the holder before it closed, not left to the close policy.
        assert (await lock.describe()).status == WorkflowExecutionStatus.TERMINATED
        last = (await lock.fetch_history()).events[-1]
        ended = last.workflow_execution_terminated_event_attributes
        assert ended.reason == f"released by {holder.id}"
        nxt = await start(time_skipping_env, task_queue)
        await awaiting_plan_approval(nxt)
    finally:
        await end(holder, *([nxt] if nxt else []))


async def test_an_unknown_identity_blocks_every_write(
    time_skipping_env: WorkflowEnvironment, worker: Worker, stub: StubCluster, task_queue: str
) -> None:
    """No identity, no lock, no write: the change cannot make sure it is alone."""
    stub.publisher_uuid = None
    handle = await start(time_skipping_env, task_queue)
    failed = await refusal(handle)
    assert failed.type == "PreflightFailed"
    status = await handle.query(CertRenewalWorkflow.get_status)
    assert "cluster-identity-unknown" in [p.code for p in status.problems]
    assert not WRITES & set(stub.names())


async def test_renewals_listed_as_running_do_not_stop_the_lock_holder(
    time_skipping_env: WorkflowEnvironment, worker: Worker, stub: StubCluster, task_queue: str
) -> None:
    """The check-then-act of old: a renewal that merely started (and will be refused by the
    lock) made every other one refuse itself; under the lock it is no reason to stop."""
    stub.other_renewals = ["CHG-JUST-STARTED"]
    handle = await start(time_skipping_env, task_queue)
    try:
        await awaiting_plan_approval(handle)
    finally:
        await end(handle)
