"""Status tells the truth after a failure (issue 16): what failed, where, in which wave, and
reads of a change that need no worker.

On the lab, Cisco CallManager fails to start on cucm-sub1 in the CallManager wave of a
CallManager change (12.5: TVS and TFTP restart first on every node, then CallManager and
CTIManager node by node, Cisco's order for a CallManager certificate); the operator stops the
change. The status, the report and ``ucrenew show`` (with the worker gone) must say that
CallManager failed on cucm-sub1 and what to do about CallManager, never Tomcat, and every
node's row must say what happened to it in each wave.
"""

from __future__ import annotations

import html
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError

from console.render import awaiting_hint
from console.report import markdown_report
from lab.faults import Fault
from lab.server import Lab
from lab.timing import FAST
from tests.e2e.conftest import FAST_OPTIONS, Stack
from tests.e2e.dashboard_service import running_service
from tests.lab.conftest import LabHandle, lab_spec
from workers.devserver import DevServer, free_loopback_port
from workers.settings import UcrenewSettings
from workflows import search_attributes as sa
from workflows.models import OperatorDecision, RenewalInput, RenewalStatus
from workflows.renewal import CertRenewalWorkflow

pytestmark = pytest.mark.e2e

UCRENEW = str(Path(sys.executable).parent / "ucrenew")
CM = "Cisco CallManager"


@dataclass
class Stopped:
    """A CallManager change stopped after CallManager failed to start on cucm-sub1."""

    stack: Stack
    paused: RenewalStatus
    hint: str | None
    final: RenewalStatus
    sub1: str
    sub2: str


@pytest_asyncio.fixture(loop_scope="session")
async def stopped(dev_server_env: Client, tmp_path: Path) -> AsyncIterator[Stopped]:
    spec = lab_spec(version="12.5.1.14900-63", sso_enabled=False, phones={"count": 20})
    async with Lab(spec, tmp_path / "state" / "lab", FAST) as running:
        settings = UcrenewSettings(
            state_dir=tmp_path / "state", inventory=tmp_path / "state" / "lab" / "inventory.yaml"
        )
        stack = Stack(LabHandle(running), dev_server_env, settings, f"truth-{uuid.uuid4()}")
        await running.add_fault(Fault(kind="service-fail-start", node="cucm-sub1", target=CM))
        fqdn = {n.hostname: n.fqdn for n in running.cluster.nodes}
        async with stack.worker():
            handle = await stack.start(
                purposes=["CallManager"],
                windows=[stack.open_window()],
                options=FAST_OPTIONS.model_copy(update={"health_poll_seconds": 0.05}),
            )
            try:
                await stack.approve_impact(handle)
                paused = await stack.wait_for(handle, "operator", timeout=120)
                hint = awaiting_hint(paused)
                await handle.execute_update(
                    CertRenewalWorkflow.decide,
                    OperatorDecision(principal="night-operator", decision="stop"),
                )
                with pytest.raises(WorkflowFailureError):
                    await handle.result()
                final = await handle.query(CertRenewalWorkflow.get_status)
            finally:
                # Never leave a change running on the shared dev server.
                if (await handle.describe()).status == WorkflowExecutionStatus.RUNNING:
                    await handle.terminate("test over")
        yield Stopped(stack, paused, hint, final, fqdn["cucm-sub1"], fqdn["cucm-sub2"])


