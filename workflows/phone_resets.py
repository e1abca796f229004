"""The phone resets of a very large cluster, in a child workflow that keeps its history small.

A CallManager change resets every registered phone in gated batches (``workflows.rollout``).
Done inside the renewal, every batch adds its activities to the renewal's history and every
phone name goes through it: a 40,000-phone cluster would pass Temporal's suggested limit of
10,240 events. Above ``RenewalOptions.phone_resets_child_above`` phones the renewal hands the
batches to :class:`workflows.phone_resets_workflow.PhoneResetsWorkflow` instead:

- the batches are chosen by cursor on the worker (``reset_phone_batch``: RisPort70 read, the
  next ``phone_reset_batch`` registered phones in name order, AXL resets): the history holds
  the cursor and counts, never the phone names;
- the child continues-as-new when Temporal suggests it (or every ``phone_reset_batches_per_run``
  batches), carrying only the cursor, the counts and the late candidates;
- it signals each batch's counts to the renewal (status, audit, dashboards' progress) and
  returns to it when a batch's health gate fails or the window leaves no time for the next
  batch: the renewal asks its operator as before, then starts the next child at the cursor.

Crash-safety is the batch activity's: its selection is heartbeated before the first reset and a
retry resets exactly the phones not yet reset (read back in RisPort), see
``activities.clients.cucm.phone_resets``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from pydantic import BaseModel, Field
from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    CancelledError,
    ChildWorkflowError,
)
from temporalio.workflow import ChildWorkflowCancellationType, ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from activities.cluster_models import (
        PhoneBatchResult,
        RegistrationGateResult,
    )
    from workflows import policies
    from workflows.steps import RenewalStopped, stopped
    from workflows.windows import WindowSpec

if TYPE_CHECKING:
    from workflows.ledger import Ledger

ArgT = TypeVar("ArgT")
ResT = TypeVar("ResT")

#: Late candidates (phones not registered when their batch passed) a child carries at most;
#: beyond it they are counted, and the operator is told to check them.
MAX_LATE_CANDIDATES = 5000

#: The child workflow's type (:class:`workflows.phone_resets_workflow.PhoneResetsWorkflow`).
WORKFLOW_NAME = "PhoneResetsWorkflow"
#: Signal by which the child reports each batch to its renewal.
PROGRESS_SIGNAL = "phone_reset_progress"

Sweep = Literal["phone", "late phone"]


class PhoneResetsInput(BaseModel):
    """Where a run of :class:`PhoneResetsWorkflow` starts (also its continue-as-new state)."""

    cluster: str
    change_id: str = Field(description="the renewal (workflow id) the batches are reported to")
    kind: Sweep = "phone"
    batch_size: int = Field(ge=1)
    candidates: list[str] = Field(
        default_factory=list, description="the late sweep: only these names; empty: every phone"
    )
    after: str = Field(default="", description="cursor: the last name of the last batch")
    batches: int = Field(default=0, description="batches done in this sweep (all runs)")
    requested: int = 0
    reset: int = 0
    late: list[str] = Field(default_factory=list, description="late candidates so far")
    late_over: int = Field(default=0, description="late candidates beyond the cap")
    tolerance: float = 0.02
    timeout_seconds: float = 900.0
    poll_seconds: float = 15.0
    heartbeat_seconds: float = 30.0
    windows: list[WindowSpec] = Field(default_factory=list)
    expected_wave_seconds: float = 900.0
    batches_per_run: int = Field(
        default=0, ge=0, description="continue-as-new after this many batches (0: when suggested)"
    )
    runs: int = Field(default=1, description="runs so far, this one included")


class PhoneResetsResult(BaseModel):
    """How a child's sweep ended: done, or stopped for the renewal to ask its operator."""

    stopped: Literal["", "window", "gate"] = ""
    label: str = Field(default="", description="the batch the stop is about")
    baseline: int = Field(default=0, description="registered phones before that batch")
    gate: RegistrationGateResult | None = None
    after: str = ""
    batches: int = 0
    requested: int = 0
    reset: int = 0
    late: list[str] = Field(default_factory=list)
    late_over: int = 0
    runs: int = 1


