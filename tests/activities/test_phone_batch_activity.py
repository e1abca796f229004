"""``reset_phone_batch``: the batches of a very large cluster chosen by cursor on the worker
(RisPort70 selectCmDeviceExt, AXL doDeviceReset), resumable without rebooting a phone twice.

A reset phone is off its node at once and its RisPort TimeStamp is the status change ([DOC S9],
as ``test_phone_activities`` cites), which is what a retry reads back."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

from temporalio.testing import ActivityEnvironment

from activities.clients.cucm.phone_resets import select_batch
from activities.clients.cucm.risport import DeviceRegistration
from activities.cluster_models import PhoneBatchRequest
from lab.faults import Fault
from tests.activities.test_phone_activities import (
    activities_for,
    all_registered,
    axl_resets,
    failure,
)
from tests.lab.conftest import LabHandle


def record(name: str, node: str, status: str = "Registered", at: int = 100) -> DeviceRegistration:
    return DeviceRegistration(name=name, node=node, status=status, timestamp=at)


def test_a_batch_takes_the_next_registered_names_after_the_cursor_alternating_nodes() -> None:
    records = [
        record("SEP04", "sub2"),
        record("SEP01", "sub1"),
        record("SEP02", "sub1"),
        record("SEP03", "sub2", status="UnRegistered"),
        record("SEP05", "sub1"),
        record("SEP06", "sub2"),
        record("SEP07", "sub1"),
    ]
    first = select_batch(records, "", 3)
    assert first.names == ["SEP01", "SEP04", "SEP02"]
    assert (first.last, first.more, first.skipped) == ("SEP04", True, ["SEP03"])
    assert (first.registered, first.per_node) == (6, {"sub1": 4, "sub2": 2})
    second = select_batch(records, first.last, 3)
    assert second.names == ["SEP05", "SEP06", "SEP07"]
    assert (second.last, second.more, second.skipped) == ("SEP07", False, [])
    assert select_batch(records, second.last, 3).names == []


def test_a_batch_ending_the_sweep_reports_every_unregistered_name_after_the_cursor() -> None:
    records = [record("SEP01", "sub1"), record("SEP09", "sub1", status="Rejected")]
    assert select_batch(records, "", 5).skipped == ["SEP09"]
    assert select_batch(records, "SEP01", 5).skipped == ["SEP09"]


def test_the_late_sweep_selects_only_its_candidates() -> None:
    records = [record("SEP01", "sub1"), record("SEP02", "sub1"), record("SEP03", "sub2")]
    late = select_batch(records, "", 10, candidates=["SEP03", "SEP01"])
    assert sorted(late.names) == ["SEP01", "SEP03"]


def test_a_reselection_leaves_out_phones_registered_since_the_batch_was_scheduled() -> None:
    records = [record("SEP01", "sub1", at=150), record("SEP02", "sub1", at=90)]
    again = select_batch(records, "", 10, unchanged_since=100)
    assert again.names == ["SEP02"]
    assert again.skipped == []  # SEP01 was the earlier attempt's reset, not a late phone


async def test_batches_by_cursor_reset_every_phone_once(lab: LabHandle) -> None:
    running = lab.lab
    await all_registered(running)
    everyone = sorted(p.name for p in running.phones.phones)
    mark = running.journal.last_seq
    acts = activities_for(lab)
    after = ""
    sizes = []
    while True:
        result = await ActivityEnvironment().run(
            acts.reset_phone_batch, PhoneBatchRequest(cluster="lab", after=after, size=7)
        )
        await all_registered(running)
        if not result.requested:
            break
        sizes.append(result.requested)
        assert result.reset == result.requested
        assert result.last > after
        after = result.last
        if not result.more:
            break
    assert sum(sizes) == len(everyone)
    assert sorted(axl_resets(running, mark)) == everyone  # each exactly once


async def test_a_retried_batch_resets_the_rest_of_its_heartbeated_selection(
    lab: LabHandle,
) -> None:
    running = lab.lab
    await all_registered(running)
    acts = activities_for(lab)
    req = PhoneBatchRequest(cluster="lab", size=5, concurrency=1)
    first = ActivityEnvironment()
    beats: list[Any] = []

    def beat(*details: Any) -> None:
        beats.append(details)
        if details[0]["reset"]["done"] == 2 and not running.faults.active():
            # The third request fails: the attempt dies after two resets.
            running.faults.add(Fault(kind="soap-fault", node="cucm-pub", target="axl", count=1))

    first.on_heartbeat = beat
    first.info = dataclasses.replace(first.info, scheduled_time=datetime.now(UTC))
    mark = running.journal.last_seq
    await failure(first.run(acts.reset_phone_batch, req))
    chosen = beats[-1][0]["selection"]["names"]
    assert axl_resets(running, mark) == chosen[:2]
    await all_registered(running)  # the retry comes after the heartbeat timeout: all back
    retry = ActivityEnvironment()
    retry.info = dataclasses.replace(first.info, attempt=2, heartbeat_details=beats[-1])
    result = await retry.run(acts.reset_phone_batch, req)
    assert (result.requested, result.reset) == (5, 5)
    assert sorted(axl_resets(running, mark)) == sorted(chosen)  # each exactly once


async def test_a_retry_that_lost_the_selection_does_not_reset_the_dead_attempts_phones(
    lab: LabHandle,
) -> None:
    """The attempt died before its first heartbeat reached Temporal: the retry selects again,
    leaving out the phones whose registration changed since the batch was scheduled."""
    running = lab.lab
    await all_registered(running)
    acts = activities_for(lab)
    req = PhoneBatchRequest(cluster="lab", size=4, concurrency=1)
    first = ActivityEnvironment()
    first.info = dataclasses.replace(first.info, scheduled_time=datetime.now(UTC))
    beats: list[Any] = []

    def beat(*details: Any) -> None:
        beats.append(details)
        if details[0]["reset"]["done"] == 2 and not running.faults.active():
            running.faults.add(Fault(kind="soap-fault", node="cucm-pub", target="axl", count=1))

    first.on_heartbeat = beat
    mark = running.journal.last_seq
    await failure(first.run(acts.reset_phone_batch, req))
    dead = axl_resets(running, mark)
    assert len(dead) == 2
    await all_registered(running)
    retry = ActivityEnvironment()
    retry.info = dataclasses.replace(first.info, attempt=2, heartbeat_details=[])
    result = await retry.run(acts.reset_phone_batch, req)
    assert result.requested == 4
    resets = axl_resets(running, mark)
    assert len(resets) == len(set(resets)) == 6  # none twice
    assert set(dead) <= set(resets)
