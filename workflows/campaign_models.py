"""Inputs, state and status of a campaign: one or more purposes renewed across many clusters,
each cluster by a child :class:`~workflows.renewal.CertRenewalWorkflow`. Pure pydantic:
workflows, the CLI and the service import it."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from activities.cluster_models import Purpose
from activities.models import UtcDatetime
from workflows.models import CaKind, RenewalOptions

__all__ = [
    "CampaignAction",
    "CampaignAuditEvent",
    "CampaignCluster",
    "CampaignCounts",
    "CampaignInput",
    "CampaignPhase",
    "CampaignSelection",
    "CampaignState",
    "CampaignStatus",
    "CampaignSummary",
    "ClusterState",
]

ClusterState = Literal["pending", "running", "done", "failed", "skipped"]
CampaignPhase = Literal["resolving", "running", "paused", "done", "aborted"]
TERMINAL_CAMPAIGN_PHASES: tuple[CampaignPhase, ...] = ("done", "aborted")


class CampaignSelection(BaseModel):
    """Which inventory clusters a campaign covers.

    Within one kind the values are alternatives (``tags: [emea, apac]`` is either tag);
    kinds given together must all match (``tags: [emea]`` and ``releases: ["14"]`` is the
    EMEA clusters on 14). A release matches a version by its leading components: ``14``
    matches ``14.0.1.13900-155``, ``12.5`` matches ``12.5.1.16900-48``.
    """

    names: list[str] = Field(default_factory=list, description="cluster names")
    tags: list[str] = Field(default_factory=list, description="inventory tags (clusters[].tags)")
    releases: list[str] = Field(default_factory=list, description="release prefixes, e.g. 14")

    @model_validator(mode="after")
    def _something_selected(self) -> CampaignSelection:
        if not (self.names or self.tags or self.releases):
            raise ValueError("select clusters by name, tag or release (at least one)")
        return self

    def describe(self) -> str:
        """The selection in the CLI's words, e.g. ``tag=emea release=14``."""
        parts = [f"name={n}" for n in self.names]
        parts += [f"tag={t}" for t in self.tags]
        parts += [f"release={r}" for r in self.releases]
        return " ".join(parts)


class CampaignAuditEvent(BaseModel):
    """Who did what to the campaign, when, and why."""

    at: UtcDatetime
    principal: str
    action: str
    reason: str = ""


class CampaignCluster(BaseModel):
    """One cluster of a campaign and its renewal."""

    cluster: str
    version: str | None = None
    tags: list[str] = Field(default_factory=list)
    state: ClusterState = "pending"
    change_id: str = Field(default="", description="the child renewal's workflow id")
    run_id: str = ""
    error: str = ""
    error_type: str = ""
    started_at: UtcDatetime | None = None
    finished_at: UtcDatetime | None = None
    waiting: str = Field(
        default="",
        description="while pending: the change that kept the cluster busy and when the "
        "campaign tries it again",
    )
    retry_at: UtcDatetime | None = Field(
        default=None, description="a busy cluster is not started again before this"
    )
    busy_tries: int = Field(default=0, description="times the cluster was found busy")


class CampaignState(BaseModel):
    """What a campaign carries across runs (continue-as-new) and shows in its status."""

    clusters: list[CampaignCluster] = Field(default_factory=list)
    not_found: list[str] = Field(
        default_factory=list, description="names selected that the inventory does not know"
    )
    paused: bool = False
    paused_reason: str = ""
    aborted: bool = False
    abort_reason: str = ""
    cancel_running: bool = False
    failures_since_resume: int = 0
    audit: list[CampaignAuditEvent] = Field(default_factory=list)
    runs: int = Field(default=1, description="runs of the workflow so far (continue-as-new)")
    started_at: UtcDatetime | None = None


class CampaignInput(BaseModel):
    """Start a campaign; the workflow id is the campaign id."""

    campaign_id: str
    purposes: list[Purpose] = Field(min_length=1)
    selection: CampaignSelection
    ca: CaKind = "local"
    ca_name: str | None = Field(default=None, description="inventory CA entry (adcs, acme)")
    ca_template: str | None = None
    requested_by: str = "unknown"
    limit: int = Field(default=1, ge=1, le=500, description="renewals running at once at most")
    stop_after_failures: int = Field(
        default=1, ge=0, description="pause after this many failed renewals (0: never pause)"
    )
    options: RenewalOptions = Field(default_factory=RenewalOptions)
    children_per_run: int = Field(
        default=200,
        ge=1,
        description="renewals a run starts before it hands over to a new run "
        "(continue-as-new), which it also does when Temporal suggests it",
    )
    base_url: str | None = Field(
        default=None,
        description="the service's address, for the renewal page links in the renewals' "
        "Temporal UI details and the campaign's notifications (None: no link)",
    )
    busy_retry_seconds: int = Field(
        default=900,
        ge=1,
        description="a busy cluster (another change runs on it) is tried again after this",
    )
    busy_wait_seconds: int = Field(
        default=86400,
        ge=0,
        description="how long after its start the campaign waits for busy clusters (its end "
        "for them): one still busy then is skipped, naming the change (0: skip at once)",
    )
    state: CampaignState | None = Field(
        default=None, description="carried by continue-as-new; None when an operator starts it"
    )

    @field_validator("purposes")
    @classmethod
    def _distinct(cls, v: list[Purpose]) -> list[Purpose]:
        return list(dict.fromkeys(v))


class CampaignAction(BaseModel):
    """Pause, resume or abort a campaign: who, and why (both audited)."""

    principal: str = Field(min_length=1)
    reason: str = Field(min_length=1, description="why; shown in the status and the audit")
    cancel_running: bool = Field(
        default=False, description="abort only: cancel the renewals running now as well"
    )


class CampaignCounts(BaseModel):
    """How many clusters of the campaign are in each state."""

    pending: int = 0
    running: int = 0
    done: int = 0
    failed: int = 0
    skipped: int = 0
    total: int = 0
    busy: int = Field(
        default=0, description="of the pending: waiting for another change on their cluster"
    )


class CampaignStatus(BaseModel):
    """What the status query returns (and the result carries at the end)."""

    campaign_id: str
    phase: CampaignPhase
    purposes: list[Purpose]
    selection: CampaignSelection
    requested_by: str
    limit: int
    stop_after_failures: int
    counts: CampaignCounts
    clusters: list[CampaignCluster]
    not_found: list[str] = Field(default_factory=list)
    failures: list[CampaignCluster] = Field(default_factory=list)
    paused_reason: str = ""
    abort_reason: str = ""
    audit: list[CampaignAuditEvent] = Field(default_factory=list)
    runs: int = 1
    started_at: UtcDatetime | None = None
    finished_at: UtcDatetime | None = None


class CampaignSummary(BaseModel):
    """One campaign in a list: its execution and, when it answered, its status."""

    campaign_id: str
    execution: str = Field(description="running, completed, failed, terminated, ...")
    started_at: UtcDatetime | None = None
    closed_at: UtcDatetime | None = None
    status: CampaignStatus | None = None
