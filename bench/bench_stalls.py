"""How long a stall lasts: a worker killed during CSR generation or the certificate upload, and a
Tomcat that hangs while starting. Run: ``.venv/bin/python -m bench.bench_stalls
[--heartbeat S] [--restart-timeout S]``.

Each case is a tomcat renewal on the lab (fast timing, SSO off) through a Temporal dev server
of its own. For a kill, the lab holds the operation (``operation-hang``), the worker process
running it is killed, a new worker starts, and the figure is read from the history: from the
kill to the start of the step's next attempt, with the timeout that ended the dead attempt
(HEARTBEAT after ``--heartbeat`` seconds, the renewal default 30 s; before issue 16 it was
START_TO_CLOSE after the step's 3 minutes). For the hang, the lab keeps Cisco Tomcat STARTING
on a subscriber: the figures are when the status first says "waiting on" that node, when the
change asks the operator, and how many restarts the lab was asked for (one attempt of
``--restart-timeout`` seconds, default 20 here, 600 in production; before it was three attempts
of 900 s). Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from temporalio.api.enums.v1 import EventType, TimeoutType
from temporalio.client import Client, WorkflowHandle

from lab import topology
from lab.faults import Fault
from lab.server import Lab
from lab.timing import FAST
from workers.devserver import DevServer, free_loopback_port
from workers.settings import UcrenewSettings
from workers.wiring import build_worker
from workflows import search_attributes as sa
from workflows.models import RenewalInput, RenewalOptions, RenewalStatus
from workflows.renewal import CertRenewalWorkflow

TOMCAT = "Cisco Tomcat"
Handle = WorkflowHandle[Any, RenewalStatus]


def spec(network: str) -> topology.TopologySpec:
    """The default lab cluster, SSO off (no operator confirmation needed)."""
    data = topology.load().model_dump()
    data.update({"network": network, "sso_enabled": False})
    return topology.TopologySpec.model_validate(data)


def worker_process(settings: UcrenewSettings, address: str, queue: str) -> subprocess.Popen[bytes]:
    """``python -m workers`` in its own process, killable like a real one."""
    env = dict(os.environ)
    env.update(
        UCRENEW_STATE_DIR=str(settings.state_dir),
        UCRENEW_INVENTORY=str(settings.inventory_path),
        UCRENEW_TEMPORAL_ADDRESS=address,
        UCRENEW_TASK_QUEUE=queue,
    )
    with (settings.state_dir / "worker.log").open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "workers"], env=env, stdout=log, stderr=subprocess.STDOUT
        )


async def start(client: Client, cluster: str, queue: str, options: RenewalOptions) -> Handle:
    change = f"BENCH-STALLS-{uuid.uuid4().hex[:8]}"
    inp = RenewalInput(change_id=change, cluster=cluster, requested_by="bench", options=options)
    return await client.start_workflow(
        CertRenewalWorkflow.run,
        inp,
        id=change,
        task_queue=queue,
        search_attributes=sa.start_attributes(cluster, change, ["tomcat"]),
    )


async def next_attempt(handle: Handle, activity: str) -> tuple[datetime, str]:
    """When the second attempt of ``activity`` started, and what ended the first."""
    scheduled: set[int] = set()
    async for event in handle.fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            if event.activity_task_scheduled_event_attributes.activity_type.name == activity:
                scheduled.add(event.event_id)
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            attrs = event.activity_task_started_event_attributes
            if attrs.scheduled_event_id in scheduled and attrs.attempt > 1:
                kind = attrs.last_failure.timeout_failure_info.timeout_type
                return event.event_time.ToDatetime(UTC), TimeoutType.Name(kind)
    raise RuntimeError(f"{activity} was never retried")


async def kill_case(
    server: DevServer, root: Path, n: int, operation: str, activity: str, heartbeat: float
) -> tuple[float, str]:
    """Seconds from the kill to the next attempt's start, and the timeout type."""
    state = root / f"kill-{n}"
    async with Lab(spec(f"127.57.{10 + n}.0/24"), state / "lab", FAST) as lab:
        client = await server.connect()
        settings = UcrenewSettings(state_dir=state, inventory=state / "lab" / "inventory.yaml")
        queue = f"bench-stalls-{uuid.uuid4()}"
        hang = await lab.add_fault(Fault(kind="operation-hang", node="cucm-pub", target=operation))
        first = worker_process(settings, server.address, queue)
        options = RenewalOptions(restart_poll_seconds=0.1, step_heartbeat_seconds=heartbeat)
        handle = await start(client, lab.cluster.spec.cluster, queue, options)
        try:
            while not any(
                e.data.get("operation") == operation for e in lab.journal.entries("fault.fired")
            ):
                if first.poll() is not None:
                    raise RuntimeError((state / "worker.log").read_text())
                await asyncio.sleep(0.05)
            first.send_signal(signal.SIGKILL)
            first.wait(10)
            killed = datetime.now(UTC)
            await lab.clear_faults(hang.id)
            async with build_worker(client, settings, queue):
                status = await asyncio.wait_for(handle.result(), 900)
            if status.phase != "done":
                raise RuntimeError(f"the renewal ended {status.phase}: {status.error}")
            resumed, kind = await next_attempt(handle, activity)
            return (resumed - killed).total_seconds(), kind
        finally:
            if first.poll() is None:
                first.kill()
            with contextlib.suppress(Exception):
                await handle.terminate("bench over")


