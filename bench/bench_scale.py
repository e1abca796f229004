"""Scale: N tomcat renewals in flight on N lab clusters, parked at plan approval, then released.

Run: ``.venv/bin/python -m bench.bench_scale`` (500 renewals on 500 twins), or smaller for a
quick run: ``--renewals 50``. ``--clusters`` defaults to ``--renewals`` (one renewal per
cluster); ``--one-by-one K`` approvals are sent one at a time before the rest go at once;
``--worker-env NAME=VALUE`` sets a worker setting (``UCRENEW_WORKFLOW_CACHE_SIZE=600``) to
compare. ``--json FILE`` writes every figure. Prints figures; asserts nothing.

What runs, each in a process of its own so its memory and CPU are its own:

- the lab (``lab.fleet.LabFleet``): N twins of the default 4-node topology (CUCM publisher,
  two subscribers, IM&P publisher; fast timing; SSO off and no phones, which a tomcat renewal
  does not touch), each on its own loopback /24 from ``--network``;
- the embedded Temporal dev server (``workers.devserver``);
- one ucrenew worker (``python -m workers``), whose resident memory (VmRSS) is read from
  ``/proc``.

The bench (this process) plays the requester and the approver:

1. starts N renewals (``require_plan_approval``) and waits until every one is parked at the
   plan gate (the ``RenewalAwaiting`` search attribute), with the worker's RSS before and
   after: the memory per parked renewal as the worker that did the discovery holds it;
2. restarts the worker and reads every renewal's status once (a query replays it into the
   new worker's cache): the memory per parked renewal of the workflow cache alone, and how
   fast a fresh worker takes 500 parked renewals back;
3. approves K renewals one at a time (the approval round trip with N parked), then the other
   N - K at once (how long until all are applied);
4. waits until every renewal ends: completion rate, renewals per minute from the first
   approval, failures with their reasons; and reads every history: events per renewal, and
   the round trip from each approval's send to the next activity (``ActivityTaskScheduled``
   and ``ActivityTaskStarted`` event times; the server and the bench share one clock).

Every renewal still running at the end is terminated, and every process is stopped.

Figures (2 cores shared with five other engineers' tests and benches: load average 12 to 18
during these runs, so the wall-clock figures are several times what an idle machine gives):

=================================  ===============  ================  ================
                                   N=100, main      N=500, 87c1162    N=50, 9ced6ec
                                   (d450c1b)        (slots 20)        (all changes)
=================================  ===============  ================  ================
parked at plan approval            100 in 51 s      500 in 676 s      50 in 28 s
worker RSS per parked renewal      682 KiB          515 KiB           601 KiB
(cache only, fresh worker)
one approval at a time, update     127 / 159 ms     682 / 1,270 ms    111 / 244 ms
p50 / p99
  to the next activity p50 / p99   87 / 121 ms      284 / 663 ms      77 / 206 ms
approvals at once: all applied     90 in 33.1 s     450 in 295 s      45 in 8.9 s
  update p50 / p99                 11.4 / 33.1 s    136 / 283 s       3.9 / 8.8 s
completed                          100/100          500/500           50/50
renewals per minute (from the      23               38                38
first approval)
history events per renewal         184 (max 192)    191 (max 196)     187 (max 190)
workflow tasks over 5 s (log)      94               0                 0
=================================  ===============  ================  ================

In the N=500 run two approvals' update calls timed out at the client (their renewals were
approved and completed). ``ActivityTaskStarted`` carried the same time as
``ActivityTaskScheduled`` in every run (the activity was picked up at once), so "to the next
activity" is one figure. By ``tracemalloc`` on 100 replayed parked renewals (the rest of the
RSS is Temporal's core, protobuf and pydantic-core memory, which it does not see), a parked
renewal's Python objects went 277 KiB (main) → 220 KiB (passthrough) → 145 KiB (shared
compiled code); unsandboxed 112 KiB.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TypeVar

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError, WorkflowHandle

from workers.devserver import DevServer, free_loopback_port
from workflows import search_attributes as sa
from workflows.models import ApprovalInput, RenewalInput, RenewalOptions, RenewalStatus
from workflows.renewal import CertRenewalWorkflow

Handle = WorkflowHandle[CertRenewalWorkflow, RenewalStatus]
T = TypeVar("T")
PREFIX = "scale"
NETWORK = "127.20.0.0/24"


def rss_kib(pid: int) -> int:
    """Resident memory of process ``pid``, KiB (Linux); 0 once it is gone."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def pct(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0..1) of ``values``, nearest rank; NaN when empty."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered) + 0.5) - 1))]


