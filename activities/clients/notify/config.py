"""The inventory's ``notifications:`` block: channels, which events each gets, thresholds.

A top-level block gives the defaults; a cluster's own block overrides them field by field
(a cluster that names ``channels`` replaces the default channels). Every secret is a
reference (``env:NAME``, ``file:PATH``): the Teams and Slack webhook URLs (they embed a
secret), the Webex token or incoming-webhook URL, the generic webhook's HMAC key, the SMTP
password. docs/inventory.md documents the block.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal, Self, get_args
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    model_validator,
)

from activities.clients.notify.models import NotificationKind, NotificationPolicy
from activities.clients.secrets import SecretRef

__all__ = [
    "Channel",
    "EmailChannel",
    "NotificationSettings",
    "NotificationsEntry",
    "SlackChannel",
    "TeamsChannel",
    "WebexChannel",
    "WebhookChannel",
    "effective_settings",
    "parse_duration",
]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNIT = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(value: object) -> float:
    """Seconds from ``90`` (seconds), ``'45s'``, ``'30m'``, ``'72h'`` or ``'3d'``.

    Raises:
        ValueError: anything else, or a duration that is not positive.
    """
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 30m, 72h or 3d")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and (m := _DURATION.match(value.lower())):
        seconds = float(m.group(1)) * _UNIT[m.group(2)]
    else:
        raise ValueError("expected a duration such as 30m, 72h or 3d (or a number of seconds)")
    if seconds <= 0:
        raise ValueError("a duration must be more than zero")
    return seconds


Duration = Annotated[float, BeforeValidator(parse_duration)]
"""Seconds, written as a number or as ``30m``, ``72h``, ``3d``."""


def _notice(value: object) -> float:
    # 0 is a valid notice (tell when the window opens), unlike the other durations.
    if value == 0 or value == "0":
        return 0.0
    return parse_duration(value)


def _http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("expected an http:// or https:// URL")
    return value


HttpUrl = Annotated[str, BeforeValidator(lambda v: _http_url(v) if isinstance(v, str) else v)]


class _Channel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, description="how logs and reports name the channel")
    events: list[NotificationKind] | None = Field(
        default=None, description="the events this channel gets; all when left out"
    )
    timeout_seconds: float = Field(default=15.0, gt=0, le=300, description="per attempt")

    def wants(self, kind: str) -> bool:
        """Whether this channel gets events of ``kind`` (every channel gets ``test``)."""
        return self.events is None or kind in self.events or kind == "test"


class WebhookChannel(_Channel):
    """A generic JSON webhook: ``POST url`` with the documented body, signed with HMAC-SHA256
    under ``secret`` (header ``X-Ucrenew-Signature``)."""

    kind: Literal["webhook"]
    url: HttpUrl
    secret: SecretRef = Field(description="the HMAC key, by reference")


class TeamsChannel(_Channel):
    """Microsoft Teams: a Workflows ("Post to a channel when a webhook request is received")
    or incoming-webhook URL, sent an Adaptive Card message. The URL embeds a secret."""

    kind: Literal["teams"]
    url: SecretRef = Field(description="the webhook URL, by reference")


class SlackChannel(_Channel):
    """Slack incoming webhook, sent a Block Kit message. The URL embeds a secret."""

    kind: Literal["slack"]
    url: SecretRef = Field(description="the webhook URL, by reference")


class WebexChannel(_Channel):
    """Webex: the Messages API with a bot token to a room or a person, or an incoming
    webhook URL (by reference)."""

    kind: Literal["webex"]
    token: SecretRef | None = Field(default=None, description="bot access token, by reference")
    room_id: str | None = None
    to_person_email: str | None = None
    api_url: HttpUrl = "https://webexapis.com/v1"
    url: SecretRef | None = Field(default=None, description="incoming webhook URL, by reference")

    @model_validator(mode="after")
    def _one_way(self) -> Self:
        if self.url is not None:
            if self.token is not None or self.room_id or self.to_person_email:
                raise ValueError(
                    "give either url (an incoming webhook) or token with room_id or "
                    "to_person_email (the Messages API), not both"
                )
            return self
        if self.token is None:
            raise ValueError("give token (a bot token reference) or url (an incoming webhook)")
        if bool(self.room_id) == bool(self.to_person_email):
            raise ValueError("with token, give exactly one of room_id and to_person_email")
        return self


class EmailChannel(_Channel):
    """E-mail over SMTP: ``security`` is ``starttls`` (port 587), ``tls`` (implicit TLS,
    port 465) or ``none`` (port 25, a relay on a trusted network only)."""

    kind: Literal["email"]
    host: str = Field(min_length=1)
    port: int | None = Field(default=None, ge=1, le=65535)
    security: Literal["starttls", "tls", "none"] = "starttls"
    ca_file: str | None = Field(
        default=None, description="PEM bundle the SMTP server's certificate chains to"
    )
    username: str | None = None
    password: SecretRef | None = None
    sender: str = Field(min_length=3)
    recipients: list[str] = Field(min_length=1)

    @model_validator(mode="after")
    def _credentials(self) -> Self:
        if (self.username is None) != (self.password is None):
            raise ValueError("give username and password together (or neither)")
        if self.password is not None and self.security == "none":
            raise ValueError("a password is never sent without TLS: use starttls or tls")
        for address in [self.sender, *self.recipients]:
            if "@" not in address:
                raise ValueError("sender and recipients must be e-mail addresses")
        return self

    @property
    def effective_port(self) -> int:
        """The port given, else the usual one for ``security``."""
        if self.port is not None:
            return self.port
        return {"starttls": 587, "tls": 465, "none": 25}[self.security]


def _kind_of(value: object) -> object:
    return value.get("kind") if isinstance(value, dict) else getattr(value, "kind", None)


Channel = Annotated[
    Annotated[WebhookChannel, Tag("webhook")]
    | Annotated[TeamsChannel, Tag("teams")]
    | Annotated[SlackChannel, Tag("slack")]
    | Annotated[WebexChannel, Tag("webex")]
    | Annotated[EmailChannel, Tag("email")],
    Discriminator(
        _kind_of,
        custom_error_type="channel_kind",
        custom_error_message="kind must be webhook, teams, slack, webex or email",
    ),
]
"""One channel, by ``kind``: webhook, teams, slack, webex or email."""


class NotificationsEntry(BaseModel):
    """A ``notifications:`` block (top level: the defaults; in a cluster: its overrides).

    Attributes:
        channels: Where notifications go (a cluster's list replaces the default one).
        ca_wait_threshold: How long the CA may take before ``ca-wait`` is sent (default 48h).
        window_notice: How long before a waited-for maintenance window opens
            ``window-opening`` is sent (default 0: when it opens).
        delivery_retry_for: How long a failing channel is retried (default 1h); then the
            notification is given up and logged.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    channels: list[Channel] | None = None
    ca_wait_threshold: Duration | None = None
    window_notice: Annotated[float, BeforeValidator(_notice)] | None = None
    delivery_retry_for: Duration | None = None

    @model_validator(mode="after")
    def _unique_names(self) -> Self:
        names = [c.name for c in self.channels or []]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"channel names must be unique: {', '.join(twice)}")
        return self


