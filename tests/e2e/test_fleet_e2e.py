"""The fleet view against the lab: a scan after a renewal, drift when a node's certificate is
replaced behind ucrenew's back, a cluster that cannot be read, the latest scan as the service
reads it, and ``ucrenew fleet`` with its schedule from ``ucrenew dev up``."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from temporalio.client import WorkflowExecutionStatus

from lab.faults import Fault
from service.fleet import fleet_view
from tests.e2e.conftest import Stack
from tests.e2e.test_cli_e2e import Cli
from tests.lab.conftest import lab_spec
from workers.fleet import ScanStillRunning, run_fleet_scan
from workflows.fleet_models import FleetPurpose, FleetView
from workflows.renewal import CertRenewalWorkflow

pytestmark = pytest.mark.e2e

SUB1 = "cucm-sub1.lab.example.com"


async def scan(stack: Stack) -> FleetView:
    return await run_fleet_scan(
        stack.client, stack.settings, [stack.lab.cluster_entry.name], stack.task_queue
    )


def tomcat(view: FleetView) -> FleetPurpose:
    (cluster,) = view.clusters
    assert cluster.status == "ok", cluster.error
    return next(p for p in cluster.purposes if p.purpose == "tomcat")


def kinds(p: FleetPurpose) -> dict[str, list[str]]:
    return {d.kind: d.nodes for d in p.drift}


async def test_a_scan_after_a_renewal_then_a_certificate_replaced_by_hand(stack: Stack) -> None:
    cluster = stack.lab.lab.cluster
    async with stack.worker():
        before = tomcat(await scan(stack))
        # The lab's install-time certificates are self-signed, one per node: no SAN set yet.
        assert "differs-between-nodes" not in kinds(before)
        # The dev server is shared: an earlier test may have renewed a cluster named "lab".
        earlier = before.last_change_id

        handle = await stack.start()
        try:
            await stack.reenable_sso(handle)
            status = await handle.result()
        finally:
            if (await handle.describe()).status == WorkflowExecutionStatus.RUNNING:
                await handle.terminate("test over")
        assert status.phase == "done"

        after = tomcat(await scan(stack))
        assert after.last_change_id == status.change_id != earlier
        assert after.days_to_expiry is not None and after.days_to_expiry > 30
        assert {n.served.serial for n in after.nodes if n.served} == {status.new_serial}
        assert after.drift == []

        # Someone regenerates sub1's tomcat certificate on the box: installed, not yet served.
        sub1 = cluster.node("cucm-sub1")
        cluster.regenerate_self_signed(sub1, "tomcat")
        assert kinds(tomcat(await scan(stack))) == {"served-not-installed": [SUB1]}

        # ... and restarts Tomcat: sub1 now serves a certificate ucrenew did not install.
        cluster.control(sub1, "Cisco Tomcat", "restart", origin="e2e")
        deadline = time.monotonic() + 30
        while sub1.active["tomcat"] is not sub1.own["tomcat"] or not cluster.serving(sub1):
            assert time.monotonic() < deadline, "Tomcat never came back on sub1"
            await asyncio.sleep(0.05)
        replaced = tomcat(await scan(stack))
        drift = kinds(replaced)
        assert drift["differs-between-nodes"] == [SUB1]
        assert drift["not-from-last-change"] == [SUB1]
        # The lab's self-signed certificates are short-lived, and ucrenew does not trust one
        # for its certmgr reads: both are said, on sub1 only.
        assert drift["expiring"] == [SUB1]
        unreadable = next(d for d in replaced.drift if d.kind == "unreadable")
        assert unreadable.nodes == [SUB1] and "self-signed certificate" in unreadable.message
        # A self-signed certificate where ucrenew's change installed a CA-signed one.
        assert drift["self-signed"] == [SUB1]
        assert set(drift) == {
            "differs-between-nodes",
            "not-from-last-change",
            "self-signed",
            "expiring",
            "unreadable",
        }


async def test_a_cluster_that_cannot_be_read_is_shown_failed(stack: Stack) -> None:
    fault = await stack.lab.lab.add_fault(Fault(kind="unreachable"))
    try:
        async with stack.worker():
            view = await run_fleet_scan(
                stack.client,
                stack.settings,
                [stack.lab.cluster_entry.name, "no-such-cluster"],
                stack.task_queue,
            )
    finally:
        await stack.lab.lab.clear_faults(fault.id)
    by_name = {c.cluster: c for c in view.clusters}
    assert set(by_name) == {stack.lab.cluster_entry.name, "no-such-cluster"}
    lab = by_name[stack.lab.cluster_entry.name]
    assert lab.status == "failed" and lab.error and "no certificate could be read" in lab.error
    missing = by_name["no-such-cluster"]
    assert missing.status == "failed" and "no cluster named 'no-such-cluster'" in (
        missing.error or ""
    )


async def test_the_service_reads_the_latest_scan(stack: Stack) -> None:
    async with stack.worker():
        first = await scan(stack)
        second = await scan(stack)
    assert first.scan_id != second.scan_id
    # Each cluster's part of the view is the result of a child workflow of its own: the
    # scan's result stays small however large the fleet.
    assert second.scan_id is not None
    history = await stack.client.get_workflow_handle(second.scan_id).fetch_history()
    (result,) = history.events[-1].workflow_execution_completed_event_attributes.result.payloads
    assert len(result.data) < 1_000
    child = stack.client.get_workflow_handle(f"{second.scan_id}/{stack.lab.cluster_entry.name}")
    assert (await child.describe()).workflow_type == "FleetClusterScanWorkflow"
    # Other tests' scans share the dev server: the latest one is at least as new as ours.
    view = await fleet_view(stack.client, datetime.now(UTC))
    assert view.scanned_at >= second.scanned_at
    assert view.notice is None or "failed" in view.notice
    assert view.as_of > second.as_of


@pytest.fixture
def dev_cli(tmp_path: Path) -> Iterator[Cli]:
    topology = tmp_path / "topology.yaml"
    topology.write_text(yaml.safe_dump(lab_spec().model_dump()))
    runner = Cli(tmp_path / "state")
    runner.env["UCRENEW_FLEET_SCAN_MINUTES"] = "720"
    try:
        runner("dev", "up", "--lab-topology", str(topology))
        yield runner
    finally:
        runner("dev", "down", ok=False)


def test_dev_up_schedules_the_fleet_scan_and_the_cli_shows_it(dev_cli: Cli) -> None:
    # `dev up` created the schedule with a first scan at once: wait for its view.
    deadline = time.monotonic() + 90
    while True:
        view = dev_cli.json("fleet")
        if view["clusters"]:
            break
        assert "no fleet scan has completed yet" in view["notice"]
        assert time.monotonic() < deadline, "the scheduled scan never completed"
        time.sleep(0.5)
    (lab,) = view["clusters"]
    assert lab["cluster"] == "lab" and lab["status"] == "ok"
    assert {p["purpose"] for p in lab["purposes"]} >= {"tomcat", "CallManager", "cup-xmpp"}

    table = dev_cli("fleet").stdout
    assert "tomcat" in table and "lab" in table

    scanned = dev_cli.json("fleet", "scan", "--cluster", "lab")
    assert scanned["scan_id"].startswith("fleet-scan-")
    # The lab's inventory does not enable auto_renew: --start starts nothing, and says why.
    started = dev_cli.json("fleet", "scan", "--cluster", "lab", "--start")
    (lab_scan,) = started["clusters"]
    assert lab_scan["auto_renew"]["status"] == "off"
    assert "auto_renew is not enabled" in lab_scan["auto_renew"]["detail"]
    again = dev_cli.json("fleet", "schedule")
    assert again == {
        "schedule": "ucrenew-fleet-scan",
        "result": "updated",
        "every_minutes": 720,
        "warning_days": 30,
        "start_jitter_minutes": 30,
    }
    unknown = dev_cli("fleet", "scan", "--cluster", f"nope-{uuid.uuid4().hex[:4]}", ok=False)
    assert unknown.returncode == 1 and "Traceback" not in unknown.stderr
    assert "no cluster named" in unknown.stdout


async def test_a_scan_no_worker_picks_up_says_so_and_goes_on(stack: Stack) -> None:
    with pytest.raises(ScanStillRunning) as caught:
        await run_fleet_scan(
            stack.client, stack.settings, [stack.lab.cluster_entry.name], stack.task_queue, 0.5
        )
    handle = stack.client.get_workflow_handle(caught.value.scan_id)
    try:
        assert stack.task_queue in str(caught.value)
        assert (await handle.describe()).status == WorkflowExecutionStatus.RUNNING
    finally:
        await handle.terminate("test over")


async def test_the_scan_starts_one_renewal_that_waits_for_its_plan_approval(stack: Stack) -> None:
    # The lab's certificates have about 20 days left: due under a 30-day threshold.
    inventory = stack.settings.inventory_path
    data = yaml.safe_load(inventory.read_text())
    (entry,) = [c for c in data["clusters"] if c["name"] == stack.lab.cluster_entry.name]
    entry.setdefault("change_policy", {})["auto_renew"] = {
        "enabled": True,
        "purposes": ["tomcat"],
        "threshold_days": 30,
    }
    inventory.write_text(yaml.safe_dump(data))
    name = stack.lab.cluster_entry.name
    async with stack.worker():
        dry = (await scan(stack)).clusters[0].auto_renew
        assert dry is not None and dry.status == "would-start" and dry.purposes == ["tomcat"]

        first = await run_fleet_scan(
            stack.client, stack.settings, [name], stack.task_queue, start_renewals=True
        )
        outcome = first.clusters[0].auto_renew
        assert outcome is not None and outcome.status == "started", outcome
        assert outcome.change_id == f"AUTO-{name}-{datetime.now(UTC):%Y%m%d}"
        handle = stack.client.get_workflow_handle_for(CertRenewalWorkflow.run, outcome.change_id)
        try:
            status = await stack.wait_for(handle, "approval")
            assert status.gate == "plan" and status.requested_by == "ucrenew-scan"
            # Nothing has changed on the cluster: it waits for a person.
            journal = stack.lab.lab.cluster.journal
            for kind in ("csr.generated", "identity.uploaded", "trust.uploaded", "sso.disabled"):
                assert journal.entries(kind=kind) == [], kind
            second = await run_fleet_scan(
                stack.client, stack.settings, [name], stack.task_queue, start_renewals=True
            )
            again = second.clusters[0].auto_renew
            assert again is not None and again.status in ("running", "already-started")
            assert again.change_id == outcome.change_id
        finally:
            if (await handle.describe()).status == WorkflowExecutionStatus.RUNNING:
                await handle.terminate("test over")
