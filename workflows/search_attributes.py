"""Typed search attributes of renewal workflows: the one list that registration and upserts use.

Values go to the visibility store unencrypted (the payload codec does not cover them), so
only identifiers and phases belong here, never secrets or certificate bodies.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final

from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes

__all__ = [
    "ALL_SEARCH_ATTRIBUTES",
    "AWAITING_VALUES",
    "CERT_NOT_AFTER",
    "CERT_PURPOSES",
    "CHANGE_ID",
    "CLUSTER_ID",
    "RENEWAL_AWAITING",
    "RENEWAL_DEADLINE",
    "RENEWAL_OUTSTANDING",
    "RENEWAL_PHASE",
    "RENEWAL_PROGRESS",
    "RENEWAL_REQUESTER",
    "RENEWAL_WAITING_ON",
    "WAITING_ON_CA",
    "WAITING_ON_OPERATOR",
    "WAITING_ON_PKI",
    "WAITING_ON_WINDOW",
    "Progress",
    "literal",
    "parse_progress",
]

RENEWAL_PHASE: Final = SearchAttributeKey.for_keyword("RenewalPhase")
"""Current phase of the renewal (discover, preflight, …, done, failed, cancelled)."""

CLUSTER_ID: Final = SearchAttributeKey.for_keyword("ClusterId")
"""Inventory name of the cluster being renewed."""

CERT_PURPOSES: Final = SearchAttributeKey.for_keyword_list("CertPurposes")
"""Certificate purposes in the change (tomcat, CallManager, cup-xmpp, cup-xmpp-s2s)."""

CHANGE_ID: Final = SearchAttributeKey.for_keyword("ChangeId")
"""Change request id; also the workflow id."""

CERT_NOT_AFTER: Final = SearchAttributeKey.for_datetime("CertNotAfter")
"""Earliest expiry among the certificates the renewal replaces (timezone-aware UTC)."""

RENEWAL_AWAITING: Final = SearchAttributeKey.for_keyword("RenewalAwaiting")
"""What the renewal is blocked on; one of :data:`AWAITING_VALUES` (empty when running)."""

RENEWAL_OUTSTANDING: Final = SearchAttributeKey.for_keyword_list("RenewalOutstanding")
"""What a change that ended left to an operator, one short tag each (``sso-disabled``,
``<purpose>@<node>`` for a certificate installed but not served yet); unset when nothing."""

RENEWAL_REQUESTER: Final = SearchAttributeKey.for_keyword("RenewalRequester")
"""Who asked for the change (``RenewalInput.requested_by``)."""

RENEWAL_WAITING_ON: Final = SearchAttributeKey.for_keyword_list("RenewalWaitingOn")
"""Whom the renewal waits for: the open gate's approver groups (``approvers`` when the policy
names none), :data:`WAITING_ON_PKI`, :data:`WAITING_ON_OPERATOR`, :data:`WAITING_ON_CA` or
:data:`WAITING_ON_WINDOW`; unset when it waits for nobody."""

RENEWAL_DEADLINE: Final = SearchAttributeKey.for_datetime("RenewalDeadline")
"""When what the renewal does now runs out: the end of the maintenance window its restarts
run in (or wait for), or when the first approval counted at an open gate expires."""

RENEWAL_PROGRESS: Final = SearchAttributeKey.for_keyword("RenewalProgress")
"""Counters of the rollout, ``restarts=<done>/<total>`` and ``phones=<back>/<baseline>``
separated by ``;`` (see :class:`Progress`); unset before the rollout."""

WAITING_ON_OPERATOR: Final = "operator"
"""An operator must answer a question or confirm SSO re-enabled."""
WAITING_ON_PKI: Final = "pki-admins"
"""Someone must hand in the signed certificate (manual CA)."""
WAITING_ON_CA: Final = "ca"
"""An automatic CA has the request pending."""
WAITING_ON_WINDOW: Final = "window"
"""The restarts wait for their maintenance window."""

_COUNTER: Final = re.compile(r"^(restarts|phones)=(\d+|-)/(\d+)$")


@dataclass(frozen=True)
class Progress:
    """The rollout's counters as :data:`RENEWAL_PROGRESS` carries them.

    Attributes:
        restarts_done: service restarts finished.
        restarts_total: service restarts the plan has.
        phones_back: phones registered at the last look after a wave (None: none yet).
        phones_baseline: phones registered before the wave (None: no health gate yet).
    """

    restarts_done: int = 0
    restarts_total: int = 0
    phones_back: int | None = None
    phones_baseline: int | None = None

    def value(self) -> str:
        """The attribute's value (empty when there is nothing to count)."""
        parts = []
        if self.restarts_total:
            parts.append(f"restarts={self.restarts_done}/{self.restarts_total}")
        if self.phones_baseline is not None:
            back = "-" if self.phones_back is None else str(self.phones_back)
            parts.append(f"phones={back}/{self.phones_baseline}")
        return ";".join(parts)

    def text(self) -> str:
        """Said for people, e.g. ``restarts 3/8, phones back 1,980/2,000``."""
        parts = []
        if self.restarts_total:
            parts.append(f"restarts {self.restarts_done}/{self.restarts_total}")
        if self.phones_baseline is not None:
            back = "…" if self.phones_back is None else f"{self.phones_back:,}"
            parts.append(f"phones back {back}/{self.phones_baseline:,}")
        return ", ".join(parts)


def parse_progress(value: str | None) -> Progress:
    """:class:`Progress` from an attribute value; parts it does not know are ignored."""
    restarts = (0, 0)
    phones: tuple[int | None, int | None] = (None, None)
    for part in (value or "").split(";"):
        match = _COUNTER.match(part.strip())
        if match is None:
            continue
        name, done, total = match.groups()
        if name == "restarts":
            restarts = (0 if done == "-" else int(done), int(total))
        else:
            phones = (None if done == "-" else int(done), int(total))
    return Progress(restarts[0], restarts[1], phones[0], phones[1])


def literal(value: str) -> str:
    """``value`` as a quoted string literal of a visibility query (quotes escaped)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def start_attributes(
    cluster: str, change_id: str, purposes: list[str], requester: str = ""
) -> TypedSearchAttributes:
    """Search attributes a renewal carries from its start (so the dashboards see it at once)."""
    pairs: list[SearchAttributePair[Any]] = [
        SearchAttributePair(CLUSTER_ID, cluster),
        SearchAttributePair(CHANGE_ID, change_id),
        SearchAttributePair(CERT_PURPOSES, purposes),
        SearchAttributePair(RENEWAL_PHASE, "discover"),
    ]
    if requester:
        pairs.append(SearchAttributePair(RENEWAL_REQUESTER, requester))
    return TypedSearchAttributes(pairs)


AWAITING_VALUES: Final = ("approval", "ca", "window", "sso-confirm", "operator", "")
"""Allowed values of :data:`RENEWAL_AWAITING`."""

ALL_SEARCH_ATTRIBUTES: Final[tuple[SearchAttributeKey, ...]] = (
    RENEWAL_PHASE,
    CLUSTER_ID,
    CERT_PURPOSES,
    CHANGE_ID,
    CERT_NOT_AFTER,
    RENEWAL_AWAITING,
    RENEWAL_OUTSTANDING,
    RENEWAL_REQUESTER,
    RENEWAL_WAITING_ON,
    RENEWAL_DEADLINE,
    RENEWAL_PROGRESS,
)
"""Every custom search attribute ucrenew uses, for namespace registration."""
