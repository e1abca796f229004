"""The notification events a renewal emits and what the delivery activities exchange.

Plain data: the renewal workflow builds a :class:`NotificationEvent` (no secrets, no URLs),
the notification workflow asks which channels get it and hands it to each.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final, Literal, get_args

from pydantic import AwareDatetime, BaseModel, Field

NotificationKind = Literal[
    "approval-needed",
    "ca-wait",
    "window-opening",
    "question",
    "sso-left-disabled",
    "failed",
    "cancelled",
    "done",
    "campaign-paused",
    "test",
]
"""What happened: an approval gate opened, the CA has taken longer than the threshold, the
maintenance window opened, an operator is asked a question (stale CSR, health gate, window,
failed node step, SSO re-enable), the change ended with SSO still disabled, failed, was
cancelled, or is done; ``campaign-paused``: a campaign paused by its stop rule (sent
through the channels of the cluster whose failure paused it); ``test`` is ``ucrenew
notify-test`` checking the channels (never emitted by a renewal, sent to every channel
whatever its ``events``)."""

NOTIFICATION_KINDS: Final[tuple[str, ...]] = tuple(
    k for k in get_args(NotificationKind) if k != "test"
)
"""The events a renewal emits (every kind but ``test``)."""

#: Headline per event, as every channel shows it.
TITLES: Final[dict[str, str]] = {
    "approval-needed": "approval needed",
    "ca-wait": "still waiting for the CA",
    "window-opening": "maintenance window open",
    "question": "a question for an operator",
    "sso-left-disabled": "SAML SSO left disabled",
    "failed": "renewal failed",
    "cancelled": "renewal cancelled",
    "done": "renewal done",
    "campaign-paused": "campaign paused by its stop rule",
    "test": "test notification",
}


class NotificationEvent(BaseModel):
    """One occurrence of something people must be told about a change.

    Attributes:
        id: Deterministic per occurrence (the notification workflow's id as well): receivers
            use it to drop a repeated delivery.
        kind: What happened.
        change_id: The change (the renewal's workflow id).
        cluster: The cluster it renews.
        purposes: The certificate purposes of the change.
        phase: The renewal's phase when it happened.
        occurred_at: When it happened (workflow time, UTC).
        summary: What happened, one or two sentences.
        asked: What is asked of whom; empty when nothing is.
        details: Further lines (outstanding actions, the plan hash, ...).
        channel: Only this channel (a test); None: every channel that gets ``kind``.
    """

    id: str
    kind: NotificationKind
    change_id: str
    cluster: str
    purposes: list[str] = Field(default_factory=list)
    phase: str = ""
    occurred_at: AwareDatetime
    summary: str
    asked: str = ""
    details: list[str] = Field(default_factory=list)
    channel: str | None = Field(
        default=None, description="deliver to this channel only (ucrenew notify-test --channel)"
    )


class NotificationPolicy(BaseModel):
    """What the renewal needs of a cluster's notification settings (no channel details).

    Attributes:
        events: The events at least one channel of the cluster subscribes to; the renewal
            emits no other (an empty list: notifications are off).
        ca_wait_threshold_seconds: How long the CA may take before ``ca-wait`` is sent.
        window_notice_seconds: How long before a waited-for window opens ``window-opening``
            is sent (0: when it opens).
    """

    events: list[NotificationKind] = Field(default_factory=list)
    ca_wait_threshold_seconds: float = Field(default=48 * 3600.0, gt=0)
    window_notice_seconds: float = Field(
        default=0.0, ge=0, description="tell this long before the window opens (0: when it does)"
    )


class RoutesRequest(BaseModel):
    """Which channels of ``cluster`` get events of ``kind`` (only ``channel``, if given)."""

    cluster: str
    kind: NotificationKind
    channel: str | None = None


class NotificationRoutes(BaseModel):
    """The channels (by name) an event goes to, and how long each delivery may be retried."""

    channels: list[str] = Field(default_factory=list)
    retry_for_seconds: float = Field(default=3600.0, gt=0)


class DeliveryRequest(BaseModel):
    """Send ``event`` to the cluster's channel named ``channel``."""

    channel: str
    event: NotificationEvent


class DeliveryResult(BaseModel):
    """A delivery that arrived: which channel and what the far end answered."""

    channel: str
    detail: str


class NotificationReport(BaseModel):
    """What the notification workflow did with one event: per channel, delivered or why not."""

    event_id: str
    kind: NotificationKind
    delivered: list[str] = Field(default_factory=list)
    undelivered: dict[str, str] = Field(
        default_factory=dict, description="channel -> why it gave up (no secret values)"
    )
    error: str | None = Field(default=None, description="the channels could not be looked up")


def utc_text(at: datetime) -> str:
    """``2026-11-30 21:05 UTC``."""
    return f"{at:%Y-%m-%d %H:%M} UTC"
