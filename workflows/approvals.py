"""Pure approval policy evaluation: may this approval be accepted, and is the gate open?

The workflow calls ``check_approval`` from its update validator (so a refused approval leaves
no history) and on every approval signal (integrations that cannot wait for an answer), and
``gate_satisfied`` whenever it decides whether to proceed — with ``now`` from
``workflow.now()``, since approvals expire and a plan may have changed since they were given.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from workflows.approval_models import Approval, ApprovalPolicy, GateState, RefusalCode


class ApprovalRefused(Exception):
    """An approval the policy does not accept.

    Attributes:
        code: a stable machine-readable reason.
        reason: the same, said to the approver.
    """

    def __init__(self, code: RefusalCode, reason: str) -> None:
        super().__init__(reason)
        self.code: RefusalCode = code
        self.reason = reason


def _norm(name: str) -> str:
    return name.strip().casefold()


def _expired(policy: ApprovalPolicy, approval: Approval, now: datetime) -> bool:
    return policy.expiry_seconds is not None and now - approval.at > timedelta(
        seconds=policy.expiry_seconds
    )


def _future(policy: ApprovalPolicy, approval: Approval, now: datetime) -> bool:
    return approval.at - now > timedelta(seconds=policy.max_clock_skew_seconds)


def _in_groups(policy: ApprovalPolicy, approval: Approval) -> bool:
    if not policy.approver_groups:
        return True
    allowed = {_norm(g) for g in policy.approver_groups}
    return any(_norm(g) in allowed for g in approval.groups)


def _self(policy: ApprovalPolicy, approval: Approval, requester: str | None) -> bool:
    return (
        policy.forbid_self_approval
        and requester is not None
        and _norm(approval.principal) == _norm(requester)
    )


def check_approval(
    policy: ApprovalPolicy,
    approval: Approval,
    requester: str,
    current_plan_hash: str,
    existing_approvals: Sequence[Approval],
    now: datetime,
) -> None:
    """Accept ``approval`` for the gate of ``policy``, or say why not.

    Principals and group names compare case-insensitively, ignoring surrounding blanks.

    Args:
        policy: the gate's policy.
        approval: the approval handed in.
        requester: who started the change (may not approve it under four-eyes).
        current_plan_hash: the hash of the plan as it is now.
        existing_approvals: approvals already accepted for this gate.
        now: the current time (``workflow.now()``).

    Raises:
        ApprovalRefused: with code ``missing-principal``, ``plan-changed`` (the plan changed
            since the approver reviewed it), ``future-dated``, ``expired``, ``self-approval``,
            ``not-an-approver`` (in none of the approver groups), ``justification-required``
            or ``duplicate-approver`` (already counted for this plan).
    """
    who = approval.principal.strip()
    if not who:
        raise ApprovalRefused("missing-principal", "an approval needs the approver's identity")
    if approval.plan_hash != current_plan_hash:
        raise ApprovalRefused(
            "plan-changed",
            f"the plan changed since {who} reviewed it (reviewed {approval.plan_hash}, now "
            f"{current_plan_hash}): review the new plan and approve that",
        )
    if _future(policy, approval, now):
        raise ApprovalRefused(
            "future-dated", f"the approval is dated {approval.at.isoformat()}, after now"
        )
    if _expired(policy, approval, now):
        raise ApprovalRefused(
            "expired", f"the approval dated {approval.at.isoformat()} has already expired"
        )
    if _self(policy, approval, requester):
        raise ApprovalRefused(
            "self-approval", f"{who} requested this change and may not approve it (four eyes)"
        )
    if not _in_groups(policy, approval):
        raise ApprovalRefused(
            "not-an-approver",
            f"{who} is in none of the approver groups of the {policy.gate} gate: "
            f"{', '.join(policy.approver_groups)}",
        )
    if policy.justification_required and not approval.comment.strip():
        raise ApprovalRefused(
            "justification-required", f"the {policy.gate} gate needs a justification"
        )
    state = gate_satisfied(policy, existing_approvals, current_plan_hash, now, requester)
    if _norm(who) in {_norm(a) for a in state.approvers}:
        raise ApprovalRefused(
            "duplicate-approver",
            f"{who} already approved this plan; {state.missing} other approver(s) needed",
        )


def gate_satisfied(
    policy: ApprovalPolicy,
    approvals: Sequence[Approval],
    current_plan_hash: str,
    now: datetime,
    requester: str | None = None,
) -> GateState:
    """Count the approvals that still hold, and say whether the gate is open.

    An approval counts when it is bound to the current plan, not expired, not future-dated,
    from a member of an approver group, and not the requester's (when ``requester`` is given).
    Each principal counts once, by their latest approval (the one that expires last).

    Args:
        policy: the gate's policy.
        approvals: every approval accepted for the gate, in any order.
        current_plan_hash: the hash of the plan as it is now.
        now: the current time (``workflow.now()``).
        requester: who started the change, to discount self-approvals defensively.

    Returns:
        The gate's state, with the approvals that no longer count and why.
    """
    stale: list[Approval] = []
    expired: list[Approval] = []
    ignored: list[Approval] = []
    counted: dict[str, Approval] = {}
    ordered = sorted(approvals, key=lambda a: (a.at, _norm(a.principal)), reverse=True)
    for a in ordered:
        key = _norm(a.principal)
        if a.plan_hash != current_plan_hash:
            stale.append(a)
        elif _expired(policy, a, now):
            expired.append(a)
        elif (
            not key
            or key in counted
            or _future(policy, a, now)
            or _self(policy, a, requester)
            or not _in_groups(policy, a)
        ):
            ignored.append(a)
        else:
            counted[key] = a
    chronological = sorted(counted.values(), key=lambda a: (a.at, _norm(a.principal)))
    satisfied = len(chronological) >= policy.required
    valid_until = None
    if satisfied and policy.expiry_seconds is not None:
        lapse = sorted((a.at for a in chronological), reverse=True)[policy.required - 1]
        valid_until = lapse + timedelta(seconds=policy.expiry_seconds)
    return GateState(
        gate=policy.gate,
        satisfied=satisfied,
        required=policy.required,
        approvers=[a.principal.strip() for a in chronological],
        missing=max(0, policy.required - len(chronological)),
        expired=expired[::-1],
        stale=stale[::-1],
        ignored=ignored[::-1],
        valid_until=valid_until,
    )