async def test_the_report_names_callmanager_on_its_node_and_its_advice(stopped: Stopped) -> None:
    """Cisco CallManager failed to start on cucm-sub1: the status, the question's hint and
    the report name that service on that node, with CallManager's advice (`utils service
    start`, the VOS CLI command that starts a service: cucm-interfaces.md §7.2), and say
    nothing of Tomcat, which was never restarted by this change."""
    paused, final = stopped.paused, stopped.final
    assert paused.failed_step is not None and paused.failed_step.service == CM
    assert stopped.hint is not None
    assert f"{CM} failed on {stopped.sub1}" in stopped.hint and "Tomcat" not in stopped.hint

    [failure] = final.failures
    assert (failure.node, failure.step, failure.service) == (stopped.sub1, "restart", CM)
    assert failure.wave == 2
    advice = " ".join(failure.advice)
    assert f"{CM} did not start on {stopped.sub1}" in advice
    assert f"`utils service start {CM}`" in advice
    assert "failed over" in advice  # what CallManager's outage means for its phones
    assert "Tomcat" not in advice

    report = markdown_report(final)
    what_failed = report.split("## What failed", 1)[1].split("\n## ", 1)[0]
    assert f"restart of {CM} on {stopped.sub1} in restart wave 2" in what_failed
    assert f"run on {stopped.sub1}: `utils service start {CM}`" in what_failed
    assert "Tomcat" not in report


async def test_node_rows_show_each_waves_state(stopped: Stopped) -> None:
    """Two waves ran (TVS and TFTP on every node, then CallManager on the publisher and
    cucm-sub1): each wave's rows show that wave's services; cucm-sub2, whose CallManager
    wave never ran, is not shown restarted although its wave-1 services were."""
    final = stopped.final
    # The node rows: cucm-sub2 restarted in wave 1 only, its CallManager wave never came.
    assert final.node(stopped.sub2).steps["restart"] == "pending"
    assert final.node(stopped.sub1).steps["restart"] == "failed"
    assert [w.index for w in final.waves] == [1, 2]
    first, second = final.waves
    assert first.state == "done"
    assert all(
        set(services.values()) == {"done"} and "Cisco Tftp" in services
        for services in first.services.values()
    )
    assert second.state == "failed"
    assert second.services[stopped.sub1][CM] == "failed"
    assert stopped.sub2 not in second.services
    assert first.node_state(stopped.sub2) == "done"
    # Nothing is left "running" in a change that has ended.
    assert all(s != "running" for n in final.nodes for s in n.steps.values())
    assert all(
        state != "running"
        for w in final.waves
        for services in w.services.values()
        for state in services.values()
    )
    report = markdown_report(final)
    assert f"| 1 (done) | {stopped.sub2} | Cisco Trust Verification Service: done" in report
    assert f"| 2 (failed) | {stopped.sub1} | {CM}: failed" in report


