"""``ucrenew notify-test``: send a test notification to a cluster's channels, through a worker.

The worker holds the channels' secrets and sends as it would for a renewal (the same
``NotificationWorkflow``), so a test that arrives proves the whole path: the inventory's
``notifications:`` block, the secrets on the worker, the receiver. Each channel reports
delivered or why not; a failing channel is retried for 30 s at most.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from datetime import UTC, datetime
from typing import Annotated

import typer

from console.common import CliError, ExitCode, client, console, run_async, settings

#: How long to wait for a worker to finish the test (routing, retries of 30 s, sending).
WAIT_SECONDS = 120.0


@run_async
async def notify_test(
    cluster: Annotated[str, typer.Argument(help="the cluster whose channels to test")],
    channel: Annotated[
        str | None, typer.Option(help="test this channel only (by its name)")
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Send a test notification to the cluster's channels (every channel, whatever events it
    gets) through a worker; exit 0 when every channel got it."""
    from temporalio.client import WorkflowFailureError
    from temporalio.service import RPCError

    from activities.clients.notify.models import NotificationEvent
    from workflows.notifications import NotificationWorkflow

    s = settings()
    temporal = await client()
    test_id = f"notify-test.{cluster}.{uuid.uuid4().hex[:12]}"
    event = NotificationEvent(
        id=test_id,
        kind="test",
        change_id=test_id,
        cluster=cluster,
        occurred_at=datetime.now(UTC),
        summary=f"A test of the notifications of cluster {cluster} (ucrenew notify-test).",
        asked="Nothing: if you read this, the channel works.",
        channel=channel,
    )
    handle = await temporal.start_workflow(
        NotificationWorkflow.run, event, id=test_id, task_queue=s.task_queue
    )
    try:
        report = await asyncio.wait_for(handle.result(), WAIT_SECONDS)
    except TimeoutError:
        with contextlib.suppress(RPCError):  # it ended meanwhile
            await handle.terminate("ucrenew notify-test: no worker finished the test")
        raise CliError(
            f"no worker finished the test within {WAIT_SECONDS:g} s on task queue "
            f"{s.task_queue}: start one (`ucrenew worker`, or `ucrenew dev up`)",
            ExitCode.FAILED,
        ) from None
    except WorkflowFailureError as exc:
        raise CliError(f"the test failed: {exc.cause or exc}", ExitCode.FAILED) from None

    if json_out:
        typer.echo(json.dumps(report.model_dump(mode="json"), indent=2))
    if report.error:
        raise CliError(report.error, ExitCode.FAILED)
    if not report.delivered and not report.undelivered:
        raise CliError(
            f"cluster {cluster} has no notification channels: add a notifications: block to "
            "the inventory (docs/inventory.md)",
            ExitCode.REFUSED,
        )
    if not json_out:
        for name in report.delivered:
            console.print(f"[green]delivered[/green]  {name}")
        for name, reason in report.undelivered.items():
            console.print(f"[red]not delivered[/red]  {name}: {reason}")
    if report.undelivered:
        raise typer.Exit(ExitCode.FAILED)
