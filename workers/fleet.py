"""The fleet scan from the outside: its Temporal Schedule, running one now, and reading the
latest scan's view (the service's fleet page and ``ucrenew fleet`` read it here).

The scan's results are its workflows' results, so the fleet view needs no second database:
the latest completed ``FleetScanWorkflow`` names, per cluster, the child workflow run whose
result is that cluster's part of the view. Reading it is a bounded visibility list, the scan's
closing event and one per cluster (read in parallel); a run's result never changes, so every
one is cached by run id and a view already read costs the list only.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import OrderedDict
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
    WorkflowExecution,
    WorkflowExecutionStatus,
    WorkflowFailureError,
)
from temporalio.service import RPCError

from workers.settings import UcrenewSettings
from workflows.fleet_models import (
    FleetCluster,
    FleetScanEntry,
    FleetScanRequest,
    FleetScanResult,
    FleetView,
)
from workflows.fleet_scan import FLEET_SCAN_SCHEDULE_ID, FleetScanWorkflow

__all__ = [
    "FLEET_SCAN_SCHEDULE_ID",
    "ScanStillRunning",
    "ensure_fleet_schedule",
    "latest_fleet_view",
    "run_fleet_scan",
    "start_jitter_seconds",
    "view_of_scan",
]

#: Closed scans looked at to find the latest (visibility lists the newest first).
_LOOK_AT = 10
_SCAN_QUERY = "WorkflowType = 'FleetScanWorkflow'"
#: Results kept (a scan's and each of its clusters'): a few scans of a large fleet.
_CACHE_SIZE = 2048
#: Cluster results read at once.
_PARALLEL_READS = 16
_cache: OrderedDict[str, Any] = OrderedDict()
_T = TypeVar("_T")


def start_jitter_seconds(settings: UcrenewSettings) -> int:
    """The window the scheduled scan spreads its starts over: the setting, at most half the
    scan interval, so a scan still starting renewals never makes the schedule skip the next."""
    return min(settings.fleet_start_jitter_minutes, settings.fleet_scan_minutes // 2) * 60


def _schedule(settings: UcrenewSettings, task_queue: str | None) -> Schedule:
    return Schedule(
        action=ScheduleActionStartWorkflow(
            FleetScanWorkflow.run,
            FleetScanRequest(
                warning_days=settings.fleet_warning_days,
                start_renewals=True,
                jitter_seconds=start_jitter_seconds(settings),
            ),
            id="fleet-scan",
            task_queue=task_queue or settings.task_queue,
            static_summary="fleet scan: every cluster's certificates, expiry and drift",
        ),
        spec=ScheduleSpec(
            intervals=[ScheduleIntervalSpec(every=timedelta(minutes=settings.fleet_scan_minutes))]
        ),
        # A scan still reading a slow cluster is not started twice.
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )


async def ensure_fleet_schedule(
    client: Client, settings: UcrenewSettings, task_queue: str | None = None
) -> str:
    """Create the fleet scan's schedule (a first scan at once), or bring an existing one to
    the settings' interval and warning threshold. Returns ``created`` or ``updated``."""
    schedule = _schedule(settings, task_queue)
    try:
        await client.create_schedule(FLEET_SCAN_SCHEDULE_ID, schedule, trigger_immediately=True)
    except ScheduleAlreadyRunningError:

        def update(_: ScheduleUpdateInput) -> ScheduleUpdate:
            return ScheduleUpdate(schedule=schedule)

        await client.get_schedule_handle(FLEET_SCAN_SCHEDULE_ID).update(update)
        return "updated"
    return "created"


async def run_fleet_scan(
    client: Client,
    settings: UcrenewSettings,
    clusters: list[str] | None = None,
    task_queue: str | None = None,
    wait_seconds: float | None = None,
    start_renewals: bool = False,
) -> FleetView:
    """Scan now (the clusters given, else the whole inventory) and return the view; with
    ``start_renewals``, start the renewals the clusters' auto-renew policies call for (at once:
    no jitter), else the view says what would start.

    Raises:
        temporalio.client.WorkflowFailureError: The scan itself failed (a cluster that cannot
            be read does not fail it: it is in the view as failed).
        ScanStillRunning: No result within ``wait_seconds`` (no worker, or a large fleet); the
            scan goes on and the fleet view shows it once it is done.
    """
    scan_id = f"fleet-scan-{uuid.uuid4().hex[:12]}"
    handle = await client.start_workflow(
        FleetScanWorkflow.run,
        FleetScanRequest(
            clusters=clusters or [],
            warning_days=settings.fleet_warning_days,
            start_renewals=start_renewals,
        ),
        id=scan_id,
        task_queue=task_queue or settings.task_queue,
        static_summary="fleet scan on demand",
    )
    try:
        result = await asyncio.wait_for(handle.result(), wait_seconds)
    except TimeoutError:
        raise ScanStillRunning(scan_id, task_queue or settings.task_queue) from None
    return await view_of_scan(client, scan_id, result)


