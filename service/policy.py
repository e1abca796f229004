"""Who may take which action on a renewal right now: the inventory's change policy applied
to the signed-in person and the renewal's status.

The workflow remains the authority on approvals (its validator refuses with the exact
reason); this module decides what the dashboard offers and refuses the actions that the
inventory's ``change_policy.actions`` reserves to groups before they reach Temporal.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from activities.clients.inventory import ChangePolicyEntry
from service.principal import Principal
from workflows.approval_models import ApprovalPolicy
from workflows.models import TERMINAL_PHASES, RenewalStatus

__all__ = ["ACTIONS", "action_groups", "allowed_actions", "approval_policy", "may_take"]

ACTIONS: tuple[str, ...] = (
    "approve",
    "reject",
    "submit-cert",
    "decide",
    "confirm-sso",
    "cancel",
    "ca-check",
)
"""Every action the service offers on a renewal, in the order pages show them."""


def _norm(name: str) -> str:
    return name.strip().casefold()


def _member(principal: Principal, groups: Iterable[str]) -> bool:
    wanted = {_norm(g) for g in groups}
    return not wanted or any(_norm(g) in wanted for g in principal.groups)


def approval_policy(policy: ChangePolicyEntry | None, gate: str) -> ApprovalPolicy:
    """The gate's approval policy as the workflow applies it: the inventory's fields over
    the defaults, and never the requester's own approval (four eyes on every gate)."""
    fields: dict[str, object] = {}
    if policy is not None and gate in policy.approvals:
        fields = policy.approvals[gate].model_dump(exclude_none=True)
    return ApprovalPolicy.model_validate({**fields, "gate": gate, "forbid_self_approval": True})


def action_groups(policy: ChangePolicyEntry | None, action: str) -> list[str]:
    """The groups ``change_policy.actions`` reserves ``action`` to (empty: anyone signed in)."""
    if policy is None:
        return []
    return list(policy.actions.get(action, []))  # type: ignore[call-overload]


def may_take(principal: Principal, policy: ChangePolicyEntry | None, action: str) -> bool:
    """Whether the inventory lets this person take ``action`` at all (groups only)."""
    return _member(principal, action_groups(policy, action))


def _approved_already(
    principal: Principal, status: RenewalStatus, gate: str, rules: ApprovalPolicy, now: datetime
) -> bool:
    action = "approved" if gate == "plan" else f"approved-{gate}"
    for event in status.approvals:
        if event.action != action or _norm(event.actor) != _norm(principal.name):
            continue
        if rules.expiry_seconds is None or now - event.at <= timedelta(
            seconds=rules.expiry_seconds
        ):
            return True
    return False


def allowed_actions(
    principal: Principal, status: RenewalStatus, policy: ChangePolicyEntry | None, now: datetime
) -> list[str]:
    """The actions, among :data:`ACTIONS`, this person may take on this renewal right now.

    Args:
        principal: The signed-in person.
        status: The renewal's status (the workflow's query).
        policy: The cluster's ``change_policy`` from the inventory; ``None`` for defaults.
        now: The current time (approvals expire).

    Returns:
        Action names in :data:`ACTIONS` order; empty once the change has ended.
    """
    if status.phase in TERMINAL_PHASES:
        return []
    allowed: list[str] = []
    gate = status.gate
    if status.awaiting == "approval" and gate is not None and status.plan is not None:
        rules = approval_policy(policy, gate)
        approver = _member(principal, rules.approver_groups)
        is_requester = _norm(principal.name) == _norm(status.requested_by)
        if (
            approver
            and not is_requester
            and not _approved_already(principal, status, gate, rules, now)
        ):
            allowed.append("approve")
        if approver or is_requester:
            allowed.append("reject")
    if status.awaiting == "ca" and status.ca == "manual":
        allowed.append("submit-cert")
    if status.awaiting == "operator" and status.question:
        allowed.append("decide")
    if status.awaiting == "sso-confirm":
        allowed.append("confirm-sso")
    allowed.append("cancel")
    if status.awaiting == "ca" and status.ca != "manual":
        allowed.append("ca-check")
    return [a for a in allowed if a in ("approve", "reject") or may_take(principal, policy, a)]
