"""A change id across attempts: when ``start`` may run it again, the preflight verdict it
waits for, and the earlier attempts ``show --all-attempts`` lists.

The change id is the operator's ITSM number and the workflow id. A run that ended without
writing to the cluster (a failed preflight, a refusal because another change holds the
cluster, a plan rejected at its gate) leaves it free: the
next ``start`` runs a new attempt under the same id (``ALLOW_DUPLICATE``, which Temporal
applies to closed runs only). A run that wrote something, or finished, keeps it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime

from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowHandle,
)
from temporalio.common import WorkflowIDReusePolicy
from temporalio.service import RPCError, RPCStatusCode

from workers.starting import application_error, stop_type
from workers.status_read import final_status
from workflows import search_attributes as sa
from workflows.cluster_lock import BUSY as CLUSTER_BUSY
from workflows.models import TERMINAL_PHASES, RenewalStatus
from workflows.renewal import CertRenewalWorkflow

#: How long ``ucrenew start`` waits for the preflight verdict by default (seconds).
VERDICT_WAIT_SECONDS = 60.0


#: How long ``start`` waits for a worker to read an earlier run's record (seconds).
RECORD_WAIT_SECONDS = 10.0

#: Stops that come before any write: a failed preflight, and a refusal because another change
#: holds the cluster (workflows.cluster_lock.BUSY).
_NOTHING_WRITTEN = frozenset({"PreflightFailed", CLUSTER_BUSY})


class ChangeIdTaken(Exception):
    """The change id may not run again; the message says why, in one line."""


async def reuse_policy(client: Client, change_id: str) -> WorkflowIDReusePolicy:
    """How ``start`` may use ``change_id``: a fresh id, or a new attempt after a run that
    wrote nothing.

    Raises:
        ChangeIdTaken: a run of the id is running, finished, or wrote to the cluster.
    """
    handle = client.get_workflow_handle_for(CertRenewalWorkflow.run, change_id)
    try:
        desc = await handle.describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return WorkflowIDReusePolicy.REJECT_DUPLICATE
        raise
    state = desc.status.name.lower() if desc.status else "unknown"
    if desc.status == WorkflowExecutionStatus.RUNNING:
        phase = desc.typed_search_attributes.get(sa.RENEWAL_PHASE) or "?"
        raise ChangeIdTaken(
            f"change {change_id} is already running (phase {phase}): follow it with "
            f"`ucrenew watch {change_id}`, or cancel it first"
        )
    if desc.status == WorkflowExecutionStatus.COMPLETED:
        raise ChangeIdTaken(
            f"change {change_id} already ran to completion (done): a new change needs a new "
            "change id"
        )
    if await stop_type(handle) in _NOTHING_WRITTEN:
        # Both come before every write: no need for a worker to read the record.
        return WorkflowIDReusePolicy.ALLOW_DUPLICATE
    try:
        # A run that stopped after the "status-memo" patch left its record in its memo: no
        # worker is needed to read it. Earlier runs are read through a worker.
        status = await final_status(desc)
        if status is None:
            status = await asyncio.wait_for(
                handle.query(CertRenewalWorkflow.get_status), RECORD_WAIT_SECONDS
            )
    except (RPCError, TimeoutError) as exc:
        reason = exc.message if isinstance(exc, RPCError) else "no worker answered"
        raise ChangeIdTaken(
            f"change {change_id} ended {state} and its record cannot be read now "
            f"({reason}); `ucrenew show {change_id}` once a worker runs"
        ) from None
    if status.wrote_to_cluster():
        raise ChangeIdTaken(
            f"change {change_id} ended {state} in phase {status.phase} after writing to the "
            f"cluster ({status.error or 'no reason recorded'}): finish it by hand "
            f"(`ucrenew show {change_id}` lists what is left) and use a new change id"
        )
    return WorkflowIDReusePolicy.ALLOW_DUPLICATE


async def preflight_verdict(
    handle: WorkflowHandle[CertRenewalWorkflow, RenewalStatus], wait_seconds: float
) -> RenewalStatus | None:
    """The status once preflight decided (a plan exists, or the change ended); None when no
    verdict came within ``wait_seconds`` (e.g. no worker runs)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_seconds
    while True:
        try:
            status = await handle.query(CertRenewalWorkflow.get_status)
        except RPCError:
            status = None  # not answerable before its first workflow task
        if status is not None and (status.plan is not None or status.phase in TERMINAL_PHASES):
            return status
        if loop.time() >= deadline:
            return None
        await asyncio.sleep(min(0.2, max(0.0, deadline - loop.time())))


@dataclass(frozen=True)
class Attempt:
    """One run of a change id.

    Attributes:
        run_id: Temporal's run id.
        status: running, completed, failed, cancelled, terminated, timed_out.
        started: when it started.
        ended: when it closed, None while running.
        outcome: the phase while running, ``done``, or the reason it stopped.
    """

    run_id: str
    status: str
    started: datetime | None
    ended: datetime | None
    outcome: str


async def attempts(client: Client, change_id: str) -> list[Attempt]:
    """Every run of ``change_id``, newest first, with its outcome."""
    query = f"WorkflowId = {sa.literal(change_id)}"
    runs = [wf async for wf in client.list_workflows(query)]
    runs.sort(key=lambda wf: wf.start_time, reverse=True)
    found: list[Attempt] = []
    for wf in runs:
        status = wf.status or WorkflowExecutionStatus.RUNNING
        if status == WorkflowExecutionStatus.RUNNING:
            outcome = f"phase {wf.typed_search_attributes.get(sa.RENEWAL_PHASE) or '?'}"
        else:
            outcome = await _outcome(client, change_id, wf.run_id, status)
        found.append(Attempt(wf.run_id, status.name.lower(), wf.start_time, wf.close_time, outcome))
    return found


async def _outcome(
    client: Client, change_id: str, run_id: str, status: WorkflowExecutionStatus
) -> str:
    """How a closed run ended, from its close event (no worker needed)."""
    handle = client.get_workflow_handle(change_id, run_id=run_id)
    try:
        await handle.result(follow_runs=False)
    except WorkflowFailureError as exc:
        cause = application_error(exc)
        if cause is not None:
            return f"{cause.type or 'failed'}: {cause.message}"
        return str(exc.cause or exc)
    except RPCError as exc:
        return f"{status.name.lower()} ({exc.message})"
    return "done"
