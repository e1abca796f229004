"""The crash-and-fault matrix: real renewals of the lab, killed at every step or run under
transient CUCM faults, checked against the lab's journal.

Run: ``.venv/bin/python -m bench.bench_crash_matrix`` (a quick matrix, a few minutes), or
choose: ``--kill-points all --faults all --repeats 2 --parallel 3 --kill-server --json out.json``.
``--list`` names every kill point and fault kind.

Each case is one renewal through the Temporal dev server, a lab (fast timing) of its own on a
loopback /24 of its own, and a worker *process* (``python -m workers``) of its own task queue:

- a **kill point** SIGKILLs the worker (with ``--kill-server`` the Temporal server too) the
  moment the lab's journal records the effect (the journal's ``record`` calls the kill before
  the lab even answers the request), starts a new worker, and lets the renewal finish;
- a **fault kind** injects a transient CUCM fault at ``--rate`` on every node for the whole
  renewal (``unreachable-flap`` takes a subscriber's HTTPS and SSH away for a second every
  few seconds).

The bench plays the operator: it approves the open gate and re-enables SSO when asked. Any
other question (a failed node step, a stale CSR) counts as *needs an operator*, as does a
change that ends failed, leaves something outstanding, or is still running after
``--timeout`` seconds. From the journal (:mod:`bench.crash_journal`): duplicated CUCM effects
and false audit entries, both of which must be 0.

Prints one row per kill point / fault kind and every reason below the table; ``--json`` writes
every run. Asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from temporalio.client import Client, WorkflowExecutionStatus

from bench.renewal_harness import (
    FAULT_KINDS,
    PURPOSE,
    Handle,
    Scenario,
    WatchedJournal,
    completed_activity,
    fault_rule,
    judge,
    open_window,
    operate,
    renewal_options,
    start_worker,
    topology_data,
)
from lab import topology
from lab.faults import Fault
from lab.journal import JournalEntry
from lab.server import Lab
from lab.timing import FAST
from workers.devserver import DevServer, free_loopback_port
from workflows import search_attributes as sa
from workflows.models import TERMINAL_PHASES, RenewalInput, RenewalStatus
from workflows.renewal import CertRenewalWorkflow

TOMCAT = "Cisco Tomcat"
CALLMANAGER = "Cisco CallManager"


def _service_state(service: str, status: str) -> Callable[[JournalEntry], bool]:
    def match(e: JournalEntry) -> bool:
        return (
            e.kind == "service.state"
            and e.data.get("service") == service
            and e.data.get("status") == status
        )

    return match


def _kind(kind: str, **data: Any) -> Callable[[JournalEntry], bool]:
    def match(e: JournalEntry) -> bool:
        return e.kind == kind and all(e.data.get(k) == v for k, v in data.items())

    return match


@dataclass(frozen=True)
class KillPoint:
    """Where a worker dies: at a journal effect, or once the change's phase has moved on."""

    name: str
    scenario: Scenario
    description: str
    effect: Callable[[JournalEntry], bool] | None = None
    after_activity: str = ""


KILL_POINTS: dict[str, KillPoint] = {
    k.name: k
    for k in (
        KillPoint(
            "after-discovery",
            "tomcat",
            "discover_cluster completed (in the change's history)",
            after_activity="discover_cluster",
        ),
        KillPoint("during-csr", "tomcat", "CSR generated on the publisher", _kind("csr.generated")),
        KillPoint(
            "after-sso-disable", "tomcat", "utils sso disable took effect", _kind("sso.disabled")
        ),
        KillPoint(
            "after-trust-upload",
            "tomcat",
            "a CA certificate joined the trust store",
            _kind("trust.uploaded"),
        ),
        KillPoint(
            "after-cert-upload",
            "tomcat",
            "the signed certificate is installed",
            _kind("identity.uploaded"),
        ),
        KillPoint(
            "during-tomcat-restart",
            "tomcat",
            "Cisco Tomcat is stopping on a node",
            _service_state(TOMCAT, "Stopping"),
        ),
        KillPoint(
            "after-tomcat-restart",
            "tomcat",
            "Cisco Tomcat is started again on a node",
            _service_state(TOMCAT, "Started"),
        ),
        KillPoint(
            "during-ctl-update",
            "callmanager",
            "utils ctl update CTLFile took effect",
            _kind("ctl.updated"),
        ),
        KillPoint(
            "during-phone-resets",
            "callmanager",
            "a batch of phones reset over AXL",
            _kind("phone.unregistered", reason="reset:axl"),
        ),
        KillPoint(
            "during-callmanager-wave",
            "callmanager",
            "Cisco CallManager is stopping on a node",
            _service_state(CALLMANAGER, "Stopping"),
        ),
        KillPoint(
            "after-callmanager-restart",
            "callmanager",
            "Cisco CallManager started on a node",
            _service_state(CALLMANAGER, "Started"),
        ),
    )
}

