"""The change id is the operator's: a change refused by its preflight is fixed and started
again under the same id, through the CLI, against the lab and a real Temporal server."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
from temporalio.client import WorkflowFailureError
from typer.testing import CliRunner, Result

from console.cli import app
from lab.faults import Fault
from tests.e2e.conftest import Stack
from workflows.renewal import CertRenewalWorkflow

pytestmark = pytest.mark.e2e

WRITE_KINDS = ("csr.", "trust.", "identity.", "service.", "sso.", "ctl.")


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


def leftover_warnings(plan: Result) -> list[dict[str, str]]:
    """The warnings of ``plan --json`` about earlier changes that left work behind."""
    warnings = json.loads(plan.stdout)["warnings"]
    return [w for w in warnings if w["code"] == "earlier-change-outstanding"]


async def test_a_change_refused_by_preflight_is_fixed_and_run_again_under_its_id(
    cli_env: Stack,
) -> None:
    stack = cli_env
    lab = stack.lab.lab
    cluster = stack.lab.cluster_entry.name
    change = f"CHG-{uuid.uuid4().hex[:10]}"
    await lab.add_fault(Fault(kind="paws-down", node="cucm-sub2"))
    since = lab.journal.last_seq
    async with stack.worker():
        refused = await ucrenew("start", cluster, "--change", change)
        planned = await ucrenew("plan", cluster, "--json")
        written = [
            e.kind for e in lab.journal.entries(since=since) if e.kind.startswith(WRITE_KINDS)
        ]
        await lab.clear_faults()
        again = await ucrenew("start", cluster, "--change", change)
        handle = stack.client.get_workflow_handle_for(CertRenewalWorkflow.run, change)
        await stack.reenable_sso(handle)
        status = await handle.result()
        listed = await ucrenew("show", change, "--all-attempts", "--json")
        taken = await ucrenew("start", cluster, "--change", change)

    # `start` reports the verdict as `plan` does: the same problem, the same exit code.
    assert refused.exit_code == planned.exit_code == 3, refused.output
    assert "problems" in refused.output and "cucm-sub2" in refused.output
    assert "Platform Administrative Web Service" in refused.output
    assert "the change id stays yours" in refused.output
    assert "Traceback" not in refused.output
    problems = json.loads(planned.stdout)["problems"]
    assert [p["node"] for p in problems] == ["cucm-sub2.lab.example.com"]
    assert written == []

    assert again.exit_code == 0, again.output
    assert "a new attempt" in again.output and "preflight passed, plan" in again.output
    assert status.phase == "done"

    attempts = json.loads(listed.stdout)
    assert [(a["attempt"], a["status"]) for a in attempts] == [(2, "completed"), (1, "failed")]
    assert attempts[0]["outcome"] == "done"
    assert attempts[1]["outcome"].startswith("PreflightFailed: preflight failed")

    assert taken.exit_code == 3
    assert f"change {change} already ran to completion" in taken.output


async def test_work_a_change_left_behind_shows_on_the_next_plan_and_in_ls(
    cli_env: Stack,
) -> None:
    stack = cli_env
    cluster = stack.lab.cluster_entry.name
    async with stack.worker():
        left = await stack.start()
        await stack.wait_for(left, "sso-confirm")
        await left.cancel()
        with pytest.raises(WorkflowFailureError):
            await left.result()
        planned = await ucrenew("plan", cluster, "--json")
        listed = await ucrenew("ls", "--all", "--json")
        shown = await ucrenew("ls", "--all")
        # A later change that completes on the cluster settles the record.
        later = await stack.start()
        assert (await later.result()).phase == "done"
        replanned = await ucrenew("plan", cluster, "--json")

    assert planned.exit_code == 0, planned.output
    (warning,) = [
        w
        for w in json.loads(planned.stdout)["warnings"]
        if w["code"] == "earlier-change-outstanding"
    ]
    assert f"change {left.id} (canceled) left work outstanding: sso-disabled" in warning["message"]
    assert f"`ucrenew show {left.id}`" in warning["message"]
    rows = {r["change"]: r for r in json.loads(listed.stdout)}
    assert rows[left.id]["outstanding"] == ["sso-disabled"]
    assert "left to do" in shown.output and "! sso-disabled" in shown.output
    assert [
        w
        for w in json.loads(replanned.stdout)["warnings"]
        if w["code"] == "earlier-change-outstanding"
    ] == []
