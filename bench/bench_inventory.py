"""What reading the inventory costs an activity, at 10, 200 and 500 clusters.

Before: every activity called the uncached loader (pure-Python YAML, validation) on the
worker's event loop. After: the cached loader (one ``stat`` while the file is unchanged) and,
on a change, one parse with libyaml in a thread. Also prints how long the event loop is blocked
while 16 activities (one renewal's worth) read the inventory at once.

Run: ``.venv/bin/python -m bench.bench_inventory``. Prints figures; asserts nothing.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import yaml

from activities.clients.inventory import (
    Inventory,
    clear_inventory_cache,
    load_inventory,
    load_inventory_async,
    load_inventory_cached,
)

SIZES = (10, 200, 500)
CALLS_PER_RENEWAL = 16


def cluster(i: int) -> dict[str, Any]:
    """A 4-node cluster (publisher, two subscribers, one IM&P) with a change policy."""
    domain = f"c{i:03d}.example.com"
    account = {"username": "admin", "password": f"file:secrets/c{i:03d}-admin"}
    hosts = [("cucm-pub", "cucm", "publisher"), ("cucm-sub1", "cucm", "subscriber")]
    hosts += [("cucm-sub2", "cucm", "subscriber"), ("imp-pub", "imp", "publisher")]
    return {
        "name": "lab" if i == 1 else f"lab-{i:03d}",
        "version": "15.0.1.11900-23",
        "domain": domain,
        "publisher": f"cucm-pub.{domain}",
        "nodes": [
            {
                "fqdn": f"{h}.{domain}",
                "product": product,
                "role": role,
                "address": f"127.{i // 250}.{i % 250}.{n + 10}",
                "https_port": 8443,
                "ssh_port": 2222,
            }
            for n, (h, product, role) in enumerate(hosts)
        ],
        "credentials": {"os_admin": account, "app_user": dict(account)},
        "tls": {"ca_file": "trust.pem", "ssh_known_hosts": "known_hosts"},
        "change_policy": {
            "approvals": {"plan": {"approver_groups": ["voice-admins"], "required": 1}},
            "windows": [
                {"days": ["sat"], "start": "22:00", "duration_seconds": 14400, "timezone": "UTC"}
            ],
            "health": {"backup": "warn", "disk": "stop"},
        },
    }


def write(dir_: Path, n: int) -> Path:
    """An inventory of ``n`` clusters."""
    path = dir_ / f"clusters-{n}.yaml"
    path.write_text(yaml.safe_dump({"clusters": [cluster(i + 1) for i in range(n)]}))
    return path


def before(path: Path) -> Inventory:
    """The loader as main had it: pure-Python YAML and validation, at every call."""
    data = yaml.safe_load(path.read_text())
    return Inventory.model_validate({**data, "base_dir": str(path.parent)})


def per_call(fn: Callable[[], object], budget: float = 2.0, most: int = 2000) -> float:
    """Median seconds per call of ``fn`` over about ``budget`` seconds (at least 3 calls)."""
    times: list[float] = []
    spent = 0.0
    while (len(times) < 3 or spent < budget) and len(times) < most:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
        spent += times[-1]
    return statistics.median(times)


def cold(path: Path) -> Inventory:
    """One parse with the current loader (libyaml when PyYAML has it), cache emptied first."""
    clear_inventory_cache()
    return load_inventory_cached(path)


async def blocked(read: Callable[[], Awaitable[object]]) -> tuple[float, float]:
    """(longest stall, total stall) of the event loop, in seconds, while one renewal's worth
    of activities read the inventory concurrently; a 1 ms ticker measures the stalls."""
    stop = asyncio.Event()
    stalls: list[float] = []

    async def ticker() -> None:
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            t0 = loop.time()
            await asyncio.sleep(0.001)
            late = loop.time() - t0 - 0.001
            if late > 0.002:
                stalls.append(late)

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0.01)
    await asyncio.gather(*(read() for _ in range(CALLS_PER_RENEWAL)))
    stop.set()
    await task
    return (max(stalls, default=0.0), sum(stalls))


async def on_loop_before(path: Path) -> None:
    """Main's activities: the sync loader called on the event loop."""
    before(path)


def main() -> None:
    print(f"inventory read per activity call ({CALLS_PER_RENEWAL} calls per renewal)")
    print(
        f"{'clusters':>8} {'KiB':>6} {'before':>10} {'cold C':>10} {'uncached':>10} {'cached':>10}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        paths = {n: write(Path(tmp), n) for n in SIZES}
        per_renewal: list[str] = []
        for n, path in paths.items():
            assert load_inventory(path) == before(path)
            t_before = per_call(lambda p=path: before(p))
            t_cold = per_call(lambda p=path: cold(p))
            t_plain = per_call(lambda p=path: load_inventory(p))
            load_inventory_cached(path)
            t_cached = per_call(lambda p=path: load_inventory_cached(p), budget=0.5)
            per_renewal.append(
                f"{n} clusters: {t_before * CALLS_PER_RENEWAL:.1f} s before, "
                f"{(t_cold + t_cached * (CALLS_PER_RENEWAL - 1)) * 1000:.0f} ms after "
                "(one cold parse, then cached)"
            )
            print(
                f"{n:>8} {path.stat().st_size / 1024:>6.0f} {t_before * 1000:>8.1f}ms "
                f"{t_cold * 1000:>8.1f}ms {t_plain * 1000:>8.1f}ms {t_cached * 1e6:>8.1f}us"
            )
        print("(before: pure-Python YAML + validation; cold C: first read of a version with")
        print(" libyaml; uncached: load_inventory, which now uses libyaml too; cached: a stat)")
        print(f"inventory reads of one renewal ({CALLS_PER_RENEWAL} calls):")
        for line in per_renewal:
            print(f"  {line}")
        print()
        print(f"event loop blocked while {CALLS_PER_RENEWAL} activities read the inventory")
        print(f"{'clusters':>8} {'before':>11} {'total':>9} {'after, cold':>11} {'cached':>9}")
        for n, path in paths.items():
            b_max, b_total = asyncio.run(blocked(lambda p=path: on_loop_before(p)))
            clear_inventory_cache()
            a_cold, _ = asyncio.run(blocked(lambda p=path: load_inventory_async(p)))
            a_warm, _ = asyncio.run(blocked(lambda p=path: load_inventory_async(p)))
            print(
                f"{n:>8} {b_max * 1000:>9.1f}ms {b_total * 1000:>7.0f}ms "
                f"{a_cold * 1000:>9.1f}ms {a_warm * 1000:>7.1f}ms"
            )
        print("(longest stall, and total; before, the 16 sync reads stall the loop back to back;")
        print(" after, cold: the first read of a new version, parsed in a thread, which still")
        print(" holds the GIL in part; stalls under 2 ms are not counted)")


if __name__ == "__main__":
    main()
