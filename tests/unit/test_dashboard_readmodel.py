"""The dashboard's read model without Temporal: the list's visibility query, filters, the
per-subscriber view of feed updates, and how times and questions are said."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from service.dashboard.router import ago, decision_choices, until, when
from service.readmodel import FeedUpdate, RenewalRow, RowFilter, filtered, list_query


def row(change_id: str, **fields: object) -> RenewalRow:
    return RenewalRow.model_validate({"change_id": change_id, "cluster": "lab", **fields})


def test_the_list_query_quotes_every_filter_value() -> None:
    assert list_query() == "WorkflowType = 'CertRenewalWorkflow' AND ExecutionStatus = 'Running'"
    query = list_query(RowFilter(cluster="lab", waiting_on="voice-cab", requester="o'brien"))
    assert "ClusterId = 'lab'" in query
    assert "RenewalWaitingOn = 'voice-cab'" in query
    assert "RenewalRequester = 'o\\'brien'" in query
    assert "RenewalPhase" not in query  # an empty filter narrows nothing


def test_a_filter_matches_on_every_field_it_sets() -> None:
    r = row("CHG1", phase="restarts", waiting_on=["voice-cab", "cab"], requester="rita")
    assert RowFilter().matches(r)
    assert RowFilter(waiting_on="cab", requester="rita", cluster="lab").matches(r)
    assert not RowFilter(waiting_on="pki-admins").matches(r)
    assert not RowFilter(phase="done").matches(r)
    assert not RowFilter(change_id="CHG2").matches(r)


def test_a_subscriber_sees_its_rows_and_loses_those_that_leave_its_filter() -> None:
    flt = RowFilter(phase="approve-plan")
    known: set[str] = set()
    first = filtered(
        FeedUpdate(changed=[row("A", phase="approve-plan"), row("B", phase="csr")], snapshot=True),
        flt,
        known,
    )
    assert first is not None and first.snapshot
    assert [r.change_id for r in first.changed] == ["A"] and known == {"A"}
    # B moves on (not this subscriber's business), A leaves the filter: A is removed
    moved = filtered(
        FeedUpdate(changed=[row("A", phase="csr"), row("B", phase="validate")]), flt, known
    )
    assert moved is not None and moved.changed == [] and moved.removed == ["A"]
    assert known == set()
    assert filtered(FeedUpdate(removed=["B"]), flt, known) is None
    back = filtered(FeedUpdate(changed=[row("C", phase="approve-plan")]), flt, known)
    assert back is not None and [r.change_id for r in back.changed] == ["C"]
    gone = filtered(FeedUpdate(removed=["C"]), flt, known)
    assert gone is not None and gone.removed == ["C"] and known == set()


def test_times_are_said_for_people() -> None:
    now = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    assert ago(now - timedelta(hours=3, minutes=12), now) == "3 h 12 min"
    assert ago(now - timedelta(seconds=20), now) == "20 s"
    assert until(now + timedelta(minutes=40), now) == "in 40 min"
    assert until(now - timedelta(days=3, hours=2), now) == "3 d 2 h ago"
    assert ago(None) == until(None) == when(None) == "—"
    assert when(now) == "2026-11-30 12:00 UTC"


def test_a_question_offers_the_decisions_it_names() -> None:
    question = (
        "after wave 2, 1,900 of 2,000 phones re-registered: `continue` to wait again, "
        "`roll-forward` to go on with the next step anyway, or `abort`"
    )
    assert decision_choices(question) == ["continue", "roll-forward", "abort"]
    assert "regenerate" in decision_choices("something `unknown`")
