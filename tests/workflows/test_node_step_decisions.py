"""A node step that fails after its retries pauses the change: retry, skip, rollback or stop."""

from __future__ import annotations

from datetime import timedelta

import pytest
from temporalio.client import WorkflowFailureError, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from console.report import markdown_report
from tests.workflows.stubs import FQDNS, StubCluster
from tests.workflows.test_renewal_workflow import Handle, confirm_sso, start, wait_for
from tests.workflows.test_renewal_workflow import stub as stub
from tests.workflows.test_renewal_workflow import worker as worker
from workflows.models import CaCheckInput, CancellationNote, OperatorDecision, RenewalStatus
from workflows.renewal import CertRenewalWorkflow

SUB1 = FQDNS[1]


async def decide(handle: Handle, choice: str, who: str = "dave") -> None:
    await handle.execute_update(
        CertRenewalWorkflow.decide,
        OperatorDecision(principal=who, decision=choice, comment="tomcat fixed"),  # type: ignore[arg-type]
    )


async def paused_on_sub1(env: WorkflowEnvironment, stub: StubCluster, task_queue: str) -> Handle:
    """A tomcat change whose restart on the first subscriber fails; paused on the question."""
    stub.restart_fails_on = {SUB1}
    handle = await start(env, task_queue)
    status = await wait_for(handle, "operator")
    assert status.phase == "restarts"
    assert status.failed_step is not None
    assert (status.failed_step.node, status.failed_step.step) == (SUB1, "restart")
    assert status.failed_step.service == "Cisco Tomcat"
    assert status.question and "retry" in status.question and "NOTRUNNING" in status.question
    assert status.node(SUB1).steps["restart"] == "failed"
    return handle


async def failure(handle: Handle) -> tuple[ApplicationError, RenewalStatus]:
    with pytest.raises(WorkflowFailureError) as failed:
        await handle.result()
    cause = failed.value.cause
    assert isinstance(cause, ApplicationError)
    return cause, await handle.query(CertRenewalWorkflow.get_status)


async def test_retry_after_the_node_is_fixed_finishes_the_change(
    time_skipping_env: WorkflowEnvironment, worker: Worker, stub: StubCluster, task_queue: str
) -> None:
    handle = await paused_on_sub1(time_skipping_env, stub, task_queue)
    # Still broken: the retry fails again and the change asks again.
    await decide(handle, "retry")
    status = await wait_for(handle, "operator")
    assert [e.action for e in status.audit].count("restart-failed") == 2
    stub.restart_fails_on.clear()
    await decide(handle, "retry")
    await confirm_sso(handle, stub)
    final = await handle.result()
    assert final.phase == "done"
    assert final.failed_step is None and final.skipped_nodes == []
    assert all(n.verified and n.steps["restart"] == "done" for n in final.nodes)
    assert [e.actor for e in final.audit if e.action == "decided-retry"] == ["dave", "dave"]


async def test_skip_leaves_the_node_out_verified_as_serving_its_old_certificate(
    time_skipping_env: WorkflowEnvironment, worker: Worker, stub: StubCluster, task_queue: str
) -> None:
    handle = await paused_on_sub1(time_skipping_env, stub, task_queue)
    await decide(handle, "skip")
    await confirm_sso(handle, stub)
    final = await handle.result()
    assert final.phase == "done"
    assert final.skipped_nodes == [SUB1]
    sub1 = final.node(SUB1)
    assert sub1.steps == {"restart": "skipped", "verify": "skipped"}
    assert not sub1.verified
    assert sub1.detail == "not renewed: still serves its old tomcat certificate (serial 01cucm)"
    verified = {c[1].node for c in stub.calls if c[0] == "verify_node"}
    assert verified == set(FQDNS) - {SUB1}
    assert all(final.node(f).verified for f in verified)
    [left] = [o for o in final.outstanding if SUB1 in o]
    assert "not renewed" in left and "`utils service restart Cisco Tomcat`" in left
    report = markdown_report(final)
    assert f"- {SUB1}: not renewed" in report
    assert "node-skipped" in report


async def test_a_failed_verification_can_be_skipped_too(
    time_skipping_env: WorkflowEnvironment, worker: Worker, stub: StubCluster, task_queue: str
) -> None:
    stub.verify_fails_on = {FQDNS[2]}
    handle = await start(time_skipping_env, task_queue)
    status = await wait_for(handle, "operator")
    assert status.phase == "verify"
    assert status.failed_step is not None and status.failed_step.step == "verify"
    await decide(handle, "skip")
    await confirm_sso(handle, stub)
    final = await handle.result()
    assert final.phase == "done" and final.skipped_nodes == [FQDNS[2]]
    assert final.node(FQDNS[2]).steps == {"restart": "done", "verify": "skipped"}


