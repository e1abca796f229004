"""Payloads of the fleet scan's own activities (the inventory's clusters, the certificates the
last ucrenew changes installed). Pure pydantic: workflows import it through the sandbox."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

__all__ = [
    "FleetInventory",
    "FleetInventoryRequest",
    "FleetTarget",
    "LastRenewal",
    "LastRenewals",
]


class FleetInventoryRequest(BaseModel):
    """Which inventory clusters a fleet scan covers."""

    clusters: list[str] = Field(default_factory=list, description="empty: every cluster")


class FleetTarget(BaseModel):
    """One inventory cluster as the scan needs it: its release and the products it runs."""

    cluster: str
    version: str | None = None
    products: list[Literal["cucm", "imp"]] = Field(default_factory=list)
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


class LastRenewals(BaseModel):
    """Per purpose, the certificate the cluster's last completed change of it installed."""

    cluster: str
    by_purpose: dict[str, LastRenewal] = Field(default_factory=dict)
    looked_at: int = Field(default=0, description="completed changes read")