#: unreachable-flap: a subscriber goes away this soon after the start (a renewal of the fast
#: lab takes a few seconds), then for FLAP_DOWN seconds every FLAP_DOWN + FLAP_UP.
FLAP_FIRST, FLAP_DOWN, FLAP_UP = 0.5, 1.0, 2.0

#: A dev server that answers nothing for this long has died: the bench starts it again.
SERVER_SILENCE_SECONDS = 20.0

QUICK_KILLS = ("after-discovery", "after-sso-disable", "during-tomcat-restart")
QUICK_FAULTS = ("http-error", "throttle", "response-lost")


@dataclass
class RunResult:
    """One renewal of the matrix."""

    case: str
    kind: Literal["kill", "fault"]
    repeat: int
    change_id: str
    completed: bool = False
    phase: str = ""
    seconds: float = 0.0
    kills: int = 0
    faults_fired: int = 0
    duplicated: list[str] = field(default_factory=list)
    false_audit: list[str] = field(default_factory=list)
    operator: str = ""
    harness_error: str = ""


def _spec(scenario: Scenario, n: int, subnet: int) -> topology.TopologySpec:
    """Lab ``n``: a cluster of its own name, domain and loopback /24, so that runs at the same
    time are different clusters to ucrenew."""
    data = topology_data(topology.load().model_dump(), scenario)
    data.update(
        network=f"127.{subnet}.{n}.0/24", cluster=f"matrix{n}", domain=f"matrix{n}.example.com"
    )
    return topology.TopologySpec.model_validate(data)


