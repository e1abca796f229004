"""Maintenance windows: fixed and weekly (across DST), and whether a wave may start."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest
from pydantic import ValidationError

from workflows.windows import (
    MaintenanceWindow,
    RecurringWindow,
    can_start_wave,
    concrete_windows,
    in_window,
    next_window,
    occurrences,
    remaining,
)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


FIXED = MaintenanceWindow(start=utc(2025, 6, 7, 20), end=utc(2025, 6, 8, 2), label="CHG1")
SAT_NIGHT_ZURICH = RecurringWindow(
    days=["sat"], start=time(22, 0), duration_seconds=4 * 3600, timezone="Europe/Zurich"
)


# --- fixed windows --------------------------------------------------------------------------------


def test_fixed_window_membership_is_start_inclusive_end_exclusive() -> None:
    assert in_window([FIXED], utc(2025, 6, 7, 20)) == FIXED
    assert in_window([FIXED], utc(2025, 6, 8, 1, 59)) == FIXED
    assert in_window([FIXED], utc(2025, 6, 8, 2)) is None
    assert in_window([FIXED], utc(2025, 6, 7, 19, 59)) is None


def test_next_window_is_the_current_one_or_the_next_to_open() -> None:
    later = MaintenanceWindow(start=utc(2025, 6, 14, 20), end=utc(2025, 6, 15, 2))
    assert next_window([later, FIXED], utc(2025, 6, 1)) == FIXED
    assert next_window([later, FIXED], utc(2025, 6, 7, 23)) == FIXED
    assert next_window([later, FIXED], utc(2025, 6, 8, 2)) == later
    assert next_window([later, FIXED], utc(2025, 6, 20)) is None
    assert next_window([], utc(2025, 6, 1)) is None


def test_remaining() -> None:
    assert remaining(FIXED, utc(2025, 6, 7, 12)) == timedelta(hours=6)
    assert remaining(FIXED, utc(2025, 6, 8, 1, 30)) == timedelta(minutes=30)
    assert remaining(FIXED, utc(2025, 6, 9)) == timedelta(0)


def test_window_models_validate() -> None:
    with pytest.raises(ValidationError, match="before it starts"):
        MaintenanceWindow(start=utc(2025, 1, 2), end=utc(2025, 1, 1))
    with pytest.raises(ValidationError):
        MaintenanceWindow(start=datetime(2025, 1, 1), end=utc(2025, 1, 2))
    with pytest.raises(ValidationError, match="unknown IANA time zone"):
        RecurringWindow(days=["sat"], start=time(22), duration_seconds=60, timezone="Mars/Base")
    with pytest.raises(ValidationError):
        RecurringWindow(days=[], start=time(22), duration_seconds=60)


# --- weekly windows -------------------------------------------------------------------------------


def test_weekly_window_follows_local_time_in_winter_and_summer() -> None:
    winter = next_window([SAT_NIGHT_ZURICH], utc(2025, 1, 1))  # a Wednesday
    assert winter == MaintenanceWindow(start=utc(2025, 1, 4, 21), end=utc(2025, 1, 5, 1))
    summer = next_window([SAT_NIGHT_ZURICH], utc(2025, 7, 1))
    assert summer == MaintenanceWindow(start=utc(2025, 7, 5, 20), end=utc(2025, 7, 6, 0))


def test_weekly_window_that_began_the_day_before_is_found() -> None:
    # Sunday 00:30 in Zurich is inside Saturday's 22:00 + 4 h.
    now = utc(2025, 1, 4, 23, 30)
    window = in_window([SAT_NIGHT_ZURICH], now)
    assert window is not None and window.start == utc(2025, 1, 4, 21)


def test_window_spanning_spring_forward_lasts_its_elapsed_duration() -> None:
    rule = RecurringWindow(
        days=["sun"], start=time(1, 0), duration_seconds=4 * 3600, timezone="Europe/Zurich"
    )
    window = next_window([rule], utc(2025, 3, 29))
    # 01:00 CET = 00:00 UTC; the clocks jump 02:00 -> 03:00; four hours later is 06:00 CEST.
    assert window == MaintenanceWindow(start=utc(2025, 3, 30, 0), end=utc(2025, 3, 30, 4))


def test_start_in_the_spring_forward_gap_and_in_the_repeated_autumn_hour() -> None:
    rule = RecurringWindow(
        days=["sun"], start=time(2, 30), duration_seconds=3600, timezone="Europe/Zurich"
    )
    gap = next_window([rule], utc(2025, 3, 29))
    assert gap is not None and gap.start == utc(2025, 3, 30, 1, 30)  # 03:30 CEST
    repeated = next_window([rule], utc(2025, 10, 25))
    assert repeated is not None and repeated.start == utc(2025, 10, 26, 0, 30)  # first 02:30


def test_us_dst_change() -> None:
    rule = RecurringWindow(
        days=["sat"], start=time(23, 0), duration_seconds=5 * 3600, timezone="America/New_York"
    )
    window = next_window([rule], utc(2025, 3, 5))
    # 23:00 EST Saturday = 04:00 UTC; five hours later is 05:00 EDT (09:00 UTC).
    assert window == MaintenanceWindow(start=utc(2025, 3, 9, 4), end=utc(2025, 3, 9, 9))
    after = next_window([rule], utc(2025, 3, 12))
    assert after is not None and after.start == utc(2025, 3, 16, 3)  # 23:00 EDT


def test_several_days_and_the_next_one_from_outside() -> None:
    rule = RecurringWindow(days=["tue", "thu"], start=time(19), duration_seconds=7200)
    now = utc(2025, 6, 4, 12)  # a Wednesday
    assert in_window([rule], now) is None
    window = next_window([rule], now)
    assert window == MaintenanceWindow(start=utc(2025, 6, 5, 19), end=utc(2025, 6, 5, 21))
    starts = [w.start.weekday() for w in occurrences(rule, now)]
    assert set(starts) == {1, 3}


def test_back_to_back_windows_merge() -> None:
    sat = RecurringWindow(days=["sat"], start=time(22), duration_seconds=2 * 3600, label="sat")
    sun = RecurringWindow(days=["sun"], start=time(0), duration_seconds=4 * 3600, label="sun")
    now = utc(2025, 6, 7, 23)
    window = in_window([sat, sun], now)
    assert window == MaintenanceWindow(
        start=utc(2025, 6, 7, 22), end=utc(2025, 6, 8, 4), label="sat + sun"
    )
    assert can_start_wave([sat, sun], now, timedelta(hours=2))


def test_mixed_fixed_and_weekly_windows_are_in_start_order() -> None:
    windows = concrete_windows([SAT_NIGHT_ZURICH, FIXED], utc(2025, 6, 4))
    starts = [w.start for w in windows]
    assert starts == sorted(starts)
    assert FIXED in windows


# --- can a wave start? ---------------------------------------------------------------------------


def test_wave_may_start_only_if_it_ends_with_margin_before_the_window_does() -> None:
    now = utc(2025, 6, 8, 1)  # one hour left
    assert can_start_wave([FIXED], now, timedelta(minutes=30))
    assert can_start_wave([FIXED], now, timedelta(minutes=50)), "exactly the margin left"
    assert not can_start_wave([FIXED], now, timedelta(minutes=51))
    assert not can_start_wave([FIXED], now, timedelta(minutes=55), timedelta(minutes=10))
    assert can_start_wave([FIXED], now, timedelta(minutes=55), timedelta(0))


def test_no_wave_outside_a_window() -> None:
    assert not can_start_wave([FIXED], utc(2025, 6, 7, 19), timedelta(minutes=1))
    assert not can_start_wave([], utc(2025, 6, 7, 21), timedelta(minutes=1))