async def test_rollback_regenerates_self_signed_on_every_node_and_restarts_them(
    time_skipping_env: WorkflowEnvironment, worker: Worker, stub: StubCluster, task_queue: str
) -> None:
    handle = await paused_on_sub1(time_skipping_env, stub, task_queue)
    stub.restart_fails_on.clear()
    before = len(stub.calls)
    await decide(handle, "rollback")
    cause, status = await failure(handle)
    assert cause.type == "RolledBack"
    assert status.phase == "failed" and "rolled back after restart on" in (status.error or "")
    assert status.rolled_back == {f: ["tomcat"] for f in FQDNS}
    after = [(n, c.node) for n, c in stub.calls[before:] if n != "assess_cluster"]
    # Node by node in the plan's order: regenerate, then restart what serves it.
    assert after == [
        step for f in FQDNS for step in (("regenerate_certificate", f), ("restart_service", f))
    ]
    assert all(n.steps["rollback"] == "done" for n in status.nodes)
    # Nothing of the new certificate is left to activate; SSO is still to re-enable.
    assert not any("new tomcat certificate" in o for o in status.outstanding)
    assert any("SAML SSO" in o for o in status.outstanding)
    report = markdown_report(status)
    assert "## Rolled back" in report and f"- {SUB1}: tomcat regenerated self-signed" in report


async def test_stop_fails_the_change_naming_each_node_and_command(
    time_skipping_env: WorkflowEnvironment, worker: Worker, stub: StubCluster, task_queue: str
) -> None:
    handle = await paused_on_sub1(time_skipping_env, stub, task_queue)
    with pytest.raises(WorkflowUpdateFailedError):
        await decide(handle, "resume")  # not an answer to this question
    await decide(handle, "stop")
    cause, status = await failure(handle)
    assert cause.type == "ServiceNotStarted"
    [live] = [o for o in status.outstanding if "new tomcat certificate" in o]
    for fqdn in FQDNS[1:]:
        assert f"on {fqdn}: `utils service restart Cisco Tomcat`" in live
    assert f"on {FQDNS[0]}:" not in live


async def test_cancel_records_who_and_why_before_cancelling(
    time_skipping_env: WorkflowEnvironment, worker: Worker, stub: StubCluster, task_queue: str
) -> None:
    handle = await paused_on_sub1(time_skipping_env, stub, task_queue)
    with pytest.raises(WorkflowUpdateFailedError):
        await handle.execute_update(
            CertRenewalWorkflow.record_cancellation, CancellationNote(principal="erin", reason="")
        )
    await handle.execute_update(
        CertRenewalWorkflow.record_cancellation,
        CancellationNote(principal="erin", reason="sub1 needs a TAC case"),
    )
    await handle.cancel()
    with pytest.raises(WorkflowFailureError):
        await handle.result()
    status = await handle.query(CertRenewalWorkflow.get_status)
    assert status.phase == "cancelled"
    assert status.error == "cancelled by erin: sub1 needs a TAC case"
    assert status.cancellation is not None and status.cancellation.principal == "erin"
    [note] = [e for e in status.audit if e.action == "cancel-requested"]
    assert (note.actor, note.comment) == ("erin", "sub1 needs a TAC case")
    assert any(f"on {SUB1}: `utils service restart Cisco Tomcat`" in o for o in status.outstanding)
    report = markdown_report(status)
    assert "## Cancellation\n\n- by erin: sub1 needs a TAC case" in report
    assert "## Failed node step (left undecided)" in report


async def test_check_now_polls_a_pending_ca_at_once(
    time_skipping_env: WorkflowEnvironment, worker: Worker, stub: StubCluster, task_queue: str
) -> None:
    stub.sso_enabled = False
    now = await time_skipping_env.get_current_time()
    stub.ca_pending_until = now + timedelta(days=10)
    handle = await start(
        time_skipping_env, task_queue, ca="adcs", options={"ca_poll_seconds": 86400}
    )
    await wait_for(handle, "ca")
    status = await handle.execute_update(
        CertRenewalWorkflow.check_ca, CaCheckInput(principal="fay")
    )
    assert status.awaiting == "ca"
    [checked] = [e for e in status.audit if e.action == "ca-checked"]
    assert "still pending" in checked.comment
    # The CA admin issues; checking now finds it at once instead of up to a day later.
    stub.ca_pending_until = now
    status = await handle.execute_update(
        CertRenewalWorkflow.check_ca, CaCheckInput(principal="fay")
    )
    assert status.awaiting != "ca"
    assert [e.actor for e in status.audit if e.action == "ca-check-requested"] == ["fay", "fay"]
    final = await handle.result()
    assert final.phase == "done"
    with pytest.raises(RPCError):  # the change has ended
        await handle.execute_update(CertRenewalWorkflow.check_ca, CaCheckInput(principal="fay"))
