"""``ucrenew plan``: the renewal's discovery, preflight and planner, run directly (a dry run)."""

from __future__ import annotations

from collections.abc import Sequence

from activities.clients.cucm.discovery import discover
from activities.clients.inventory import load_inventory
from activities.cluster_models import Purpose
from workers.settings import UcrenewSettings
from workers.wiring import inventory_path, local_ca
from workflows.models import Problem, RenewalOptions, RenewalPlan
from workflows.plan import build_plan, preflight_problems
from workflows.restarts import restart_plan_for


async def dry_run(
    settings: UcrenewSettings,
    cluster: str,
    purposes: Sequence[Purpose],
    options: RenewalOptions | None = None,
) -> tuple[RenewalPlan, list[Problem]]:
    """Discover the cluster and return the plan and the preflight problems; writes nothing."""
    inventory = load_inventory(inventory_path(settings))
    snapshot = await discover(inventory, cluster, [local_ca(settings).root_pem])
    options = options or RenewalOptions()
    restarts = restart_plan_for(
        snapshot,
        purposes,
        options.restart_strategy,
        options.max_phone_fraction_per_wave,
        staged_phone_resets=options.reset_phones,
    )
    return build_plan(snapshot, purposes, restarts), preflight_problems(snapshot, purposes)
