"""A campaign against the real stack (dev server, lab, real worker): a cluster with a
running renewal is skipped by a campaign that does not wait (``busy_wait_seconds=0``), and
waited for by one that does, which renews it through a real CertRenewalWorkflow child with
the id ``<campaign>-<cluster>`` once that renewal has ended."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from typing import Any

import pytest
from temporalio.client import WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode

from tests.e2e.conftest import FAST_OPTIONS, Stack
from tests.e2e.conftest import lab_dir as lab_dir  # the stack's fixtures, shared
from tests.e2e.conftest import stack as stack
from workers.campaigns import start_campaign
from workflows.campaign import CampaignWorkflow
from workflows.campaign_models import CampaignInput
from workflows.renewal import CertRenewalWorkflow

pytestmark = pytest.mark.e2e


async def started(handle: WorkflowHandle[Any, Any], timeout: float = 60.0) -> None:
    """Wait until the campaign has started the workflow ``handle`` names."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        try:
            await handle.describe()
            return
        except RPCError as err:
            if err.status != RPCStatusCode.NOT_FOUND or loop.time() > deadline:
                raise
        await asyncio.sleep(0.1)


def campaign_of(stack: Stack) -> CampaignInput:
    return CampaignInput(
        campaign_id=f"CMP-{uuid.uuid4().hex[:8]}",
        purposes=["tomcat"],
        selection={"names": [stack.lab.cluster_entry.name]},
        requested_by="e2e",
        options=FAST_OPTIONS,
    )


async def end_all(*handles: WorkflowHandle[Any, Any]) -> None:
    """Terminate whatever the test started and left running (the dev server is shared)."""
    for handle in handles:
        with contextlib.suppress(RPCError):  # never started
            if (await handle.describe()).close_time is None:
                await handle.terminate("test ended early")


async def test_campaign_waits_for_a_busy_cluster_then_renews_it(stack: Stack) -> None:
    cluster = stack.lab.cluster_entry.name
    first = campaign_of(stack).model_copy(update={"busy_wait_seconds": 0})
    second = campaign_of(stack).model_copy(update={"busy_retry_seconds": 2})
    skipping = stack.client.get_workflow_handle_for(CampaignWorkflow.run, first.campaign_id)
    handle = stack.client.get_workflow_handle_for(CampaignWorkflow.run, second.campaign_id)
    child = stack.client.get_workflow_handle_for(
        CertRenewalWorkflow.run, f"{second.campaign_id}-{cluster}"
    )
    async with stack.worker():
        running = await stack.start()
        try:
            await stack.wait_for(running, "sso-confirm")
            await start_campaign(stack.client, first, task_queue=stack.task_queue)
            skipped = await skipping.result()
            [row] = skipped.clusters
            assert row.state == "skipped" and row.cluster == cluster
            assert f"{running.id} is running on {cluster}" in row.error

            await start_campaign(stack.client, second, task_queue=stack.task_queue)
            waiting = await _busy_twice(handle)
            [row] = waiting.clusters
            assert row.state == "pending" and f"{running.id} is running on {cluster}" in row.waiting
            assert waiting.counts.busy == 1 and waiting.phase == "running"
            assert len(stack.lab.lab.journal.entries("csr.generated")) == 1
            await stack.reenable_sso(running)
            assert (await running.result()).phase == "done"

            await started(child)
            await stack.wait_for(child, "sso-confirm")
            progress = await handle.query(CampaignWorkflow.get_status)
            assert progress.counts.running == 1 and progress.phase == "running"
            await stack.reenable_sso(child)
            result = await handle.result()
        finally:
            await end_all(running, skipping, handle, child)
    assert result.phase == "done" and result.counts.done == 1
    assert result.clusters[0].change_id == child.id and result.clusters[0].busy_tries >= 2
    assert (await child.result()).phase == "done"
    assert len(stack.lab.lab.journal.entries("csr.generated")) == 2


async def _busy_twice(handle: WorkflowHandle[Any, Any], timeout: float = 60.0) -> Any:
    """The campaign's status once it found its cluster busy twice (it retried)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        with contextlib.suppress(RPCError):  # not started yet
            status = await handle.query(CampaignWorkflow.get_status)
            if status.clusters and status.clusters[0].busy_tries >= 2:
                return status
        if loop.time() > deadline:
            raise AssertionError("the campaign never retried its busy cluster")
        await asyncio.sleep(0.2)