class Matrix:
    """Runs the cases on one dev server; see the module docstring."""

    def __init__(self, args: argparse.Namespace, root: Path, server: DevServer) -> None:
        self.args = args
        self.root = root
        self.server = server
        self._networks = iter(range(1, 250))
        self._server_lock = asyncio.Lock()
        self._epoch = 0
        self.unplanned_restarts = 0
        self.client: Client | None = None

    def _worker(self, state: Path, queue: str) -> subprocess.Popen[bytes]:
        return start_worker(
            state,
            state / "lab" / "inventory.yaml",
            self.server.address,
            queue,
            state / "worker.log",
        )

    async def _restart_server(self, epoch: int, unplanned: bool = False) -> None:
        """Start the server again (its database kept), unless another run already did since
        ``epoch``."""
        async with self._server_lock:
            if epoch != self._epoch:
                return
            self._epoch += 1
            if unplanned:
                self.unplanned_restarts += 1
            # Killed (with the worker, or by someone else): stop() reaps it.
            await self.server.stop(grace_seconds=5)
            deadline = time.monotonic() + 30
            while True:
                try:
                    await self.server.start()
                    return
                except Exception:
                    if time.monotonic() > deadline:
                        raise
                    await asyncio.sleep(0.5)

    async def run(self, case: str, kind: Literal["kill", "fault"], repeat: int) -> RunResult:
        """One renewal of ``case``; the lab, worker and workflow are gone when it returns."""
        point = KILL_POINTS.get(case) if kind == "kill" else None
        scenario: Scenario = point.scenario if point else "tomcat"
        change = f"MATRIX-{case}-{repeat}-{uuid.uuid4().hex[:6]}"
        result = RunResult(case=case, kind=kind, repeat=repeat, change_id=change)
        state = self.root / change
        spec = _spec(scenario, next(self._networks), self.args.subnet)
        lab = Lab(spec, state / "lab", FAST)
        journal = WatchedJournal()
        lab.journal = journal
        async with lab:
            queue = f"matrix-{uuid.uuid4()}"
            workers = [self._worker(state, queue)]
            died = asyncio.Event()
            loop = asyncio.get_running_loop()

            def kill_now() -> None:
                if result.kills >= self.args.kills:
                    return
                result.kills += 1
                with contextlib.suppress(ProcessLookupError):
                    workers[-1].send_signal(signal.SIGKILL)
                if self.args.kill_server and self.server.pid is not None:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(self.server.pid, signal.SIGKILL)
                loop.call_soon_threadsafe(died.set)

            def watch(entry: JournalEntry) -> None:
                if point is not None and point.effect is not None and point.effect(entry):
                    kill_now()

            since = journal.last_seq
            journal.watch = watch
            flapper: asyncio.Task[None] | None = None
            if kind == "fault":
                flapper = await self._inject(lab, case, result)
            assert self.client is not None
            t0 = time.monotonic()
            handle: Handle = await self.client.start_workflow(
                CertRenewalWorkflow.run,
                RenewalInput(
                    change_id=change,
                    cluster=lab.spec.cluster,
                    requested_by="bench-matrix",
                    purposes=[PURPOSE[scenario]],
                    windows=[open_window()] if scenario == "callmanager" else [],
                    options=renewal_options(scenario, self.args.restart_heartbeat),
                ),
                id=change,
                task_queue=queue,
                search_attributes=sa.start_attributes(
                    lab.spec.cluster, change, [PURPOSE[scenario]]
                ),
            )
            try:
                status = await self._drive(
                    handle, lab, point, kill_now, died, workers, state, queue
                )
                result.seconds = time.monotonic() - t0
                result.faults_fired += sum(f.fired for f in lab.faults.active())
                self._judge(result, status, journal.entries(since=since))
            finally:
                journal.watch = None
                if flapper is not None:
                    flapper.cancel()
                with contextlib.suppress(Exception):
                    await handle.terminate("the crash matrix ended this run")
                for proc in workers:
                    if proc.poll() is None:
                        proc.send_signal(signal.SIGKILL)
                    await asyncio.to_thread(proc.wait)
        return result

    async def _inject(self, lab: Lab, case: str, result: RunResult) -> asyncio.Task[None] | None:
        """Inject fault kind ``case`` on every node; a flapping one as a task that toggles it
        (each flap counted in ``result``)."""
        rate = self.args.rate
        if case == "unreachable-flap":
            node = next(n.hostname for n in lab.cluster.nodes if not n.publisher)

            async def flap() -> None:
                await asyncio.sleep(FLAP_FIRST)
                while True:
                    fault = await lab.add_fault(Fault(kind="unreachable", node=node))
                    result.faults_fired += 1
                    await asyncio.sleep(FLAP_DOWN)
                    await lab.clear_faults(fault.id)
                    await asyncio.sleep(FLAP_UP)

            return asyncio.create_task(flap())
        await lab.add_fault(fault_rule(case, rate, self.args.latency))
        return None

    async def _drive(
        self,
        handle: Handle,
        lab: Lab,
        point: KillPoint | None,
        kill_now: Callable[[], None],
        died: asyncio.Event,
        workers: list[subprocess.Popen[bytes]],
        state: Path,
        queue: str,
    ) -> RenewalStatus | str:
        """Play the operator until the change ends; the final status, or why it stopped."""
        deadline = time.monotonic() + self.args.timeout
        status: RenewalStatus | None = None
        killed_once = False
        server_seen = time.monotonic()
        while time.monotonic() < deadline:
            if died.is_set():
                died.clear()
                await asyncio.to_thread(workers[-1].wait)
                if self.args.kill_server:
                    await self._restart_server(self._epoch)
                workers.append(self._worker(state, queue))
            epoch = self._epoch
            try:
                if point is not None and point.after_activity and not killed_once:
                    if await completed_activity(handle, point.after_activity):
                        killed_once = True
                        kill_now()
                        continue
                    await asyncio.sleep(0.02)
                desc = await asyncio.wait_for(handle.describe(), 10)
                server_seen = time.monotonic()
                if desc.status != WorkflowExecutionStatus.RUNNING:
                    with contextlib.suppress(Exception):
                        status = await asyncio.wait_for(
                            handle.query(CertRenewalWorkflow.get_status), 20
                        )
                    name = desc.status.name if desc.status else "unknown"
                    return status if status is not None else f"the workflow ended {name}"
                status = await asyncio.wait_for(handle.query(CertRenewalWorkflow.get_status), 5)
            except Exception:
                # A dead worker answers no query; the next one will. A server silent for long
                # died on its own (or was killed by someone else): the bench owns it, so it
                # starts it again and says so.
                if time.monotonic() - server_seen > SERVER_SILENCE_SECONDS:
                    await self._restart_server(epoch, unplanned=True)
                    server_seen = time.monotonic()
                await asyncio.sleep(0.2)
                continue
            if status.phase in TERMINAL_PHASES:
                return status
            await operate(handle, lab, status, "crash matrix")
            await asyncio.sleep(0.1)
        where = f"phase {status.phase}" if status else "before its first status"
        return f"still running after {self.args.timeout:.0f} s ({where})"

    @staticmethod
    def _judge(result: RunResult, status: RenewalStatus | str, entries: list[JournalEntry]) -> None:
        verdict = judge(status, entries)
        result.completed = verdict.completed
        result.phase = verdict.phase
        result.duplicated = verdict.duplicated
        result.false_audit = verdict.false_audit
        result.operator = verdict.operator


