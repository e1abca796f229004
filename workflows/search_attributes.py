"""Typed search attributes of renewal workflows: the one list that registration and upserts use.

Values go to the visibility store unencrypted (the payload codec does not cover them), so
only identifiers and phases belong here, never secrets or certificate bodies.
"""

from __future__ import annotations

from typing import Final

from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes

__all__ = [
    "ALL_SEARCH_ATTRIBUTES",
    "AWAITING_VALUES",
    "CERT_NOT_AFTER",
    "CERT_PURPOSES",
    "CHANGE_ID",
    "CLUSTER_ID",
    "RENEWAL_AWAITING",
    "RENEWAL_OUTSTANDING",
    "RENEWAL_PHASE",
    "literal",
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


def literal(value: str) -> str:
    """``value`` as a quoted string literal of a visibility query (quotes escaped)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def start_attributes(cluster: str, change_id: str, purposes: list[str]) -> TypedSearchAttributes:
    """Search attributes a renewal carries from its start (so the dashboards see it at once)."""
    return TypedSearchAttributes(
        [
            SearchAttributePair(CLUSTER_ID, cluster),
            SearchAttributePair(CHANGE_ID, change_id),
            SearchAttributePair(CERT_PURPOSES, purposes),
            SearchAttributePair(RENEWAL_PHASE, "discover"),
        ]
    )


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
)
"""Every custom search attribute ucrenew uses, for namespace registration."""
