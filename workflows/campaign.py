"""CampaignWorkflow: renew one or more purposes across many clusters, a child renewal each.

The clusters are resolved once, at the start, from the inventory (by name, tag or release,
``workflows.campaigns``) and recorded in the campaign's state. At most ``limit`` child
:class:`~workflows.renewal.CertRenewalWorkflow` run at once, with ids
``<campaign>-<cluster>``; each waits for its approvals and its cluster's maintenance windows
as any renewal does (a renewal waiting for its window holds its slot).

A **busy** cluster (one with a running renewal, or whose renewal its cluster's lock refused
with ``ClusterBusy``: another change holds it, perhaps under another inventory name) is never
a failure: ucrenew never runs two renewals on one cluster, so the campaign waits for it. The
cluster goes back to pending and is tried again ``busy_retry_seconds`` later, when the limit
leaves it a slot and the campaign is not paused; once a retry would fall after
``busy_wait_seconds`` from the campaign's start (its end for busy clusters), the cluster is
skipped, naming the change that kept it busy. Campaigns recorded before patch
``campaign-waits-for-busy`` skip a busy cluster at once.

The campaign pauses by itself once ``stop_after_failures`` renewals failed since it started
or was last resumed, and tells people (notification event ``campaign-paused``, through the
channels of the cluster whose failure paused it that get that event, since patch
``campaign-pause-notifies``; the start is in its audit); an operator may pause, resume or
abort it (updates carrying who and why, in its audit). Pausing and aborting never touch
running renewals (their parent close policy is ABANDON: they outlive the campaign), except
``abort`` with ``cancel_running``, which cancels them and waits until they have ended. A long
campaign hands over to a new run (continue-as-new, carrying its state) after
``children_per_run`` renewals or when Temporal suggests it; it lets its running renewals end
first, since a new run cannot await children of the old one.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.exceptions import (
    ApplicationError,
    CancelledError,
    ChildWorkflowError,
    WorkflowAlreadyStartedError,
)
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from activities.cluster_models import OtherRenewalsRequest
    from activities.fleet import FleetActivities
    from activities.fleet_models import FleetInventoryRequest
    from activities.registry import RegistryActivities
    from workflows import campaigns, policies
    from workflows.campaign_models import (
        TERMINAL_CAMPAIGN_PHASES,
        CampaignAction,
        CampaignCluster,
        CampaignInput,
        CampaignState,
        CampaignStatus,
    )
    from workflows.campaign_notify import pause_notifier
    from workflows.cluster_lock import BUSY as CLUSTER_BUSY
    from workflows.models import RenewalInput
    from workflows.renewal import CertRenewalWorkflow
    from workflows.steps import RenewalStopped, run_activity
    from workflows.ui_metadata import static_details, static_summary

__all__ = ["BUSY_WAIT_PATCH", "CHILD_METADATA_PATCH", "CampaignWorkflow"]

#: Since this patch a busy cluster is waited for (tried again later), not skipped at once.
BUSY_WAIT_PATCH = "campaign-waits-for-busy"
#: Since this patch a child renewal carries a renewal's static summary and details.
CHILD_METADATA_PATCH = "campaign-child-ui-metadata"


@workflow.defn
class CampaignWorkflow:
    """One campaign; the workflow id is the campaign id."""

    @workflow.init
    def __init__(self, inp: CampaignInput) -> None:
        self._input = inp
        self._state = inp.state.model_copy(deep=True) if inp.state else CampaignState()
        self._resolved = inp.state is not None
        self._finished_at: datetime | None = None
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._wake = False
        self._notifier = pause_notifier(inp)

    @workflow.run
    async def run(self, inp: CampaignInput) -> CampaignStatus:
        """Run the campaign to its end (every cluster done, failed or skipped) or its abort."""
        state = self._state
        if not self._resolved:
            await self._resolve()
        started_this_run = 0
        while True:
            if state.aborted:
                await self._wind_down()
                break
            handing_over = (
                started_this_run >= inp.children_per_run
                or workflow.info().is_continue_as_new_suggested()
            )
            if not handing_over:
                for cluster in campaigns.next_to_start(state, inp.limit, workflow.now()):
                    cluster.state = "running"
                    cluster.started_at = workflow.now()
                    cluster.retry_at = None
                    self._tasks[cluster.cluster] = asyncio.create_task(self._renew(cluster))
                    started_this_run += 1
            counts = campaigns.counts(state)
            self._show_progress()
            if counts.pending == 0 and counts.running == 0:
                break
            if handing_over and counts.running == 0:
                await self._notifier.settled()
                await workflow.wait_condition(workflow.all_handlers_finished)
                if not state.aborted:
                    state.runs += 1
                    workflow.continue_as_new(inp.model_copy(update={"state": state}))
                continue
            self._wake = False
            await self._wait_for_wake()
        self._finished_at = workflow.now()
        self._show_progress()
        await self._notifier.settled()
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self.get_status()

    async def _wait_for_wake(self) -> None:
        """Until something changes (a renewal ended, an operator acted), or the earliest busy
        cluster may be tried again."""
        retry = campaigns.next_retry(self._state)
        if retry is None:
            await workflow.wait_condition(lambda: self._wake)
            return
        delay = max(retry - workflow.now(), timedelta(seconds=1))
        with contextlib.suppress(TimeoutError):
            await workflow.wait_condition(
                lambda: self._wake, timeout=delay, timeout_summary="try busy clusters again"
            )

    async def _resolve(self) -> None:
        """Record the campaign's clusters from the inventory, once."""
        state = self._state
        state.started_at = workflow.now()
        selection = self._input.selection
        try:
            inventory = await run_activity(
                FleetActivities.fleet_inventory,
                FleetInventoryRequest(),
                policies.FLEET_LOOKUP,
                summary=f"clusters of campaign {self._input.campaign_id}",
            )
        except RenewalStopped as stop:
            raise ApplicationError(
                f"campaign {self._input.campaign_id}: the inventory could not be read: "
                f"{stop.message}",
                type=stop.error_type,
                non_retryable=True,
            ) from None
        state.clusters, state.not_found = campaigns.select_clusters(inventory.targets, selection)
        self._resolved = True
        campaigns.audit(
            state,
            workflow.now(),
            self._input.requested_by,
            "started",
            f"{len(state.clusters)} cluster(s) selected by {selection.describe()}"
            + (f"; not in the inventory: {', '.join(state.not_found)}" if state.not_found else ""),
        )

    async def _wind_down(self) -> None:
        """After an abort: pending clusters are skipped; running renewals are cancelled and
        awaited if asked, otherwise left running (they outlive the campaign)."""
        state = self._state
        for cluster in state.clusters:
            if cluster.state == "pending":
                cluster.state = "skipped"
                cluster.error = f"campaign aborted: {state.abort_reason}" + (
                    f" (it waited: {cluster.waiting})" if cluster.waiting else ""
                )
                cluster.retry_at = None
        running = [self._tasks[c.cluster] for c in state.clusters if c.state == "running"]
        if not state.cancel_running:
            for cluster in state.clusters:
                if cluster.state == "running":
                    cluster.error = "left running by the campaign's abort: see its renewal"
        if state.cancel_running:
            for task in running:
                task.cancel()
            await asyncio.gather(*running, return_exceptions=True)

    async def _renew(self, cluster: CampaignCluster) -> None:
        """One cluster's renewal, from the check for another change to its end."""
        inp = self._input
        change_id = campaigns.child_id(inp.campaign_id, cluster.cluster)
        cluster.change_id = change_id
        try:
            await self._run_child(cluster, change_id)
        except (asyncio.CancelledError, CancelledError):
            if cluster.state == "running":
                self._cancelled(cluster)
        finally:
            self._wake = True

    def _cancelled(self, cluster: CampaignCluster) -> None:
        self._finish(
            cluster,
            error=f"cancelled by the campaign's abort ({self._state.abort_reason})",
            error_type="Cancelled",
        )

    def _finish(self, cluster: CampaignCluster, *, error: str = "", error_type: str = "") -> None:
        """Record how the cluster's renewal ended; tell people when that paused the campaign
        (its stop rule)."""
        state = self._state
        paused_before = state.paused
        campaigns.finish_child(
            state,
            cluster,
            workflow.now(),
            self._input.stop_after_failures,
            error=error,
            error_type=error_type,
        )
        if state.paused and not paused_before:
            self._notifier.campaign_paused(state, cluster)

    def _busy(self, cluster: CampaignCluster, why: str) -> None:
        """Another change keeps the cluster busy: wait for it (try again later) or, past the
        campaign's end for busy clusters, skip it naming the change."""
        inp = self._input
        may_wait = (
            inp.busy_wait_seconds > 0
            and not self._state.aborted
            and workflow.patched(BUSY_WAIT_PATCH)
        )
        campaigns.busy_found(
            self._state,
            cluster,
            workflow.now(),
            why,
            retry_seconds=inp.busy_retry_seconds,
            wait_seconds=inp.busy_wait_seconds,
            may_wait=may_wait,
        )

    async def _run_child(self, cluster: CampaignCluster, change_id: str) -> None:
        inp = self._input
        state = self._state
        try:
            others = await run_activity(
                RegistryActivities.find_other_renewals,
                OtherRenewalsRequest(cluster=cluster.cluster, exclude_change_id=change_id),
                policies.REGISTRY,
                summary=f"renewals running on {cluster.cluster}",
            )
        except RenewalStopped as stop:
            self._finish(
                cluster,
                error=f"could not check for other renewals: {stop.message}",
                error_type=stop.error_type,
            )
            return
        if others.change_ids:
            self._busy(cluster, f"{', '.join(others.change_ids)} is running on {cluster.cluster}")
            return
        cluster.waiting = ""
        renewal = RenewalInput(
            change_id=change_id,
            cluster=cluster.cluster,
            purposes=list(inp.purposes),
            ca=inp.ca,
            ca_name=inp.ca_name,
            ca_template=inp.ca_template,
            requested_by=inp.requested_by,
            options=inp.options,
        )
        summary = f"campaign {inp.campaign_id}: {', '.join(inp.purposes)} on {cluster.cluster}"
        details: str | None = None
        if workflow.patched(CHILD_METADATA_PATCH):
            # What `ucrenew start` gives a renewal, and which campaign started it.
            summary = f"{static_summary(renewal)} · campaign {inp.campaign_id}"
            details = f"{static_details(renewal, inp.base_url)}\n\n**Campaign** {inp.campaign_id}"
        try:
            handle = await workflow.start_child_workflow(
                CertRenewalWorkflow.run,
                renewal,
                id=change_id,
                parent_close_policy=ParentClosePolicy.ABANDON,
                static_summary=summary,
                static_details=details,
            )
        except WorkflowAlreadyStartedError:
            cluster.state = "skipped"
            cluster.finished_at = workflow.now()
            cluster.error = f"a change with id {change_id} already exists: skipped"
            return
        cluster.run_id = handle.first_execution_run_id or ""
        try:
            await handle
        except ChildWorkflowError as err:
            cause = err.cause
            if isinstance(cause, ApplicationError):
                message, kind = cause.message, cause.type or "ApplicationError"
            elif isinstance(cause, CancelledError):
                if state.aborted:
                    self._cancelled(cluster)
                    return
                message, kind = "the renewal was cancelled", "Cancelled"
            else:
                message = str(cause or err)
                kind = type(cause).__name__ if cause else "ChildWorkflowError"
            if kind == CLUSTER_BUSY:
                # Another change holds the cluster (perhaps under another inventory name):
                # busy, like a renewal found running before the start, not a failure.
                self._busy(cluster, message or "another change holds the cluster")
                return
            self._finish(cluster, error=message or kind, error_type=kind)
            return
        self._finish(cluster)

    def _show_progress(self) -> None:
        c = campaigns.counts(self._state)
        paused = " · **paused**" if self._state.paused else ""
        busy = f" ({c.busy} waiting for another change)" if c.busy else ""
        workflow.set_current_details(
            f"**Campaign** {c.done} done, {c.failed} failed, {c.skipped} skipped, "
            f"{c.running} running, {c.pending} pending{busy} of {c.total}{paused}"
        )

    # -- operators ------------------------------------------------------------------------

    @workflow.query
    def get_status(self) -> CampaignStatus:
        """Progress per cluster, counts, failures, the pause reason and the audit."""
        return campaigns.status_of(
            self._input, self._state, resolved=self._resolved, finished_at=self._finished_at
        )

    def _check_open(self, action: CampaignAction) -> None:
        if not action.principal.strip() or not action.reason.strip():
            raise ApplicationError(
                "say who you are and why (principal and reason)", type="BadCampaignAction"
            )
        phase = self.get_status().phase
        if phase in TERMINAL_CAMPAIGN_PHASES or self._finished_at is not None:
            raise ApplicationError(f"the campaign has ended ({phase})", type="CampaignFinished")
        if self._state.aborted:
            raise ApplicationError("the campaign is being aborted", type="CampaignFinished")

    @workflow.update
    async def pause(self, action: CampaignAction) -> CampaignStatus:
        """Start no more renewals until resumed; running renewals go on."""
        self._state.paused = True
        self._state.paused_reason = f"paused by {action.principal}: {action.reason}"
        campaigns.audit(self._state, workflow.now(), action.principal, "paused", action.reason)
        self._wake = True
        return self.get_status()

    @pause.validator
    def _validate_pause(self, action: CampaignAction) -> None:
        self._check_open(action)
        if self._state.paused:
            raise ApplicationError(
                f"the campaign is already paused ({self._state.paused_reason})",
                type="CampaignPaused",
            )

    @workflow.update
    async def resume(self, action: CampaignAction) -> CampaignStatus:
        """Start renewals again; the stop rule counts failures from here."""
        self._state.paused = False
        self._state.paused_reason = ""
        self._state.failures_since_resume = 0
        campaigns.audit(self._state, workflow.now(), action.principal, "resumed", action.reason)
        self._wake = True
        return self.get_status()

    @resume.validator
    def _validate_resume(self, action: CampaignAction) -> None:
        self._check_open(action)
        if not self._state.paused:
            raise ApplicationError("the campaign is not paused", type="CampaignNotPaused")

    @workflow.update
    async def abort(self, action: CampaignAction) -> CampaignStatus:
        """End the campaign: pending clusters are skipped; running renewals go on unless
        ``cancel_running`` (then they are cancelled and the campaign waits for their end)."""
        state = self._state
        state.aborted = True
        state.abort_reason = f"{action.principal}: {action.reason}"
        state.cancel_running = action.cancel_running
        verb = "aborted (cancelling running renewals)" if action.cancel_running else "aborted"
        campaigns.audit(state, workflow.now(), action.principal, verb, action.reason)
        self._wake = True
        return self.get_status()

    @abort.validator
    def _validate_abort(self, action: CampaignAction) -> None:
        self._check_open(action)
