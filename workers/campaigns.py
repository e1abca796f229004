"""Starting, listing and reading campaigns: shared by ``ucrenew campaign`` (straight to
Temporal) and the service's campaign API, so both start the same workflow the same way."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle
from temporalio.common import WorkflowIDReusePolicy
from temporalio.service import RPCError

from workflows.campaign import CampaignWorkflow
from workflows.campaign_models import CampaignInput, CampaignStatus, CampaignSummary

__all__ = [
    "CAMPAIGNS_QUERY",
    "CampaignFailed",
    "campaign_handle",
    "list_campaigns",
    "resolved_status",
    "start_campaign",
]


class CampaignFailed(Exception):
    """The campaign failed before it ran (e.g. the inventory could not be read)."""


#: The visibility query of every campaign.
CAMPAIGNS_QUERY = "WorkflowType = 'CampaignWorkflow'"


async def start_campaign(
    client: Client, inp: CampaignInput, *, task_queue: str
) -> WorkflowHandle[CampaignWorkflow, CampaignStatus]:
    """Start ``inp`` as workflow ``inp.campaign_id``.

    Raises:
        temporalio.exceptions.WorkflowAlreadyStartedError: The campaign id is in use (a
            campaign id is never reused: its renewals' ids derive from it).
    """
    return await client.start_workflow(
        CampaignWorkflow.run,
        inp,
        id=inp.campaign_id,
        task_queue=task_queue,
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        static_summary=f"campaign {inp.campaign_id}: {', '.join(inp.purposes)} on "
        f"{inp.selection.describe()}",
    )


def campaign_handle(
    client: Client, campaign_id: str
) -> WorkflowHandle[CampaignWorkflow, CampaignStatus]:
    """The handle of a campaign's latest run."""
    return client.get_workflow_handle_for(CampaignWorkflow.run, campaign_id)


async def resolved_status(
    handle: WorkflowHandle[CampaignWorkflow, CampaignStatus], wait_seconds: float = 15.0
) -> CampaignStatus:
    """The campaign's status once it has resolved its clusters (or after ``wait_seconds``,
    still ``resolving``).

    Raises:
        CampaignFailed: The campaign failed first, with its reason.
    """
    from temporalio.client import WorkflowFailureError

    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_seconds
    while True:
        desc = await handle.describe()
        if desc.status == WorkflowExecutionStatus.FAILED:
            try:
                await handle.result()
            except WorkflowFailureError as err:
                raise CampaignFailed(str(err.cause or err)) from None
        status = await handle.query(CampaignWorkflow.get_status)
        if status.phase != "resolving" or loop.time() > deadline:
            return status
        await asyncio.sleep(0.2)


async def list_campaigns(
    client: Client, *, running_only: bool = False, limit: int = 50, query_seconds: float = 5.0
) -> list[CampaignSummary]:
    """The latest campaigns, newest first, each with its status when its worker answers
    within ``query_seconds`` (a campaign whose status cannot be read is listed without)."""
    query = CAMPAIGNS_QUERY + (" AND ExecutionStatus = 'Running'" if running_only else "")
    rows: list[CampaignSummary] = []
    seen: set[str] = set()
    async for wf in client.list_workflows(query, limit=limit * 4):
        if wf.id in seen:  # continue-as-new: one row per campaign, its latest run first
            continue
        seen.add(wf.id)
        rows.append(
            CampaignSummary(
                campaign_id=wf.id,
                execution=(wf.status or WorkflowExecutionStatus.RUNNING).name.lower(),
                started_at=wf.start_time,
                closed_at=wf.close_time,
            )
        )
        if len(rows) >= limit:
            break

    async def status(row: CampaignSummary) -> None:
        try:
            row.status = await campaign_handle(client, row.campaign_id).query(
                CampaignWorkflow.get_status, rpc_timeout=timedelta(seconds=query_seconds)
            )
        except (TimeoutError, RPCError):
            row.status = None

    await asyncio.gather(*(status(r) for r in rows))
    return rows
