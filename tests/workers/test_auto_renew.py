"""The start of a renewal the fleet scan found due, against a real Temporal (the dev server):
requested by ``ucrenew-scan``, with the policy's CA and plan approval; nothing while a
renewal of the cluster runs; a race on one change id starts it once.

No worker polls the renewals' task queue, so what is started stays running (on its first
workflow task) until the test terminates it.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid

import pytest
from temporalio import workflow
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError
from temporalio.testing import ActivityEnvironment
from temporalio.worker import Worker

from activities.visibility import renewals_query
from workers.auto_renew import SCAN_REQUESTER, AutoRenewActivities
from workflows import search_attributes as sa
from workflows.fleet_models import AutoRenewOutcome, AutoRenewStartRequest
from workflows.models import RenewalInput


async def _listed(client: Client, cluster: str, change_id: str) -> None:
    """Wait until visibility lists the running renewal (it lags the start a little)."""
    query = renewals_query(running_only=True, cluster=cluster)
    for _ in range(200):
        if any([wf.id == change_id async for wf in client.list_workflows(query)]):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{change_id} never listed as running")


async def test_started_once_then_never_beside_the_running_renewal(
    dev_server_env: Client,
) -> None:
    client = dev_server_env
    cluster = f"scan-{uuid.uuid4().hex[:8]}"
    acts = AutoRenewActivities(client, f"tq-{uuid.uuid4()}", lambda: None)
    env = ActivityEnvironment()
    req = AutoRenewStartRequest(
        cluster=cluster,
        change_id=f"AUTO-{cluster}-20261130",
        purposes=["tomcat", "CallManager"],
        ca="adcs",
        ca_name="corp",
        require_plan_approval=True,
    )
    started = [req.change_id, f"AUTO-{cluster}-20261201"]
    try:
        # Two scans racing on the same day: one start.
        both: list[AutoRenewOutcome] = await asyncio.gather(
            env.run(acts.start_scheduled_renewal, req),
            env.run(acts.start_scheduled_renewal, req),
        )
        assert sorted(o.status for o in both) in (
            ["already-started", "started"],
            ["running", "started"],
        )
        handle = client.get_workflow_handle(req.change_id)
        desc = await handle.describe()
        assert desc.status == WorkflowExecutionStatus.RUNNING
        assert desc.typed_search_attributes.get(sa.RENEWAL_REQUESTER) == SCAN_REQUESTER
        inp = (await handle.fetch_history()).events[0]
        args = inp.workflow_execution_started_event_attributes.input.payloads
        start = await client.data_converter.decode(args, [RenewalInput])
        assert start[0].purposes == ["tomcat", "CallManager"]
        assert (start[0].ca, start[0].ca_name, start[0].require_plan_approval) == (
            "adcs",
            "corp",
            True,
        )
        assert start[0].requested_by == SCAN_REQUESTER

        # The next day's scan: the renewal still runs, so nothing starts.
        await _listed(client, cluster, req.change_id)
        tomorrow = req.model_copy(update={"change_id": f"AUTO-{cluster}-20261201"})
        outcome = await env.run(acts.start_scheduled_renewal, tomorrow)
        assert outcome.status == "running" and outcome.change_id == req.change_id
        assert [
            wf.id
            async for wf in client.list_workflows(
                renewals_query(running_only=False, cluster=cluster)
            )
        ] == [req.change_id]
    finally:
        for change_id in started:
            handle = client.get_workflow_handle(change_id)
            try:
                running = (await handle.describe()).status == WorkflowExecutionStatus.RUNNING
            except RPCError:
                running = False  # never started
            if running:
                await handle.terminate("test over")


async def test_a_purpose_the_renewal_does_not_know_is_one_clear_error(
    dev_server_env: Client,
) -> None:
    acts = AutoRenewActivities(dev_server_env, f"tq-{uuid.uuid4()}", lambda: None)
    req = AutoRenewStartRequest(cluster="c", change_id="AUTO-c-20261130", purposes=["nonsense"])
    try:
        await ActivityEnvironment().run(acts.start_scheduled_renewal, req)
    except ApplicationError as err:
        assert err.non_retryable and err.type == "InvalidRequest"
        assert "cannot be started" in err.message and "purposes" in err.message
    else:
        raise AssertionError("started a renewal of an unknown purpose")


@workflow.defn(name="CertRenewalWorkflow")
class EndedRenewal:
    """Stands for a renewal that ended at once with the stop it is given (its type)."""

    @workflow.run
    async def run(self, stop: str) -> None:
        """Fail like a renewal that stopped with ``stop``."""
        raise ApplicationError(f"stopped: {stop}", type=stop, non_retryable=True)


async def _ended_run(client: Client, change_id: str, stop: str) -> None:
    """A closed run of ``change_id`` that failed with ``stop``."""
    task_queue = f"tq-{uuid.uuid4()}"
    async with Worker(client, task_queue=task_queue, workflows=[EndedRenewal]):
        handle = await client.start_workflow(
            "CertRenewalWorkflow", stop, id=change_id, task_queue=task_queue
        )
        with pytest.raises(WorkflowFailureError):
            await handle.result()


async def test_todays_change_refused_by_the_cluster_lock_is_started_again(
    dev_server_env: Client,
) -> None:
    """Today's automatic change was refused (``ClusterBusy``: another change held the
    cluster, e.g. under another inventory name). It wrote nothing: the next scan of the day
    starts it again instead of reporting it ``already-started`` until tomorrow."""
    client = dev_server_env
    cluster = f"scan-{uuid.uuid4().hex[:8]}"
    acts = AutoRenewActivities(client, f"tq-{uuid.uuid4()}", lambda: None)
    req = AutoRenewStartRequest(
        cluster=cluster, change_id=f"AUTO-{cluster}-20261130", purposes=["tomcat"]
    )
    await _ended_run(client, req.change_id, "ClusterBusy")
    try:
        outcome = await ActivityEnvironment().run(acts.start_scheduled_renewal, req)
        assert outcome.status == "started", outcome.detail
        assert "refused" in outcome.detail
        desc = await client.get_workflow_handle(req.change_id).describe()
        assert desc.status == WorkflowExecutionStatus.RUNNING
    finally:
        handle = client.get_workflow_handle(req.change_id)
        if (await handle.describe()).status == WorkflowExecutionStatus.RUNNING:
            await handle.terminate("test over")


async def test_todays_change_that_failed_otherwise_is_not_started_again(
    dev_server_env: Client,
) -> None:
    client = dev_server_env
    cluster = f"scan-{uuid.uuid4().hex[:8]}"
    acts = AutoRenewActivities(client, f"tq-{uuid.uuid4()}", lambda: None)
    req = AutoRenewStartRequest(
        cluster=cluster, change_id=f"AUTO-{cluster}-20261130", purposes=["tomcat"]
    )
    await _ended_run(client, req.change_id, "RestartFailed")
    outcome = await ActivityEnvironment().run(acts.start_scheduled_renewal, req)
    assert outcome.status == "already-started"
    desc = await client.get_workflow_handle(req.change_id).describe()
    assert desc.status == WorkflowExecutionStatus.FAILED


async def test_the_scans_renewal_shows_its_summary_details_and_why_in_the_temporal_ui(
    dev_server_env: Client,
) -> None:
    """An ``AUTO-`` renewal carries the static summary and details every renewal started by
    the CLI gets (``workflows.ui_metadata``), with the page link, and why the scan started
    it (the due purposes' drift kinds; on main the details did not say)."""
    client = dev_server_env
    cluster = f"scan-{uuid.uuid4().hex[:8]}"
    acts = AutoRenewActivities(client, f"tq-{uuid.uuid4()}", lambda: "https://ucrenew.example.net")
    req = AutoRenewStartRequest(
        cluster=cluster,
        change_id=f"AUTO-{cluster}-20261130",
        purposes=["tomcat"],
        reasons=["tomcat: renewal-due, node-not-in-san"],
    )
    try:
        outcome = await ActivityEnvironment().run(acts.start_scheduled_renewal, req)
        assert outcome.status == "started"
        desc = await client.get_workflow_handle(req.change_id).describe()
        assert await desc.static_summary() == f"{req.change_id} · {cluster} · tomcat"
        details = await desc.static_details() or ""
        assert f"**Requested by** {SCAN_REQUESTER}" in details
        assert f"https://ucrenew.example.net/renewals/{req.change_id}" in details
        assert details.endswith(
            "**Why** due at the fleet scan: tomcat: renewal-due, node-not-in-san"
        )
    finally:
        handle = client.get_workflow_handle(req.change_id)
        with contextlib.suppress(RPCError):
            if (await handle.describe()).status == WorkflowExecutionStatus.RUNNING:
                await handle.terminate("test over")
