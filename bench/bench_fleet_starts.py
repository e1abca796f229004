"""The scan that starts renewals, at fleet size: N clusters all due, starts spread by jitter.

On the time-skipping server with stub reads (no lab: this measures the scan's own workflow,
not discovery): the parent scan's history events, the result's size, the starts per minute of
the jitter window, and the wall time. Run: ``.venv/bin/python -m bench.bench_fleet_starts
[clusters] [jitter minutes] [--dry]`` (default 300 and 30; ``--dry``: the scan only says what
would start, for the events the starts add). Prints figures; asserts nothing.

Figures (2 shared cores, 30-minute window): 300 clusters all due: 2,711 history events (9.0
per cluster; 1,313 without the starts), 121 KiB result, starts over 29 min, at most 14 in a
minute; 500: 4,307 events (8.6 per cluster; 2,150 without), 201 KiB (411 B per cluster), at
most 23 in a minute (16.7 even), 20 s wall. Limits then: Temporal warns at 10,240 events
(about 1,150 clusters due in one scan) and refuses a 2 MB result (about 5,000 clusters).

Since the scan continues as new (``operations_per_run`` 500; events are summed over its runs,
and the largest run is what Temporal's limits apply to), on 2 cores shared with other
benchmarks and test suites (load average 11-16): 500 clusters, 2 runs, 4,465 events, largest
run 2,274, 201 KiB, at most 23 starts in a minute, 42 s wall; 2,000 clusters, 9 runs, 16,239
events (8.1 per cluster), largest run 2,200, 803 KiB result, at most 83 starts in a minute
(66.7 even), 162 s wall. Offsets are whole minutes, so "in one second" is one minute's group
started together. The 2 MB result (about 5,000 clusters) is still the limit.
"""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from collections import Counter
from datetime import timedelta

from temporalio import activity
from temporalio.api.enums.v1 import EventType
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.cluster_models import ClusterRef, ClusterSnapshot, DiscoverRequest, NodeSnapshot
from activities.fleet_models import (
    AutoRenewPolicy,
    FleetInventory,
    FleetInventoryRequest,
    FleetTarget,
    LastRenewals,
)
from activities.models import CertificateInfo
from workers.binaries import temporal_test_server_path
from workers.converter import make_data_converter
from workflows.fleet_models import (
    AutoRenewOutcome,
    AutoRenewStartRequest,
    FleetScanRequest,
    FleetScanResult,
)
from workflows.fleet_scan import FleetClusterScanWorkflow, FleetScanWorkflow


def _activities(names: list[str], starts: list[float]) -> list[object]:
    @activity.defn(name="fleet_inventory")
    async def fleet_inventory(req: FleetInventoryRequest) -> FleetInventory:
        policy = AutoRenewPolicy(enabled=True)
        return FleetInventory(
            targets=[
                FleetTarget(cluster=n, version="14.0.1.13900-155", products=["cucm"],
                            auto_renew=policy)
                for n in (req.clusters or names)
            ]
        )  # fmt: skip

    @activity.defn(name="discover_cluster")
    async def discover_cluster(req: DiscoverRequest) -> ClusterSnapshot:
        now = activity.info().current_attempt_scheduled_time
        fqdns = [f"cucm{i}.{req.cluster}.example.com" for i in range(4)]
        info = CertificateInfo(
            subject_cn=fqdns[0], subject=f"CN={fqdns[0]}", issuer="CN=Issuing CA",
            serial_hex="1", sha256_fingerprint=f"fp-{req.cluster}",
            not_before=now - timedelta(days=340), not_after=now + timedelta(days=25),
            san_dns=fqdns, has_san=True, key_type="RSA", pem="",
        )  # fmt: skip
        nodes = [NodeSnapshot(fqdn=f, https_ok=True, certificates={"tomcat": info}) for f in fqdns]
        return ClusterSnapshot(cluster=req.cluster, taken_at=now, nodes=nodes)

    @activity.defn(name="last_renewed_certificates")
    async def last_renewed_certificates(ref: ClusterRef) -> LastRenewals:
        return LastRenewals(cluster=ref.cluster)

    @activity.defn(name="start_scheduled_renewal")
    async def start_scheduled_renewal(req: AutoRenewStartRequest) -> AutoRenewOutcome:
        starts.append(activity.info().current_attempt_scheduled_time.timestamp())
        return AutoRenewOutcome(status="started", change_id=req.change_id)

    return [fleet_inventory, discover_cluster, last_renewed_certificates, start_scheduled_renewal]


async def _events_per_run(env: WorkflowEnvironment, scan_id: str, run_id: str | None) -> list[int]:
    """History events of each run of the scan, following its continue-as-new chain."""
    counts: list[int] = []
    while run_id:
        history = await env.client.get_workflow_handle(scan_id, run_id=run_id).fetch_history()
        counts.append(len(history.events))
        last = history.events[-1]
        run_id = (
            last.workflow_execution_continued_as_new_event_attributes.new_execution_run_id
            if last.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW
            else None
        )
    return counts


async def main(clusters: int, jitter_minutes: int, dry: bool) -> None:
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=make_data_converter(),
        test_server_existing_path=str(temporal_test_server_path()),
    )
    names = [f"cluster-{i:04d}" for i in range(clusters)]
    starts: list[float] = []
    try:
        tq = f"bench-{uuid.uuid4()}"
        async with Worker(
            env.client,
            task_queue=tq,
            workflows=[FleetScanWorkflow, FleetClusterScanWorkflow],
            activities=_activities(names, starts),  # type: ignore[arg-type]
            max_cached_workflows=clusters + 10,
        ):
            began = time.perf_counter()
            handle = await env.client.start_workflow(
                FleetScanWorkflow.run,
                FleetScanRequest(
                    start_renewals=not dry,
                    jitter_seconds=jitter_minutes * 60,
                    concurrency=16,
                ),
                id=f"bench-scan-{uuid.uuid4().hex[:8]}",
                task_queue=tq,
                result_type=FleetScanResult,
            )
            result = await handle.result()
            wall = time.perf_counter() - began
            per_run = await _events_per_run(env, handle.id, handle.result_run_id)
    finally:
        await env.shutdown()
    started = sum(1 for e in result.clusters if e.auto_renew and e.auto_renew.status == "started")
    first = min(starts, default=0.0)
    # Offsets are whole minutes: each start counts in the minute nearest to it (a start a
    # fraction of a second late is still its minute's).
    per_minute = Counter(round((s - first) / 60) for s in starts)
    same_second = Counter(int(s) for s in starts)
    size = len(result.model_dump_json())
    print(f"clusters: {clusters}, all due; jitter window {jitter_minutes} min")
    print(f"renewals started: {started} (one per cluster); runs: {result.runs}")
    events = sum(per_run)
    print(f"scan history: {events} events in {len(per_run)} run(s) ({events / clusters:.1f} "
          f"per cluster); largest run {max(per_run)} events (warning at 10,240)")  # fmt: skip
    print(f"scan result: {size / 1024:.1f} KiB ({size / clusters:.0f} B per cluster)")
    if starts:
        print(f"starts spread over {(max(starts) - first) / 60:.1f} min; most in one minute: "
              f"{max(per_minute.values())} (even spread: "
              f"{clusters / max(jitter_minutes, 1):.1f}); most in one second: "
              f"{max(same_second.values())}")  # fmt: skip
    print(f"wall time on this machine (time-skipping server, stub reads): {wall:.1f} s")


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a != "--dry"]
    n = int(args[0]) if args else 300
    window = int(args[1]) if len(args) > 1 else 30
    asyncio.run(main(n, window, "--dry" in sys.argv[1:]))
