"""Settings of the dashboard, read from ``UCRENEW_DASHBOARD_*`` variables."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["DashboardSettings"]


class DashboardSettings(BaseSettings):
    """How the dashboard reads Temporal.

    Attributes:
        refresh_seconds: How often the live feed lists the renewals in flight (one
            visibility query per interval for every open page together).
        list_limit: The most renewals the list shows (and the feed follows).
        page_size: Renewals per visibility page.
        keepalive_seconds: How often an idle event stream sends a comment, so proxies keep
            it open.
        query_timeout_seconds: How long a renewal's page waits for a worker to answer the
            status query before it shows what Temporal's records say instead.
    """

    model_config = SettingsConfigDict(env_prefix="UCRENEW_DASHBOARD_", frozen=True, extra="forbid")

    refresh_seconds: float = Field(default=2.0, gt=0)
    list_limit: int = Field(default=2000, ge=1, le=100_000)
    page_size: int = Field(default=1000, ge=1, le=1000)
    keepalive_seconds: float = Field(default=15.0, gt=0)
    query_timeout_seconds: float = Field(default=5.0, gt=0)
