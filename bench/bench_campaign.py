"""What a campaign costs Temporal: N clusters, at most L renewals at once, on the embedded dev
server, with stand-in renewals (a workflow named like the renewal that waits a moment and
ends, one in ``--fail-every`` failing) so the figures are the campaign's own: wall time,
renewals per minute through the parent, history events per cluster, runs (continue-as-new)
and the peak of renewals in flight read back from the histories (never above L).

Run: ``.venv/bin/python -m bench.bench_campaign [clusters] [limit]`` (default 200 and 20).
Prints figures; asserts nothing.

Figures (2 shared cores, embedded dev server, one in-process worker):

===============  =======  ============  ===========  ====  ==================  ========
clusters         limit    wall          renewals/min runs  events per cluster  peak
===============  =======  ============  ===========  ====  ==================  ========
20               5        6.3 s         190          1     12.1                5
200              20       17.6 s        681          1     10.0                20
500              50       50.8 s        591          3     9.8                 30
===============  =======  ============  ===========  ====  ==================  ========

At 500 clusters the stand-in renewals (0.5 s) end faster than one worker starts new ones,
so the peak stays below the limit: the limit is a ceiling, never exceeded.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
import uuid
from pathlib import Path

from temporalio import activity
from temporalio.api.enums.v1 import EventType
from temporalio.worker import Worker

from activities.cluster_models import OtherRenewalsRequest, OtherRenewalsResult
from activities.fleet_models import FleetInventory, FleetInventoryRequest, FleetTarget
from bench.campaign_standin import FAIL_EVERY, StandInRenewal
from workers.devserver import DevServer, free_loopback_port
from workflows.campaign import CampaignWorkflow
from workflows.campaign_models import CampaignInput


def activities(clusters: int) -> list[object]:
    targets = [
        FleetTarget(cluster=f"bench-{i}", version="14.0.1.13900-155", tags=["bench"])
        for i in range(clusters)
    ]

    @activity.defn(name="fleet_inventory")
    async def fleet_inventory(req: FleetInventoryRequest) -> FleetInventory:
        return FleetInventory(targets=targets)

    @activity.defn(name="find_other_renewals")
    async def find_other_renewals(req: OtherRenewalsRequest) -> OtherRenewalsResult:
        return OtherRenewalsResult()

    return [fleet_inventory, find_other_renewals]


async def main(clusters: int, limit: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        async with DevServer(Path(tmp) / "temporal", port=free_loopback_port()) as server:
            client = await server.connect()
            tq = f"bench-{uuid.uuid4()}"
            async with Worker(
                client,
                task_queue=tq,
                workflows=[CampaignWorkflow, StandInRenewal],
                activities=activities(clusters),
                max_concurrent_workflow_tasks=50,
            ):
                inp = CampaignInput(
                    campaign_id=f"BENCH-{uuid.uuid4().hex[:6]}",
                    purposes=["tomcat"],
                    selection={"tags": ["bench"]},
                    limit=limit,
                    stop_after_failures=0,
                )
                began = time.perf_counter()
                handle = await client.start_workflow(
                    CampaignWorkflow.run, inp, id=inp.campaign_id, task_queue=tq
                )
                result = await handle.result()
                wall = time.perf_counter() - began
                events = peak = running = runs = 0
                async for wf in client.list_workflows(f"WorkflowId = '{inp.campaign_id}'"):
                    runs += 1
                    run = client.get_workflow_handle(wf.id, run_id=wf.run_id)
                    async for e in run.fetch_history_events():
                        events += 1
                        if e.event_type == EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_STARTED:
                            running += 1
                            peak = max(peak, running)
                        elif e.event_type in (
                            EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_COMPLETED,
                            EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_FAILED,
                        ):
                            running -= 1
    c = result.counts
    print(f"clusters {clusters}, limit {limit}, stand-in renewal 0.5 s, 1 in {FAIL_EVERY} fails")
    print(f"  done {c.done}, failed {c.failed}, skipped {c.skipped}, phase {result.phase}")
    print(f"  wall {wall:.1f} s, {clusters / wall * 60:.0f} renewals/min through the campaign")
    print(f"  runs {result.runs} (listed {runs}), history events {events} in all, "
          f"{events / clusters:.1f} per cluster")  # fmt: skip
    print(f"  peak renewals in flight (from the histories): {peak} (limit {limit})")


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:3]]
    asyncio.run(main(*(args + [200, 20][len(args) :])))
