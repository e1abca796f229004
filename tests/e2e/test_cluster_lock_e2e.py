"""One change per cluster, by identity, atomically: on the lab, the real dev server and a
real worker (issue 16).

The lab's journal is the oracle for "nothing was written". The lock's key is what the
cluster reports of itself, its CUCM publisher's processnode (AXL listProcessNode: name and
pkid, cucm-interfaces.md §6), so the tests read it the same way to find the lock.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Sequence
from typing import Any

import pytest
import yaml
from temporalio.client import WorkflowExecutionStatus, WorkflowFailureError
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError
from typer.testing import CliRunner, Result

from activities.clients.cucm.axl import AxlClient
from activities.clients.cucm.discovery import cluster_identity
from console.attempts import reuse_policy
from console.cli import app
from tests.e2e.conftest import Handle, Stack
from workflows.cluster_lock import lock_id
from workflows.models import ApprovalInput, RenewalStatus
from workflows.renewal import CertRenewalWorkflow

pytestmark = pytest.mark.e2e

#: Every lab effect that writes to the cluster.
WRITES = ("csr.generated", "sso.disabled", "trust.uploaded", "identity.uploaded")


async def verdict(handle: Handle, timeout: float = 240.0) -> RenewalStatus:
    """The status once the change holds the cluster (it waits at its plan approval, after
    preflight) or has ended."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        status = await handle.query(CertRenewalWorkflow.get_status)
        if status.awaiting == "approval" or status.phase in ("done", "failed", "cancelled"):
            return status
        if loop.time() > deadline:
            raise AssertionError(f"{handle.id} decided nothing: phase {status.phase}")
        await asyncio.sleep(0.1)


async def stop_of(handle: Handle) -> ApplicationError:
    with pytest.raises(WorkflowFailureError) as failed:
        await handle.result()
    cause: BaseException | None = failed.value.cause
    while cause is not None and not isinstance(cause, ApplicationError):
        cause = cause.__cause__
    assert isinstance(cause, ApplicationError), failed.value
    return cause


async def end_all(handles: Sequence[Handle]) -> None:
    """A test that starts a change ends it: the dev server is shared."""
    for handle in handles:
        if (await handle.describe()).status == WorkflowExecutionStatus.RUNNING:
            await handle.terminate("test over")


async def the_lock(stack: Stack) -> str:
    """The lock's workflow id, from the identity the lab's publisher reports over AXL."""
    async with AxlClient(stack.lab.endpoint("cucm-pub"), stack.lab.app_user) as axl:
        identity = cluster_identity(await axl.list_process_nodes())
    assert identity is not None and identity.publisher_uuid
    return lock_id(identity)


async def lock_status(stack: Stack, lock: str) -> WorkflowExecutionStatus | None:
    return (await stack.client.get_workflow_handle(lock).describe()).status


async def lock_closed(stack: Stack, lock: str, timeout: float = 30.0) -> WorkflowExecutionStatus:
    """The lock's status once it is no longer running (a close policy is applied by the
    server shortly after the holder closed)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        status = await lock_status(stack, lock)
        if status != WorkflowExecutionStatus.RUNNING:
            assert status is not None
            return status
        if loop.time() > deadline:
            raise AssertionError(f"{lock} still runs after its holder ended")
        await asyncio.sleep(0.1)


def add_inventory_name(stack: Stack, alias: str) -> None:
    """List the lab's cluster a second time, under ``alias``, with the same nodes."""
    path = stack.settings.inventory_path
    document: dict[str, Any] = yaml.safe_load(path.read_text())
    (entry,) = [c for c in document["clusters"] if c["name"] == stack.lab.cluster_entry.name]
    document["clusters"].append({**entry, "name": alias})
    path.write_text(yaml.safe_dump(document, sort_keys=False))


async def test_twenty_concurrent_starts_run_exactly_one_change(stack: Stack) -> None:
    """On main each start saw the nineteen others in visibility and refused itself: none ran.
    Now exactly one holds the cluster; nineteen are refused naming it, wrote nothing, and
    may start again under their own change ids."""
    handles: list[Handle] = []
    async with stack.worker():
        try:
            handles = list(
                await asyncio.gather(*(stack.start(require_plan_approval=True) for _ in range(20)))
            )
            verdicts = await asyncio.gather(*(verdict(h) for h in handles))
            holding = [h for h, v in zip(handles, verdicts, strict=True) if v.awaiting]
            assert len(holding) == 1, [(v.change_id, v.phase, v.error) for v in verdicts]
            (holder,) = holding
            refused = [h for h in handles if h is not holder]
            for handle in refused:
                stop = await stop_of(handle)
                assert stop.type == "ClusterBusy", stop.message
                assert f"change {holder.id} is running on this cluster" in stop.message
                assert stack.lab.cluster_entry.name in stop.message
            assert all(not stack.lab.lab.journal.entries(kind) for kind in WRITES)
            again = await reuse_policy(stack.client, refused[0].id)
            assert again == WorkflowIDReusePolicy.ALLOW_DUPLICATE
            assert await lock_status(stack, await the_lock(stack)) == (
                WorkflowExecutionStatus.RUNNING
            )
        finally:
            await end_all(handles)


