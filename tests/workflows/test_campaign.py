"""CampaignWorkflow on the time-skipping server: the concurrency limit (read from the
history's child starts and ends), the stop rule, pause/resume/abort, a cluster busy with
another renewal, and continue-as-new. Child renewals are a stub registered under the
renewal's workflow type, each ended by the test through a signal."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
import pytest_asyncio
from temporalio import activity, workflow
from temporalio.api.enums.v1 import EventType
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowUpdateFailedError,
)
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.clients.notify.models import (
    DeliveryRequest,
    DeliveryResult,
    NotificationEvent,
    NotificationRoutes,
    RoutesRequest,
)
from activities.cluster_models import OtherRenewalsRequest, OtherRenewalsResult
from activities.fleet_models import FleetInventory, FleetInventoryRequest, FleetTarget
from workflows.campaign import CampaignWorkflow
from workflows.campaign_models import CampaignAction, CampaignInput, CampaignStatus
from workflows.models import RenewalInput, RenewalStatus
from workflows.notifications import NotificationWorkflow

Handle = WorkflowHandle[CampaignWorkflow, CampaignStatus]


@workflow.defn(name="CertRenewalWorkflow")
class StubRenewal:
    """Stands for a renewal: runs until the test signals how it ends."""

    def __init__(self) -> None:
        self._outcome = ""

    @workflow.run
    async def run(self, inp: RenewalInput) -> RenewalStatus:
        """Wait for the outcome; ``fail`` fails like a renewal that stopped, ``busy`` like one
        its cluster's lock refused (another change holds the cluster)."""
        await workflow.wait_condition(lambda: bool(self._outcome))
        if self._outcome == "busy":
            raise ApplicationError(
                f"change CHG-OTHER is running on cluster {inp.cluster}-by-address",
                type="ClusterBusy",
                non_retryable=True,
            )
        if self._outcome == "fail":
            raise ApplicationError(
                f"Cisco Tomcat did not start on {inp.cluster}-pub",
                type="RestartFailed",
                non_retryable=True,
            )
        return RenewalStatus(
            change_id=inp.change_id,
            cluster=inp.cluster,
            purposes=inp.purposes,
            ca=inp.ca,
            requested_by=inp.requested_by,
            phase="done",
        )

    @workflow.signal
    def finish(self, outcome: str) -> None:
        """End the stub renewal: ``done``, ``fail`` or ``busy``."""
        self._outcome = outcome


@dataclass
class Fleet:
    """The stub inventory and registry of the campaign's activities."""

    targets: list[FleetTarget] = field(default_factory=list)
    busy: dict[str, str] = field(default_factory=dict)
    checked: list[str] = field(default_factory=list)
    routed: list[RoutesRequest] = field(default_factory=list)
    delivered: list[NotificationEvent] = field(default_factory=list)

    def activities(self) -> list[object]:
        @activity.defn(name="fleet_inventory")
        async def fleet_inventory(req: FleetInventoryRequest) -> FleetInventory:
            return FleetInventory(targets=self.targets)

        @activity.defn(name="find_other_renewals")
        async def find_other_renewals(req: OtherRenewalsRequest) -> OtherRenewalsResult:
            self.checked.append(req.cluster)
            other = self.busy.get(req.cluster)
            return OtherRenewalsResult(change_ids=[other] if other else [])

        @activity.defn(name="notification_routes")
        async def notification_routes(req: RoutesRequest) -> NotificationRoutes:
            self.routed.append(req)
            return NotificationRoutes(channels=["voice-team"], retry_for_seconds=60)

        @activity.defn(name="deliver_notification")
        async def deliver_notification(req: DeliveryRequest) -> DeliveryResult:
            self.delivered.append(req.event)
            return DeliveryResult(channel=req.channel, detail="HTTP 200")

        return [fleet_inventory, find_other_renewals, notification_routes, deliver_notification]


