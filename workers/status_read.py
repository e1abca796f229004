"""Reading a renewal's status, with or without a worker: the one way the CLI (``show``,
``watch``, ``report``) and the service's renewal page read it.

A finished change is read from Temporal alone: a change that ended done from its result, one
that failed or was cancelled from the final status it wrote to its memo
(``workflows.status_record``). Only a running change needs the status query, which a worker
polling its task queue answers. When none polls it, the reader says so at once (the task
queue's pollers, from ``DescribeTaskQueue``) instead of letting the query wait for a worker
that never comes; when pollers were seen lately but none answers within a few seconds
(a worker that just stopped), the query's short deadline says so. Either way the status
falls back to what Temporal's records know: the change's input and its search attributes.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from temporalio.api.enums.v1 import EventType, TaskQueueKind, TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import (
    Client,
    WorkflowExecutionDescription,
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowQueryFailedError,
    WorkflowQueryRejectedError,
)
from temporalio.service import RPCError, RPCStatusCode

from workflows import search_attributes as sa
from workflows.models import Phase, RenewalInput, RenewalStatus
from workflows.renewal import CertRenewalWorkflow
from workflows.status_record import MEMO_KEY

#: Seconds a status query may wait for a worker before the reader says none answered.
QUERY_SECONDS = 5.0

Source = Literal["query", "result", "memo", "records"]

_CLOSED_PHASE: dict[WorkflowExecutionStatus, Phase] = {
    WorkflowExecutionStatus.COMPLETED: "done",
    WorkflowExecutionStatus.FAILED: "failed",
    WorkflowExecutionStatus.CANCELED: "cancelled",
    WorkflowExecutionStatus.TERMINATED: "failed",
    WorkflowExecutionStatus.TIMED_OUT: "failed",
}


@dataclass(frozen=True)
class StatusRead:
    """A renewal's status and where it came from.

    Attributes:
        status: the status (from the records alone it has the input, phase and the search
            attributes' facts, no plan, nodes or audit trail).
        source: ``query`` (a worker answered), ``result`` or ``memo`` (a finished change,
            complete), ``records`` (Temporal's records only: see ``notice``).
        execution_status: the run's status in Temporal (``running``, ``completed``, ...).
        task_queue: the task queue of the change's workflow.
        notice: why the status is incomplete, and what to do; empty when it is complete.
    """

    status: RenewalStatus
    source: Source
    execution_status: str
    task_queue: str
    notice: str = ""


class UnknownChange(LookupError):
    """Temporal knows no change by that id."""


def _status_name(status: WorkflowExecutionStatus | None) -> str:
    return status.name.lower().replace("_", "-") if status is not None else "unknown"


async def pollers(client: Client, task_queue: str) -> list[tuple[str, datetime | None]]:
    """The workers Temporal saw polling ``task_queue`` for workflow tasks lately: identity
    and last poll. Temporal keeps a poller listed for a few minutes after its last poll."""
    response = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=client.namespace,
            task_queue=TaskQueue(name=task_queue, kind=TaskQueueKind.TASK_QUEUE_KIND_NORMAL),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
        )
    )
    return [
        (
            p.identity,
            p.last_access_time.ToDatetime(tzinfo=UTC) if p.HasField("last_access_time") else None,
        )
        for p in response.pollers
    ]


def _attribute(desc: WorkflowExecutionDescription, name: str) -> Any:
    """One search attribute's plain JSON value (search attributes are never encrypted)."""
    payload = desc.raw_description.workflow_execution_info.search_attributes.indexed_fields.get(
        name
    )
    if payload is None:
        return None
    with contextlib.suppress(ValueError):
        return json.loads(payload.data)
    return None


def _keyword(desc: WorkflowExecutionDescription, name: str) -> str:
    value = _attribute(desc, name)
    if isinstance(value, list):
        return str(value[0]) if value else ""
    return "" if value is None else str(value)


async def _input(client: Client, desc: WorkflowExecutionDescription) -> RenewalInput | None:
    """The input the run was started with (its first history event)."""
    handle = client.get_workflow_handle(desc.id, run_id=desc.run_id)
    async for event in handle.fetch_history_events():
        if event.event_type != EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
            return None
        payloads = list(event.workflow_execution_started_event_attributes.input.payloads)
        try:
            (inp,) = await client.data_converter.decode(payloads, [RenewalInput])
        except Exception:  # an input of another shape: the caller says so
            return None
        return inp if isinstance(inp, RenewalInput) else None
    return None


async def from_records(client: Client, desc: WorkflowExecutionDescription) -> RenewalStatus | None:
    """What Temporal's records say of a change without a worker: its input, the phase and
    what it awaits (search attributes), the work it left behind (``RenewalOutstanding``),
    and for a closed run how it closed. None when the input cannot be read."""
    inp = await _input(client, desc)
    if inp is None:
        return None
    phase = _keyword(desc, sa.RENEWAL_PHASE.name) or "discover"
    closed = desc.status is not None and desc.status != WorkflowExecutionStatus.RUNNING
    data: dict[str, Any] = {
        "change_id": inp.change_id,
        "cluster": inp.cluster,
        "purposes": inp.purposes,
        "ca": inp.ca,
        "requested_by": inp.requested_by,
        "phase": phase,
        "awaiting": "" if closed else _keyword(desc, sa.RENEWAL_AWAITING.name),
        "started_at": desc.start_time,
    }
    outstanding = _attribute(desc, sa.RENEWAL_OUTSTANDING.name)
    if isinstance(outstanding, list) and outstanding:
        data["outstanding"] = [f"left behind (search attribute): {t}" for t in outstanding]
    if closed and desc.status is not None:
        data["phase"] = _CLOSED_PHASE.get(desc.status, "failed")
        data["finished_at"] = desc.close_time
        if desc.status in (WorkflowExecutionStatus.TERMINATED, WorkflowExecutionStatus.TIMED_OUT):
            data["error"] = (
                f"the run was {_status_name(desc.status)} in Temporal in phase {phase}: it "
                "recorded no final status"
            )
    return RenewalStatus.model_validate(data)


async def final_status(desc: WorkflowExecutionDescription) -> RenewalStatus | None:
    """The final status a stopped change wrote to its memo; None when there is none (a
    running change, one that ended done, or one stopped before the ``status-memo`` patch)."""
    try:
        memo = await desc.memo_value(MEMO_KEY, type_hint=RenewalStatus)
    except KeyError:
        return None
    return memo if isinstance(memo, RenewalStatus) else None


def _poller_text(seen: list[tuple[str, datetime | None]]) -> str:
    latest = max((at for _, at in seen if at is not None), default=None)
    who = ", ".join(sorted({identity for identity, _ in seen})) or "unknown"
    when = f" (last poll {latest:%Y-%m-%d %H:%M:%S} UTC)" if latest else ""
    return f"{who}{when}"


async def read_status(
    client: Client, change_id: str, query_seconds: float = QUERY_SECONDS
) -> StatusRead:
    """The status of change ``change_id`` (its latest run), from wherever it can be read.

    Raises:
        UnknownChange: Temporal knows no change by that id.
        LookupError: neither a worker nor the records can tell (the input is unreadable).
        temporalio.service.RPCError: Temporal does not answer.
    """
    handle = client.get_workflow_handle_for(CertRenewalWorkflow.run, change_id)
    try:
        desc = await handle.describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise UnknownChange(change_id) from None
        raise
    return await read_described(client, desc, query_seconds)


async def read_described(
    client: Client, desc: WorkflowExecutionDescription, query_seconds: float = QUERY_SECONDS
) -> StatusRead:
    """:func:`read_status` of a run already described (``desc``).

    Raises:
        LookupError: neither a worker nor the records can tell (the input is unreadable).
        temporalio.service.RPCError: Temporal does not answer.
    """
    change_id = desc.id
    run = client.get_workflow_handle_for(CertRenewalWorkflow.run, change_id, run_id=desc.run_id)
    queue = desc.task_queue
    state = _status_name(desc.status)
    running = desc.status == WorkflowExecutionStatus.RUNNING

    def read(status: RenewalStatus, source: Source, notice: str = "") -> StatusRead:
        return StatusRead(status, source, state, queue, notice)

    if not running:
        memo = await final_status(desc)
        if memo is not None:
            return read(memo, "memo")
        if desc.status == WorkflowExecutionStatus.COMPLETED:
            with contextlib.suppress(WorkflowFailureError):
                return read(await run.result(follow_runs=False), "result")
    try:
        seen: list[tuple[str, datetime | None]] | None = await pollers(client, queue)
    except RPCError:
        seen = None  # not allowed to describe task queues, say: ask the worker anyway
    if seen is None or seen:
        try:
            status = await run.query(
                CertRenewalWorkflow.get_status, rpc_timeout=timedelta(seconds=query_seconds)
            )
            return read(status, "query")
        except RPCError as exc:
            # The query's deadline ends it as "Timeout expired" (its status varies with the
            # server); only a vanished change is not about the worker.
            if exc.status == RPCStatusCode.NOT_FOUND:
                raise
            why = f"no worker answered the status query within {query_seconds:g} s" + (
                f": workers were seen polling task queue {queue} ({_poller_text(seen)}) but "
                "may have stopped or be busy"
                if seen
                else f" on task queue {queue}"
            )
        except (WorkflowQueryFailedError, WorkflowQueryRejectedError) as exc:
            why = f"the status query failed: {exc}"
    else:
        why = f"no worker is polling task queue {queue}"
    records = await from_records(client, desc)
    if records is None:
        raise LookupError(f"{change_id}: {why}, and its input cannot be read")
    if running:
        advice = (
            f"; start one with `ucrenew worker` (UCRENEW_TASK_QUEUE={queue}) for the plan, "
            "nodes and audit trail. Shown: what Temporal's records know"
        )
    else:
        advice = (
            "; the change ended before ucrenew recorded its final status in the memo. Shown: "
            "what Temporal's records know"
        )
    return read(records, "records", why + advice)
