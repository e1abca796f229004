"""Restart-phase time of a tomcat change, sequential vs capped waves, on a 4-node and a 10-node
lab. Run: ``.venv/bin/python -m bench.bench_restarts [--scale S] [--parallel N] [--nodes 4 10]``.

Each case is a whole tomcat renewal on the lab (local CA, SSO off) through the Temporal dev
server and a worker; the restart phase is read from the renewal's history: from the first
``restart_service`` scheduled to the last one completed. The lab runs the realistic timing
profile scaled by ``scale`` (default 0.02: a 135 s Tomcat restart takes 2.7 s), so the four
cases take about a minute; the measured phase is also divided by ``scale`` to read it in
realistic seconds. Next to it, the figure the lab's realistic constants give for the plan's
waves: per wave, the CLI's banner delay plus Tomcat's stopping and starting times (cases on
realistic timing would take 40 minutes). Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle

from lab import topology
from lab.server import Lab
from lab.timing import REALISTIC, TimingProfile
from workers.devserver import DevServer, free_loopback_port
from workers.settings import UcrenewSettings
from workers.wiring import build_worker
from workflows import search_attributes as sa
from workflows.models import RenewalInput, RenewalOptions, RenewalStatus
from workflows.renewal import CertRenewalWorkflow

TOMCAT = "Cisco Tomcat"


def spec_of(cucm_subs: int, imp_nodes: int, network: str) -> topology.TopologySpec:
    """A lab cluster: CUCM publisher, ``cucm_subs`` subscribers, ``imp_nodes`` IM&P nodes."""
    nodes: list[dict[str, Any]] = [{"hostname": "cucm-pub", "product": "cucm", "publisher": True}]
    nodes += [{"hostname": f"cucm-sub{i}", "product": "cucm"} for i in range(1, cucm_subs + 1)]
    nodes += [
        {"hostname": "imp-pub" if i == 0 else f"imp-sub{i}", "product": "imp", "publisher": i == 0}
        for i in range(imp_nodes)
    ]
    data = topology.load().model_dump()
    data.update({"network": network, "nodes": nodes, "sso_enabled": False})
    data.pop("cm_groups", None)
    data.pop("device_pools", None)
    return topology.TopologySpec.model_validate(data)


def realistic_node_seconds(profile: TimingProfile = REALISTIC) -> float:
    """One node's Tomcat restart on the lab's realistic timing: CLI banner, stop, start."""
    tomcat = profile.for_service(TOMCAT)
    return profile.cli_banner_delay + tomcat.stopping + tomcat.starting


async def restart_phase_seconds(handle: WorkflowHandle[Any, Any]) -> float:
    """First restart_service scheduled to last restart_service completed, from history."""
    scheduled: dict[int, datetime] = {}
    first: datetime | None = None
    last: datetime | None = None
    async for event in handle.fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            attrs = event.activity_task_scheduled_event_attributes
            if attrs.activity_type.name == "restart_service":
                at = event.event_time.ToDatetime(UTC)
                scheduled[event.event_id] = at
                first = at if first is None else min(first, at)
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            done = event.activity_task_completed_event_attributes
            if done.scheduled_event_id in scheduled:
                at = event.event_time.ToDatetime(UTC)
                last = at if last is None else max(last, at)
    if first is None or last is None:
        raise RuntimeError("the renewal restarted nothing")
    return (last - first).total_seconds()


async def run_case(
    server: DevServer,
    root: Path,
    name: str,
    spec: topology.TopologySpec,
    profile: TimingProfile,
    parallel: int,
    scale: float,
) -> tuple[float, float, int]:
    """One renewal: (restart phase in s, wall time of the renewal in s, waves)."""
    state = root / name
    async with Lab(spec, state / "lab", profile):
        client = await server.connect()
        settings = UcrenewSettings(state_dir=state, inventory=state / "lab" / "inventory.yaml")
        queue = f"bench-restarts-{uuid.uuid4()}"
        async with build_worker(client, settings, queue):
            change = f"BENCH-RESTARTS-{name}-{uuid.uuid4().hex[:6]}"
            inp = RenewalInput(
                change_id=change,
                cluster=spec.cluster,
                requested_by="bench",
                options=RenewalOptions(
                    # The default 5 s poll, scaled like the lab's timing.
                    restart_poll_seconds=max(0.05, 5.0 * scale),
                    restart_parallel=parallel,
                ),
            )
            t0 = time.perf_counter()
            handle: WorkflowHandle[Any, RenewalStatus] = await client.start_workflow(
                CertRenewalWorkflow.run,
                inp,
                id=change,
                task_queue=queue,
                search_attributes=sa.start_attributes(spec.cluster, change, ["tomcat"]),
            )
            try:
                status = await asyncio.wait_for(handle.result(), 900)
            except BaseException:
                # No bench renewal is left running on the dev server.
                with contextlib.suppress(Exception):
                    await handle.terminate("bench stopped")
                raise
            wall = time.perf_counter() - t0
            if status.phase != "done":
                raise RuntimeError(f"{name}: the renewal ended {status.phase}: {status.error}")
            waves = len(status.plan.restarts.waves) if status.plan and status.plan.restarts else 0
            return await restart_phase_seconds(handle), wall, waves


async def main(scale: float, cap: int, sizes: list[int]) -> None:
    profile = REALISTIC.scaled(scale, name=f"realistic x{scale:g}")
    per_node = realistic_node_seconds()
    print(
        f"lab timing: realistic scaled x{scale:g}; one Tomcat restart on realistic timing = "
        f"{per_node:.0f} s (CLI banner {REALISTIC.cli_banner_delay:g} s + stopping "
        f"{REALISTIC.for_service(TOMCAT).stopping:g} s + starting "
        f"{REALISTIC.for_service(TOMCAT).starting:g} s)"
    )
    topologies = {
        label: shape
        for size, (label, shape) in {
            4: ("4 nodes (pub, 2 subs, IM&P pub)", (2, 1)),
            10: ("10 nodes (pub, 6 subs, IM&P pub + 2 subs)", (6, 3)),
        }.items()
        if size in sizes
    }
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        async with DevServer(root / "temporal", port=free_loopback_port()) as server:
            for n, (label, (subs, imps)) in enumerate(topologies.items()):
                print(label)
                for mode, parallel in (("sequential", 1), (f"capped {cap}", cap)):
                    spec = spec_of(subs, imps, f"127.58.{10 + n * 2 + (parallel > 1)}.0/24")
                    phase, wall, waves = await run_case(
                        server, root, f"{n}-{parallel}", spec, profile, parallel, scale
                    )
                    print(
                        f"  {mode:<11} {waves:>2} waves: restart phase {phase:6.2f} s measured "
                        f"(= {phase / scale:5.0f} s realistic), {waves * per_node:5.0f} s from "
                        f"the lab's constants; whole renewal {wall:5.1f} s"
                    )


def _args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_restarts")
    parser.add_argument(
        "--scale", type=float, default=0.02, help="factor on the realistic timing (1: as is)"
    )
    parser.add_argument("--parallel", type=int, default=3, help="max_parallel of capped waves")
    parser.add_argument(
        "--nodes", type=int, nargs="+", choices=(4, 10), default=[4, 10], help="lab sizes"
    )
    args = parser.parse_args(argv)
    if args.scale <= 0 or args.parallel < 2:
        parser.error("--scale must be above 0 and --parallel at least 2")
    return args


if __name__ == "__main__":
    options = _args(sys.argv[1:])
    asyncio.run(main(options.scale, options.parallel, options.nodes))
