"""How `ucrenew show` and `ucrenew plan` print the change record's verdict."""

from __future__ import annotations

from datetime import UTC, datetime

from activities.clients.itsm.models import ChangeRecord, ChangeRecordCheck, ItsmReason
from console.render import change_record_line


def test_allowed_record_line() -> None:
    record = ChangeRecord(
        number="CHG1",
        state="-1",
        state_label="Implement",
        approval="approved",
        planned_start=datetime(2026, 12, 1, 20, tzinfo=UTC),
        planned_end=datetime(2026, 12, 2, 2, tzinfo=UTC),
    )
    check = ChangeRecordCheck(system="servicenow", change_id="CHG1", found=True, record=record)
    line = change_record_line(check)
    assert line is not None
    assert line.plain == (
        "change record CHG1 (servicenow): Implement, approval approved, planned "
        "2026-12-01 20:00 to 2026-12-02 02:00 UTC  allows the change"
    )


def test_refusing_and_missing_records() -> None:
    refused = ChangeRecordCheck(
        system="webhook",
        change_id="CHG2",
        found=True,
        record=ChangeRecord(number="CHG2", state="assess"),
        reasons=[ItsmReason(code="change-record-not-approved", message="x")],
    )
    missing = ChangeRecordCheck(system="servicenow", change_id="CHG3", found=False)
    assert change_record_line(refused) is not None
    assert str(change_record_line(refused)).endswith("does not allow the change")
    assert str(change_record_line(missing)) == "change record CHG3: not found in servicenow"
    assert change_record_line(None) is None