async def test_a_second_inventory_name_of_the_cluster_runs_no_second_change(
    stack: Stack,
) -> None:
    """On main the same cluster under a second name ran a second change in parallel (two
    CSRs, two uploads). The identity is the cluster's, not the inventory's: the second change
    is refused naming the first and its name; once the first is terminated, the lock dies
    with it (close policy TERMINATE) and a change under the second name runs."""
    add_inventory_name(stack, "lab-by-address")
    handles: list[Handle] = []
    async with stack.worker():
        try:
            first = await stack.start(require_plan_approval=True)
            handles.append(first)
            assert (await verdict(first)).awaiting == "approval"
            second = await stack.start(cluster="lab-by-address", require_plan_approval=True)
            handles.append(second)
            refused = await verdict(second)
            assert refused.phase == "failed", "a second change runs on the cluster"
            stop = await stop_of(second)
            assert stop.type == "ClusterBusy", stop.message
            assert f"change {first.id} is running on cluster {stack.lab.cluster_entry.name}" in (
                stop.message
            )
            assert "nothing was changed on lab-by-address" in stop.message
            assert all(not stack.lab.lab.journal.entries(kind) for kind in WRITES)

            await first.terminate("operator ended it in the Temporal UI")
            assert await lock_closed(stack, await the_lock(stack)) == (
                WorkflowExecutionStatus.TERMINATED
            )
            third = await stack.start(cluster="lab-by-address", require_plan_approval=True)
            handles.append(third)
            assert (await verdict(third)).awaiting == "approval"
        finally:
            await end_all(handles)


@pytest.mark.parametrize("ending", ["completed", "failed", "cancelled"])
async def test_the_lock_is_released_when_its_holder_ends(stack: Stack, ending: str) -> None:
    """However the holder ends, the next change of the cluster runs, started the moment the
    holder closed: the holder ended the lock itself before closing."""
    handles: list[Handle] = []
    lock = await the_lock(stack)
    async with stack.worker():
        try:
            holder = await stack.start(require_plan_approval=ending != "completed")
            handles.append(holder)
            if ending == "completed":
                await stack.reenable_sso(holder)
                assert (await holder.result()).phase == "done"
            else:
                status = await verdict(holder)
                assert status.plan is not None and status.awaiting == "approval"
                assert await lock_status(stack, lock) == WorkflowExecutionStatus.RUNNING
                if ending == "failed":
                    await holder.execute_update(
                        CertRenewalWorkflow.reject,
                        ApprovalInput(
                            principal="cab", comment="not now", plan_hash=status.plan.plan_hash
                        ),
                    )
                    assert (await stop_of(holder)).type == "PlanRejected"
                else:
                    await holder.cancel()
                    with pytest.raises(WorkflowFailureError):
                        await holder.result()
                    closed = await holder.describe()
                    assert closed.status == WorkflowExecutionStatus.CANCELED
            assert await lock_status(stack, lock) == WorkflowExecutionStatus.TERMINATED
            last = (await stack.client.get_workflow_handle(lock).fetch_history()).events[-1]
            released = last.workflow_execution_terminated_event_attributes.reason
            assert released == f"released by {holder.id}"  # not left to the close policy
            nxt = await stack.start(require_plan_approval=True)
            handles.append(nxt)
            assert (await verdict(nxt)).awaiting == "approval"
        finally:
            await end_all(handles)


@pytest.fixture
def cli_env(stack: Stack, dev_address: str, monkeypatch: pytest.MonkeyPatch) -> Stack:
    """The CLI talks to the stack's Temporal and task queue."""
    monkeypatch.setenv("UCRENEW_STATE_DIR", str(stack.settings.state_dir))
    monkeypatch.setenv("UCRENEW_INVENTORY", str(stack.settings.inventory_path))
    monkeypatch.setenv("UCRENEW_TEMPORAL_ADDRESS", dev_address)
    monkeypatch.setenv("UCRENEW_TASK_QUEUE", stack.task_queue)
    monkeypatch.setenv("UCRENEW_PRINCIPAL", "e2e-operator")
    monkeypatch.setenv("COLUMNS", "250")
    return stack


async def ucrenew(*args: str) -> Result:
    """``ucrenew ARGS`` in a thread of its own (it runs its own event loop)."""
    return await asyncio.to_thread(CliRunner().invoke, app, list(args))


async def test_start_under_another_name_is_refused_and_the_same_id_runs_later(
    cli_env: Stack,
) -> None:
    """What an operator sees: `plan` and `start` under the second name name the running
    change (exit 3, no traceback); once it has ended, the same `ucrenew start` runs."""
    stack = cli_env
    add_inventory_name(stack, "lab-by-address")
    change = f"CHG-{uuid.uuid4().hex[:10]}"
    handles: list[Handle] = []
    async with stack.worker():
        try:
            holder = await stack.start(require_plan_approval=True)
            handles.append(holder)
            assert (await verdict(holder)).awaiting == "approval"
            planned = await ucrenew("plan", "lab-by-address", "--json")
            refused = await ucrenew("start", "lab-by-address", "--change", change)
            handles.append(stack.client.get_workflow_handle_for(CertRenewalWorkflow.run, change))

            assert planned.exit_code == 3, planned.output
            problems = json.loads(planned.stdout)["problems"]
            assert any(holder.id in p["message"] for p in problems), problems
            assert refused.exit_code == 3, refused.output
            assert "cluster-busy" in refused.output and holder.id in refused.output
            assert "the change id stays yours" in refused.output
            assert "Traceback" not in refused.output

            await holder.terminate("the other change is over")
            await lock_closed(stack, await the_lock(stack))
            again = await ucrenew(
                "start", "lab-by-address", "--change", change, "--require-approval"
            )
            assert again.exit_code == 0, again.output
            assert (await verdict(handles[-1])).awaiting == "approval"
        finally:
            await end_all(handles)