class NotificationSettings(BaseModel):
    """A cluster's notification settings, defaults and overrides merged."""

    model_config = ConfigDict(frozen=True)

    channels: list[Channel] = Field(default_factory=list)
    ca_wait_threshold_seconds: float = 48 * 3600.0
    window_notice_seconds: float = 0.0
    delivery_retry_for_seconds: float = 3600.0

    def channel(self, name: str) -> Channel | None:
        """The channel named ``name``, or None."""
        return next((c for c in self.channels if c.name == name), None)

    def routes(self, kind: str) -> list[str]:
        """The names of the channels that get events of ``kind``."""
        return [c.name for c in self.channels if c.wants(kind)]

    def policy(self) -> NotificationPolicy:
        """What the renewal needs: the events any channel gets and the CA threshold."""
        wanted = {k for c in self.channels for k in (c.events or _ALL)}
        return NotificationPolicy(
            events=[k for k in _ALL if k in wanted],
            ca_wait_threshold_seconds=self.ca_wait_threshold_seconds,
            window_notice_seconds=self.window_notice_seconds,
        )


#: The events a renewal emits (``test`` is ``ucrenew notify-test``'s only).
_ALL: tuple[NotificationKind, ...] = tuple(k for k in get_args(NotificationKind) if k != "test")


def effective_settings(
    defaults: NotificationsEntry | None, cluster: NotificationsEntry | None
) -> NotificationSettings:
    """The cluster's settings: its own fields where given, else the top-level ones."""
    merged = NotificationSettings()
    updates: dict[str, object] = {}
    for entry in (defaults, cluster):
        if entry is None:
            continue
        if entry.channels is not None:
            updates["channels"] = list(entry.channels)
        if entry.ca_wait_threshold is not None:
            updates["ca_wait_threshold_seconds"] = entry.ca_wait_threshold
        if entry.window_notice is not None:
            updates["window_notice_seconds"] = entry.window_notice
        if entry.delivery_retry_for is not None:
            updates["delivery_retry_for_seconds"] = entry.delivery_retry_for
    return merged.model_copy(update=updates)
