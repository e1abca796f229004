"""Retry-After and the bounded retry of transient CUCM faults (activities/clients/cucm/backoff).

The waits are read from a recording sleep and a fake clock, never from wall time.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError
from temporalio.exceptions import ApplicationError

from activities.clients.cucm import inferred
from activities.clients.cucm.backoff import (
    RETRY_AFTER_CAP,
    Backoff,
    Retrying,
    parse_retry_after,
    tried,
)
from activities.clients.cucm.errors import (
    CucmAuthError,
    CucmError,
    CucmHttpError,
    CucmSoapFault,
    CucmThrottled,
)
from activities.errors import translate
from workers.settings import UcrenewSettings
from workers.wiring import cucm_backoff

NOW = datetime(2026, 11, 30, 12, 0, 0, tzinfo=UTC)


class Recorder:
    """A sleep that records each wait and moves a fake clock instead of waiting."""

    def __init__(self) -> None:
        self.waits: list[float] = []
        self.now = 1000.0

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now

    def backoff(self, **kw: float) -> Backoff:
        return Backoff(sleep=self.sleep, clock=self.clock, **kw)  # type: ignore[arg-type]


class Flaky:
    """A read that fails with ``errors`` in turn, then answers."""

    def __init__(self, *errors: CucmError) -> None:
        self.errors = list(errors)
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "answer"


# -- Retry-After --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("120", 120.0),
        ("0", 0.0),
        (" 7 ", 7.0),
        # RFC 9110 §5.6.7: IMF-fixdate, and the obsolete RFC 850 and asctime forms.
        ("Mon, 30 Nov 2026 12:00:45 GMT", 45.0),
        ("Monday, 30-Nov-26 12:01:00 GMT", 60.0),
        ("Mon Nov 30 12:00:10 2026", 10.0),
    ],
)
def test_retry_after_in_both_forms(value: str, seconds: float) -> None:
    """RFC 9110 §10.2.3: Retry-After = HTTP-date / delay-seconds."""
    assert parse_retry_after(value, NOW) == seconds


def test_a_date_in_the_past_means_now_and_garbage_is_ignored() -> None:
    assert parse_retry_after("Mon, 30 Nov 2026 11:00:00 GMT", NOW) == 0.0
    assert parse_retry_after("soon", NOW) is None
    assert parse_retry_after("-5", NOW) is None
    assert parse_retry_after("", NOW) is None


def test_retry_after_is_capped() -> None:
    assert parse_retry_after("86400", NOW) == RETRY_AFTER_CAP
    later = (NOW + timedelta(days=1)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    assert parse_retry_after(later, NOW) == RETRY_AFTER_CAP


# -- the delay chosen -----------------------------------------------------------------------


def test_what_the_node_asked_wins_within_the_maximum() -> None:
    backoff = Backoff(initial=2.0, throttle_initial=30.0, maximum=60.0)
    asked = CucmHttpError("HTTP 503", status=503, asked_wait=7.0)
    assert [backoff.delay(n, asked) for n in (1, 2, 3)] == [7.0, 7.0, 7.0]
    assert backoff.delay(1, CucmHttpError("HTTP 503", status=503, asked_wait=250.0)) == 60.0
    throttled = CucmThrottled("AxisFault: Exceeded", retry_after=30.0, asked_wait=4.0)
    assert throttled.retry_after == 4.0
    assert backoff.delay(1, throttled) == 4.0


def test_without_retry_after_the_wait_doubles() -> None:
    backoff = Backoff(initial=2.0, throttle_initial=30.0, maximum=100.0)
    fault = CucmSoapFault("AxisFault: java.lang.NullPointerException")
    assert [backoff.delay(n, fault) for n in (1, 2, 3)] == [2.0, 4.0, 8.0]
    throttle = CucmThrottled("AxisFault: Exceeded allowed rate for Reatime information")
    assert [backoff.delay(n, throttle) for n in (1, 2, 3)] == [30.0, 60.0, 100.0]


# -- the bounded retry ------------------------------------------------------------------------


async def test_one_transient_fault_is_retried_after_the_chosen_delay() -> None:
    rec = Recorder()
    read = Flaky(CucmHttpError("HTTP 500", status=500))
    assert await rec.backoff(initial=2.0).run(read) == "answer"
    assert read.calls == 2 and rec.waits == [2.0]


async def test_a_throttle_waits_what_the_node_asked() -> None:
    rec = Recorder()
    read = Flaky(CucmThrottled("HTTP 429", asked_wait=9.0), CucmThrottled("AxisFault: Exceeded"))
    assert await rec.backoff(attempts=3, throttle_initial=5.0).run(read) == "answer"
    assert rec.waits == [9.0, 10.0]  # asked, then the back-off of the second throttle


async def test_a_persistent_fault_is_raised_with_its_attempts() -> None:
    rec = Recorder()
    read = Flaky(*(CucmSoapFault(f"fault {n}") for n in range(5)))
    with pytest.raises(CucmSoapFault) as raised:
        await rec.backoff(attempts=3, initial=1.0).run(read)
    assert read.calls == 3 and rec.waits == [1.0, 2.0]
    assert raised.value.attempts == 3
    assert tried(raised.value) == "fault 2 (failed 3 times)"


async def test_a_fault_retrying_cannot_fix_is_not_retried() -> None:
    rec = Recorder()
    read = Flaky(CucmAuthError("credentials refused (HTTP 401)"))
    with pytest.raises(CucmAuthError) as raised:
        await rec.backoff().run(read)
    assert read.calls == 1 and rec.waits == [] and raised.value.attempts == 1
    assert tried(raised.value) == "credentials refused (HTTP 401)"


async def test_no_wait_ends_past_the_deadline() -> None:
    rec = Recorder()
    read = Flaky(*(CucmHttpError("HTTP 500", status=500) for _ in range(5)))
    retrying = Retrying(rec.backoff(attempts=5, initial=4.0), deadline=rec.now + 10.0)
    with pytest.raises(CucmHttpError) as raised:
        await retrying(read)
    assert rec.waits == [4.0]  # 4 s fits, the next 8 s would pass the deadline
    assert raised.value.attempts == 2


# -- the activity boundary --------------------------------------------------------------------


def test_temporal_retries_wait_what_the_node_asked() -> None:
    app = translate(CucmHttpError("HTTP 503", status=503, asked_wait=12.0))
    assert isinstance(app, ApplicationError)
    assert app.next_retry_delay == timedelta(seconds=12) and not app.non_retryable
    plain = translate(CucmHttpError("HTTP 500", status=500))
    assert isinstance(plain, ApplicationError) and plain.next_retry_delay is None
    throttled = translate(CucmThrottled("AxisFault: Exceeded", asked_wait=3.0))
    assert isinstance(throttled, ApplicationError)
    assert throttled.next_retry_delay == timedelta(seconds=3)


# -- the worker's settings --------------------------------------------------------------------


def test_the_worker_builds_its_backoff_from_the_settings(tmp_path: Path) -> None:
    settings = UcrenewSettings(
        state_dir=tmp_path,
        cucm_retry_attempts=5,
        cucm_retry_seconds=1.5,
        cucm_throttle_seconds=45.0,
        cucm_retry_max_wait_seconds=120.0,
    )
    backoff = cucm_backoff(settings)
    assert (backoff.attempts, backoff.initial, backoff.throttle_initial, backoff.maximum) == (
        5,
        1.5,
        45.0,
        120.0,
    )
    default = cucm_backoff(UcrenewSettings(state_dir=tmp_path))
    assert default == Backoff(attempts=3, initial=2.0, throttle_initial=30.0, maximum=60.0)


def test_a_retry_setting_out_of_bounds_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValidationError):
        UcrenewSettings(state_dir=tmp_path, cucm_retry_attempts=0)


@pytest.mark.parametrize(
    ("faultstring", "throttle"),
    [
        (
            "AxisFault: Exceeded allowed rate for Reatime information. Current allowed rate "
            "for realtime information is 18 requests per minute.",
            True,
        ),
        ("AxisFault: Exceeded allowed rate for Realtime information.", True),
        (
            "Exceeded allowed rate for Perfmon information. Current allowed rate for perfmon "
            "information is 80 requests per minute.",
            True,
        ),
        ("AxisFault: java.lang.NullPointerException", False),
    ],
)
def test_serviceability_throttles_are_recognised(faultstring: str, throttle: bool) -> None:
    """cucm-interfaces.md §4.4: the realtime throttle (with Cisco's "Reatime" typo) and its
    PerfMon analogue are HTTP 500 SOAP faults that mean "come back later"."""
    assert bool(inferred.THROTTLE_FAULT_RE.search(faultstring)) is throttle
