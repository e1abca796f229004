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

from activities.catalog import Purpose
from activities.clients.cucm.discovery import discover
from activities.clients.inventory import load_inventory
from activities.cluster_models import ChangePolicy, ClusterSnapshot
from workers.settings import UcrenewSettings
from workers.wiring import inventory_path, trust_store
from workflows.models import Problem, RenewalOptions, RenewalPlan
from workflows.plan import compose_plan, preflight_problems, window_problems
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
    plan = compose_plan(snapshot, purposes, options or RenewalOptions())
    policy = ChangePolicy.of(entry)
    specs = parse_windows(list(windows) or policy.windows)
    at = now or datetime.now(UTC)
    problems = preflight_problems(snapshot, purposes, health=policy.health, now=at)
    problems += window_problems(purposes, specs, at)
    return DryRun(plan, problems, snapshot, at)


async def dry_run(
    settings: UcrenewSettings,
    cluster: str,
    purposes: Sequence[Purpose],
    options: RenewalOptions | None = None,
    windows: Sequence[dict[str, Any]] = (),
    now: datetime | None = None,
) -> tuple[RenewalPlan, list[Problem]]:
    """The plan and the preflight problems (errors and warnings) of :func:`dry_run_report`."""
    report = await dry_run_report(settings, cluster, purposes, options, windows, now)
    return report.plan, report.problems
