"""Activities of the fleet scan that are not discovery: the inventory's clusters, and the
certificates the last completed ucrenew changes installed (read from Temporal itself).

Read-only: the scan writes nothing to any cluster.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from temporalio import activity
from temporalio.client import Client

from activities.clients.inventory import ClusterEntry, load_inventory_async
from activities.clients.trust_store import ClusterTrust, TrustStoreError
from activities.cluster_models import ClusterRef
from activities.errors import translated
from activities.fleet_models import (
    AutoRenewPolicy,
    FleetInventory,
    FleetInventoryRequest,
    FleetTarget,
    KnownCa,
    LastRenewal,
    LastRenewals,
)
from activities.visibility import renewals_query

__all__ = ["MAX_CHANGES_READ", "FleetActivities"]

#: Completed changes of a cluster read, newest first, to find each purpose's last one.
MAX_CHANGES_READ = 25


class FleetActivities:
    """The fleet scan's inventory and history look-ups.

    Args:
        inventory_loader: Returns the inventory path (read at each call: edits apply).
        client: The Temporal client the worker holds (renewals' results are read through it).
        trust_store: The CA certificates ucrenew installed per cluster (a CA about to expire
            is drift); None: not read.
    """

    def __init__(
        self,
        inventory_loader: Callable[[], Path],
        client: Client,
        trust_store: ClusterTrust | None = None,
    ) -> None:
        self._inventory_path = inventory_loader
        self._client = client
        self._trust_store = trust_store

    @activity.defn(name="fleet_inventory")
    @translated
    async def fleet_inventory(self, req: FleetInventoryRequest) -> FleetInventory:
        """The inventory's clusters (or those asked for), with release and products."""
        inventory = await load_inventory_async(self._inventory_path())
        known = {c.name: c for c in inventory.clusters}
        names = req.clusters or list(known)
        result = FleetInventory()
        for name in names:
            cluster = known.get(name)
            if cluster is None:
                result.unknown[name] = (
                    f"no cluster named {name!r} in the inventory "
                    f"(known: {', '.join(known) or 'none'})"
                )
                continue
            products = sorted({n.product for n in cluster.nodes})
            result.targets.append(
                FleetTarget(
                    cluster=name,
                    version=cluster.version,
                    products=products,
                    auto_renew=_auto_renew(cluster),
                    tags=list(cluster.tags),
                )
            )
        return result

    @activity.defn(name="last_renewed_certificates")
    @translated
    async def last_renewed_certificates(self, ref: ClusterRef) -> LastRenewals:
        """Per purpose, the certificate the cluster's last completed change installed.

        Reads the results of at most :data:`MAX_CHANGES_READ` completed renewals of the
        cluster, newest first; a change the results do not name left the purpose as it was.
        """
        query = renewals_query(running_only=False, cluster=ref.cluster)
        completed = [
            wf
            async for wf in self._client.list_workflows(
                f"{query} AND ExecutionStatus = 'Completed'", limit=MAX_CHANGES_READ
            )
        ]
        oldest = datetime.min.replace(tzinfo=UTC)
        completed.sort(key=lambda wf: wf.close_time or oldest, reverse=True)
        found = LastRenewals(cluster=ref.cluster)
        for wf in completed:
            handle = self._client.get_workflow_handle(wf.id, run_id=wf.run_id)
            result: Any = await handle.result(follow_runs=False)
            found.looked_at += 1
            new = result.get("new_certificates") if isinstance(result, dict) else None
            for purpose, cert in (new or {}).items():
                if purpose in found.by_purpose or not isinstance(cert, dict):
                    continue
                serial = str(cert.get("serial") or "")
                if serial:
                    found.by_purpose[purpose] = LastRenewal(
                        change_id=wf.id,
                        serial=serial.lower(),
                        fingerprint=str(cert.get("fingerprint") or "").lower(),
                    )
        found.cas = self._known_cas(ref.cluster)
        return found

    def _known_cas(self, cluster: str) -> list[KnownCa]:
        if self._trust_store is None:
            return []
        try:
            entries = self._trust_store.entries(cluster)
        except TrustStoreError as exc:
            # The certificates were read: a damaged trust file costs the CA check only.
            activity.logger.warning("CA expiry of %s not checked: %s", cluster, exc)
            return []
        return [
            KnownCa(
                subject=e.subject,
                issuer=e.cert.issuer.rfc4514_string(),
                not_after=e.cert.not_valid_after_utc,
                fingerprint=e.fingerprint,
            )
            for e in entries
        ]


def _auto_renew(cluster: ClusterEntry) -> AutoRenewPolicy | None:
    entry = cluster.change_policy.auto_renew if cluster.change_policy else None
    if entry is None:
        return None
    return AutoRenewPolicy.model_validate(entry.model_dump())
