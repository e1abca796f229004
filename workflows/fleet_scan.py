"""FleetScanWorkflow: read every inventory cluster's certificates, for the fleet view.

Read-only: per cluster, a child ``FleetClusterScanWorkflow`` runs the renewal's own discovery
(the certificates of every purpose the cluster has, served and installed, on every node of
their SAN) and reads the certificates the last ucrenew changes installed, then returns the
cluster's part of the view with days to expiry and drift (``workflows.fleet``). One child per
cluster keeps each result a payload of its own (a 16-node cluster is about 70 KB), so the
fleet's size never meets Temporal's 2 MB payload limit; the scan returns a small
:class:`~workflows.fleet_models.FleetScanResult` naming the children.

It runs on a Temporal Schedule (``ucrenew dev up``; ``ucrenew fleet schedule`` in production)
and on demand (``ucrenew fleet scan``); the service shows the latest completed scan
(``workers.fleet``). A cluster that cannot be read is in the view as failed, with its error.

Once every cluster is read, the scan decides per cluster whether to renew it
(``change_policy.auto_renew``, :func:`workflows.fleet.auto_renew_due`): a cluster with due
purposes gets ONE renewal of them all, started after its jitter (a hash of its name over
``jitter_seconds``) by the ``start_scheduled_renewal`` activity (``workers.auto_renew``), which
starts nothing while a renewal of the cluster runs. The scan only starts renewals when asked to
(``start_renewals``: the schedule); otherwise its result says what would start.

A scan of thousands of clusters continues as a new run (continue-as-new) after
``operations_per_run`` cluster reads and renewal starts, or sooner when Temporal suggests it,
carrying its progress (:class:`~workflows.fleet_models.FleetScanState`: the entries so far,
the clusters left to read, the moment the jitter counts from and the starts tried). A new run
reads the inventory entries of the clusters it still needs (policies are not carried, so the
state stays a fraction of the result's size). Scans recorded before patch
``fleet-scan-continue-as-new`` replay the one-run path.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import NoReturn

from temporalio import workflow
from temporalio.exceptions import ActivityError, ChildWorkflowError

with workflow.unsafe.imports_passed_through():
    from activities.cluster_models import ClusterRef, DiscoverRequest
    from activities.cucm import CucmActivities
    from activities.fleet import FleetActivities
    from activities.fleet_models import FleetInventoryRequest, FleetTarget
    from workflows import metrics, policies
    from workflows.fleet import (
        auto_change_id,
        auto_renew_due,
        fleet_cluster,
        fleet_purposes,
        jitter_seconds,
    )
    from workflows.fleet_models import (
        AutoRenewOutcome,
        AutoRenewStartRequest,
        FleetCluster,
        FleetClusterScanRequest,
        FleetScanEntry,
        FleetScanRequest,
        FleetScanResult,
        FleetScanState,
    )
    from workflows.steps import RenewalStopped, run_activity, stopped

__all__ = [
    "FLEET_SCAN_SCHEDULE_ID",
    "FleetClusterScanWorkflow",
    "FleetScanRequest",
    "FleetScanWorkflow",
]

#: The id of the Temporal Schedule that runs the scan (``ucrenew dev up``, ``fleet schedule``).
FLEET_SCAN_SCHEDULE_ID = "ucrenew-fleet-scan"
#: The patch that added the starts: scans recorded before it replay without them.
STARTS_RENEWALS_PATCH = "fleet-scan-starts-renewals"
#: The activity (``workers.auto_renew.AutoRenewActivities``) that starts a due renewal.
START_ACTIVITY = "start_scheduled_renewal"
#: The patch that made the scan continue as new (carrying its progress) at fleet size.
CONTINUE_AS_NEW_PATCH = "fleet-scan-continue-as-new"


def _offset(entry: FleetScanEntry) -> int:
    """The entry's jitter: seconds after the starts begin."""
    return entry.auto_renew.start_after_seconds if entry.auto_renew is not None else 0


