"""The dashboard's pages (``/``, ``/renewals/{change_id}``, ``/fleet``), its read API
(``GET /api/v1/renewals``, ``GET /api/v1/fleet``) and live updates (``GET /api/v1/events``).

Pages are rendered on the server and work without JavaScript; ``dashboard.js`` adds the live
updates and takes the actions through the action API with the session's CSRF token.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, get_args

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, StreamingResponse
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, ValidationError
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from service.api import change_policy
from service.dashboard.settings import DashboardSettings
from service.deps import api_principal, csrf_token, page_principal, service_settings
from service.deps import temporal_client as _temporal_client
from service.errors import ApiError
from service.policy import allowed_actions, approval_policy
from service.principal import Principal
from service.readmodel import (
    FeedUpdate,
    RenewalDetail,
    RenewalRow,
    RowFeed,
    RowFilter,
    filtered,
    list_rows,
    renewal_detail,
    unique,
)
from workflows.models import TERMINAL_PHASES, AuditEvent, OperatorDecision, Phase, RenewalStatus

__all__ = ["RenewalList", "router"]

log = logging.getLogger("ucrenew.service.dashboard")

router = APIRouter()

_HERE = Path(__file__).parent
_STATIC = {
    "dashboard.css": ("text/css", _HERE / "static" / "dashboard.css"),
    "dashboard.js": ("text/javascript", _HERE / "static" / "dashboard.js"),
}
PHASES: tuple[str, ...] = get_args(Phase)
DECISIONS: tuple[str, ...] = get_args(OperatorDecision.model_fields["decision"].annotation)


def _templates() -> Jinja2Templates:
    templates = Jinja2Templates(directory=str(_HERE / "templates"))
    env = templates.env
    env.globals["csrf_token"] = csrf_token
    env.filters["when"] = when
    env.filters["ago"] = ago
    env.filters["until"] = until
    env.filters["iso"] = lambda dt: dt.isoformat() if dt else ""
    return templates


def when(dt: datetime | None) -> str:
    """A time said in UTC to the minute (``—`` for none)."""
    return dt.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if dt else "—"


def _span(seconds: float) -> str:
    minutes = int(seconds // 60)
    if minutes < 1:
        return f"{int(seconds)} s"
    if minutes < 120:
        return f"{minutes} min"
    hours = minutes // 60
    if hours < 48:
        return f"{hours} h {minutes % 60} min"
    return f"{hours // 24} d {hours % 24} h"


def ago(dt: datetime | None, now: datetime | None = None) -> str:
    """How long ago ``dt`` was, e.g. ``3 h 12 min``."""
    if dt is None:
        return "—"
    return _span(max(0.0, ((now or datetime.now(UTC)) - dt).total_seconds()))


def until(dt: datetime | None, now: datetime | None = None) -> str:
    """How long until ``dt``, e.g. ``in 40 min``, or ``12 min ago`` once it passed."""
    if dt is None:
        return "—"
    seconds = (dt - (now or datetime.now(UTC))).total_seconds()
    return f"in {_span(seconds)}" if seconds >= 0 else f"{_span(-seconds)} ago"


templates = _templates()

Signed = Annotated[Principal, Depends(api_principal)]
Viewer = Annotated[Principal, Depends(page_principal)]


def _dashboard_settings(request: Request) -> DashboardSettings:
    settings: DashboardSettings | None = getattr(request.app.state, "dashboard_settings", None)
    if settings is None:
        try:
            settings = DashboardSettings()
        except ValidationError as err:
            problems = "; ".join(
                f"UCRENEW_DASHBOARD_{'_'.join(map(str, e['loc'])).upper()}: {e['msg']}"
                for e in err.errors()
            )
            log.error("dashboard settings: %s", problems)
            raise ApiError(
                503, "dashboard-settings", f"the dashboard is misconfigured: {problems}"
            ) from None
        request.app.state.dashboard_settings = settings
    return settings


def _feed(request: Request, client: Client) -> RowFeed:
    """The app's one feed (made on first use), shared by every open page."""
    feed: RowFeed | None = getattr(request.app.state, "dashboard_feed", None)
    if feed is None:
        settings = _dashboard_settings(request)
        feed = RowFeed(
            client,
            interval=settings.refresh_seconds,
            limit=settings.list_limit,
            base_url=service_settings(request).base_url,
        )
        request.app.state.dashboard_feed = feed
    return feed


def _client(request: Request) -> Client:
    return _temporal_client(request)


