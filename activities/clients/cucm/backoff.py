"""Transient faults of a CUCM node: how long to wait, and a bounded retry of a read.

A node that is busy says so with ``Retry-After`` (RFC 9110 §10.2.3: delay-seconds or an
HTTP-date) on an HTTP 503 or 429, or with a realtime throttle fault that says nothing about
when to come back (cucm-interfaces.md §4.4). :func:`retry_after_of` reads the header (capped
at :data:`RETRY_AFTER_CAP`) onto the typed error; :class:`Backoff` waits what the node asked,
or backs off exponentially when it did not say, for a bounded number of attempts and never
past a deadline. Steps that only read (discovery, preflight) use it so one 500, SOAP fault or
throttle is not reported as a problem; a fault that persists is, with how often it was tried.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TypeVar

import httpx

from activities.clients.cucm import inferred
from activities.clients.cucm.errors import CucmError, CucmThrottled

#: The longest wait a node's ``Retry-After`` can impose on one attempt (seconds): a node that
#: asks for an hour is retried after five minutes rather than holding a step that long.
RETRY_AFTER_CAP = 300.0

Sleep = Callable[[float], Awaitable[None]]
Clock = Callable[[], float]
_T = TypeVar("_T")


def parse_retry_after(value: str, now: datetime | None = None) -> float | None:
    """Seconds a ``Retry-After`` value asks to wait, capped at :data:`RETRY_AFTER_CAP`.

    RFC 9110 §10.2.3: ``delay-seconds`` (a non-negative integer) or an ``HTTP-date``, which
    §5.6.7 says a recipient accepts in all three forms (IMF-fixdate, RFC 850, asctime; dates
    without a zone are GMT). A date in the past means "now" (0).

    Args:
        value: The header's value.
        now: The current time (tests pass a fixed one); the system clock when None.

    Returns:
        The delay in seconds, or None when the value is neither form (the header is ignored).
    """
    text = value.strip()
    if not text:
        return None
    if text.isdigit():
        return min(float(text), RETRY_AFTER_CAP)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    delay = (when - (now or datetime.now(UTC))).total_seconds()
    return min(max(delay, 0.0), RETRY_AFTER_CAP)


def retry_after_of(resp: httpx.Response, now: datetime | None = None) -> float | None:
    """The capped delay a response's ``Retry-After`` header asks for; None without one."""
    header = resp.headers.get("Retry-After")
    return parse_retry_after(header, now) if header is not None else None


def transient(exc: BaseException) -> bool:
    """Whether a CUCM error may go away by itself (a 5xx, a throttle, a SOAP fault, a node
    that did not answer), as opposed to one an operator must fix (credentials, trust, a
    request the node refused)."""
    return isinstance(exc, CucmError) and bool(exc.retryable)


@dataclass(frozen=True)
class Backoff:
    """A bounded retry of transient CUCM faults.

    Attributes:
        attempts: Tries in all (1 = no retry).
        initial: First wait after a fault the node gave no delay for (seconds); each
            further wait doubles.
        throttle_initial: First wait after a throttle without ``Retry-After`` (the realtime
            limit counts per minute, so waits start longer).
        maximum: The longest single wait, ``Retry-After`` included.
        sleep: How to wait (tests record the waits instead).
        clock: Monotonic seconds, for the deadline.
    """

    attempts: int = 3
    initial: float = 2.0
    throttle_initial: float = inferred.THROTTLE_RETRY_AFTER
    maximum: float = 60.0
    sleep: Sleep = field(default=asyncio.sleep, compare=False, repr=False)
    clock: Clock = field(default=time.monotonic, compare=False, repr=False)

    def delay(self, retry: int, exc: CucmError) -> float:
        """The wait before retry number ``retry`` (1-based) after ``exc``.

        What the node asked (``Retry-After``) wins, within :attr:`maximum`; otherwise the
        wait doubles from :attr:`initial` (:attr:`throttle_initial` after a throttle).
        """
        if exc.asked_wait is not None:
            return min(exc.asked_wait, self.maximum)
        first = self.throttle_initial if isinstance(exc, CucmThrottled) else self.initial
        return float(min(first * 2 ** (retry - 1), self.maximum))

    async def run(
        self,
        call: Callable[[], Awaitable[_T]],
        *,
        deadline: float | None = None,
        on_retry: Callable[[int, float, CucmError], None] | None = None,
    ) -> _T:
        """Call ``call`` until it succeeds, a fault is not transient, the attempts are used
        up, or the next wait would end past ``deadline`` (a :attr:`clock` value).

        Args:
            call: The read to try (it must be safe to repeat).
            deadline: No wait is started that would end after this.
            on_retry: Told (attempt that failed, wait, error) before each wait.

        Raises:
            CucmError: The last fault, with :attr:`CucmError.attempts` set to the tries made.
        """
        attempt = 1
        while True:
            try:
                return await call()
            except CucmError as exc:
                exc.attempts = attempt
                if not transient(exc) or attempt >= self.attempts:
                    raise
                wait = self.delay(attempt, exc)
                if deadline is not None and self.clock() + wait > deadline:
                    raise
                if on_retry is not None:
                    on_retry(attempt, wait, exc)
                await self.sleep(wait)
                attempt += 1


#: How a client repeats one read (a GET) inside a step that changes the cluster: the step
#: reads every node of the SAN before and after its change, dozens of reads a renewal, so a
#: node answering 1 read in 5 with a 503 must not fail the step. Five tries leave a 1-in-5
#: fault 1 chance in 3,000 per read; the waits (what the node asks, else 2, 4, 8, 16 s) stay
#: within a step's heartbeat-covered time, and a fault that persists is still raised.
READS = Backoff(attempts=5, maximum=30.0)

_STEP_READS: ContextVar[Backoff | None] = ContextVar("ucrenew_step_reads", default=READS)


def step_reads() -> Backoff | None:
    """How a client created now repeats its reads: :data:`READS`, or the back-off of
    :func:`reads_backoff` around it."""
    return _STEP_READS.get()


@contextmanager
def reads_backoff(backoff: Backoff | None) -> Iterator[None]:
    """Clients created within repeat each read as ``backoff`` says (None: not at all):
    discovery's reads follow the worker's ``UCRENEW_CUCM_RETRY_*`` settings, one request at a
    time, before discovery retries a whole probe that still failed."""
    token = _STEP_READS.set(backoff)
    try:
        yield
    finally:
        _STEP_READS.reset(token)


@dataclass(frozen=True)
class Retrying:
    """How a step retries its reads: a back-off and a deadline (a ``backoff.clock`` value;
    None: the attempts alone bound it)."""

    backoff: Backoff = Backoff()
    deadline: float | None = None

    async def __call__(self, read: Callable[[], Awaitable[_T]]) -> _T:
        """Run ``read`` until it succeeds or its fault persists (raised, attempts set)."""
        return await self.backoff.run(read, deadline=self.deadline)


def tried(exc: CucmError) -> str:
    """``exc``'s message, with how many times it was tried when more than once."""
    message = str(exc) or exc.__class__.__name__
    return f"{message} (failed {exc.attempts} times)" if exc.attempts > 1 else message
