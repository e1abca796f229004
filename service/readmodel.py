"""The dashboard's read model: the in-flight list from Temporal visibility, one renewal's page
from its status query and history, and the feed of changed rows behind live updates.

The list never asks a workflow anything: each row is made from the search attributes the
renewal upserts (``workflows.search_attributes``), read with one paged
``ListWorkflowExecutions`` query, so it costs the same with 5 or 500 renewals in flight. The
feed polls that query once per interval for every subscriber together.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, Final

from pydantic import BaseModel, Field
from temporalio.api.common.v1 import Payload, SearchAttributes
from temporalio.api.enums.v1 import EventType
from temporalio.api.workflow.v1 import WorkflowExecutionInfo
from temporalio.api.workflowservice.v1 import ListWorkflowExecutionsRequest
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
)

from activities.clients.links import renewal_link, renewal_path
from workers.status_read import read_described
from workflows import search_attributes as sa
from workflows.models import RenewalStatus
from workflows.renewal import CertRenewalWorkflow

__all__ = [
    "FeedUpdate",
    "LiveActivity",
    "PhaseEntry",
    "RenewalDetail",
    "RenewalRow",
    "RowFeed",
    "RowFilter",
    "RowProgress",
    "filtered",
    "list_query",
    "list_rows",
    "renewal_detail",
    "row_from_info",
    "unique",
]

log = logging.getLogger("ucrenew.service.readmodel")

WORKFLOW_TYPE = "CertRenewalWorkflow"
"""The workflow type the list shows."""


class RowFilter(BaseModel):
    """What the list is narrowed to; empty fields do not narrow it.

    Attributes:
        cluster: inventory cluster name.
        phase: the renewal's phase (``approve-plan``, ``ca-wait``, ``restarts``, ...).
        waiting_on: one group or party the renewal waits on (``voice-cab``, ``pki-admins``,
            ``operator``, ``ca``, ``window``).
        requester: who asked for the change.
        change_id: one change (the renewal page's live updates).
    """

    cluster: str = ""
    phase: str = ""
    waiting_on: str = ""
    requester: str = ""
    change_id: str = ""

    def matches(self, row: RenewalRow) -> bool:
        """Whether ``row`` passes the filter (the feed filters its rows per subscriber)."""
        return (
            (not self.cluster or row.cluster == self.cluster)
            and (not self.phase or row.phase == self.phase)
            and (not self.waiting_on or self.waiting_on in row.waiting_on)
            and (not self.requester or row.requester == self.requester)
            and (not self.change_id or row.change_id == self.change_id)
        )


def list_query(flt: RowFilter | None = None) -> str:
    """The visibility query of the in-flight list narrowed by ``flt`` (values quoted)."""
    flt = flt or RowFilter()
    clauses = [f"WorkflowType = {sa.literal(WORKFLOW_TYPE)}", "ExecutionStatus = 'Running'"]
    pairs = (
        (sa.CLUSTER_ID.name, flt.cluster),
        (sa.RENEWAL_PHASE.name, flt.phase),
        (sa.RENEWAL_WAITING_ON.name, flt.waiting_on),
        (sa.RENEWAL_REQUESTER.name, flt.requester),
        ("WorkflowId", flt.change_id),
    )
    clauses += [f"{name} = {sa.literal(value)}" for name, value in pairs if value]
    return " AND ".join(clauses)


class RowProgress(BaseModel):
    """The rollout's counters of a row, and the same said for people."""

    restarts_done: int = 0
    restarts_total: int = 0
    phones_back: int | None = None
    phones_baseline: int | None = None
    text: str = ""


class RenewalRow(BaseModel):
    """One in-flight renewal as the list shows it (from search attributes only)."""

    change_id: str
    run_id: str | None = None
    cluster: str = ""
    purposes: list[str] = Field(default_factory=list)
    phase: str = ""
    awaiting: str = ""
    waiting_on: list[str] = Field(default_factory=list)
    requester: str = ""
    started_at: datetime | None = None
    deadline: datetime | None = None
    cert_not_after: datetime | None = None
    progress: RowProgress = Field(default_factory=RowProgress)
    url: str = Field(default="", description="the renewal page")


def _keyword(attrs: Mapping[str, Any], name: str) -> str:
    value = attrs.get(name)
    if isinstance(value, list):
        return str(value[0]) if value else ""
    return "" if value is None else str(value)


def _keywords(attrs: Mapping[str, Any], name: str) -> list[str]:
    value = attrs.get(name)
    if isinstance(value, list):
        return [str(v) for v in value if v is not None]
    return [] if value is None else [str(value)]


def _datetime(attrs: Mapping[str, Any], name: str) -> datetime | None:
    value = attrs.get(name)
    if isinstance(value, list):
        value = value[0] if value else None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            parsed = datetime.fromisoformat(value)
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


_ROW_ATTRIBUTES: Final = frozenset(
    key.name
    for key in (
        sa.CLUSTER_ID,
        sa.CERT_PURPOSES,
        sa.RENEWAL_PHASE,
        sa.RENEWAL_AWAITING,
        sa.RENEWAL_WAITING_ON,
        sa.RENEWAL_REQUESTER,
        sa.RENEWAL_DEADLINE,
        sa.CERT_NOT_AFTER,
        sa.RENEWAL_PROGRESS,
    )
)


def _attributes(raw: SearchAttributes, names: Iterable[str] = _ROW_ATTRIBUTES) -> dict[str, Any]:
    """The row's attributes as plain JSON values. Search attributes are never encrypted (the
    codec does not cover them) and always JSON, so this skips the SDK's typed decoding of
    every attribute (most of the list's CPU time with hundreds of rows); a value that does
    not parse reads as absent."""
    values: dict[str, Any] = {}
    wanted = frozenset(names)
    for name, payload in raw.indexed_fields.items():
        if name in wanted:
            with contextlib.suppress(ValueError):
                values[name] = json.loads(payload.data)
    return values


def row_from_info(info: WorkflowExecutionInfo, base_url: str = "") -> RenewalRow:
    """A row from one visibility entry."""
    attrs = _attributes(info.search_attributes)
    progress = sa.parse_progress(_keyword(attrs, sa.RENEWAL_PROGRESS.name))
    change_id = info.execution.workflow_id
    return RenewalRow(
        change_id=change_id,
        run_id=info.execution.run_id or None,
        cluster=_keyword(attrs, sa.CLUSTER_ID.name),
        purposes=_keywords(attrs, sa.CERT_PURPOSES.name),
        phase=_keyword(attrs, sa.RENEWAL_PHASE.name),
        awaiting=_keyword(attrs, sa.RENEWAL_AWAITING.name),
        waiting_on=_keywords(attrs, sa.RENEWAL_WAITING_ON.name),
        requester=_keyword(attrs, sa.RENEWAL_REQUESTER.name),
        started_at=(
            info.start_time.ToDatetime(tzinfo=UTC) if info.HasField("start_time") else None
        ),
        deadline=_datetime(attrs, sa.RENEWAL_DEADLINE.name),
        cert_not_after=_datetime(attrs, sa.CERT_NOT_AFTER.name),
        progress=RowProgress(
            restarts_done=progress.restarts_done,
            restarts_total=progress.restarts_total,
            phones_back=progress.phones_back,
            phones_baseline=progress.phones_baseline,
            text=progress.text(),
        ),
        url=renewal_link(base_url, change_id) or renewal_path(change_id),
    )


async def list_rows(
    client: Client,
    flt: RowFilter | None = None,
    *,
    limit: int = 2000,
    page_size: int = 1000,
    base_url: str = "",
) -> tuple[list[RenewalRow], bool]:
    """The in-flight renewals passing ``flt``, newest first: one visibility query, paged.

    Args:
        client: A connected client.
        flt: The filter; none narrows nothing.
        limit: The most rows returned.
        page_size: Rows per visibility page.
        base_url: Prefix of the rows' page links.

    Returns:
        The rows, and whether more renewals matched than ``limit``.

    Raises:
        temporalio.service.RPCError: Temporal refused the query or does not answer.
    """
    rows: list[RenewalRow] = []
    token = b""
    query = list_query(flt)
    while True:
        page = await client.workflow_service.list_workflow_executions(
            ListWorkflowExecutionsRequest(
                namespace=client.namespace,
                query=query,
                page_size=min(page_size, limit + 1 - len(rows)),
                next_page_token=token,
            )
        )
        for info in page.executions:
            if len(rows) == limit:
                return rows, True
            rows.append(row_from_info(info, base_url))
        token = page.next_page_token
        if not token:
            return rows, False


# -- one renewal -------------------------------------------------------------------------------


class PhaseEntry(BaseModel):
    """One step of the phase timeline: when the renewal entered a phase (or a wait)."""

    at: datetime
    phase: str
    awaiting: str = ""


class LiveActivity(BaseModel):
    """An activity the renewal runs now, with its last heartbeat (e.g. phones registered)."""

    name: str
    attempt: int = 1
    detail: str = ""
    last_heartbeat: datetime | None = None


class RenewalDetail(BaseModel):
    """Everything the renewal page shows of one change."""

    change_id: str
    execution_status: str
    status: RenewalStatus
    row: RenewalRow
    timeline: list[PhaseEntry] = Field(default_factory=list)
    live: list[LiveActivity] = Field(default_factory=list)
    notice: str = Field(
        default="", description="why the page shows less than usual (no worker answered)"
    )


def _status_name(status: WorkflowExecutionStatus | None) -> str:
    return status.name.lower().replace("_", "-") if status is not None else "unknown"


async def _history(
    client: Client, change_id: str, run_id: str | None
) -> tuple[list[PhaseEntry], list[Payload]]:
    """The phases from the history's search-attribute upserts (each phase change is one),
    and the payloads the run was started with."""
    handle = client.get_workflow_handle(change_id, run_id=run_id)
    kind = EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES
    entries: list[PhaseEntry] = []
    started: list[Payload] = []
    phase, awaiting = "", ""
    async for event in handle.fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
            started = list(event.workflow_execution_started_event_attributes.input.payloads)
        if event.event_type != kind:
            continue
        fields = event.upsert_workflow_search_attributes_event_attributes.search_attributes
        if not any(
            n in fields.indexed_fields for n in (sa.RENEWAL_PHASE.name, sa.RENEWAL_AWAITING.name)
        ):
            continue
        values = _attributes(fields, (sa.RENEWAL_PHASE.name, sa.RENEWAL_AWAITING.name))
        new_phase = _keyword(values, sa.RENEWAL_PHASE.name) or phase
        new_awaiting = (
            _keyword(values, sa.RENEWAL_AWAITING.name)
            if sa.RENEWAL_AWAITING.name in fields.indexed_fields
            else awaiting
        )
        if (new_phase, new_awaiting) == (phase, awaiting):
            continue
        phase, awaiting = new_phase, new_awaiting
        at = event.event_time.ToDatetime(tzinfo=UTC)
        entries.append(PhaseEntry(at=at, phase=phase, awaiting=awaiting))
    return entries, started


async def _live(client: Client, desc: Any) -> list[LiveActivity]:
    """The pending activities and their last heartbeat details, said as text."""
    live = []
    for pending in desc.raw_description.pending_activities:
        detail = ""
        if pending.heartbeat_details.payloads:
            with contextlib.suppress(Exception):
                values = await client.data_converter.decode(
                    list(pending.heartbeat_details.payloads)
                )
                detail = "; ".join(str(v) for v in values if v not in (None, ""))
        beat = (
            pending.last_heartbeat_time.ToDatetime(tzinfo=UTC)
            if pending.HasField("last_heartbeat_time")
            else None
        )
        live.append(
            LiveActivity(
                name=pending.activity_type.name,
                attempt=pending.attempt or 1,
                detail=detail,
                last_heartbeat=beat,
            )
        )
    return live


async def renewal_detail(
    client: Client, change_id: str, base_url: str = "", query_timeout: float = 5.0
) -> RenewalDetail:
    """One renewal: its status, its row, phase timeline and live activities. The status is
    read as ``workers.status_read`` reads it for the CLI: a finished change from its result
    or memo (no worker needed), a running one from the status query; when no worker polls
    the renewal's task queue, or none answers within ``query_timeout`` seconds, it is made
    from the run's input and its search attributes, and ``notice`` says so.

    Raises:
        temporalio.service.RPCError: ``NOT_FOUND`` when there is no such change, or Temporal
            does not answer.
        LookupError: No worker answered and the run's input could not be read.
    """
    handle = client.get_workflow_handle_for(CertRenewalWorkflow.run, change_id)
    desc = await handle.describe()
    row = row_from_info(desc.raw_description.workflow_execution_info, base_url)
    read, (timeline, _), live = await asyncio.gather(
        read_described(client, desc, query_timeout),
        _history(client, change_id, desc.run_id),
        _live(client, desc),
    )
    return RenewalDetail(
        change_id=change_id,
        execution_status=read.execution_status,
        status=read.status,
        row=row,
        timeline=timeline,
        live=live,
        notice=read.notice,
    )


# -- live updates ------------------------------------------------------------------------------


class FeedUpdate(BaseModel):
    """What changed between two polls: rows new or different, and changes no longer in
    flight (ended, or gone)."""

    changed: list[RenewalRow] = Field(default_factory=list)
    removed: list[str] = Field(default_factory=list)
    snapshot: bool = Field(default=False, description="``changed`` is the whole list")


class RowFeed:
    """Polls the in-flight list once per interval for all subscribers and hands each the
    rows that changed; it polls only while someone listens.

    Args:
        client: A connected client.
        interval: Seconds between polls.
        limit: The most rows followed.
        base_url: Prefix of the rows' page links.
    """

    def __init__(
        self, client: Client, interval: float = 2.0, limit: int = 2000, base_url: str = ""
    ) -> None:
        self._client = client
        self.interval = interval
        self._limit = limit
        self._base_url = base_url
        self._rows: dict[str, RenewalRow] | None = None
        self._polled_at = 0.0
        self._inflight: asyncio.Future[FeedUpdate] | None = None
        self._subscribers: set[asyncio.Queue[FeedUpdate]] = set()
        self._task: asyncio.Task[None] | None = None
        self.polls = 0
        self.truncated = False

    @property
    def rows(self) -> list[RenewalRow]:
        """The rows of the last poll (empty before the first)."""
        return list((self._rows or {}).values())

    async def current(self, max_age: float) -> tuple[list[RenewalRow], bool]:
        """The in-flight rows no older than ``max_age`` seconds, and whether the list was cut
        at the limit: the last poll's when recent enough, else a poll shared with every
        caller that asks meanwhile (so many open pages cost one query per interval)."""
        loop = asyncio.get_running_loop()
        if self._rows is None or loop.time() - self._polled_at > max_age:
            await self.refresh()
        return self.rows, self.truncated

    async def refresh(self) -> FeedUpdate:
        """Poll once (joining a poll already under way); return what changed since the last
        poll and hand it to subscribers."""
        if self._inflight is not None:
            return await asyncio.shield(self._inflight)
        self._inflight = asyncio.get_running_loop().create_future()
        try:
            update = await self._poll()
        except asyncio.CancelledError:
            self._inflight.cancel()
            raise
        except Exception as err:
            self._inflight.set_exception(err)
            self._inflight.exception()  # retrieved: joiners re-raise it, nobody else must
            raise
        else:
            self._inflight.set_result(update)
            return update
        finally:
            self._inflight = None

    async def _poll(self) -> FeedUpdate:
        rows, self.truncated = await list_rows(
            self._client, limit=self._limit, base_url=self._base_url
        )
        self._polled_at = asyncio.get_running_loop().time()
        self.polls += 1
        current = {r.change_id: r for r in rows}
        before = self._rows
        self._rows = current
        if before is None:
            update = FeedUpdate(changed=rows, snapshot=True)
        else:
            update = FeedUpdate(
                changed=[r for cid, r in current.items() if before.get(cid) != r],
                removed=[cid for cid in before if cid not in current],
            )
        if update.changed or update.removed:
            for queue in list(self._subscribers):
                if queue.full():
                    # A subscriber too slow to read gets the whole list next instead.
                    with contextlib.suppress(asyncio.QueueEmpty):
                        queue.get_nowait()
                    queue.put_nowait(FeedUpdate(changed=self.rows, snapshot=True))
                else:
                    queue.put_nowait(update)
        return update

    async def _run(self) -> None:
        while self._subscribers:
            try:
                await self.refresh()
            except Exception as err:  # the feed outlives a Temporal hiccup
                log.warning("dashboard feed: listing renewals failed: %s", err)
            await asyncio.sleep(self.interval)
        self._task = None

    @contextlib.asynccontextmanager
    async def subscribe(self) -> AsyncIterator[asyncio.Queue[FeedUpdate]]:
        """A queue of updates for as long as the context lasts; the first item is the whole
        list (once the feed has polled)."""
        queue: asyncio.Queue[FeedUpdate] = asyncio.Queue(maxsize=16)
        if self._rows is not None:
            queue.put_nowait(FeedUpdate(changed=self.rows, snapshot=True))
        self._subscribers.add(queue)
        if self._task is None:
            self._task = asyncio.create_task(self._run())
        try:
            yield queue
        finally:
            self._subscribers.discard(queue)

    async def close(self) -> None:
        """Stop polling (the app's shutdown)."""
        self._subscribers.clear()
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def filtered(update: FeedUpdate, flt: RowFilter, known: set[str]) -> FeedUpdate | None:
    """``update`` as one subscriber sees it: rows outside its filter are left out, and a row
    that no longer passes it is removed. ``known`` (the rows it was sent) is kept up to date.
    None when nothing concerns the subscriber."""
    changed, removed = [], []
    for row in update.changed:
        if flt.matches(row):
            changed.append(row)
            known.add(row.change_id)
        elif row.change_id in known:
            removed.append(row.change_id)
            known.discard(row.change_id)
    for cid in update.removed:
        if cid in known:
            removed.append(cid)
            known.discard(cid)
    if update.snapshot:
        known.intersection_update(r.change_id for r in changed)
        return FeedUpdate(changed=changed, snapshot=True)
    if not changed and not removed:
        return None
    return FeedUpdate(changed=changed, removed=removed)


def unique(values: Iterable[str]) -> list[str]:
    """Sorted distinct non-empty values (the list's filter choices)."""
    return sorted({v for v in values if v})
