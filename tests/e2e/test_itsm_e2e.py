"""ITSM end to end: a renewal of the lab cluster checked against the lab's ServiceNow twin on
the real Temporal dev server, refused for an unapproved change record, and completed with its
outcome written back. The twin's table is the oracle of what ServiceNow would hold."""

from __future__ import annotations

import contextlib
import json
import random
import signal
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import yaml
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ApplicationError

from lab.servicenow import ServiceNowTwin, load_records
from tests.e2e.conftest import Handle, Stack
from tests.e2e.test_cli_e2e import UCRENEW, Cli, cli
from workers.wiring import build_worker
from workflows.renewal import CertRenewalWorkflow

pytestmark = pytest.mark.e2e

__all__ = ["cli"]

BASE_URL = "https://ucrenew.example.test"


def numbers() -> tuple[str, str]:
    """Change numbers of their own for this run (the dev server outlives one test)."""
    n = random.randrange(10**6, 10**7)
    return f"CHG{n}1", f"CHG{n}2"


@pytest_asyncio.fixture(loop_scope="session")
async def twin(tmp_path: Path) -> AsyncIterator[tuple[ServiceNowTwin, str, str]]:
    approved, unapproved = numbers()
    rows = load_records()
    rows[0]["number"], rows[1]["number"] = approved, unapproved
    async with ServiceNowTwin(tmp_path / "servicenow", rows[:2]) as t:
        yield t, approved, unapproved


def with_itsm(stack: Stack, twin: ServiceNowTwin) -> None:
    """Point the lab's inventory at the twin (the worker reads it on every activity)."""
    path = stack.settings.inventory_path
    data: dict[str, Any] = yaml.safe_load(path.read_text())
    data["itsm"] = {
        "kind": "servicenow",
        "url": twin.url,
        "credentials": {"username": twin.username, "password": f"file:{twin.password_file}"},
        "ca_file": str(twin.ca_file),
        "close_states": {"done": "0"},
        "write_back": {"attempts": 3, "initial_interval_seconds": 0.2},
    }
    data["clusters"][0]["itsm"] = {"match": {"ci": "cucm-lab"}}
    path.write_text(yaml.safe_dump(data))


@contextlib.asynccontextmanager
async def worker(stack: Stack) -> AsyncIterator[None]:
    settings = stack.settings.model_copy(update={"service_base_url": BASE_URL})
    async with build_worker(stack.client, settings, stack.task_queue):
        yield


async def finish(handle: Handle) -> None:
    """End the change whatever happened (the dev server is shared)."""
    with contextlib.suppress(Exception):
        desc = await handle.describe()
        if desc.status is not None and desc.status.name == "RUNNING":
            await handle.terminate("test over")


async def test_unapproved_record_refuses_the_change_until_it_is_approved(
    stack: Stack, twin: tuple[ServiceNowTwin, str, str]
) -> None:
    sn, approved, unapproved = twin
    with_itsm(stack, sn)
    async with worker(stack):
        handle = await stack.start(change_id=unapproved)
        try:
            with pytest.raises(WorkflowFailureError) as failed:
                await handle.result()
            status = await handle.query(CertRenewalWorkflow.get_status)
        finally:
            await finish(handle)
        cause = failed.value.cause
        assert isinstance(cause, ApplicationError) and cause.type == "PreflightFailed"
        assert "change-record-not-approved" in {p.code for p in status.problems}
        assert "does not allow implementation" in cause.message
        assert stack.lab.lab.journal.entries("csr.generated") == []
        [note] = sn.work_notes(unapproved)
        assert note.startswith(f"ucrenew: renewal of tomcat on cluster {status.cluster} failed")
        assert f"{BASE_URL}/renewals/{unapproved}" in note
        assert sn.record(unapproved)["state"] == "-3"  # failed: no state configured, note only

        # The change manager authorises it; the same change id starts again (nothing was
        # written to the cluster) and gets past preflight; cancelled, the record is told.
        window = {k: sn.record(approved)[k] for k in ("start_date", "end_date")}
        sn.update(unapproved, state="-1", approval="approved", **window)
        again = await stack.start(change_id=unapproved, require_plan_approval=True)
        try:
            waiting = await stack.wait_for(again, "approval")
            await again.cancel()
            with pytest.raises(WorkflowFailureError):
                await again.result()
        finally:
            await finish(again)
    assert waiting.change_record is not None and waiting.change_record.allowed
    assert waiting.problems == []
    notes = sn.work_notes(unapproved)
    assert len(notes) == 2 and "cancelled" in notes[1]


async def test_approved_record_renewal_completes_and_is_written_back(
    stack: Stack, twin: tuple[ServiceNowTwin, str, str]
) -> None:
    sn, approved, _ = twin
    with_itsm(stack, sn)
    async with worker(stack):
        handle = await stack.start(change_id=approved)
        try:
            await stack.reenable_sso(handle)
            status = await handle.result()
        finally:
            await finish(handle)
    assert status.phase == "done"
    assert status.change_record is not None and status.change_record.allowed
    assert [e.action for e in status.audit][-1] == "change-record-written"
    record = sn.record(approved)
    assert (record["state"], record["close_code"]) == ("0", "successful")
    [note] = sn.work_notes(approved)
    serial = status.new_certificates["tomcat"].serial
    assert f"tomcat: new certificate serial {serial}" in note
    assert f"{BASE_URL}/renewals/{approved}" in note
    assert sn.password not in (await handle.fetch_history()).to_json()


def test_plan_and_start_show_the_change_record_from_the_cli(cli: Cli, tmp_path: Path) -> None:
    """`ucrenew plan --change` and `ucrenew start` against `ucrenew dev up`'s stack, the twin
    run by `ucrenew lab servicenow` (as an operator rehearsing would)."""
    state = Path(cli.env["UCRENEW_STATE_DIR"])
    twin = subprocess.Popen(
        [UCRENEW, "lab", "servicenow"],
        env=cli.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert twin.stdout is not None
        printed = "".join(twin.stdout.readline() for _ in range(9))
        block = yaml.safe_load(printed[printed.index("itsm:") :])
        inventory = state / "lab" / "inventory.yaml"
        data = yaml.safe_load(inventory.read_text())
        data.update(block)
        inventory.write_text(yaml.safe_dump(data))

        unchecked = cli.json("plan", "lab")
        assert [w["code"] for w in unchecked["warnings"]] == ["change-record-unchecked"]
        refused = cli("plan", "lab", "--change", "CHG0030002", "--json", ok=False)
        assert refused.returncode == 3
        report = json.loads(refused.stdout)
        assert "change-record-not-approved" in {p["code"] for p in report["problems"]}
        assert report["change_record"]["record"]["state_label"] == "Authorize"
        allowed = cli.json("plan", "lab", "--change", "CHG0030001")
        assert allowed["problems"] == [] and allowed["change_record"]["found"]

        started = cli("start", "lab", "--change", "CHG0030002", ok=False)
        assert started.returncode == 3, started.stderr
        shown = started.stdout + started.stderr
        assert "change-record-not-approved" in shown and "Traceback" not in shown
        status = cli.json("show", "CHG0030002")
        assert status["phase"] == "failed"
        assert status["change_record"]["found"] is True
    finally:
        twin.send_signal(signal.SIGTERM)
        twin.communicate(timeout=30)
