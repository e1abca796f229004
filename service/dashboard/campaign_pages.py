"""The campaign pages: ``/campaigns`` (every campaign with its progress) and
``/campaigns/{id}`` (progress, one row per cluster linking to its renewal, and the pause,
resume and abort forms for those the inventory's ``campaigns.operators`` allows)."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from temporalio.service import RPCError

from service.campaigns import campaign_actions, campaign_status, campaigns_policy, may_operate
from service.dashboard.router import NOT_CONNECTED, PageClient, Viewer, _page
from service.errors import ApiError
from workers.campaigns import list_campaigns
from workflows.campaign_models import CampaignStatus, CampaignSummary

__all__ = ["router"]

log = logging.getLogger("ucrenew.service.dashboard")

router = APIRouter()

TEMPORAL_DOWN = "Temporal does not answer; try again shortly."


@router.get("/campaigns", response_class=HTMLResponse, include_in_schema=False)
async def campaigns_page(request: Request, principal: Viewer, client: PageClient) -> HTMLResponse:
    """Every campaign, newest first, with its progress."""
    error = ""
    rows: list[CampaignSummary] = []
    try:
        if client is None:
            error = NOT_CONNECTED
        else:
            rows = await list_campaigns(client)
    except RPCError as err:
        log.error("Temporal: %s", err)
        error = TEMPORAL_DOWN
    return _page(request, "campaigns.html", principal, rows=rows, error=error)


@router.get("/campaigns/{campaign_id}", response_class=HTMLResponse, include_in_schema=False)
async def campaign_page(
    request: Request, campaign_id: str, principal: Viewer, client: PageClient
) -> HTMLResponse:
    """One campaign: counts, pause reason, clusters with their renewals, audit, actions."""
    status: CampaignStatus | None = None
    actions: list[str] = []
    if client is None:
        return _page(request, "campaign.html", principal, s=None, actions=[], error=NOT_CONNECTED)
    try:
        status = await campaign_status(client, campaign_id)
    except ApiError as err:
        code = 404 if err.status == 404 else 503
        message = f"No campaign {campaign_id}." if code == 404 else TEMPORAL_DOWN
        return _page(request, "campaign.html", principal, code, s=None, actions=[], error=message)
    policy_error = ""
    try:
        actions = campaign_actions(status, may_operate(principal, campaigns_policy(request)))
    except ApiError as err:
        policy_error = err.message
    return _page(
        request,
        "campaign.html",
        principal,
        s=status,
        actions=actions,
        error="",
        policy_error=policy_error,
    )
