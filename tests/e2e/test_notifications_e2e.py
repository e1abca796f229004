"""Notifications of a renewal on the real stack: the dev server, the lab, a real worker, and
local receivers (an HTTP webhook receiver and an SMTP server on 127.0.0.1).

A receiver answering 500 and a channel nobody listens on sit beside the good ones: the
change completes while their notifications are still being retried.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import os
import signal
import sys
from asyncio.subprocess import PIPE
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import yaml
from temporalio.client import WorkflowExecutionStatus
from temporalio.service import RPCError

from tests.clients.notify_receivers import SmtpReceiver, WebhookReceiver
from tests.e2e.conftest import Stack
from workers.devserver import free_loopback_port
from workers.wiring import build_worker
from workflows.models import ApprovalInput
from workflows.notifications import NotificationWorkflow
from workflows.renewal import CertRenewalWorkflow

pytestmark = pytest.mark.e2e

BASE_URL = "http://127.0.0.1:8080/ucrenew"


@pytest_asyncio.fixture(loop_scope="session")
async def receivers() -> AsyncIterator[tuple[WebhookReceiver, WebhookReceiver]]:
    async with WebhookReceiver() as good, WebhookReceiver(status=500) as failing:
        yield good, failing


def configure(
    stack: Stack,
    good: WebhookReceiver,
    failing: WebhookReceiver,
    smtp_port: int,
    retry_for: str = "10m",
) -> None:
    """Add a notifications block to the lab's inventory."""
    path = stack.settings.inventory_path
    inventory = yaml.safe_load(path.read_text())
    inventory["notifications"] = {
        "ca_wait_threshold": "3d",
        "delivery_retry_for": retry_for,
        "channels": [
            {
                "name": "board",
                "kind": "webhook",
                "url": good.url(),
                "secret": "env:UCRENEW_E2E_HMAC",
            },
            {
                "name": "oncall",
                "kind": "email",
                "host": "127.0.0.1",
                "port": smtp_port,
                "security": "none",
                "sender": "ucrenew@lab.example.com",
                "recipients": ["voice@lab.example.com"],
                "events": ["approval-needed", "done"],
            },
            {"name": "broken", "kind": "slack", "url": "env:UCRENEW_E2E_BROKEN_URL"},
            {"name": "gone", "kind": "teams", "url": "env:UCRENEW_E2E_GONE_URL"},
        ],
    }
    path.write_text(yaml.safe_dump(inventory))


