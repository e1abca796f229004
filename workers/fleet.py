"""The fleet scan from the outside: its Temporal Schedule, running one now, and reading the
latest scan's view (the service's fleet page and ``ucrenew fleet`` read it here).

The scan's result is its workflow's result, so the fleet view needs no second database: the
latest completed ``FleetScanWorkflow`` is the view. Reading it is two calls to Temporal (a
bounded visibility list and the closing event of one run), and a run's result never changes,
so it is cached by run id.
"""

from __future__ import annotations

import uuid
from collections import OrderedDict
from datetime import UTC, datetime, timedelta

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
)

from workers.settings import UcrenewSettings
from workflows.fleet_models import FleetScanRequest, FleetView
from workflows.fleet_scan import FLEET_SCAN_SCHEDULE_ID, FleetScanWorkflow

__all__ = [
    "FLEET_SCAN_SCHEDULE_ID",
    "ensure_fleet_schedule",
    "latest_fleet_view",
    "run_fleet_scan",
]

#: Closed scans looked at to find the latest (visibility lists the newest first).
_LOOK_AT = 10
_SCAN_QUERY = "WorkflowType = 'FleetScanWorkflow'"
_CACHE_SIZE = 8
_cache: OrderedDict[str, FleetView] = OrderedDict()


def _schedule(settings: UcrenewSettings, task_queue: str | None) -> Schedule:
    return Schedule(
        action=ScheduleActionStartWorkflow(
            FleetScanWorkflow.run,
            FleetScanRequest(warning_days=settings.fleet_warning_days),
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
) -> FleetView:
    """Scan now (the clusters given, else the whole inventory) and return the view.

    Raises:
        temporalio.client.WorkflowFailureError: The scan itself failed (a cluster that cannot
            be read does not fail it: it is in the view as failed).
    """
    return await client.execute_workflow(
        FleetScanWorkflow.run,
        FleetScanRequest(clusters=clusters or [], warning_days=settings.fleet_warning_days),
        id=f"fleet-scan-{uuid.uuid4().hex[:12]}",
        task_queue=task_queue or settings.task_queue,
        static_summary="fleet scan on demand",
    )


async def _result(client: Client, wf: WorkflowExecution) -> FleetView:
    key = f"{wf.id}/{wf.run_id}"
    view = _cache.get(key)
    if view is None:
        handle = client.get_workflow_handle(wf.id, run_id=wf.run_id, result_type=FleetView)
        view = await handle.result(follow_runs=False)
        _cache[key] = view
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return view


def _closed(wf: WorkflowExecution) -> datetime:
    return wf.close_time or datetime.min.replace(tzinfo=UTC)


async def latest_fleet_view(client: Client, now: datetime) -> FleetView:
    """The latest completed fleet scan's view, with days to expiry counted from ``now``.

    Without any completed scan, an empty view whose ``notice`` says how to run one; when a
    later scan failed, the view of the last good one with a notice naming the failure.
    """
    closed = [
        wf
        async for wf in client.list_workflows(
            f"{_SCAN_QUERY} AND ExecutionStatus != 'Running'", limit=_LOOK_AT
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
    view = (await _result(client, done[0])).at(now)
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
