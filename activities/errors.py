"""The one place client errors become Temporal ApplicationErrors.

Type names are the client error class names (the workflow and the retry policies refer to
them); messages are the clients' own, which never carry credentials.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import ParamSpec, TypeVar

from temporalio.exceptions import ApplicationError, ApplicationErrorCategory

from activities.clients.ca.errors import CaError
from activities.clients.cucm.errors import CucmError, CucmThrottled
from activities.clients.inventory import InventoryError
from activities.clients.itsm.errors import ItsmError
from activities.clients.pki import PkiError
from activities.clients.secrets import SecretRefError

P = ParamSpec("P")
R = TypeVar("R")


class StepError(Exception):
    """An activity-level failure that is not a client error (e.g. an incomplete upload)."""

    def __init__(self, message: str, *, error_type: str, retryable: bool = False) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.retryable = retryable


def translate(exc: BaseException) -> ApplicationError | None:
    """The ApplicationError for a known error, None for anything else (a bug: let it retry)."""
    if isinstance(exc, ApplicationError):
        return exc
    if isinstance(exc, StepError):
        return ApplicationError(str(exc), type=exc.error_type, non_retryable=not exc.retryable)
    if isinstance(exc, CucmThrottled):
        return ApplicationError(
            str(exc),
            type=type(exc).__name__,
            next_retry_delay=timedelta(seconds=exc.retry_after),
            category=ApplicationErrorCategory.BENIGN,
        )
    if isinstance(exc, ItsmError):
        return ApplicationError(
            str(exc),
            type=type(exc).__name__,
            non_retryable=not exc.retryable,
            next_retry_delay=(
                timedelta(seconds=exc.retry_after) if exc.retry_after is not None else None
            ),
        )
    if isinstance(exc, CucmError) and exc.asked_wait is not None and exc.retryable:
        # The node said when to come back (Retry-After): the next attempt waits that long.
        return ApplicationError(
            str(exc), type=type(exc).__name__, next_retry_delay=timedelta(seconds=exc.asked_wait)
        )
    if isinstance(exc, CucmError | CaError):
        retryable = bool(getattr(exc, "retryable", True))
        return ApplicationError(str(exc), type=type(exc).__name__, non_retryable=not retryable)
    if isinstance(exc, InventoryError | SecretRefError | PkiError):
        return ApplicationError(str(exc), type=type(exc).__name__, non_retryable=True)
    return None


def translated(fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Decorate an activity so known errors leave it as ApplicationErrors, translated once."""

    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await fn(*args, **kwargs)
        except Exception as exc:
            app = translate(exc)
            if app is None or app is exc:
                raise
            raise app from None

    return wrapper
