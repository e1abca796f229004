"""The chaos bench: many renewals at once on a multi-cluster lab while the lab injects
transient faults and the one worker is SIGKILLed at random moments.

Run: ``.venv/bin/python -m bench.bench_chaos`` (20 renewals on 20 clusters, 4 kills), or
choose: ``--renewals 40 --clusters 20 --purposes tomcat,callmanager --fault-rate 0.1
--faults http-error soap-fault latency response-lost --kills 6 --seed 7 --duration 900``.

- **The lab** is one process of ``--clusters`` twins (:mod:`lab.fleet`, fast timing), each on a
  loopback /24 of its own, listed in one inventory. Cluster ``i`` renews purpose ``i`` of
  ``--purposes`` in turn (a CallManager cluster is 12.5 in mixed mode with 40 phones);
  renewal ``j`` runs on cluster ``j mod --clusters``, so a cluster given several renewals runs
  them one after another (one change per cluster).
- **Faults**: every kind of ``--faults`` on every node of every cluster at ``--fault-rate``
  for the whole run (transient 5xx with Retry-After, SOAP faults, latency, lost responses).
- **Kills**: ``--kills`` moments drawn from ``--seed`` within the first ``--kill-window``
  seconds; at each, the next CUCM effect the lab journals (a CSR, an upload, SSO, a service
  stopping or starting, the CTL, a phone reset) SIGKILLs the worker before the lab answers
  (or the moment itself when no effect comes within ``KILL_GRACE`` seconds). A supervisor starts
  a new worker whenever the worker process ends; one it did not kill is counted apart.
- **The operator** approves the plans and confirms SSO. A change that asks anything else, ends
  failed or with something outstanding, or is still running at ``--duration``, *needed an
  operator*, with the reason from its status (question, error, step failures).

Prints a line per renewal as it ends, then every renewal and the totals: completed,
duplicated CUCM effects from the journal oracle (:mod:`bench.crash_journal`, must be 0), false
audit entries, needed an operator with the reasons, time. Asserts nothing. The fault draws
depend on request timing, so only the kill moments repeat exactly with a seed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from temporalio.client import Client, WorkflowExecutionStatus

from bench.crash_journal import AXL_RESET, CLI_ORIGIN
from bench.renewal_harness import (
    FAULT_KINDS,
    PURPOSE,
    Handle,
    Scenario,
    WatchedJournal,
    fault_rule,
    judge,
    open_window,
    operate,
    renewal_options,
    start_worker,
    topology_data,
)
from lab import topology
from lab.fleet import LabFleet, fleet_specs
from lab.journal import JournalEntry
from lab.server import Lab
from lab.timing import FAST
from workers.devserver import DevServer, free_loopback_port
from workflows import search_attributes as sa
from workflows.models import TERMINAL_PHASES, RenewalInput, RenewalStatus
from workflows.renewal import CertRenewalWorkflow

#: The fault kinds the chaos bench mixes by default: transient, and each one a real cluster
#: shows under load.
DEFAULT_FAULTS = ("http-error", "soap-fault", "latency", "response-lost")
#: Fault kinds that make sense on every node of every cluster at a rate
#: (``unreachable-flap`` is a per-subscriber toggle of the crash matrix).
CHAOS_FAULTS = tuple(k for k in FAULT_KINDS if k != "unreachable-flap")
#: Seconds an armed kill waits for a CUCM effect before it fires anyway.
KILL_GRACE = 15.0
#: A new worker lives at least this long before the next kill: it has polled and resumed work.
MIN_WORKER_UPTIME = 3.0
#: Seconds between two status polls of one renewal.
POLL_SECONDS = 0.5
#: ``service.state`` statuses that are the effect of a restart (not its polling).
RESTART_STATES = frozenset({"Stopping", "Starting", "Started"})


@dataclass(frozen=True)
class Planned:
    """Renewal ``index`` of the run: on cluster ``cluster`` (an index), of ``scenario``."""

    index: int
    cluster: int
    scenario: Scenario


def plan_renewals(renewals: int, clusters: int, purposes: Sequence[Scenario]) -> list[Planned]:
    """Which renewal runs where: cluster ``i`` renews ``purposes[i % len(purposes)]`` and
    renewal ``j`` runs on cluster ``j % clusters``.

    Raises:
        ValueError: no renewal, cluster or purpose.
    """
    if renewals < 1 or clusters < 1 or not purposes:
        raise ValueError("the chaos bench needs at least one renewal, cluster and purpose")
    return [
        Planned(index=j, cluster=j % clusters, scenario=purposes[(j % clusters) % len(purposes)])
        for j in range(renewals)
    ]


def kill_moments(seed: int, kills: int, window: float, earliest: float = 2.0) -> list[float]:
    """``kills`` moments (seconds from the start) drawn from ``seed`` in [earliest, window],
    in order."""
    if kills < 0 or window < earliest:
        raise ValueError(f"cannot draw {kills} kill(s) between {earliest:g} s and {window:g} s")
    draw = random.Random(seed)
    return sorted(draw.uniform(earliest, window) for _ in range(kills))


def is_effect(entry: JournalEntry) -> bool:
    """Whether a journal entry is a CUCM effect of a renewal (what a kill lands on)."""
    kind, data = entry.kind, entry.data
    if kind in ("csr.generated", "trust.uploaded", "identity.uploaded", "ctl.updated"):
        return True
    if kind == "sso.disabled":
        return data.get("origin") == CLI_ORIGIN
    if kind == "service.control":
        return True
    if kind == "service.state":
        return data.get("status") in RESTART_STATES
    return kind == "phone.unregistered" and data.get("reason") == AXL_RESET


class KillTrigger:
    """When to SIGKILL the worker: once a kill moment has passed, at the next CUCM effect (or
    ``grace`` seconds after the moment), and never a worker up for less than ``min_uptime``.

    Thread-safe: the lab's journal may record from a thread.
    """

    def __init__(self, moments: Sequence[float], grace: float, min_uptime: float) -> None:
        self.pending = sorted(moments)
        self.grace = grace
        self.min_uptime = min_uptime
        self._lock = threading.Lock()

    def should_kill(self, now: float, worker_up_since: float | None, effect: bool) -> bool:
        """Whether to kill the worker now (consuming a moment when so).

        Args:
            now: Seconds since the bench started.
            worker_up_since: When the running worker started (same clock); None while none runs.
            effect: Whether a CUCM effect is being recorded right now.
        """
        with self._lock:
            if not self.pending or worker_up_since is None:
                return False
            moment = self.pending[0]
            if now < moment or now - worker_up_since < self.min_uptime:
                return False
            if effect or now >= max(moment, worker_up_since + self.min_uptime) + self.grace:
                self.pending.pop(0)
                return True
            return False


def operator_reason(status: RenewalStatus) -> str:
    """Why a change needs an operator, from its status: the question or error, then each
    step failure's node, step and reason."""
    head = status.question or status.error or ""
    if not head and status.outstanding:
        head = f"outstanding: {status.outstanding[0]}"
    parts = [f"{status.phase}: {head}" if head else status.phase]
    parts += [
        f"{f.step} {f.service or f.purpose} on {f.node}: {f.reason}".replace("  ", " ")
        for f in status.failures
    ]
    return "; ".join(parts)


