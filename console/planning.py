"""``ucrenew plan``: the renewal's discovery, preflight and planner, run directly (a dry run).

It composes the plan with the very function the workflow uses (``compose_plan``) and runs the
same preflight, including the maintenance-window check of phone-impacting changes and the
pre-change health checks under the cluster's policy, so a plan that passes here is the plan
``ucrenew start`` runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from rich.console import Group, RenderableType
from rich.text import Text

from activities.catalog import Purpose
from activities.clients.cucm.discovery import discover
from activities.clients.inventory import load_inventory
from activities.cluster_models import ChangePolicy, ClusterSnapshot
from console.render import (
    findings_table,
    health_table,
    plan_table,
    problems_table,
    warnings_table,
)
from workers.settings import UcrenewSettings
from workers.wiring import inventory_path, trust_store
from workflows.models import Problem, RenewalOptions, RenewalPlan
from workflows.plan import (
    certificate_path_for,
    compose_plan,
    path_problems,
    preflight_problems,
    window_problems,
)
from workflows.restarts import explain
from workflows.windows import parse_windows


@dataclass(frozen=True)
class DryRun:
    """What a dry run found.

    Attributes:
        plan: the plan ``ucrenew start`` would run.
        problems: preflight errors (they stop the change) and warnings (``severity``).
        snapshot: what discovery saw, pre-change health included.
        now: the time the checks were made for.
    """

    plan: RenewalPlan
    problems: list[Problem]
    snapshot: ClusterSnapshot
    now: datetime

    @property
    def errors(self) -> list[Problem]:
        """The problems that stop the change."""
        return [p for p in self.problems if p.blocking]

    @property
    def warnings(self) -> list[Problem]:
        """The problems the change goes on with."""
        return [p for p in self.problems if not p.blocking]


async def dry_run_report(
    settings: UcrenewSettings,
    cluster: str,
    purposes: Sequence[Purpose],
    options: RenewalOptions | None = None,
    windows: Sequence[dict[str, Any]] = (),
    now: datetime | None = None,
) -> DryRun:
    """Discover the cluster, plan, and run preflight under the cluster's policy; writes nothing.

    Args:
        settings: where the inventory, the trust store and the local CA are.
        cluster: the inventory's cluster.
        purposes: the purposes of the change.
        options: the change's options, as ``ucrenew start`` would pass them.
        windows: maintenance windows as ``--window`` gives them; the inventory's if empty.
        now: the time the window and backup-age checks are made for (default: now).
    """
    inventory = load_inventory(inventory_path(settings))
    entry = inventory.cluster(cluster)
    # The workers' trust: the inventory's CA file, the cluster's trust store, the local CA root.
    snapshot = await discover(
        inventory, cluster, files=trust_store(settings).files(cluster), purposes=purposes
    )
    opts = options or RenewalOptions()
    path_refused = path_problems(snapshot, opts)
    path = None if path_refused else certificate_path_for(snapshot, opts)
    plan = compose_plan(snapshot, purposes, opts, path=path)
    policy = ChangePolicy.of(entry)
    specs = parse_windows(list(windows) or policy.windows)
    at = now or datetime.now(UTC)
    problems = preflight_problems(snapshot, purposes, health=policy.health, now=at)
    problems += window_problems(purposes, specs, at)
    problems += path_refused
    return DryRun(plan, problems, snapshot, at)


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
    }


def dry_run_view(report: DryRun) -> RenderableType:
    """``ucrenew plan`` for people: steps, rollout stages, notes, findings, health, problems."""
    plan = report.plan
    parts: list[RenderableType] = [plan_table(plan)]
    if plan.restarts is not None and plan.phone_impact:
        parts += [Text(f"  {line}") for line in explain(plan.restarts)]
    planner_notes = plan.restarts.notes if plan.restarts is not None else []
    parts += [
        Text(f"  {note}", style="dim")
        for note in plan.notes
        if not (plan.phone_impact and note in planner_notes)
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
    parts.append(health_table(report.snapshot, report.now))
    if report.errors:
        parts.append(problems_table(report.errors))
    if report.warnings:
        parts.append(warnings_table(report.warnings))
    return Group(*parts)