async def bounded(limit: int, calls: Sequence[Callable[[], Awaitable[T]]]) -> list[T]:
    """Run ``calls`` with at most ``limit`` at once; their results in order."""
    gate = asyncio.Semaphore(limit)

    async def one(call: Callable[[], Awaitable[T]]) -> T:
        async with gate:
            return await call()

    return list(await asyncio.gather(*(one(c) for c in calls)))


# -- the lab, in a process of its own ---------------------------------------------------------


async def serve_lab(state: Path, clusters: int, network: str) -> None:
    """Run ``clusters`` twins until SIGTERM (``--serve-lab``); ``lab.json`` says they are up."""
    from lab import topology
    from lab.fleet import LabFleet, fleet_specs
    from lab.timing import FAST

    base = topology.load()
    data = base.model_dump()
    data.update(network=network, sso_enabled=False, phones={**data["phones"], "count": 0})
    specs = fleet_specs(topology.TopologySpec.model_validate(data), clusters, prefix=PREFIX)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with LabFleet(specs, state, FAST):
        await stop.wait()


# -- the bench -------------------------------------------------------------------------------


@dataclass
class Figures:
    """Everything the bench measured (``--json`` writes it)."""

    renewals: int
    clusters: int
    worker_env: dict[str, str]
    lab_ready_s: float = 0.0
    worker_rss_idle_kib: int = 0
    parked: int = 0
    park_s: float = 0.0
    worker_rss_parked_kib: int = 0
    parked_kib_per_renewal: float = 0.0
    fresh_worker_rss_idle_kib: int = 0
    fresh_worker_rss_warm_kib: int = 0
    fresh_worker_rss_cached_kib: int = 0
    cache_kib_per_renewal: float = 0.0
    replay_all_s: float = 0.0
    query_failures: int = 0
    one_by_one: int = 0
    one_update_ms: list[float] = field(default_factory=list)
    burst: int = 0
    burst_update_ms: list[float] = field(default_factory=list)
    burst_all_applied_s: float = 0.0
    approval_errors: list[str] = field(default_factory=list)
    one_scheduled_ms: list[float] = field(default_factory=list)
    one_started_ms: list[float] = field(default_factory=list)
    burst_scheduled_ms: list[float] = field(default_factory=list)
    burst_started_ms: list[float] = field(default_factory=list)
    completed: int = 0
    release_s: float = 0.0
    renewals_per_minute: float = 0.0
    events: list[int] = field(default_factory=list)
    failures: dict[str, int] = field(default_factory=dict)
    worker_rss_peak_kib: int = 0


