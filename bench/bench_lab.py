"""Lab start-up time and a full Cisco Tomcat restart cycle of every node, fast profile.

Run: ``.venv/bin/python -m bench.bench_lab``. Prints figures; asserts nothing.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from lab import topology
from lab.server import Lab
from lab.timing import FAST


async def once(root: Path, i: int) -> tuple[float, float, float]:
    spec = topology.load().model_copy(update={"network": f"127.{200 + i}.1.0/24"})
    t0 = time.perf_counter()
    lab = Lab(spec, root / f"lab{i}", FAST)
    await lab.start()
    ready = time.perf_counter() - t0
    try:
        t1 = time.perf_counter()
        for node in lab.cluster.nodes:
            svc = lab.cluster.control(node, "Cisco Tomcat", "restart", "bench")
            assert svc.task is not None
            await svc.task
        cycle = time.perf_counter() - t1
        timing = FAST.for_service("Cisco Tomcat")
        slept = (timing.stopping + timing.starting) * len(lab.cluster.nodes)
    finally:
        await lab.stop()
    return ready, cycle, slept


async def main(runs: int = 5) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        results = [await once(Path(tmp), i) for i in range(runs)]
    ready = [r[0] for r in results]
    cycle = [r[1] for r in results]
    print(
        f"lab ready (default 4-node topology, real keys and listeners): "
        f"median {statistics.median(ready):.2f}s, max {max(ready):.2f}s over {runs} runs"
    )
    print(
        f"Cisco Tomcat restart of all 4 nodes, one after another (fast profile): "
        f"median {statistics.median(cycle) * 1000:.0f} ms wall, of which "
        f"{results[0][2] * 1000:.0f} ms configured sleep"
    )


if __name__ == "__main__":
    asyncio.run(main())
