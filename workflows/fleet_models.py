"""The fleet view: every inventory cluster's certificates by purpose, with expiry and drift.

``FleetScanWorkflow`` (workflows/fleet_scan.py) builds a :class:`FleetView` from read-only
discovery on a worker; the service reads the latest scan's result (``service/fleet.py``) and the
dashboard and ``ucrenew fleet`` render it. Pure pydantic models, passed through the sandbox;
``service.fleet_models`` re-exports them for the service side.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel, Field

from activities.fleet_models import AutoRenewPolicy
from activities.models import UtcDatetime

__all__ = [
    "AutoRenewOutcome",
    "AutoRenewStartRequest",
    "DriftFinding",
    "DriftKind",
    "FleetCertificate",
    "FleetCluster",
    "FleetClusterScanRequest",
    "FleetNode",
    "FleetPurpose",
    "FleetScanEntry",
    "FleetScanRequest",
    "FleetScanResult",
    "FleetScanState",
    "FleetView",
    "days_between",
]

DriftKind = Literal[
    "differs-between-nodes",
    "not-from-last-change",
    "served-not-installed",
    "expiring",
    "expired",
    "unreadable",
    "node-not-in-san",
    "self-signed",
    "name-mismatch",
    "ca-expiring",
    "renewal-due",
]

_DAY = timedelta(days=1)


def days_between(now: datetime, not_after: datetime) -> int:
    """Whole days from ``now`` until ``not_after`` (negative once expired), rounded down."""
    return (not_after - now) // _DAY


class FleetCertificate(BaseModel):
    """One certificate as the fleet view shows it."""

    subject: str = Field(description="RFC 4514 subject")
    subject_cn: str | None = None
    sans: list[str] = Field(default_factory=list, description="DNS then IP subjectAltNames")
    serial: str = Field(description="lower-case hex")
    fingerprint: str = Field(description="SHA-256 of the DER certificate, lower-case hex")
    issuer: str = Field(description="RFC 4514 issuer")
    self_signed: bool = False
    not_before: UtcDatetime | None = Field(default=None, description="None: scans before it")
    not_after: UtcDatetime
    days_to_expiry: int = Field(description="whole days from the view's time (negative: expired)")


class FleetNode(BaseModel):
    """One node's certificate of a purpose: what its listener serves and what is installed."""

    node: str = Field(description="inventory FQDN")
    role: Literal["publisher", "subscriber"] = "subscriber"
    product: Literal["cucm", "imp"] = "cucm"
    served: FleetCertificate | None = None
    installed: FleetCertificate | None = Field(
        default=None,
        description="the installed certificate when it is not the served one (see installed_same)",
    )
    installed_same: bool = Field(
        default=False,
        description="the installed certificate is the served one: left out of `installed` to "
        "keep the scan's result small",
    )
    error: str | None = Field(default=None, description="why the certificate could not be read")

    @property
    def installed_certificate(self) -> FleetCertificate | None:
        """The installed certificate, whether or not it is the served one."""
        return self.served if self.installed_same else self.installed


class DriftFinding(BaseModel):
    """Something about a purpose's certificate an operator should look at."""

    kind: DriftKind
    nodes: list[str] = Field(default_factory=list, description="the nodes concerned")
    message: str


class FleetPurpose(BaseModel):
    """A purpose of a cluster: its certificate on every node of its SAN set."""

    purpose: str
    nodes: list[FleetNode] = Field(default_factory=list)
    not_after: UtcDatetime | None = Field(
        default=None, description="the earliest expiry served (or installed) on any node"
    )
    days_to_expiry: int | None = None
    last_change_id: str | None = Field(
        default=None, description="the last completed ucrenew change that renewed this purpose"
    )
    last_change_serial: str | None = Field(
        default=None, description="the serial that change installed"
    )
    drift: list[DriftFinding] = Field(default_factory=list)


AutoRenewStatus = Literal[
    "off", "unknown", "not-due", "would-start", "started", "running", "already-started", "failed"
]


class AutoRenewOutcome(BaseModel):
    """What a scan did about renewing a cluster, or why it did nothing.

    ``off``: its ``change_policy.auto_renew`` is not enabled; ``unknown``: it could not be
    read; ``not-due``: nothing passed its threshold or drifted in a way that starts one;
    ``would-start``: due, and this scan does not start renewals (``ucrenew fleet scan``
    without ``--start``); ``started``: this scan started ``change_id``; ``running``: another
    renewal of the cluster (``change_id``) runs, so none was started; ``already-started``:
    ``change_id`` was started before (today's automatic change); ``failed``: starting failed.
    """

    status: AutoRenewStatus
    change_id: str | None = None
    purposes: list[str] = Field(default_factory=list, description="the purposes renewed")
    reasons: list[str] = Field(
        default_factory=list,
        description="why each purpose is due: `<purpose>: <drift kinds>` (the findings' "
        "messages are in the cluster's view)",
    )
    detail: str = ""
    start_after_seconds: int = Field(default=0, description="the cluster's jitter")
    started_at: UtcDatetime | None = Field(
        default=None, description="when this scan tried the start (after the jitter)"
    )


class AutoRenewStartRequest(BaseModel):
    """Start the scan's renewal of one cluster, unless a renewal of it runs."""

    cluster: str
    change_id: str
    purposes: list[str]
    ca: Literal["local", "manual", "adcs", "acme"] = "local"
    ca_name: str | None = None
    ca_template: str | None = None
    require_plan_approval: bool = True
    reasons: list[str] = Field(default_factory=list)