def _ucrenew(
    address: str, task_queue: str, state: Path, *args: str
) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.update(
        UCRENEW_STATE_DIR=str(state),
        UCRENEW_TEMPORAL_ADDRESS=address,
        UCRENEW_TASK_QUEUE=task_queue,
        UCRENEW_SERVICE_LISTEN=f"127.0.0.1:{free_loopback_port()}",
        COLUMNS="200",
        XDG_CONFIG_HOME=str(state / "config"),
    )
    for name in ("UCRENEW_SERVER", "UCRENEW_TOKEN"):
        env.pop(name, None)
    return subprocess.run(
        [UCRENEW, *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


async def test_show_of_a_finished_change_works_with_no_worker(
    stopped: Stopped, dev_server: DevServer, tmp_path: Path
) -> None:
    """The worker is gone (its context ended with the fixture's change): `show`, `report` and
    `watch` of the failed change read its final status from Temporal (the memo it wrote when
    it stopped), with the failure and its advice, and no notice."""
    stack = stopped.stack
    change = stopped.final.change_id
    shown = _ucrenew(dev_server.address, stack.task_queue, tmp_path, "show", change, "--json")
    assert shown.returncode == 0, shown.stderr
    status = RenewalStatus.model_validate_json(shown.stdout)
    assert status.phase == "failed" and status.audit and status.plan is not None
    assert [f.service for f in status.failures] == [CM]
    assert shown.stderr == ""
    table = _ucrenew(dev_server.address, stack.task_queue, tmp_path, "show", change)
    assert table.returncode == 0, table.stderr
    assert f"{CM} did not start on {stopped.sub1}" in " ".join(table.stdout.split())
    report = _ucrenew(dev_server.address, stack.task_queue, tmp_path, "report", change)
    assert report.returncode == 0 and "## What failed" in report.stdout
    watched = _ucrenew(dev_server.address, stack.task_queue, tmp_path, "watch", change)
    assert watched.returncode == 1  # it failed: watch says so, without a worker
    assert "already finished (failed)" in watched.stderr


async def test_show_of_a_running_change_with_no_worker_says_so(
    dev_server_env: Client, dev_server: DevServer, tmp_path: Path
) -> None:
    """A change whose task queue no worker polls: `show` says so and shows what Temporal's
    records know (phase, requester), instead of waiting for a worker that never comes."""
    queue = f"nobody-{uuid.uuid4()}"
    change = f"CHG-{uuid.uuid4().hex[:10]}"
    handle = await dev_server_env.start_workflow(
        CertRenewalWorkflow.run,
        RenewalInput(change_id=change, cluster="lab", requested_by="night-operator"),
        id=change,
        task_queue=queue,
        search_attributes=sa.start_attributes("lab", change, ["tomcat"]),
    )
    try:
        shown = _ucrenew(dev_server.address, queue, tmp_path, "show", change, "--json")
        assert shown.returncode == 0, shown.stderr
        assert f"no worker is polling task queue {queue}" in shown.stderr
        assert "ucrenew worker" in shown.stderr
        status = RenewalStatus.model_validate_json(shown.stdout)
        assert status.change_id == change and status.requested_by == "night-operator"
        assert status.phase == "discover" and status.plan is None
    finally:
        await handle.terminate("test over")


async def test_show_after_the_worker_stopped_says_no_worker_answered(
    stack: Stack, dev_server: DevServer, tmp_path: Path
) -> None:
    """A change waiting for SSO to be re-enabled whose worker has stopped: `show` says that no
    worker answered on its task queue, and shows the phase Temporal recorded."""
    async with stack.worker():
        handle = await stack.start(requested_by="night-operator")
        try:
            await stack.wait_for(handle, "sso-confirm")
        except BaseException:
            await handle.terminate("test over")
            raise
    try:
        shown = _ucrenew(
            dev_server.address, stack.task_queue, tmp_path, "show", handle.id, "--json"
        )
        assert shown.returncode == 0, shown.stderr
        assert f"task queue {stack.task_queue}" in shown.stderr
        assert "ucrenew worker" in shown.stderr
        status = RenewalStatus.model_validate_json(shown.stdout)
        assert status.phase == "sso-reenable" and status.awaiting == "sso-confirm"
    finally:
        await handle.terminate("test over")


async def test_the_renewal_page_of_the_stopped_change_needs_no_worker(
    stopped: Stopped, tmp_path: Path
) -> None:
    """The service's renewal page of the stopped change, with its worker gone: the final
    status from the memo (no notice), what failed with CallManager's advice, and the waves."""
    stack = stopped.stack
    change = stopped.final.change_id
    async with (
        running_service(stack.client, stack.settings, tmp_path / "svc", {"rita": ["ops"]}) as svc,
        httpx.AsyncClient(base_url=svc.base_url, timeout=30) as http,
    ):
        page = await http.get(f"/renewals/{change}", headers=svc.headers("rita"))
    assert page.status_code == 200
    text = html.unescape(page.text)
    assert 'id="notice"' not in text
    failures = text.split('id="failures"', 1)[1].split("</ul></li></ul>", 1)[0]
    assert f"restart of {CM} on {stopped.sub1} in wave 2" in failures
    assert f"`utils service start {CM}`" in failures and "Tomcat" not in failures
    waves = text.split('id="waves"', 1)[1].split("</table>", 1)[0]
    assert f"{CM}: failed" in waves and "Cisco Tftp: done" in waves
