"""The Markdown change report."""

from __future__ import annotations

from console.report import markdown_report
from workflows.models import RenewalStatus


def status(**kw: object) -> RenewalStatus:
    return RenewalStatus.model_validate(
        {
            "change_id": "CHG-1",
            "cluster": "lab",
            "purposes": ["CallManager"],
            "ca": "local",
            "requested_by": "alice",
            **kw,
        }
    )


def test_report_counts_the_phones_ucrenew_reset() -> None:
    report = markdown_report(status(phase="done", phones_reset=1500))
    assert "- Phones reset by ucrenew (new ITL/CTL): 1500" in report
    assert "- Outcome: **done**" in report


def test_report_says_nothing_of_phone_resets_when_there_were_none() -> None:
    assert "Phones reset" not in markdown_report(status(purposes=["tomcat"]))


def test_report_shows_each_purpose_per_node_and_the_caveats() -> None:
    report = markdown_report(
        status(
            phase="done",
            purposes=["CallManager", "tomcat"],
            new_certificates={
                "CallManager": {
                    "serial": "ab",
                    "fingerprint": "f1",
                    "not_after": "2027-11-30T00:00:00Z",
                }
            },
            nodes=[
                {
                    "node": "cucm-pub.lab.example.com",
                    "certificates": {
                        "CallManager": {
                            "old_serial": "01",
                            "old_not_after": "2026-12-17T00:00:00Z",
                            "old_self_signed": True,
                            "new_serial": "ab",
                            "verified": True,
                        },
                        "tomcat": {"old_serial": "02"},
                    },
                }
            ],
            findings=[{"code": "cscus47235-cn-not-in-san", "message": "add the CN"}],
        )
    )
    assert "- New CallManager certificate: serial ab, SHA-256 f1, valid until 2027-11-30" in report
    assert (
        "| cucm-pub.lab.example.com | CallManager | 01 (self-signed) | 2026-12-17 | ab | yes |  |"
        in report
    )
    assert "|  | tomcat | 02 |  |  | no |  |" in report
    assert "- cscus47235-cn-not-in-san: add the CN" in report
    assert "run `ucrenew check CHG-1` after the change" in report


def test_report_lists_calls_confirmed_after_a_retry_or_never_confirmed() -> None:
    at = "2026-12-01T00:00:00Z"
    report = markdown_report(
        status(
            purposes=["tomcat"],
            intents=[
                {"at": at, "effect": "trust-upload", "target": "tomcat-trust", "outcome": "done"},
                {
                    "at": at,
                    "effect": "sso-disable",
                    "target": "SAML SSO",
                    "outcome": "done-after-retry",
                },
                {
                    "at": at,
                    "effect": "service-restart",
                    "target": "Cisco Tomcat on cucm-sub1",
                    "outcome": "unconfirmed",
                },
            ],
        )
    )
    assert "## Calls confirmed after a retry or not confirmed" in report
    assert "sso-disable SAML SSO: done by ucrenew, confirmed by read-back after a retry" in report
    assert "service-restart Cisco Tomcat on cucm-sub1: not confirmed" in report
    assert "tomcat-trust" not in report  # a plain success needs no word here


def test_report_has_no_intent_section_when_every_call_answered() -> None:
    assert "confirmed after a retry" not in markdown_report(status(purposes=["tomcat"]))