def _table(results: list[RunResult]) -> str:
    header = (
        f"{'kill point / fault kind':<34}{'runs':>5}{'completed':>10}{'duplicated':>11}"
        f"{'false audit':>12}{'operator':>9}{'median s':>9}"
    )
    lines = [header, "-" * len(header)]
    cases: dict[str, list[RunResult]] = {}
    ran = [r for r in results if not r.harness_error]
    for r in results:
        cases.setdefault(f"{r.kind}: {r.case}", [])
    for r in ran:
        cases[f"{r.kind}: {r.case}"].append(r)
    for name, runs in cases.items():
        lines.append(
            f"{name:<34}{len(runs):>5}{sum(r.completed for r in runs):>10}"
            f"{sum(len(r.duplicated) for r in runs):>11}"
            f"{sum(len(r.false_audit) for r in runs):>12}"
            f"{sum(bool(r.operator) for r in runs):>9}"
            + (f"{statistics.median(r.seconds for r in runs):>9.1f}" if runs else f"{'-':>9}")
        )
    total = (
        f"{'total':<34}{len(ran):>5}{sum(r.completed for r in ran):>10}"
        f"{sum(len(r.duplicated) for r in ran):>11}"
        f"{sum(len(r.false_audit) for r in ran):>12}"
        f"{sum(bool(r.operator) for r in ran):>9}"
    )
    lines += ["-" * len(header), total]
    notes = [
        f"  {r.kind}: {r.case} #{r.repeat} ({r.change_id}): {label}: {text}"
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


async def main(args: argparse.Namespace) -> list[RunResult]:
    """Run the matrix and print it (and write ``--json``)."""
    jobs = [("kill", k, i) for i in range(args.repeats) for k in args.kill_points]
    jobs += [("fault", f, i) for i in range(args.repeats) for f in args.faults]
    print(
        f"crash matrix: {len(jobs)} renewal(s), {args.parallel} at a time; kills per run "
        f"{args.kills}{' (worker and Temporal server)' if args.kill_server else ' (worker)'}; "
        f"fault rate {args.rate:g}; run timeout {args.timeout:.0f} s",
        flush=True,
    )
    results: list[RunResult] = []
    with tempfile.TemporaryDirectory(prefix="ucrenew-matrix-") as tmp:
        root = Path(tmp)
        server = DevServer(root / "temporal", port=free_loopback_port())
        async with server:
            matrix = Matrix(args, root, server)
            matrix.client = await server.connect()
            gate = asyncio.Semaphore(args.parallel)

            async def one(kind: Any, case: str, repeat: int) -> None:
                async with gate:
                    try:
                        r = await matrix.run(case, kind, repeat)
                    except Exception as exc:
                        # The harness failed (a lab address taken, say), not ucrenew.
                        r = RunResult(case=case, kind=kind, repeat=repeat, change_id="-")
                        r.harness_error = f"{type(exc).__name__}: {exc}"
                results.append(r)
                verdict = "completed" if r.completed else f"needs an operator ({r.operator})"
                if r.harness_error:
                    verdict = f"NOT RUN (the harness failed: {r.harness_error})"
                print(
                    f"  {kind} {case} #{repeat}: {verdict}; {r.seconds:.1f} s; kills {r.kills}, "
                    f"faults fired {r.faults_fired}; "
                    f"duplicated {len(r.duplicated)}, false audit {len(r.false_audit)}",
                    flush=True,
                )

            await asyncio.gather(*(one(*job) for job in jobs))
            unplanned = matrix.unplanned_restarts
    order = {(k, c, i): n for n, (k, c, i) in enumerate(jobs)}
    results.sort(key=lambda r: order[(r.kind, r.case, r.repeat)])
    print()
    print(_table(results))
    if unplanned:
        print(f"\nthe Temporal server died unasked and was started again {unplanned} time(s)")
    if args.json:
        text = json.dumps([asdict(r) for r in results], indent=2) + "\n"
        await asyncio.to_thread(Path(args.json).write_text, text, encoding="utf-8")
    return results


def _choices(values: list[str], known: dict[str, Any], what: str) -> list[str]:
    if values == ["all"]:
        return list(known)
    if values == ["none"]:
        return []
    unknown = [v for v in values if v not in known]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown {what}: {', '.join(unknown)}; choose from {', '.join(known)}, all or none"
        )
    return values


