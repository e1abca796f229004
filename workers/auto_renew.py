"""The one activity of the fleet scan that is not read-only: starting a due renewal.

It lives with the workers because it starts a ``CertRenewalWorkflow`` the way every starter
does (:func:`workers.starting.start_renewal`), which activities may not import. It changes no
cluster: the renewal it starts waits for its approvals as its policy says.

Never two renewals on one cluster:

- it starts nothing while visibility lists a running renewal of the cluster (any requester);
- the change id is ``AUTO-<cluster>-<yyyymmdd>`` started with ``REJECT_DUPLICATE``, so two
  scans racing on one day start it once (the second is told ``already-started``);
- the renewal's own cluster lock (``workflows.cluster_lock``, keyed on the cluster's identity)
  refuses it (``ClusterBusy``) should another change hold the cluster: one started in the
  same second, or one of the same cluster under another inventory name. Such a refused
  attempt wrote nothing, so a later scan of the day starts today's change id again rather
  than reporting it ``already-started``; while the refusal is the latest, the scan reports
  the cluster ``running`` (busy), never ``failed``.
"""

from __future__ import annotations

from collections.abc import Callable

from pydantic import ValidationError
from temporalio import activity
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from activities.clients.validation import describe_validation_error
from activities.visibility import renewals_query
from workers.starting import start_renewal, stop_type
from workflows.cluster_lock import BUSY as CLUSTER_BUSY
from workflows.fleet_models import AutoRenewOutcome, AutoRenewStartRequest
from workflows.models import RenewalInput

__all__ = ["SCAN_REQUESTER", "AutoRenewActivities"]

#: ``requested_by`` of every renewal the scan starts.
SCAN_REQUESTER = "ucrenew-scan"


class AutoRenewActivities:
    """Starts the renewals the fleet scan finds due.

    Args:
        client: The worker's Temporal client.
        task_queue: Where renewals run.
        base_url: The service's address for the renewal's page link (read at each call).
    """

    def __init__(self, client: Client, task_queue: str, base_url: Callable[[], str | None]) -> None:
        self._client = client
        self._task_queue = task_queue
        self._base_url = base_url

    @activity.defn(name="start_scheduled_renewal")
    async def start_scheduled_renewal(self, req: AutoRenewStartRequest) -> AutoRenewOutcome:
        """Start ``req.change_id`` for the due purposes, unless a renewal of the cluster runs
        or the change id was started before."""
        query = renewals_query(running_only=True, cluster=req.cluster)
        async for wf in self._client.list_workflows(query, limit=1):
            return AutoRenewOutcome(
                status="running",
                change_id=wf.id,
                purposes=req.purposes,
                detail=f"renewal {wf.id} of {req.cluster} runs: none started (the next scan "
                "looks again)",
            )
        try:
            inp = RenewalInput.model_validate(
                {
                    "change_id": req.change_id,
                    "cluster": req.cluster,
                    "purposes": req.purposes,
                    "ca": req.ca,
                    "ca_name": req.ca_name,
                    "ca_template": req.ca_template,
                    "requested_by": SCAN_REQUESTER,
                    "require_plan_approval": req.require_plan_approval,
                }
            )
        except ValidationError as exc:
            raise ApplicationError(
                f"the renewal of {req.cluster} cannot be started: {describe_validation_error(exc)}",
                type="InvalidRequest",
                non_retryable=True,
            ) from None
        again = await self._refused_before(req.change_id)
        try:
            await start_renewal(
                self._client,
                inp,
                task_queue=self._task_queue,
                base_url=self._base_url(),
                id_reuse_policy=(
                    WorkflowIDReusePolicy.ALLOW_DUPLICATE
                    if again
                    else WorkflowIDReusePolicy.REJECT_DUPLICATE
                ),
                why=[f"due at the fleet scan: {r}" for r in req.reasons] or None,
            )
        except WorkflowAlreadyStartedError:
            if again:
                return AutoRenewOutcome(
                    status="running",
                    change_id=req.change_id,
                    purposes=req.purposes,
                    detail=f"{req.change_id} runs again already (its earlier attempt was "
                    "refused: another change held the cluster)",
                )
            return AutoRenewOutcome(
                status="already-started",
                change_id=req.change_id,
                purposes=req.purposes,
                detail=f"{req.change_id} was started before (one automatic renewal a day per "
                "cluster)",
            )
        activity.logger.info(
            "started %s on %s for %s", req.change_id, req.cluster, ", ".join(req.purposes)
        )
        waits = "a plan approval" if req.require_plan_approval else "its policy's approvals"
        retried = (
            " again (its earlier attempt was refused: another change held the cluster)"
            if again
            else ""
        )
        return AutoRenewOutcome(
            status="started",
            change_id=req.change_id,
            purposes=req.purposes,
            detail=f"started {req.change_id}{retried}; it waits for {waits}",
        )

    async def _refused_before(self, change_id: str) -> bool:
        """Whether the latest run of ``change_id`` was refused by its cluster's lock (it
        wrote nothing: the id may run again)."""
        handle = self._client.get_workflow_handle(change_id)
        try:
            desc = await handle.describe()
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                return False
            raise
        if desc.status != WorkflowExecutionStatus.FAILED:
            return False
        return await stop_type(handle) == CLUSTER_BUSY
