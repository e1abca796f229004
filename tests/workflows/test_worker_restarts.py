"""Worker restarts in a row: each one costs every activity in flight an attempt.

The chaos bench (bench/bench_chaos.py: 20 renewals, 4 worker SIGKILLs) saw two renewals fail
in discovery with "activity Heartbeat timeout" when three kills fell within one slow
discovery: discovery, which only reads, had three attempts in all.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from tests.time_skipping import time_skipping_server
from tests.workflows.stubs import StubCluster
from tests.workflows.test_renewal_workflow import start, wait_for
from workflows.cluster_lock import ClusterLockWorkflow
from workflows.renewal import CertRenewalWorkflow


@pytest_asyncio.fixture(loop_scope="session")
async def stub() -> StubCluster:
    return StubCluster()


@pytest_asyncio.fixture(loop_scope="session")
async def own_env() -> AsyncIterator[WorkflowEnvironment]:
    """A time-skipping server of the test's own: the shared one stands its clock still while
    any workflow an earlier test left behind waits for a worker, and a one-minute skip that
    does not pass within 30 s fails as a client timeout."""
    async with time_skipping_server() as env:
        yield env


@pytest_asyncio.fixture(loop_scope="session")
async def worker(
    own_env: WorkflowEnvironment, stub: StubCluster, task_queue: str
) -> AsyncIterator[Worker]:
    async with Worker(
        own_env.client,
        task_queue=task_queue,
        workflows=[CertRenewalWorkflow, ClusterLockWorkflow],
        activities=stub.activities(),
    ) as w:
        yield w


async def test_discovery_outlasts_four_workers_dying_in_a_row(
    own_env: WorkflowEnvironment, worker: Worker, stub: StubCluster, task_queue: str
) -> None:
    stub.discover_dies = 4
    handle = await start(own_env, task_queue)
    # The retries' back-off (2, 4, 8, 16 s) passes on the test server's clock.
    await own_env.sleep(60)
    # Past discovery and the change itself, at the SSO confirmation after the restarts.
    status = await wait_for(handle, "sso-confirm")
    assert stub.names().count("discover_cluster") == 5
    assert status.waves_done > 0 and not status.error