def fleet_of(n: int) -> Fleet:
    return Fleet(
        targets=[
            FleetTarget(
                cluster=f"c{i}",
                version="14.0.1.13900-155" if i % 2 else "12.5.1.16900-48",
                tags=["emea"] if i < n - 1 else ["amer"],
            )
            for i in range(n)
        ]
    )


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def time_skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    """This module's own time-skipping server: an abandoned child renewal left by an aborted
    campaign stops the test server's clock for the tests that come after it."""
    # Imported here: the sandbox re-imports this module (its stub renewal), and the server's
    # helpers bring in cryptography, which cannot be imported twice.
    from tests.time_skipping import time_skipping_server

    async with time_skipping_server() as env:
        yield env


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def clock_env() -> AsyncIterator[WorkflowEnvironment]:
    """A second server of this module, for the tests that skip time (``env.sleep``): no
    campaign on it is aborted, so its clock never stops."""
    from tests.time_skipping import time_skipping_server

    async with time_skipping_server() as env:
        yield env


@pytest_asyncio.fixture(loop_scope="session")
async def clock_worker(
    clock_env: WorkflowEnvironment, fleet: Fleet, task_queue: str
) -> AsyncIterator[Worker]:
    async with Worker(
        clock_env.client,
        task_queue=task_queue,
        workflows=[CampaignWorkflow, StubRenewal, NotificationWorkflow],
        activities=fleet.activities(),
    ) as w:
        try:
            yield w
        finally:
            await _end_everything(clock_env.client, fleet)


@pytest_asyncio.fixture(loop_scope="session")
async def fleet() -> Fleet:
    return fleet_of(5)


@pytest_asyncio.fixture(loop_scope="session")
async def worker(
    time_skipping_env: WorkflowEnvironment, fleet: Fleet, task_queue: str
) -> AsyncIterator[Worker]:
    async with Worker(
        time_skipping_env.client,
        task_queue=task_queue,
        workflows=[CampaignWorkflow, StubRenewal, NotificationWorkflow],
        activities=fleet.activities(),
    ) as w:
        try:
            yield w
        finally:
            await _end_everything(time_skipping_env.client, fleet)


#: Campaigns the tests started: the time-skipping server is shared by the whole session, and
#: a campaign or stub renewal left running with a task its worker never takes stops the
#: server's clock for every later test.
_STARTED: list[str] = []


async def _end_everything(client: Client, fleet: Fleet) -> None:
    ids = [i for c in _STARTED for i in (c, *(f"{c}-{t.cluster}" for t in fleet.targets))]
    initiated = EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED
    for campaign_id in _STARTED:  # its notifications too
        with contextlib.suppress(Exception):
            async for e in client.get_workflow_handle(campaign_id).fetch_history_events():
                if e.event_type == initiated:
                    attrs = e.start_child_workflow_execution_initiated_event_attributes
                    ids.append(attrs.workflow_id)
    _STARTED.clear()
    for wf_id in ids:
        with contextlib.suppress(Exception):
            await client.get_workflow_handle(wf_id).terminate("test over")


async def start(client: Client, task_queue: str, **kw: object) -> Handle:
    inp = CampaignInput.model_validate(
        {
            "campaign_id": f"CMP-{uuid.uuid4().hex[:8]}",
            "purposes": ["tomcat"],
            "selection": {"tags": ["emea", "amer"]},
            "requested_by": "alice",
            **kw,
        }
    )
    _STARTED.append(inp.campaign_id)
    return await client.start_workflow(
        CampaignWorkflow.run, inp, id=inp.campaign_id, task_queue=task_queue
    )


async def status_of(handle: Handle) -> CampaignStatus:
    """The campaign's status query. The time-skipping test server does not continue a run
    as new atomically (temporalio/sdk-java#1537), so a query that reaches the run in that
    moment is never answered: it is asked again rather than failing the test."""
    for attempt in range(3):
        try:
            return await handle.query(
                CampaignWorkflow.get_status, rpc_timeout=timedelta(seconds=10)
            )
        except RPCError as err:
            # The client's own deadline surfaces as CANCELLED "Timeout expired".
            timed_out = err.status in (RPCStatusCode.CANCELLED, RPCStatusCode.DEADLINE_EXCEEDED)
            if not timed_out or attempt == 2:
                raise
    raise AssertionError("unreachable")


