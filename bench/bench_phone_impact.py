"""Phone impact of a CallManager renewal: ucrenew's rolling plans against the naive one.

The same CallManager multi-server renewal runs through the real workflow (Temporal dev server,
worker, lab over sockets) on a fresh lab cluster each time: four CUCM nodes (five with
``--groups 3``), two CallManager groups sharing their secondary (or three), 2,000 phones
(2,100 with three groups), half SCCP, half SIP. Plans:

- ``rolling``: ucrenew's planner, health gates and phone resets by primary (the default): TVS
  and TFTP first; then, before each wave that stops a CallManager holding phones, that node's
  SCCP phones in gated batches and its SIP phones just before the stop, so they boot onto
  their secondary; no wave fails over more than half of the phones;
- ``rolling-all-first``: the same waves with every phone reset first, in gated batches,
  before the first CallManager wave (``phone_resets_by_primary=False``, the order before);
- ``naive``: every node at once, as the manual procedure does; on a release before 14, where
  CUCM does not reset the phones itself, the benchmark then resets them as Cisco's procedure
  says (every phone, in CUCM's batches of 100 every 10 s, once all are back).

``--release 14su1`` runs 14SU1 (14.0.1.11900), where an RSA CallManager certificate needs
only Cisco HAProxy restarted (``inferred.CALLMANAGER_HAPROXY_ONLY_BUILD``).

Figures, in phone-unregistered-seconds of the realistic profile (sum over phones of time
without a registration, from the approval of the restarts until every phone is back): the
floor (every phone's one ITL reset, where the release needs one), the plan's total and each
share (ITL resets; restart failovers of SCCP and of SIP phones; other), the peak share of
phones unregistered for more than 5 s at once, the largest share of phones one wave failed
over, and the secure phones refused by a node (mixed mode).

Run: ``.venv/bin/python -m bench.bench_phone_impact [--runs N] [--scale S] [--mixed]
[--groups 2|3] [--release 12.5|14su1] [--plans rolling,naive,...]`` (defaults: 1 run, 0.1:
the realistic timing at 1/10 speed). Prints figures; asserts nothing.
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

from bench.phone_outages import outages, shares
from lab import topology
from lab.server import Lab
from lab.timing import REALISTIC
from workers.devserver import DevServer, free_loopback_port
from workers.settings import UcrenewSettings
from workers.wiring import build_worker
from workflows import search_attributes as sa
from workflows.models import ApprovalInput, RenewalInput, RenewalOptions
from workflows.renewal import CertRenewalWorkflow

#: The realistic profile (CallManager restart ~110 s, SIP keepalive 120 s, ITL resets in
#: batches) at 1/10 of real time: the proportions that decide the figures are kept. Faster
#: runs distort them: at 1/20 on a busy 2-core machine ucrenew's own latency between a node's
#: last SIP reset and its CallManager stop (a workflow task, an SSH login) is tens of scaled
#: seconds, longer than a phone's scaled reboot, so SIP phones are back home before the stop;
#: at 1/100 the AXL requests of a reset batch outlast a reboot.
SCALE = 0.1
PLANS = ("rolling", "rolling-all-first", "naive")
RELEASES = {"12.5": "12.5.1.14900-63", "14su1": "14.0.1.11900-132"}
#: An outage longer than this counts towards the long-outage peak (issue 14's 5 s).
LONG_OUTAGE = 5.0
#: Restart drops further apart than this (realistic seconds) belong to different waves.
WAVE_GAP = 60.0


def spec(
    network: str, mixed: bool = False, groups: int = 2, release: str = "12.5"
) -> topology.TopologySpec:
    """Two groups sharing their secondary and 2,000 phones, or three groups and 2,100."""
    subs = [f"cucm-sub{i}" for i in range(1, groups + 2)]
    backup = subs[-1]
    per_pool = 500 if groups == 2 else 350
    return topology.TopologySpec.model_validate(
        {
            "cluster": "lab",
            "version": RELEASES[release],
            "network": network,
            "sso_enabled": False,
            "security_mode": 1 if mixed else 0,
            "phones": {"secure_fraction": 0.25 if mixed else 0.0},
            "nodes": [{"hostname": "cucm-pub", "publisher": True}]
            + [{"hostname": h} for h in subs],
            "cm_groups": [
                {"name": f"G{i}", "members": [subs[i - 1], backup, "cucm-pub"]}
                for i in range(1, groups + 1)
            ],
            "device_pools": [
                {"name": f"DP-{i}", "cm_group": f"G{i}", "sccp": per_pool, "sip": per_pool}
                for i in range(1, groups + 1)
            ],
            "adcs": {"enabled": False},
        }
    )


async def _all_registered(lab: Lab, phones: int, within: float) -> None:
    deadline = time.time() + within
    while time.time() < deadline:
        if sum(1 for p in lab.phones.phones if p.node is not None) >= phones:
            return
        await asyncio.sleep(0.05)


async def _manual_resets(lab: Lab, scale: float) -> None:
    """Cisco's "reset the phones" step after the restarts, as CUCM applies a bulk reset:
    every phone, in batches of 100 every 10 s (the lab's own batch timing)."""
    t = REALISTIC.phones
    names = [p.name for p in lab.phones.phones]
    for i in range(0, len(names), t.reset_batch):
        lab.phones.reset_devices(names[i : i + t.reset_batch], why="manual")
        await asyncio.sleep(t.reset_interval * scale)


async def one_run(
    client: Any,
    root: Path,
    plan: str,
    network: str,
    scale: float = SCALE,
    mixed: bool = False,
    groups: int = 2,
    release: str = "12.5",
) -> dict[str, float]:
    """One renewal under ``plan`` on a fresh lab; its figures in realistic seconds."""
    state = root / plan
    strategy = "naive" if plan == "naive" else "rolling"
    topo = spec(network, mixed, groups, release)
    async with Lab(topo, state / "lab", REALISTIC.scaled(scale)) as lab:
        phones = len(lab.phones.phones)
        await _all_registered(lab, phones, 30)
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
                restart_strategy=strategy,
                reset_phones=plan != "naive",
                phone_resets_by_primary=plan == "rolling",
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
            try:
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
            finally:
                desc = await handle.describe()
                if desc.status is not None and desc.status.name == "RUNNING":
                    await handle.terminate("benchmark ended")
            waves = len(status.plan.restarts.waves) if status.plan and status.plan.restarts else 0
            unverified = len(status.plan.unverified) if status.plan else 0
        if plan == "naive" and topo.major_version < 14:
            await _all_registered(lab, phones, 300 * scale)
            await _manual_resets(lab, scale)
        # Let every phone come home (fallback, resets) before closing the books.
        deadline = time.time() + 30
        while time.time() < deadline:
            m = lab.phones.metrics(since=time.time() - 0.5)
            if m.peak_unregistered == 0:
                break
            await asyncio.sleep(0.1)
        until = time.time()
        found = outages(lab.journal.entries("phone"), since, until)
        protocols = {p.name: p.protocol for p in lab.phones.phones}
        refused = {
            name
            for e in lab.journal.entries("phone.rejected")
            if e.at >= since
            for name in e.data["phones"]
        }
    split = shares(
        found,
        protocols,
        phones,
        long_after=LONG_OUTAGE * scale,
        wave_gap=WAVE_GAP * scale,
    )
    return {
        "phones": phones,
        "total": split.total / scale,
        "itl": split.itl_resets / scale,
        "sccp": split.failover_sccp / scale,
        "sip": split.failover_sip / scale,
        "other": split.other / scale,
        "peak_long": split.peak_long_fraction,
        "wave_failover": split.wave_failover_fraction,
        "refused": len(refused),
        "waves": waves,
        "unverified": unverified,
        "wall": (until - since) / scale,
    }


async def main(
    runs: int,
    scale: float = SCALE,
    mixed: bool = False,
    groups: int = 2,
    release: str = "12.5",
    plans: tuple[str, ...] = PLANS,
) -> None:
    """Run every plan ``runs`` times and print the figures."""
    results: dict[str, list[dict[str, float]]] = {plan: [] for plan in plans}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        async with DevServer(root / "temporal", port=free_loopback_port()) as server:
            client = await server.connect()
            for i in range(runs):
                for n, plan in enumerate(plans):
                    # Apart per variant, so that benchmarks of two variants can run at once.
                    variant = 10 * (groups - 2) + 20 * (release != "12.5") + 40 * mixed
                    network = f"127.58.{variant + n}.0/24"
                    r = await one_run(
                        client, root / f"run{i}", plan, network, scale, mixed, groups, release
                    )
                    results[plan].append(r)
                    print(
                        f"run {i} {plan:17}: {r['waves']:.0f} wave(s), total {r['total']:,.0f} "
                        f"= ITL resets {r['itl']:,.0f} + failover SCCP {r['sccp']:,.0f} + SIP "
                        f"{r['sip']:,.0f} + other {r['other']:,.0f}; unregistered >5 s peak "
                        f"{r['peak_long']:.1%}; one wave failed over {r['wave_failover']:.1%}; "
                        f"refused {r['refused']:.0f}; took {r['wall']:,.0f}s",
                        flush=True,
                    )

    def mean(plan: str, key: str) -> float:
        return sum(r[key] for r in results[plan]) / runs

    phones = int(next(iter(results.values()))[0]["phones"])
    itl_needed = release == "12.5"
    floor = phones * REALISTIC.phones.reset_duration if itl_needed else 0.0
    mode = "mixed mode, 25% secure phones" if mixed else "non-secure"
    print(
        f"mean over {runs} run(s): {phones} phones, {groups} CallManager groups, CUCM "
        f"{RELEASES[release]}, {mode}, realistic timing at 1/{1 / scale:.0f} speed "
        "(phone-unregistered-seconds)"
    )
    print(
        f"  floor: {floor:,.0f}"
        + (
            f" (every phone's one ITL reset: {phones} x {REALISTIC.phones.reset_duration:.0f} s)"
            if itl_needed
            else " (no restart drops a phone and no ITL reset is needed in the lab's model)"
        )
    )
    print(
        f"  {'plan':17} {'total':>9} {'/floor':>7} {'ITL':>9} {'SCCP f/o':>9} {'SIP f/o':>9} "
        f"{'other':>7} {'>5s peak':>9} {'wave f/o':>9} {'refused':>8} {'unverified':>10}"
    )
    for plan in plans:
        total = mean(plan, "total")
        ratio = f"{total / floor:6.2f}x" if floor else "    n/a"
        print(
            f"  {plan:17} {total:>9,.0f} {ratio} {mean(plan, 'itl'):>9,.0f} "
            f"{mean(plan, 'sccp'):>9,.0f} {mean(plan, 'sip'):>9,.0f} {mean(plan, 'other'):>7,.0f} "
            f"{max(r['peak_long'] for r in results[plan]):>9.1%} "
            f"{max(r['wave_failover'] for r in results[plan]):>9.1%} "
            f"{mean(plan, 'refused'):>8,.0f} {mean(plan, 'unverified'):>10,.0f}"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--scale", type=float, default=SCALE)
    parser.add_argument("--mixed", action="store_true")
    parser.add_argument("--groups", type=int, choices=(2, 3), default=2)
    parser.add_argument("--release", choices=sorted(RELEASES), default="12.5")
    parser.add_argument(
        "--plans",
        default=",".join(PLANS),
        help=f"comma-separated, among {', '.join(PLANS)}",
    )
    args = parser.parse_args()
    chosen = tuple(p.strip() for p in args.plans.split(",") if p.strip())
    unknown = [p for p in chosen if p not in PLANS]
    if unknown or not chosen:
        parser.error(f"unknown plan(s) {', '.join(unknown) or '(none)'}; choose among {PLANS}")
    asyncio.run(main(args.runs, args.scale, args.mixed, args.groups, args.release, chosen))
