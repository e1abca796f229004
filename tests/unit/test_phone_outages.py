"""The phone-impact benchmark's split of a journal (bench/phone_outages.py), on scripted
journals whose figures are known."""

from __future__ import annotations

import itertools

import pytest

from bench.phone_outages import outages, shares
from lab.journal import JournalEntry

_seq = itertools.count(1)


def entry(at: float, kind: str, phones: list[str], reason: str = "") -> JournalEntry:
    data: dict[str, object] = {"phones": phones}
    if reason:
        data["reason"] = reason
    return JournalEntry(seq=next(_seq), at=at, kind=f"phone.{kind}", data=data)


PROTOCOLS = {"A": "SCCP", "B": "SIP", "C": "SIP", "D": "SCCP"}


def test_each_outage_goes_to_what_started_it_by_protocol() -> None:
    journal = [
        entry(0, "registered", ["A", "B", "C", "D"], "initial"),
        entry(10, "unregistered", ["A", "B"], "callmanager-stopped"),
        entry(11, "registered", ["A"], "failover"),
        entry(70, "registered", ["B"], "failover"),
        entry(100, "unregistered", ["C"], "reset:axl"),
        # A reset of a phone already down keeps the cause that dropped it.
        entry(120, "unregistered", ["C"], "callmanager-stopped"),
        entry(160, "registered", ["C"], "registered"),
        entry(200, "unregistered", ["D"], "no-callmanager"),
    ]
    found = outages(journal, since=5, until=210)
    split = shares(found, PROTOCOLS, 4, long_after=5, wave_gap=60)
    assert split.failover_sccp == pytest.approx(1)
    assert split.failover_sip == pytest.approx(60)
    assert split.itl_resets == pytest.approx(60)
    assert split.other == pytest.approx(10)  # D, cut at the end of the window
    assert split.total == pytest.approx(131)


def test_the_long_peak_ignores_short_outages_and_counts_overlaps() -> None:
    journal = [
        entry(0, "registered", ["A", "B", "C", "D"], "initial"),
        entry(10, "unregistered", ["A", "B", "C"], "callmanager-stopped"),
        entry(11, "registered", ["A"], "failover"),  # 1 s: never long
        entry(20, "registered", ["B"], "failover"),  # long from 15 to 20
        entry(40, "registered", ["C"], "failover"),  # long from 15 to 40
        entry(30, "unregistered", ["D"], "reset:axl"),
        entry(90, "registered", ["D"], "registered"),  # long from 35 to 90
    ]
    split = shares(outages(journal, 0, 100), PROTOCOLS, 4, long_after=5, wave_gap=60)
    assert split.peak_long_fraction == pytest.approx(2 / 4)  # B and C, then C and D


def test_restart_drops_far_apart_are_different_waves() -> None:
    journal = [
        entry(0, "registered", ["A", "B", "C", "D"], "initial"),
        entry(10, "unregistered", ["A", "B"], "callmanager-stopped"),
        entry(10.5, "unregistered", ["C"], "callmanager-stopped"),
        entry(12, "registered", ["A", "B", "C"], "failover"),
        entry(200, "unregistered", ["D"], "callmanager-stopped"),
        entry(201, "registered", ["D"], "failover"),
        entry(300, "unregistered", ["A"], "reset:axl"),  # a reset is no failover
    ]
    split = shares(outages(journal, 0, 400), PROTOCOLS, 4, long_after=5, wave_gap=60)
    assert split.waves == [3, 1]
    assert split.wave_failover_fraction == pytest.approx(3 / 4)
