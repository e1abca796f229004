"""Notifications of a renewal on the time-skipping server: which events go out, when, once.

The renewal runs against the stub cluster; the notification workflows it starts run on the
same worker with stub routing and delivery activities that record what they are given.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
import pytest_asyncio
from temporalio import activity
from temporalio.client import WorkflowExecutionStatus, WorkflowFailureError, WorkflowHandle
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer, Worker

from activities.clients.notify.models import (
    NOTIFICATION_KINDS,
    DeliveryRequest,
    DeliveryResult,
    NotificationEvent,
    NotificationPolicy,
    NotificationReport,
    NotificationRoutes,
    RoutesRequest,
)
from tests.time_skipping import time_skipping_server
from tests.workflows.stubs import GOOD_PEM, ROOT_PEM, STARTED_RENEWALS, StubCluster
from workers.converter import make_data_converter
from workflows.cluster_lock import ClusterLockWorkflow
from workflows.models import (
    ApprovalInput,
    CertificateSubmission,
    OperatorDecision,
    RenewalInput,
    RenewalStatus,
    SsoConfirmation,
)
from workflows.notifications import NotificationWorkflow
from workflows.renewal import CertRenewalWorkflow

Handle = WorkflowHandle[CertRenewalWorkflow, RenewalStatus]


@dataclass
class Channels:
    """Stub routing and delivery: every event goes to channel ``team``."""

    delivered: list[NotificationEvent] = field(default_factory=list)
    attempts: int = 0
    #: deliveries fail (retryably) while True: a receiver answering 500
    failing: bool = False
    #: how long a delivery is retried (the inventory's delivery_retry_for)
    retry_for: float = 600.0

    def activities(self) -> list[Any]:
        c = self

        @activity.defn(name="notification_routes")
        async def notification_routes(req: RoutesRequest) -> NotificationRoutes:
            return NotificationRoutes(channels=["team"], retry_for_seconds=c.retry_for)

        @activity.defn(name="deliver_notification")
        async def deliver_notification(req: DeliveryRequest) -> DeliveryResult:
            c.attempts += 1
            if c.failing:
                raise ApplicationError(
                    "channel team: the receiver answered HTTP 500", type="NotificationUndelivered"
                )
            c.delivered.append(req.event)
            return DeliveryResult(channel=req.channel, detail="HTTP 200")

        return [notification_routes, deliver_notification]


@pytest_asyncio.fixture(loop_scope="session")
async def stub() -> StubCluster:
    return StubCluster(notifications=NotificationPolicy(events=list(NOTIFICATION_KINDS)))


@pytest_asyncio.fixture(loop_scope="session")
async def channels() -> Channels:
    return Channels()


@pytest_asyncio.fixture(loop_scope="session")
async def notify_env() -> AsyncIterator[WorkflowEnvironment]:
    """A time-skipping server of this test's own.

    Sharing one server, a test here after the CA-threshold one found the Java test server no
    longer skipping time (its sleeps ran into RPC timeouts); a server per test keeps these
    tests, and the session's server the other workflow tests use, independent of that.
    """
    async with time_skipping_server() as env:
        yield env


@pytest_asyncio.fixture(loop_scope="session")
async def worker(
    notify_env: WorkflowEnvironment, stub: StubCluster, channels: Channels, task_queue: str
) -> AsyncIterator[Worker]:
    async with Worker(
        notify_env.client,
        task_queue=task_queue,
        workflows=[CertRenewalWorkflow, ClusterLockWorkflow, NotificationWorkflow],
        activities=[*stub.activities(), *channels.activities()],
    ) as w:
        yield w


async def start(env: WorkflowEnvironment, task_queue: str, **kw: object) -> Handle:
    inp = RenewalInput.model_validate(
        {
            "change_id": f"CHG-{uuid.uuid4().hex[:8]}",
            "cluster": "lab",
            "requested_by": "alice",
            **kw,
        }
    )
    handle = await env.client.start_workflow(
        CertRenewalWorkflow.run, inp, id=inp.change_id, task_queue=task_queue
    )
    STARTED_RENEWALS.append(handle)
    return handle


async def status_of(handle: Handle) -> RenewalStatus:
    return await handle.query(CertRenewalWorkflow.get_status)


async def until_awaiting(env: WorkflowEnvironment, handle: Handle, awaiting: str) -> None:
    for _ in range(400):
        if (await status_of(handle)).awaiting == awaiting:
            return
        await env.sleep(timedelta(seconds=1))
    raise AssertionError(f"never awaited {awaiting}")


async def confirm_sso(env: WorkflowEnvironment, handle: Handle, stub: StubCluster) -> None:
    await until_awaiting(env, handle, "sso-confirm")
    stub.sso_enabled = True
    await handle.execute_update(
        CertRenewalWorkflow.confirm_sso, SsoConfirmation(principal="carol", comment="ok")
    )


async def started(handle: Handle) -> list[str]:
    """The ids of the notification workflows the renewal started, in its order."""
    history = await handle.fetch_history()
    starts = [
        e.start_child_workflow_execution_initiated_event_attributes
        for e in history.events
        if e.HasField("start_child_workflow_execution_initiated_event_attributes")
    ]
    # The renewal's other child is its cluster lock (workflows/cluster_lock.py).
    return [a.workflow_id for a in starts if a.workflow_type.name == "NotificationWorkflow"]


async def sent(env: WorkflowEnvironment, handle: Handle) -> list[NotificationReport]:
    """The reports of the renewal's notification workflows, in start order, once each has
    ended (they outlive the renewal: polled until closed)."""
    out = []
    loop = asyncio.get_running_loop()
    for i in await started(handle):
        child = env.client.get_workflow_handle_for(NotificationWorkflow.run, i)
        deadline = loop.time() + 60
        while (await child.describe()).status == WorkflowExecutionStatus.RUNNING:
            assert loop.time() < deadline, f"notification {i} never ended"
            await asyncio.sleep(0.1)
        out.append(await child.result())
    return out


def kinds(reports: list[NotificationReport]) -> list[str]:
    return [r.kind for r in reports]


def event(channels: Channels, kind: str) -> NotificationEvent:
    (found,) = [e for e in channels.delivered if e.kind == kind]
    return found


async def test_ca_slower_than_the_threshold_is_told_once_by_a_timer(
    notify_env: WorkflowEnvironment,
    worker: Worker,
    stub: StubCluster,
    channels: Channels,
    task_queue: str,
) -> None:
    stub.sso_enabled = False
    stub.notifications = NotificationPolicy(
        events=list(NOTIFICATION_KINDS), ca_wait_threshold_seconds=86400
    )
    now = await notify_env.get_current_time()
    stub.ca_pending_until = now + timedelta(days=3)
    handle = await start(notify_env, task_queue, ca="adcs", options={"ca_poll_seconds": 3600})
    final = await handle.result()
    assert final.phase == "done"
    assert kinds(await sent(notify_env, handle)) == ["ca-wait", "done"]
    ca_wait = event(channels, "ca-wait")
    assert "1 d" in ca_wait.summary and "request 7" in ca_wait.summary
    assert "ca-check" in ca_wait.asked
    # Sent a day into the wait, from a timer: the history holds it, not a polling loop.
    history = await handle.fetch_history()
    fired = [e for e in history.events if e.HasField("timer_fired_event_attributes")]
    assert len(fired) == 1
    assert ca_wait.occurred_at - final.started_at >= timedelta(days=1)  # type: ignore[operator]


async def test_a_certificate_before_the_threshold_cancels_the_timer(
    notify_env: WorkflowEnvironment,
    worker: Worker,
    stub: StubCluster,
    channels: Channels,
    task_queue: str,
) -> None:
    stub.sso_enabled = False
    stub.notifications = NotificationPolicy(
        events=list(NOTIFICATION_KINDS), ca_wait_threshold_seconds=3 * 86400
    )
    now = await notify_env.get_current_time()
    stub.ca_pending_until = now + timedelta(hours=12)
    handle = await start(notify_env, task_queue, ca="adcs", options={"ca_poll_seconds": 3600})
    assert (await handle.result()).phase == "done"
    assert kinds(await sent(notify_env, handle)) == ["done"]
    history = await handle.fetch_history()
    assert any(e.HasField("timer_canceled_event_attributes") for e in history.events)


async def test_manual_ca_approval_question_and_done_each_once_with_deterministic_ids(
    notify_env: WorkflowEnvironment,
    worker: Worker,
    stub: StubCluster,
    channels: Channels,
    task_queue: str,
) -> None:
    stub.approvals = {"plan": {"approver_groups": ["voice-cab"], "required": 1}}
    stub.notifications = NotificationPolicy(
        events=list(NOTIFICATION_KINDS), ca_wait_threshold_seconds=12 * 3600
    )
    handle = await start(notify_env, task_queue, ca="manual")
    await until_awaiting(notify_env, handle, "approval")
    status = await status_of(handle)
    assert status.plan is not None
    await handle.execute_update(
        CertRenewalWorkflow.approve,
        ApprovalInput(principal="bob", groups=["voice-cab"], plan_hash=status.plan.plan_hash),
    )
    await until_awaiting(notify_env, handle, "ca")
    await notify_env.sleep(timedelta(hours=13))
    await handle.execute_update(
        CertRenewalWorkflow.submit_certificate,
        CertificateSubmission(principal="dave", certificate_pem=GOOD_PEM, chain_pem=ROOT_PEM),
    )
    await confirm_sso(notify_env, handle, stub)
    assert (await handle.result()).phase == "done"

    reports = await sent(notify_env, handle)
    assert kinds(reports) == ["approval-needed", "ca-wait", "question", "done"]
    assert all(r.delivered == ["team"] for r in reports)
    approval, ca_wait, question, done = (
        event(channels, k) for k in ("approval-needed", "ca-wait", "question", "done")
    )
    assert "voice-cab" in approval.asked and "not the requester alice" in approval.asked
    assert approval.details == [f"bound to plan hash {status.plan.plan_hash}"]
    assert "submit-cert" in ca_wait.asked
    assert "confirm-sso" in question.asked
    assert done.change_id == handle.id and done.cluster == "lab"
    # One notification workflow per occurrence, its id the delivery id.
    ids = [e.id for e in channels.delivered]
    assert len(set(ids)) == 4 and all(i.startswith(f"{handle.id}.notify.") for i in ids)
    assert sorted(ids) == sorted(await started(handle))

    # Replaying the renewal (a worker restart) issues the same starts: no duplicate.
    history = await handle.fetch_history()
    await Replayer(
        workflows=[CertRenewalWorkflow, ClusterLockWorkflow, NotificationWorkflow],
        data_converter=make_data_converter(),
    ).replay_workflow(history)
    starts = [
        e
        for e in history.events
        if e.HasField("start_child_workflow_execution_initiated_event_attributes")
        and e.start_child_workflow_execution_initiated_event_attributes.workflow_type.name
        == "NotificationWorkflow"
    ]
    assert len(starts) == 4


async def test_a_failing_channel_neither_delays_nor_fails_the_renewal(
    notify_env: WorkflowEnvironment,
    worker: Worker,
    stub: StubCluster,
    channels: Channels,
    task_queue: str,
) -> None:
    channels.failing = True
    channels.retry_for = 8.0
    stub.sso_enabled = False
    handle = await start(notify_env, task_queue, ca="local")
    final = await handle.result()
    assert final.phase == "done" and final.error is None
    # The "done" notification outlives the renewal, retries, and gives up on its own.
    (report,) = await sent(notify_env, handle)
    assert report.kind == "done"
    assert report.delivered == []
    assert "HTTP 500" in report.undelivered["team"]
    assert channels.attempts > 1


async def test_no_channel_subscribed_means_no_notification_workflow(
    notify_env: WorkflowEnvironment,
    worker: Worker,
    stub: StubCluster,
    channels: Channels,
    task_queue: str,
) -> None:
    stub.notifications = NotificationPolicy(events=["failed"])
    stub.sso_enabled = False
    handle = await start(notify_env, task_queue, ca="local")
    assert (await handle.result()).phase == "done"
    assert await started(handle) == []
    assert channels.delivered == []


async def test_a_stopped_change_that_left_sso_disabled_says_so_before_failing(
    notify_env: WorkflowEnvironment,
    worker: Worker,
    stub: StubCluster,
    channels: Channels,
    task_queue: str,
) -> None:
    stub.fail_restart_at = 1
    handle = await start(notify_env, task_queue, ca="local")
    # A restart that fails after its retries asks (node-step decisions): stop the change.
    await until_awaiting(notify_env, handle, "operator")
    await handle.execute_update(
        CertRenewalWorkflow.decide, OperatorDecision(principal="erin", decision="stop")
    )
    with pytest.raises(WorkflowFailureError):
        await handle.result()
    assert kinds(await sent(notify_env, handle)) == ["question", "sso-left-disabled", "failed"]
    failed = event(channels, "failed")
    assert failed.summary.startswith(f"{handle.id} on lab failed:")
    assert any("SSO" in d for d in failed.details)


@pytest.mark.parametrize("notice_hours", [0, 1])
async def test_the_window_opening_is_told_after_the_impact_approval(
    notify_env: WorkflowEnvironment,
    worker: Worker,
    stub: StubCluster,
    channels: Channels,
    task_queue: str,
    notice_hours: int,
) -> None:
    stub.sso_enabled = False
    stub.version = "12.5.1.14900-63"
    stub.notifications = NotificationPolicy(
        events=list(NOTIFICATION_KINDS), window_notice_seconds=notice_hours * 3600
    )
    opens = await notify_env.get_current_time() + timedelta(days=2)
    window = {"start": opens.isoformat(), "end": (opens + timedelta(hours=6)).isoformat()}
    handle = await start(notify_env, task_queue, purposes=["CallManager"], windows=[window])
    await until_awaiting(notify_env, handle, "approval")
    plan = (await status_of(handle)).plan
    assert plan is not None
    await handle.execute_update(
        CertRenewalWorkflow.approve, ApprovalInput(principal="bob", plan_hash=plan.plan_hash)
    )
    final = await handle.result()
    assert final.phase == "done"
    assert kinds(await sent(notify_env, handle)) == ["approval-needed", "window-opening", "done"]
    opened = event(channels, "window-opening")
    if notice_hours:
        # Told an hour ahead, while the change still waits for the window.
        ahead = opens - opened.occurred_at
        assert timedelta(minutes=59) <= ahead <= timedelta(hours=1)
        assert opened.phase == "window" and "opens" in opened.summary
    else:
        assert opened.occurred_at >= opens
        assert opened.phase in ("ctl-update", "restarts")
    assert "impact" in event(channels, "approval-needed").summary


async def test_a_change_that_stops_before_reading_its_policy_is_still_told(
    notify_env: WorkflowEnvironment,
    worker: Worker,
    stub: StubCluster,
    channels: Channels,
    task_queue: str,
) -> None:
    stub.discover_fails = True
    handle = await start(notify_env, task_queue)
    with pytest.raises(WorkflowFailureError):
        await handle.result()
    assert kinds(await sent(notify_env, handle)) == ["failed"]
    assert "connection refused" in event(channels, "failed").summary
    assert stub.names() == ["discover_cluster", "assess_cluster", "load_change_policy"]
