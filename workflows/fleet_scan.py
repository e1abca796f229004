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
"""

from __future__ import annotations

import asyncio

from temporalio import workflow
from temporalio.exceptions import ChildWorkflowError

with workflow.unsafe.imports_passed_through():
    from activities.cluster_models import ClusterRef, DiscoverRequest
    from activities.cucm import CucmActivities
    from activities.fleet import FleetActivities
    from activities.fleet_models import FleetInventoryRequest, FleetTarget
    from workflows import policies
    from workflows.fleet import fleet_cluster, fleet_purposes
    from workflows.fleet_models import (
        FleetCluster,
        FleetClusterScanRequest,
        FleetScanEntry,
        FleetScanRequest,
        FleetScanResult,
    )
    from workflows.steps import RenewalStopped, run_activity

__all__ = [
    "FLEET_SCAN_SCHEDULE_ID",
    "FleetClusterScanWorkflow",
    "FleetScanRequest",
    "FleetScanWorkflow",
]

#: The id of the Temporal Schedule that runs the scan (``ucrenew dev up``, ``fleet schedule``).
FLEET_SCAN_SCHEDULE_ID = "ucrenew-fleet-scan"


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
        return fleet_cluster(target, snapshot, last, workflow.now(), req.warning_days)


@workflow.defn
class FleetScanWorkflow:
    """One read-only scan of the fleet's certificates."""

    @workflow.run
    async def run(self, req: FleetScanRequest) -> FleetScanResult:
        """Every cluster asked for, read or failed, each by a child workflow."""
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
        workflow.set_current_details(f"**Scanning** {len(targets)} cluster(s)")
        for start in range(0, len(targets), req.concurrency):
            batch = targets[start : start + req.concurrency]
            entries.extend(await asyncio.gather(*(self._scan(t, req) for t in batch)))
            workflow.set_current_details(
                f"**Scanned** {min(start + req.concurrency, len(targets))}/{len(targets)} "
                "cluster(s)"
            )
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
        )