TemporalClient = Annotated[Client, Depends(_client)]


def _page_client(request: Request) -> Client | None:
    """The Temporal client, or None while the service is not connected yet (the pages say
    so instead of answering with the API's JSON error)."""
    client: Client | None = getattr(request.app.state, "client", None)
    return client


PageClient = Annotated[Client | None, Depends(_page_client)]
NOT_CONNECTED = "The service is not connected to Temporal yet; reload in a moment."


def _unavailable(err: RPCError) -> ApiError:
    log.error("Temporal: %s", err)
    return ApiError(503, "temporal-unavailable", "Temporal does not answer; try again shortly")


def _filter(
    cluster: str = "", phase: str = "", waiting_on: str = "", requester: str = ""
) -> RowFilter:
    return RowFilter(
        cluster=cluster.strip(),
        phase=phase.strip(),
        waiting_on=waiting_on.strip(),
        requester=requester.strip(),
    )


Filter = Annotated[RowFilter, Depends(_filter)]


class RenewalList(BaseModel):
    """``GET /api/v1/renewals``: the in-flight renewals passing the filters."""

    rows: list[RenewalRow]
    count: int
    truncated: bool
    query: RowFilter


# -- JSON ------------------------------------------------------------------------------------


@router.get("/api/v1/renewals")
async def get_renewals(
    request: Request, principal: Signed, client: TemporalClient, flt: Filter
) -> RenewalList:
    """The renewals in flight, newest first, narrowed by ``cluster``, ``phase``,
    ``waiting_on`` and ``requester`` (one visibility query, paged). The whole list is the
    live feed's, at most one refresh interval old, so viewers share one query."""
    settings = _dashboard_settings(request)
    try:
        if flt == RowFilter():
            rows, more = await _feed(request, client).current(settings.refresh_seconds)
        else:
            rows, more = await list_rows(
                client,
                flt,
                limit=settings.list_limit,
                page_size=settings.page_size,
                base_url=service_settings(request).base_url,
            )
    except RPCError as err:
        raise _unavailable(err) from None
    return RenewalList(rows=rows, count=len(rows), truncated=more, query=flt)


@router.get("/api/v1/fleet")
async def get_fleet(principal: Signed, client: TemporalClient) -> Any:
    """Every cluster's certificates by purpose, days to expiry and drift (the latest scan)."""
    from service.fleet import fleet_view

    try:
        view = await fleet_view(client, datetime.now(UTC))
    except RPCError as err:
        raise _unavailable(err) from None
    return view


def _sse(event: str, data: Any) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


@router.get("/api/v1/events")
async def events(
    request: Request,
    principal: Signed,
    client: TemporalClient,
    flt: Filter,
    change_id: Annotated[str, Query(description="follow one change only")] = "",
) -> StreamingResponse:
    """Server-sent events: ``rows`` with the renewals that changed (``changed``), those no
    longer in flight (``removed``) and, first, the whole list (``snapshot``), all narrowed by
    the list's filters. The service polls visibility once per interval for all listeners."""
    feed = _feed(request, client)
    keepalive = _dashboard_settings(request).keepalive_seconds
    flt = flt.model_copy(update={"change_id": change_id.strip()})

    async def stream() -> AsyncIterator[bytes]:
        known: set[str] = set()
        yield f"retry: {int(feed.interval * 1000) + 1000}\n\n".encode()
        async with feed.subscribe() as queue:
            while True:
                try:
                    update: FeedUpdate = await asyncio.wait_for(queue.get(), keepalive)
                except TimeoutError:
                    if await request.is_disconnected():
                        return
                    yield b": keepalive\n\n"
                    continue
                mine = filtered(update, flt, known)
                if mine is not None:
                    yield _sse("rows", mine.model_dump(mode="json"))

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


# -- pages -----------------------------------------------------------------------------------


@router.get("/static/dashboard/{name}", include_in_schema=False)
async def static(name: str) -> FileResponse:
    """The dashboard's stylesheet and script (shipped in the package; nothing from a CDN)."""
    if name not in _STATIC:
        raise ApiError(404, "not-found", f"no static file {name}")
    media_type, path = _STATIC[name]
    return FileResponse(path, media_type=media_type, headers={"Cache-Control": "max-age=300"})


