"""``allowed_actions``: what the dashboard offers a person on a renewal right now."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from activities.clients.inventory import ChangePolicyEntry
from service.policy import allowed_actions
from service.principal import Principal
from workflows.models import AuditEvent, RenewalPlan, RenewalStatus

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
POLICY = ChangePolicyEntry.model_validate(
    {
        "approvals": {"plan": {"approver_groups": ["change-board"], "expiry_seconds": 3600}},
        "actions": {"submit-cert": ["pki-admins"], "cancel": ["change-board"]},
    }
)


def who(name: str, *groups: str) -> Principal:
    return Principal(name=name, groups=list(groups), via="password")


def status(**fields: object) -> RenewalStatus:
    data: dict[str, object] = {
        "change_id": "CHG1",
        "cluster": "lab",
        "purposes": ["tomcat"],
        "ca": "manual",
        "requested_by": "rita",
        "phase": "approve-plan",
        "awaiting": "approval",
        "gate": "plan",
        "plan": RenewalPlan.model_construct(plan_hash="abc123", cluster="lab", steps=[]),
        **fields,
    }
    return RenewalStatus.model_construct(**data)  # type: ignore[arg-type]


def test_an_approver_may_approve_reject_and_cancel() -> None:
    assert allowed_actions(who("alex", "change-board"), status(), POLICY, NOW) == [
        "approve",
        "reject",
        "cancel",
    ]


def test_the_requester_may_reject_but_never_approve_even_as_an_approver() -> None:
    rita = who("Rita", "change-board")
    assert allowed_actions(rita, status(), POLICY, NOW) == ["reject", "cancel"]


def test_someone_outside_the_groups_gets_nothing() -> None:
    assert allowed_actions(who("hal", "helpdesk"), status(), POLICY, NOW) == []


def test_an_approver_who_approved_already_is_not_offered_approve_until_it_expires() -> None:
    event = AuditEvent(at=NOW - timedelta(minutes=10), actor="alex", action="approved")
    done = status(approvals=[event])
    assert "approve" not in allowed_actions(who("alex", "change-board"), done, POLICY, NOW)
    later = NOW + timedelta(hours=2)
    assert "approve" in allowed_actions(who("alex", "change-board"), done, POLICY, later)


def test_actions_follow_the_phase_and_the_actions_map() -> None:
    waiting_ca = status(phase="ca-wait", awaiting="ca", gate=None)
    assert allowed_actions(who("pat", "pki-admins"), waiting_ca, POLICY, NOW) == ["submit-cert"]
    assert allowed_actions(who("hal", "helpdesk"), waiting_ca, POLICY, NOW) == []
    sso = status(phase="sso-reenable", awaiting="sso-confirm", gate=None)
    assert allowed_actions(who("hal", "helpdesk"), sso, POLICY, NOW) == ["confirm-sso"]
    question = status(phase="restarts", awaiting="operator", gate=None, question="continue?")
    assert allowed_actions(who("hal"), question, None, NOW) == ["decide", "cancel"]
    ended = status(phase="done", awaiting="", gate=None)
    assert allowed_actions(who("alex", "change-board"), ended, POLICY, NOW) == []


def test_without_a_policy_anyone_signed_in_may_approve_someone_elses_change() -> None:
    assert allowed_actions(who("zed"), status(), None, NOW) == ["approve", "reject", "cancel"]
