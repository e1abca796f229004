"""The staged phone resets of a cluster above ``phone_resets_child_above`` (issue 14: a
40,000-phone CallManager renewal must stay within Temporal's history limits), on the
time-skipping server with stub activities: children chosen by cursor, a child run continuing
as new, a failed gate asked in the renewal, the late sweep, and the status counting every
batch across runs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest_asyncio
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from tests.workflows.stubs import StubCluster
from tests.workflows.test_callmanager_workflow import approve, now, start_cm, window
from tests.workflows.test_renewal_workflow import wait_for
from workflows.cluster_lock import ClusterLockWorkflow
from workflows.models import OperatorDecision
from workflows.phone_resets_workflow import PhoneResetsWorkflow
from workflows.renewal import CertRenewalWorkflow

#: The stub lists 5 phones on each of 3 nodes; one more registers late.
PHONES = 15
OPTIONS = {
    "phone_reset_batch": 4,
    "phone_resets_child_above": 0,
    "phone_reset_batches_per_run": 2,
}


@pytest_asyncio.fixture(loop_scope="session")
async def stub() -> StubCluster:
    return StubCluster(sso_enabled=False, version="12.5.1.14900-63", late_phones=["SEPLATE1"])


@pytest_asyncio.fixture(loop_scope="session")
async def worker(
    time_skipping_env: WorkflowEnvironment, stub: StubCluster, task_queue: str
) -> AsyncIterator[Worker]:
    async with Worker(
        time_skipping_env.client,
        task_queue=task_queue,
        workflows=[CertRenewalWorkflow, ClusterLockWorkflow, PhoneResetsWorkflow],
        activities=stub.activities(),
    ) as w:
        yield w


async def test_children_reset_by_cursor_ask_the_renewal_about_a_gate_and_sweep_late_phones(
    time_skipping_env: WorkflowEnvironment, worker: Worker, stub: StubCluster, task_queue: str
) -> None:
    stub.gate_answers = [True, False, True]  # batch 2's gate fails, then passes
    opens = await now(time_skipping_env) - timedelta(minutes=5)
    handle = await start_cm(
        time_skipping_env, task_queue, windows=[window(opens, 12)], options=OPTIONS
    )
    await wait_for(handle, "approval")
    await approve(handle)
    asked = await wait_for(handle, "operator")
    assert asked.question is not None and "after phone reset batch 2" in asked.question
    assert asked.phones_reset == 8  # batches 1 and 2, reported by the child
    await handle.execute_update(
        CertRenewalWorkflow.decide, OperatorDecision(principal="carol", decision="continue")
    )
    final = await handle.result()
    assert final.phase == "done", final.error
    batches = [c[1] for c in stub.calls if c[0] == "reset_phone_batch"]
    # The cursor: each batch starts after the last name of the one before, across children.
    main = [b for b in batches if not b.candidates]
    assert [b.after for b in main] == ["", "SEPSCCP100", "SEPSCCP201", "SEPSIP100"]
    assert [b.candidates for b in batches if b.candidates] == [["SEPLATE1"]]
    assert final.phones_reset == PHONES + 1
    assert "reset_phones" not in stub.names() and "registered_phones" not in stub.names()
    audits = [a.comment for a in final.audit if a.action == "phones-reset"]
    assert [a.split(":")[0] for a in audits] == [
        *(f"phone reset batch {n}" for n in range(1, 5)),
        "late phone reset batch 1",
    ]
    # One intent per child, each settled with what it did.
    intents = [i for i in final.intents if i.effect == "phone-reset"]
    assert [(i.target, i.outcome) for i in intents] == [
        ("phone resets from batch 1", "done"),
        ("phone resets from batch 3", "done"),
        ("late phone resets from batch 1", "done"),
    ]
