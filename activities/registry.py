"""Activities that read Temporal itself: the registry of renewals is Temporal's visibility."""

from __future__ import annotations

from temporalio import activity
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.common import SearchAttributeKey

from activities.cluster_models import LeftoverChange, OtherRenewalsRequest, OtherRenewalsResult
from activities.errors import translated
from activities.visibility import renewals_query

#: Keep in step with workflows.search_attributes (activities never import workflows).
_OUTSTANDING = SearchAttributeKey.for_keyword_list("RenewalOutstanding")


class RegistryActivities:
    """Look renewals up through the Temporal client the worker already holds."""

    def __init__(self, client: Client) -> None:
        self._client = client

    @activity.defn(name="find_other_renewals")
    @translated
    async def find_other_renewals(self, req: OtherRenewalsRequest) -> OtherRenewalsResult:
        """Running renewals of ``req.cluster`` other than ``req.exclude_change_id``, and its
        finished changes that left work to an operator."""
        query = renewals_query(running_only=True, cluster=req.cluster)
        ids = [
            wf.id
            async for wf in self._client.list_workflows(query)
            if wf.id != req.exclude_change_id
        ]
        return OtherRenewalsResult(
            change_ids=sorted(ids), leftovers=await self._leftovers(req.cluster)
        )

    async def _leftovers(self, cluster: str) -> list[LeftoverChange]:
        """Finished changes of the cluster that left work behind, since its last completed
        change (which would have been planned on a cluster in order); usually one query."""
        of_cluster = renewals_query(running_only=False, cluster=cluster)
        found = [
            wf
            async for wf in self._client.list_workflows(
                f"{of_cluster} AND ExecutionStatus != 'Running' AND RenewalOutstanding IS NOT NULL"
            )
        ]
        if not found:
            return []
        oldest = min(wf.close_time for wf in found if wf.close_time is not None)
        completed = [
            wf.close_time
            async for wf in self._client.list_workflows(
                f"{of_cluster} AND ExecutionStatus = 'Completed' "
                f"AND CloseTime > '{oldest.isoformat()}'"
            )
            if wf.close_time is not None
        ]
        last_done = max(completed, default=None)
        latest: dict[str, LeftoverChange] = {}
        for wf in sorted(found, key=lambda w: w.close_time or oldest):
            if last_done is not None and wf.close_time is not None and wf.close_time < last_done:
                continue
            status = wf.status or WorkflowExecutionStatus.FAILED
            latest[wf.id] = LeftoverChange(
                change_id=wf.id,
                status=status.name.lower(),
                outstanding=list(wf.typed_search_attributes.get(_OUTSTANDING) or []),
            )
        return [latest[k] for k in sorted(latest)]
