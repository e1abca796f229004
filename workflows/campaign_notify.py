"""The notification a campaign sends when its stop rule pauses it (workflow code only).

Like a renewal's notifications (``workflows.notifications``), each is a
:class:`~workflows.notifications.NotificationWorkflow` child started with
``ParentClosePolicy.ABANDON`` and a deterministic id, so delivery (routing, retries, a
receiver that does not answer) never delays the campaign, a replay starts nothing twice, and
receivers get the id to drop a repeated delivery. The event is ``campaign-paused``; it goes to
the channels of the cluster whose failure paused the campaign that get that event, as the
inventory says at delivery (notifications are configured per cluster, top-level by default).
The campaign's audit records each start. Campaigns recorded before patch
``campaign-pause-notifies`` send nothing.
"""

from __future__ import annotations

import asyncio

from temporalio import workflow
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from activities.clients.notify.models import NotificationEvent
    from workflows import campaigns
    from workflows.campaign_models import CampaignCluster, CampaignInput, CampaignState
    from workflows.notifications import NotificationWorkflow

__all__ = ["PAUSE_NOTIFY_PATCH", "CampaignPauseNotifier", "pause_notifier"]

#: Since this patch a stop-rule pause starts a ``campaign-paused`` notification.
PAUSE_NOTIFY_PATCH = "campaign-pause-notifies"


class CampaignPauseNotifier:
    """Starts a campaign's ``campaign-paused`` notifications and waits for their starts.

    Args:
        inp: The campaign's input (its id and purposes).
    """

    def __init__(self, inp: CampaignInput) -> None:
        self._inp = inp
        self._starts: list[asyncio.Task[None]] = []

    def campaign_paused(self, state: CampaignState, cluster: CampaignCluster) -> None:
        """The stop rule paused the campaign after ``cluster`` failed: tell people (not
        awaited; :meth:`settled` waits for the start)."""
        if not workflow.patched(PAUSE_NOTIFY_PATCH):
            return
        cid = self._inp.campaign_id
        failed = [c for c in state.clusters if c.state == "failed"]
        event = NotificationEvent(
            id=f"{cid}.notify.{workflow.info().run_id}.{len(state.audit):03d}.campaign-paused",
            kind="campaign-paused",
            change_id=cid,
            cluster=cluster.cluster,
            purposes=list(self._inp.purposes),
            phase="paused",
            occurred_at=workflow.now(),
            summary=f"Campaign {cid} paused itself: {state.paused_reason}. Renewals already "
            "running go on; no more start until it is resumed.",
            asked=f"An operator: look at the failures (`ucrenew campaign show {cid}`), then "
            f"resume it (`ucrenew campaign resume {cid} --reason ...`) or abort it "
            f"(`ucrenew campaign abort {cid} --reason ...`).",
            details=[f"failed: {c.cluster} ({c.error_type}): {c.error}" for c in failed[-10:]],
        )
        self._starts.append(asyncio.create_task(self._start(state, event)))

    async def _start(self, state: CampaignState, event: NotificationEvent) -> None:
        try:
            await workflow.start_child_workflow(
                NotificationWorkflow.run,
                event,
                id=event.id,
                parent_close_policy=ParentClosePolicy.ABANDON,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                static_summary=f"notify: campaign {event.change_id} paused",
            )
        except WorkflowAlreadyStartedError:
            workflow.logger.info("notification %s was already started", event.id)
            return
        campaigns.audit(
            state,
            workflow.now(),
            "campaign",
            "notified",
            f"campaign-paused sent to the channels of {event.cluster} that get it "
            f"(notification {event.id})",
        )

    async def settled(self) -> None:
        """Wait until every notification started so far has started (before the run ends or
        continues as new: an abandoned child outlives its parent only once it started)."""
        while self._starts:
            pending, self._starts = self._starts, []
            await asyncio.gather(*pending)


def pause_notifier(inp: CampaignInput) -> CampaignPauseNotifier:
    """The notifier of the campaign ``inp``."""
    return CampaignPauseNotifier(inp)