class ScanStillRunning(Exception):
    """A scan did not finish in the time a caller waited; it keeps running."""

    def __init__(self, scan_id: str, task_queue: str) -> None:
        super().__init__(
            f"fleet scan {scan_id} has not finished yet: it goes on (is a worker polling task "
            f"queue {task_queue}?); `ucrenew fleet` shows it once done"
        )
        self.scan_id = scan_id


async def _cached(client: Client, workflow_id: str, run_id: str, result_type: type[_T]) -> _T:
    key = f"{workflow_id}/{run_id}"
    if key in _cache:
        _cache.move_to_end(key)
        cached: _T = _cache[key]
        return cached
    handle = client.get_workflow_handle(workflow_id, run_id=run_id, result_type=result_type)
    value = await handle.result(follow_runs=False)
    _cache[key] = value
    while len(_cache) > _CACHE_SIZE:
        _cache.popitem(last=False)
    return value


async def _cluster(client: Client, entry: FleetScanEntry, gate: asyncio.Semaphore) -> FleetCluster:
    if entry.workflow_id is None or entry.run_id is None:
        return FleetCluster(
            cluster=entry.cluster,
            status="failed",
            error=entry.error or "not scanned",
            error_type=entry.error_type,
            auto_renew=entry.auto_renew,
        )
    async with gate:
        try:
            cluster = await _cached(client, entry.workflow_id, entry.run_id, FleetCluster)
            return cluster.model_copy(update={"auto_renew": entry.auto_renew})
        except (RPCError, WorkflowFailureError) as err:
            why = err.message if isinstance(err, RPCError) else str(err.cause or err)
            return FleetCluster(
                cluster=entry.cluster,
                status="failed",
                error=f"the scan's result for {entry.cluster} cannot be read ({why}); run "
                "`ucrenew fleet scan`",
                error_type=type(err).__name__,
                auto_renew=entry.auto_renew,
            )


async def view_of_scan(client: Client, scan_id: str, result: FleetScanResult) -> FleetView:
    """The fleet view of one scan: its clusters' results, read in parallel (and cached)."""
    gate = asyncio.Semaphore(_PARALLEL_READS)
    clusters = await asyncio.gather(*(_cluster(client, e, gate) for e in result.clusters))
    return FleetView(
        scanned_at=result.scanned_at,
        as_of=result.scanned_at,
        warning_days=result.warning_days,
        clusters=list(clusters),
        scan_id=scan_id,
    )


def _closed(wf: WorkflowExecution) -> datetime:
    return wf.close_time or datetime.min.replace(tzinfo=UTC)


async def latest_fleet_view(client: Client, now: datetime) -> FleetView:
    """The latest completed fleet scan's view, with days to expiry counted from ``now``.

    Without any completed scan, an empty view whose ``notice`` says how to run one; when a
    later scan failed, the view of the last good one with a notice naming the failure.
    """
    # A run that continued as new is part of a scan still running (or completed later).
    closed = [
        wf
        async for wf in client.list_workflows(
            f"{_SCAN_QUERY} AND ExecutionStatus != 'Running' "
            "AND ExecutionStatus != 'ContinuedAsNew'",
            limit=_LOOK_AT,
        )
    ]
    closed.sort(key=_closed, reverse=True)
    done = [wf for wf in closed if wf.status == WorkflowExecutionStatus.COMPLETED]
    if not done:
        done = [
            wf
            async for wf in client.list_workflows(
                f"{_SCAN_QUERY} AND ExecutionStatus = 'Completed'", limit=1
            )
        ]
    if not done:
        return FleetView(
            scanned_at=now,
            as_of=now,
            warning_days=0,
            notice="no fleet scan has completed yet: `ucrenew fleet scan` runs one now, and "
            "`ucrenew fleet schedule` (done by `ucrenew dev up`) runs them regularly",
        )
    latest = done[0]
    result = await _cached(client, latest.id, latest.run_id, FleetScanResult)
    view = (await view_of_scan(client, latest.id, result)).at(now)
    if closed and closed[0].status != WorkflowExecutionStatus.COMPLETED:
        failed = closed[0]
        state = failed.status.name.lower() if failed.status else "failed"
        view = view.model_copy(
            update={
                "notice": f"the latest scan {failed.id} {state} at "
                f"{_closed(failed):%Y-%m-%d %H:%M} UTC (see it in the Temporal UI); this is "
                f"the scan of {view.scanned_at:%Y-%m-%d %H:%M} UTC"
            }
        )
    return view
