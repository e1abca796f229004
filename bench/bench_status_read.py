"""How long reading a renewal's status takes with no worker (``workers.status_read``, what
``ucrenew show``/``watch``/``report`` and the renewal page use), and what a bare status
query did before.

The script starts a headless Temporal dev server on a free loopback port and times:

- a *finished* change (failed: its cluster is not in the inventory, so the worker stops it
  in discovery and it writes its final status to its memo), read after its worker stopped;
- a *running* change on a task queue no worker ever polled;
- a *running* change whose worker has just stopped (Temporal still lists its poller, so
  the reader asks with a 5 s deadline);
- for comparison, the bare status query of the finished change with no worker (what
  ``show`` did before), cut off after ``limit`` seconds.

Run: ``.venv/bin/python -m bench.bench_status_read [reads] [limit]``. Prints figures;
asserts nothing. Every change it started ends; the server stops.

Figures of the issue-16 work (2 cores shared with other work, load from other sessions),
10 reads each (3 for the stopped worker):

==============================================  ===========  ===========
measure                                         p50          max
==============================================  ===========  ===========
finished change, no worker (its memo)           3 ms         7 ms
running change, no poller (records + notice)    6 ms         12 ms
running change, worker just stopped (deadline)  5,012 ms     5,013 ms
bare status query, finished, no worker (before) 29,005 ms, then an error
==============================================  ===========  ===========
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

from temporalio.client import Client, WorkflowFailureError
from temporalio.service import RPCError
from temporalio.worker import Worker

from workers.devserver import DevServer, free_loopback_port
from workers.settings import UcrenewSettings
from workers.starting import start_renewal
from workers.status_read import read_status
from workers.wiring import build_worker
from workflows.models import RenewalInput
from workflows.notifications import NotificationWorkflow
from workflows.renewal import CertRenewalWorkflow

INVENTORY = """\
clusters: []
"""


async def timed_reads(client: Client, change_id: str, reads: int) -> tuple[list[float], str]:
    """Seconds per read, and where the last read came from (with its notice)."""
    times = []
    where = ""
    for _ in range(reads):
        t0 = time.perf_counter()
        read = await read_status(client, change_id)
        times.append(time.perf_counter() - t0)
        where = read.source + (f": {read.notice[:70]}..." if read.notice else "")
    return times, where


def line(name: str, times: list[float], where: str) -> None:
    p50 = statistics.median(times) * 1000
    print(f"{name:<48} p50 {p50:8.0f} ms  max {max(times) * 1000:8.0f} ms  ({where})")


async def main(reads: int, limit: float) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp)
        inventory = state / "clusters.yaml"
        inventory.write_text(INVENTORY, encoding="utf-8")
        settings = UcrenewSettings(state_dir=state / "state", inventory=inventory)
        async with DevServer(state / "temporal", port=free_loopback_port()) as server:
            client = await server.connect()
            queue = f"bench-{uuid.uuid4()}"
            finished = f"CHG-{uuid.uuid4().hex[:10]}"
            waiting = f"CHG-{uuid.uuid4().hex[:10]}"
            orphan = f"CHG-{uuid.uuid4().hex[:10]}"
            async with build_worker(client, settings, queue):
                handle = await start_renewal(
                    client,
                    RenewalInput(change_id=finished, cluster="nowhere", requested_by="bench"),
                    task_queue=queue,
                )
                with contextlib.suppress(WorkflowFailureError):
                    await handle.result()
                stale = await start_renewal(
                    client,
                    RenewalInput(change_id=waiting, cluster="nowhere", requested_by="bench"),
                    task_queue=f"{queue}-idle",
                )
            started = await start_renewal(
                client,
                RenewalInput(change_id=orphan, cluster="nowhere", requested_by="bench"),
                task_queue=f"nobody-{uuid.uuid4()}",
            )
            try:
                line("finished change, no worker", *await timed_reads(client, finished, reads))
                line("running change, no poller", *await timed_reads(client, orphan, reads))
                # A worker that polled the queue and stopped: Temporal lists it a while. It
                # runs another workflow type only, so the change stays in flight.
                async with Worker(
                    client, task_queue=f"{queue}-idle", workflows=[NotificationWorkflow]
                ):
                    await asyncio.sleep(1)
                line(
                    "running change, worker just stopped",
                    *await timed_reads(client, waiting, min(reads, 3)),
                )
                t0 = time.perf_counter()
                outcome = "answered"
                try:
                    await client.get_workflow_handle(finished).query(
                        CertRenewalWorkflow.get_status, rpc_timeout=timedelta(seconds=limit)
                    )
                except RPCError as exc:
                    outcome = f"failed: {exc.message}"
                line("bare status query, finished, no worker", [time.perf_counter() - t0], outcome)
            finally:
                for h in (stale, started):
                    with contextlib.suppress(RPCError):
                        await h.terminate("bench over")


if __name__ == "__main__":
    args = sys.argv[1:]
    asyncio.run(main(int(args[0]) if args else 10, float(args[1]) if len(args) > 1 else 60.0))