async def status_when(handle: Handle, check: object, timeout: float = 20.0) -> CampaignStatus:
    """Poll the status query until ``check(status)`` holds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        status = await status_of(handle)
        if check(status):  # type: ignore[operator]
            return status
        if loop.time() > deadline:
            raise AssertionError(f"never reached: {status.model_dump_json(indent=1)}")
        await asyncio.sleep(0.05)


def started(status: CampaignStatus) -> list[str]:
    """Clusters whose child renewal has started and not ended."""
    return [c.cluster for c in status.clusters if c.state == "running" and c.run_id]


async def finish(client: Client, status: CampaignStatus, cluster: str, outcome: str) -> None:
    change_id = next(c.change_id for c in status.clusters if c.cluster == cluster)
    await client.get_workflow_handle(change_id).signal("finish", outcome)


def _renewal(event: object) -> bool:
    """Whether a child event is of a renewal (the campaign's notifications are children too)."""
    for name in (
        "start_child_workflow_execution_initiated_event_attributes",
        "child_workflow_execution_started_event_attributes",
        "child_workflow_execution_completed_event_attributes",
        "child_workflow_execution_failed_event_attributes",
        "child_workflow_execution_canceled_event_attributes",
        "child_workflow_execution_terminated_event_attributes",
    ):
        if event.HasField(name):  # type: ignore[attr-defined]
            return bool(getattr(event, name).workflow_type.name == "CertRenewalWorkflow")
    return False


async def max_in_flight(handle: Handle) -> int:
    """The most child renewals running at once, from the campaign's history."""
    running = peak = 0
    async for event in handle.fetch_history_events():
        if not _renewal(event):
            continue
        if event.event_type == EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_STARTED:
            running += 1
            peak = max(peak, running)
        elif event.event_type in (
            EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_COMPLETED,
            EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_FAILED,
            EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_CANCELED,
            EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_TERMINATED,
        ):
            running -= 1
    return peak


async def child_starts(handle: Handle) -> int:
    """Child renewals the campaign's run started (its notifications left out)."""
    initiated = EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED
    return len(
        [
            e
            async for e in handle.fetch_history_events()
            if e.event_type == initiated and _renewal(e)
        ]
    )


async def ended(handle: Handle) -> CampaignStatus:
    """The campaign's final status, once it has closed (in real time, without skipping)."""
    while (await handle.describe()).status == WorkflowExecutionStatus.RUNNING:
        await asyncio.sleep(0.05)
    assert (await handle.describe()).status == WorkflowExecutionStatus.COMPLETED
    return await status_of(handle)


async def run_to_end(
    client: Client, handle: Handle, already: tuple[str, ...] = ()
) -> CampaignStatus:
    """End every renewal the campaign starts (but those ``already`` ended), as it starts
    them, until the campaign (its latest run) ends."""
    latest: Handle = client.get_workflow_handle_for(CampaignWorkflow.run, handle.id)
    # By run: a busy cluster's renewal is started again under the same change id.
    first = await status_of(latest)
    ended_runs = {c.run_id for c in first.clusters if c.cluster in already and c.run_id}
    while (await latest.describe()).status == WorkflowExecutionStatus.RUNNING:
        status = await status_of(latest)
        for c in status.clusters:
            if c.state == "running" and c.run_id and c.run_id not in ended_runs:
                ended_runs.add(c.run_id)
                await client.get_workflow_handle(c.change_id).signal("finish", "done")
        await asyncio.sleep(0.05)
    assert (await latest.describe()).status == WorkflowExecutionStatus.COMPLETED
    return await status_of(latest)


async def test_never_more_renewals_at_once_than_the_limit(
    time_skipping_env: WorkflowEnvironment, worker: Worker, task_queue: str
) -> None:
    client = time_skipping_env.client
    handle = await start(client, task_queue, limit=2)
    status = await status_when(handle, lambda s: len(started(s)) == 2)
    assert status.counts.pending == 3 and status.counts.running == 2
    with pytest.raises(WorkflowUpdateFailedError):  # not paused
        await handle.execute_update(
            CampaignWorkflow.resume, CampaignAction(principal="bob", reason="go")
        )
    # Ending one renewal makes room for exactly one more.
    await finish(client, status, started(status)[0], "done")
    status = await status_when(handle, lambda s: s.counts.done == 1 and len(started(s)) == 2)
    assert status.counts.pending == 2
    result = await run_to_end(client, handle)
    assert result.phase == "done"
    assert (result.counts.done, result.counts.total) == (5, 5)
    assert [c.change_id for c in result.clusters] == [
        f"{result.campaign_id}-c{i}" for i in range(5)
    ]
    assert await max_in_flight(handle) == 2
    assert await child_starts(handle) == 5


async def test_stop_rule_pauses_then_resume_goes_on(
    time_skipping_env: WorkflowEnvironment, worker: Worker, task_queue: str
) -> None:
    client = time_skipping_env.client
    handle = await start(client, task_queue, limit=1, stop_after_failures=1)
    status = await status_when(handle, lambda s: len(started(s)) == 1)
    await finish(client, status, "c0", "fail")
    status = await status_when(handle, lambda s: s.phase == "paused")
    assert "1 renewal(s) failed" in status.paused_reason
    assert "Cisco Tomcat did not start on c0-pub" in status.paused_reason
    [failed] = status.failures
    assert (failed.cluster, failed.error_type) == ("c0", "RestartFailed")
    assert status.counts.pending == 4 and status.counts.running == 0
    await asyncio.sleep(0.3)  # paused: nothing more starts
    assert await child_starts(handle) == 1

    with pytest.raises(WorkflowUpdateFailedError):
        await handle.execute_update(
            CampaignWorkflow.pause, CampaignAction(principal="bob", reason="again")
        )
    resumed = await handle.execute_update(
        CampaignWorkflow.resume, CampaignAction(principal="bob", reason="c0 fixed by hand")
    )
    assert resumed.phase == "running" and resumed.paused_reason == ""
    result = await run_to_end(client, handle)
    assert result.phase == "done"
    assert (result.counts.done, result.counts.failed) == (4, 1)
    actions = [(e.principal, e.action, e.reason) for e in result.audit]
    assert actions[0][:2] == ("alice", "started")
    assert actions[1][:2] == ("campaign", "paused")
    assert actions[2][:2] == ("campaign", "notified")
    assert actions[3] == ("bob", "resumed", "c0 fixed by hand")


async def test_a_stop_rule_pause_is_notified_and_audited(
    time_skipping_env: WorkflowEnvironment, worker: Worker, fleet: Fleet, task_queue: str
) -> None:
    """The stop rule's pause sends ``campaign-paused`` through the notifications of the
    cluster whose failure paused it (on main it sent nothing); an operator's pause does not."""
    client = time_skipping_env.client
    handle = await start(client, task_queue, limit=1, stop_after_failures=1)
    status = await status_when(handle, lambda s: len(started(s)) == 1)
    await finish(client, status, "c0", "fail")
    status = await status_when(handle, lambda s: s.audit[-1].action == "notified")
    event_id = f"{handle.id}.notify."
    assert status.phase == "paused"
    assert status.audit[-1].principal == "campaign"
    assert "campaign-paused sent to the channels of c0" in status.audit[-1].reason
    assert event_id in status.audit[-1].reason
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 20
    while not fleet.delivered and loop.time() < deadline:
        await asyncio.sleep(0.05)
    [event] = fleet.delivered
    assert (event.kind, event.cluster, event.change_id) == ("campaign-paused", "c0", handle.id)
    assert event.id.startswith(event_id) and event.id in status.audit[-1].reason
    assert "Cisco Tomcat did not start on c0-pub" in event.summary
    assert f"ucrenew campaign resume {handle.id}" in event.asked
    assert [(r.cluster, r.kind) for r in fleet.routed] == [("c0", "campaign-paused")]
    await handle.execute_update(
        CampaignWorkflow.resume, CampaignAction(principal="bob", reason="fixed")
    )
    await handle.execute_update(
        CampaignWorkflow.pause, CampaignAction(principal="bob", reason="freeze")
    )
    await asyncio.sleep(0.3)
    assert len(fleet.delivered) == 1 and len(fleet.routed) == 1


async def test_pause_then_abort_leaves_running_renewals_running(
    time_skipping_env: WorkflowEnvironment, worker: Worker, task_queue: str
) -> None:
    client = time_skipping_env.client
    handle = await start(client, task_queue, limit=2)
    status = await status_when(handle, lambda s: len(started(s)) == 2)
    paused = await handle.execute_update(
        CampaignWorkflow.pause, CampaignAction(principal="bob", reason="change freeze")
    )
    assert paused.phase == "paused" and paused.paused_reason == "paused by bob: change freeze"
    await finish(client, status, "c0", "done")
    status = await status_when(handle, lambda s: s.counts.done == 1)
    await asyncio.sleep(0.3)
    assert await child_starts(handle) == 2  # paused: c2 never started

    await handle.execute_update(
        CampaignWorkflow.abort, CampaignAction(principal="bob", reason="freeze extended")
    )
    # Not handle.result(): the time-skipping server would skip the abandoned renewal to its
    # timeout while waiting for it.
    result = await ended(handle)
    assert result.phase == "aborted" and result.abort_reason == "bob: freeze extended"
    by_name = {c.cluster: c for c in result.clusters}
    assert by_name["c1"].state == "running"
    assert "left running by the campaign's abort" in by_name["c1"].error
    assert {by_name[n].state for n in ("c2", "c3", "c4")} == {"skipped"}
    assert "campaign aborted" in by_name["c2"].error
    child = client.get_workflow_handle(by_name["c1"].change_id)
    try:
        assert (await child.describe()).status == WorkflowExecutionStatus.RUNNING
    finally:
        await child.signal("finish", "done")


async def test_abort_cancel_running_cancels_the_renewals(
    time_skipping_env: WorkflowEnvironment, worker: Worker, task_queue: str
) -> None:
    client = time_skipping_env.client
    handle = await start(client, task_queue, limit=3)
    status = await status_when(handle, lambda s: len(started(s)) == 3)
    await handle.execute_update(
        CampaignWorkflow.abort,
        CampaignAction(principal="bob", reason="wrong CA", cancel_running=True),
    )
    result = await handle.result()
    assert result.phase == "aborted"
    cancelled = [c for c in result.clusters if c.error_type == "Cancelled"]
    assert [c.cluster for c in cancelled] == ["c0", "c1", "c2"]
    assert all(c.state == "failed" and "wrong CA" in c.error for c in cancelled)
    for c in status.clusters[:3]:
        desc = await client.get_workflow_handle(c.change_id).describe()
        assert desc.status == WorkflowExecutionStatus.CANCELED
    assert result.audit[-1].action == "aborted (cancelling running renewals)"


async def test_a_busy_cluster_is_waited_for_then_renewed(
    clock_env: WorkflowEnvironment, clock_worker: Worker, fleet: Fleet, task_queue: str
) -> None:
    """c1 has another renewal running: the campaign renews the others, waits, looks again
    after ``busy_retry_seconds`` and renews c1 once that change has ended (on main it was
    skipped at once)."""
    fleet.busy["c1"] = "CHG0031337"
    client = clock_env.client
    handle = await start(client, task_queue, limit=5, busy_retry_seconds=600)
    status = await status_when(handle, lambda s: len(started(s)) == 4)
    for c in started(status):
        await finish(client, status, c, "done")
    status = await status_when(handle, lambda s: s.counts.done == 4)
    c1 = next(c for c in status.clusters if c.cluster == "c1")
    assert (c1.state, c1.busy_tries) == ("pending", 1)
    assert "CHG0031337 is running on c1; the campaign tries again at" in c1.waiting
    assert (status.counts.busy, status.counts.pending, status.phase) == (1, 1, "running")
    del fleet.busy["c1"]
    await clock_env.sleep(601)
    status = await status_when(handle, lambda s: started(s) == ["c1"])
    await finish(client, status, "c1", "done")
    result = await ended(handle)
    assert (result.counts.done, result.counts.skipped) == (5, 0)
    assert fleet.checked.count("c1") == 2
    assert await child_starts(handle) == 5


async def test_a_cluster_still_busy_at_the_campaigns_end_is_skipped_naming_the_change(
    clock_env: WorkflowEnvironment, clock_worker: Worker, fleet: Fleet, task_queue: str
) -> None:
    fleet.busy["c1"] = "CHG0031337"
    client = clock_env.client
    handle = await start(
        client, task_queue, limit=5, busy_retry_seconds=600, busy_wait_seconds=1500
    )
    status = await status_when(handle, lambda s: len(started(s)) == 4)
    for c in started(status):
        await finish(client, status, c, "done")
    for _ in range(3):  # tried at 0, 600 and 1200 s; a retry at 1800 s is past the end
        await clock_env.sleep(601)
    result = await ended(handle)
    by_name = {c.cluster: c for c in result.clusters}
    assert by_name["c1"].state == "skipped"
    assert "CHG0031337 is running on c1: still busy at the campaign's end" in by_name["c1"].error
    assert by_name["c1"].busy_tries == 3 and by_name["c1"].waiting == ""
    assert result.counts.done == 4 and result.counts.skipped == 1
    assert fleet.checked.count("c1") == 3
    assert await child_starts(handle) == 4


async def test_busy_wait_zero_skips_a_busy_cluster_at_once(
    time_skipping_env: WorkflowEnvironment, worker: Worker, fleet: Fleet, task_queue: str
) -> None:
    fleet.busy["c1"] = "CHG0031337"
    client = time_skipping_env.client
    handle = await start(client, task_queue, limit=5, busy_wait_seconds=0)
    result = await run_to_end(client, handle)
    by_name = {c.cluster: c for c in result.clusters}
    assert by_name["c1"].state == "skipped"
    assert "CHG0031337 is running on c1" in by_name["c1"].error
    assert result.counts.done == 4 and result.counts.skipped == 1
    assert await child_starts(handle) == 4
    assert sorted(fleet.checked) == [f"c{i}" for i in range(5)]


async def test_a_renewal_refused_by_its_cluster_lock_is_waited_for_not_failed(
    clock_env: WorkflowEnvironment, clock_worker: Worker, task_queue: str
) -> None:
    """Another change holds c0 under another inventory name: visibility (by name) saw
    nothing, the renewal's lock refused it. That is busy, not a failure: the stop rule does
    not pause the campaign, which goes on with c1 in the slot and starts c0's renewal again
    (same change id, a new run) once its retry time has come and the slot is free."""
    client = clock_env.client
    handle = await start(client, task_queue, limit=1, stop_after_failures=1, busy_retry_seconds=60)
    status = await status_when(handle, lambda s: len(started(s)) == 1)
    refused_run = status.clusters[0].run_id
    await finish(client, status, "c0", "busy")
    status = await status_when(handle, lambda s: started(s) == ["c1"])
    assert status.phase != "paused", status.paused_reason
    c0 = status.clusters[0]
    assert c0.state == "pending" and "CHG-OTHER is running on cluster c0-by-address" in c0.waiting
    await clock_env.sleep(61)
    result = await run_to_end(client, handle)
    by_name = {c.cluster: c for c in result.clusters}
    assert by_name["c0"].state == "done" and by_name["c0"].run_id != refused_run
    assert (result.counts.done, result.counts.failed, result.counts.skipped) == (5, 0, 0)
    assert result.failures == []
    assert "paused" not in [e.action for e in result.audit]
    assert await child_starts(handle) == 6


async def test_selection_by_tag_release_and_unknown_names(
    time_skipping_env: WorkflowEnvironment, worker: Worker, task_queue: str
) -> None:
    client = time_skipping_env.client
    handle = await start(
        client, task_queue, selection={"tags": ["emea"], "releases": ["14"]}, limit=5
    )
    result = await run_to_end(client, handle)
    assert [c.cluster for c in result.clusters] == ["c1", "c3"]
    handle = await start(client, task_queue, selection={"names": ["c4", "mars"]})
    result = await run_to_end(client, handle)
    assert [c.cluster for c in result.clusters] == ["c4"]
    assert result.not_found == ["mars"]
    assert "not in the inventory: mars" in result.audit[0].reason


async def test_long_campaign_continues_as_new_with_its_state(
    time_skipping_env: WorkflowEnvironment, worker: Worker, task_queue: str
) -> None:
    client = time_skipping_env.client
    handle = await start(client, task_queue, limit=2, children_per_run=2, stop_after_failures=0)
    status = await status_when(handle, lambda s: len(started(s)) == 2)
    await finish(client, status, "c0", "fail")
    await finish(client, status, "c1", "done")
    result = await run_to_end(client, handle, already=("c0", "c1"))
    assert result.runs == 3
    assert result.counts.done == 4 and result.counts.failed == 1
    assert result.failures[0].cluster == "c0"
    first = client.get_workflow_handle(handle.id, run_id=handle.result_run_id)
    assert await child_starts(first) == 2  # type: ignore[arg-type]


async def test_unreadable_inventory_fails_the_campaign_with_the_reason(
    time_skipping_env: WorkflowEnvironment, fleet: Fleet, task_queue: str
) -> None:
    @activity.defn(name="fleet_inventory")
    async def fleet_inventory(req: FleetInventoryRequest) -> FleetInventory:
        raise ApplicationError(
            "clusters.yaml line 3: clusters[0].publisher is required",
            type="InventoryError",
            non_retryable=True,
        )

    client = time_skipping_env.client
    async with Worker(
        client,
        task_queue=task_queue,
        workflows=[CampaignWorkflow, StubRenewal, NotificationWorkflow],
        activities=[fleet_inventory, *fleet.activities()[1:]],
    ):
        handle = await start(client, task_queue)
        with pytest.raises(WorkflowFailureError) as failed:
            await handle.result()
    cause = failed.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == "InventoryError"
    assert "the inventory could not be read: clusters.yaml line 3" in cause.message
    assert await child_starts(handle) == 0


async def test_campaign_renewals_carry_a_renewals_static_summary_and_details(
    time_skipping_env: WorkflowEnvironment, worker: Worker, task_queue: str
) -> None:
    """Each child renewal shows in the Temporal UI what `ucrenew start` gives a renewal
    (``workflows.ui_metadata``: change, cluster, purposes; requester, CA, gates and the
    renewal page), and names its campaign. On main it had a campaign line and no details."""
    client = time_skipping_env.client
    handle = await start(
        client, task_queue, limit=1, base_url="https://ucrenew.example.net", ca="manual"
    )
    status = await status_when(handle, lambda s: len(started(s)) == 1)
    c0 = status.clusters[0]
    desc = await client.get_workflow_handle(c0.change_id).describe()
    summary = await desc.static_summary()
    details = await desc.static_details() or ""
    assert summary == f"{c0.change_id} · c0 · tomcat · campaign {handle.id}"
    assert f"**Change** {c0.change_id} on cluster c0" in details
    assert "**Requested by** alice" in details and "**CA** manual" in details
    assert f"https://ucrenew.example.net/renewals/{c0.change_id}" in details
    assert details.endswith(f"**Campaign** {handle.id}")
