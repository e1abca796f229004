"""Four-eyes approval rules: who may approve, for which plan, until when."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from workflows.approval_models import Approval, ApprovalPolicy
from workflows.approvals import ApprovalRefused, check_approval, gate_satisfied

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
PLAN = "a1b2c3d4e5f6"
POLICY = ApprovalPolicy(
    gate="impact",
    approver_groups=["voice-cab", "netops"],
    required=2,
    forbid_self_approval=True,
    justification_required=True,
    expiry_seconds=24 * 3600,
)


def approval(
    principal: str = "bob",
    *,
    groups: tuple[str, ...] = ("voice-cab",),
    comment: str = "CHG reviewed, window agreed",
    plan_hash: str = PLAN,
    at: datetime = NOW,
) -> Approval:
    return Approval(
        principal=principal, groups=list(groups), comment=comment, plan_hash=plan_hash, at=at
    )


def refusal(a: Approval, existing: list[Approval] | None = None, **policy: object) -> str:
    with pytest.raises(ApprovalRefused) as e:
        check_approval(POLICY.model_copy(update=policy), a, "alice", PLAN, existing or [], NOW)
    assert e.value.reason == str(e.value)
    return e.value.code


# --- check_approval -------------------------------------------------------------------------------


def test_a_valid_approval_is_accepted() -> None:
    check_approval(POLICY, approval(), "alice", PLAN, [], NOW)


def test_self_approval_is_refused_whatever_the_case() -> None:
    assert refusal(approval(" Alice ")) == "self-approval"


def test_self_approval_allowed_when_the_policy_allows_it() -> None:
    check_approval(
        POLICY.model_copy(update={"forbid_self_approval": False}),
        approval("alice"),
        "alice",
        PLAN,
        [],
        NOW,
    )


def test_approver_outside_the_groups_is_refused() -> None:
    assert refusal(approval(groups=("helpdesk",))) == "not-an-approver"
    assert refusal(approval(groups=())) == "not-an-approver"


def test_group_names_compare_case_insensitively() -> None:
    check_approval(POLICY, approval(groups=("Voice-CAB",)), "alice", PLAN, [], NOW)


def test_any_principal_may_approve_when_the_policy_names_no_group() -> None:
    check_approval(
        POLICY.model_copy(update={"approver_groups": []}),
        approval(groups=()),
        "alice",
        PLAN,
        [],
        NOW,
    )


def test_missing_justification_is_refused() -> None:
    assert refusal(approval(comment="  ")) == "justification-required"
    check_approval(
        POLICY.model_copy(update={"justification_required": False}),
        approval(comment=""),
        "alice",
        PLAN,
        [],
        NOW,
    )


def test_duplicate_approver_is_refused() -> None:
    assert refusal(approval("Bob"), [approval("bob")]) == "duplicate-approver"


def test_approver_may_approve_again_once_their_approval_no_longer_counts() -> None:
    old = approval("bob", at=NOW - timedelta(days=2))
    stale = approval("bob", plan_hash="0ld0ld0ld0ld")
    check_approval(POLICY, approval("bob"), "alice", PLAN, [old, stale], NOW)


def test_approval_of_another_plan_is_refused() -> None:
    assert refusal(approval(plan_hash="0ld0ld0ld0ld")) == "plan-changed"


def test_expired_and_future_dated_approvals_are_refused() -> None:
    assert refusal(approval(at=NOW - timedelta(hours=25))) == "expired"
    assert refusal(approval(at=NOW + timedelta(hours=1))) == "future-dated"
    check_approval(POLICY, approval(at=NOW + timedelta(minutes=4)), "alice", PLAN, [], NOW)


def test_blank_principal_is_refused() -> None:
    assert refusal(approval("  ")) == "missing-principal"


# --- gate_satisfied -------------------------------------------------------------------------------


def test_gate_needs_distinct_approvers() -> None:
    one = gate_satisfied(POLICY, [approval("bob")], PLAN, NOW)
    assert (one.satisfied, one.missing, one.approvers) == (False, 1, ["bob"])

    same_twice = gate_satisfied(
        POLICY, [approval("bob"), approval("BOB", at=NOW + timedelta(seconds=1))], PLAN, NOW
    )
    assert (same_twice.satisfied, same_twice.missing) == (False, 1)
    assert len(same_twice.ignored) == 1

    two = gate_satisfied(
        POLICY, [approval("bob"), approval("carol", groups=("netops",))], PLAN, NOW
    )
    assert (two.satisfied, two.missing, two.approvers) == (True, 0, ["bob", "carol"])


def test_plan_change_invalidates_every_approval() -> None:
    given = [approval("bob"), approval("carol")]
    state = gate_satisfied(POLICY, given, "newplan00000", NOW)
    assert not state.satisfied
    assert state.missing == 2
    assert [a.principal for a in state.stale] == ["bob", "carol"]


def test_expired_approvals_do_not_count() -> None:
    bob = approval("bob", at=NOW - timedelta(hours=30))
    carol = approval("carol", at=NOW - timedelta(hours=1))
    state = gate_satisfied(POLICY, [bob, carol], PLAN, NOW)
    assert not state.satisfied
    assert state.expired == [bob]
    assert state.approvers == ["carol"]


def test_expiry_boundary_and_valid_until() -> None:
    bob = approval("bob", at=NOW - timedelta(hours=24))
    carol = approval("carol", at=NOW - timedelta(hours=2))
    state = gate_satisfied(POLICY, [bob, carol], PLAN, NOW)
    assert state.satisfied, "an approval exactly as old as the expiry still counts"
    assert state.valid_until == NOW
    assert not gate_satisfied(POLICY, [bob, carol], PLAN, NOW + timedelta(seconds=1)).satisfied


def test_valid_until_is_when_too_few_approvals_remain() -> None:
    policy = POLICY.model_copy(update={"required": 2})
    given = [
        approval("bob", at=NOW - timedelta(hours=10)),
        approval("carol", at=NOW - timedelta(hours=5)),
        approval("dave", at=NOW - timedelta(hours=1)),
    ]
    state = gate_satisfied(policy, given, PLAN, NOW)
    assert state.valid_until == NOW - timedelta(hours=5) + timedelta(hours=24)


def test_no_expiry_means_no_valid_until() -> None:
    policy = POLICY.model_copy(update={"expiry_seconds": None, "required": 1})
    state = gate_satisfied(policy, [approval(at=NOW - timedelta(days=300))], PLAN, NOW)
    assert state.satisfied and state.valid_until is None


def test_gate_discounts_self_and_non_group_approvals_from_signals() -> None:
    # Signals cannot be refused by a validator: the gate re-applies the rules it can.
    given = [approval("alice"), approval("eve", groups=("helpdesk",)), approval("bob")]
    state = gate_satisfied(POLICY, given, PLAN, NOW, requester="alice")
    assert state.approvers == ["bob"]
    assert sorted(a.principal for a in state.ignored) == ["alice", "eve"]
    assert not state.satisfied


def test_single_approval_gate() -> None:
    policy = ApprovalPolicy(gate="plan", required=1)
    assert gate_satisfied(policy, [approval(groups=())], PLAN, NOW).satisfied
    assert not gate_satisfied(policy, [], PLAN, NOW).satisfied
