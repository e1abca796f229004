"""A tomcat renewal under ``change_policy.restarts: capped`` runs each wave's restarts at once,
after the publisher's, on the time-skipping server with stub activities."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from tests.workflows.stubs import FQDNS, StubCluster
from tests.workflows.test_renewal_workflow import confirm_sso, start
from workflows.cluster_lock import ClusterLockWorkflow
from workflows.renewal import CertRenewalWorkflow

PUBLISHER, *OTHERS = FQDNS


@pytest_asyncio.fixture(loop_scope="session")
async def stub() -> StubCluster:
    return StubCluster(tomcat_parallel=3, restart_barrier=set(OTHERS))


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


async def test_capped_policy_restarts_the_subscribers_together_after_the_publisher(
    time_skipping_env: WorkflowEnvironment, worker: Worker, stub: StubCluster, task_queue: str
) -> None:
    handle = await start(time_skipping_env, task_queue)
    await confirm_sso(handle, stub)
    status = await handle.result()
    assert status.phase == "done"
    assert status.plan is not None and status.plan.restarts is not None
    assert [[nr.node for nr in w.nodes] for w in status.plan.restarts.waves] == [
        [PUBLISHER],
        OTHERS,
    ]
    # The publisher alone, done before anything else starts; then the three at once.
    assert stub.restart_events[:2] == [("start", PUBLISHER), ("end", PUBLISHER)]
    assert {n for _, n in stub.restart_events[2:5]} == set(OTHERS)
    assert all(e == "start" for e, _ in stub.restart_events[2:5])
    assert stub.max_in_flight == 3
    assert status.waves_done == 2
    assert all(n.verified for n in status.nodes)


async def test_restart_parallel_one_overrides_the_policy(
    time_skipping_env: WorkflowEnvironment, worker: Worker, stub: StubCluster, task_queue: str
) -> None:
    stub.restart_barrier = set()
    handle = await start(time_skipping_env, task_queue, options={"restart_parallel": 1})
    await confirm_sso(handle, stub)
    status = await handle.result()
    assert status.phase == "done"
    assert [c[1].node for c in stub.calls if c[0] == "restart_service"] == FQDNS
    assert stub.max_in_flight == 1
    assert status.waves_done == 4
