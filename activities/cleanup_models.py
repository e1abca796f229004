"""Payloads of the cleanup phase's removal of CSCur97909 leftovers (the listing's payloads,
:class:`~activities.cluster_models.LeftoverCertificate` and friends, live with the other
cluster payloads)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from activities.cluster_models import LeftoverCertificate, LeftoverRequest


class LeftoverRemovalRequest(LeftoverRequest):
    """Remove the approved CSCur97909 leftovers (each matched by store, file and fingerprint)."""

    approved: list[LeftoverCertificate] = Field(default_factory=list)


class LeftoverRemovalResult(BaseModel):
    """What ``remove_leftover_certificates`` did with each approved certificate."""

    removed: list[LeftoverCertificate] = Field(default_factory=list)
    already_gone: list[LeftoverCertificate] = Field(
        default_factory=list,
        description="approved but no longer listed: deleted meanwhile, or no longer unused",
    )
    still_present: list[LeftoverCertificate] = Field(
        default_factory=list, description="listed again after the deletion was attempted"
    )
    errors: dict[str, str] = Field(default_factory=dict, description="node FQDN -> error")
    attempt: int = Field(
        default=1, description="the activity attempt that answered (>1: a retry's read-back)"
    )