@dataclass
class ChaosResult:
    """One renewal of the chaos run."""

    index: int
    change_id: str
    cluster: str
    scenario: str
    completed: bool = False
    phase: str = ""
    seconds: float = 0.0
    duplicated: list[str] = field(default_factory=list)
    false_audit: list[str] = field(default_factory=list)
    operator: str = ""
    harness_error: str = ""


@dataclass
class KillRecord:
    """A SIGKILL of the worker: when (seconds from the start), and the effect it landed on."""

    at: float
    effect: str


def summary(
    results: Sequence[ChaosResult],
    kills: Sequence[KillRecord],
    unasked: int,
    faults: Counter[str],
    wall: float,
) -> str:
    """The per-renewal table and the totals, with every reason below."""
    header = (
        f"{'renewal':<30}{'cluster':<12}{'purpose':<13}{'completed':>10}{'duplicated':>11}"
        f"{'false audit':>12}{'operator':>9}{'seconds':>9}"
    )
    lines = [header, "-" * len(header)]
    for r in results:
        lines.append(
            f"{r.change_id:<30}{r.cluster:<12}{r.scenario:<13}{'yes' if r.completed else 'no':>10}"
            f"{len(r.duplicated):>11}{len(r.false_audit):>12}"
            f"{'yes' if r.operator or r.harness_error else '':>9}{r.seconds:>9.1f}"
        )
    ran = [r for r in results if not r.harness_error]
    times = [r.seconds for r in ran if r.completed]
    lines += [
        "-" * len(header),
        f"renewals {len(results)}: completed {sum(r.completed for r in ran)}, "
        f"duplicated CUCM effects {sum(len(r.duplicated) for r in ran)} (must be 0), "
        f"false audit entries {sum(len(r.false_audit) for r in ran)}, "
        f"needed an operator {sum(bool(r.operator) for r in ran)}"
        + (f", not run (harness) {len(results) - len(ran)}" if len(ran) < len(results) else ""),
        f"time: wall {wall:.1f} s"
        + (
            f"; completed renewal p50 {statistics.median(times):.1f} s, max {max(times):.1f} s"
            if times
            else ""
        ),
        f"worker SIGKILLs {len(kills)}"
        + (f" (at {', '.join(f'{k.at:.1f} s on {k.effect}' for k in kills)})" if kills else "")
        + f"; worker exits not caused by the bench {unasked}",
        "faults fired: "
        + (", ".join(f"{kind} {n}" for kind, n in sorted(faults.items())) or "none"),
    ]
    reasons: Counter[str] = Counter(r.operator for r in ran if r.operator)
    if reasons:
        lines += ["", "needed an operator, by reason:"]
        lines += [f"  {n} x {reason}" for reason, n in reasons.most_common()]
    notes = [
        f"  {r.change_id} ({r.cluster}): {label}: {text}"
        for r in results
        for label, texts in (
            ("DUPLICATED", r.duplicated),
            ("FALSE AUDIT", r.false_audit),
            ("needs an operator", [r.operator] if r.operator else []),
            ("NOT RUN (harness)", [r.harness_error] if r.harness_error else []),
        )
        for text in texts
    ]
    if notes:
        lines += ["", "details:", *notes]
    return "\n".join(lines)


