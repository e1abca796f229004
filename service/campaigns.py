"""The campaign API (``/api/v1/campaigns``): list, read, start, pause, resume and abort
campaigns as the signed-in person. Who may act is the inventory's ``campaigns.operators``
(empty: anyone signed in); the principal comes from the sign-in, never the request body."""

from __future__ import annotations

import logging
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from activities.catalog import Purpose
from activities.clients.inventory import CampaignsEntry, InventoryError, load_inventory
from service.deps import api_principal, service_settings, temporal_client
from service.errors import ApiError
from service.principal import Principal
from workers.campaigns import (
    CampaignFailed,
    campaign_handle,
    list_campaigns,
    resolved_status,
    start_campaign,
)
from workflows.campaign import CampaignWorkflow
from workflows.campaign_models import (
    TERMINAL_CAMPAIGN_PHASES,
    CampaignAction,
    CampaignInput,
    CampaignSelection,
    CampaignStatus,
    CampaignSummary,
)
from workflows.models import CaKind, RenewalOptions

__all__ = [
    "CampaignActionBody",
    "CampaignList",
    "CampaignStartBody",
    "CampaignView",
    "campaign_actions",
    "campaigns_policy",
    "may_operate",
    "router",
]

log = logging.getLogger("ucrenew.service.campaigns")

router = APIRouter(prefix="/api/v1")

Signed = Annotated[Principal, Depends(api_principal)]
TemporalClient = Annotated[Client, Depends(temporal_client)]
CampaignVerb = Literal["pause", "resume", "abort"]


class CampaignStartBody(BaseModel):
    """Start a campaign (``ucrenew campaign start``); the requester is the signed-in person."""

    campaign_id: str = Field(min_length=1, max_length=120, pattern=r"^[A-Za-z0-9._:-]+$")
    purposes: list[Purpose] = Field(min_length=1)
    selection: CampaignSelection
    ca: CaKind = "local"
    ca_name: str | None = None
    ca_template: str | None = None
    limit: int = Field(default=1, ge=1, le=500)
    stop_after_failures: int = Field(default=1, ge=0)
    options: RenewalOptions = Field(default_factory=RenewalOptions)
    busy_retry_seconds: int = Field(
        default=900, ge=1, description="a busy cluster is tried again after this"
    )
    busy_wait_seconds: int = Field(
        default=86400,
        ge=0,
        description="busy clusters are waited for this long from the start (0: skipped at once)",
    )


class CampaignActionBody(BaseModel):
    """Why the campaign is paused, resumed or aborted."""

    reason: str = Field(min_length=1)
    cancel_running: bool = Field(default=False, description="abort only")


class CampaignView(BaseModel):
    """A campaign's status with what the signed-in person may do on it now."""

    status: CampaignStatus
    allowed_actions: list[str]
    url: str


class CampaignList(BaseModel):
    """The latest campaigns, newest first."""

    campaigns: list[CampaignSummary]
    may_start: bool


def campaigns_policy(request: Request) -> CampaignsEntry:
    """The inventory's ``campaigns:`` block.

    Raises:
        ApiError: 503 when the inventory cannot be read.
    """
    from workers.wiring import inventory_path

    path = inventory_path(service_settings(request).ucrenew)
    try:
        return load_inventory(path).campaigns
    except (InventoryError, OSError) as err:
        log.error("inventory %s: %s", path, err)
        raise ApiError(
            503, "inventory", "the service cannot read the inventory; see its log"
        ) from None


def may_operate(principal: Principal, policy: CampaignsEntry) -> bool:
    """Whether the person may start, pause, resume and abort campaigns."""
    wanted = {g.strip().casefold() for g in policy.operators}
    return not wanted or any(g.strip().casefold() in wanted for g in principal.groups)


def campaign_actions(status: CampaignStatus, allowed: bool) -> list[str]:
    """The actions the campaign takes now, for someone who may operate campaigns."""
    if not allowed or status.phase in TERMINAL_CAMPAIGN_PHASES:
        return []
    return ["resume", "abort"] if status.phase == "paused" else ["pause", "abort"]


def _require(principal: Principal, policy: CampaignsEntry, verb: str) -> None:
    if not may_operate(principal, policy):
        raise ApiError(
            403,
            "not-permitted",
            f"{principal.name} may not {verb} campaigns: the inventory reserves it to "
            f"{', '.join(policy.operators)} (campaigns.operators)",
        )


def _unavailable(err: RPCError) -> ApiError:
    log.error("Temporal: %s", err)
    return ApiError(503, "temporal-unavailable", "Temporal does not answer; try again shortly")


def _url(request: Request, campaign_id: str) -> str:
    from urllib.parse import quote

    return f"{service_settings(request).base_url}/campaigns/{quote(campaign_id, safe='')}"


