"""The node ucrenew talks to is the node it means (issue 16), on the real dev server against
the lab: an inventory address that reaches another node is refused before anything changes,
and an address that changes during the change stops the step on that node, never counted.

The lab's journal is the oracle: it records which node really restarted.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import yaml
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ApplicationError

from tests.e2e.conftest import Stack
from tests.e2e.test_renewal_e2e import WRITE_KINDS, tomcat_restarts
from workflows.models import ApprovalInput
from workflows.renewal import CertRenewalWorkflow

pytestmark = pytest.mark.e2e

SUB1, SUB2 = "cucm-sub1.lab.example.com", "cucm-sub2.lab.example.com"


def point_at(stack: Stack, node: str, other: str) -> str:
    """Give ``node`` the inventory address of ``other`` (a typo, a stale DNS record)."""
    path = Path(stack.settings.inventory_path)
    data: dict[str, Any] = yaml.safe_load(path.read_text())
    nodes = {n["fqdn"]: n for c in data["clusters"] for n in c["nodes"]}
    nodes[node]["address"] = nodes[other]["address"]
    path.write_text(yaml.safe_dump(data))
    return str(nodes[other]["address"])


async def renewed_once(stack: Stack) -> None:
    """A first renewal: from then on every node serves the one multi-server certificate, so
    TLS to any node verifies for every node's name (the case of the issue)."""
    first = await stack.start()
    await stack.reenable_sso(first)
    assert (await first.result()).phase == "done"


async def test_a_swapped_address_is_refused_in_preflight_before_any_change(stack: Stack) -> None:
    async with stack.worker():
        await renewed_once(stack)
        address = point_at(stack, SUB1, SUB2)
        since = stack.lab.lab.journal.last_seq
        handle = await stack.start()
        try:
            with pytest.raises(WorkflowFailureError) as failed:
                # Bounded: a change that is not refused goes on to wait for an operator.
                await asyncio.wait_for(handle.result(), 60)
        finally:
            desc = await handle.describe()
            if desc.status is not None and desc.status.name == "RUNNING":
                await handle.terminate("test over")
    cause = failed.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == "PreflightFailed"
    assert "nothing was changed" in cause.message
    assert f"inventory node {SUB1} (address {address})" in cause.message
    assert SUB2 in cause.message
    written = [
        e.kind for e in stack.lab.lab.journal.entries(since=since) if e.kind.startswith(WRITE_KINDS)
    ]
    assert written == []


async def test_an_address_changed_after_preflight_stops_that_nodes_restart_uncounted(
    stack: Stack,
) -> None:
    async with stack.worker():
        await renewed_once(stack)
        since = len(tomcat_restarts(stack))
        handle = await stack.start(require_plan_approval=True)
        try:
            status = await stack.wait_for(handle, "approval")
            assert status.gate == "plan" and status.plan is not None
            # Between preflight and the restarts, cucm-sub1's address starts reaching sub2.
            address = point_at(stack, SUB1, SUB2)
            await handle.execute_update(
                CertRenewalWorkflow.approve,
                ApprovalInput(
                    principal="cab-member", comment="ok", plan_hash=status.plan.plan_hash
                ),
            )
            status = await stack.wait_for(handle, "operator", timeout=120)
            assert status.phase == "restarts"
            assert status.failed_step is not None
            assert (status.failed_step.node, status.failed_step.step) == (SUB1, "restart")
            reason = status.failed_step.reason
            assert f"inventory node {SUB1}" in reason and address in reason and SUB2 in reason
            assert status.node(SUB1).steps["restart"] == "failed"
            assert not status.node(SUB1).verified
            # Nothing was restarted in sub1's name: sub2 has not restarted at all yet.
            assert tomcat_restarts(stack)[since:] == ["cucm-pub"]
        finally:
            await handle.terminate("test over")
