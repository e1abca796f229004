"""Maintenance windows: when phone-impacting restarts may run.

Windows are data (from the inventory or the start command): fixed intervals in UTC, or weekly
rules in an IANA time zone. Every function is a pure function of the windows and ``now``
(``workflow.now()`` in the workflow); a weekly rule is expanded around ``now`` each time, with
the tz database zoneinfo loaded at import, so a replay computes the same windows as long as the
worker's tzdata is the same.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field, field_validator, model_validator

from activities.models import UtcDatetime

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

DEFAULT_SAFETY_MARGIN = timedelta(minutes=10)
"""Room left between a wave's expected end and the window's end, for a slow re-registration."""

_LOOKBACK_DAYS = 8
_LOOKAHEAD_DAYS = 15


class MaintenanceWindow(BaseModel):
    """One concrete window, start inclusive, end exclusive."""

    start: UtcDatetime
    end: UtcDatetime
    label: str = ""

    @model_validator(mode="after")
    def _ordered(self) -> MaintenanceWindow:
        if self.end <= self.start:
            raise ValueError(f"window ends ({self.end}) before it starts ({self.start})")
        return self


class RecurringWindow(BaseModel):
    """A weekly window: on each of ``days``, from local ``start`` for ``duration_seconds``.

    ``start`` is wall-clock time in ``timezone``; the duration is elapsed time, so a window
    that spans a DST change is as long as on any other week. A start that falls in the
    spring-forward gap begins at the same instant as the standard-time reading would (02:30
    becomes 03:30 summer time); one in the autumn's repeated hour begins at its first
    occurrence.
    """

    days: list[Weekday] = Field(min_length=1)
    start: time
    duration_seconds: float = Field(gt=0, le=7 * 86400)
    timezone: str = "UTC"
    label: str = ""

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as e:
            # The value is not repeated: validation messages never carry what was written.
            raise ValueError("unknown IANA time zone: use a name such as Europe/Zurich") from e
        return value


WindowSpec = MaintenanceWindow | RecurringWindow


def parse_windows(raw: Sequence[Mapping[str, Any]]) -> list[WindowSpec]:
    """Windows as the change input or the inventory give them: weekly ones have ``days``."""
    return [
        RecurringWindow.model_validate(item)
        if "days" in item
        else MaintenanceWindow.model_validate(item)
        for item in raw
    ]


def occurrences(rule: RecurringWindow, now: datetime) -> list[MaintenanceWindow]:
    """The concrete windows of ``rule`` from about a week before ``now`` to two weeks after.

    Args:
        rule: a weekly window.
        now: the instant to expand around (timezone-aware).

    Returns:
        Windows in start order, in UTC.
    """
    tz = ZoneInfo(rule.timezone)
    today = now.astimezone(tz).date()
    wanted = {WEEKDAYS.index(d) for d in rule.days}
    out = []
    for offset in range(-_LOOKBACK_DAYS, _LOOKAHEAD_DAYS + 1):
        day = today + timedelta(days=offset)
        if day.weekday() not in wanted:
            continue
        start = datetime.combine(day, rule.start, tzinfo=tz).astimezone(UTC)
        out.append(
            MaintenanceWindow(
                start=start,
                end=start + timedelta(seconds=rule.duration_seconds),
                label=rule.label,
            )
        )
    return out


def concrete_windows(windows: Sequence[WindowSpec], now: datetime) -> list[MaintenanceWindow]:
    """Every window near ``now``, overlapping or touching ones merged, in start order.

    Merging lets a wave run across back-to-back windows (Saturday night into Sunday morning).

    Args:
        windows: fixed windows and weekly rules.
        now: the instant to expand weekly rules around.

    Returns:
        Disjoint windows in start order.
    """
    spans: list[MaintenanceWindow] = []
    for w in windows:
        spans.extend(occurrences(w, now) if isinstance(w, RecurringWindow) else [w])
    spans.sort(key=lambda w: (w.start, w.end))
    merged: list[MaintenanceWindow] = []
    for w in spans:
        if merged and w.start <= merged[-1].end:
            last = merged[-1]
            labels = [x for x in dict.fromkeys([last.label, w.label]) if x]
            merged[-1] = MaintenanceWindow(
                start=last.start, end=max(last.end, w.end), label=" + ".join(labels)
            )
        else:
            merged.append(w)
    return merged


def in_window(windows: Sequence[WindowSpec], now: datetime) -> MaintenanceWindow | None:
    """The (merged) window ``now`` is in, or None."""
    return next((w for w in concrete_windows(windows, now) if w.start <= now < w.end), None)


def next_window(windows: Sequence[WindowSpec], now: datetime) -> MaintenanceWindow | None:
    """The window to work in: the current one if ``now`` is inside one, else the next to open.

    Args:
        windows: fixed windows and weekly rules.
        now: the current time.

    Returns:
        The window (its ``start`` is the instant to sleep until), or None when none lies
        ahead (only past fixed windows, or no windows at all).
    """
    return next((w for w in concrete_windows(windows, now) if now < w.end), None)


def remaining(window: MaintenanceWindow, now: datetime) -> timedelta:
    """Working time left in ``window`` from ``now``: its full length before it opens, zero
    after it closes."""
    return max(window.end - max(now, window.start), timedelta(0))


def can_start_wave(
    windows: Sequence[WindowSpec],
    now: datetime,
    expected_wave_duration: timedelta,
    safety_margin: timedelta = DEFAULT_SAFETY_MARGIN,
) -> bool:
    """Whether a wave may start now: inside a window, and done with margin before it closes.

    Args:
        windows: fixed windows and weekly rules.
        now: the current time.
        expected_wave_duration: restarts plus phone re-registration for the wave.
        safety_margin: room kept before the window's end.

    Returns:
        False outside every window, or when the wave would run into the window's last
        ``safety_margin`` (the workflow then pauses between waves and reports).
    """
    window = in_window(windows, now)
    return window is not None and now + expected_wave_duration + safety_margin <= window.end
