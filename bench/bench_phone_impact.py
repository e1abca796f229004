"""Phone impact of a CallManager renewal: the rolling plan against the naive one.

The same CallManager multi-server renewal runs through the real workflow (Temporal dev server,
worker, lab over sockets) on a fresh lab cluster each time: CUCM 12.5 (CallManager,
CTIManager, TVS and TFTP restart), four CUCM nodes, two CallManager groups, 2,000 phones
(half SCCP, half SIP). ``restart_strategy=rolling`` uses ucrenew's planner and health gates;
``naive`` restarts every node at once, as the manual procedure does. The lab's journal gives
phone-unregistered-seconds (sum over phones of time without a registration) and the peak
fraction of phones unregistered at once, from the first restart until every phone is back.

Run: ``.venv/bin/python -m bench.bench_phone_impact [RUNS [SCALE]]`` (defaults 1 and 0.01: the
realistic timing at 1/100 speed). Prints figures; asserts nothing.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from lab import topology
from lab.server import Lab
from lab.timing import REALISTIC
from workers.devserver import DevServer, free_loopback_port
from workers.settings import UcrenewSettings
from workers.wiring import build_worker
from workflows import search_attributes as sa
from workflows.models import ApprovalInput, RenewalInput, RenewalOptions
from workflows.renewal import CertRenewalWorkflow

PHONES = 2000
#: The realistic profile (CallManager restart ~110 s, SIP keepalive 120 s, ITL resets in
#: batches) at 1/100 of real time: the proportions that decide the figures are kept.
SCALE = 0.01


def spec(network: str) -> topology.TopologySpec:
    """Four CUCM nodes, two groups sharing their secondary, 2,000 phones."""
    return topology.TopologySpec.model_validate(
        {
            "cluster": "lab",
            "version": "12.5.1.14900-63",
            "network": network,
            "sso_enabled": False,
            "nodes": [
                {"hostname": "cucm-pub", "publisher": True},
                {"hostname": "cucm-sub1"},
                {"hostname": "cucm-sub2"},
                {"hostname": "cucm-sub3"},
            ],
            "cm_groups": [
                {"name": "G1", "members": ["cucm-sub1", "cucm-sub3", "cucm-pub"]},
                {"name": "G2", "members": ["cucm-sub2", "cucm-sub3", "cucm-pub"]},
            ],
            "device_pools": [
                {"name": "DP-HQ", "cm_group": "G1", "sccp": PHONES // 4, "sip": PHONES // 4},
                {"name": "DP-BR", "cm_group": "G2", "sccp": PHONES // 4, "sip": PHONES // 4},
            ],
            "adcs": {"enabled": False},
        }
    )


async def one_run(
    client: Any, root: Path, strategy: str, network: str, scale: float = SCALE
) -> dict[str, float]:
    state = root / strategy
    async with Lab(spec(network), state / "lab", REALISTIC.scaled(scale)) as lab:
        # Every phone registered before the change (polled: the lab has no such event).
        while lab.phones.metrics().phones < PHONES or lab.phones.peak_unregistered_fraction(  # noqa: ASYNC110
            since=time.time() - 0.2
        ):
            await asyncio.sleep(0.05)
        settings = UcrenewSettings(state_dir=state, inventory=state / "lab" / "inventory.yaml")
        queue = f"bench-{uuid.uuid4()}"
        now = datetime.now(UTC)
        change = f"BENCH-{strategy}-{uuid.uuid4().hex[:6]}"
        inp = RenewalInput(
            change_id=change,
            cluster="lab",
            purposes=["CallManager"],
            requested_by="bench-requester",
            windows=[
                {
                    "start": (now - timedelta(hours=1)).isoformat(),
                    "end": (now + timedelta(hours=6)).isoformat(),
                }
            ],
            options=RenewalOptions(
                restart_strategy=strategy,  # type: ignore[arg-type]
                restart_poll_seconds=0.05,
                health_poll_seconds=0.05,
            ),
        )
        async with build_worker(client, settings, queue):
            handle = await client.start_workflow(
                CertRenewalWorkflow.run,
                inp,
                id=change,
                task_queue=queue,
                search_attributes=sa.start_attributes("lab", change, ["CallManager"]),
            )
            while (await handle.query(CertRenewalWorkflow.get_status)).awaiting != "approval":  # noqa: ASYNC110
                await asyncio.sleep(0.02)
            since = time.time()
            await handle.execute_update(
                CertRenewalWorkflow.approve,
                ApprovalInput(principal="bench-approver", comment="benchmark"),
            )
            status = await handle.result()
            waves = len(status.plan.restarts.waves) if status.plan and status.plan.restarts else 0
        # Let every phone come home (fallback, ITL resets) before closing the books.
        deadline = time.time() + 30
        while time.time() < deadline:
            m = lab.phones.metrics(since=time.time() - 0.5)
            if m.peak_unregistered == 0:
                break
            await asyncio.sleep(0.1)
        until = time.time()
        metrics = lab.phones.metrics(since=since, until=until)
    by_reason = metrics.unregistered_seconds_by_reason
    # Phones reset to fetch the new ITL once TFTP serves it: a cost of the certificate
    # change itself, which any restart order pays. The rest comes from the restarts.
    resets = sum(v for k, v in by_reason.items() if k.startswith("reset:"))
    return {
        # Seconds of the realistic profile (the lab ran at `scale` of real time).
        "unregistered_seconds": metrics.unregistered_seconds / scale,
        "reset_seconds": resets / scale,
        "restart_seconds": (metrics.unregistered_seconds - resets) / scale,
        "peak": metrics.peak_unregistered_fraction,
        "waves": waves,
        "wall": (until - since) / scale,
    }


async def main(runs: int, scale: float = SCALE) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        async with DevServer(root / "temporal", port=free_loopback_port()) as server:
            client = await server.connect()
            results: dict[str, list[dict[str, float]]] = {"rolling": [], "naive": []}
            for i in range(runs):
                for n, strategy in enumerate(("rolling", "naive")):
                    network = f"127.198.{n}.0/24"
                    r = await one_run(client, root / f"run{i}", strategy, network, scale)
                    results[strategy].append(r)
                    print(
                        f"run {i} {strategy:7}: {r['waves']:.0f} wave(s), phone-unregistered-"
                        f"seconds {r['unregistered_seconds']:,.0f} = restarts "
                        f"{r['restart_seconds']:,.0f} + ITL resets {r['reset_seconds']:,.0f}, "
                        f"peak unregistered {r['peak']:.1%}, change took {r['wall']:,.0f}s "
                        "(realistic time)"
                    )

    def mean(strategy: str, key: str) -> float:
        return sum(r[key] for r in results[strategy]) / runs

    def ratio(key: str) -> str:
        roll = mean("rolling", key)
        return f"{mean('naive', key) / roll:.1f}x" if roll else "n/a"

    floor = PHONES * REALISTIC.phones.reset_duration
    print(
        f"mean over {runs} run(s), {PHONES} phones, 4 CUCM nodes, 2 groups, CUCM 12.5, realistic "
        f"timing at 1/{1 / scale:.0f} speed (phone-unregistered-seconds):\n"
        f"  whole change   rolling {mean('rolling', 'unregistered_seconds'):>9,.0f}   naive "
        f"{mean('naive', 'unregistered_seconds'):>9,.0f}   ratio {ratio('unregistered_seconds')}\n"
        f"  restarts       rolling {mean('rolling', 'restart_seconds'):>9,.0f}   naive "
        f"{mean('naive', 'restart_seconds'):>9,.0f}   ratio {ratio('restart_seconds')}\n"
        f"  ITL resets     rolling {mean('rolling', 'reset_seconds'):>9,.0f}   naive "
        f"{mean('naive', 'reset_seconds'):>9,.0f}   (every phone resets once: "
        f"{PHONES} x {REALISTIC.phones.reset_duration:.0f}s = {floor:,.0f}, in any plan)\n"
        f"  peak unregistered rolling {max(r['peak'] for r in results['rolling']):.1%}, naive "
        f"{max(r['peak'] for r in results['naive']):.1%}"
    )


if __name__ == "__main__":
    asyncio.run(
        main(
            int(sys.argv[1]) if len(sys.argv) > 1 else 1,
            float(sys.argv[2]) if len(sys.argv) > 2 else SCALE,
        )
    )