class Bench:
    """One run; see the module docstring."""

    def __init__(self, args: argparse.Namespace, root: Path) -> None:
        self.args = args
        self.root = root
        self.queue = f"scale-{uuid.uuid4().hex[:8]}"
        self.worker: subprocess.Popen[bytes] | None = None
        self.peak = 0
        self.figures = Figures(
            renewals=args.renewals, clusters=args.clusters, worker_env=dict(args.worker_env)
        )

    # processes

    def start_worker(self, server: DevServer) -> None:
        env = dict(os.environ)
        env.update(
            UCRENEW_STATE_DIR=str(self.root / "state"),
            UCRENEW_INVENTORY=str(self.root / "lab" / "inventory.yaml"),
            UCRENEW_TEMPORAL_ADDRESS=server.address,
            UCRENEW_TASK_QUEUE=self.queue,
        )
        env.update(self.args.worker_env)
        with (self.root / "worker.log").open("ab") as log:
            self.worker = subprocess.Popen(
                [sys.executable, "-m", "workers"], env=env, stdout=log, stderr=subprocess.STDOUT
            )

    async def stop_worker(self) -> None:
        proc, self.worker = self.worker, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(asyncio.to_thread(proc.wait), 30)
        except TimeoutError:
            proc.kill()
            await asyncio.to_thread(proc.wait)

    def rss(self) -> int:
        value = rss_kib(self.worker.pid) if self.worker else 0
        self.peak = max(self.peak, value)
        return value

    async def settled_rss(self, seconds: float = 3.0) -> int:
        """The worker's RSS once it has stopped moving for a moment (the last of a few)."""
        values = []
        for _ in range(int(seconds / 0.5)):
            await asyncio.sleep(0.5)
            values.append(self.rss())
        return values[-1]

    async def sample_peak(self) -> None:
        while True:
            self.rss()
            await asyncio.sleep(0.5)

    # helpers

    async def count(self, client: Client, where: str) -> int:
        query = f"TaskQueue = '{self.queue}' AND WorkflowType = 'CertRenewalWorkflow'"
        return (await client.count_workflows(f"{query} AND {where}")).count

    def say(self, text: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)

    # the run

    async def run(self, client: Client, server: DevServer) -> None:
        f = self.figures
        self.start_worker(server)
        await asyncio.sleep(2.0)
        f.worker_rss_idle_kib = await self.settled_rss()
        sampler = asyncio.create_task(self.sample_peak())
        handles: list[Handle] = []
        try:
            handles = await self.start_all(client)
            await self.park(client)
            await self.fresh_worker(server, handles)
            plans = await self.plan_hashes(handles)
            sent = await self.approve(handles, plans)
            await self.release(client, sent)
            await self.read_histories(handles, sent)
        finally:
            sampler.cancel()
            f.worker_rss_peak_kib = self.peak
            await bounded(20, [lambda h=h: self.end(h) for h in handles])
            await self.stop_worker()

    async def start_all(self, client: Client) -> list[Handle]:
        n, clusters = self.args.renewals, self.args.clusters
        names = [PREFIX if i == 0 else f"{PREFIX}-{i + 1:03d}" for i in range(clusters)]
        run = uuid.uuid4().hex[:6]

        async def start(i: int) -> Handle:
            change = f"SCALE-{run}-{i:04d}"
            cluster = names[i % clusters]
            return await client.start_workflow(
                CertRenewalWorkflow.run,
                RenewalInput(
                    change_id=change,
                    cluster=cluster,
                    requested_by="bench-requester",
                    require_plan_approval=True,
                    options=RenewalOptions(restart_poll_seconds=0.1),
                ),
                id=change,
                task_queue=self.queue,
                search_attributes=sa.start_attributes(cluster, change, ["tomcat"]),
            )

        self.t_start = time.monotonic()
        handles = await bounded(50, [lambda i=i: start(i) for i in range(n)])
        self.say(f"started {n} renewals in {time.monotonic() - self.t_start:.1f} s")
        return handles

    async def park(self, client: Client) -> None:
        f, n = self.figures, self.args.renewals
        deadline = time.monotonic() + self.args.park_timeout
        last = -1
        while time.monotonic() < deadline:
            parked = await self.count(client, "RenewalAwaiting = 'approval'")
            ended = await self.count(client, "ExecutionStatus != 'Running'")
            if parked != last:
                self.say(f"parked {parked}/{n}, ended {ended}, worker {self.rss() / 1024:.0f} MiB")
                last = parked
            if parked + ended >= n:
                break
            await asyncio.sleep(2.0)
        f.parked = parked
        f.park_s = time.monotonic() - self.t_start
        f.worker_rss_parked_kib = await self.settled_rss()
        f.parked_kib_per_renewal = (f.worker_rss_parked_kib - f.worker_rss_idle_kib) / max(
            1, parked
        )

    async def fresh_worker(self, server: DevServer, handles: list[Handle]) -> None:
        """A new worker takes the parked renewals back: its cache's memory per renewal."""
        f = self.figures
        await self.stop_worker()
        self.start_worker(server)
        await asyncio.sleep(2.0)
        f.fresh_worker_rss_idle_kib = await self.settled_rss()
        # A tenth first: the imports and buffers every worker makes once are counted apart.
        warm = max(1, len(handles) // 10)
        t0 = time.monotonic()
        results = await bounded(
            self.args.query_concurrency, [lambda h=h: self.query(h) for h in handles[:warm]]
        )
        warm_s = time.monotonic() - t0
        f.fresh_worker_rss_warm_kib = await self.settled_rss()
        t0 = time.monotonic()
        results += await bounded(
            self.args.query_concurrency, [lambda h=h: self.query(h) for h in handles[warm:]]
        )
        f.replay_all_s = warm_s + time.monotonic() - t0
        f.query_failures = sum(1 for r in results if r is None)
        self.statuses = results
        f.fresh_worker_rss_cached_kib = await self.settled_rss()
        f.cache_kib_per_renewal = (
            f.fresh_worker_rss_cached_kib - f.fresh_worker_rss_warm_kib
        ) / max(1, len(handles) - warm - sum(1 for r in results[warm:] if r is None))
        self.say(
            f"fresh worker: {len(handles)} renewals replayed by a query in {f.replay_all_s:.1f} s, "
            f"{f.cache_kib_per_renewal:.0f} KiB each"
        )

    @staticmethod
    async def query(handle: Handle) -> RenewalStatus | None:
        try:
            return await asyncio.wait_for(handle.query(CertRenewalWorkflow.get_status), 120)
        except Exception:
            return None

    async def plan_hashes(self, handles: list[Handle]) -> dict[str, str]:
        plans: dict[str, str] = {}
        for h, status in zip(handles, self.statuses, strict=True):
            if status is not None and status.awaiting == "approval" and status.plan is not None:
                plans[h.id] = status.plan.plan_hash
        return plans

    async def approve(self, handles: list[Handle], plans: dict[str, str]) -> dict[str, float]:
        """Approve K one by one, then the rest at once; wall-clock send time per change."""
        f = self.figures
        parked = [h for h in handles if h.id in plans]
        k = min(self.args.one_by_one, len(parked))
        sent: dict[str, float] = {}

        async def one(h: Handle) -> float | None:
            sent[h.id] = time.time()
            t0 = time.perf_counter()
            try:
                await h.execute_update(
                    CertRenewalWorkflow.approve,
                    ApprovalInput(
                        principal="bench-cab",
                        groups=["cab"],
                        comment="scale bench",
                        plan_hash=plans[h.id],
                    ),
                )
            except Exception as err:
                f.approval_errors.append(f"{h.id}: {type(err).__name__}: {err}")
                return None
            return (time.perf_counter() - t0) * 1000

        self.t_release = time.monotonic()
        for h in parked[:k]:
            ms = await one(h)
            if ms is not None:
                f.one_update_ms.append(ms)
        f.one_by_one = k
        rest = parked[k:]
        f.burst = len(rest)
        t0 = time.perf_counter()
        burst = await asyncio.gather(*(one(h) for h in rest))
        f.burst_all_applied_s = time.perf_counter() - t0
        f.burst_update_ms = [ms for ms in burst if ms is not None]
        self.one_ids = {h.id for h in parked[:k]}
        self.say(
            f"approved {k} one by one (update p50 {pct(f.one_update_ms, 0.5):.0f} ms), "
            f"{len(rest)} at once: all applied in {f.burst_all_applied_s:.1f} s"
        )
        return sent

    async def release(self, client: Client, sent: dict[str, float]) -> None:
        f, n = self.figures, self.args.renewals
        deadline = time.monotonic() + self.args.release_timeout
        last = -1
        while time.monotonic() < deadline:
            running = await self.count(client, "ExecutionStatus = 'Running'")
            if running != last:
                self.say(f"running {running}/{n}, worker {self.rss() / 1024:.0f} MiB")
                last = running
            if running == 0:
                break
            await asyncio.sleep(2.0)
        f.completed = await self.count(client, "ExecutionStatus = 'Completed'")
        f.release_s = time.monotonic() - self.t_release

    async def read_histories(self, handles: list[Handle], sent: dict[str, float]) -> None:
        f = self.figures
        reasons: Counter[str] = Counter()
        closes: list[float] = []

        async def read(h: Handle) -> None:
            events = 0
            update_at: float | None = None
            scheduled: float | None = None
            started: float | None = None
            scheduled_ids: set[int] = set()
            close: float | None = None
            async for e in h.fetch_history_events():
                events += 1
                at = e.event_time.ToDatetime().timestamp() if e.HasField("event_time") else 0.0
                if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
                    name = e.workflow_execution_update_accepted_event_attributes
                    if name.accepted_request.input.name == "approve" and update_at is None:
                        update_at = at
                elif (
                    e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
                    and update_at is not None
                    and scheduled is None
                ):
                    scheduled = at
                    scheduled_ids.add(e.event_id)
                elif e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
                    attrs = e.activity_task_started_event_attributes
                    if attrs.scheduled_event_id in scheduled_ids and started is None:
                        started = at
                elif e.event_type in (
                    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED,
                    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED,
                ):
                    close = at
            f.events.append(events)
            if close is not None:
                closes.append(close)
            if h.id in sent and scheduled is not None:
                one = h.id in self.one_ids
                (f.one_scheduled_ms if one else f.burst_scheduled_ms).append(
                    (scheduled - sent[h.id]) * 1000
                )
                if started is not None:
                    (f.one_started_ms if one else f.burst_started_ms).append(
                        (started - sent[h.id]) * 1000
                    )
            reason = await self.outcome(h)
            if reason:
                reasons[reason] += 1

        await bounded(20, [lambda h=h: read(h) for h in handles])
        f.failures = dict(reasons)
        if closes and sent:
            span = max(closes) - min(sent.values())
            f.renewals_per_minute = f.completed / span * 60 if span > 0 else 0.0

    @staticmethod
    async def outcome(h: Handle) -> str:
        """Why the change did not complete ('' when it did)."""
        desc = await h.describe()
        if desc.status == WorkflowExecutionStatus.COMPLETED:
            return ""
        if desc.status == WorkflowExecutionStatus.RUNNING:
            phase = desc.typed_search_attributes.get(sa.RENEWAL_PHASE) or "?"
            waiting = desc.typed_search_attributes.get(sa.RENEWAL_AWAITING) or ""
            return f"still running in phase {phase}" + (f", awaiting {waiting}" if waiting else "")
        try:
            await h.result()
        except WorkflowFailureError as err:
            cause = err.cause
            return f"failed: {getattr(cause, 'message', None) or cause}"[:200]
        except Exception as err:
            return f"{desc.status.name if desc.status else 'ended'}: {err}"[:200]
        return desc.status.name if desc.status else "ended"

    @staticmethod
    async def end(h: Handle) -> None:
        with contextlib.suppress(Exception):
            await h.terminate("the scale bench ended")


def report(f: Figures) -> str:
    """The figures as the bench prints them."""

    def q(values: Sequence[float]) -> str:
        return f"p50 {pct(values, 0.5):,.0f} ms / p99 {pct(values, 0.99):,.0f} ms"

    events = f.events or [0]
    lines = [
        f"{f.renewals} tomcat renewals (4 nodes) on {f.clusters} lab clusters, "
        f"worker settings {f.worker_env or 'default'}",
        f"  parked at plan approval: {f.parked}/{f.renewals} in {f.park_s:.0f} s",
        f"  worker RSS: idle {f.worker_rss_idle_kib / 1024:.0f} MiB, with all parked "
        f"{f.worker_rss_parked_kib / 1024:.0f} MiB -> {f.parked_kib_per_renewal:.0f} KiB per "
        "parked renewal (the worker that ran their discovery)",
        f"  fresh worker, cache only: idle {f.fresh_worker_rss_idle_kib / 1024:.0f} MiB, a "
        f"tenth replayed {f.fresh_worker_rss_warm_kib / 1024:.0f} MiB, all replayed "
        f"{f.fresh_worker_rss_cached_kib / 1024:.0f} MiB -> {f.cache_kib_per_renewal:.0f} KiB "
        "per further parked renewal; replayed all in "
        f"{f.replay_all_s:.1f} s ({f.query_failures} queries failed)",
        f"  approvals one at a time ({f.one_by_one}): update {q(f.one_update_ms)}; "
        f"to next activity scheduled {q(f.one_scheduled_ms)}, started {q(f.one_started_ms)}",
        f"  approvals at once ({f.burst}): all applied in {f.burst_all_applied_s:.1f} s; update "
        f"{q(f.burst_update_ms)}; to next activity scheduled {q(f.burst_scheduled_ms)}, "
        f"started {q(f.burst_started_ms)}",
        f"  completed {f.completed}/{f.renewals} ({f.completed / max(1, f.renewals):.0%}) "
        f"in {f.release_s:.0f} s from the first approval: {f.renewals_per_minute:.0f} "
        "renewals per minute",
        f"  history events per renewal: median {statistics.median(events):.0f}, max {max(events)}",
        f"  worker RSS peak {f.worker_rss_peak_kib / 1024:.0f} MiB",
    ]
    if f.approval_errors:
        lines.append(f"  approvals refused or lost: {len(f.approval_errors)}, first: "
                     f"{f.approval_errors[0][:200]}")  # fmt: skip
    for reason, n in sorted(f.failures.items(), key=lambda kv: -kv[1]):
        lines.append(f"  not completed ({n}): {reason}")
    return "\n".join(lines)


async def main(args: argparse.Namespace, out: list[Figures]) -> Figures:
    """Run the bench; ``out`` gets its figures at once, so an interrupted run has them too."""
    with tempfile.TemporaryDirectory(prefix="ucrenew-scale-") as tmp:
        root = Path(tmp)
        lab_log = (root / "lab.log").open("wb")
        command = [sys.executable, "-m", "bench.bench_scale", "--serve-lab"]
        command += [str(root / "lab"), str(args.clusters), args.network]
        lab = subprocess.Popen(command, stdout=lab_log, stderr=subprocess.STDOUT)  # noqa: ASYNC220
        bench = Bench(args, root)
        out.append(bench.figures)
        try:
            t0 = time.monotonic()
            while not (root / "lab" / "lab.json").exists():
                if lab.poll() is not None:
                    raise SystemExit(f"the lab stopped: {(root / 'lab.log').read_text()[-2000:]}")
                await asyncio.sleep(0.5)
            bench.figures.lab_ready_s = time.monotonic() - t0
            bench.say(f"lab of {args.clusters} clusters up in {bench.figures.lab_ready_s:.0f} s")
            async with DevServer(root / "temporal", port=free_loopback_port()) as server:
                client = await server.connect()
                await bench.run(client, server)
        finally:
            with contextlib.suppress(ProcessLookupError):
                lab.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(asyncio.to_thread(lab.wait), 60)
            except TimeoutError:
                lab.kill()
                await asyncio.to_thread(lab.wait)
            lab_log.close()
            if args.keep_logs:
                for name in ("worker.log", "lab.log"):
                    with contextlib.suppress(OSError):
                        (args.keep_logs / name).write_bytes((root / name).read_bytes())
    return bench.figures


def _env(value: str) -> tuple[str, str]:
    name, sep, setting = value.partition("=")
    if not sep or not name.startswith("UCRENEW_"):
        raise argparse.ArgumentTypeError(f"expected UCRENEW_NAME=VALUE, not {value!r}")
    return name, setting


def _args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.bench_scale", description=__doc__)
    p.add_argument("--renewals", type=int, default=500, help="renewals in flight (500)")
    p.add_argument("--clusters", type=int, default=None, help="lab clusters (= renewals)")
    p.add_argument("--one-by-one", type=int, default=None,
                   help="approvals sent one at a time first (a tenth of the renewals)")  # fmt: skip
    p.add_argument("--network", default=NETWORK, help=f"first cluster's /24 ({NETWORK})")
    p.add_argument("--worker-env", type=_env, action="append", default=[],
                   help="a worker setting, UCRENEW_NAME=VALUE (repeatable)")  # fmt: skip
    p.add_argument("--query-concurrency", type=int, default=50)
    p.add_argument("--park-timeout", type=float, default=1800.0)
    p.add_argument("--release-timeout", type=float, default=1800.0)
    p.add_argument("--json", type=Path, default=None, help="write every figure here")
    p.add_argument("--keep-logs", type=Path, default=None, help="copy worker and lab logs here")
    args = p.parse_args(argv)
    if args.renewals < 1:
        p.error("--renewals must be 1 or more")
    args.clusters = args.clusters or args.renewals
    if args.one_by_one is None:
        args.one_by_one = max(1, args.renewals // 10)
    return args


if __name__ == "__main__":
    if sys.argv[1:2] == ["--serve-lab"]:
        asyncio.run(serve_lab(Path(sys.argv[2]), int(sys.argv[3]), sys.argv[4]))
    else:
        arguments = _args(sys.argv[1:])
        collected: list[Figures] = []
        try:
            figures = asyncio.run(main(arguments, collected))
        except KeyboardInterrupt:
            if not collected:
                raise SystemExit(130) from None
            figures = collected[0]
            print("interrupted (Ctrl-C): the figures measured so far")
        print(report(figures))
        if arguments.json:
            arguments.json.write_text(json.dumps(asdict(figures), indent=2))
