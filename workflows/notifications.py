"""Notifications of a renewal: the events it emits, and the workflow that delivers each.

**Why a child workflow per event.** The renewal starts a :class:`NotificationWorkflow` with
``ParentClosePolicy.ABANDON`` and waits for nothing but the start, and only before it ends:
delivery (its retries, a receiver answering 500 or not listening) never delays or fails the
change, and because the child outlives its parent the ``done`` or ``failed`` notification
still goes out after the renewal closed. An activity started and not awaited would not: the
server drops a closed workflow's pending activities. The child's id is deterministic
(change, run, sequence number, event), so a replay or a worker restart issues no second
start, the same id cannot run twice (``REJECT_DUPLICATE``), and receivers get it as the
delivery id to drop a repeated delivery.

**What is emitted**, only for the events some channel of the cluster subscribes to
(``ChangePolicy.notifications``): ``approval-needed`` (a gate opens), ``ca-wait`` (a timer
of ``ca_wait_threshold`` from the moment the change starts waiting for the CA, cancelled
when the certificate arrives: no polling), ``window-opening`` (the change waited for its
maintenance window and it opened), ``question`` (stale CSR, health gate, window closing,
failed node step, SSO to re-enable), ``sso-left-disabled``, ``failed``, ``cancelled`` and
``done``. Changes started before patch ``notifications`` emit nothing.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import ActivityError, ApplicationError, WorkflowAlreadyStartedError
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from activities.clients.notify.models import (
        DeliveryRequest,
        NotificationEvent,
        NotificationKind,
        NotificationPolicy,
        NotificationReport,
        RoutesRequest,
    )
    from activities.notify import NotifyActivities
    from workflows import policies
    from workflows.models import Awaiting, Phase, RenewalStatus

PATCH = "notifications"

_TERMINAL = ("done", "failed", "cancelled")


def _duration(seconds: float) -> str:
    if seconds >= 86400 and seconds % 3600 == 0:
        days, hours = divmod(int(seconds) // 3600, 24)
        return f"{days} d" + (f" {hours} h" if hours else "")
    if seconds >= 3600:
        return f"{seconds / 3600:g} h"
    if seconds >= 60:
        return f"{seconds / 60:g} min"
    return f"{seconds:g} s"


class Notifier:
    """Emits a change's notification events (workflow code only).

    Args:
        status: The change's status (cluster, change id, phase and question are read here).
    """

    def __init__(self, status: RenewalStatus) -> None:
        self._status = status
        #: Set from ``workflow.patched(PATCH)`` when the run starts.
        self.enabled = False
        self._policy = NotificationPolicy()
        #: Whether the cluster's policy was read (a change can stop before it is).
        self.configured = False
        self._seq = 0
        self._starts: list[asyncio.Task[None]] = []
        self._ca_timer: asyncio.Task[None] | None = None
        #: The window the change waits for was already announced (a notice before it).
        self._window_told = False

    def configure(self, policy: NotificationPolicy) -> None:
        """The cluster's subscribed events and CA threshold (from its change policy)."""
        self._policy = policy
        self.configured = True

    def wants(self, kind: NotificationKind) -> bool:
        """Whether an event of ``kind`` would be emitted."""
        return self.enabled and kind in self._policy.events

    def emit(
        self,
        kind: NotificationKind,
        summary: str,
        asked: str = "",
        details: list[str] | None = None,
    ) -> None:
        """Start the notification workflow for one occurrence of ``kind`` (not awaited)."""
        if not self.wants(kind):
            return
        self._seq += 1
        status = self._status
        info = workflow.info()
        event = NotificationEvent(
            id=f"{status.change_id}.notify.{info.run_id}.{self._seq:03d}.{kind}",
            kind=kind,
            change_id=status.change_id,
            cluster=status.cluster,
            purposes=list(status.purposes),
            phase=status.phase,
            occurred_at=workflow.now(),
            summary=summary,
            asked=asked,
            details=details or [],
        )
        self._starts.append(asyncio.create_task(self._start(event)))

    async def _start(self, event: NotificationEvent) -> None:
        try:
            await workflow.start_child_workflow(
                NotificationWorkflow.run,
                event,
                id=event.id,
                parent_close_policy=ParentClosePolicy.ABANDON,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            )
        except WorkflowAlreadyStartedError:
            workflow.logger.info("notification %s was already started", event.id)

    async def settled(self) -> None:
        """Wait until every notification emitted so far has started (before the run ends:
        an abandoned child outlives its parent only once it started)."""
        self.ca_wait_ended()
        while self._starts:
            pending, self._starts = self._starts, []
            await asyncio.gather(*pending)

    # -- transitions the ledger reports -------------------------------------------------------

    def awaiting_changed(self, phase: Phase, before: Awaiting, now: Awaiting) -> None:
        """What the change waits for changed: questions, the CA timer, the window."""
        if not self.enabled:
            return
        status = self._status
        if before == "ca":
            self.ca_wait_ended()
        if before == "window" and self._window_told:
            self._window_told = False
        elif before == "window" and phase not in _TERMINAL:
            self.emit(
                "window-opening",
                f"The maintenance window is open: {status.cluster} starts the phone-impacting "
                f"part of {status.change_id} now ({phase}).",
                asked="The voice team: watch phones re-register; ucrenew asks if they do not.",
            )
        if now == "ca":
            self.ca_wait_started()
        elif now == "operator":
            self.emit(
                "question",
                f"{status.change_id} on {status.cluster} is waiting for an answer: "
                f"{status.question or 'see the renewal'}",
                asked=f"An operator: answer with `ucrenew decide {status.change_id} <choice>` "
                "or on the renewal page.",
            )
        elif now == "sso-confirm":
            self.emit(
                "question",
                f"The certificates of {status.change_id} are in place on {status.cluster}; "
                "ucrenew disabled SAML SSO for the uploads and waits for it to be re-enabled.",
                asked="A CUCM administrator: re-enable SAML SSO in Cisco Unified CM "
                "Administration > System > SAML Single Sign-On, then confirm with "
                f"`ucrenew confirm-sso {status.change_id}`.",
            )

    def window_notice(self, until_open: timedelta) -> timedelta | None:
        """How long before the window opens to tell (at most ``until_open``); None: tell
        when it opens (no notice configured, or nobody gets the event)."""
        if not self.wants("window-opening") or self._policy.window_notice_seconds <= 0:
            return None
        return min(timedelta(seconds=self._policy.window_notice_seconds), until_open)

    def window_soon(self, opens: datetime, label: str) -> None:
        """The window the change waits for opens at ``opens``: tell now, not again then."""
        status = self._status
        name = f" {label}" if label else ""
        self._window_told = True
        self.emit(
            "window-opening",
            f"The maintenance window{name} opens {opens:%Y-%m-%d %H:%M} UTC: {status.cluster} "
            f"starts the phone-impacting part of {status.change_id} then.",
            asked="The voice team: be ready to watch phones re-register; ucrenew asks if "
            "they do not.",
        )

    def approval_needed(self, gate: str, groups: list[str], required: int, bound: str) -> None:
        """An approval gate opened."""
        status = self._status
        who = (
            f"{required} approver(s) from {', '.join(groups)}"
            if groups
            else f"{required} approver(s)"
        )
        self.emit(
            "approval-needed",
            f"{status.change_id} on {status.cluster} waits at the {gate} approval gate.",
            asked=f"{who}, not the requester {status.requested_by}: review and approve or "
            f"reject (`ucrenew approve {status.change_id}`).",
            details=[f"bound to {bound}"],
        )

    # -- the CA threshold timer ------------------------------------------------------------------

    def ca_wait_started(self) -> None:
        """The change waits for the CA: a timer of the threshold (no polling)."""
        if self.wants("ca-wait") and self._ca_timer is None:
            self._ca_timer = asyncio.create_task(
                self._ca_overdue(self._policy.ca_wait_threshold_seconds)
            )

    def ca_wait_ended(self) -> None:
        """The certificate arrived (or the change ended): the timer is cancelled."""
        timer, self._ca_timer = self._ca_timer, None
        if timer is not None and not timer.done():
            timer.cancel()

    async def _ca_overdue(self, seconds: float) -> None:
        try:
            await workflow.sleep(timedelta(seconds=seconds), summary="notify: CA wait threshold")
        except asyncio.CancelledError:
            return
        status = self._status
        manual = status.ca == "manual"
        ref = f" (request {status.ca_request_ref})" if status.ca_request_ref else ""
        self.emit(
            "ca-wait",
            f"{status.change_id} on {status.cluster} has waited {_duration(seconds)} for its "
            f"signed certificate from the {status.ca} CA{ref}.",
            asked=(
                "Whoever handles the manual CA: get the CSR signed "
                f"(`ucrenew ca-request {status.change_id}`) and submit it "
                f"(`ucrenew submit-cert {status.change_id}`)."
                if manual
                else "The CA's administrators: issue the pending request; then "
                f"`ucrenew ca-check {status.change_id}` picks it up at once."
            ),
        )


