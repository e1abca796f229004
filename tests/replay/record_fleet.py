"""Record fleet scan histories for the replay gate: ``python -m tests.replay.record_fleet NAME``.

``fleet-scan-before-starts`` was recorded with the code before the scan started renewals (run
from a checkout of that code: this script needs nothing newer), ``fleet-scan-starts-renewals``
with the starts, ``fleet-scan-continued-as-new`` (and its ``-last-run``) with two reads or
starts per run. Three clusters on stub activities, two due; the scan asks to start renewals,
with jitter. Like ``record.py``: only after a deliberate change guarded by
``workflow.patched()``, never to make a failing replay pass.
"""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio import activity
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.cluster_models import ClusterRef, ClusterSnapshot, DiscoverRequest, NodeSnapshot
from activities.fleet_models import FleetInventory, FleetInventoryRequest, FleetTarget, LastRenewals
from activities.models import CertificateInfo
from workers.binaries import temporal_test_server_path
from workers.converter import make_data_converter
from workflows import fleet_models
from workflows.fleet_scan import FleetClusterScanWorkflow, FleetScanWorkflow

HISTORIES = Path(__file__).parent / "histories"
#: cluster -> days left on its tomcat certificate (of 365)
CLUSTERS = {"east": 20, "west": 300, "north": 5}
POLICY = {"enabled": True}


def _activities() -> list[Any]:
    @activity.defn(name="fleet_inventory")
    async def fleet_inventory(req: FleetInventoryRequest) -> FleetInventory:
        return FleetInventory(
            targets=[
                FleetTarget.model_validate(
                    {
                        "cluster": c,
                        "version": "12.5.1.14900-63",
                        "products": ["cucm"],
                        "auto_renew": POLICY,
                    }
                )
                for c in (req.clusters or CLUSTERS)
            ]
        )

    @activity.defn(name="discover_cluster")
    async def discover_cluster(req: DiscoverRequest) -> ClusterSnapshot:
        now = activity.info().current_attempt_scheduled_time
        nodes = []
        for host in ("cucm-pub", "cucm-sub"):
            fqdn = f"{host}.{req.cluster}.test"
            not_after = now + timedelta(days=CLUSTERS[req.cluster])
            info = CertificateInfo(
                subject_cn=fqdn, subject=f"CN={fqdn}", issuer="CN=Issuing CA",
                serial_hex=f"{req.cluster}1", sha256_fingerprint=f"fp-{req.cluster}",
                not_before=not_after - timedelta(days=365), not_after=not_after,
                san_dns=[f"cucm-pub.{req.cluster}.test", f"cucm-sub.{req.cluster}.test"],
                has_san=True, key_type="RSA", pem="",
            )  # fmt: skip
            role = "publisher" if host == "cucm-pub" else "subscriber"
            nodes.append(
                NodeSnapshot(fqdn=fqdn, role=role, https_ok=True, certificates={"tomcat": info})
            )
        return ClusterSnapshot(cluster=req.cluster, taken_at=now, nodes=nodes)

    @activity.defn(name="last_renewed_certificates")
    async def last_renewed_certificates(ref: ClusterRef) -> LastRenewals:
        return LastRenewals(cluster=ref.cluster)

    found = [fleet_inventory, discover_cluster, last_renewed_certificates]
    if hasattr(fleet_models, "AutoRenewStartRequest"):  # the code with the starts

        @activity.defn(name="start_scheduled_renewal")
        async def start_scheduled_renewal(
            req: fleet_models.AutoRenewStartRequest,
        ) -> fleet_models.AutoRenewOutcome:
            return fleet_models.AutoRenewOutcome(
                status="started", change_id=req.change_id, purposes=req.purposes
            )

        found.append(start_scheduled_renewal)
    return found


async def main(name: str) -> None:
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=make_data_converter(),
        test_server_existing_path=str(temporal_test_server_path()),
    )
    try:
        tq = f"record-{uuid.uuid4()}"
        async with Worker(
            env.client,
            task_queue=tq,
            workflows=[FleetScanWorkflow, FleetClusterScanWorkflow],
            activities=_activities(),
        ):
            body: dict[str, Any] = {"start_renewals": True, "jitter_seconds": 1800}
            if name == "fleet-scan-continued-as-new":  # two reads or starts per run
                body.update(operations_per_run=2, concurrency=1)
            request = fleet_models.FleetScanRequest.model_validate(body)
            handle = await env.client.start_workflow(
                FleetScanWorkflow.run, request, id=name, task_queue=tq
            )
            await handle.result()
            # The first run and, for a scan that continued as new, its last run too.
            runs = {name: await handle.fetch_history()}
            last = env.client.get_workflow_handle(name)
            if (await last.describe()).run_id != handle.result_run_id:
                runs[f"{name}-last-run"] = await last.fetch_history()
        HISTORIES.mkdir(parents=True, exist_ok=True)
        for file, history in runs.items():
            data: dict[str, Any] = json.loads(history.to_json())
            (HISTORIES / f"{file}.json").write_text(json.dumps(data, indent=1) + "\n")
            print(f"{file}: {len(history.events)} events")
    finally:
        await env.shutdown()


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: python -m tests.replay.record_fleet NAME")
    asyncio.run(main(sys.argv[1]))
