"""Phone impact of a CallManager renewal: the rolling plan against the naive one.

The same CallManager multi-server renewal runs through the real workflow (Temporal dev server,
worker, lab over sockets) on a fresh lab cluster each time: CUCM 12.5 (CallManager,
CTIManager, TVS and TFTP restart), four CUCM nodes, two CallManager groups, 2,000 phones
(half SCCP, half SIP). Three plans:

- ``rolling``: ucrenew's planner and health gates; TVS and TFTP first, then ucrenew resets
  the phones in gated batches (AXL), then the CallManager waves (the default);
- ``rolling-cucm-resets``: the same waves with TFTP last, leaving the phone resets to CUCM
  (``--no-phone-resets``);
- ``naive``: every node at once, as the manual procedure does.

The lab's journal gives phone-unregistered-seconds (sum over phones of time without a
registration), split into what the restarts caused and what the ITL resets caused, the peak
fraction of phones unregistered at once, and the secure phones refused by a node (mixed
mode), from the approval of the restarts until every phone is back.

Run: ``.venv/bin/python -m bench.bench_phone_impact [--runs N] [--scale S] [--mixed]``
(defaults 1 run, 0.05: the realistic timing at 1/20 speed; ``--mixed``: mixed mode with a
quarter of the phones secure). Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
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
#: batches) at 1/20 of real time: the proportions that decide the figures are kept. Faster
#: runs distort them: at 1/100 the AXL requests of a reset batch take longer in scaled time
#: than a phone's reboot, and the busy event loop adds ~7 s to every reset.
SCALE = 0.05


PLANS = ("rolling", "rolling-cucm-resets", "naive")


def spec(network: str, mixed: bool = False) -> topology.TopologySpec:
    """Four CUCM nodes, two groups sharing their secondary, 2,000 phones."""
    return topology.TopologySpec.model_validate(
        {
            "cluster": "lab",
            "version": "12.5.1.14900-63",
            "network": network,
            "sso_enabled": False,
            "security_mode": 1 if mixed else 0,
            "phones": {"secure_fraction": 0.25 if mixed else 0.0},
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
    client: Any, root: Path, plan: str, network: str, scale: float = SCALE, mixed: bool = False
) -> dict[str, float]:
    state = root / plan
    strategy = "naive" if plan == "naive" else "rolling"
    async with Lab(spec(network, mixed), state / "lab", REALISTIC.scaled(scale)) as lab:
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
                reset_phones=plan == "rolling",
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
            while (  # noqa: ASYNC110
                waiting := await handle.query(CertRenewalWorkflow.get_status)
            ).awaiting != "approval":
                await asyncio.sleep(0.02)
            since = time.time()
            assert waiting.plan is not None
            await handle.execute_update(
                CertRenewalWorkflow.approve,
                ApprovalInput(
                    principal="bench-approver",
                    comment="benchmark",
                    plan_hash=waiting.plan.plan_hash,
                ),
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
        refused = {
            name
            for e in lab.journal.entries("phone.rejected")
            if e.at >= since
            for name in e.data["phones"]
        }
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
        "refused": len(refused),
        "waves": waves,
        "wall": (until - since) / scale,
    }


async def main(runs: int, scale: float = SCALE, mixed: bool = False) -> None:
    results: dict[str, list[dict[str, float]]] = {plan: [] for plan in PLANS}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        async with DevServer(root / "temporal", port=free_loopback_port()) as server:
            client = await server.connect()
            for i in range(runs):
                for n, plan in enumerate(PLANS):
                    network = f"127.198.{n}.0/24"
                    r = await one_run(client, root / f"run{i}", plan, network, scale, mixed)
                    results[plan].append(r)
                    print(
                        f"run {i} {plan:19}: {r['waves']:.0f} wave(s), phone-unregistered-"
                        f"seconds {r['unregistered_seconds']:,.0f} = restarts "
                        f"{r['restart_seconds']:,.0f} + ITL resets {r['reset_seconds']:,.0f}, "
                        f"peak unregistered {r['peak']:.1%}, secure phones refused "
                        f"{r['refused']:.0f}, change took {r['wall']:,.0f}s (realistic time)"
                    )

    def mean(plan: str, key: str) -> float:
        return sum(r[key] for r in results[plan]) / runs

    floor = PHONES * REALISTIC.phones.reset_duration
    mode = "mixed mode, 25% secure phones" if mixed else "non-secure"
    print(
        f"mean over {runs} run(s), {PHONES} phones, 4 CUCM nodes, 2 groups, CUCM 12.5, {mode}, "
        f"realistic timing at 1/{1 / scale:.0f} speed (phone-unregistered-seconds; ratio = "
        "naive / plan):"
    )
    print(
        f"  {'plan':19} {'whole change':>13} {'ratio':>6} {'restarts':>10} {'ratio':>6} "
        f"{'ITL resets':>11} {'peak':>6} {'refused':>8}"
    )
    naive_total, naive_restarts = (
        mean("naive", "unregistered_seconds"),
        mean("naive", "restart_seconds"),
    )
    for plan in PLANS:
        total, restarts = mean(plan, "unregistered_seconds"), mean(plan, "restart_seconds")
        print(
            f"  {plan:19} {total:>13,.0f} {naive_total / total if total else 0:>5.1f}x "
            f"{restarts:>10,.0f} {naive_restarts / restarts if restarts else 0:>5.1f}x "
            f"{mean(plan, 'reset_seconds'):>11,.0f} "
            f"{max(r['peak'] for r in results[plan]):>6.1%} {mean(plan, 'refused'):>8,.0f}"
        )
    print(
        f"  every phone resets once for the new ITL in any plan: {PHONES} x "
        f"{REALISTIC.phones.reset_duration:.0f}s = {floor:,.0f} phone-seconds, so no plan can "
        f"beat naive by more than {naive_total / floor:.1f}x on the whole change"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--scale", type=float, default=SCALE)
    parser.add_argument("--mixed", action="store_true")
    args = parser.parse_args()
    asyncio.run(main(args.runs, args.scale, args.mixed))
