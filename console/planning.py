"""``ucrenew plan``: the renewal's discovery, preflight and planner, run directly (a dry run).

It composes the plan with the very function the workflow uses (``compose_plan``) and runs the
same preflight, including the maintenance-window check of phone-impacting changes, so a plan
that passes here is the plan ``ucrenew start`` runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from activities.catalog import Purpose
from activities.clients.cucm.discovery import discover
from activities.clients.inventory import load_inventory
from activities.cluster_models import ChangePolicy
from workers.settings import UcrenewSettings
from workers.wiring import inventory_path, trust_store
from workflows.models import Problem, RenewalOptions, RenewalPlan
from workflows.plan import compose_plan, preflight_problems, window_problems
from workflows.windows import parse_windows


async def dry_run(
    settings: UcrenewSettings,
    cluster: str,
    purposes: Sequence[Purpose],
    options: RenewalOptions | None = None,
    windows: Sequence[dict[str, Any]] = (),
    now: datetime | None = None,
) -> tuple[RenewalPlan, list[Problem]]:
    """Discover the cluster and return the plan and the preflight problems; writes nothing.

    Args:
        settings: where the inventory, the trust store and the local CA are.
        cluster: the inventory's cluster.
        purposes: the purposes of the change.
        options: the change's options, as ``ucrenew start`` would pass them.
        windows: maintenance windows as ``--window`` gives them; the inventory's if empty.
        now: the time the window check is made for (default: now).
    """
    inventory = load_inventory(inventory_path(settings))
    entry = inventory.cluster(cluster)
    # The workers' trust: the inventory's CA file, the cluster's trust store, the local CA root.
    snapshot = await discover(
        inventory, cluster, files=trust_store(settings).files(cluster), purposes=purposes
    )
    plan = compose_plan(snapshot, purposes, options or RenewalOptions())
    specs = parse_windows(list(windows) or ChangePolicy.of(entry).windows)
    problems = preflight_problems(snapshot, purposes)
    problems += window_problems(purposes, specs, now or datetime.now(UTC))
    return plan, problems
