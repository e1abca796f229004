"""The pure logic of campaigns: selection by name, tag and release, scheduling under the
limit, and the stop rule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from activities.fleet_models import FleetTarget
from workflows import campaigns
from workflows.campaign_models import (
    CampaignCluster,
    CampaignInput,
    CampaignSelection,
    CampaignState,
)

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)

TARGETS = [
    FleetTarget(cluster="lon", version="14.0.1.13900-155", tags=["emea", "tier1"]),
    FleetTarget(cluster="par", version="12.5.1.16900-48", tags=["emea"]),
    FleetTarget(cluster="nyc", version="15.0.1.10000-20", tags=["amer", "tier1"]),
    FleetTarget(cluster="sin", version=None, tags=["apac"]),
    FleetTarget(cluster="syd", version="14.0.1.14900-11", tags=[]),
]


def names(selection: CampaignSelection) -> list[str]:
    chosen, _ = campaigns.select_clusters(TARGETS, selection)
    return [c.cluster for c in chosen]


def test_release_matches_leading_components_only() -> None:
    assert campaigns.release_matches("14", "14.0.1.13900-155")
    assert campaigns.release_matches("14.0.1", "14.0.1.13900-155")
    assert campaigns.release_matches("12.5", "12.5.1.16900-48")
    assert not campaigns.release_matches("1", "14.0.1.13900-155")
    assert not campaigns.release_matches("12.5", "12.0.1.10000-1")
    assert not campaigns.release_matches("14", None)
    assert not campaigns.release_matches("", "14.0.1")


def test_selection_by_tag_is_any_of_the_tags() -> None:
    assert names(CampaignSelection(tags=["emea"])) == ["lon", "par"]
    assert names(CampaignSelection(tags=["tier1", "apac"])) == ["lon", "nyc", "sin"]
    assert names(CampaignSelection(tags=["nowhere"])) == []


def test_selection_by_release_skips_clusters_without_a_version() -> None:
    assert names(CampaignSelection(releases=["14"])) == ["lon", "syd"]
    assert names(CampaignSelection(releases=["12.5", "15"])) == ["par", "nyc"]


def test_kinds_given_together_must_all_match() -> None:
    assert names(CampaignSelection(tags=["emea"], releases=["14"])) == ["lon"]
    assert names(CampaignSelection(names=["par", "nyc"], tags=["tier1"])) == ["nyc"]


def test_selection_by_name_reports_unknown_names_in_inventory_order() -> None:
    chosen, unknown = campaigns.select_clusters(
        TARGETS, CampaignSelection(names=["syd", "mars", "lon"])
    )
    assert [c.cluster for c in chosen] == ["lon", "syd"]
    assert unknown == ["mars"]


def test_empty_selection_and_bad_limits_are_refused() -> None:
    with pytest.raises(ValidationError, match="select clusters by name, tag or release"):
        CampaignSelection()
    with pytest.raises(ValidationError):
        CampaignInput(campaign_id="c", purposes=["tomcat"], selection={"tags": ["x"]}, limit=0)
    with pytest.raises(ValidationError):
        CampaignInput(campaign_id="c", purposes=[], selection={"tags": ["x"]})


def state_of(*states: str) -> CampaignState:
    chosen = [CampaignCluster(cluster=t.cluster) for t in TARGETS]
    for cluster, s in zip(chosen, states, strict=False):
        cluster.state = s  # type: ignore[assignment]
    return CampaignState(clusters=chosen)


def test_next_to_start_fills_the_limit_in_order() -> None:
    state = state_of("running", "done", "pending", "pending", "pending")
    assert [c.cluster for c in campaigns.next_to_start(state, 3)] == ["nyc", "sin"]
    assert campaigns.next_to_start(state, 1) == []
    state.paused = True
    assert campaigns.next_to_start(state, 3) == []
    state.paused, state.aborted = False, True
    assert campaigns.next_to_start(state, 3) == []


def test_stop_rule_pauses_at_the_nth_failure_and_counts_from_resume() -> None:
    state = state_of("running", "running", "running", "pending", "pending")
    lon, par, nyc = state.clusters[:3]
    campaigns.finish_child(state, lon, NOW, 2, error="restart failed", error_type="X")
    assert not state.paused and lon.state == "failed"
    campaigns.finish_child(state, par, NOW, 2)
    assert not state.paused and par.state == "done"
    campaigns.finish_child(state, nyc, NOW, 2, error="CA refused", error_type="Y")
    assert state.paused
    assert "2 renewal(s) failed" in state.paused_reason and "nyc: CA refused" in state.paused_reason
    assert state.audit[-1].principal == "campaign" and state.audit[-1].action == "paused"
    c = campaigns.counts(state)
    assert (c.failed, c.done, c.pending, c.running, c.total) == (2, 1, 2, 0, 5)


def test_stop_rule_zero_never_pauses() -> None:
    state = state_of("running", "running")
    for cluster in state.clusters[:2]:
        campaigns.finish_child(state, cluster, NOW, 0, error="boom")
    assert not state.paused and state.failures_since_resume == 2


def test_child_id_is_campaign_dash_cluster() -> None:
    assert campaigns.child_id("CMP-7", "lon") == "CMP-7-lon"


def test_a_busy_cluster_waits_within_the_campaigns_end_then_is_skipped_naming_it() -> None:
    state = CampaignState(
        clusters=[CampaignCluster(cluster="lon", state="running")], started_at=NOW
    )
    lon = state.clusters[0]
    why = "CHG0031337 is running on lon"
    waits = campaigns.busy_found(state, lon, NOW, why, retry_seconds=600, wait_seconds=1500)
    assert waits and lon.state == "pending" and lon.retry_at == NOW + timedelta(seconds=600)
    assert lon.waiting.startswith(f"{why}; the campaign tries again at 2026-11-30 12:10:00")
    # Not started before its time, nor while paused; the workflow's timer is the earliest.
    assert campaigns.next_to_start(state, 1, NOW) == []
    assert campaigns.next_to_start(state, 1, NOW + timedelta(seconds=600)) == [lon]
    assert campaigns.next_retry(state) == NOW + timedelta(seconds=600)
    assert campaigns.counts(state).busy == 1
    state.paused = True
    assert campaigns.next_retry(state) is None
    assert campaigns.next_to_start(state, 1, NOW + timedelta(seconds=600)) == []
    state.paused = False
    later = NOW + timedelta(seconds=1200)  # a retry at 1,800 s is past the 1,500 s end
    assert not campaigns.busy_found(state, lon, later, why, retry_seconds=600, wait_seconds=1500)
    assert lon.state == "skipped" and lon.retry_at is None and lon.busy_tries == 2
    assert lon.error.startswith(f"{why}: still busy at the campaign's end")
    assert campaigns.counts(state).skipped == 1 and campaigns.counts(state).busy == 0


def test_busy_wait_zero_or_before_the_patch_skips_at_once() -> None:
    for wait, may_wait in ((0, True), (3600, False)):
        state = CampaignState(clusters=[CampaignCluster(cluster="lon")], started_at=NOW)
        lon = state.clusters[0]
        assert not campaigns.busy_found(
            state, lon, NOW, "CHG1 is running on lon", retry_seconds=60, wait_seconds=wait,
            may_wait=may_wait,
        )  # fmt: skip
        assert lon.state == "skipped" and "still busy" not in lon.error
        assert lon.error.startswith("CHG1 is running on lon: skipped")
