"""Phone impact of a time window, computed from the journal alone.

A benchmark or test reads the same journal the lab wrote, so the figures do not depend on
the phone scheduler's own bookkeeping.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable

from pydantic import BaseModel

from lab.journal import JournalEntry


class PhoneMetrics(BaseModel):
    """Phone impact over a time window, computed from the journal.

    Attributes:
        since: Start of the window (epoch seconds).
        until: End of the window (epoch seconds).
        phones: Phones known by the end of the window.
        unregistered_seconds: Sum over phones of the time each spent without a registration.
        peak_unregistered: Most phones unregistered at the same moment.
        peak_unregistered_fraction: ``peak_unregistered / phones`` (0 when there are none).
        peak_at: When the peak was first reached.
        unregistered_seconds_by_reason: ``unregistered_seconds`` split by what started each
            outage (the reason of the ``phone.unregistered`` entry: ``callmanager-stopped``,
            ``reset:itl``, ``tls-restart``...). A phone that resets while already
            unregistered stays counted under the cause that dropped it.
    """

    since: float
    until: float
    phones: int
    unregistered_seconds: float
    peak_unregistered: int
    peak_unregistered_fraction: float
    peak_at: float | None = None
    unregistered_seconds_by_reason: dict[str, float] = {}


def phone_metrics(entries: Iterable[JournalEntry], since: float, until: float) -> PhoneMetrics:
    """Phone-unregistered-seconds and the peak unregistered fraction from journal entries.

    A phone is known from its first ``phone.registered`` / ``phone.unregistered`` entry on;
    it is unregistered from an ``unregistered`` entry until its next ``registered`` one.
    Entries with the same timestamp apply together before the count is sampled.

    Args:
        entries: Journal entries (any kinds; only ``phone.registered`` and
            ``phone.unregistered`` count), in journal order.
        since: Start of the window, epoch seconds.
        until: End of the window, epoch seconds.

    Returns:
        The metrics of the window.
    """
    events = sorted(
        (e for e in entries if e.kind in ("phone.registered", "phone.unregistered")),
        key=lambda e: (e.at, e.seq),
    )
    # Per phone: None while registered, else the reason its current outage started with.
    outage: dict[str, str | None] = {}
    position = 0
    while position < len(events) and events[position].at <= since:
        _apply(outage, events[position])
        position += 1
    down = _down_by_reason(outage)
    peak = sum(down.values())
    peak_at = since if peak else None
    by_reason: dict[str, float] = defaultdict(float)
    last = since
    while position < len(events) and events[position].at <= until:
        at = events[position].at
        for reason, count in down.items():
            by_reason[reason] += count * (at - last)
        last = at
        while position < len(events) and events[position].at == at:
            _apply(outage, events[position])
            position += 1
        down = _down_by_reason(outage)
        if sum(down.values()) > peak:
            peak, peak_at = sum(down.values()), at
    for reason, count in down.items():
        by_reason[reason] += count * (until - last)
    known = len(outage)
    return PhoneMetrics(
        since=since,
        until=until,
        phones=known,
        unregistered_seconds=sum(by_reason.values()),
        peak_unregistered=peak,
        peak_unregistered_fraction=peak / known if known else 0.0,
        peak_at=peak_at,
        unregistered_seconds_by_reason={k: v for k, v in sorted(by_reason.items()) if v},
    )


def _down_by_reason(outage: dict[str, str | None]) -> Counter[str]:
    return Counter(reason for reason in outage.values() if reason is not None)


def _apply(outage: dict[str, str | None], entry: JournalEntry) -> None:
    if entry.kind == "phone.registered":
        for name in entry.data.get("phones", []):
            outage[name] = None
        return
    reason = str(entry.data.get("reason") or "unknown")
    for name in entry.data.get("phones", []):
        if outage.get(name) is None:
            outage[name] = reason
