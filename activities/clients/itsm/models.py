"""ITSM configuration, change records and the checks made on them (pure models and rules).

The workflow receives these models through activities; nothing here holds a secret: the
configuration names credentials by reference (:data:`~activities.clients.secrets.SecretRef`).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from datetime import datetime
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, model_validator

from activities.clients.secrets import SecretRef

ItsmKind = Literal["servicenow", "webhook"]
Outcome = Literal["done", "failed", "cancelled", "rejected"]
OUTCOMES: tuple[Outcome, ...] = ("done", "failed", "cancelled", "rejected")

#: ServiceNow's change_request states (value and label) in which work may be done.
DEFAULT_IMPLEMENT_STATES: tuple[str, ...] = ("-1", "Implement")
#: ServiceNow's close codes per outcome (sent only with a configured state change).
DEFAULT_CLOSE_CODES: dict[Outcome, str] = {
    "done": "successful",
    "failed": "unsuccessful",
    "cancelled": "unsuccessful",
    "rejected": "unsuccessful",
}


class ItsmAccount(BaseModel):
    """HTTP Basic credentials: a user name and a reference to its password."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    username: str = Field(min_length=1)
    password: SecretRef


class WriteBackRetry(BaseModel):
    """How long a write-back is retried before it is given up (and recorded in the audit)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    attempts: int = Field(default=8, ge=1, le=100)
    initial_interval_seconds: float = Field(default=5.0, gt=0)
    maximum_interval_seconds: float = Field(default=300.0, gt=0)


class ItsmMatch(BaseModel):
    """What the change record must name for this cluster (each field checked when set).

    With ServiceNow the display values are compared (the CI's name, the group's name),
    case-insensitively.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    ci: str | None = Field(default=None, description="configuration item (cmdb_ci)")
    assignment_group: str | None = None


class ItsmConfig(BaseModel):
    """The ``itsm:`` block: where the change records live and what a renewal requires of them.

    Attributes:
        kind: ``servicenow`` (Table API) or ``webhook`` (docs/itsm.md contract).
        url: ServiceNow instance (``https://example.service-now.com``) or the webhook base URL.
        credentials: ServiceNow Basic account (user + password reference).
        token: ServiceNow OAuth bearer token reference (instead of ``credentials``).
        secret: Webhook HMAC-SHA256 key reference; every request is signed with it.
        ca_file: PEM bundle the ITSM server's TLS certificate chains to (relative to the
            inventory); the system trust store when absent.
        implement_states: States (value or label, case-insensitive) that allow the work.
        require_approval: The record's ``approval`` must be ``approved``.
        check_window: The planned window must cover now and the change's maintenance windows.
        match: CI / assignment group the record must name for this cluster.
        block: A failed check stops the change (a blocking preflight problem); ``false`` makes
            it a warning.
        close_states: Per outcome, the ``state`` to set on write-back (ServiceNow); outcomes
            left out keep the record's state and only get a work note.
        close_codes: Per outcome, the ``close_code`` sent with a state change.
        timeout_seconds: HTTP timeout of one request.
        write_back: Retries of the outcome write-back.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: ItsmKind
    url: str = Field(pattern=r"^https?://[^\s/]+")
    credentials: ItsmAccount | None = None
    token: SecretRef | None = None
    secret: SecretRef | None = None
    ca_file: str | None = None
    implement_states: list[str] = Field(default_factory=lambda: list(DEFAULT_IMPLEMENT_STATES))
    require_approval: bool = True
    check_window: bool = True
    match: ItsmMatch = Field(default_factory=ItsmMatch)
    block: bool = True
    close_states: dict[Outcome, str] = Field(default_factory=dict)
    close_codes: dict[Outcome, str] = Field(default_factory=lambda: dict(DEFAULT_CLOSE_CODES))
    timeout_seconds: float = Field(default=15.0, gt=0, le=300)
    write_back: WriteBackRetry = Field(default_factory=WriteBackRetry)

    @model_validator(mode="after")
    def _auth_fits_kind(self) -> ItsmConfig:
        parts = urlsplit(self.url)
        if parts.scheme == "http" and not _is_loopback(parts.hostname or ""):
            raise ValueError(
                "itsm: url must be https: credentials and signatures would travel in clear "
                "(http is accepted on loopback only)"
            )
        if self.kind == "servicenow":
            if (self.credentials is None) == (self.token is None):
                raise ValueError(
                    "itsm: servicenow needs exactly one of credentials (username + password "
                    "reference) or token (OAuth bearer reference)"
                )
            if self.secret is not None:
                raise ValueError("itsm: secret is for kind webhook; servicenow uses credentials")
        elif self.secret is None:
            raise ValueError("itsm: a webhook needs secret (reference of the HMAC key)")
        elif self.credentials is not None:
            raise ValueError("itsm: credentials are for kind servicenow; a webhook uses secret")
        if not self.implement_states:
            raise ValueError("itsm: implement_states must name at least one state")
        return self


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class ItsmOverride(BaseModel):
    """A cluster's ``itsm:`` block: fields that replace the top-level ones for this cluster
    (e.g. only ``match``); with ``kind`` and ``url`` it may stand alone."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: ItsmKind | None = None
    url: str | None = None
    credentials: ItsmAccount | None = None
    token: SecretRef | None = None
    secret: SecretRef | None = None
    ca_file: str | None = None
    implement_states: list[str] | None = None
    require_approval: bool | None = None
    check_window: bool | None = None
    match: ItsmMatch | None = None
    block: bool | None = None
    close_states: dict[Outcome, str] | None = None
    close_codes: dict[Outcome, str] | None = None
    timeout_seconds: float | None = None
    write_back: WriteBackRetry | None = None
    enabled: bool = Field(default=True, description="false: no ITSM for this cluster")


