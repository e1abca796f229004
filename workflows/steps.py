"""Running one step of a renewal: an activity with its policy, and how a renewal stops.

Every part of the workflow (acquisition, rollout, ledger) runs its activities through
:func:`run_activity`, so a final failure is translated once into :class:`RenewalStopped`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from workflows import policies
    from workflows.ui_metadata import activity_summary

ArgT = TypeVar("ArgT")
ResT = TypeVar("ResT")


class RenewalStopped(Exception):
    """The renewal ends on purpose (preflight failure, rejection, failed step).

    Attributes:
        error_type: the failure's type, as the workflow's ApplicationError carries it.
        message: what an operator reads.
    """

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message


async def run_activity(
    method: Callable[[Any, ArgT], Awaitable[ResT]],
    arg: ArgT,
    policy: policies.ActivityPolicy,
    summary: str | None = None,
) -> ResT:
    """Run an activity method with its policy; a final failure stops the renewal.

    ``summary`` labels it in the Temporal UI (default: its name and the purpose, node and
    service of ``arg``); it is metadata, not part of the command Temporal compares on replay.
    """
    try:
        return await workflow.execute_activity_method(
            method,
            arg,
            summary=summary or activity_summary(method.__name__, arg),
            **policy.kwargs(),
        )
    except ActivityError as err:
        raise stopped(method.__name__, err) from None


def stopped(name: str, err: ActivityError) -> RenewalStopped:
    """The RenewalStopped an activity's final failure means (its most specific cause)."""
    # A timeout wraps the last attempt's failure: report the most specific cause.
    cause: BaseException | None = err.cause
    while cause is not None and not isinstance(cause, ApplicationError):
        cause = cause.__cause__
    if isinstance(cause, ApplicationError):
        return RenewalStopped(cause.type or "ActivityFailed", cause.message)
    message = str(err.cause) if err.cause else str(err)
    return RenewalStopped("ActivityFailed", f"{name}: {message}")
