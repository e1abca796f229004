"""One transient fault during discovery and preflight does not fail a change; a persistent one
stops it before any write, with the fault and how often it was tried.

Renewals on the real dev server against the lab: the fault hits Control Center on a
subscriber, whose services preflight must know (cucm-interfaces.md §4.4: the realtime
throttle is a SOAP fault, "AxisFault: Exceeded allowed rate for Reatime information").
"""

from __future__ import annotations

import pytest
from temporalio.client import WorkflowExecutionStatus, WorkflowFailureError
from temporalio.exceptions import ApplicationError

from console.planning import dry_run_report
from lab.faults import Fault
from tests.e2e.conftest import Handle, Stack
from workers.wiring import build_worker
from workflows.renewal import CertRenewalWorkflow

pytestmark = pytest.mark.e2e

SUB = "cucm-sub1"
WRITES = ("csr.generated", "trust.uploaded", "identity.uploaded", "sso.disabled")

FAULTS = [
    Fault(kind="http-error", node=SUB, target="soap", params={"status": 500}),
    Fault(kind="soap-fault", node=SUB, target="soap"),
    Fault(kind="throttle", node=SUB),
]


async def end(handle: Handle) -> None:
    """Terminate the change unless it is over already (the dev server is shared)."""
    if (await handle.describe()).status == WorkflowExecutionStatus.RUNNING:
        await handle.terminate("test over")


def fast(stack: Stack) -> Stack:
    """The stack with a worker whose retries of CUCM reads wait milliseconds (the lab is
    fast; the waits' values are tested in tests/activities/test_discovery_retries.py)."""
    stack.settings = stack.settings.model_copy(
        update={"cucm_retry_seconds": 0.05, "cucm_throttle_seconds": 0.05}
    )
    return stack


@pytest.mark.parametrize("fault", FAULTS, ids=lambda f: f.kind)
async def test_one_transient_fault_does_not_fail_the_change(stack: Stack, fault: Fault) -> None:
    stack = fast(stack)
    stack.lab.lab.faults.add(fault.model_copy(update={"count": 1}))
    async with build_worker(stack.client, stack.settings, stack.task_queue):
        handle = await stack.start()
        try:
            # Past preflight: the change waits for SSO to be re-enabled after its writes.
            status = await stack.wait_for(handle, "sso-confirm")
        finally:
            await end(handle)
    assert stack.lab.lab.faults.active() == []  # the fault fired
    assert status.problems == []
    assert stack.lab.lab.journal.entries("identity.uploaded")


async def test_a_persistent_fault_is_a_preflight_problem(stack: Stack) -> None:
    stack = fast(stack)
    stack.lab.lab.faults.add(Fault(kind="throttle", node=SUB))
    async with build_worker(stack.client, stack.settings, stack.task_queue):
        handle = await stack.start()
        try:
            with pytest.raises(WorkflowFailureError) as failed:
                await handle.result()
            status = await handle.query(CertRenewalWorkflow.get_status)
        finally:
            await end(handle)
    cause = failed.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == "PreflightFailed"
    assert [(p.code, p.node) for p in status.problems] == [
        ("services-unknown", f"{SUB}.lab.example.com")
    ]
    message = status.problems[0].message
    assert "Exceeded allowed rate for Reatime information" in message
    assert message.endswith("(failed 3 times)")
    assert message in cause.message
    journal = stack.lab.lab.journal
    assert all(journal.entries(kind) == [] for kind in WRITES)


async def test_ucrenew_plan_retries_a_transient_fault_too(stack: Stack) -> None:
    """The dry run reads the cluster through the same discovery, within its shorter step."""
    stack = fast(stack)
    stack.lab.lab.faults.add(Fault(kind="soap-fault", node=SUB, target="soap", count=1))
    async with build_worker(stack.client, stack.settings, stack.task_queue):
        report = await dry_run_report(
            stack.client, stack.task_queue, stack.lab.cluster_entry.name, ["tomcat"]
        )
    assert stack.lab.lab.faults.active() == []
    assert [p for p in report.problems if p.blocking] == []