class TimeRange(BaseModel):
    """A span of time (UTC-aware)."""

    start: datetime
    end: datetime


class ChangeRecord(BaseModel):
    """What the ITSM system says about a change.

    Attributes:
        number: The change id (``CHG0031337``).
        ref: The system's own key (ServiceNow ``sys_id``), used to write back.
        state: The state's value (ServiceNow ``-1``) or name.
        state_label: The state's display label (``Implement``), when the system has one.
        approval: ``approved``, ``requested``, ``rejected``, ... ('' when not reported).
        planned_start: Planned start of the work.
        planned_end: Planned end of the work.
        ci: Configuration item (display name).
        assignment_group: Assignment group (display name).
        short_description: The record's title.
    """

    number: str
    ref: str = ""
    state: str = ""
    state_label: str = ""
    approval: str = ""
    planned_start: datetime | None = None
    planned_end: datetime | None = None
    ci: str = ""
    assignment_group: str = ""
    short_description: str = ""


class ItsmReason(BaseModel):
    """One reason a change record does not allow the work (``code`` as a preflight problem)."""

    code: str
    message: str


class ChangeRecordRequest(BaseModel):
    """Check the change record of ``change_id`` for a renewal of ``cluster``.

    Attributes:
        cluster: The inventory cluster (its ``itsm:`` block applies).
        change_id: The change id, the renewal's workflow id.
        now: When the work starts (the workflow's clock).
        windows: The change's maintenance windows ahead, which the planned window must cover.
    """

    cluster: str
    change_id: str
    now: datetime
    windows: list[TimeRange] = Field(default_factory=list)


class ChangeRecordCheck(BaseModel):
    """The verdict on a change record.

    Attributes:
        system: The adapter kind that answered.
        change_id: The change checked.
        found: The record exists.
        reasons: Why the record does not allow the work; empty when it does.
        blocking: A non-empty ``reasons`` stops the change (the ``block`` setting).
        record: The record as read, when found.
    """

    system: str
    change_id: str
    found: bool
    reasons: list[ItsmReason] = Field(default_factory=list)
    blocking: bool = True
    record: ChangeRecord | None = None

    @property
    def allowed(self) -> bool:
        """The record allows the work."""
        return self.found and not self.reasons


