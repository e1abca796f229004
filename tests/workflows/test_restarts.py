"""The restart planner: phone-safe waves, per-version service order, merged purposes."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from activities.catalog import (
    CALLMANAGER,
    CTIMANAGER,
    HAPROXY,
    TFTP,
    TOMCAT,
    TVS,
    XCP_ROUTER,
    callmanager_services,
    parse_version,
)
from activities.cluster_models import ClusterSnapshot, NodeSnapshot, ServiceState
from workflows.restart_models import (
    CmGroup,
    RestartNode,
    RestartPlan,
    RestartPlanInput,
    Role,
)
from workflows.restarts import (
    SERVICE_ORDER,
    explain,
    naive_plan,
    node_services,
    plan_restarts,
    restart_input_from_snapshot,
)

V12 = "12.5.1.14900-63"
V14 = "14.0.1.10000-20"
V14SU3 = "14.0.1.13900-155"
CM_SERVICES = [CALLMANAGER, CTIMANAGER, TFTP, TVS]


def groups_without_member(plan: RestartPlan, groups: Sequence[CmGroup]) -> list[tuple[int, str]]:
    """Waves in which a group has no running member (besides its CallManager-less members).

    A member counts as running in a wave unless that wave restarts its Cisco CallManager, so
    pass only the members that run Cisco CallManager (as the planner's input does).

    Args:
        plan: a restart plan.
        groups: the CallManager groups, members restricted to nodes running CallManager.

    Returns:
        (wave index, group name) for every violation; empty for a phone-safe plan.
    """
    bad: list[tuple[int, str]] = []
    for wave in plan.waves:
        down = {r.node for r in wave.nodes if CALLMANAGER in r.services}
        for g in groups:
            if g.members and all(m in down for m in g.members):
                bad.append((wave.index, g.name))
    return bad


def cucm(
    name: str,
    *,
    role: Role = "subscriber",
    version: str = V12,
    services: list[str] | None = None,
) -> RestartNode:
    return RestartNode(
        fqdn=name,
        role=role,
        version=version,
        services=CM_SERVICES if services is None else services,
    )


def imp(name: str, *, role: Role = "subscriber") -> RestartNode:
    return RestartNode(fqdn=name, product="imp", role=role, version=V12)


def group(name: str, *members: str, phones: int = 100) -> CmGroup:
    return CmGroup(name=name, members=list(members), phones=phones)


def topo(
    nodes: Sequence[RestartNode],
    groups: Sequence[CmGroup] = (),
    purposes: Sequence[str] = ("CallManager",),
    **kw: object,
) -> RestartPlanInput:
    return RestartPlanInput.model_validate(
        {"cluster": "lab", "nodes": nodes, "groups": groups, "purposes": purposes, **kw}
    )


def pub() -> RestartNode:
    """A dedicated publisher: TFTP and TVS, no CallManager (a common design)."""
    return cucm("pub", role="publisher", services=[TFTP, TVS])


def wave_of(plan: RestartPlan, node: str, service: str = CALLMANAGER) -> int:
    (index,) = [
        w.index for w in plan.waves for r in w.nodes if r.node == node and service in r.services
    ]
    return index


def down(plan: RestartPlan, index: int) -> set[str]:
    return {r.node for r in plan.waves[index - 1].nodes if CALLMANAGER in r.services}


def live_groups(inp: RestartPlanInput) -> list[CmGroup]:
    """Groups restricted to members that run Cisco CallManager (what 'running member' means)."""
    runs = {n.fqdn for n in inp.nodes if n.product == "cucm" and CALLMANAGER in n.services}
    out = []
    for g in inp.groups:
        members = [m for m in g.members if m in runs]
        if members:
            out.append(CmGroup(name=g.name, members=members, phones=g.phones))
    return out


# --- topologies with 1-, 2- and 3-member groups --------------------------------------------------


def test_two_member_groups_restart_secondaries_first_and_keep_a_member_running() -> None:
    inp = topo(
        [pub(), cucm("a"), cucm("b"), cucm("c"), cucm("d")],
        [group("G1", "a", "b", phones=1000), group("G2", "c", "d", phones=1000)],
    )
    plan = plan_restarts(inp)

    assert [sorted(down(plan, w.index)) for w in plan.waves] == [["b", "d"], ["a", "c"], []]
    assert groups_without_member(plan, live_groups(inp)) == []
    assert plan.waves[0].phones_affected == 0, "secondaries carry no registrations"
    assert {(f.group, f.from_node, f.to_node) for f in plan.waves[1].failovers} == {
        ("G1", "a", "b"),
        ("G2", "c", "d"),
    }
    assert plan.waves[1].phones_affected == 2000
    assert plan.waves[1].phones_stranded == 0
    assert plan.unavoidable_impact == []
    # The dedicated publisher drops no phones: it goes in the first wave, not a wave of its own.
    assert plan.waves[0].nodes[0].node == "pub"


def test_three_member_group_needs_two_waves_and_restarts_its_primary_last() -> None:
    inp = topo([cucm("a"), cucm("b"), cucm("c")], [group("G", "a", "b", "c", phones=300)])
    plan = plan_restarts(inp)

    cm_waves = [w for w in plan.waves if down(plan, w.index)]
    assert len(cm_waves) == 2
    assert down(plan, 1) == {"b", "c"} and down(plan, 2) == {"a"}
    # While b and c restart, phones stay on a; while a restarts, they go to b (already done).
    assert plan.waves[0].failovers == []
    (f,) = plan.waves[1].failovers
    assert (f.from_node, f.to_node, f.phones) == ("a", "b", 300)


def test_single_member_group_is_flagged_as_unavoidable_impact() -> None:
    inp = topo(
        [cucm("a"), cucm("b"), cucm("solo")],
        [group("G", "a", "b", phones=500), group("Lonely", "solo", phones=40)],
    )
    plan = plan_restarts(inp)

    (u,) = plan.unavoidable_impact
    assert (u.group, u.node, u.phones, u.wave) == ("Lonely", "solo", 40, wave_of(plan, "solo"))
    assert "no alternative" in u.reason
    stranded = [f for w in plan.waves for f in w.failovers if f.to_node is None]
    assert [(f.group, f.phones) for f in stranded] == [("Lonely", 40)]
    # Only the inherently unsafe group is ever without a running member.
    assert groups_without_member(plan, live_groups(inp)) == [(u.wave, "Lonely")]


def test_member_without_callmanager_does_not_count_as_an_alternative() -> None:
    inp = topo(
        [cucm("a"), cucm("tftp-only", services=[TFTP])],
        [group("G", "a", "tftp-only", phones=10)],
    )
    plan = plan_restarts(inp)

    (u,) = plan.unavoidable_impact
    assert u.node == "a"
    assert plan.waves[wave_of(plan, "a") - 1].phones_stranded == 10


def test_odd_cycle_of_groups_needs_three_waves() -> None:
    inp = topo(
        [cucm("a"), cucm("b"), cucm("c")],
        [group("AB", "a", "b"), group("BC", "b", "c"), group("CA", "c", "a")],
        tftp_last_cluster_wide=False,
    )
    plan = plan_restarts(inp)

    assert len(plan.waves) == 3
    assert groups_without_member(plan, live_groups(inp)) == []


def test_conflicting_preferences_favour_the_group_with_more_phones() -> None:
    inp = topo(
        [cucm("a"), cucm("b")],
        [group("Big", "a", "b", phones=900), group("Small", "b", "a", phones=10)],
        tftp_last_cluster_wide=False,
    )
    plan = plan_restarts(inp)

    assert wave_of(plan, "b") < wave_of(plan, "a"), "Big's primary restarts last"


def test_phone_cap_spreads_primaries_over_waves() -> None:
    nodes = [cucm("a"), cucm("b"), cucm("c"), cucm("d")]
    groups = [group("G1", "a", "b", phones=1000), group("G2", "c", "d", phones=1000)]
    capped = plan_restarts(topo(nodes, groups, max_phone_fraction_per_wave=0.5))

    assert max(w.phones_affected for w in capped.waves) == 1000
    assert wave_of(capped, "a") != wave_of(capped, "c")
    uncapped = plan_restarts(topo(nodes, groups))
    assert max(w.phones_affected for w in uncapped.waves) == 2000
    # Fewest waves outranks the secondary-first preference: the cap costs no extra wave here,
    # one group's primary restarts before its secondary instead.
    assert len(capped.waves) == len(uncapped.waves)
    assert {
        (wave_of(capped, "a") < wave_of(capped, "b")),
        (wave_of(capped, "c") < wave_of(capped, "d")),
    } == {True, False}


def test_node_cap_limits_each_wave() -> None:
    nodes = [cucm(n) for n in "abcdef"]
    groups = [group("G1", "a", "b"), group("G2", "c", "d"), group("G3", "e", "f")]
    plan = plan_restarts(topo(nodes, groups, max_nodes_per_wave=2, tftp_last_cluster_wide=False))

    assert all(len(w.nodes) <= 2 for w in plan.waves)
    assert len(plan.waves) == 3
    assert groups_without_member(plan, groups) == []


# --- per-version service order ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("version", "key", "expected"),
    [
        ("10.5.2.15900-8", "RSA", [CALLMANAGER, CTIMANAGER, TVS, TFTP]),
        (V12, "RSA", [CALLMANAGER, CTIMANAGER, TVS, TFTP]),
        (V14, "RSA", [CALLMANAGER, CTIMANAGER, HAPROXY]),
        ("14", "RSA", [CALLMANAGER, CTIMANAGER, HAPROXY]),
        (V14SU3, "RSA", [HAPROXY]),
        (V14SU3, "ECDSA", [CALLMANAGER, HAPROXY]),
        ("15.0.1.10000-32", "RSA", [HAPROXY]),
    ],
)
def test_callmanager_matrix(version: str, key: str, expected: list[str]) -> None:
    assert list(callmanager_services(version, key)) == expected


def test_parse_version() -> None:
    assert parse_version("14.0.1.13900-155") == (14, 0, 1, 13900)
    assert parse_version("12.5") == (12, 5)


def test_12_5_node_order_ends_with_tftp() -> None:
    plan = plan_restarts(topo([cucm("a")], tftp_last_cluster_wide=False))
    (r,) = plan.waves[0].nodes
    assert r.services == [CALLMANAGER, CTIMANAGER, TVS, TFTP]


def test_12_5_tftp_moves_to_a_final_wave_after_every_callmanager() -> None:
    inp = topo([pub(), cucm("a"), cucm("b")], [group("G", "a", "b")])
    plan = plan_restarts(inp)

    last = plan.waves[-1]
    assert {r.node for r in last.nodes} == {"pub", "a", "b"}
    assert all(r.services == [TFTP] for r in last.nodes)
    assert all(TFTP not in r.services for w in plan.waves[:-1] for r in w.nodes)
    assert last.failovers == []


def test_14_base_restarts_callmanager_ctimanager_haproxy() -> None:
    plan = plan_restarts(
        topo([cucm("a", version=V14), cucm("b", version=V14)], [group("G", "a", "b")])
    )
    assert [r.services for w in plan.waves for r in w.nodes] == [
        [CALLMANAGER, CTIMANAGER, HAPROXY],
        [CALLMANAGER, CTIMANAGER, HAPROXY],
    ]
    assert len(plan.waves) == 2


def test_14su1_rsa_drops_no_phones_and_needs_one_wave() -> None:
    nodes = [cucm(n, version=V14SU3) for n in "abc"]
    plan = plan_restarts(topo(nodes, [group("G", "a", "b", "c", phones=99)]))

    assert len(plan.waves) == 1
    assert all(r.services == [HAPROXY] for r in plan.waves[0].nodes)
    assert plan.waves[0].phones_affected == 0


def test_14su1_ecdsa_restarts_callmanager_then_haproxy_in_waves() -> None:
    nodes = [cucm(n, version=V14SU3) for n in "ab"]
    plan = plan_restarts(topo(nodes, [group("G", "a", "b")], callmanager_key="ECDSA"))
    assert [r.services for w in plan.waves for r in w.nodes] == [[CALLMANAGER, HAPROXY]] * 2
    assert len(plan.waves) == 2


def test_feature_services_only_where_activated() -> None:
    node = cucm("a", services=[CALLMANAGER])
    assert node_services(node, ["CallManager"]) == [CALLMANAGER]


# --- purposes -------------------------------------------------------------------------------------


def test_tomcat_publisher_first_then_subscribers_then_imp_subscribers() -> None:
    inp = topo(
        [cucm("sub1"), imp("imp-sub"), imp("imp-pub", role="publisher"), pub(), cucm("sub2")],
        purposes=["tomcat"],
    )
    plan = plan_restarts(inp)

    assert [[r.node for r in w.nodes] for w in plan.waves] == [
        ["pub"],
        ["sub1", "sub2", "imp-pub"],
        ["imp-sub"],
    ]
    assert all(r.services == [TOMCAT] for w in plan.waves for r in w.nodes)
    assert all(w.failovers == [] for w in plan.waves)


def test_xmpp_purposes_restart_the_xcp_router_once_on_imp_nodes_only() -> None:
    inp = topo(
        [pub(), cucm("a"), imp("imp-pub", role="publisher"), imp("imp-sub")],
        purposes=["cup-xmpp", "cup-xmpp-s2s"],
    )
    plan = plan_restarts(inp)

    restarts = [(r.node, r.services) for w in plan.waves for r in w.nodes]
    assert restarts == [("imp-pub", [XCP_ROUTER]), ("imp-sub", [XCP_ROUTER])]


def test_merged_purposes_restart_each_service_once_per_node_in_order() -> None:
    inp = topo(
        [pub(), cucm("a"), cucm("b"), imp("imp-pub", role="publisher")],
        [group("G", "a", "b")],
        purposes=["tomcat", "CallManager", "cup-xmpp", "tomcat"],
    )
    plan = plan_restarts(inp)

    seen = [(r.node, s) for w in plan.waves for r in w.nodes for s in r.services]
    assert len(seen) == len(set(seen))
    per_node: dict[str, list[str]] = {}
    for node, service in seen:
        per_node.setdefault(node, []).append(service)
    assert per_node == {
        "pub": [TOMCAT, TVS, TFTP],
        "a": [TOMCAT, CALLMANAGER, CTIMANAGER, TVS, TFTP],
        "b": [TOMCAT, CALLMANAGER, CTIMANAGER, TVS, TFTP],
        "imp-pub": [TOMCAT, XCP_ROUTER],
    }
    assert wave_of(plan, "pub", TOMCAT) == 1
    assert all(wave_of(plan, n, TOMCAT) > 1 for n in ("a", "b", "imp-pub"))
    assert plan.purposes == ["tomcat", "CallManager", "cup-xmpp"]


def test_ctl_update_first_only_for_callmanager_in_mixed_mode() -> None:
    nodes = [cucm("a")]
    assert plan_restarts(topo(nodes, security_mode=1)).ctl_update_first
    assert not plan_restarts(topo(nodes, security_mode=0)).ctl_update_first
    assert not plan_restarts(topo(nodes, purposes=["tomcat"], security_mode=1)).ctl_update_first
    assert naive_plan(topo(nodes, security_mode=1)).ctl_update_first


# --- naive vs rolling -----------------------------------------------------------------------------


def test_naive_plan_restarts_everything_at_once_and_strands_phones() -> None:
    inp = topo(
        [pub(), cucm("a"), cucm("b"), cucm("c"), cucm("d")],
        [group("G1", "a", "b", phones=1000), group("G2", "c", "d", phones=1000)],
    )
    naive = naive_plan(inp)
    rolling = plan_restarts(inp)

    (wave,) = naive.waves
    assert naive.strategy == "naive"
    assert {r.node for r in wave.nodes} == {"pub", "a", "b", "c", "d"}
    assert wave.nodes[1].services == [CALLMANAGER, CTIMANAGER, TVS, TFTP]
    assert wave.phones_stranded == 2000
    assert groups_without_member(naive, live_groups(inp)) == [(1, "G1"), (1, "G2")]
    assert sum(w.phones_stranded for w in rolling.waves) == 0


def test_explain_names_nodes_services_and_phone_impact() -> None:
    inp = topo(
        [cucm("a"), cucm("b"), cucm("solo")],
        [group("G", "a", "b", phones=500), group("Lonely", "solo", phones=40)],
        security_mode=1,
    )
    text = "\n".join(explain(plan_restarts(inp)))

    assert "utils ctl update CTLFile" in text
    assert "wave 1:" in text and "wave 2:" in text
    assert "a (subscriber): restart Cisco CallManager, Cisco CTIManager" in text
    assert "500 phones fail over a -> b" in text
    assert "Lonely: 40 phones on solo have NO running member" in text
    assert "unavoidable" in text


def test_input_from_snapshot() -> None:
    snapshot = ClusterSnapshot(
        cluster="lab",
        taken_at=datetime(2025, 1, 1, tzinfo=UTC),
        version=V12,
        security_mode=1,
        nodes=[
            NodeSnapshot(
                fqdn="pub.lab",
                role="publisher",
                services=[
                    ServiceState(name=CALLMANAGER, status="Stopped", activated=False),
                    ServiceState(name=TFTP, status="Started"),
                ],
            ),
            NodeSnapshot(fqdn="imp.lab", product="imp"),
        ],
    )
    inp = restart_input_from_snapshot(snapshot, [], ["CallManager"], max_nodes_per_wave=3)
    assert inp.nodes[0].services == [TFTP]
    assert inp.nodes[1].product == "imp"
    assert (inp.security_mode, inp.max_nodes_per_wave) == (1, 3)


def test_version_must_start_with_a_number() -> None:
    with pytest.raises(ValueError, match="major number"):
        RestartNode(fqdn="a", version="unknown")


# --- properties over random topologies ------------------------------------------------------------


@st.composite
def topologies(draw: st.DrawFn) -> RestartPlanInput:
    names = [f"n{i}" for i in range(draw(st.integers(1, 7)))]
    version = draw(st.sampled_from([V12, V14, V14SU3]))
    nodes = [
        cucm(
            n,
            role="publisher" if i == 0 else "subscriber",
            version=version,
            services=draw(st.sampled_from([CM_SERVICES, [CALLMANAGER], [TFTP, TVS], []])),
        )
        for i, n in enumerate(names)
    ]
    nodes += [
        imp(f"imp{i}", role="publisher" if i == 0 else "subscriber")
        for i in range(draw(st.integers(0, 2)))
    ]
    groups = [
        group(
            f"G{g}",
            *draw(st.lists(st.sampled_from(names), min_size=1, max_size=3, unique=True)),
            phones=draw(st.integers(0, 2000)),
        )
        for g in range(draw(st.integers(0, 6)))
    ]
    purposes = draw(
        st.lists(
            st.sampled_from(["CallManager", "tomcat", "cup-xmpp"]),
            min_size=1,
            max_size=3,
            unique=True,
        )
    )
    return topo(
        draw(st.permutations(nodes)),
        groups,
        purposes=purposes,
        callmanager_key=draw(st.sampled_from(["RSA", "ECDSA"])),
        tftp_last_cluster_wide=draw(st.booleans()),
        staged_phone_resets=draw(st.booleans()),
        max_nodes_per_wave=draw(st.none() | st.integers(1, 4)),
        max_phone_fraction_per_wave=draw(st.none() | st.sampled_from([0.34, 0.5])),
    )


def _min_callmanager_waves(inp: RestartPlanInput) -> int:
    """Brute force: the fewest waves in which no group loses all its CallManager members."""
    runs = {n.fqdn for n in inp.nodes if CALLMANAGER in n.services}
    restarting = sorted(
        n.fqdn
        for n in inp.nodes
        if CALLMANAGER in node_services(n, inp.purposes, inp.callmanager_key)
    )
    edges = [
        [m for m in g.members if m in runs]
        for g in inp.groups
        if len([m for m in g.members if m in runs]) >= 2
        and all(m in restarting for m in g.members if m in runs)
    ]
    if not restarting:
        return 0
    for k in range(1, len(restarting) + 1):
        for colours in itertools.product(range(k), repeat=len(restarting)):
            wave = dict(zip(restarting, colours, strict=True))
            if all(len({wave[m] for m in e}) > 1 for e in edges):
                return k
    raise AssertionError("unreachable")


def check_stages(plan: RestartPlan) -> None:
    """The rollout stages run every wave once, in order, with the CTL first, the phone resets
    right before the first wave that stops CallManager, and each gate draining the next
    wave's CallManager nodes."""
    kinds = [s.kind for s in plan.stages]
    assert (kinds[:1] == ["ctl-update"]) == plan.ctl_update_first
    assert kinds.count("ctl-update") == int(plan.ctl_update_first)
    waves = [s for s in plan.stages if s.kind == "wave"]
    assert [s.wave for s in waves] == [w.index for w in plan.waves]
    stops = [[r.node for r in w.nodes if CALLMANAGER in r.services] for w in plan.waves]
    first_cm = next((i for i, nodes in enumerate(stops) if nodes), None)
    if plan.reset_phones and first_cm is not None:
        assert kinds.count("phone-resets") == 1
        assert plan.stages[kinds.index("phone-resets") + 1].wave == first_cm + 1
    else:
        # No resets, or no wave stops Cisco CallManager (none runs it): nothing to reset before.
        assert "phone-resets" not in kinds
    for stage in waves:
        wave = plan.wave(stage.wave)
        assert stage.health_gate == (wave.phones_affected > 0)
        expected = stops[stage.wave] if stage.health_gate and stage.wave < len(stops) else []
        assert stage.drain == expected


@settings(max_examples=150, deadline=None)
@given(topologies())
def test_rolling_plan_properties(inp: RestartPlanInput) -> None:
    plan = plan_restarts(inp)
    groups = live_groups(inp)

    # (a) every group with two or more CallManager members keeps one running in every wave.
    unavoidable = {u.group for u in plan.unavoidable_impact}
    assert all(name in unavoidable for _, name in groups_without_member(plan, groups))
    assert {u.group for u in plan.unavoidable_impact} == {
        g.name
        for g in groups
        if len(g.members) == 1 and any(g.members[0] in down(plan, w.index) for w in plan.waves)
    }
    stranded = sum(w.phones_stranded for w in plan.waves)
    assert stranded == sum(u.phones for u in plan.unavoidable_impact)

    # (c) every needed restart exactly once, and nothing else.
    seen = [(r.node, s) for w in plan.waves for r in w.nodes for s in r.services]
    assert len(seen) == len(set(seen))
    expected = {
        (n.fqdn, s) for n in inp.nodes for s in node_services(n, inp.purposes, inp.callmanager_key)
    }
    assert set(seen) == expected

    # (b) per node, services in the matrix order across the whole plan; with staged phone
    # resets, TVS and TFTP come first, in a wave of their own that moves no registration.
    order = SERVICE_ORDER
    if plan.reset_phones:
        order = (TVS, TFTP, *(s for s in SERVICE_ORDER if s not in (TVS, TFTP)))
        assert {s for r in plan.waves[0].nodes for s in r.services} <= {TVS, TFTP}
        assert {(n, s) for n, s in seen if s in (TVS, TFTP)} == {
            (r.node, s) for r in plan.waves[0].nodes for s in r.services
        }
    assert plan.reset_phones == (
        inp.staged_phone_resets
        and "CallManager" in inp.purposes
        and "tomcat" not in inp.purposes
        and any(g.phones for g in inp.groups)
        and any(s == TFTP for _, s in seen)
    )
    check_stages(plan)
    rank = {s: i for i, s in enumerate(order)}
    for node in {n for n, _ in seen}:
        ranks = [rank[s] for n, s in seen if n == node]
        assert ranks == sorted(ranks)

    # (d) publisher's Tomcat before every other node's.
    tomcat = {
        n: w.index for w in plan.waves for r in w.nodes for n in [r.node] if TOMCAT in r.services
    }
    publishers = [n.fqdn for n in inp.nodes if n.role == "publisher" and n.product == "cucm"]
    for p in publishers:
        if p in tomcat:
            assert all(tomcat[p] < w for n, w in tomcat.items() if n != p)

    # caps
    if inp.max_nodes_per_wave is not None:
        tftp_wave = None
        if plan.reset_phones:
            tftp_wave = plan.waves[0]
        elif inp.tftp_last_cluster_wide and any(s == TFTP for _, s in seen):
            tftp_wave = plan.waves[-1]
        assert all(len(w.nodes) <= inp.max_nodes_per_wave for w in plan.waves if w is not tftp_wave)

    # (e) fewest waves carrying CallManager restarts (when no cap or precedence adds any).
    if (
        plan.optimal
        and inp.max_nodes_per_wave is None
        and inp.max_phone_fraction_per_wave is None
        and "tomcat" not in inp.purposes
    ):
        cm_waves = sum(1 for w in plan.waves if down(plan, w.index))
        assert cm_waves == _min_callmanager_waves(inp)
        assert all(w.nodes for w in plan.waves)

    # (f) deterministic, whatever the input order.
    shuffled = inp.model_copy(update={"nodes": inp.nodes[::-1], "groups": inp.groups[::-1]})
    assert plan_restarts(shuffled) == plan


@settings(max_examples=100, deadline=None)
@given(topologies())
def test_naive_plan_is_one_wave_that_strands_every_fully_restarted_group(
    inp: RestartPlanInput,
) -> None:
    plan = naive_plan(inp)
    groups = live_groups(inp)
    assert len(plan.waves) <= 1
    restarting = down(plan, 1) if plan.waves else set()
    expected = sorted((1, g.name) for g in groups if all(m in restarting for m in g.members))
    assert sorted(groups_without_member(plan, groups)) == expected


def test_exhausted_search_budget_still_gives_a_phone_safe_plan() -> None:
    names = [f"s{i}" for i in range(8)]
    groups = [group(f"G{i}", a, b) for i, (a, b) in enumerate(itertools.combinations(names, 2))]
    inp = topo([cucm(n) for n in names], groups, search_budget=1)
    plan = plan_restarts(inp)

    assert not plan.optimal
    assert any("search budget" in n for n in plan.notes)
    assert groups_without_member(plan, groups) == []


# --- staged phone resets -----------------------------------------------------------------------


def staged_topo(**kw: object) -> RestartPlanInput:
    nodes = [cucm("pub", role="publisher"), cucm("s1"), cucm("s2"), cucm("s3")]
    groups = [group("G1", "s1", "s3", "pub"), group("G2", "s2", "s3", "pub")]
    fields: dict[str, object] = {"groups": groups, "staged_phone_resets": True, **kw}
    return topo(nodes, **fields)  # type: ignore[arg-type]


def test_staged_resets_move_tvs_and_tftp_to_a_first_wave_without_registrations() -> None:
    plan = plan_restarts(staged_topo())
    assert plan.reset_phones
    first = plan.waves[0]
    assert {r.node for r in first.nodes} == {"pub", "s1", "s2", "s3"}
    assert all(r.services == [TVS, TFTP] for r in first.nodes)
    assert not first.failovers and first.phones_affected == 0
    later = [s for w in plan.waves[1:] for r in w.nodes for s in r.services]
    assert TFTP not in later and TVS not in later
    assert sorted(later) == sorted([CALLMANAGER, CTIMANAGER] * 4)
    # Still phone-safe: no group loses every member in a wave.
    assert groups_without_member(plan, live_groups(staged_topo())) == []
    text = "\n".join(explain(plan))
    # The resets are announced right before the first wave that restarts CallManager.
    assert text.index("phone resets: every registered phone") > text.index("wave 1:")
    assert text.index("phone resets: every registered phone") < text.index("wave 2:")
    unstaged = plan_restarts(staged_topo(staged_phone_resets=False))
    assert [s.kind for s in unstaged.stages] == ["wave"] * len(unstaged.stages)
    kinds = [s.kind for s in plan.stages]
    assert kinds[:3] == ["wave", "phone-resets", "wave"] and kinds.count("phone-resets") == 1


@pytest.mark.parametrize(
    ("kw", "why"),
    [
        ({"purposes": ["CallManager", "tomcat"]}, "tomcat keeps TFTP after the web restarts"),
        ({"groups": []}, "no phones to reset"),
        ({"staged_phone_resets": False}, "not asked"),
    ],
)
def test_staged_resets_fall_back_to_tftp_last(kw: dict[str, object], why: str) -> None:
    plan = plan_restarts(staged_topo(**kw))
    assert not plan.reset_phones, why
    assert all(r.services == [TFTP] for r in plan.waves[-1].nodes), why
    assert all(TFTP not in r.services for w in plan.waves[:-1] for r in w.nodes), why


def test_staged_resets_need_a_tftp_restart_in_the_version_matrix() -> None:
    nodes = [cucm("pub", role="publisher", version=V14SU3), cucm("s1", version=V14SU3)]
    plan = plan_restarts(topo(nodes, [group("G1", "s1", "pub")], staged_phone_resets=True))
    assert not plan.reset_phones  # 14SU1+ RSA: HAProxy only, CUCM resets the phones itself
    assert all(TFTP not in r.services for w in plan.waves for r in w.nodes)


def test_the_naive_plan_never_resets_phones_itself() -> None:
    plan = naive_plan(staged_topo())
    assert not plan.reset_phones and len(plan.waves) == 1
