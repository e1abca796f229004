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
