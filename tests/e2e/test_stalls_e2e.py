"""Stalls are seen (issue 16): a worker that dies during a long step is noticed by the step's
heartbeat, a step that waits on a node says so in the status, and a service that will not start
is restarted once and reported, not restarted again and again.

The lab's journal says what happened on the cluster; the Temporal history says why a step was
retried (its previous attempt's failure). No assertion on wall time.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess

import pytest
from rich.console import Console
from temporalio.api.enums.v1 import EventType, TimeoutType

from console.render import status_view
from lab.faults import Fault
from tests.e2e.conftest import FAST_OPTIONS, Handle, Stack
from workflows.models import RenewalStatus
from workflows.renewal import CertRenewalWorkflow

pytestmark = pytest.mark.e2e

TOMCAT = "Cisco Tomcat"


def tomcat_restarts(stack: Stack) -> list[str]:
    return [
        e.node or ""
        for e in stack.lab.lab.journal.entries("service.control")
        if e.data["service"] == TOMCAT and e.data["action"] == "restart"
    ]


async def terminate(handle: Handle) -> None:
    """End the change whatever happened (the dev server is shared by every e2e test)."""
    with contextlib.suppress(Exception):
        await handle.terminate(reason="test over")


async def held(stack: Stack, worker: subprocess.Popen[bytes], operation: str) -> None:
    """Wait until the lab holds ``operation`` (its ``operation-hang`` fault fired): the step is
    running on the worker now."""
    journal = stack.lab.lab.journal
    while not any(
        e.data.get("kind") == "operation-hang" and e.data.get("operation") == operation
        for e in journal.entries("fault.fired")
    ):
        assert worker.poll() is None, (stack.settings.state_dir / "worker.log").read_text()
        await asyncio.sleep(0.05)


async def attempts(handle: Handle, activity: str) -> list[tuple[int, int]]:
    """Per execution of ``activity``: (its last attempt, the timeout type of the attempt
    before it; 0 when there was none or it was no timeout), from the history."""
    scheduled: set[int] = set()
    found: list[tuple[int, int]] = []
    async for event in handle.fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            attrs = event.activity_task_scheduled_event_attributes
            if attrs.activity_type.name == activity:
                scheduled.add(event.event_id)
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            started = event.activity_task_started_event_attributes
            if started.scheduled_event_id in scheduled:
                timeout = started.last_failure.timeout_failure_info.timeout_type
                found.append((started.attempt, int(timeout)))
    return found


def fast(**update: object) -> dict[str, object]:
    return FAST_OPTIONS.model_copy(update=update).model_dump()


async def killed_during(stack: Stack, dev_address: str, operation: str, activity: str) -> None:
    """Hold ``operation`` on the publisher, kill the worker running it, and finish the change
    on a new worker: the step's retry came from its heartbeat timeout."""
    lab = stack.lab.lab
    hang = await lab.add_fault(Fault(kind="operation-hang", node="cucm-pub", target=operation))
    first = stack.worker_process(dev_address)
    handle = await stack.start(options=fast(step_heartbeat_seconds=2.0))
    try:
        await held(stack, first, operation)
        status = await handle.query(CertRenewalWorkflow.get_status)
        assert [w.node for w in status.waiting] == [lab.cluster.node("cucm-pub").fqdn]
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        # The node finishes what it was asked before the worker died.
        await lab.clear_faults(hang.id)
        async with stack.worker():
            await stack.reenable_sso(handle)
            final = await handle.result()
        assert final.phase == "done"
        assert not final.waiting
        # Attempt 1 died with the worker; attempt 2 started because its heartbeat stopped,
        # not because its start-to-close timeout ran out.
        assert await attempts(handle, activity) == [(2, TimeoutType.TIMEOUT_TYPE_HEARTBEAT)]
        assert tomcat_restarts(stack) == ["cucm-pub", "cucm-sub1", "cucm-sub2", "imp-pub"]
        uploads = lab.journal.entries("identity.uploaded")
        assert len(uploads) == 1 and uploads[0].data["serial"] == final.new_serial
    finally:
        await terminate(handle)


