"""FleetScanWorkflow: read every inventory cluster's certificates, for the fleet view.

Read-only: it runs the renewal's own discovery (the certificates of every purpose the cluster
has, served and installed, on every node of their SAN) and reads the certificates the last
ucrenew changes installed, then builds a :class:`~workflows.fleet_models.FleetView` with days
to expiry and drift (``workflows.fleet``). It runs on a Temporal Schedule (``ucrenew dev up``;
``ucrenew fleet schedule`` in production) and on demand (``ucrenew fleet scan``); the service
shows the latest completed scan's result. A cluster that cannot be read is in the view as
failed, with its error.
"""

from __future__ import annotations

import asyncio

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.cluster_models import ClusterRef, DiscoverRequest
    from activities.cucm import CucmActivities
    from activities.fleet import FleetActivities
    from activities.fleet_models import FleetInventoryRequest, FleetTarget
    from workflows import policies
    from workflows.fleet import fleet_cluster, fleet_purposes
    from workflows.fleet_models import FleetCluster, FleetScanRequest, FleetView
    from workflows.steps import RenewalStopped, run_activity

__all__ = ["FLEET_SCAN_SCHEDULE_ID", "FleetScanRequest", "FleetScanWorkflow"]

#: The id of the Temporal Schedule that runs the scan (``ucrenew dev up``, ``fleet schedule``).
FLEET_SCAN_SCHEDULE_ID = "ucrenew-fleet-scan"


@workflow.defn
class FleetScanWorkflow:
    """One read-only scan of the fleet's certificates."""

    @workflow.run
    async def run(self, req: FleetScanRequest) -> FleetView:
        """The fleet view as of now: every cluster asked for, read or failed."""
        inventory = await run_activity(
            FleetActivities.fleet_inventory,
            FleetInventoryRequest(clusters=req.clusters),
            policies.FLEET_LOOKUP,
            summary="list the inventory's clusters",
        )
        workflow.set_current_details(f"**Scanning** {len(inventory.targets)} cluster(s)")
        clusters: list[FleetCluster] = [
            FleetCluster(cluster=name, status="failed", error=why, error_type="InventoryError")
            for name, why in inventory.unknown.items()
        ]
        targets = inventory.targets
        for start in range(0, len(targets), req.concurrency):
            batch = targets[start : start + req.concurrency]
            clusters.extend(await asyncio.gather(*(self._scan(t, req) for t in batch)))
            workflow.set_current_details(
                f"**Scanned** {min(start + req.concurrency, len(targets))}/{len(targets)} "
                "cluster(s)"
            )
        now = workflow.now()
        return FleetView(
            scanned_at=now,
            as_of=now,
            warning_days=req.warning_days,
            clusters=sorted(clusters, key=lambda c: c.cluster),
            scan_id=workflow.info().workflow_id,
        )

    async def _scan(self, target: FleetTarget, req: FleetScanRequest) -> FleetCluster:
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
