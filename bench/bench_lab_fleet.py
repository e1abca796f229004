"""A lab of many clusters in one process: start time and memory per twin at 10, 50, 100.

Each size runs in a fresh process (so memory is that lab's alone): the default 4-node
topology, fast timing, clusters on 127.60.0.0/24, 127.60.1.0/24, …, one control API and one
inventory; the smallest size once more with every twin making its own install keys. Prints
the wall time until every node of every cluster serves and the inventory is
written, the resident memory the twins added, and both per twin.

Run: ``.venv/bin/python -m bench.bench_lab_fleet [N ...]``. Prints figures; asserts nothing.
"""

from __future__ import annotations

import asyncio
import gc
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from lab import topology
from lab.fleet import LabFleet, fleet_specs
from lab.timing import FAST

SIZES = (10, 50, 100)
NETWORK = "127.60.0.0/24"


def rss_kib() -> int:
    """This process's resident memory, KiB (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


async def one(count: int, shared_keys: bool = True) -> dict[str, float]:
    """Start and stop a lab of ``count`` clusters; its figures."""
    base = topology.load().model_copy(update={"network": NETWORK})
    specs = fleet_specs(base, count)
    gc.collect()
    rss0 = rss_kib()
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        fleet = LabFleet(specs, Path(tmp) / "lab", FAST, shared_install_keys=shared_keys)
        await fleet.start()
        ready = time.perf_counter() - t0
        try:
            await asyncio.sleep(1.0)  # the phones' first registrations settle
            gc.collect()
            rss = rss_kib() - rss0
            inventory_kib = fleet.inventory_path.stat().st_size / 1024
        finally:
            t1 = time.perf_counter()
            await fleet.stop()
            stop = time.perf_counter() - t1
    return {
        "clusters": count,
        "ready_s": ready,
        "ready_per_twin_ms": ready / count * 1000,
        "rss_mib": rss / 1024,
        "rss_per_twin_mib": rss / count / 1024,
        "stop_s": stop,
        "inventory_kib": inventory_kib,
    }


def main(sizes: list[int]) -> None:
    print("lab of N clusters in one process (default 4-node topology, fast timing)")
    print(
        f"{'clusters':>8} {'ready':>8} {'per twin':>9} {'memory':>9} {'per twin':>9} "
        f"{'stop':>6} {'inventory':>10}"
    )
    runs = [(n, True) for n in sizes] + [(min(sizes), False)]
    for n, shared in runs:
        out = subprocess.run(
            [sys.executable, "-m", "bench.bench_lab_fleet", "--one", str(n), str(int(shared))],
            capture_output=True,
            text=True,
            check=False,
        )
        if out.returncode != 0:
            print(f"{n:>8} failed: {out.stderr.strip().splitlines()[-1:]}")
            continue
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(
            f"{n:>8} {r['ready_s']:>7.1f}s {r['ready_per_twin_ms']:>7.0f}ms "
            f"{r['rss_mib']:>7.0f}MiB {r['rss_per_twin_mib']:>7.1f}MiB "
            f"{r['stop_s']:>5.1f}s {r['inventory_kib']:>8.0f}KiB"
            + ("" if shared else "  (every twin makes its own install keys)")
        )


if __name__ == "__main__":
    if sys.argv[1:2] == ["--one"]:
        print(json.dumps(asyncio.run(one(int(sys.argv[2]), sys.argv[3:4] != ["0"]))))
    else:
        main([int(a) for a in sys.argv[1:]] or list(SIZES))
