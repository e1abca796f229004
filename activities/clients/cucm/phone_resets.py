"""Resetting phones through AXL doDeviceReset, resumable and without rebooting a phone twice.

:func:`reset_phones` sends the requests in list order with bounded concurrency, waits out AXL
throttling and reads a lost answer back in RisPort70 before it sends a request again. It
reports its :class:`ResetProgress` after every step; a caller that stores the latest one can
pass it back as ``resume_from`` so that a later run skips the phones already answered.

A report can lag behind the requests (a heartbeat is throttled, a worker dies between a
request and its report): a resumed run given ``recheck_since`` therefore reads every phone it
has not seen answered back in RisPort first, and does not reset one whose registration changed
since the batch began (still rebooting, or registered again): that was the earlier run's reset.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import time
from collections.abc import Callable, Sequence

from pydantic import BaseModel, Field

from activities.clients.cucm import inferred
from activities.clients.cucm.axl import AxlClient
from activities.clients.cucm.errors import (
    CucmDeviceNotFound,
    CucmError,
    CucmResponseLost,
    CucmThrottled,
)
from activities.clients.cucm.risport import DeviceRegistration, RisPortClient
from activities.clients.cucm.transport import BasicAuth, NodeEndpoint
from activities.cluster_models import PhoneResetResult

#: How many times one phone's reset is sent when AXL answers it with a transient fault (a SOAP
#: fault, a 5xx) and RisPort shows it did not arrive: a batch of hundreds of phones meets a
#: few such answers on a busy publisher, and each one used to fail the whole attempt. A fault
#: that persists still ends the batch.
TRANSIENT_TRIES = 4
#: Seconds before a phone's reset is sent again after a transient fault, unless the node asked
#: for longer (Retry-After).
TRANSIENT_WAIT = 1.0


class ResetProgress(BaseModel):
    """How far a reset batch got, to resume after an interruption.

    Attributes:
        done: Length of the prefix of ``names`` whose requests are all answered.
        reset: Requests AXL accepted so far (every attempt together).
        not_found: Names AXL does not know, so far.
        ahead: Positions past the prefix already answered (requests complete out of order).
        note: What the batch is doing (e.g. waiting out AXL throttling).
        started_at: When the batch's first run began (epoch seconds; 0 = not known), the
            point after which a registration change is the batch's own reset.
    """

    done: int = Field(default=0, ge=0)
    reset: int = Field(default=0, ge=0)
    not_found: list[str] = Field(default_factory=list)
    ahead: list[int] = Field(default_factory=list)
    note: str = ""
    started_at: float = Field(default=0.0, ge=0)

    def clamped(self, total: int) -> ResetProgress:
        """A copy that fits a batch of ``total`` names (positions past its end dropped)."""
        state = self.model_copy(deep=True)
        state.done = min(state.done, total)
        state.ahead = sorted({i for i in state.ahead if state.done < i < total})
        return state


async def reset_phones(
    endpoint: NodeEndpoint,
    auth: BasicAuth,
    names: Sequence[str],
    *,
    concurrency: int = 8,
    resume_from: ResetProgress | None = None,
    progress: Callable[[ResetProgress], object] = lambda _: None,
    recheck_since: float | None = None,
) -> PhoneResetResult:
    """Reset the phones ``names`` through AXL doDeviceReset on ``endpoint`` (the publisher).

    Requests go out in list order, at most ``concurrency`` at a time. Names AXL does not know
    end up in ``not_found``; AXL throttling is waited out; a lost answer is read back in
    RisPort (only a registration older than the request means the reset did not arrive, and it
    is sent again); a transient fault answer (a SOAP fault, a 5xx) is read back the same way
    and the reset sent again up to :data:`TRANSIENT_TRIES` times; any other error ends the
    batch. Phones that ``resume_from`` counts as answered are not reset again.

    Args:
        endpoint: The CUCM publisher (AXL and RisPort70).
        auth: The AXL / serviceability application user.
        names: Device names, in the order to reset them.
        concurrency: Requests in flight at most.
        resume_from: What an interrupted earlier run reported last; None starts afresh.
        progress: Called with a copy of the progress after every answer and every wait.
        recheck_since: For a run that resumes one that may have reset phones after its last
            report: when that batch began (epoch seconds). Phones not answered in
            ``resume_from`` whose RisPort registration changed since then count as reset and
            get no second request.

    Returns:
        The batch's outcome, counting the phones of ``resume_from`` too.

    Raises:
        CucmError: Any AXL or RisPort error other than throttling, an unknown device or a lost
            answer, and a transient fault met :data:`TRANSIENT_TRIES` times for one phone.
    """
    total = len(names)
    state = (resume_from or ResetProgress()).clamped(total)
    fresh = not state.started_at
    answered = set(state.ahead)
    pending = [i for i in range(state.done, total) if i not in answered]

    def beat(note: str) -> None:
        state.note = note
        progress(state.model_copy(deep=True))

    def answer(index: int) -> None:
        answered.add(index)
        while state.done in answered:
            answered.discard(state.done)
            state.done += 1
        state.ahead = sorted(answered)
        beat(f"{state.done}/{total} answered")

    async def delivered(ris: RisPortClient, name: str, sent_at: float) -> bool:
        # A reset takes the phone off its node at once and it registers again later: only a
        # registration older than the request means the reset never arrived. (AXL also accepts
        # resets of unregistered phones, which nothing can deliver.)
        failures = 0
        while True:
            try:
                records = await ris.select_cm_devices(names=[name], ext=True)
            except CucmThrottled as exc:
                beat(f"RisPort throttled; checking {name} again in {exc.retry_after:.0f}s")
                await asyncio.sleep(exc.retry_after)
                continue
            except CucmError as exc:
                failures += 1
                if not exc.retryable or failures >= TRANSIENT_TRIES:
                    raise
                await asyncio.sleep(max(TRANSIENT_WAIT, exc.asked_wait or 0.0))
                continue
            return not any(r.status == "Registered" and r.timestamp < int(sent_at) for r in records)

    async def reset_one(axl: AxlClient, ris: RisPortClient, index: int) -> None:
        name = names[index]
        failures = 0
        while True:
            sent_at = time.time()
            try:
                await axl.reset_device(name)
            except CucmDeviceNotFound:
                state.not_found.append(name)
            except CucmThrottled as exc:
                beat(f"AXL throttled; retrying {name} in {exc.retry_after:.0f}s")
                await asyncio.sleep(exc.retry_after)
                continue
            except CucmResponseLost:
                # Read back before sending again: a second reset reboots the phone twice.
                if not await delivered(ris, name, sent_at):
                    beat(f"reset of {name}: answer lost, phone still registered; again")
                    continue
                state.reset += 1
            except CucmError as exc:
                failures += 1
                if not exc.retryable or failures >= TRANSIENT_TRIES:
                    raise
                # A fault answer does not say whether the reset was applied: read it back
                # like a lost answer, and send it again only if it did not arrive.
                if not await delivered(ris, name, sent_at):
                    wait = max(TRANSIENT_WAIT, exc.asked_wait or 0.0)
                    beat(f"reset of {name}: {exc}; phone still registered; again in {wait:.0f}s")
                    await asyncio.sleep(wait)
                    continue
                state.reset += 1
            else:
                state.reset += 1
            answer(index)
            return

    async def worker(axl: AxlClient, ris: RisPortClient) -> None:
        for index in todo:
            await reset_one(axl, ris, index)

    async def already_reset(ris: RisPortClient, since: float) -> set[str]:
        # One look at every phone still to do: a reset takes it off its node at once and it
        # registers again later, so a record changed since the batch began (and no
        # registration older than that) is the earlier run's reset.
        wanted = [names[i] for i in pending]
        records: list[DeviceRegistration] = []
        for start in range(0, len(wanted), inferred.RIS_MAX_RETURNED_DEVICES):
            chunk = wanted[start : start + inferred.RIS_MAX_RETURNED_DEVICES]
            while True:
                try:
                    records += await ris.select_cm_devices(names=chunk, ext=True)
                except CucmThrottled as exc:
                    beat(f"RisPort throttled; reading the phones back in {exc.retry_after:.0f}s")
                    await asyncio.sleep(exc.retry_after)
                    continue
                break
        per_name: dict[str, list[DeviceRegistration]] = {}
        for r in records:
            per_name.setdefault(r.name, []).append(r)
        return {
            name
            for name, recs in per_name.items()
            if any(r.timestamp > int(since) for r in recs)
            and not any(r.status == "Registered" and r.timestamp <= int(since) for r in recs)
        }

    if pending:
        async with (
            AxlClient(endpoint, auth) as axl,
            RisPortClient(endpoint, auth, throttle_retries=0) as ris,
        ):
            if fresh:
                state.started_at = time.time()
                beat("batch began")
                # RisPort TimeStamps are whole seconds: the first reset goes out in the next
                # second, so a registration in the batch's first second predates every reset.
                await asyncio.sleep(math.floor(state.started_at) + 1 - time.time())
            if recheck_since is not None:
                earlier = await already_reset(ris, recheck_since)
                for index in [i for i in pending if names[i] in earlier]:
                    state.reset += 1
                    answer(index)
                pending = [i for i in pending if names[i] not in earlier]
            todo = iter(pending)
            workers = min(concurrency, len(pending))
            try:
                async with asyncio.TaskGroup() as group:
                    for _ in range(workers):
                        group.create_task(worker(axl, ris))
            except ExceptionGroup as failed:
                raise failed.exceptions[0] from None
    position = {name: i for i, name in reversed(list(enumerate(names)))}
    return PhoneResetResult(
        requested=total,
        reset=state.reset,
        not_found=sorted(state.not_found, key=lambda n: position.get(n, total)),
    )


class BatchSelection(BaseModel):
    """The phones a cursor-selected batch resets, as RisPort70 listed them when it was chosen.

    Attributes:
        names: Registered device names after the cursor, in reset order (nodes interleaved).
        last: The greatest name selected: the cursor of the next batch ("" when none).
        more: Registered phones remain after ``last``.
        skipped: Names in the batch's range RisPort lists as not registered (late candidates).
        registered: Phones registered at selection (the batch's health-gate baseline).
        per_node: RisPort node name -> phones registered with it at selection.
    """

    names: list[str] = Field(default_factory=list)
    last: str = ""
    more: bool = False
    skipped: list[str] = Field(default_factory=list)
    registered: int = 0
    per_node: dict[str, int] = Field(default_factory=dict)


class BatchProgress(BaseModel):
    """What a cursor-selected batch heartbeats: its selection, then its reset progress.

    A retried attempt that finds the selection resets exactly those phones (resuming from
    ``reset``); one that does not (its first heartbeat never reached Temporal) selects again,
    leaving out every phone whose registration changed since the batch was scheduled.
    """

    selection: BatchSelection | None = None
    reset: ResetProgress = Field(default_factory=ResetProgress)


def select_batch(
    records: Sequence[DeviceRegistration],
    after: str,
    size: int,
    *,
    candidates: Sequence[str] = (),
    unchanged_since: int | None = None,
) -> BatchSelection:
    """The next ``size`` registered phones whose names sort after ``after``.

    Names are taken in name order, so the cursor (the last name taken) is stable while phones
    move between nodes; inside the batch the requests alternate between nodes, so the
    re-registrations spread over them.

    Args:
        records: RisPort70 selectCmDeviceExt records of the whole cluster (latest per device).
        after: The cursor ("" = from the start).
        size: Phones in the batch at most.
        candidates: Only these names (empty: every phone).
        unchanged_since: Leave out phones whose registration changed after this time (epoch
            seconds): on a retry whose selection was lost, those are the earlier attempt's
            resets.
    """
    wanted = set(candidates)
    per_node: dict[str, int] = {}
    registered: dict[str, str] = {}
    absent: set[str] = set()
    for r in records:
        if r.status == "Registered":
            per_node[r.node] = per_node.get(r.node, 0) + 1
        if r.name <= after or (wanted and r.name not in wanted):
            continue
        if r.status != "Registered":
            absent.add(r.name)
            continue
        if unchanged_since is not None and r.timestamp > unchanged_since:
            continue
        registered[r.name] = r.node
    ordered = sorted(registered)
    chosen = ordered[:size]
    last = chosen[-1] if chosen else ""
    by_node: dict[str, list[str]] = {}
    for name in chosen:
        by_node.setdefault(registered[name], []).append(name)
    columns = [by_node[node] for node in sorted(by_node)]
    names = [n for row in itertools.zip_longest(*columns) for n in row if n is not None]
    # A batch that ends the sweep covers every name after the cursor.
    skipped = sorted(n for n in absent if not chosen or len(ordered) <= size or n <= last)
    return BatchSelection(
        names=names,
        last=last,
        more=len(ordered) > size,
        skipped=skipped,
        registered=sum(per_node.values()),
        per_node=per_node,
    )


async def read_all(
    ris: RisPortClient, progress: Callable[[str], object]
) -> list[DeviceRegistration]:
    """Every device record of the cluster (selectCmDeviceExt), throttling waited out."""
    while True:
        try:
            return await ris.select_cm_devices(ext=True)
        except CucmThrottled as exc:
            progress(f"RisPort throttled; selecting the batch in {exc.retry_after:.0f}s")
            await asyncio.sleep(exc.retry_after)
