"""Activities that read Temporal itself: the registry of renewals is Temporal's visibility."""

from __future__ import annotations

from temporalio import activity
from temporalio.client import Client

from activities.cluster_models import OtherRenewalsRequest, OtherRenewalsResult
from activities.errors import translated
from activities.visibility import renewals_query


class RegistryActivities:
    """Look renewals up through the Temporal client the worker already holds."""

    def __init__(self, client: Client) -> None:
        self._client = client

    @activity.defn(name="find_other_renewals")
    @translated
    async def find_other_renewals(self, req: OtherRenewalsRequest) -> OtherRenewalsResult:
        """Running renewals of ``req.cluster`` other than ``req.exclude_change_id``."""
        query = renewals_query(running_only=True, cluster=req.cluster)
        ids = [
            wf.id
            async for wf in self._client.list_workflows(query)
            if wf.id != req.exclude_change_id
        ]
        return OtherRenewalsResult(change_ids=sorted(ids))