def _describe_effect(entry: JournalEntry) -> str:
    what = entry.data.get("service") or entry.data.get("status") or ""
    extra = f" {entry.data.get('status')}" if entry.kind == "service.state" else ""
    return f"{entry.kind}{' ' + str(what) if what and not extra else ''}{extra} on {entry.node}"


class Chaos:
    """One chaos run on one dev server, fleet and supervised worker; see the module docs."""

    def __init__(self, args: argparse.Namespace, root: Path, server: DevServer) -> None:
        self.args = args
        self.root = root
        self.server = server
        self.client: Client | None = None
        self.fleet: LabFleet | None = None
        self.queue = f"chaos-{uuid.uuid4()}"
        self.t0 = time.monotonic()
        self.deadline = self.t0 + args.duration
        self.trigger = KillTrigger(
            kill_moments(args.seed, args.kills, args.kill_window), KILL_GRACE, MIN_WORKER_UPTIME
        )
        self.kills: list[KillRecord] = []
        self.unasked_exits = 0
        self.worker: subprocess.Popen[bytes] | None = None
        self.worker_up_since: float | None = None
        self.workers: list[subprocess.Popen[bytes]] = []
        self.handles: list[Handle] = []
        self._stopping = False
        self._kill_lock = threading.Lock()
        self._killed: set[int] = set()
        self.faults_fired: Counter[str] = Counter()

    def now(self) -> float:
        """Seconds since the run started."""
        return time.monotonic() - self.t0

    # -- the worker and its supervisor ----------------------------------------------------

    def _start_worker(self) -> subprocess.Popen[bytes]:
        state = self.root / "worker"
        state.mkdir(exist_ok=True)
        assert self.fleet is not None
        proc = start_worker(
            state, self.fleet.inventory_path, self.server.address, self.queue, state / "worker.log"
        )
        self.workers.append(proc)
        self.worker = proc
        self.worker_up_since = self.now()
        return proc

    def kill(self, cause: str) -> None:
        """SIGKILL the running worker (thread-safe)."""
        with self._kill_lock:
            proc = self.worker
            if proc is None or proc.pid in self._killed:
                return
            self._killed.add(proc.pid)
            self.worker_up_since = None
            self.kills.append(KillRecord(at=self.now(), effect=cause))
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGKILL)

    def _watch(self, entry: JournalEntry) -> None:
        if is_effect(entry) and self.trigger.should_kill(
            self.now(), self.worker_up_since, effect=True
        ):
            self.kill(_describe_effect(entry))

    async def supervise(self) -> None:
        """Keep one worker running: start a new one whenever it ends."""
        while not self._stopping:
            proc = self._start_worker()
            await asyncio.to_thread(proc.wait)
            if self._stopping:
                return
            if proc.pid not in self._killed:
                self.unasked_exits += 1
                await asyncio.sleep(1.0)

    async def tick(self) -> None:
        """Fire a kill whose moment passed without any CUCM effect."""
        while not self._stopping:
            if self.trigger.should_kill(self.now(), self.worker_up_since, effect=False):
                self.kill("no effect within the grace period")
            await asyncio.sleep(0.2)

    # -- renewals -----------------------------------------------------------------------

    async def run_cluster(self, lab: Lab, plans: Sequence[Planned]) -> list[ChaosResult]:
        """The renewals of one cluster, one after another."""
        results: list[ChaosResult] = []
        for plan in plans:
            change = f"CHAOS-{plan.index:03d}-{uuid.uuid4().hex[:6]}"
            result = ChaosResult(
                index=plan.index, change_id=change, cluster=lab.spec.cluster, scenario=plan.scenario
            )
            try:
                await self.run_one(lab, plan, result)
            except Exception as exc:
                result.harness_error = f"{type(exc).__name__}: {exc}"
            results.append(result)
            verdict = "completed" if result.completed else f"needs an operator ({result.operator})"
            if result.harness_error:
                verdict = f"NOT RUN (the harness failed: {result.harness_error})"
            print(
                f"  [{self.now():6.1f} s] {change} {lab.spec.cluster} {plan.scenario}: {verdict}; "
                f"{result.seconds:.1f} s; duplicated {len(result.duplicated)}, "
                f"false audit {len(result.false_audit)}",
                flush=True,
            )
        return results

    async def run_one(self, lab: Lab, plan: Planned, result: ChaosResult) -> None:
        """One renewal, driven to its end (or to the run's deadline), then judged."""
        assert self.client is not None
        since = lab.journal.last_seq
        started = time.monotonic()
        handle: Handle = await self.client.start_workflow(
            CertRenewalWorkflow.run,
            RenewalInput(
                change_id=result.change_id,
                cluster=lab.spec.cluster,
                requested_by="bench-chaos",
                purposes=[PURPOSE[plan.scenario]],
                windows=[open_window()] if plan.scenario == "callmanager" else [],
                options=renewal_options(plan.scenario, self.args.restart_heartbeat),
            ),
            id=result.change_id,
            task_queue=self.queue,
            search_attributes=sa.start_attributes(
                lab.spec.cluster, result.change_id, [PURPOSE[plan.scenario]]
            ),
        )
        self.handles.append(handle)
        status = await self._drive(handle, lab)
        result.seconds = time.monotonic() - started
        verdict = judge(status, lab.journal.entries(since=since))
        result.completed = verdict.completed
        result.phase = verdict.phase
        result.duplicated = verdict.duplicated
        result.false_audit = verdict.false_audit
        result.operator = verdict.operator
        if isinstance(status, RenewalStatus) and verdict.operator:
            result.operator = operator_reason(status)

    async def _drive(self, handle: Handle, lab: Lab) -> RenewalStatus | str:
        """Play the operator until the change ends or asks something only a person can
        answer; its last status, or why there is none."""
        status: RenewalStatus | None = None
        while time.monotonic() < self.deadline:
            try:
                status = await asyncio.wait_for(handle.query(CertRenewalWorkflow.get_status), 5)
            except Exception:
                # No worker answers while one is being replaced; a closed change may have none.
                try:
                    desc = await asyncio.wait_for(handle.describe(), 10)
                except Exception:
                    await asyncio.sleep(POLL_SECONDS)
                    continue
                if desc.status != WorkflowExecutionStatus.RUNNING:
                    name = desc.status.name if desc.status else "unknown"
                    return status if status is not None else f"the workflow ended {name}"
                await asyncio.sleep(POLL_SECONDS)
                continue
            if status.phase in TERMINAL_PHASES or status.awaiting == "operator":
                return status
            await operate(handle, lab, status, "chaos bench")
            await asyncio.sleep(POLL_SECONDS)
        where = f"phase {status.phase}" if status else "before its first status"
        return f"still running after {self.args.duration:.0f} s ({where})"

    async def run(self, plans: Sequence[Planned]) -> list[ChaosResult]:
        """Start the fleet, the faults, the worker and every renewal; stop them all."""
        specs = self._specs(plans)
        self.fleet = LabFleet(specs, self.root / "lab", FAST)
        for lab in self.fleet.labs:
            lab.journal = WatchedJournal()
        async with self.fleet:
            for lab in self.fleet.labs:
                assert isinstance(lab.journal, WatchedJournal)
                lab.journal.watch = self._watch
                for kind in self.args.faults:
                    await lab.add_fault(fault_rule(kind, self.args.fault_rate, self.args.latency))
            self.t0 = time.monotonic()
            self.deadline = self.t0 + self.args.duration
            supervisor = asyncio.create_task(self.supervise())
            ticker = asyncio.create_task(self.tick())
            by_cluster: dict[int, list[Planned]] = {}
            for plan in plans:
                by_cluster.setdefault(plan.cluster, []).append(plan)
            try:
                done = await asyncio.gather(
                    *(self.run_cluster(self.fleet.labs[c], p) for c, p in by_cluster.items())
                )
            finally:
                self._stopping = True
                for handle in self.handles:
                    with contextlib.suppress(Exception):
                        await handle.terminate("the chaos bench ended")
                for proc in self.workers:
                    if proc.poll() is None:
                        proc.send_signal(signal.SIGKILL)
                for proc in self.workers:
                    await asyncio.to_thread(proc.wait)
                ticker.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await ticker
                await supervisor
                for lab in self.fleet.labs:
                    lab.journal.watch = None  # type: ignore[attr-defined]
                    for f in lab.faults.active():
                        self.faults_fired[f.kind] += f.fired
        return sorted((r for rs in done for r in rs), key=lambda r: r.index)

    def _specs(self, plans: Sequence[Planned]) -> list[topology.TopologySpec]:
        base = topology.load().model_dump()
        base.update(
            cluster="chaos",
            domain="chaos.example.com",
            network=f"127.{self.args.subnet}.0.0/24",
            seed=self.args.seed,
        )
        specs = fleet_specs(topology.TopologySpec.model_validate(base), self.args.clusters)
        scenario = {p.cluster: p.scenario for p in plans}
        return [
            topology.TopologySpec.model_validate(
                topology_data(spec.model_dump(), scenario.get(i, "tomcat"))
            )
            for i, spec in enumerate(specs)
        ]


