"""``ucrenew plan``: a dry run of a change, made by a worker (PlanWorkflow) and shown here.

The worker runs the renewal's own discovery, change policy, other-renewals lookup and
preflight, and composes the plan with the function the renewal uses (``compose_plan``), so a
plan that passes here is the plan ``ucrenew start`` runs. This process needs no password and
no route to the cluster: only Temporal.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from rich.console import Group, RenderableType
from rich.text import Text
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError

from activities.catalog import Purpose
from activities.clients.itsm.models import ChangeRecordCheck
from activities.cluster_models import ClusterSnapshot
from console.render import (
    change_record_line,
    findings_table,
    health_table,
    plan_table,
    problems_table,
    warnings_table,
)
from workflows.models import PlanReport, PlanRequest, Problem, RenewalOptions, RenewalPlan
from workflows.plan_workflow import PlanWorkflow
from workflows.restarts import explain

#: How long ``ucrenew plan`` waits for a worker's answer by default (seconds).
PLAN_TIMEOUT_SECONDS = 60.0


class PlanUnavailable(Exception):
    """No dry run: Temporal, a worker or the cluster did not answer (one line to print)."""


@dataclass(frozen=True)
class DryRun:
    """What a dry run found.

    Attributes:
        plan: the plan ``ucrenew start`` would run.
        problems: preflight errors (they stop the change) and warnings (``severity``).
        snapshot: what discovery saw, pre-change health included.
        now: the time the checks were made for.
        change_record: the change record's verdict (inventory itsm:, ``--change``).
    """

    plan: RenewalPlan
    problems: list[Problem]
    snapshot: ClusterSnapshot
    now: datetime
    change_record: ChangeRecordCheck | None = None

    @classmethod
    def of(cls, report: PlanReport) -> DryRun:
        """The dry run a PlanWorkflow returned."""
        return cls(report.plan, report.problems, report.snapshot, report.now, report.change_record)

    @property
    def errors(self) -> list[Problem]:
        """The problems that stop the change."""
        return [p for p in self.problems if p.blocking]

    @property
    def warnings(self) -> list[Problem]:
        """The problems the change goes on with."""
        return [p for p in self.problems if not p.blocking]


async def dry_run_report(
    client: Client,
    task_queue: str,
    cluster: str,
    purposes: Sequence[Purpose],
    options: RenewalOptions | None = None,
    windows: Sequence[dict[str, Any]] = (),
    wait_seconds: float = PLAN_TIMEOUT_SECONDS,
    change_id: str = "",
) -> DryRun:
    """Have a worker discover the cluster, plan, and run preflight; writes nothing.

    Args:
        client: a connected Temporal client (the shared data converter).
        task_queue: the workers' task queue.
        cluster: the inventory's cluster.
        purposes: the purposes of the change.
        options: the change's options, as ``ucrenew start`` would pass them.
        windows: maintenance windows as ``--window`` gives them; the inventory's if empty.
        wait_seconds: how long to wait for the answer.
        change_id: the change the plan is for: its change record is checked (itsm:).

    Raises:
        PlanUnavailable: Temporal refused the call, no worker answered in time, or the
            cluster could not be read.
    """
    request = PlanRequest(
        cluster=cluster,
        purposes=list(purposes),
        options=options or RenewalOptions(),
        windows=list(windows),
        change_id=change_id,
    )
    try:
        handle = await client.start_workflow(
            PlanWorkflow.run,
            request,
            id=f"plan-{cluster}-{uuid.uuid4().hex[:12]}",
            task_queue=task_queue,
            execution_timeout=timedelta(seconds=wait_seconds),
            static_summary=f"plan of {cluster} ({', '.join(purposes)})",
        )
    except RPCError as exc:
        raise PlanUnavailable(f"cannot ask for a plan of {cluster}: {exc.message}") from None
    try:
        report = await asyncio.wait_for(handle.result(), wait_seconds + 5)
    except (TimeoutError, WorkflowFailureError) as exc:
        cause = exc.cause if isinstance(exc, WorkflowFailureError) else None
        while cause is not None and not isinstance(cause, ApplicationError):
            cause = cause.__cause__
        if isinstance(cause, ApplicationError):
            raise PlanUnavailable(f"no plan of {cluster}: {cause.message}") from None
        raise PlanUnavailable(
            f"no plan of {cluster}: no answer within {wait_seconds:g} s: no worker polls task "
            f"queue {task_queue} (`ucrenew dev status`), or the cluster is that slow to read"
        ) from None
    except RPCError as exc:
        raise PlanUnavailable(f"no plan of {cluster}: {exc.message}") from None
    return DryRun.of(report)


def dry_run_json(report: DryRun) -> dict[str, Any]:
    """``ucrenew plan --json``: the plan, errors, warnings and pre-change health."""
    snapshot = report.snapshot
    return {
        "plan": report.plan.model_dump(mode="json"),
        "problems": [p.model_dump() for p in report.errors],
        "warnings": [p.model_dump() for p in report.warnings],
        "health": {
            "nodes": {
                n.fqdn: n.health.model_dump(mode="json") if n.health else None
                for n in snapshot.nodes
            },
            "backup": snapshot.backup.model_dump(mode="json") if snapshot.backup else None,
            "backup_error": snapshot.backup_error,
        },
        "change_record": (
            report.change_record.model_dump(mode="json") if report.change_record else None
        ),
    }


def unverified_lines(plan: RenewalPlan) -> list[Text]:
    """The unverified CUCM behaviours the plan depends on, one line each with its constant."""
    if not plan.unverified:
        return []
    lines = [
        Text(
            "  depends on CUCM behaviour no published source confirms (check it on a lab "
            "cluster first):",
            style="yellow",
        )
    ]
    lines += [Text(f"    UNVERIFIED {u.constant}: {u.behaviour}") for u in plan.unverified]
    return lines


def dry_run_view(report: DryRun) -> RenderableType:
    """``ucrenew plan`` for people: steps, rollout stages, notes, findings, health, problems."""
    plan = report.plan
    parts: list[RenderableType] = [plan_table(plan)]
    # Waves are shown when they move phones or take something away from users meanwhile.
    waves = plan.restarts is not None and (
        plan.phone_impact or any(nr.unavailable for w in plan.restarts.waves for nr in w.nodes)
    )
    if plan.restarts is not None and waves:
        parts += [Text(f"  {line}") for line in explain(plan.restarts)]
    planner_notes = plan.restarts.notes if plan.restarts is not None else []
    parts += [
        Text(f"  {note}", style="dim")
        for note in plan.notes
        if not (waves and note in planner_notes)
    ]
    if plan.phone_impact:
        parts.append(
            Text(
                "  phone-impacting: the change needs an approval under the cluster's policy "
                "and a maintenance window (inventory change_policy.windows, or "
                "`ucrenew start --window START/END`)",
                style="yellow",
            )
        )
    if plan.findings:
        parts.append(findings_table(plan.findings))
    parts += unverified_lines(plan)
    parts.append(health_table(report.snapshot, report.now))
    record_line = change_record_line(report.change_record)
    if record_line is not None:
        parts.append(record_line)
    if report.errors:
        parts.append(problems_table(report.errors))
    if report.warnings:
        parts.append(warnings_table(report.warnings))
    return Group(*parts)