@workflow.defn
class NotificationWorkflow:
    """Deliver one notification event to every channel of its cluster that gets it.

    Each channel is tried on its own, retried with backoff for the configured time; a
    channel that gives up is in this workflow's result and the worker's log, never in the
    renewal's outcome.
    """

    @workflow.run
    async def run(self, event: NotificationEvent) -> NotificationReport:
        """Route, deliver, report."""
        report = NotificationReport(event_id=event.id, kind=event.kind)
        try:
            routes = await workflow.execute_activity_method(
                NotifyActivities.notification_routes,
                RoutesRequest(cluster=event.cluster, kind=event.kind, channel=event.channel),
                **policies.NOTIFY_ROUTES.kwargs(),
            )
        except ActivityError as err:
            report.error = f"could not look up the channels: {err.cause or err}"
            workflow.logger.warning("notification %s: %s", event.id, report.error)
            return report
        policy = policies.notify_delivery_policy(routes.retry_for_seconds)

        async def one(channel: str) -> None:
            try:
                result = await workflow.execute_activity_method(
                    NotifyActivities.deliver_notification,
                    DeliveryRequest(channel=channel, event=event),
                    **policy.kwargs(),
                )
            except ActivityError as err:
                cause = err.cause
                reason = cause.message if isinstance(cause, ApplicationError) else str(cause or err)
                report.undelivered[channel] = reason or "gave up"
                workflow.logger.warning(
                    "notification %s (%s) not delivered to %s: %s",
                    event.id,
                    event.kind,
                    channel,
                    report.undelivered[channel],
                )
                return
            report.delivered.append(result.channel)

        await asyncio.gather(*(one(c) for c in routes.channels))
        return report
