"""``ucrenew plan`` on the lab: the dry run in the CLI's process (as before PlanWorkflow) and
through Temporal on a worker (PlanWorkflow, as now), fast profile, default 4-node topology.

Run: ``.venv/bin/python -m bench.bench_plan``. Prints figures; asserts nothing.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from activities.clients.cucm.discovery import discover
from activities.clients.inventory import load_inventory
from activities.cluster_models import ChangePolicy, OtherRenewalsResult
from console.planning import dry_run_report
from lab import topology
from lab.server import Lab
from lab.timing import FAST
from workers.devserver import DevServer, free_loopback_port
from workers.settings import UcrenewSettings
from workers.wiring import build_worker, trust_store
from workflows.models import PlanRequest
from workflows.plan import dry_run


async def in_process(settings: UcrenewSettings) -> float:
    """The former ``ucrenew plan``: discovery from the CLI's own process."""
    t0 = time.perf_counter()
    inventory = load_inventory(settings.inventory_path)
    snapshot = await discover(
        inventory, "lab", files=trust_store(settings).files("lab"), purposes=["tomcat"]
    )
    policy = ChangePolicy.of(inventory.cluster("lab"))
    dry_run(PlanRequest(cluster="lab"), snapshot, policy, OtherRenewalsResult(), datetime.now(UTC))
    return time.perf_counter() - t0


def cli(env: dict[str, str], *args: str) -> float:
    """``ucrenew ARGS`` as an operator runs it: a process of its own (imports included)."""
    t0 = time.perf_counter()
    subprocess.run(
        [str(Path(sys.executable).parent / "ucrenew"), *args],
        env=env,
        capture_output=True,
        check=True,
    )
    return time.perf_counter() - t0


async def main(runs: int = 5) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        spec = topology.load().model_copy(update={"network": "127.62.1.0/24"})
        async with (
            Lab(spec, root / "state" / "lab", FAST),
            DevServer(root / "temporal", port=free_loopback_port()) as server,
        ):
            settings = UcrenewSettings(
                state_dir=root / "state", inventory=root / "state" / "lab" / "inventory.yaml"
            )
            client = await server.connect()
            queue = f"bench-{uuid.uuid4()}"
            before = [await in_process(settings) for _ in range(runs)]
            async with build_worker(client, settings, queue):
                after = []
                for _ in range(runs):
                    t0 = time.perf_counter()
                    await dry_run_report(client, queue, "lab", ["tomcat"])
                    after.append(time.perf_counter() - t0)
                env = dict(os.environ)
                env.update(
                    UCRENEW_STATE_DIR=str(settings.state_dir),
                    UCRENEW_INVENTORY=str(settings.inventory_path),
                    UCRENEW_TEMPORAL_ADDRESS=server.address,
                    UCRENEW_TASK_QUEUE=queue,
                )
                whole = [await asyncio.to_thread(cli, env, "plan", "lab") for _ in range(runs)]
                bare = [await asyncio.to_thread(cli, env, "--help") for _ in range(runs)]
    print(
        f"dry run in the CLI's process (before): median {statistics.median(before):.2f}s, "
        f"max {max(before):.2f}s over {runs} runs"
    )
    print(
        f"dry run on a worker through Temporal (PlanWorkflow, now): median "
        f"{statistics.median(after):.2f}s, max {max(after):.2f}s over {runs} runs"
    )
    print(
        f"`ucrenew plan lab` as a process (imports, connect, PlanWorkflow, rendering): median "
        f"{statistics.median(whole):.2f}s, max {max(whole):.2f}s over {runs} runs"
    )
    print(
        f"`ucrenew --help` as a process (the CLI's start-up alone): median "
        f"{statistics.median(bare):.2f}s over {runs} runs"
    )


if __name__ == "__main__":
    asyncio.run(main())
