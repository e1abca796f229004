"""Links to a renewal's page in the ucrenew service, the one spelling every message uses
(notifications, change records, the Temporal UI, the dashboard, the CLI)."""

from __future__ import annotations

from urllib.parse import quote


def renewal_path(change_id: str) -> str:
    """``/renewals/{change_id}``, the id percent-encoded."""
    return f"/renewals/{quote(change_id, safe='')}"


def renewal_link(base_url: str | None, change_id: str) -> str:
    """``{base_url}/renewals/{change_id}``, or '' without a base URL."""
    if not base_url or not base_url.strip():
        return ""
    return base_url.strip().rstrip("/") + renewal_path(change_id)


def campaign_link(base_url: str | None, campaign_id: str) -> str:
    """``{base_url}/campaigns/{campaign_id}``, or '' without a base URL."""
    if not base_url or not base_url.strip():
        return ""
    return f"{base_url.strip().rstrip('/')}/campaigns/{quote(campaign_id, safe='')}"