@workflow.defn
class FleetClusterScanWorkflow:
    """One cluster of a fleet scan: its certificates by purpose, expiry and drift."""

    @workflow.run
    async def run(self, req: FleetClusterScanRequest) -> FleetCluster:
        """The cluster's part of the fleet view; ``failed`` (with the error) when it cannot
        be read, never an exception for that."""
        target = FleetTarget(cluster=req.cluster, version=req.version, products=req.products)
        try:
            snapshot = await run_activity(
                CucmActivities.discover_cluster,
                DiscoverRequest(cluster=target.cluster, purposes=fleet_purposes(target)),
                policies.FLEET_DISCOVER,
                summary=f"read the certificates of {target.cluster}",
            )
            last = await run_activity(
                FleetActivities.last_renewed_certificates,
                ClusterRef(cluster=target.cluster),
                policies.FLEET_LOOKUP,
                summary=f"certificates ucrenew installed on {target.cluster}",
            )
        except RenewalStopped as stop:
            return FleetCluster(
                cluster=target.cluster,
                status="failed",
                error=stop.message,
                error_type=stop.error_type,
                version=target.version,
            )
        view = fleet_cluster(
            target, snapshot, last, workflow.now(), req.warning_days, req.auto_renew
        )
        for purpose in view.purposes:
            if purpose.days_to_expiry is not None:
                metrics.days_to_expiry(view.cluster, purpose.purpose, purpose.days_to_expiry)
        return view


