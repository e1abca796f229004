"""Payloads of the fleet scan's own activities (the inventory's clusters, the certificates the
last ucrenew changes installed). Pure pydantic: workflows import it through the sandbox."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from activities.models import UtcDatetime

__all__ = [
    "AutoRenewPolicy",
    "FleetInventory",
    "FleetInventoryRequest",
    "FleetTarget",
    "KnownCa",
    "LastRenewal",
    "LastRenewals",
]


class FleetInventoryRequest(BaseModel):
    """Which inventory clusters a fleet scan covers."""

    clusters: list[str] = Field(default_factory=list, description="empty: every cluster")


class AutoRenewPolicy(BaseModel):
    """A cluster's ``change_policy.auto_renew`` as the scan needs it (the inventory's
    ``AutoRenewEntry``, validated there)."""

    enabled: bool = False
    purposes: list[str] = Field(default_factory=list, description="empty: every purpose")
    threshold_days: int | None = Field(
        default=None,
        description="days left that make a renewal due; None: a third of the "
        "certificate's lifetime",
    )
    on_drift: list[str] = Field(default_factory=list, description="drift kinds that start one")
    ca: Literal["local", "manual", "adcs", "acme"] = "local"
    ca_name: str | None = None
    ca_template: str | None = None
    require_plan_approval: bool = True
    ca_warning_days: int = 60


class FleetTarget(BaseModel):
    """One inventory cluster as the scan needs it: its release, the products it runs and its
    auto-renew policy (None: the scan never starts a renewal of it)."""

    cluster: str
    version: str | None = None
    products: list[Literal["cucm", "imp"]] = Field(default_factory=list)
    auto_renew: AutoRenewPolicy | None = None
    tags: list[str] = Field(default_factory=list, description="the inventory's clusters[].tags")


class FleetInventory(BaseModel):
    """The clusters to scan, and the names asked for that the inventory does not know."""

    targets: list[FleetTarget] = Field(default_factory=list)
    unknown: dict[str, str] = Field(
        default_factory=dict, description="cluster asked for -> why it cannot be scanned"
    )


class LastRenewal(BaseModel):
    """The certificate the last completed ucrenew change of a purpose installed."""

    change_id: str
    serial: str = Field(description="lower-case hex")
    fingerprint: str = ""


class KnownCa(BaseModel):
    """A CA certificate of the chains ucrenew installed on a cluster (its trust store)."""

    subject: str = Field(description="RFC 4514 subject")
    issuer: str = Field(description="RFC 4514 issuer")
    not_after: UtcDatetime
    fingerprint: str = ""


class LastRenewals(BaseModel):
    """Per purpose, the certificate the cluster's last completed change of it installed, and
    the CA certificates of the chains ucrenew installed (for a CA about to expire)."""

    cluster: str
    by_purpose: dict[str, LastRenewal] = Field(default_factory=dict)
    looked_at: int = Field(default=0, description="completed changes read")
    cas: list[KnownCa] = Field(default_factory=list)