def _args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.bench_crash_matrix",
        description="Kill ucrenew at every step and fault the lab; count what went wrong.",
    )
    parser.add_argument(
        "--kill-points",
        nargs="+",
        default=list(QUICK_KILLS),
        metavar="NAME",
        help=f"kill points, 'all' or 'none' (default: {' '.join(QUICK_KILLS)})",
    )
    parser.add_argument(
        "--faults",
        nargs="+",
        default=list(QUICK_FAULTS),
        metavar="KIND",
        help=f"fault kinds, 'all' or 'none' (default: {' '.join(QUICK_FAULTS)})",
    )
    parser.add_argument("--repeats", type=int, default=1, help="runs of each case")
    parser.add_argument("--kills", type=int, default=1, help="kills per run, one per effect")
    parser.add_argument(
        "--kill-server",
        action="store_true",
        help="kill the Temporal dev server with the worker (runs one renewal at a time)",
    )
    parser.add_argument("--rate", type=float, default=0.2, help="fault rate, 0 to 1")
    parser.add_argument("--latency", type=float, default=1.5, help="seconds the latency fault adds")
    parser.add_argument("--parallel", type=int, default=3, help="renewals at a time")
    parser.add_argument(
        "--timeout",
        type=float,
        default=480.0,
        help="seconds a run may take before it counts as needing an operator",
    )
    parser.add_argument(
        "--restart-heartbeat",
        type=float,
        default=5.0,
        help="restart_heartbeat_seconds of the renewals (how soon a killed restart resumes)",
    )
    parser.add_argument(
        "--subnet", type=int, default=61, help="second octet of the labs' loopback networks"
    )
    parser.add_argument("--json", metavar="FILE", help="also write every run as JSON")
    parser.add_argument("--list", action="store_true", help="list kill points and fault kinds")
    args = parser.parse_args(argv)
    if args.list:
        for k in KILL_POINTS.values():
            print(f"kill  {k.name:<28}{k.scenario:<13}{k.description}")
        for name, text in FAULT_KINDS.items():
            print(f"fault {name:<28}{'tomcat':<13}{text}")
        raise SystemExit(0)
    try:
        args.kill_points = _choices(args.kill_points, KILL_POINTS, "kill point")
        args.faults = _choices(args.faults, FAULT_KINDS, "fault kind")
    except argparse.ArgumentTypeError as exc:
        parser.error(str(exc))
    if not 0 < args.rate <= 1:
        parser.error("--rate must be above 0 and at most 1")
    if args.latency <= 0 or args.timeout <= 0:
        parser.error("--latency and --timeout must be above 0")
    if args.repeats < 1 or args.kills < 1 or args.parallel < 1:
        parser.error("--repeats, --kills and --parallel must be at least 1")
    if not 1 <= args.subnet <= 254:
        parser.error("--subnet must be between 1 and 254")
    if args.kill_server:
        args.parallel = 1
    if not args.kill_points and not args.faults:
        parser.error("nothing to run: give at least one kill point or fault kind")
    return args


if __name__ == "__main__":
    options = _args(sys.argv[1:])
    # A killed worker leaves the lab's servers with reset connections: expected, not news.
    for noisy in ("aiohttp", "asyncssh", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.CRITICAL)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main(options))
