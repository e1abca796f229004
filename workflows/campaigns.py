"""The pure logic of a campaign: which clusters it covers, which renewal starts next, when it
pauses, and its status. No clocks: the workflow passes ``workflow.now()``, tests fixed times.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from activities.fleet_models import FleetTarget
from workflows.campaign_models import (
    CampaignAuditEvent,
    CampaignCluster,
    CampaignCounts,
    CampaignInput,
    CampaignPhase,
    CampaignSelection,
    CampaignState,
    CampaignStatus,
)

__all__ = [
    "audit",
    "busy_found",
    "child_id",
    "counts",
    "finish_child",
    "next_retry",
    "next_to_start",
    "release_matches",
    "select_clusters",
    "status_of",
]

_VERSION_PARTS = re.compile(r"[.\-]")


def release_matches(release: str, version: str | None) -> bool:
    """Whether ``version`` (e.g. ``14.0.1.13900-155``) is of ``release`` (e.g. ``14`` or
    ``14.0.1``): its leading components are the release's. No version matches nothing."""
    if not version:
        return False
    want = [p for p in _VERSION_PARTS.split(release.strip()) if p]
    have = [p for p in _VERSION_PARTS.split(version.strip()) if p]
    return bool(want) and have[: len(want)] == want


def _matches(target: FleetTarget, selection: CampaignSelection) -> bool:
    if selection.names and target.cluster not in selection.names:
        return False
    if selection.tags and not set(selection.tags) & set(target.tags):
        return False
    return not selection.releases or any(
        release_matches(r, target.version) for r in selection.releases
    )


def select_clusters(
    targets: list[FleetTarget], selection: CampaignSelection
) -> tuple[list[CampaignCluster], list[str]]:
    """The campaign's clusters, in inventory order, and the names selected that the
    inventory does not know."""
    chosen = [
        CampaignCluster(cluster=t.cluster, version=t.version, tags=list(t.tags))
        for t in targets
        if _matches(t, selection)
    ]
    known = {t.cluster for t in targets}
    return chosen, [n for n in selection.names if n not in known]


def child_id(campaign_id: str, cluster: str) -> str:
    """The workflow id (change id) of the campaign's renewal of ``cluster``."""
    return f"{campaign_id}-{cluster}"


def counts(state: CampaignState) -> CampaignCounts:
    """Clusters per state."""
    c = CampaignCounts(total=len(state.clusters))
    for cluster in state.clusters:
        setattr(c, cluster.state, getattr(c, cluster.state) + 1)
        if cluster.state == "pending" and cluster.retry_at is not None:
            c.busy += 1
    return c


def _ready(cluster: CampaignCluster, now: datetime | None) -> bool:
    return cluster.state == "pending" and (
        cluster.retry_at is None or (now is not None and cluster.retry_at <= now)
    )


def next_to_start(
    state: CampaignState, limit: int, now: datetime | None = None
) -> list[CampaignCluster]:
    """The pending clusters to start now: none while paused or aborted, else as many as the
    limit leaves room for, in order; a busy cluster only once its ``retry_at`` has come
    (never without ``now``)."""
    if state.paused or state.aborted:
        return []
    room = limit - sum(1 for c in state.clusters if c.state == "running")
    if room <= 0:
        return []
    return [c for c in state.clusters if _ready(c, now)][:room]


def next_retry(state: CampaignState) -> datetime | None:
    """When the earliest busy cluster may be tried again (None: none waits, or the campaign
    is paused or aborted and starts nothing)."""
    if state.paused or state.aborted:
        return None
    return min(
        (c.retry_at for c in state.clusters if c.state == "pending" and c.retry_at is not None),
        default=None,
    )


