"""``ucrenew plan`` against the lab: pre-change health, warnings apart from errors.

Warnings alone (the cluster's policy lets the change go on) print in their own table and exit
0; a problem that stops the change exits 3 (refused by the cluster's state). The lab's faults
make the cluster unhealthy.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from temporalio.client import Client
from typer.testing import CliRunner, Result

from console.cli import app
from lab.faults import Fault
from lab.server import Lab
from lab.timing import FAST
from tests.activities.local_plan import local_dry_run
from tests.lab.conftest import lab_spec
from workers.devserver import DevServer
from workers.settings import UcrenewSettings
from workers.wiring import build_worker


def own_cluster() -> str:
    """A cluster name no other test's change uses: the dev server is shared, and a change of
    another cluster left with work outstanding would add its own warning to the plan."""
    return f"health-{uuid.uuid4().hex[:8]}"


@pytest_asyncio.fixture
async def env(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dev_server: DevServer, dev_server_env: Client
) -> AsyncIterator[Path]:
    """Settings from the environment, as the CLI reads them, and a worker that makes the
    plans (PlanWorkflow); the lab's state dir."""
    state = tmp_path / "state"
    inventory = state / "lab" / "inventory.yaml"
    task_queue = f"plan-{uuid.uuid4()}"
    monkeypatch.setenv("UCRENEW_STATE_DIR", str(state))
    monkeypatch.setenv("UCRENEW_INVENTORY", str(inventory))
    monkeypatch.setenv("UCRENEW_TEMPORAL_ADDRESS", dev_server.address)
    monkeypatch.setenv("UCRENEW_TASK_QUEUE", task_queue)
    monkeypatch.setenv("COLUMNS", "250")
    settings = UcrenewSettings(state_dir=state, inventory=inventory)
    async with build_worker(dev_server_env, settings, task_queue):
        yield state


async def plan(*args: str) -> Result:
    """``ucrenew plan`` in a thread of its own (it runs its own event loop)."""
    return await asyncio.to_thread(CliRunner().invoke, app, ["plan", *args])


async def test_plan_shows_health_and_exits_0_on_warnings_only(env: Path) -> None:
    cluster = own_cluster()
    async with Lab(lab_spec(cluster=cluster), env / "lab", FAST) as lab:
        healthy = await plan(cluster)
        await lab.add_fault(Fault(kind="core-dump", node="cucm-sub1"))
        await lab.add_fault(Fault(kind="drs-backup-failed"))
        warned = await plan(cluster)
        as_json = await plan(cluster, "--json")
    assert healthy.exit_code == 0, healthy.output
    assert "pre-change health" in healthy.output and "synchronised" in healthy.output
    assert "DRS backup: last successful" in healthy.output and " h ago)" in healthy.output
    assert "warnings" not in healthy.output and "problems" not in healthy.output
    assert warned.exit_code == 0, warned.output
    assert "warnings (the change may go on)" in warned.output
    assert "core-files" in warned.output and "backup-failed" in warned.output
    assert "problems" not in warned.output
    doc = json.loads(as_json.output)
    assert doc["problems"] == []
    assert sorted(w["code"] for w in doc["warnings"]) == ["backup-failed", "core-files"]
    assert all(w["severity"] == "warning" for w in doc["warnings"])
    sub1 = doc["health"]["nodes"]["cucm-sub1.lab.example.com"]
    assert len(sub1["core_files"]) == 1 and sub1["ntp"]["synchronised"] is True
    assert doc["health"]["backup"]["latest"]["result"] == "ERROR"


async def test_plan_exits_3_when_a_check_stops_the_change(env: Path) -> None:
    cluster = own_cluster()
    async with Lab(lab_spec(cluster=cluster), env / "lab", FAST) as lab:
        await lab.add_fault(Fault(kind="ntp-unsynchronised", node="cucm-pub"))
        await lab.add_fault(Fault(kind="disk-full", node="imp-pub"))
        await lab.add_fault(Fault(kind="core-dump", node="cucm-sub2"))
        result = await plan(cluster)
        as_json = await plan(cluster, "--json")
    assert result.exit_code == 3, result.output
    assert "problems" in result.output and "warnings (the change may go on)" in result.output
    assert "unsynchronised" in result.output
    doc = json.loads(as_json.output)
    # The publisher's clock is every node's: all four are unsynchronised.
    assert sorted((p["code"], p["node"]) for p in doc["problems"]) == sorted(
        [
            ("ntp-unsynchronised", f"{h}.lab.example.com")
            for h in ("cucm-pub", "cucm-sub1", "cucm-sub2", "imp-pub")
        ]
        + [("disk-full", "imp-pub.lab.example.com")]
    )
    assert [w["code"] for w in doc["warnings"]] == ["core-files"]


async def test_an_old_backup_stops_the_change_with_its_age(tmp_path: Path) -> None:
    spec = lab_spec(health={"last_backup_hours_ago": 24 * 10})
    async with Lab(spec, tmp_path / "state" / "lab", FAST):
        settings = UcrenewSettings(
            state_dir=tmp_path / "state", inventory=tmp_path / "state" / "lab" / "inventory.yaml"
        )
        report = await local_dry_run(settings, "lab", ["tomcat"])
    (problem,) = report.errors
    assert problem.code == "backup-too-old"
    assert "10 days 0 h old" in problem.message and "limit is 7 days" in problem.message
    assert report.warnings == []