class PhoneResetProgress(BaseModel):
    """One batch, as the child reports it to the renewal."""

    label: str
    requested: int
    reset: int
    sample: list[str] = Field(default_factory=list)
    not_found: list[str] = Field(default_factory=list)
    back: int | None = None
    baseline: int = 0


def batch_label(kind: Sweep, number: int) -> str:
    """The audit label of batch ``number`` (from 1) of a sweep."""
    return f"{kind} reset batch {number}"


def progress_detail(p: PhoneResetProgress) -> str:
    """The audit line of one batch."""
    detail = f"{p.label}: {p.reset} of {p.requested} phones reset"
    if p.sample:
        detail += f" ({', '.join(p.sample)}{', ...' if p.requested > len(p.sample) else ''})"
    if p.not_found:
        detail += f"; no longer in the database: {', '.join(p.not_found)}"
    return detail


async def _activity(
    method: Callable[[Any, ArgT], Awaitable[ResT]],
    arg: ArgT,
    policy: policies.ActivityPolicy,
    summary: str,
) -> ResT:
    """Run an activity; a final failure stops the renewal, a cancellation cancels the child."""
    try:
        return await workflow.execute_activity_method(
            method, arg, summary=summary, **policy.kwargs()
        )
    except ActivityError as err:
        if isinstance(err.cause, CancelledError):
            # The renewal is being cancelled: the child ends cancelled, not failed.
            raise err.cause from None
        raise stopped(method.__name__, err) from None


def _add_late(state: PhoneResetsInput, batch: PhoneBatchResult) -> None:
    if state.kind != "phone":
        return
    room = MAX_LATE_CANDIDATES - len(state.late)
    state.late += batch.skipped[:room]
    state.late_over += max(0, len(batch.skipped) - room)


def _result(
    state: PhoneResetsInput,
    stopped: Literal["", "window", "gate"] = "",
    label: str = "",
    baseline: int = 0,
    gate: RegistrationGateResult | None = None,
) -> PhoneResetsResult:
    return PhoneResetsResult(
        stopped=stopped,
        label=label,
        baseline=baseline,
        gate=gate,
        after=state.after,
        batches=state.batches,
        requested=state.requested,
        reset=state.reset,
        late=state.late,
        late_over=state.late_over,
        runs=state.runs,
    )


def child_id(change_id: str, kind: Sweep, segment: int) -> str:
    """The id of a change's phone-reset child: derived from the change id, one per start."""
    sweep = "late" if kind == "late phone" else "main"
    return f"{change_id}/phone-resets/{sweep}/{segment}"


async def run_sweep(inp: PhoneResetsInput, segment: int) -> PhoneResetsResult:
    """Run one child to its end (or its stop); a failed child stops the renewal."""
    try:
        # By name: the workflow lives in workflows.phone_resets_workflow so that this module,
        # which the renewal imports, defines none and is shared by every run in the sandbox.
        return await workflow.execute_child_workflow(
            WORKFLOW_NAME,
            inp,
            result_type=PhoneResetsResult,
            id=child_id(inp.change_id, inp.kind, segment),
            parent_close_policy=ParentClosePolicy.TERMINATE,
            cancellation_type=ChildWorkflowCancellationType.WAIT_CANCELLATION_COMPLETED,
            retry_policy=RetryPolicy(maximum_attempts=1),
            static_summary=f"{inp.kind} resets of {inp.cluster} for {inp.change_id}",
        )
    except ChildWorkflowError as err:
        if isinstance(err.cause, CancelledError):
            # The renewal is being cancelled (the child stopped first): its own handling applies.
            raise err.cause from None
        cause = err.cause
        while cause is not None and not isinstance(cause, ApplicationError):
            cause = cause.__cause__
        if isinstance(cause, ApplicationError):
            raise RenewalStopped(cause.type or "PhoneResetsFailed", cause.message) from None
        raise RenewalStopped("PhoneResetsFailed", f"phone resets: {err}") from None


def record_batch(ledger: Ledger, progress: PhoneResetProgress) -> None:
    """A batch the child reported, in the renewal's status, audit and dashboards' progress."""
    ledger.status.phones_reset += progress.reset
    ledger.audit("ucrenew", "phones-reset", progress_detail(progress))
    ledger.set_progress(
        dataclasses.replace(
            ledger.progress, phones_back=progress.back, phones_baseline=progress.baseline
        )
    )