@workflow.defn
class FleetScanWorkflow:
    """One read-only scan of the fleet's certificates, which starts the renewals the
    clusters' auto-renew policies call for."""

    def __init__(self) -> None:
        self._targets: dict[str, FleetTarget] = {}
        self._operations = 0

    @workflow.run
    async def run(self, req: FleetScanRequest) -> FleetScanResult:
        """Every cluster asked for, read or failed, each by a child workflow."""
        if req.state is not None or workflow.patched(CONTINUE_AS_NEW_PATCH):
            return await self._run_in_runs(req)
        return await self._run_once(req)

    async def _run_in_runs(self, req: FleetScanRequest) -> FleetScanResult:
        """The scan, continuing as new after ``req.operations_per_run`` reads and starts."""
        # Not copied: the input is this run's own, and a deep copy of thousands of entries
        # could take longer than a workflow task may.
        state = req.state if req.state is not None else FleetScanState()
        self._operations = 0
        if not state.read_all:
            await self._read_fleet(req, state)
        due = sorted(
            (e for e in state.entries if e.auto_renew is not None and e.auto_renew.change_id),
            key=lambda e: (_offset(e), e.cluster),
        )
        left = due[state.starts_tried :]
        if req.start_renewals and left:
            if state.starts_from is None:
                state.starts_from = workflow.now()
            await self._start_due(req, state, left)
        return FleetScanResult(
            scanned_at=workflow.now(),
            warning_days=req.warning_days,
            clusters=sorted(state.entries, key=lambda e: e.cluster),
            runs=state.runs,
        )

    def _hand_over_due(self, req: FleetScanRequest) -> bool:
        return (
            self._operations >= req.operations_per_run
            or workflow.info().is_continue_as_new_suggested()
        )

    def _continue(self, req: FleetScanRequest, state: FleetScanState) -> NoReturn:
        """Hand the scan over to a new run with its progress (no handlers to wait for)."""
        state.runs += 1
        workflow.continue_as_new(req.model_copy(update={"state": state}))

    async def _read_fleet(self, req: FleetScanRequest, state: FleetScanState) -> None:
        """Read the clusters left to read, in batches of ``req.concurrency``."""
        first = req.state is None
        inventory = await run_activity(
            FleetActivities.fleet_inventory,
            FleetInventoryRequest(clusters=req.clusters if first else state.to_read),
            policies.FLEET_LOOKUP,
            summary="list the inventory's clusters"
            if first
            else f"inventory entries of the {len(state.to_read)} cluster(s) left to read",
        )
        why = "" if first else " (removed from the inventory during the scan)"
        state.entries.extend(
            FleetScanEntry(
                cluster=name, status="failed", error=f"{error}{why}", error_type="InventoryError"
            )
            for name, error in inventory.unknown.items()
        )
        # Each cluster once, whatever the look-up returns (an earlier run read some).
        read = {e.cluster for e in state.entries}
        targets = [t for t in inventory.targets if t.cluster not in read]
        self._targets.update((t.cluster, t) for t in targets)
        total = len(state.entries) + len(targets)
        for start in range(0, len(targets), req.concurrency):
            if self._hand_over_due(req):
                state.to_read = [t.cluster for t in targets[start:]]
                self._continue(req, state)
            batch = targets[start : start + req.concurrency]
            state.entries.extend(await asyncio.gather(*(self._scan(t, req) for t in batch)))
            self._operations += len(batch)
            workflow.set_current_details(
                f"**Scanned** {len(state.entries)}/{total} cluster(s)"
                + (f" · run {state.runs}" if state.runs > 1 else "")
            )
        state.read_all = True
        state.to_read = []

    async def _start_due(
        self, req: FleetScanRequest, state: FleetScanState, left: list[FleetScanEntry]
    ) -> None:
        """Start the due renewals in jitter order, each after its offset from
        ``state.starts_from``; ``req.concurrency`` of one offset at once."""
        assert state.starts_from is not None
        missing = sorted({e.cluster for e in left} - set(self._targets))
        if missing:  # read by an earlier run: its policy comes from the inventory again
            inventory = await run_activity(
                FleetActivities.fleet_inventory,
                FleetInventoryRequest(clusters=missing),
                policies.FLEET_LOOKUP,
                summary=f"auto-renew policies of the {len(missing)} cluster(s) left to start",
            )
            self._targets.update((t.cluster, t) for t in inventory.targets)
        workflow.set_current_details(f"**Starting** {len(left)} renewal(s)")
        i = 0
        while i < len(left):
            if self._hand_over_due(req):
                self._continue(req, state)
            offset = _offset(left[i])
            chunk = [left[i]]
            while (
                len(chunk) < req.concurrency
                and i + len(chunk) < len(left)
                and _offset(left[i + len(chunk)]) == offset
            ):
                chunk.append(left[i + len(chunk)])
            wait = state.starts_from + timedelta(seconds=offset) - workflow.now()
            if wait > timedelta(0):
                await workflow.sleep(wait, summary=f"jitter: starts at +{offset} s")
            await asyncio.gather(*(self._start(e) for e in chunk))
            i += len(chunk)
            state.starts_tried += len(chunk)
            self._operations += len(chunk)

    async def _run_once(self, req: FleetScanRequest) -> FleetScanResult:
        """The scan as recorded before patch ``fleet-scan-continue-as-new``: one run."""
        inventory = await run_activity(
            FleetActivities.fleet_inventory,
            FleetInventoryRequest(clusters=req.clusters),
            policies.FLEET_LOOKUP,
            summary="list the inventory's clusters",
        )
        entries = [
            FleetScanEntry(cluster=name, status="failed", error=why, error_type="InventoryError")
            for name, why in inventory.unknown.items()
        ]
        targets = inventory.targets
        self._targets = {t.cluster: t for t in targets}
        workflow.set_current_details(f"**Scanning** {len(targets)} cluster(s)")
        for start in range(0, len(targets), req.concurrency):
            batch = targets[start : start + req.concurrency]
            entries.extend(await asyncio.gather(*(self._scan(t, req) for t in batch)))
            workflow.set_current_details(
                f"**Scanned** {min(start + req.concurrency, len(targets))}/{len(targets)} "
                "cluster(s)"
            )
        due = [e for e in entries if e.auto_renew is not None and e.auto_renew.change_id]
        if req.start_renewals and due and workflow.patched(STARTS_RENEWALS_PATCH):
            workflow.set_current_details(f"**Starting** {len(due)} renewal(s)")
            by_offset: dict[int, list[FleetScanEntry]] = {}
            for e in due:
                assert e.auto_renew is not None
                by_offset.setdefault(e.auto_renew.start_after_seconds, []).append(e)
            await asyncio.gather(*(self._start_at(o, g) for o, g in sorted(by_offset.items())))
        return FleetScanResult(
            scanned_at=workflow.now(),
            warning_days=req.warning_days,
            clusters=sorted(entries, key=lambda e: e.cluster),
        )

    async def _scan(self, target: FleetTarget, req: FleetScanRequest) -> FleetScanEntry:
        child_id = f"{workflow.info().workflow_id}/{target.cluster}"
        try:
            handle = await workflow.start_child_workflow(
                FleetClusterScanWorkflow.run,
                FleetClusterScanRequest(
                    cluster=target.cluster,
                    version=target.version,
                    products=target.products,
                    warning_days=req.warning_days,
                    auto_renew=target.auto_renew,
                ),
                id=child_id,
                static_summary=f"fleet scan of {target.cluster}",
            )
            cluster = await handle
        except ChildWorkflowError as err:
            cause = err.cause
            return FleetScanEntry(
                cluster=target.cluster,
                status="failed",
                error=f"the scan of {target.cluster} failed: {cause or err}",
                error_type=type(cause).__name__ if cause else "ChildWorkflowError",
                workflow_id=child_id,
                auto_renew=self._unknown(target),
            )
        days = [p.days_to_expiry for p in cluster.purposes if p.days_to_expiry is not None]
        return FleetScanEntry(
            cluster=target.cluster,
            status=cluster.status,
            error=cluster.error,
            error_type=cluster.error_type,
            workflow_id=child_id,
            run_id=handle.first_execution_run_id,
            drift=cluster.drift_count,
            days_to_expiry=min(days, default=None),
            auto_renew=self._decide(target, cluster, req),
        )

    @staticmethod
    def _unknown(target: FleetTarget) -> AutoRenewOutcome:
        if target.auto_renew is None or not target.auto_renew.enabled:
            return AutoRenewOutcome(status="off", detail="change_policy.auto_renew is not enabled")
        return AutoRenewOutcome(
            status="unknown", detail="not read: whether a renewal is due cannot be told"
        )

    def _decide(
        self, target: FleetTarget, cluster: FleetCluster, req: FleetScanRequest
    ) -> AutoRenewOutcome:
        """What the scan does about renewing the cluster, before any start."""
        policy = target.auto_renew
        if policy is None or not policy.enabled or cluster.status == "failed":
            return self._unknown(target)
        due = auto_renew_due(cluster, policy)
        if not due:
            return AutoRenewOutcome(
                status="not-due", detail="no purpose past its threshold, no drift that renews"
            )
        return AutoRenewOutcome(
            status="would-start",
            change_id=auto_change_id(target.cluster, workflow.now()),
            purposes=sorted(due),
            reasons=[f"{purpose}: {', '.join(kinds)}" for purpose, kinds in sorted(due.items())],
            detail="due; this scan does not start renewals (`ucrenew fleet scan --start` or "
            "the schedule does)",
            start_after_seconds=jitter_seconds(target.cluster, req.jitter_seconds),
        )

    async def _start_at(self, offset: int, group: list[FleetScanEntry]) -> None:
        """Start the renewals of the clusters whose jitter is ``offset``: one timer for them."""
        if offset:
            await workflow.sleep(timedelta(seconds=offset))
        await asyncio.gather(*(self._start(e) for e in group))

    async def _start(self, entry: FleetScanEntry) -> None:
        """Start the cluster's renewal (its jitter has passed); the entry says how it went."""
        plan = entry.auto_renew
        target = self._targets.get(entry.cluster)
        if plan is None or plan.change_id is None:
            return
        if target is None or target.auto_renew is None or not target.auto_renew.enabled:
            # A later run of the scan found the cluster gone or its auto-renew turned off.
            entry.auto_renew = plan.model_copy(
                update={
                    "status": "off",
                    "detail": "not started: the cluster left the inventory or its "
                    "change_policy.auto_renew was turned off during the scan",
                }
            )
            return
        policy = target.auto_renew
        # The day of the id is the day of the start, after the jitter.
        change_id = auto_change_id(entry.cluster, workflow.now())
        try:
            outcome: AutoRenewOutcome = await workflow.execute_activity(
                START_ACTIVITY,
                AutoRenewStartRequest(
                    cluster=entry.cluster,
                    change_id=change_id,
                    purposes=plan.purposes,
                    ca=policy.ca,
                    ca_name=policy.ca_name,
                    ca_template=policy.ca_template,
                    require_plan_approval=policy.require_plan_approval,
                    reasons=plan.reasons,
                ),
                result_type=AutoRenewOutcome,
                summary=f"start the renewal of {entry.cluster}",
                **policies.FLEET_START.kwargs(),
            )
        except ActivityError as err:
            stop = stopped(START_ACTIVITY, err)
            outcome = AutoRenewOutcome(
                status="failed",
                change_id=change_id,
                detail=f"the renewal could not be started ({stop.error_type}): {stop.message}",
            )
        entry.auto_renew = outcome.model_copy(
            update={
                "purposes": outcome.purposes or plan.purposes,
                "reasons": plan.reasons,
                "start_after_seconds": plan.start_after_seconds,
                "started_at": workflow.now(),
            }
        )