async def test_worker_killed_during_csr_generation_resumes_after_the_heartbeat_timeout(
    stack: Stack, dev_address: str
) -> None:
    await killed_during(stack, dev_address, "csr", "generate_csr")


async def test_worker_killed_during_the_upload_resumes_after_the_heartbeat_timeout(
    stack: Stack, dev_address: str
) -> None:
    await killed_during(stack, dev_address, "upload-identity", "upload_certificate")


async def test_a_tomcat_that_fails_to_start_is_restarted_once_and_reported(stack: Stack) -> None:
    """The lab's ``service-fail-start`` ends Cisco Tomcat NOTRUNNING after every start, as
    ``utils service restart`` shows a service that does not come up (cucm-interfaces.md §7:
    ``[FAILED]``/``NOTRUNNING``): restarting it again cannot help."""
    lab = stack.lab.lab
    sub1 = lab.cluster.node("cucm-sub1")
    await lab.add_fault(Fault(kind="service-fail-start", node="cucm-sub1", target=TOMCAT))
    async with stack.worker():
        handle = await stack.start()
        try:
            status = await stack.wait_for(handle, "operator", timeout=120)
            assert status.failed_step is not None
            assert (status.failed_step.node, status.failed_step.service) == (sub1.fqdn, TOMCAT)
            reason = status.failed_step.reason
            assert "NOTRUNNING" in reason and "does not try again" in reason
            assert f"utils service start {TOMCAT}" in reason
            assert tomcat_restarts(stack) == ["cucm-pub", "cucm-sub1"]
            restarts = await attempts(handle, "restart_service")
            assert [attempt for attempt, _ in restarts] == [1, 1]
            assert not status.waiting
        finally:
            await terminate(handle)


async def wait_until(handle: Handle, check: str, node: str) -> RenewalStatus:
    while True:
        status = await handle.query(CertRenewalWorkflow.get_status)
        if any(w.node == node and w.step == check for w in status.waiting):
            return status
        assert status.awaiting == "", f"never waited on {node}: {status.error}"
        await asyncio.sleep(0.05)


async def test_a_hung_tomcat_shows_waiting_on_the_node_then_is_reported(stack: Stack) -> None:
    """``service-hang`` keeps Cisco Tomcat STARTING: the status says which node the change
    waits on and since when, and once the restart's timeout runs out the change asks the
    operator instead of restarting Tomcat again."""
    lab = stack.lab.lab
    sub1 = lab.cluster.node("cucm-sub1")
    await lab.add_fault(Fault(kind="service-hang", node="cucm-sub1", target=TOMCAT))
    async with stack.worker():
        handle = await stack.start(options=fast(restart_timeout_seconds=10.0))
        try:
            status = await wait_until(handle, "restart", sub1.fqdn)
            (wait,) = [w for w in status.waiting if w.node == sub1.fqdn]
            assert wait.service == TOMCAT and status.started_at is not None
            assert wait.since >= status.started_at
            out = Console(width=200, record=True)
            out.print(status_view(status))
            shown = out.export_text()
            assert f"waiting on {sub1.fqdn} for" in shown
            assert f"restart of {TOMCAT}" in shown

            status = await stack.wait_for(handle, "operator", timeout=120)
            assert status.failed_step is not None
            assert status.failed_step.node == sub1.fqdn
            reason = status.failed_step.reason
            assert "not STARTED within 10 s" in reason and "hung while starting" in reason
            assert not status.waiting
            assert tomcat_restarts(stack) == ["cucm-pub", "cucm-sub1"]
            assert [a for a, _ in await attempts(handle, "restart_service")] == [1, 1]
        finally:
            await lab.clear_faults()
            await terminate(handle)