async def main(args: argparse.Namespace) -> list[ChaosResult]:
    """Run the chaos bench and print it (and write ``--json``)."""
    plans = plan_renewals(args.renewals, args.clusters, args.purposes)
    print(
        f"chaos: {args.renewals} renewal(s) on {args.clusters} cluster(s) "
        f"({', '.join(args.purposes)}); faults {', '.join(args.faults) or 'none'} at rate "
        f"{args.fault_rate:g}; {args.kills} worker SIGKILL(s) in the first "
        f"{args.kill_window:.0f} s (seed {args.seed}); cap {args.duration:.0f} s",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="ucrenew-chaos-") as tmp:
        root = Path(tmp)
        server = DevServer(root / "temporal", port=free_loopback_port())
        async with server:
            chaos = Chaos(args, root, server)
            chaos.client = await server.connect()
            results = await chaos.run(plans)
            wall = chaos.now()
    print()
    print(summary(results, chaos.kills, chaos.unasked_exits, chaos.faults_fired, wall))
    if args.json:
        text = json.dumps(
            {
                "results": [asdict(r) for r in results],
                "kills": [asdict(k) for k in chaos.kills],
                "unasked_worker_exits": chaos.unasked_exits,
                "faults_fired": dict(chaos.faults_fired),
                "wall_seconds": wall,
            },
            indent=2,
        )
        await asyncio.to_thread(Path(args.json).write_text, text + "\n", encoding="utf-8")
    return results


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """The bench's options, checked (exits 2 with a message on a bad one)."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.bench_chaos",
        description="Many renewals at once under lab faults and worker SIGKILLs; count what "
        "went wrong.",
    )
    parser.add_argument("--renewals", type=int, default=20, help="renewals in all (20)")
    parser.add_argument(
        "--clusters", type=int, help="lab clusters (default: one per renewal, at most 200)"
    )
    parser.add_argument("--seed", type=int, default=1, help="seed of the kill moments (1)")
    parser.add_argument(
        "--fault-rate", type=float, default=0.05, help="rate of each fault kind, 0 to 1 (0.05)"
    )
    parser.add_argument(
        "--faults",
        nargs="*",
        default=list(DEFAULT_FAULTS),
        metavar="KIND",
        help=f"fault kinds (default: {' '.join(DEFAULT_FAULTS)}; none: no faults); "
        f"from {', '.join(CHAOS_FAULTS)}",
    )
    parser.add_argument("--latency", type=float, default=0.5, help="seconds latency adds (0.5)")
    parser.add_argument("--kills", type=int, default=4, help="worker SIGKILLs (4)")
    parser.add_argument(
        "--kill-window",
        type=float,
        default=120.0,
        help="the kills fall in the first this many seconds (120)",
    )
    parser.add_argument(
        "--purposes",
        default="tomcat,callmanager",
        help="purposes the clusters renew in turn, comma-separated (tomcat,callmanager)",
    )
    parser.add_argument(
        "--duration",
        type=float,
        default=900.0,
        help="cap in seconds: a renewal still running then needed an operator (900)",
    )
    parser.add_argument(
        "--restart-heartbeat",
        type=float,
        default=5.0,
        help="restart_heartbeat_seconds of the renewals (how soon a killed restart resumes)",
    )
    parser.add_argument(
        "--subnet", type=int, default=40, help="second octet of the clusters' loopback networks"
    )
    parser.add_argument("--json", metavar="FILE", help="also write every renewal as JSON")
    args = parser.parse_args(list(argv))
    purposes = [p.strip().lower() for p in str(args.purposes).split(",") if p.strip()]
    unknown = [p for p in purposes if p not in PURPOSE]
    if unknown or not purposes:
        parser.error(
            f"--purposes: unknown {', '.join(unknown) or '(empty)'}; choose from "
            f"{', '.join(PURPOSE)}"
        )
    args.purposes = purposes
    if args.faults == ["none"]:
        args.faults = []
    bad = [k for k in args.faults if k not in CHAOS_FAULTS]
    if bad:
        parser.error(f"unknown fault kind {', '.join(bad)}; choose from {', '.join(CHAOS_FAULTS)}")
    if args.renewals < 1:
        parser.error("--renewals must be at least 1")
    if args.clusters is None:
        args.clusters = min(args.renewals, 200)
    if not 1 <= args.clusters <= 200:
        parser.error("--clusters must be between 1 and 200")
    if not 0 <= args.fault_rate <= 1:
        parser.error("--fault-rate must be between 0 and 1")
    if args.kills < 0:
        parser.error("--kills must be 0 or more")
    if args.latency <= 0 or args.duration <= 0:
        parser.error("--latency and --duration must be above 0")
    if args.kill_window < 2:
        parser.error("--kill-window must be at least 2 seconds")
    if not 1 <= args.subnet <= 254:
        parser.error("--subnet must be between 1 and 254")
    return args


if __name__ == "__main__":
    options = parse_args(sys.argv[1:])
    # A killed worker leaves the lab's servers with reset connections: expected, not news.
    for noisy in ("aiohttp", "asyncssh", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.CRITICAL)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main(options))
