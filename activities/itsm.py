"""Activities of the change system (ITSM): check a change record, write a renewal's outcome.

Thin adapters: resolve the cluster's ``itsm:`` block from the inventory, build its client
(secrets resolved here, never in the workflow), call it, translate its errors once.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.clients.inventory import load_inventory_async
from activities.clients.itsm.base import ItsmClient
from activities.clients.itsm.factory import itsm_client
from activities.clients.itsm.models import (
    ChangeRecordCheck,
    ChangeRecordRequest,
    ItsmConfig,
    WriteBack,
    WriteBackRequest,
    WriteBackResult,
)
from activities.clients.links import renewal_link
from activities.errors import translated

ClientFactory = Callable[[ItsmConfig, Path], ItsmClient]


def _default_factory(config: ItsmConfig, base_dir: Path) -> ItsmClient:
    return itsm_client(config, base_dir)


class ItsmActivities:
    """The change-record check and the outcome write-back.

    Args:
        inventory_loader: Where the inventory is (read on every call: edits apply at once).
        service_base_url: The service's base URL for links to the renewal page, or a
            callable returning it (None: no link).
        client_factory: Builds the adapter for a configuration (tests inject transports).
    """

    def __init__(
        self,
        inventory_loader: Callable[[], Path],
        service_base_url: Callable[[], str | None] = lambda: None,
        client_factory: ClientFactory = _default_factory,
    ) -> None:
        """Keep the factories; nothing is read until an activity runs."""
        self._inventory = inventory_loader
        self._base_url = service_base_url
        self._factory = client_factory

    async def _client(self, cluster: str) -> ItsmClient:
        inventory = await load_inventory_async(self._inventory())
        config = inventory.itsm_for(cluster)
        if config is None:
            raise ApplicationError(
                f"cluster {cluster} has no itsm: configuration any more",
                type="ItsmNotConfigured",
                non_retryable=True,
            )
        return self._factory(config, Path(inventory.base_dir))

    @activity.defn(name="check_change_record")
    @translated
    async def check_change_record(self, req: ChangeRecordRequest) -> ChangeRecordCheck:
        """Whether the change record allows the renewal now (a missing record is an answer)."""
        client = await self._client(req.cluster)
        return await client.check(req.change_id, req.cluster, req.now, req.windows)

    @activity.defn(name="write_back_outcome")
    @translated
    async def write_back_outcome(self, req: WriteBackRequest) -> WriteBackResult:
        """Record the renewal's outcome on its change record, with a link to its page."""
        client = await self._client(req.cluster)
        outcome = WriteBack(
            change_id=req.change_id,
            outcome=req.outcome,
            summary=req.summary,
            link=renewal_link(self._base_url(), req.change_id),
            work_notes=req.work_notes,
        )
        detail = await client.write_back(req.change_id, outcome)
        return WriteBackResult(system=client.kind, change_id=req.change_id, detail=detail)