async def arrived(rx: WebhookReceiver, event: str, timeout: float = 60.0) -> dict[str, Any]:
    """The body of the first request for ``event`` (waits for it)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        for req in rx.requests:
            body = req.json()
            if body.get("event") == event:
                return dict(body)
        assert loop.time() < deadline, f"no {event} notification arrived"
        rx.arrived.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(rx.arrived.wait(), max(0.1, deadline - loop.time()))


async def test_approval_and_done_arrive_with_the_link_and_a_failing_channel_does_not_hold_it(
    stack: Stack,
    receivers: tuple[WebhookReceiver, WebhookReceiver],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    good, failing = receivers
    monkeypatch.setenv("UCRENEW_E2E_HMAC", "e2e-hook-key")
    monkeypatch.setenv("UCRENEW_E2E_BROKEN_URL", failing.url("/T000/B000/secretpart"))
    monkeypatch.setenv("UCRENEW_E2E_GONE_URL", f"http://127.0.0.1:{free_loopback_port()}/gone")
    settings = stack.settings.model_copy(update={"service_base_url": BASE_URL})
    started: list[str] = []
    with SmtpReceiver() as smtp:
        configure(stack, good, failing, smtp.port)
        handle = None
        try:
            async with build_worker(stack.client, settings, stack.task_queue):
                handle = await stack.start(require_plan_approval=True)
                status = await stack.wait_for(handle, "approval")
                # Told while the change waits, before anyone approved.
                approval = await arrived(good, "approval-needed")
                assert status.plan is not None
                await handle.execute_update(
                    CertRenewalWorkflow.approve,
                    ApprovalInput(principal="cab-member", plan_hash=status.plan.plan_hash),
                )
                await stack.reenable_sso(handle)
                final = await handle.result()
                done = await arrived(good, "done")

                history = await handle.fetch_history()
                started = [
                    e.start_child_workflow_execution_initiated_event_attributes.workflow_id
                    for e in history.events
                    if e.HasField("start_child_workflow_execution_initiated_event_attributes")
                ]
                done_child = stack.client.get_workflow_handle_for(
                    NotificationWorkflow.run, done["id"]
                )
                # The change is over; its notification to the broken channels still retries.
                still = await done_child.describe()
                child_history = await done_child.fetch_history()
        finally:
            for workflow_id in [*started, *([handle.id] if handle else [])]:
                # A workflow that already ended refuses to be terminated.
                with contextlib.suppress(RPCError):
                    await stack.client.get_workflow_handle(workflow_id).terminate("test over")

    assert final.phase == "done" and final.error is None
    assert still.status == WorkflowExecutionStatus.RUNNING
    assert len(failing.requests) >= 1
    notifications = [i for i in started if ".notify." in i]
    # The change's one other child is its cluster lock (workflows/cluster_lock.py).
    locks = [i for i in started if i.startswith("cluster-lock/")]
    assert len(locks) == 1 and len(started) == len(notifications) + 1
    assert notifications == [
        approval["id"],
        *[i for i in started if i.endswith(".question")],
        done["id"],
    ]

    link = f"{BASE_URL}/renewals/{handle.id}"
    for body in (approval, done):
        assert body["url"] == link
        assert body["cluster"] == stack.lab.cluster_entry.name
        assert body["change_id"] == handle.id
    assert "not the requester e2e" in approval["asked"]
    request = next(r for r in good.requests if r.json()["event"] == "done")
    for r in good.requests:
        body = r.json()
        delay = r.received_at - datetime.fromisoformat(body["occurred_at"])
        print(f"\n{body['event']}: received {delay.total_seconds():.2f} s after it happened")
    mac = hmac.new(
        b"e2e-hook-key",
        request.headers["x-ucrenew-timestamp"].encode() + b"." + request.body,
        hashlib.sha256,
    ).hexdigest()
    assert request.headers["x-ucrenew-signature"] == f"sha256={mac}"

    subjects = [mail["Subject"] for _, mail in smtp.messages]
    assert subjects == [
        f"[ucrenew] {stack.lab.cluster_entry.name} {handle.id}: approval needed",
        f"[ucrenew] {stack.lab.cluster_entry.name} {handle.id}: renewal done",
    ]
    assert all(link in mail.get_payload() for _, mail in smtp.messages)
    # The broken channels' secrets never reach history: the child's input has no URL.
    for events in (history.events, child_history.events):
        raw = b"".join(e.SerializeToString() for e in events)
        assert b"secretpart" not in raw and b"e2e-hook-key" not in raw


UCRENEW = str(Path(sys.executable).parent / "ucrenew")


async def run_cli(stack: Stack, address: str, *args: str) -> tuple[int, str, str]:
    """``ucrenew`` in its own process (the worker and receivers keep running in this one)."""
    env = dict(os.environ)
    env.update(
        UCRENEW_STATE_DIR=str(stack.settings.state_dir),
        UCRENEW_TEMPORAL_ADDRESS=address,
        UCRENEW_TASK_QUEUE=stack.task_queue,
        COLUMNS="200",
    )
    proc = await asyncio.create_subprocess_exec(UCRENEW, *args, env=env, stdout=PIPE, stderr=PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_notify_test_sends_through_a_worker_and_names_the_failing_channel(
    stack: Stack,
    receivers: tuple[WebhookReceiver, WebhookReceiver],
    dev_address: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    good, failing = receivers
    monkeypatch.setenv("UCRENEW_E2E_HMAC", "e2e-hook-key")
    monkeypatch.setenv("UCRENEW_E2E_BROKEN_URL", failing.url("/T000/B000/secretpart"))
    monkeypatch.setenv("UCRENEW_E2E_GONE_URL", f"http://127.0.0.1:{free_loopback_port()}/gone")
    cluster = stack.lab.cluster_entry.name
    with SmtpReceiver() as smtp:
        configure(stack, good, failing, smtp.port, retry_for="3s")
        async with build_worker(stack.client, stack.settings, stack.task_queue):
            one = await run_cli(stack, dev_address, "notify-test", cluster, "--channel", "board")
            every = await run_cli(stack, dev_address, "notify-test", cluster, "--json")
            unknown = await run_cli(stack, dev_address, "notify-test", cluster, "--channel", "x")

    code, out, _ = one
    assert code == 0 and "delivered  board" in out
    test = good.requests[0].json()
    assert test["event"] == "test" and test["cluster"] == cluster
    assert "UCRENEW_SERVICE_BASE_URL is not set" in test["url_note"]

    code, out, _ = every
    report = json.loads(out)
    assert code == 1
    assert sorted(report["delivered"]) == ["board", "oncall"]
    assert sorted(report["undelivered"]) == ["broken", "gone"]
    assert "HTTP 500" in report["undelivered"]["broken"]
    assert "secretpart" not in out
    assert len(smtp.messages) == 1  # a test goes to every channel, whatever its events

    code, _, err = unknown
    assert code == 1
    assert "no notification channel 'x' (known: board, oncall, broken, gone)" in err


async def test_a_worker_killed_while_the_change_waits_sends_nothing_twice(
    stack: Stack,
    receivers: tuple[WebhookReceiver, WebhookReceiver],
    dev_address: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    good, _ = receivers
    monkeypatch.setenv("UCRENEW_E2E_HMAC", "e2e-hook-key")  # the worker process inherits it
    path = stack.settings.inventory_path
    inventory = yaml.safe_load(path.read_text())
    inventory["notifications"] = {
        "channels": [
            {
                "name": "board",
                "kind": "webhook",
                "url": good.url(),
                "secret": "env:UCRENEW_E2E_HMAC",
            }
        ]
    }
    path.write_text(yaml.safe_dump(inventory))
    first = stack.worker_process(dev_address)
    handle = None
    try:
        handle = await stack.start(require_plan_approval=True)
        status = await stack.wait_for(handle, "approval")
        await arrived(good, "approval-needed")
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        # A new worker replays the change's history: the approval-needed start is in it.
        async with stack.worker():
            assert status.plan is not None
            await handle.execute_update(
                CertRenewalWorkflow.approve,
                ApprovalInput(principal="cab-member", plan_hash=status.plan.plan_hash),
            )
            await stack.reenable_sso(handle)
            final = await handle.result()
            await arrived(good, "done")
    finally:
        if handle is not None:
            with contextlib.suppress(RPCError):
                await handle.terminate("test over")
    assert final.phase == "done"
    events = [r.json()["event"] for r in good.requests]
    ids = [r.headers["x-ucrenew-delivery"] for r in good.requests]
    assert events.count("approval-needed") == 1 and events.count("done") == 1
    assert len(ids) == len(set(ids))
