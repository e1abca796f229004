"""How fast ``ucrenew`` starts: ``ucrenew --help``, and ``ucrenew ls`` against a local Temporal.

Each run is a whole ``ucrenew`` process, start-up and imports included, as an operator sees
it. ``ls`` runs against a headless Temporal dev server this script starts (and stops) on a
free loopback port. Run: ``.venv/bin/python -m bench.bench_cli [runs]``. Prints figures;
asserts nothing.

Figures of the issue-12 work, whole process, median of 10 runs (5 before), 2 shared cores,
``ls`` against ``ucrenew dev up``'s Temporal:

=================  ==========================  ==========================
command            before (eager imports)      after (lazy imports)
=================  ==========================  ==========================
``--help``         1.55 s wall, 1.51 s CPU     0.14 s wall, 0.14 s CPU
``ls``             1.48 s wall, 1.42 s CPU     0.61 s wall, 0.60 s CPU
=================  ==========================  ==========================

``ls`` itself (connect and list) takes about 0.01 s; the rest is importing temporalio's
client and the pydantic data converter, which every command that talks to Temporal needs.
"""

from __future__ import annotations

import asyncio
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from workers.devserver import DevServer, free_loopback_port

UCRENEW = str(Path(sys.executable).parent / "ucrenew")


def timed(args: list[str], env: dict[str, str], runs: int) -> tuple[list[float], list[float]]:
    """Wall and CPU seconds of ``runs`` runs of ``ucrenew args`` (after one warm-up run)."""
    walls: list[float] = []
    cpus: list[float] = []
    for i in range(runs + 1):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        done = subprocess.run(
            [UCRENEW, *args], env=env, capture_output=True, text=True, check=False
        )
        wall = time.perf_counter() - t0
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if done.returncode != 0:
            raise SystemExit(f"ucrenew {' '.join(args)} failed: {done.stderr}")
        if i:  # the first run warms the file cache
            walls.append(wall)
            cpus.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    return walls, cpus


def show(label: str, walls: list[float], cpus: list[float]) -> None:
    print(
        f"{label:16} wall median {statistics.median(walls):.3f}s "
        f"(min {min(walls):.3f}, max {max(walls):.3f}); "
        f"CPU median {statistics.median(cpus):.3f}s over {len(walls)} runs"
    )


async def main(runs: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, UCRENEW_STATE_DIR=str(Path(tmp) / "state"))
        show("ucrenew --help", *timed(["--help"], env, runs))
        async with DevServer(Path(tmp) / "temporal", port=free_loopback_port()) as server:
            env["UCRENEW_TEMPORAL_ADDRESS"] = server.address
            show("ucrenew ls", *await asyncio.to_thread(timed, ["ls"], env, runs))
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 10))
