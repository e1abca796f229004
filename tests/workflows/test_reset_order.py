"""Phone resets by primary (workflows/reset_order.py) and the unverified behaviours a plan
names (workflows/unverified.py): pure planner tests."""

from __future__ import annotations

import pytest

from activities.catalog import CALLMANAGER, CTIMANAGER, HAPROXY, TFTP, TVS
from activities.clients.cucm import inferred
from workflows.restart_models import RestartPlan, RestartPlanInput
from workflows.restarts import explain, plan_restarts
from workflows.unverified import unverified_behaviours

V12 = "12.5.1.14900-63"
V14SU1 = "14.0.1.11900-132"
CM12 = [CALLMANAGER, CTIMANAGER, TFTP, TVS]
CM14 = [CALLMANAGER, CTIMANAGER, TFTP, TVS, HAPROXY]


def fqdn(host: str) -> str:
    return f"{host}.lab.example.com"


def topology(groups: int, version: str = V12, **options: object) -> RestartPlanInput:
    """The benchmark's shape: one group per primary subscriber, all sharing the last
    subscriber as secondary and the publisher as tertiary; 1,000 phones per group."""
    subs = [f"cucm-sub{i}" for i in range(1, groups + 2)]
    nodes = [
        {
            "fqdn": fqdn(h),
            "product": "cucm",
            "role": "publisher" if h == "cucm-pub" else "subscriber",
            "version": version,
            "services": CM12 if version == V12 else CM14,
        }
        for h in ["cucm-pub", *subs]
    ]
    return RestartPlanInput.model_validate(
        {
            "cluster": "lab",
            "nodes": nodes,
            "groups": [
                {
                    "name": f"G{i}",
                    "members": [fqdn(subs[i - 1]), fqdn(subs[-1]), fqdn("cucm-pub")],
                    "phones": 1000,
                }
                for i in range(1, groups + 1)
            ],
            "purposes": ["CallManager"],
            "staged_phone_resets": True,
            "resets_by_primary": True,
            **options,
        }
    )


def moving_waves(plan: RestartPlan) -> list[int]:
    return [w.index for w in plan.waves if w.failovers]


@pytest.mark.parametrize("groups", [2, 3])
def test_each_home_is_reset_sccp_gated_then_sip_ungated_right_before_its_wave(
    groups: int,
) -> None:
    plan = plan_restarts(topology(groups))
    stages = plan.stages
    for index in moving_waves(plan):
        at = next(i for i, s in enumerate(stages) if s.kind == "wave" and s.wave == index)
        sccp, sip = stages[at - 2], stages[at - 1]
        homes = sorted({f.from_node for f in plan.wave(index).failovers})
        assert (sccp.kind, sccp.protocol, sccp.gated, sccp.nodes) == (
            "phone-resets",
            "SCCP",
            True,
            homes,
        )
        assert (sip.kind, sip.protocol, sip.gated, sip.nodes) == (
            "phone-resets",
            "SIP",
            False,
            homes,
        )
    # Every home gets its resets, and the last stage sweeps up whoever no stage reached.
    homes_reset = {n for s in stages if s.kind == "phone-resets" for n in s.nodes}
    assert homes_reset == {f.from_node for w in plan.waves for f in w.failovers}
    assert stages[-1].kind == "phone-resets" and stages[-1].sweep
    # TVS and TFTP restart first: the resets fetch the new ITL.
    assert set(plan.waves[0].nodes[0].services) == {TVS, TFTP}
    assert stages[0].kind == "wave" and stages[0].wave == 1


@pytest.mark.parametrize("groups", [2, 3])
def test_no_wave_fails_over_more_than_half_of_the_phones(groups: int) -> None:
    plan = plan_restarts(topology(groups))
    assert len(moving_waves(plan)) == groups
    assert all(w.phones_affected <= plan.total_phones / 2 for w in plan.waves)


def test_three_groups_move_at_most_a_third_of_the_phones_per_wave() -> None:
    plan = plan_restarts(topology(3))
    assert max(w.phones_affected for w in plan.waves) / plan.total_phones == pytest.approx(1 / 3)


def test_without_resets_by_primary_the_stages_are_those_of_before() -> None:
    plan = plan_restarts(topology(2, resets_by_primary=False))
    resets = [s for s in plan.stages if s.kind == "phone-resets"]
    assert len(resets) == 1 and not resets[0].nodes and not resets[0].sweep
    assert resets[0].protocol == "Any" and resets[0].gated


def test_a_cap_of_the_change_is_kept() -> None:
    plan = plan_restarts(topology(2, max_phone_fraction_per_wave=1.0))
    assert max(w.phones_affected for w in plan.waves) == plan.total_phones


def test_14su1_restarts_no_callmanager_so_no_phone_moves_and_says_what_it_assumes() -> None:
    plan = plan_restarts(topology(2, V14SU1))
    services = {s for w in plan.waves for nr in w.nodes for s in nr.services}
    assert services == {HAPROXY}
    assert all(not w.failovers and w.phones_affected == 0 for w in plan.waves)
    assert not any(s.kind == "phone-resets" for s in plan.stages)
    [fact] = unverified_behaviours(plan, V14SU1, ["CallManager"])
    assert fact.constant.endswith(".CALLMANAGER_HAPROXY_ONLY_BUILD")
    assert "HAProxy" in fact.behaviour


def test_a_12_5_plan_by_primary_names_the_reset_assumption_with_its_constant() -> None:
    plan = plan_restarts(topology(2))
    [fact] = unverified_behaviours(plan, V12, ["CallManager"])
    assert fact.constant == ("activities.clients.cucm.inferred.NO_AUTOMATIC_PHONE_RESET_BEFORE_14")
    assert inferred.NO_AUTOMATIC_PHONE_RESET_BEFORE_14 is True


def test_resets_left_to_cucm_before_14_say_nobody_may_reset_the_phones() -> None:
    plan = plan_restarts(topology(2, staged_phone_resets=False))
    [fact] = unverified_behaviours(plan, V12, ["CallManager"])
    assert fact.constant.endswith(".NO_AUTOMATIC_PHONE_RESET_BEFORE_14")
    assert "old ITL" in fact.behaviour


def test_a_plan_of_all_resets_first_depends_on_no_unverified_behaviour() -> None:
    plan = plan_restarts(topology(2, resets_by_primary=False))
    assert unverified_behaviours(plan, V12, ["CallManager"]) == []
    assert unverified_behaviours(None, V12, ["CallManager"]) == []


def test_explain_says_where_and_when_each_protocol_resets() -> None:
    lines = explain(plan_restarts(topology(2)))
    sip = [line for line in lines if line.startswith("phone resets: the SIP phones on")]
    assert len(sip) == 2 and all("secondary" in line for line in sip)
    assert any(line.startswith("phone resets: the registered phones no earlier") for line in lines)
