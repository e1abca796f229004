"""SIGTERM to a worker process in the middle of an activity (a Tomcat restart on a node).

The worker stops taking tasks and gives running activities ``UCRENEW_WORKER_SHUTDOWN_SECONDS``
to finish (Temporal's ``graceful_shutdown_timeout``): one that finishes in time completes in
that worker; one that does not is cancelled and retried by another worker. Either way the
process exits 0 and the renewal completes.
"""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType

from lab.faults import Fault
from tests.e2e.conftest import Handle, Stack
from tests.e2e.test_stateless_workers_e2e import spawn_worker

pytestmark = pytest.mark.e2e


def restarts(stack: Stack) -> list[str]:
    return [
        e.node or ""
        for e in stack.lab.lab.journal.entries("service.control")
        if e.data["service"] == "Cisco Tomcat" and e.data["action"] == "restart"
    ]


async def wait_process(proc: subprocess.Popen[bytes], timeout: float) -> int:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while proc.poll() is None:
        assert loop.time() < deadline, "the worker did not exit after SIGTERM"
        await asyncio.sleep(0.05)
    return proc.returncode


async def sub1_restart_attempts(handle: Handle) -> list[tuple[str, str]]:
    """``(started by, outcome)`` of each restart_service attempt on cucm-sub1."""
    history = await handle.fetch_history()
    scheduled: dict[int, bool] = {}
    started: dict[int, str] = {}
    outcomes: list[tuple[str, str]] = []
    for event in history.events:
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            attrs = event.activity_task_scheduled_event_attributes
            payload = attrs.input.payloads[0].data if attrs.input.payloads else b""
            scheduled[event.event_id] = (
                attrs.activity_type.name == "restart_service" and b"cucm-sub1" in payload
            )
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            attrs_s = event.activity_task_started_event_attributes
            if scheduled.get(attrs_s.scheduled_event_id):
                started[attrs_s.scheduled_event_id] = attrs_s.identity
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            attrs_c = event.activity_task_completed_event_attributes
            if attrs_c.scheduled_event_id in started:
                outcomes.append((started[attrs_c.scheduled_event_id], "completed"))
    return outcomes


async def test_sigterm_lets_a_running_restart_finish_then_exits_0(
    stack: Stack, dev_address: str, tmp_path: Path
) -> None:
    lab = stack.lab.lab
    hang = await lab.add_fault(Fault(kind="service-hang", node="cucm-sub1", target="Cisco Tomcat"))
    inventory = stack.settings.inventory_path
    log = tmp_path / "worker-1.log"
    first = spawn_worker(
        stack, dev_address, tmp_path / "w1", inventory, log, UCRENEW_WORKER_SHUTDOWN_SECONDS="60"
    )
    handle = await stack.start(
        options={"restart_poll_seconds": 0.1, "restart_heartbeat_seconds": 2.0}
    )
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 60
    while "cucm-sub1" not in restarts(stack):
        assert loop.time() < deadline and first.poll() is None, log.read_text()
        await asyncio.sleep(0.05)
    first.terminate()  # SIGTERM, as Kubernetes sends it
    await asyncio.sleep(1.0)
    assert first.poll() is None, "the worker left before its running restart finished"
    await lab.clear_faults(hang.id)  # Tomcat comes up: the restart activity finishes
    assert await wait_process(first, 60) == 0, log.read_text()
    assert "worker stopped" in log.read_text()

    spawn_worker(stack, dev_address, tmp_path / "w2", inventory, tmp_path / "worker-2.log")
    await stack.reenable_sso(handle)
    status = await asyncio.wait_for(handle.result(), 120)
    assert status.phase == "done" and all(n.verified for n in status.nodes)
    attempts = await sub1_restart_attempts(handle)
    # The restart the first worker was running completed there, on its first attempt.
    assert len(attempts) == 1 and attempts[0][1] == "completed"
    assert str(first.pid) in attempts[0][0]
    assert restarts(stack) == ["cucm-pub", "cucm-sub1", "cucm-sub2", "imp-pub"]


async def test_sigterm_hands_an_unfinished_restart_to_another_worker(
    stack: Stack, dev_address: str, tmp_path: Path
) -> None:
    lab = stack.lab.lab
    hang = await lab.add_fault(Fault(kind="service-hang", node="cucm-sub1", target="Cisco Tomcat"))
    inventory = stack.settings.inventory_path
    log = tmp_path / "worker-1.log"
    first = spawn_worker(
        stack, dev_address, tmp_path / "w1", inventory, log, UCRENEW_WORKER_SHUTDOWN_SECONDS="1"
    )
    handle = await stack.start(
        options={"restart_poll_seconds": 0.1, "restart_heartbeat_seconds": 2.0}
    )
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 60
    while "cucm-sub1" not in restarts(stack):
        assert loop.time() < deadline and first.poll() is None, log.read_text()
        await asyncio.sleep(0.05)
    first.terminate()
    # Tomcat still hangs: after its second the restart is cancelled and the worker exits.
    assert await wait_process(first, 30) == 0, log.read_text()
    second = spawn_worker(stack, dev_address, tmp_path / "w2", inventory, tmp_path / "w2.log")
    await lab.clear_faults(hang.id)
    await stack.reenable_sso(handle)
    status = await asyncio.wait_for(handle.result(), 120)
    assert status.phase == "done" and all(n.verified for n in status.nodes), status.error
    attempts = await sub1_restart_attempts(handle)
    # Completed by the second worker (a retry of the attempt the first one gave up).
    assert attempts and attempts[-1][1] == "completed", attempts
    assert str(second.pid) in attempts[-1][0], (attempts, first.pid, second.pid)
