"""The opt-in removal of CSCur97909 leftovers at the cleanup gate, with stub activities."""

from __future__ import annotations

from typing import Any

import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.cleanup_models import LeftoverRemovalResult
from activities.cluster_models import LeftoverCertificate, LeftoverResult
from tests.workflows import test_callmanager_workflow as cm
from tests.workflows.stubs import FQDNS, StubCluster
from tests.workflows.test_renewal_workflow import start, wait_for
from workflows.cleanup import leftovers_hash
from workflows.models import ApprovalInput
from workflows.renewal import CertRenewalWorkflow

stub, worker = cm.stub, cm.worker

SUB1 = LeftoverCertificate(
    purpose="tomcat",
    store="tomcat-trust",
    file_name="cucm-sub1.lab.example.com_5a.pem",
    subject_cn="cucm-sub1.lab.example.com",
    owner=FQDNS[1],
    serial="5a",
    nodes=FQDNS,
    fingerprint="aa11",
)
SUB2 = SUB1.model_copy(
    update={
        "file_name": "cucm-sub2.lab.example.com_6b.pem",
        "subject_cn": "cucm-sub2.lab.example.com",
        "owner": FQDNS[2],
        "serial": "6b",
        "fingerprint": "bb22",
    }
)


def with_removal(**kw: Any) -> dict[str, Any]:
    return {"options": {"remove_leftover_certificates": True}, **kw}


async def test_the_removal_waits_at_the_cleanup_gate_and_removes_exactly_the_approved_list(
    time_skipping_env: WorkflowEnvironment, worker: Worker, stub: StubCluster, task_queue: str
) -> None:
    stub.sso_enabled = False
    stub.leftovers = LeftoverResult(leftovers=[SUB1, SUB2])
    stub.removal = LeftoverRemovalResult(removed=[SUB1], already_gone=[SUB2])
    handle = await start(time_skipping_env, task_queue, **with_removal())
    status = await wait_for(handle, "approval")
    assert (status.phase, status.gate) == ("cleanup", "cleanup")
    assert status.gate_hash == leftovers_hash([SUB1, SUB2])
    assert status.leftover_removal is not None
    assert status.leftover_removal.proposed == [SUB1, SUB2]
    assert "remove_leftover_certificates" not in stub.names()
    assert any(s.phase == "cleanup" for s in status.plan.steps)  # type: ignore[union-attr]
    # An approval bound to another list is refused; the gate shows the hash of its list.
    with pytest.raises(WorkflowUpdateFailedError):
        await handle.execute_update(
            CertRenewalWorkflow.approve,
            ApprovalInput(principal="bob", plan_hash=status.plan.plan_hash),  # type: ignore[union-attr]
        )
    with pytest.raises(WorkflowUpdateFailedError):
        await handle.execute_update(CertRenewalWorkflow.approve, ApprovalInput(principal="bob"))
    await handle.execute_update(
        CertRenewalWorkflow.approve, ApprovalInput(principal="bob", plan_hash=status.gate_hash)
    )
    final = await handle.result()
    assert final.phase == "done"
    [call] = [c[1] for c in stub.calls if c[0] == "remove_leftover_certificates"]
    assert call.approved == [SUB1, SUB2]
    assert call.purposes == ["tomcat"] and call.extra_roots_pem
    removal = final.leftover_removal
    assert removal is not None and removal.decision == "approved"
    assert (removal.removed, removal.already_gone) == ([SUB1], [SUB2])
    assert not [f for f in final.findings if f.code == "cscur97909-self-signed-left"]
    actions = [e.action for e in final.audit]
    assert actions.index("leftovers-proposed") < actions.index("approved-cleanup")
    assert actions.index("approved-cleanup") < actions.index("leftovers-removed")


async def test_a_rejected_removal_keeps_the_certificates_and_the_change_succeeds(
    time_skipping_env: WorkflowEnvironment, worker: Worker, stub: StubCluster, task_queue: str
) -> None:
    stub.sso_enabled = False
    stub.leftovers = LeftoverResult(leftovers=[SUB1])
    handle = await start(time_skipping_env, task_queue, **with_removal())
    await wait_for(handle, "approval")
    await handle.execute_update(
        CertRenewalWorkflow.reject, ApprovalInput(principal="bob", comment="not tonight")
    )
    final = await handle.result()
    assert final.phase == "done"
    assert "remove_leftover_certificates" not in stub.names()
    assert final.leftover_removal is not None and final.leftover_removal.decision == "rejected"
    assert [f.code for f in final.findings if f.code.startswith("cscur")] == [
        "cscur97909-self-signed-left"
    ]


async def test_without_the_option_nothing_is_proposed_nor_removed(
    time_skipping_env: WorkflowEnvironment, worker: Worker, stub: StubCluster, task_queue: str
) -> None:
    stub.sso_enabled = False
    stub.leftovers = LeftoverResult(leftovers=[SUB1])
    final = await (await start(time_skipping_env, task_queue)).result()
    assert final.phase == "done"
    assert "remove_leftover_certificates" not in stub.names()
    assert final.leftover_removal is None
    assert not any(e.action.startswith("approved") for e in final.audit)
    assert not any(s.phase == "cleanup" for s in final.plan.steps)  # type: ignore[union-attr]


async def test_with_the_option_but_no_leftovers_no_gate_opens(
    time_skipping_env: WorkflowEnvironment, worker: Worker, stub: StubCluster, task_queue: str
) -> None:
    stub.sso_enabled = False
    final = await (await start(time_skipping_env, task_queue, **with_removal())).result()
    assert final.phase == "done"
    assert "remove_leftover_certificates" not in stub.names()
    assert final.leftover_removal is None


async def test_a_removal_whose_answer_was_lost_is_recorded_as_ucrenews(
    time_skipping_env: WorkflowEnvironment, worker: Worker, stub: StubCluster, task_queue: str
) -> None:
    """Issue 16: the deletions took effect and the attempt died before answering; the retry
    lists them gone. The audit says ucrenew removed them (on main: "removed 0, already gone
    2")."""
    stub.sso_enabled = False
    stub.leftovers = LeftoverResult(leftovers=[SUB1, SUB2])
    stub.lost_responses = {"remove_leftover_certificates"}
    handle = await start(time_skipping_env, task_queue, **with_removal())
    status = await wait_for(handle, "approval")
    await handle.execute_update(
        CertRenewalWorkflow.approve, ApprovalInput(principal="bob", plan_hash=status.gate_hash)
    )
    final = await handle.result()
    assert stub.names().count("remove_leftover_certificates") == 2
    removal = final.leftover_removal
    assert removal is not None
    assert (removal.removed, removal.already_gone) == ([SUB1, SUB2], [])
    [said] = [e.comment for e in final.audit if e.action == "leftovers-removed"]
    assert said.startswith("removed 2, already gone 0") and "confirmed by read-back" in said
