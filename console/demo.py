"""``ucrenew demo``: a full tomcat renewal of the lab cluster, end to end, without input.

It plays every role a real change needs, and says so: the requester starts the change, an
approver approves the plan, the built-in CA signs, and an operator re-enables SSO in the
(lab's) GUI and confirms it.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any

from rich.table import Table
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowFailureError, WorkflowHandle

from console import dev
from console.common import console
from console.render import plan_table, status_view
from lab.control import LabControl
from workers.settings import UcrenewSettings
from workers.starting import start_renewal
from workers.wiring import connect
from workflows.models import (
    TERMINAL_PHASES,
    ApprovalInput,
    RenewalInput,
    RenewalOptions,
    RenewalStatus,
    SsoConfirmation,
)
from workflows.renewal import CertRenewalWorkflow


async def history_figures(handle: WorkflowHandle[Any, Any]) -> dict[str, float]:
    """Event count, and the summed run time of activities, from the workflow's history."""
    started: dict[int, datetime] = {}
    total = 0.0
    events = 0
    activities = 0
    async for event in handle.fetch_history_events():
        events += 1
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            started[event.event_id] = event.event_time.ToDatetime(UTC)
        elif event.event_type in (
            EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED,
            EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED,
        ):
            attrs = (
                event.activity_task_completed_event_attributes
                if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED
                else event.activity_task_failed_event_attributes
            )
            begin = started.get(attrs.started_event_id)
            if begin is not None:
                total += (event.event_time.ToDatetime(UTC) - begin).total_seconds()
                activities += 1
    return {"events": events, "activity_seconds": total, "activities": activities}


async def run_demo(
    settings: UcrenewSettings, keep: bool = False, summary: dict[str, Any] | None = None
) -> int:
    """Run the demo; returns the process exit code. ``summary``, when given, receives the
    change id, its final phase and the figures (``ucrenew demo --json`` prints it).

    The parts of the stack the demo started are stopped again when it ends, however it ends,
    unless ``keep``; parts that were running before are left alone.
    """
    was_running = dev.describe(settings)
    console.rule("[bold]ucrenew demo[/]: tomcat multi-server renewal of the lab cluster")
    info = await dev.up(settings, timing="fast")
    started = [part for part in ("service", "worker", "lab", "temporal") if not was_running[part]]
    summary = {} if summary is None else summary
    try:
        code = await _renew(settings, info, summary)
    except BaseException:
        if not keep:
            await dev.stop_parts(settings, started)
        raise
    if keep or not started:
        console.print(
            f"the stack keeps running: `ucrenew show {summary.get('change')}`, Temporal UI "
            f"{info['temporal']['ui']}, dashboard {(info.get('service') or {}).get('url')}, "
            "`ucrenew dev down` to stop it"
        )
    else:
        await dev.stop_parts(settings, started)
        console.print("stack stopped (run `ucrenew demo --keep` to explore afterwards)")
    return code


async def _renew(settings: UcrenewSettings, info: dict[str, Any], summary: dict[str, Any]) -> int:
    """The demo's renewal on a running stack; returns the process exit code."""
    console.print(
        f"Temporal {info['temporal']['address']} (UI {info['temporal']['ui']}), "
        f"lab {len(info['lab']['nodes'])} nodes, worker pid {info['worker']['pid']}"
    )
    client = await connect(settings)
    change = "DEMO-" + datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    summary["change"] = change
    inp = RenewalInput(
        change_id=change,
        cluster="lab",
        purposes=["tomcat"],
        ca="local",
        requested_by="demo-requester",
        require_plan_approval=True,
        # The lab's fast profile restarts in milliseconds; poll it accordingly.
        options=RenewalOptions(restart_poll_seconds=0.2),
    )
    t0 = time.monotonic()
    handle = await start_renewal(
        client, inp, task_queue=settings.task_queue, base_url=settings.service_base_url
    )
    console.print(f"[bold]requester[/] started change {change}")
    status: RenewalStatus = await handle.query(CertRenewalWorkflow.get_status)
    last_phase = ""
    while status.phase not in TERMINAL_PHASES:
        if status.phase != last_phase:
            console.print(f"  phase [cyan]{status.phase}[/]")
            last_phase = status.phase
        if status.awaiting == "approval" and status.plan is not None:
            console.print(plan_table(status.plan))
            await handle.execute_update(
                CertRenewalWorkflow.approve,
                ApprovalInput(
                    principal="demo-approver",
                    comment="reviewed the plan in the demo",
                    plan_hash=status.gate_hash or status.plan.plan_hash,
                ),
            )
            console.print(
                f"[bold]approver[/] approved plan {status.gate_hash or status.plan.plan_hash}"
            )
        elif status.awaiting == "sso-confirm":
            async with LabControl(info["lab"]["control_url"]) as lab:
                await lab.sso_enable()
            console.print("[bold]operator[/] re-enabled SAML SSO in the (lab's) CUCM GUI")
            await handle.execute_update(
                CertRenewalWorkflow.confirm_sso,
                SsoConfirmation(principal="demo-operator", comment="SSO test passed"),
            )
            console.print("[bold]operator[/] confirmed; ucrenew checked `utils sso status`")
        await asyncio.sleep(0.05)
        status = await handle.query(CertRenewalWorkflow.get_status)
    try:
        await handle.result()
    except WorkflowFailureError as exc:
        console.print(status_view(status))
        console.print(f"[red]renewal failed:[/] {exc.cause}")
        summary.update(phase=status.phase, error=str(exc.cause))
        return 1
    wall = time.monotonic() - t0
    status = await handle.query(CertRenewalWorkflow.get_status)
    figures = await history_figures(handle)
    summary.update(
        phase=status.phase,
        new_serial=status.new_serial,
        nodes=[n.node for n in status.nodes if n.verified],
        wall_seconds=round(wall, 2),
        **figures,
    )
    table = Table(title=f"{change}: tomcat renewed on every node")
    for col in ("node", "old serial", "new serial", "verified"):
        table.add_column(col)
    for n in status.nodes:
        table.add_row(
            n.node,
            n.old_serial or "",
            n.new_serial or "",
            "[green]yes[/]" if n.verified else "[red]no[/]",
        )
    console.print(table)
    console.print(
        f"renewal wall time {wall:.2f}s; {figures['activities']:.0f} activities ran "
        f"{figures['activity_seconds']:.2f}s in total; history {figures['events']:.0f} events"
    )
    return 0
