"""The dashboard's read model without Temporal: the list's visibility query, filters, the
per-subscriber view of feed updates, and how times and questions are said."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio.api.common.v1 import Payload, SearchAttributes, WorkflowExecution
from temporalio.api.workflow.v1 import WorkflowExecutionInfo
from temporalio.api.workflowservice.v1 import (
    ListWorkflowExecutionsRequest,
    ListWorkflowExecutionsResponse,
)

from service.dashboard.router import ago, decision_choices, until, when
from service.readmodel import (
    FeedUpdate,
    RenewalRow,
    RowFeed,
    RowFilter,
    filtered,
    list_query,
    list_rows,
)


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


# -- the list and the feed against a stand-in visibility ---------------------------------------


class Visibility:
    """Answers ``ListWorkflowExecutions`` from a list of executions, ``page`` at a time, and
    counts the calls (the only RPC the list makes)."""

    def __init__(self, infos: list[WorkflowExecutionInfo], page: int = 2) -> None:
        self.infos = infos
        self.page = page
        self.calls = 0
        self.queries: list[str] = []
        self.release: asyncio.Event | None = None

    async def list_workflow_executions(
        self, req: ListWorkflowExecutionsRequest
    ) -> ListWorkflowExecutionsResponse:
        self.calls += 1
        self.queries.append(req.query)
        if self.release is not None:
            await self.release.wait()
        start = int(req.next_page_token or b"0")
        size = min(self.page, req.page_size)
        end = start + size
        token = str(end).encode() if end < len(self.infos) else b""
        return ListWorkflowExecutionsResponse(
            executions=self.infos[start:end], next_page_token=token
        )


class FakeClient:
    namespace = "default"

    def __init__(self, visibility: Visibility) -> None:
        self.workflow_service = visibility


def info(change_id: str, **attrs: object) -> WorkflowExecutionInfo:
    fields = {
        name: Payload(metadata={"encoding": b"json/plain"}, data=json.dumps(value).encode())
        for name, value in attrs.items()
    }
    result = WorkflowExecutionInfo(
        execution=WorkflowExecution(workflow_id=change_id, run_id=f"run-{change_id}"),
        search_attributes=SearchAttributes(indexed_fields=fields),
    )
    result.start_time.FromDatetime(datetime(2026, 11, 30, 12, 0))
    return result


async def test_rows_come_from_search_attributes_page_by_page() -> None:
    visibility = Visibility(
        [
            info(
                "CHG1",
                ClusterId="lab",
                CertPurposes=["tomcat", "CallManager"],
                RenewalPhase="restarts",
                RenewalWaitingOn=["voice-cab"],
                RenewalRequester="rita",
                RenewalDeadline="2026-11-30T18:00:00+00:00",
                RenewalProgress="restarts=3/8;phones=1980/2000",
            ),
            info("CHG2", ClusterId="lab", RenewalDeadline=None, RenewalPhase=7),
            info("CHG3"),
        ]
    )
    client: Any = FakeClient(visibility)
    rows, more = await list_rows(client, base_url="https://ucrenew.example")
    assert [r.change_id for r in rows] == ["CHG1", "CHG2", "CHG3"] and not more
    assert visibility.calls == 2  # two pages of one query
    first = rows[0]
    assert first.purposes == ["tomcat", "CallManager"] and first.waiting_on == ["voice-cab"]
    assert first.deadline == datetime(2026, 11, 30, 18, 0, tzinfo=UTC)
    assert first.progress.text == "restarts 3/8, phones back 1,980/2,000"
    assert first.started_at == datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    assert first.url == "https://ucrenew.example/renewals/CHG1"
    assert rows[1].deadline is None and rows[1].phase == "7"  # odd values read, never fail
    assert rows[2].cluster == "" and rows[2].progress.text == ""
    limited, more = await list_rows(client, limit=2)
    assert [r.change_id for r in limited] == ["CHG1", "CHG2"] and more


async def test_the_feed_polls_once_for_everyone_and_sends_what_changed() -> None:
    visibility = Visibility([info("A", RenewalPhase="csr"), info("B", RenewalPhase="csr")])
    feed = RowFeed(FakeClient(visibility), interval=3600)  # type: ignore[arg-type]
    visibility.release = asyncio.Event()
    together = asyncio.gather(*(feed.current(max_age=60) for _ in range(5)))
    await asyncio.sleep(0)
    visibility.release.set()
    results = await together
    assert visibility.calls == 1  # five viewers, one poll
    assert all([r.change_id for r in rows] == ["A", "B"] for rows, _ in results)
    await feed.current(max_age=60)
    assert visibility.calls == 1  # young enough: no new poll

    async with feed.subscribe() as queue:
        snapshot = queue.get_nowait()
        assert snapshot.snapshot and [r.change_id for r in snapshot.changed] == ["A", "B"]
        visibility.infos = [info("A", RenewalPhase="validate"), info("C", RenewalPhase="csr")]
        await feed.refresh()
        update = await asyncio.wait_for(queue.get(), 5)
        assert [(r.change_id, r.phase) for r in update.changed] == [
            ("A", "validate"),
            ("C", "csr"),
        ]
        assert update.removed == ["B"] and not update.snapshot
        await feed.refresh()  # nothing changed: nothing sent
        assert queue.empty()
    await feed.close()