class FleetCluster(BaseModel):
    """One inventory cluster: its purposes, or why it could not be read."""

    cluster: str
    status: Literal["ok", "failed"] = "ok"
    error: str | None = Field(default=None, description="why the cluster could not be read")
    error_type: str | None = None
    version: str | None = None
    read_at: UtcDatetime | None = Field(default=None, description="when discovery read it")
    purposes: list[FleetPurpose] = Field(default_factory=list)
    auto_renew: AutoRenewOutcome | None = Field(
        default=None, description="what the scan started or why not (from the scan's entry)"
    )

    @property
    def drift_count(self) -> int:
        """Number of drift findings over all purposes."""
        return sum(len(p.drift) for p in self.purposes)


class FleetView(BaseModel):
    """Every inventory cluster's certificates by purpose, as of one scan."""

    scanned_at: UtcDatetime = Field(description="when the scan finished")
    as_of: UtcDatetime = Field(description="the time days_to_expiry counts from")
    warning_days: int = Field(description="expiring within this many days is drift")
    clusters: list[FleetCluster] = Field(default_factory=list)
    scan_id: str | None = Field(default=None, description="workflow id of the scan")
    notice: str | None = Field(
        default=None,
        description="what a reader should know about the view (no scan yet, the latest one "
        "failed, ...); set by the reader, not the scan",
    )

    def at(self, now: datetime) -> FleetView:
        """The same view with every ``days_to_expiry`` counted from ``now``."""
        clusters = []
        for c in self.clusters:
            purposes = []
            for p in c.purposes:
                nodes = [
                    n.model_copy(
                        update={
                            "served": _recount(n.served, now),
                            "installed": _recount(n.installed, now),
                        }
                    )
                    for n in p.nodes
                ]
                days = None if p.not_after is None else days_between(now, p.not_after)
                purposes.append(p.model_copy(update={"nodes": nodes, "days_to_expiry": days}))
            clusters.append(c.model_copy(update={"purposes": purposes}))
        return self.model_copy(update={"clusters": clusters, "as_of": now})


def _recount(cert: FleetCertificate | None, now: datetime) -> FleetCertificate | None:
    if cert is None:
        return None
    return cert.model_copy(update={"days_to_expiry": days_between(now, cert.not_after)})


class FleetScanRequest(BaseModel):
    """What a fleet scan reads."""

    clusters: list[str] = Field(default_factory=list, description="empty: the whole inventory")
    warning_days: int = Field(default=30, ge=0, description="expiring within this is drift")
    concurrency: int = Field(default=8, ge=1, description="clusters read at once")
    start_renewals: bool = Field(
        default=False,
        description="start the renewals clusters' auto_renew policies call for (the schedule "
        "does); False: the result says what would start",
    )
    jitter_seconds: int = Field(
        default=0, ge=0, description="starts spread over this window, per cluster by its name"
    )
    operations_per_run: int = Field(
        default=500,
        ge=1,
        description="cluster reads and renewal starts one run makes before the scan continues "
        "as a new run (it does sooner when Temporal suggests it), so a scan of thousands of "
        "clusters stays far below Temporal's history limits",
    )
    state: FleetScanState | None = Field(
        default=None, description="carried by continue-as-new; None when a scan starts"
    )


class FleetClusterScanRequest(BaseModel):
    """Read one cluster for the fleet view (a child of the fleet scan)."""

    cluster: str
    version: str | None = None
    products: list[Literal["cucm", "imp"]] = Field(default_factory=list)
    warning_days: int = Field(default=30, ge=0)
    auto_renew: AutoRenewPolicy | None = Field(
        default=None, description="thresholds of renewal-due and ca-expiring; None: defaults"
    )


class FleetScanEntry(BaseModel):
    """One cluster of a scan: how it went, and the child workflow run whose result is its
    part of the view (none when it could not even be started, e.g. not in the inventory)."""

    cluster: str
    status: Literal["ok", "failed"] = "ok"
    error: str | None = None
    error_type: str | None = None
    workflow_id: str | None = None
    run_id: str | None = None
    drift: int = Field(default=0, description="drift findings of the cluster")
    days_to_expiry: int | None = Field(
        default=None, description="the cluster's earliest expiry, in days from the scan"
    )
    auto_renew: AutoRenewOutcome | None = Field(
        default=None, description="what the scan started for the cluster, or why not"
    )


class FleetScanState(BaseModel):
    """A scan's progress, carried to its next run (continue-as-new): the clusters read so
    far, those left to read, and how far the starts have got."""

    entries: list[FleetScanEntry] = Field(default_factory=list)
    to_read: list[str] = Field(default_factory=list, description="clusters not read yet")
    read_all: bool = False
    starts_from: UtcDatetime | None = Field(
        default=None, description="the moment each cluster's jitter counts from"
    )
    starts_tried: int = Field(
        default=0, description="due clusters, in start order, whose start was tried"
    )
    runs: int = Field(default=1, description="runs of the scan so far")


class FleetScanResult(BaseModel):
    """What a fleet scan returns: small, whatever the fleet's size. Each cluster's certificates
    are the result of its own child workflow (a payload each, far below Temporal's 2 MB limit);
    ``workers.fleet`` assembles the :class:`FleetView` from them."""

    scanned_at: UtcDatetime
    warning_days: int
    clusters: list[FleetScanEntry] = Field(default_factory=list)
    runs: int = Field(default=1, description="runs the scan took (continue-as-new)")
