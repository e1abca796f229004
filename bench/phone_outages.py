"""Phone outages from the lab's journal, split the way the phone-impact benchmark reports them.

Pure functions over journal entries (no lab, no Temporal), so the benchmark's figures can be
checked by unit tests on scripted journals (tests/unit/test_phone_outages.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from lab.journal import JournalEntry

#: Outage reasons a restart causes (the phone's node stopped, vanished or dropped its TLS).
RESTART_REASONS = frozenset({"callmanager-stopped", "node-unreachable", "tls-restart"})


@dataclass
class Outage:
    """One phone without a registration from ``start`` to ``end`` (epoch seconds)."""

    phone: str
    reason: str
    start: float
    end: float


@dataclass
class Shares:
    """Phone-unregistered-seconds of a window by cause, and the two peak figures.

    Attributes:
        itl_resets: outages a reset started (``reset:*``: ucrenew's, CUCM's or the operator's).
        failover_sccp: outages a restart started, SCCP phones.
        failover_sip: outages a restart started, SIP phones.
        other: every other outage (a phone with no node to go to at the start, ...).
        peak_long_fraction: most phones at once that had been unregistered for longer than
            the threshold, as a share of all phones.
        wave_failover_fraction: most phones one wave dropped through a restart, as a share.
    """

    itl_resets: float = 0.0
    failover_sccp: float = 0.0
    failover_sip: float = 0.0
    other: float = 0.0
    peak_long_fraction: float = 0.0
    wave_failover_fraction: float = 0.0
    waves: list[int] = field(default_factory=list)

    @property
    def total(self) -> float:
        """All phone-unregistered-seconds of the window."""
        return self.itl_resets + self.failover_sccp + self.failover_sip + self.other


def outages(entries: Iterable[JournalEntry], since: float, until: float) -> list[Outage]:
    """Each phone's outages clipped to [since, until], with the reason that started each.

    A phone is unregistered from a ``phone.unregistered`` entry until its next
    ``phone.registered`` one; a second ``unregistered`` entry during an outage (a reset of a
    phone already down) does not change its reason, as in :mod:`lab.phone_metrics`.
    """
    events = sorted(
        (e for e in entries if e.kind in ("phone.registered", "phone.unregistered")),
        key=lambda e: (e.at, e.seq),
    )
    down: dict[str, tuple[str, float]] = {}
    out: list[Outage] = []
    for e in events:
        if e.at > until:
            break
        names = e.data.get("phones", [])
        if e.kind == "phone.registered":
            for name in names:
                if name in down:
                    reason, start = down.pop(name)
                    if e.at > since:
                        out.append(Outage(name, reason, max(start, since), e.at))
            continue
        reason = str(e.data.get("reason") or "unknown")
        for name in names:
            down.setdefault(name, (reason, e.at))
    for name, (reason, start) in down.items():
        out.append(Outage(name, reason, max(start, since), until))
    return out


def shares(
    found: list[Outage],
    protocols: Mapping[str, str],
    phones: int,
    *,
    long_after: float,
    wave_gap: float,
) -> Shares:
    """The benchmark's split of ``found`` (see :class:`Shares`).

    Args:
        found: outages of the window (:func:`outages`).
        protocols: device name -> ``SCCP`` / ``SIP``.
        phones: phones of the cluster (the denominator of the shares).
        long_after: seconds after which an outage counts towards the long-outage peak.
        wave_gap: restart drops further apart than this belong to different waves.
    """
    result = Shares()
    for o in found:
        seconds = o.end - o.start
        if o.reason.startswith("reset:"):
            result.itl_resets += seconds
        elif o.reason in RESTART_REASONS and protocols.get(o.phone) == "SIP":
            result.failover_sip += seconds
        elif o.reason in RESTART_REASONS:
            result.failover_sccp += seconds
        else:
            result.other += seconds
    # Long outages: +1 at start + long_after, -1 at the end; ends sort before starts.
    marks = sorted(
        [(o.start + long_after, 1) for o in found if o.end - o.start > long_after]
        + [(o.end, -1) for o in found if o.end - o.start > long_after]
    )
    current = peak = 0
    for _, step in marks:
        current += step
        peak = max(peak, current)
    result.peak_long_fraction = peak / phones if phones else 0.0
    drops = sorted((o.start, o.phone) for o in found if o.reason in RESTART_REASONS)
    waves: list[set[str]] = []
    last = None
    for at, name in drops:
        if last is None or at - last > wave_gap:
            waves.append(set())
        waves[-1].add(name)
        last = at
    result.waves = [len(w) for w in waves]
    result.wave_failover_fraction = max(result.waves, default=0) / phones if phones else 0.0
    return result