def _page(
    request: Request, name: str, principal: Principal, status_code: int = 200, **context: Any
) -> HTMLResponse:
    return templates.TemplateResponse(
        request,
        name,
        {"principal": principal, "now": datetime.now(UTC), "phases": PHASES, **context},
        status_code=status_code,
    )


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
async def in_flight(
    request: Request, principal: Viewer, client: PageClient, flt: Filter
) -> HTMLResponse:
    """The renewals in flight, with filters; rows update in place while the page is open."""
    settings = _dashboard_settings(request)
    error = ""
    rows: list[RenewalRow] = []
    more = False
    try:
        if client is None:
            error = NOT_CONNECTED
        else:
            rows, more = await _feed(request, client).current(settings.refresh_seconds)
    except RPCError as err:
        log.error("Temporal: %s", err)
        error = "Temporal does not answer; the list will fill in once it does."
    choices = {
        "cluster": unique([r.cluster for r in rows] + [flt.cluster]),
        "phase": unique([r.phase for r in rows] + [flt.phase]),
        "waiting_on": unique([w for r in rows for w in r.waiting_on] + [flt.waiting_on]),
        "requester": unique([r.requester for r in rows] + [flt.requester]),
    }
    shown = [r for r in rows if flt.matches(r)]
    return _page(
        request,
        "list.html",
        principal,
        rows=shown,
        total=len(rows),
        truncated=more,
        flt=flt,
        choices=choices,
        error=error,
    )


_BACKTICKED = re.compile(r"`([a-z-]+)`")


def decision_choices(question: str | None) -> list[str]:
    """The answers a question offers (the words it puts in backticks that are decisions)."""
    offered = [w for w in _BACKTICKED.findall(question or "") if w in DECISIONS]
    return list(dict.fromkeys(offered)) or list(DECISIONS)


def _gate_approvals(status: RenewalStatus) -> list[AuditEvent]:
    """The approvals given at the open gate (none when no gate is open)."""
    if status.gate is None:
        return []
    action = "approved" if status.gate == "plan" else f"approved-{status.gate}"
    return [e for e in status.approvals if e.action == action]


@router.get("/renewals/{change_id}", response_class=HTMLResponse, include_in_schema=False)
async def renewal_page(
    request: Request, change_id: str, principal: Viewer, client: PageClient
) -> HTMLResponse:
    """One renewal: plan, phase timeline, nodes and purposes, phones during the waves, the
    audit trail, and the actions this person may take now."""
    settings = service_settings(request)
    if client is None:
        return _page(
            request,
            "missing.html",
            principal,
            change_id=change_id,
            error=NOT_CONNECTED,
            status_code=503,
        )
    try:
        detail: RenewalDetail = await renewal_detail(
            client,
            change_id,
            settings.base_url,
            query_timeout=_dashboard_settings(request).query_timeout_seconds,
        )
    except LookupError:
        return _page(request, "missing.html", principal, change_id=change_id, unreadable=True)
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return _page(
                request,
                "missing.html",
                principal,
                change_id=change_id,
                status_code=404,
            )
        log.error("Temporal: %s", err)
        return _page(
            request,
            "missing.html",
            principal,
            change_id=change_id,
            error="Temporal does not answer; reload in a moment.",
            status_code=503,
        )
    status = detail.status
    actions: list[str] = []
    required = 0
    policy_error = ""
    if status.phase not in TERMINAL_PHASES and detail.execution_status == "running":
        try:
            policy = change_policy(request, status.cluster)
        except ApiError as err:
            policy_error = err.message
        else:
            actions = allowed_actions(principal, status, policy, datetime.now(UTC))
            if status.awaiting == "approval" and status.gate is not None:
                required = approval_policy(policy, status.gate).required
    return _page(
        request,
        "renewal.html",
        principal,
        d=detail,
        s=status,
        row=detail.row,
        actions=actions,
        required=required,
        gate_approvals=_gate_approvals(status),
        policy_error=policy_error,
        decisions=decision_choices(status.question),
    )


@router.get("/fleet", response_class=HTMLResponse, include_in_schema=False)
async def fleet_page(request: Request, principal: Viewer, client: PageClient) -> HTMLResponse:
    """Every cluster's certificates by purpose and node, with days to expiry and drift."""
    from service.fleet import fleet_view

    error = ""
    view = None
    try:
        if client is None:
            error = NOT_CONNECTED
        else:
            view = await fleet_view(client, datetime.now(UTC))
    except RPCError as err:
        log.error("Temporal: %s", err)
        error = "Temporal does not answer; try again shortly."
    return _page(request, "fleet.html", principal, view=view, error=error)