class WriteBack(BaseModel):
    """The outcome of a renewal, as written to its change record.

    Attributes:
        change_id: The change.
        outcome: ``done``, ``failed``, ``cancelled`` or ``rejected``.
        summary: One line on what happened.
        link: The renewal page (``{base_url}/renewals/{change_id}``), '' when no base URL.
        work_notes: The lines of the work note (phases, errors, what an operator must do).
    """

    change_id: str
    outcome: Outcome
    summary: str
    link: str = ""
    work_notes: list[str] = Field(default_factory=list)

    def note_text(self) -> str:
        """The work note as one text: summary, link, then the notes."""
        lines = [f"ucrenew: {self.summary}"]
        if self.link:
            lines.append(f"Renewal: {self.link}")
        lines += self.work_notes
        return "\n".join(lines)


class WriteBackRequest(BaseModel):
    """Write the outcome of a renewal of ``cluster`` back to its change record (the link is
    added by the activity from the service's base URL)."""

    cluster: str
    change_id: str
    outcome: Outcome
    summary: str
    work_notes: list[str] = Field(default_factory=list)


class WriteBackResult(BaseModel):
    """What the write-back did."""

    system: str
    change_id: str
    detail: str


def evaluate(
    config: ItsmConfig,
    record: ChangeRecord,
    now: datetime,
    windows: Sequence[TimeRange] = (),
) -> list[ItsmReason]:
    """Why ``record`` does not allow the work now; empty when it does.

    Args:
        config: What the cluster requires of its change records.
        record: The record as read.
        now: When the work starts.
        windows: The change's maintenance windows ahead (each must lie in the planned window).
    """
    reasons: list[ItsmReason] = []
    allowed = {s.strip().lower() for s in config.implement_states}
    state_names = [s for s in (record.state, record.state_label) if s]
    if not any(s.strip().lower() in allowed for s in state_names):
        shown = record.state_label or record.state or "no state"
        reasons.append(
            ItsmReason(
                code="change-record-not-approved",
                message=(
                    f"change record {record.number} is in state {shown!r}, which does not allow "
                    f"implementation (allowed: {', '.join(config.implement_states)}): move it "
                    "to an implementable state before starting"
                ),
            )
        )
    if config.require_approval and record.approval.strip().lower() != "approved":
        reasons.append(
            ItsmReason(
                code="change-record-not-approved",
                message=(
                    f"change record {record.number} is not approved (approval: "
                    f"{record.approval or 'none'}): get it approved before starting"
                ),
            )
        )
    if config.check_window:
        reasons += _window_reasons(record, now, windows)
    wanted_ci = config.match.ci
    if wanted_ci and record.ci.strip().lower() != wanted_ci.strip().lower():
        reasons.append(
            ItsmReason(
                code="change-record-wrong-ci",
                message=(
                    f"change record {record.number} is for configuration item "
                    f"{record.ci or '(none)'!r}, not {wanted_ci!r}"
                ),
            )
        )
    wanted_group = config.match.assignment_group
    if wanted_group and record.assignment_group.strip().lower() != wanted_group.strip().lower():
        reasons.append(
            ItsmReason(
                code="change-record-wrong-group",
                message=(
                    f"change record {record.number} is assigned to "
                    f"{record.assignment_group or '(no group)'!r}, not {wanted_group!r}"
                ),
            )
        )
    return reasons


def _window_reasons(
    record: ChangeRecord, now: datetime, windows: Sequence[TimeRange]
) -> list[ItsmReason]:
    start, end = record.planned_start, record.planned_end
    if start is None or end is None:
        return [
            ItsmReason(
                code="change-record-no-window",
                message=(
                    f"change record {record.number} has no planned start and end: plan the "
                    "change's window in the record"
                ),
            )
        ]
    span = f"{start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC"
    if not start <= now <= end:
        return [
            ItsmReason(
                code="change-record-outside-window",
                message=(
                    f"change record {record.number} is planned from {span}; now "
                    f"({now:%Y-%m-%d %H:%M} UTC) is outside it"
                ),
            )
        ]
    for w in windows:
        if w.start < start or w.end > end:
            return [
                ItsmReason(
                    code="change-record-outside-window",
                    message=(
                        f"change record {record.number} is planned from {span}; the change's "
                        f"maintenance window {w.start:%Y-%m-%d %H:%M} to {w.end:%Y-%m-%d %H:%M} "
                        "UTC is not inside it"
                    ),
                )
            ]
    return []
