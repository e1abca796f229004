"""Activities that read Temporal itself: the registry of renewals is Temporal's visibility."""

from __future__ import annotations

from temporalio import activity
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.common import SearchAttributeKey
from temporalio.service import RPCError, RPCStatusCode

from activities.cluster_models import (
    LeftoverChange,
    LockHolder,
    LockHolderRequest,
    LockReleaseRequest,
    OtherRenewalsRequest,
    OtherRenewalsResult,
)
from activities.errors import translated
from activities.visibility import renewals_query

#: Keep in step with workflows.search_attributes (activities never import workflows).
_OUTSTANDING = SearchAttributeKey.for_keyword_list("RenewalOutstanding")
_CLUSTER_ID = SearchAttributeKey.for_keyword("ClusterId")
_PHASE = SearchAttributeKey.for_keyword("RenewalPhase")


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

    @activity.defn(name="cluster_lock_holder")
    @translated
    async def cluster_lock_holder(self, req: LockHolderRequest) -> LockHolder:
        """The change holding the cluster lock ``req.lock_id`` (the lock workflow's parent):
        its id, inventory cluster name and phase; empty when the lock is not held."""
        try:
            lock = await self._client.get_workflow_handle(req.lock_id).describe()
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                return LockHolder()
            raise
        if lock.status != WorkflowExecutionStatus.RUNNING or not lock.parent_id:
            return LockHolder()
        holder = LockHolder(change_id=lock.parent_id)
        try:
            parent = await self._client.get_workflow_handle(
                lock.parent_id, run_id=lock.parent_run_id
            ).describe()
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                return holder
            raise
        attributes = parent.typed_search_attributes
        holder.cluster = attributes.get(_CLUSTER_ID) or ""
        holder.phase = attributes.get(_PHASE) or ""
        return holder

    @activity.defn(name="release_cluster_lock")
    @translated
    async def release_cluster_lock(self, req: LockReleaseRequest) -> bool:
        """End the lock ``req.lock_id`` if ``req.holder`` holds it (the lock workflow's
        parent); True when it was ended now. Terminating needs no worker of the lock, and
        another holder's lock is never touched."""
        handle = self._client.get_workflow_handle(req.lock_id)
        try:
            lock = await handle.describe()
            if lock.status != WorkflowExecutionStatus.RUNNING or lock.parent_id != req.holder:
                return False
            await handle.terminate(reason=f"released by {req.holder}")
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                return False  # ended meanwhile (the holder's close policy)
            raise
        return True

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
