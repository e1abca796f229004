"""The dry run of ``ucrenew plan`` without Temporal: the worker's discovery and the pure
``workflows.plan.dry_run`` PlanWorkflow runs, in the test's process (no other renewals)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from activities.catalog import Purpose
from activities.clients.cucm.discovery import discover
from activities.clients.inventory import load_inventory
from activities.cluster_models import ChangePolicy, OtherRenewalsResult
from console.planning import DryRun
from workers.settings import UcrenewSettings
from workers.wiring import inventory_path, trust_store
from workflows.models import PlanRequest, RenewalOptions
from workflows.plan import dry_run


async def local_dry_run(
    settings: UcrenewSettings,
    cluster: str,
    purposes: Sequence[Purpose],
    options: RenewalOptions | None = None,
    windows: Sequence[dict[str, Any]] = (),
    now: datetime | None = None,
) -> DryRun:
    """What PlanWorkflow answers for this change, made in-process against the lab."""
    inventory = load_inventory(inventory_path(settings))
    snapshot = await discover(
        inventory, cluster, files=trust_store(settings).files(cluster), purposes=purposes
    )
    req = PlanRequest(
        cluster=cluster,
        purposes=list(purposes),
        options=options or RenewalOptions(),
        windows=list(windows),
    )
    policy = ChangePolicy.of(inventory.cluster(cluster))
    return DryRun.of(
        dry_run(req, snapshot, policy, OtherRenewalsResult(), now or datetime.now(UTC))
    )
