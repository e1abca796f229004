"""Heartbeats for activities that wait on CUCM for minutes."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence

from temporalio import activity


@contextlib.asynccontextmanager
async def heartbeating(progress: Sequence[object]) -> AsyncIterator[None]:
    """Heartbeat with the latest progress entry while the body runs, however quiet it is.

    Cancellation reaches an activity only through heartbeats, and a worker that dies is noticed
    only when they stop: a restart that prints nothing for minutes must still heartbeat.
    """
    timeout = activity.info().heartbeat_timeout
    every = timeout.total_seconds() / 3 if timeout else 10.0

    async def beat() -> None:
        while True:
            activity.heartbeat(progress[-1] if progress else "")
            await asyncio.sleep(every)

    task = asyncio.create_task(beat())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
