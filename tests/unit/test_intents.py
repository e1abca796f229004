"""The actions left to an operator, derived from intents that never confirmed (pure)."""

from __future__ import annotations

from datetime import UTC, datetime

from workflows.intents import left_to_do
from workflows.models import Intent, IntentEffect, IntentOutcome

AT = datetime(2026, 12, 1, tzinfo=UTC)


def intent(effect: IntentEffect, target: str, outcome: IntentOutcome, detail: str = "") -> Intent:
    return Intent(at=AT, effect=effect, target=target, detail=detail, outcome=outcome)


def test_confirmed_intents_leave_nothing_to_do() -> None:
    assert (
        left_to_do(
            [
                intent("trust-upload", "tomcat-trust", "done"),
                intent("certificate-upload", "tomcat", "done-after-retry"),
                intent("service-restart", "Cisco Tomcat on a", "already"),
            ]
        )
        == []
    )


def test_an_unconfirmed_call_is_left_to_check_once() -> None:
    actions = left_to_do(
        [
            intent("service-restart", "Cisco Tomcat on a", "unconfirmed"),
            intent("service-restart", "Cisco Tomcat on a", "unconfirmed"),
            intent("certificate-upload", "tomcat", "pending", "serial 0a on the publisher"),
        ]
    )
    assert len(actions) == 2
    assert actions[0].startswith("Cisco Tomcat on a: ucrenew was restarting it")
    assert "show cert own tomcat" in actions[1] and "serial 0a" in actions[1]


def test_only_a_later_confirmation_settles_an_unconfirmed_call() -> None:
    retried = [
        intent("service-restart", "Cisco Tomcat on a", "unconfirmed"),
        intent("service-restart", "Cisco Tomcat on a", "done-after-retry"),
    ]
    assert left_to_do(retried) == []
    # restarted in the rollout, then a rollback restart that never answered
    rolled = [
        intent("service-restart", "Cisco Tomcat on a", "done"),
        intent("service-restart", "Cisco Tomcat on a", "unconfirmed", "rollback"),
    ]
    assert len(left_to_do(rolled)) == 1


def test_sso_is_left_to_the_workflows_own_advice() -> None:
    assert left_to_do([intent("sso-disable", "SAML SSO", "unconfirmed")]) == []
