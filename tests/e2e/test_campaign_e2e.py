"""A campaign against the real stack (dev server, lab, real worker): a cluster with a
running renewal is skipped, then a second campaign renews it through a real
CertRenewalWorkflow child with the id ``<campaign>-<cluster>``."""

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


async def test_campaign_skips_a_busy_cluster_then_renews_it(stack: Stack) -> None:
    cluster = stack.lab.cluster_entry.name
    first, second = campaign_of(stack), campaign_of(stack)
    busy = stack.client.get_workflow_handle_for(CampaignWorkflow.run, first.campaign_id)
    handle = stack.client.get_workflow_handle_for(CampaignWorkflow.run, second.campaign_id)
    child = stack.client.get_workflow_handle_for(
        CertRenewalWorkflow.run, f"{second.campaign_id}-{cluster}"
    )
    async with stack.worker():
        running = await stack.start()
        try:
            await stack.wait_for(running, "sso-confirm")
            await start_campaign(stack.client, first, task_queue=stack.task_queue)
            skipped = await busy.result()
            [row] = skipped.clusters
            assert row.state == "skipped" and row.cluster == cluster
            assert f"{running.id} is running on {cluster}" in row.error
            assert len(stack.lab.lab.journal.entries("csr.generated")) == 1
            await stack.reenable_sso(running)
            assert (await running.result()).phase == "done"

            await start_campaign(stack.client, second, task_queue=stack.task_queue)
            await started(child)
            await stack.wait_for(child, "sso-confirm")
            progress = await handle.query(CampaignWorkflow.get_status)
            assert progress.counts.running == 1 and progress.phase == "running"
            await stack.reenable_sso(child)
            result = await handle.result()
        finally:
            await end_all(running, busy, handle, child)
    assert result.phase == "done" and result.counts.done == 1
    assert result.clusters[0].change_id == child.id
    assert (await child.result()).phase == "done"
    assert len(stack.lab.lab.journal.entries("csr.generated")) == 2
