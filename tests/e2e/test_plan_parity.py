"""``ucrenew plan`` shows the very plan the workflow runs: same stages, steps and hash.

Both compose the plan with one function from what discovery sees; this test runs both
against the same lab and compares them, for a web, a phone-impacting (12.5 and 14) and an
IM and Presence change.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from temporalio.client import Client, WorkflowFailureError

from activities.clients.inventory import load_inventory
from console.planning import dry_run_report
from lab.server import Lab
from lab.timing import FAST
from tests.lab.conftest import lab_spec
from workers.settings import UcrenewSettings
from workers.wiring import build_worker
from workflows import search_attributes as sa
from workflows.models import TERMINAL_PHASES, RenewalInput, RenewalOptions, RenewalStatus
from workflows.renewal import CertRenewalWorkflow

CASES: dict[str, tuple[dict[str, Any], list[str]]] = {
    "tomcat-14": ({}, ["tomcat"]),
    "callmanager-12.5-mixed": (
        {"version": "12.5.1.14900-63", "security_mode": 1},
        ["CallManager"],
    ),
    "callmanager-14": ({"version": "14.0.1.13900-155"}, ["CallManager"]),
    "imp-xmpp": ({}, ["cup-xmpp", "cup-xmpp-s2s"]),
    # The inventory's change_policy.restarts (capped, 3) reaches the plan and the workflow.
    "tomcat-14-capped": ({}, ["tomcat"]),
}


async def _until_planned(client: Client, change: str) -> RenewalStatus:
    handle = client.get_workflow_handle_for(CertRenewalWorkflow.run, change)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 60
    while True:
        status = await handle.query(CertRenewalWorkflow.get_status)
        if status.awaiting == "approval":
            return status
        assert status.phase not in TERMINAL_PHASES, status.error
        assert loop.time() < deadline, f"never planned: phase {status.phase}"
        await asyncio.sleep(0.05)


@pytest.mark.e2e
@pytest.mark.parametrize("case", list(CASES))
async def test_plan_and_workflow_compose_the_same_stages(
    dev_server_env: Client, tmp_path: Path, case: str
) -> None:
    topology, purposes = CASES[case]
    window_start = datetime.now(UTC) + timedelta(days=1)
    window = {
        "start": window_start.isoformat(),
        "end": (window_start + timedelta(hours=4)).isoformat(),
    }
    options = RenewalOptions()
    lab_dir = tmp_path / "state" / "lab"
    async with Lab(lab_spec(**topology), lab_dir, FAST) as lab:
        settings = UcrenewSettings(
            state_dir=tmp_path / "state", inventory=lab_dir / "inventory.yaml"
        )
        if case.endswith("-capped"):
            data = yaml.safe_load(settings.inventory_path.read_text())
            policy = data["clusters"][0].setdefault("change_policy", {})
            policy["restarts"] = {"tomcat": "capped", "max_parallel": 3}
            settings.inventory_path.write_text(yaml.safe_dump(data))
        while any(p.node is None for p in lab.phones.phones):
            await asyncio.sleep(0.02)
        task_queue = f"parity-{uuid.uuid4()}"
        # `ucrenew plan` asks a worker of the same queue (PlanWorkflow), as the CLI does.
        async with build_worker(dev_server_env, settings, task_queue):
            report = await dry_run_report(
                dev_server_env,
                task_queue,
                "lab",
                purposes,  # type: ignore[arg-type]
                options,
                windows=[window],
            )
        shown, problems = report.plan, report.problems
        # Earlier tests' changes of cluster "lab" on the shared dev server may have left work
        # behind: that warning is about them, not this cluster's state.
        assert [p for p in problems if p.code != "earlier-change-outstanding"] == []

        change = f"CHG-{uuid.uuid4().hex[:10]}"
        inp = RenewalInput(
            change_id=change,
            cluster="lab",
            purposes=purposes,
            requested_by="parity",
            require_plan_approval=True,
            windows=[window],
            options=options,
        )
        async with build_worker(dev_server_env, settings, task_queue):
            handle = await dev_server_env.start_workflow(
                CertRenewalWorkflow.run,
                inp,
                id=change,
                task_queue=task_queue,
                search_attributes=sa.start_attributes("lab", change, list(purposes)),
            )
            try:
                run = (await _until_planned(dev_server_env, change)).plan
            finally:
                # Ends it (with its compensation) while the worker still runs.
                await handle.cancel()
                with contextlib.suppress(WorkflowFailureError):
                    await handle.result()
    assert run is not None and run.restarts is not None and shown.restarts is not None
    assert shown.restarts.stages == run.restarts.stages
    assert shown.restarts.waves == run.restarts.waves
    assert shown.steps == run.steps
    assert shown.plan_hash == run.plan_hash
    kinds = [s.kind for s in run.restarts.stages]
    if case == "tomcat-14-capped":
        assert [len(w.nodes) for w in run.restarts.waves] == [1, 3]
    if case == "callmanager-12.5-mixed":
        # The CTL first, then TVS/TFTP, then the phone resets before any CallManager stops.
        assert kinds[:3] == ["ctl-update", "wave", "phone-resets"]
    else:
        assert "phone-resets" not in kinds and "ctl-update" not in kinds
    gated = [s for s in run.restarts.stages if s.health_gate]
    assert {s.wave for s in gated} == {w.index for w in run.restarts.waves if w.phones_affected}
    # 14SU1 and later restart only HAProxy for an RSA CallManager certificate: no phone moves.
    assert bool(gated) == (case == "callmanager-12.5-mixed")
    # Drain nodes are spelled as the inventory spells its nodes.
    nodes = {n.fqdn for n in load_inventory(settings.inventory_path).clusters[0].nodes}
    assert all(d in nodes for s in gated for d in s.drain)