async def campaign_status(client: Client, campaign_id: str) -> CampaignStatus:
    """The campaign's status query.

    Raises:
        ApiError: 404 for an unknown campaign, 503 when Temporal does not answer.
    """
    try:
        return await campaign_handle(client, campaign_id).query(CampaignWorkflow.get_status)
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            raise ApiError(404, "not-found", f"no campaign {campaign_id}") from None
        raise _unavailable(err) from None


@router.get("/campaigns")
async def get_campaigns(
    request: Request,
    principal: Signed,
    client: TemporalClient,
    running: Annotated[bool, Query(description="running campaigns only")] = False,
) -> CampaignList:
    """The latest campaigns with their progress."""
    try:
        rows = await list_campaigns(client, running_only=running)
    except RPCError as err:
        raise _unavailable(err) from None
    return CampaignList(campaigns=rows, may_start=may_operate(principal, campaigns_policy(request)))


@router.get("/campaigns/{campaign_id}")
async def get_campaign(
    request: Request, campaign_id: str, principal: Signed, client: TemporalClient
) -> CampaignView:
    """A campaign's progress per cluster, counts, failures, pause reason and audit."""
    status = await campaign_status(client, campaign_id)
    allowed = may_operate(principal, campaigns_policy(request))
    return CampaignView(
        status=status,
        allowed_actions=campaign_actions(status, allowed),
        url=_url(request, campaign_id),
    )


@router.post("/campaigns", status_code=201)
async def post_campaign(
    request: Request, body: CampaignStartBody, principal: Signed, client: TemporalClient
) -> CampaignView:
    """Start a campaign as the signed-in person."""
    _require(principal, campaigns_policy(request), "start")
    inp = CampaignInput(
        campaign_id=body.campaign_id,
        purposes=body.purposes,
        selection=body.selection,
        ca=body.ca,
        ca_name=body.ca_name,
        ca_template=body.ca_template,
        requested_by=principal.name,
        limit=body.limit,
        stop_after_failures=body.stop_after_failures,
        options=body.options,
        busy_retry_seconds=body.busy_retry_seconds,
        busy_wait_seconds=body.busy_wait_seconds,
        base_url=service_settings(request).base_url,
    )
    settings = service_settings(request)
    try:
        handle = await start_campaign(client, inp, task_queue=settings.ucrenew.task_queue)
    except WorkflowAlreadyStartedError:
        raise ApiError(
            409, "campaign-id-taken", f"campaign id {body.campaign_id} is already in use"
        ) from None
    except RPCError as err:
        raise _unavailable(err) from None
    log.info("campaign %s: started by %s", body.campaign_id, principal.name)
    try:
        status = await resolved_status(handle)
    except CampaignFailed as err:
        raise ApiError(422, "campaign-failed", f"campaign {body.campaign_id}: {err}") from None
    except RPCError as err:
        raise _unavailable(err) from None
    return CampaignView(
        status=status,
        allowed_actions=campaign_actions(status, True),
        url=_url(request, body.campaign_id),
    )


@router.post("/campaigns/{campaign_id}/{verb}")
async def act_on_campaign(
    request: Request,
    campaign_id: str,
    verb: CampaignVerb,
    body: CampaignActionBody,
    principal: Signed,
    client: TemporalClient,
) -> CampaignView:
    """Pause, resume or abort the campaign (``cancel_running`` with abort cancels the
    renewals running now too); who and why go into its audit."""
    policy = campaigns_policy(request)
    _require(principal, policy, verb)
    handle = campaign_handle(client, campaign_id)
    try:
        desc = await handle.describe()
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            raise ApiError(404, "not-found", f"no campaign {campaign_id}") from None
        raise _unavailable(err) from None
    if desc.status != WorkflowExecutionStatus.RUNNING:
        state = desc.status.name.lower() if desc.status else "closed"
        raise ApiError(409, "campaign-finished", f"campaign {campaign_id} has ended ({state})")
    action = CampaignAction(
        principal=principal.name,
        reason=body.reason,
        cancel_running=body.cancel_running and verb == "abort",
    )
    update = {
        "pause": CampaignWorkflow.pause,
        "resume": CampaignWorkflow.resume,
        "abort": CampaignWorkflow.abort,
    }[verb]
    try:
        status = await handle.execute_update(update, action)
    except WorkflowUpdateFailedError as err:
        cause = err.cause
        if isinstance(cause, ApplicationError):
            code = "campaign-finished" if cause.type == "CampaignFinished" else "refused"
            raise ApiError(409, code, cause.message) from None
        raise ApiError(409, "refused", str(cause or err)) from None
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            raise ApiError(409, "campaign-finished", f"campaign {campaign_id} has ended") from None
        raise _unavailable(err) from None
    log.info("campaign %s: %s by %s", campaign_id, verb, principal.name)
    return CampaignView(
        status=status,
        allowed_actions=campaign_actions(status, True),
        url=_url(request, campaign_id),
    )
