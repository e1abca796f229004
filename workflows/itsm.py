"""The change record of a renewal: checked in preflight, told the outcome when the change ends.

Only when the cluster has an ``itsm:`` block (``ChangePolicy.itsm``), and only for changes
started under the ``itsm`` patch: histories recorded before it replay without these
activities. A check that fails is a preflight problem (blocking, or a warning when the
inventory says ``block: false``); a write-back is retried with backoff and, if it still fails,
recorded in the audit trail: it never fails the renewal.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities import catalog
    from activities.catalog import Purpose
    from activities.clients.itsm.models import (
        ChangeRecordCheck,
        ChangeRecordRequest,
        Outcome,
        TimeRange,
        WriteBackRequest,
    )
    from activities.cluster_models import ItsmPolicy
    from activities.itsm import ItsmActivities
    from workflows import policies
    from workflows.ledger import Ledger
    from workflows.models import Problem
    from workflows.steps import RenewalStopped, run_activity
    from workflows.windows import WindowSpec, next_window

PATCH = "itsm"


def change_record_problems(check: ChangeRecordCheck) -> list[Problem]:
    """The preflight problems a change-record verdict means (warnings when not blocking)."""
    severity = "error" if check.blocking else "warning"
    return [Problem(code=r.code, message=r.message, severity=severity) for r in check.reasons]


def unchecked_problem(policy: ItsmPolicy, why: str) -> Problem:
    """The problem of a change record that could not be read at all."""
    return Problem(
        code="change-record-unchecked",
        message=f"could not check the change record in {policy.kind}: {why}",
        severity="error" if policy.block else "warning",
    )


def windows_to_cover(
    purposes: Sequence[Purpose], windows: Sequence[WindowSpec], now: datetime
) -> list[TimeRange]:
    """The maintenance window a phone-impacting change will work in, which the record's
    planned window must cover too; none for other changes."""
    if not catalog.phone_impact(purposes):
        return []
    window = next_window(windows, now)
    return [] if window is None else [TimeRange(start=window.start, end=window.end)]


def outcome_of(error_type: str | None, cancelled: bool) -> Outcome:
    """The outcome written back for how the renewal ended."""
    if cancelled:
        return "cancelled"
    if error_type is None:
        return "done"
    return "rejected" if error_type in ("PlanRejected", "RollbackRejected") else "failed"


def write_back_policy(policy: ItsmPolicy) -> policies.ActivityPolicy:
    """The write-back's retries, from the inventory (doubling intervals, then given up)."""
    return policies.ActivityPolicy(
        start_to_close=policies.ITSM_CHECK.start_to_close,
        retry=RetryPolicy(
            initial_interval=timedelta(seconds=policy.write_back_initial_seconds),
            backoff_coefficient=2.0,
            maximum_interval=timedelta(seconds=policy.write_back_maximum_seconds),
            maximum_attempts=policy.write_back_attempts,
            non_retryable_error_types=[
                "ItsmAuthError",
                "ItsmConfigError",
                "ItsmRecordNotFound",
                "ItsmProtocolError",
                "ItsmNotConfigured",
                "InventoryError",
                "SecretRefError",
            ],
        ),
    )


async def read_change_record(
    policy: ItsmPolicy,
    cluster: str,
    change_id: str,
    purposes: Sequence[Purpose],
    windows: Sequence[WindowSpec],
    *,
    plan_policy: bool = False,
) -> tuple[ChangeRecordCheck | None, Problem | None]:
    """Run the check activity: the verdict, or (None, the problem) when it could not be read.

    Args:
        policy: The cluster's ITSM policy.
        cluster: The cluster.
        change_id: The change.
        purposes: The change's purposes (phone-impacting ones must fit a window).
        windows: The change's maintenance windows.
        plan_policy: Use the dry run's short timeouts (``ucrenew plan``).
    """
    now = workflow.now()
    request = ChangeRecordRequest(
        cluster=cluster,
        change_id=change_id,
        now=now,
        windows=windows_to_cover(purposes, windows, now),
    )
    try:
        check = await run_activity(
            ItsmActivities.check_change_record,
            request,
            policies.PLAN_REGISTRY if plan_policy else policies.ITSM_CHECK,
        )
    except RenewalStopped as stop:
        return None, unchecked_problem(policy, stop.message)
    return check, None


class ChangeRecord:
    """The renewal's side of its change record: the preflight check and the write-back."""

    def __init__(self, cluster: str, change_id: str, ledger: Ledger) -> None:
        """Bind to a renewal.

        Args:
            cluster: The cluster renewed.
            change_id: The change (the workflow id).
            ledger: The renewal's status and audit trail.
        """
        self._cluster = cluster
        self._change_id = change_id
        self._ledger = ledger
        self.policy: ItsmPolicy | None = None
        self._write = False

    async def check(
        self,
        policy: ItsmPolicy,
        purposes: Sequence[Purpose],
        windows: Sequence[WindowSpec],
    ) -> list[Problem]:
        """Check the change record; its problems for the preflight.

        Args:
            policy: The cluster's ITSM policy.
            purposes: The change's purposes (phone-impacting ones must fit a window).
            windows: The change's maintenance windows.
        """
        self.policy = policy
        check, problem = await read_change_record(
            policy, self._cluster, self._change_id, purposes, windows
        )
        if check is None:
            assert problem is not None
            # A record never read is still written back to: the system may answer later.
            self._write = True
            self._ledger.audit("ucrenew", "change-record-unchecked", problem.message)
            return [problem]
        status = self._ledger.status
        status.change_record = check
        self._write = check.found
        record = check.record
        verdict = "allows the change" if check.allowed else "does not allow the change"
        shown = f" (state {record.state_label or record.state})" if record is not None else ""
        self._ledger.audit(
            "ucrenew",
            "change-record-checked",
            f"{check.system}: {self._change_id}{shown} {verdict}",
        )
        return change_record_problems(check)

    async def write_back(self, outcome: Outcome, summary: str, notes: list[str]) -> None:
        """Tell the change record how the renewal ended; never raises."""
        policy = self.policy
        if policy is None or not self._write:
            return
        request = WriteBackRequest(
            cluster=self._cluster,
            change_id=self._change_id,
            outcome=outcome,
            summary=summary,
            work_notes=notes,
        )
        try:
            result = await run_activity(
                ItsmActivities.write_back_outcome, request, write_back_policy(policy)
            )
        except RenewalStopped as stop:
            self._ledger.audit(
                "ucrenew",
                "change-record-write-back-failed",
                f"{outcome} could not be written to {self._change_id} in {policy.kind}: "
                f"{stop.message}",
            )
            return
        self._ledger.audit("ucrenew", "change-record-written", f"{outcome}: {result.detail}")
