"""Tomcat restarts in capped waves: the publisher alone first, then up to N nodes at once, at
most one IM&P node per wave, and what users lose meanwhile in every wave of the plan."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from activities import catalog
from activities.catalog import TOMCAT
from activities.clients.inventory import ClusterEntry, InventoryError, RestartsPolicyEntry
from activities.cluster_models import ChangePolicy, ClusterSnapshot, NodeSnapshot
from workflows.models import RenewalOptions
from workflows.plan import compose_plan, tomcat_parallel
from workflows.restart_models import RestartNode, RestartPlan, RestartPlanInput
from workflows.restarts import explain, plan_restarts, restart_plan_for

V12 = "12.5.1.14900-63"
V14 = "14.0.1.13900-155"


def topology(subs: int, imps: int, version: str = V14) -> list[RestartNode]:
    """A CUCM publisher, ``subs`` CUCM subscribers and ``imps`` IM&P nodes (publisher first)."""
    nodes = [RestartNode(fqdn="cucm-pub", role="publisher", version=version)]
    nodes += [RestartNode(fqdn=f"cucm-sub{i:02}", version=version) for i in range(subs)]
    nodes += [
        RestartNode(
            fqdn=f"imp-{i:02}",
            product="imp",
            role="publisher" if i == 0 else "subscriber",
            version=version,
        )
        for i in range(imps)
    ]
    return nodes


def capped(nodes: list[RestartNode], cap: int, purpose: str = "tomcat") -> RestartPlan:
    return plan_restarts(
        RestartPlanInput(cluster="c", nodes=nodes, purposes=[purpose], tomcat_max_parallel=cap)
    )


def snapshot(subs: int, imps: int) -> ClusterSnapshot:
    nodes = [NodeSnapshot(fqdn="cucm-pub.example.com", product="cucm", role="publisher")]
    nodes += [NodeSnapshot(fqdn=f"cucm-sub{i}.example.com") for i in range(subs)]
    nodes += [
        NodeSnapshot(
            fqdn=f"imp-{i}.example.com", product="imp", role="publisher" if i == 0 else "subscriber"
        )
        for i in range(imps)
    ]
    return ClusterSnapshot(
        cluster="lab",
        taken_at=datetime(2026, 11, 30, tzinfo=UTC),
        version=V14,
        publisher="cucm-pub.example.com",
        sso_enabled=False,
        nodes=nodes,
    )


@settings(max_examples=200, deadline=None)
@given(
    subs=st.integers(0, 9),
    imps=st.integers(0, 4),
    cap=st.integers(2, 6),
    purpose=st.sampled_from(["tomcat", "tomcat-ECDSA"]),
)
def test_capped_waves_keep_the_rules(subs: int, imps: int, cap: int, purpose: str) -> None:
    nodes = topology(subs, imps)
    plan = capped(nodes, cap, purpose)
    waves = [[r.node for r in w.nodes] for w in plan.waves]
    # Every node restarts exactly once, and Tomcat on each.
    assert sorted(n for w in waves for n in w) == sorted(n.fqdn for n in nodes)
    assert all(TOMCAT in r.services for w in plan.waves for r in w.nodes)
    # The CUCM publisher first, alone.
    assert waves[0] == ["cucm-pub"]
    # No wave over the cap; at most one IM&P node per wave.
    assert all(len(w) <= cap for w in waves)
    imp_waves = [i for i, w in enumerate(waves) for n in w if n.startswith("imp-")]
    assert len(imp_waves) == len(set(imp_waves))
    # The IM&P publisher before every IM&P subscriber.
    if imps:
        wave_of = {n: i for i, w in enumerate(waves) for n in w}
        assert all(wave_of["imp-00"] < wave_of[f"imp-{i:02}"] for i in range(1, imps))
    # The fewest waves those rules allow.
    rest = subs + imps
    assert len(waves) == 1 + (max(math.ceil(rest / cap), imps) if rest else 0)
    # Nothing moves phones; every wave names what is lost and who still serves.
    assert all(w.phones_affected == 0 for w in plan.waves)
    for w in plan.waves:
        assert all(r.unavailable for r in w.nodes)
        assert set(w.tomcat_up) == {n.fqdn for n in nodes} - {r.node for r in w.nodes}


def test_four_nodes_take_two_waves_instead_of_four() -> None:
    nodes = topology(2, 1)
    sequential = plan_restarts(
        RestartPlanInput(cluster="c", nodes=nodes, purposes=["tomcat"], max_nodes_per_wave=1)
    )
    assert [[r.node for r in w.nodes] for w in sequential.waves] == [
        ["cucm-pub"],
        ["cucm-sub00"],
        ["cucm-sub01"],
        ["imp-00"],
    ]
    plan = capped(nodes, 3)
    assert [[r.node for r in w.nodes] for w in plan.waves] == [
        ["cucm-pub"],
        ["cucm-sub00", "cucm-sub01", "imp-00"],
    ]
    assert any("capped waves" in n and "up to 3 nodes" in n for n in plan.notes)


def test_imp_nodes_never_share_a_wave_even_with_room() -> None:
    plan = capped(topology(0, 3), 5)
    assert [[r.node for r in w.nodes] for w in plan.waves] == [
        ["cucm-pub"],
        ["imp-00"],
        ["imp-01"],
        ["imp-02"],
    ]


def test_phone_impacting_changes_ignore_the_tomcat_cap() -> None:
    nodes = [
        RestartNode(fqdn="cucm-pub", role="publisher", version=V14, services=[]),
        RestartNode(fqdn="imp-a", product="imp", role="publisher", version=V14),
        RestartNode(fqdn="imp-b", product="imp", version=V14),
        RestartNode(fqdn="imp-c", product="imp", version=V14),
    ]
    with_cap = capped(nodes, 3, "cup-xmpp")
    without = plan_restarts(RestartPlanInput(cluster="c", nodes=nodes, purposes=["cup-xmpp"]))
    assert with_cap.waves == without.waves
    assert not any("capped waves" in n for n in with_cap.notes)


def test_what_users_lose_depends_on_role_product_and_release() -> None:
    pub12 = catalog.tomcat_restart_losses("cucm", "publisher", V12)
    sub14 = catalog.tomcat_restart_losses("cucm", "subscriber", V14)
    imp = catalog.tomcat_restart_losses("imp", "subscriber", V14)
    assert catalog.AXL_API in pub12 and catalog.DRF_BACKUP in pub12
    # 14+ runs AXL in its own container, which a Cisco Tomcat restart leaves up.
    assert catalog.AXL_API not in sub14 and catalog.DRF_BACKUP not in sub14
    assert catalog.WEB_ADMIN in sub14 and catalog.UDS_JABBER in sub14
    assert imp == (catalog.IMP_ADMIN, catalog.IMP_JABBER)


def test_explain_shows_each_waves_loss_and_who_still_serves() -> None:
    lines = explain(capped(topology(2, 1, V12), 3))
    text = "\n".join(lines)
    assert "wave 2:" in text
    assert f"users lose meanwhile: {catalog.WEB_ADMIN}; {catalog.AXL_API}" in text
    assert f"users lose meanwhile: {catalog.IMP_ADMIN}; {catalog.IMP_JABBER}" in text
    wave2 = lines[lines.index("wave 2:") :]
    assert "  still serving the web, AXL and UDS: cucm-pub" in wave2


def test_sequential_stays_the_default_and_keeps_the_plan_hash() -> None:
    snap = snapshot(2, 1)
    default = compose_plan(snap, ["tomcat"], RenewalOptions())
    explicit = compose_plan(snap, ["tomcat"], RenewalOptions(), tomcat_parallel=1)
    assert default.plan_hash == explicit.plan_hash
    assert default.restarts is not None
    assert [len(w.nodes) for w in default.restarts.waves] == [1, 1, 1, 1]
    assert restart_plan_for(snap, ["tomcat"]) == restart_plan_for(
        snap, ["tomcat"], tomcat_parallel=1
    )
    faster = compose_plan(snap, ["tomcat"], RenewalOptions(), tomcat_parallel=4)
    assert faster.restarts is not None
    assert [len(w.nodes) for w in faster.restarts.waves] == [1, 3]
    assert faster.plan_hash != default.plan_hash
    restart_steps = [s for s in faster.steps if s.phase == "restarts"]
    assert [s.detail for s in restart_steps] == ["wave 1", "wave 2", "wave 2", "wave 2"]


def cluster(policy: dict[str, object]) -> ClusterEntry:
    return ClusterEntry.model_validate(
        {
            "name": "lab",
            "domain": "example.com",
            "publisher": "cucm-pub",
            "nodes": [{"fqdn": "cucm-pub.example.com", "role": "publisher"}],
            "credentials": {
                "os_admin": {"username": "a", "password": "env:X"},
                "app_user": {"username": "b", "password": "env:Y"},
            },
            "change_policy": policy,
        }
    )


def test_policy_and_option_choose_the_parallelism() -> None:
    assert ChangePolicy().tomcat_parallel == 1
    assert ChangePolicy.of(cluster({})).tomcat_parallel == 1
    capped_policy = ChangePolicy.of(cluster({"restarts": {"tomcat": "capped", "max_parallel": 4}}))
    assert capped_policy.tomcat_parallel == 4
    # sequential ignores max_parallel; the option overrides the policy both ways.
    sequential = ChangePolicy.of(cluster({"restarts": {"max_parallel": 4}}))
    assert sequential.tomcat_parallel == 1
    assert tomcat_parallel(RenewalOptions(), capped_policy) == 4
    assert tomcat_parallel(RenewalOptions(restart_parallel=1), capped_policy) == 1
    assert tomcat_parallel(RenewalOptions(restart_parallel=3), ChangePolicy()) == 3
    assert RestartsPolicyEntry(tomcat="capped").tomcat_parallel == 2


@pytest.mark.parametrize(
    ("restarts", "words"),
    [
        ({"tomcat": "parallel"}, "sequential"),
        ({"tomcat": "capped", "max_parallel": 0}, "max_parallel"),
        ({"tomcat": "capped", "parallel": 3}, "parallel"),
    ],
)
def test_a_bad_restarts_block_is_refused_with_its_field(
    restarts: dict[str, object], words: str
) -> None:
    with pytest.raises((InventoryError, ValueError), match=words):
        cluster({"restarts": restarts})
