"""A restart or a verification answered by another node never counts for the node it meant
(issue 16, "the node ucrenew talks to is the node it means"); discovery's SSH host keys are
pinned into every later restart and verification of the change."""

from __future__ import annotations

from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from tests.workflows.stubs import FQDNS, StubCluster
from tests.workflows.test_node_step_decisions import decide
from tests.workflows.test_renewal_workflow import Handle, confirm_sso, start, wait_for
from tests.workflows.test_renewal_workflow import stub as stub
from tests.workflows.test_renewal_workflow import worker as worker
from workflows.renewal import CertRenewalWorkflow

SUB1, SUB2 = FQDNS[1], FQDNS[2]


async def stop(handle: Handle) -> None:
    """End a change the test leaves paused (the shared server must not keep it)."""
    await handle.terminate("test over")


async def test_discovery_pins_each_nodes_host_key_into_its_restart_and_verification(
    time_skipping_env: WorkflowEnvironment, worker: Worker, stub: StubCluster, task_queue: str
) -> None:
    stub.identities = True
    handle = await start(time_skipping_env, task_queue)
    await confirm_sso(handle, stub)
    final = await handle.result()
    assert final.phase == "done"
    steps = [c for c in stub.calls if c[0] in ("restart_service", "verify_node")]
    assert steps and all(c[1].expected_host_key == f"SHA256:{c[1].node}" for c in steps)


async def test_a_restart_answered_by_another_node_is_not_counted_done(
    time_skipping_env: WorkflowEnvironment, worker: Worker, stub: StubCluster, task_queue: str
) -> None:
    stub.answered_by = {SUB1: "cucm-sub2"}
    handle = await start(time_skipping_env, task_queue)
    try:
        status = await wait_for(handle, "operator")
        assert status.phase == "restarts"
        assert status.failed_step is not None
        assert (status.failed_step.node, status.failed_step.step) == (SUB1, "restart")
        assert "answered by cucm-sub2" in status.failed_step.reason
        assert SUB1 in status.failed_step.reason
        assert status.node(SUB1).steps["restart"] == "failed"
        # The operator fixes the address (the node now answers as itself) and retries.
        stub.answered_by.clear()
        await decide(handle, "retry")
        await confirm_sso(handle, stub)
        final = await handle.result()
        assert final.phase == "done"
        assert final.node(SUB1).steps["restart"] == "done"
    finally:
        desc = await handle.describe()
        if desc.status is not None and desc.status.name == "RUNNING":
            await stop(handle)


async def test_a_verification_answered_by_another_node_does_not_verify_it(
    time_skipping_env: WorkflowEnvironment, worker: Worker, stub: StubCluster, task_queue: str
) -> None:
    stub.verified_by = {SUB2: "CUCM-SUB1.lab.example.com"}
    handle = await start(time_skipping_env, task_queue)
    try:
        status = await wait_for(handle, "operator")
        assert status.phase == "verify"
        assert status.failed_step is not None
        assert (status.failed_step.node, status.failed_step.step) == (SUB2, "verify")
        assert "answered by CUCM-SUB1.lab.example.com" in status.failed_step.reason
        sub2 = status.node(SUB2)
        assert sub2.steps["verify"] == "failed" and not sub2.verified
        assert not (await handle.query(CertRenewalWorkflow.get_status)).node(SUB2).verified
    finally:
        await stop(handle)