def busy_found(
    state: CampaignState,
    cluster: CampaignCluster,
    now: datetime,
    why: str,
    *,
    retry_seconds: int,
    wait_seconds: int,
    may_wait: bool = True,
) -> bool:
    """Another change keeps ``cluster`` busy (``why`` names it). The cluster waits (back to
    pending, tried again ``retry_seconds`` from ``now``) while that retry falls within
    ``wait_seconds`` of the campaign's start (its end for busy clusters); otherwise it is
    skipped, naming the change. Returns whether it waits."""
    cluster.busy_tries += 1
    began = state.started_at or now
    retry_at = now + timedelta(seconds=retry_seconds)
    if may_wait and wait_seconds > 0 and retry_at <= began + timedelta(seconds=wait_seconds):
        cluster.state = "pending"
        cluster.retry_at = retry_at
        cluster.run_id = ""
        cluster.started_at = None
        cluster.waiting = f"{why}; the campaign tries again at {retry_at:%Y-%m-%d %H:%M:%S} UTC"
        return True
    cluster.state = "skipped"
    cluster.finished_at = now
    cluster.retry_at = None
    cluster.waiting = ""
    if may_wait and wait_seconds > 0:
        cluster.error = (
            f"{why}: still busy at the campaign's end for busy clusters "
            f"({_hours(wait_seconds)} after its start, {cluster.busy_tries} tries): skipped "
            "(never two renewals on one cluster); renew it once that change has ended"
        )
    else:
        cluster.error = (
            f"{why}: skipped (never two renewals on one cluster); renew it once that change "
            "has ended"
        )
    return False


def _hours(seconds: int) -> str:
    return f"{seconds / 3600:g} h" if seconds >= 3600 else f"{seconds} s"


def audit(state: CampaignState, now: datetime, principal: str, action: str, reason: str) -> None:
    """Record an operator's (or the campaign's own) action."""
    state.audit.append(
        CampaignAuditEvent(at=now, principal=principal, action=action, reason=reason)
    )


def finish_child(
    state: CampaignState,
    cluster: CampaignCluster,
    now: datetime,
    stop_after_failures: int,
    *,
    error: str = "",
    error_type: str = "",
) -> None:
    """Record how a renewal ended (``error`` empty: done); pause the campaign when its
    failures since the last resume reach ``stop_after_failures`` (0: never)."""
    cluster.finished_at = now
    if not error:
        cluster.state = "done"
        return
    cluster.state = "failed"
    cluster.error = error
    cluster.error_type = error_type
    state.failures_since_resume += 1
    if (
        stop_after_failures
        and state.failures_since_resume >= stop_after_failures
        and not state.paused
        and not state.aborted
    ):
        state.paused = True
        state.paused_reason = (
            f"stop rule: {state.failures_since_resume} renewal(s) failed "
            f"(pause after {stop_after_failures}); last: {cluster.cluster}: {error}"
        )
        audit(state, now, "campaign", "paused", state.paused_reason)


def _phase(state: CampaignState, finished: bool) -> CampaignPhase:
    if state.aborted:
        return "aborted"
    if finished:
        return "done"
    if not state.clusters and state.started_at is None:
        return "resolving"
    return "paused" if state.paused else "running"


def status_of(
    inp: CampaignInput, state: CampaignState, *, resolved: bool, finished_at: datetime | None
) -> CampaignStatus:
    """The campaign's status for the query and the result."""
    phase: CampaignPhase = (
        "resolving" if not resolved else _phase(state, finished=finished_at is not None)
    )
    return CampaignStatus(
        campaign_id=inp.campaign_id,
        phase=phase,
        purposes=list(inp.purposes),
        selection=inp.selection,
        requested_by=inp.requested_by,
        limit=inp.limit,
        stop_after_failures=inp.stop_after_failures,
        counts=counts(state),
        clusters=[c.model_copy() for c in state.clusters],
        not_found=list(state.not_found),
        failures=[c.model_copy() for c in state.clusters if c.state == "failed"],
        paused_reason=state.paused_reason if state.paused else "",
        abort_reason=state.abort_reason,
        audit=list(state.audit),
        runs=state.runs,
        started_at=state.started_at,
        finished_at=finished_at,
    )