async def hang_case(
    server: DevServer, root: Path, restart_timeout: float
) -> tuple[float, float, int]:
    """(seconds until the status says "waiting on" the hung node, seconds until the change
    asks the operator, restarts of Tomcat the lab was asked for on that node)."""
    state = root / "hang"
    async with Lab(spec("127.57.30.0/24"), state / "lab", FAST) as lab:
        client = await server.connect()
        settings = UcrenewSettings(state_dir=state, inventory=state / "lab" / "inventory.yaml")
        queue = f"bench-stalls-{uuid.uuid4()}"
        sub1 = lab.cluster.node("cucm-sub1")
        await lab.add_fault(Fault(kind="service-hang", node="cucm-sub1", target=TOMCAT))
        options = RenewalOptions(restart_poll_seconds=0.1, restart_timeout_seconds=restart_timeout)
        async with build_worker(client, settings, queue):
            handle = await start(client, lab.cluster.spec.cluster, queue, options)
            try:
                # The journal has no events to wait on: it is polled.
                while not any(  # noqa: ASYNC110
                    e.node == "cucm-sub1" and e.data["service"] == TOMCAT
                    for e in lab.journal.entries("service.control")
                ):
                    await asyncio.sleep(0.05)
                t0 = time.perf_counter()
                seen: float | None = None
                while True:
                    status = await handle.query(CertRenewalWorkflow.get_status)
                    if seen is None and any(w.node == sub1.fqdn for w in status.waiting):
                        seen = time.perf_counter() - t0
                    if status.awaiting == "operator" or status.phase in ("failed", "done"):
                        break
                    await asyncio.sleep(0.1)
                asked = time.perf_counter() - t0
                restarts = sum(
                    1
                    for e in lab.journal.entries("service.control", node="cucm-sub1")
                    if e.data["service"] == TOMCAT
                )
                return seen if seen is not None else float("nan"), asked, restarts
            finally:
                await lab.clear_faults()
                with contextlib.suppress(Exception):
                    await handle.terminate("bench over")


async def main(heartbeat: float, restart_timeout: float) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        async with DevServer(root / "temporal", port=free_loopback_port()) as server:
            for n, (operation, activity) in enumerate(
                (("csr", "generate_csr"), ("upload-identity", "upload_certificate"))
            ):
                seconds, kind = await kill_case(server, root, n, operation, activity, heartbeat)
                print(
                    f"worker killed during {activity}: next attempt {seconds:5.1f} s after the "
                    f"kill ({kind}; heartbeat timeout {heartbeat:g} s)"
                )
            seen, asked, restarts = await hang_case(server, root, restart_timeout)
            print(
                f"hung Tomcat on cucm-sub1: 'waiting on' in the status after {seen:.1f} s; the "
                f"change asked the operator after {asked:.1f} s (restart timeout "
                f"{restart_timeout:g} s); Tomcat restarts asked there: {restarts}"
            )


def _args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_stalls")
    parser.add_argument(
        "--heartbeat", type=float, default=30.0, help="step heartbeat timeout (renewal default)"
    )
    parser.add_argument(
        "--restart-timeout", type=float, default=20.0, help="restart timeout of the hang case"
    )
    args = parser.parse_args(argv)
    if args.heartbeat <= 0 or args.restart_timeout <= 0:
        parser.error("--heartbeat and --restart-timeout must be above 0")
    return args


if __name__ == "__main__":
    options = _args(sys.argv[1:])
    asyncio.run(main(options.heartbeat, options.restart_timeout))
