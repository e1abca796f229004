"""The worker's health and readiness endpoint (``UCRENEW_WORKER_HEALTH_LISTEN``), for probes.

``GET /healthz`` answers 200 while the process runs and its event loop is responsive: the
answer itself comes from the loop, and a monitor task that ticks every second must have ticked
recently (a loop starved for longer is reported unhealthy once it answers again).

``GET /readyz`` answers 200 only while the worker polls its task queue (the SDK validated the
namespace and started its pollers) and Temporal answered a call within the last few seconds;
503 before the connection, while Temporal does not answer, and from the moment shutdown starts
(SIGTERM), so a load balancer or rollout stops counting on a worker that is draining.

The endpoint is a few lines of HTTP/1.1 on :func:`asyncio.start_server`: no framework, nothing
the worker image does not already carry. Off unless the setting is given; a listen value
without a host (``8081`` or ``:8081``) binds loopback only.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from temporalio.client import Client
    from temporalio.worker import Worker

__all__ = [
    "HealthEndpointError",
    "TemporalProbe",
    "WorkerHealth",
    "health_endpoint",
    "parse_health_listen",
]

log = logging.getLogger("ucrenew.worker.health")

#: A monitor tick older than this means the event loop was starved or blocked that long.
MAX_LOOP_STALL_SECONDS = 30.0
#: How long a successful call to Temporal counts for readiness, so probes do not each call it.
TEMPORAL_CHECK_CACHE_SECONDS = 5.0
#: The longest a readiness probe waits for Temporal's answer.
TEMPORAL_CHECK_TIMEOUT_SECONDS = 3.0
#: How long a client may take to send its request line and headers.
REQUEST_READ_TIMEOUT_SECONDS = 5.0
#: Request line and headers larger than this are refused (a probe sends a few hundred bytes).
MAX_REQUEST_BYTES = 8192


class HealthEndpointError(RuntimeError):
    """The health endpoint cannot listen where ``UCRENEW_WORKER_HEALTH_LISTEN`` says."""


def parse_health_listen(value: str) -> tuple[str, int]:
    """Split ``[host:]port`` into host and port; no host means loopback (127.0.0.1).

    Port 0 (a free port, as tests use) passes here; the setting refuses it, as a probe could
    not know the port.

    Raises:
        ValueError: No numeric port in 0..65535.
    """
    host, sep, port = value.strip().rpartition(":")
    if not sep:
        host, port = "", value.strip()
    if not port.isdigit() or not 0 <= int(port) < 65536:
        raise ValueError(
            f"{value!r} is not [host:]port (e.g. 0.0.0.0:8081 for the pod's probes, or 8081 "
            "for loopback only)"
        )
    return host.strip("[]") or "127.0.0.1", int(port)


class TemporalProbe:
    """Whether Temporal answers a cheap call, remembered for a few seconds so that frequent
    probes (and several at once) make one call between them."""

    def __init__(self) -> None:
        """Nothing has answered yet."""
        self._ok_at: float | None = None
        self._error: str | None = None
        self._checking: asyncio.Task[None] | None = None

    async def answers(self, client: Client) -> tuple[bool, str | None]:
        """Whether Temporal answered within :data:`TEMPORAL_CHECK_CACHE_SECONDS`, calling it
        when that answer is older; else the kind of failure (never its message)."""
        if not self._fresh():
            if self._checking is None or self._checking.done():
                self._checking = asyncio.create_task(self._call(client))
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(self._checking)
        return (True, None) if self._fresh() else (False, self._error)

    def _fresh(self) -> bool:
        return self._ok_at is not None and (
            time.monotonic() - self._ok_at <= TEMPORAL_CHECK_CACHE_SECONDS
        )

    async def _call(self, client: Client) -> None:
        from temporalio.api.workflowservice.v1 import GetSystemInfoRequest

        try:
            await client.workflow_service.get_system_info(
                GetSystemInfoRequest(),
                timeout=timedelta(seconds=TEMPORAL_CHECK_TIMEOUT_SECONDS),
            )
        except Exception as err:
            # The kind of failure only: an RPC message could carry the address or metadata,
            # and a probe is readable by anyone reaching the port.
            self._error = type(err).__name__
            self._ok_at = None
        else:
            self._error = None
            self._ok_at = time.monotonic()


class WorkerHealth:
    """What the worker's probes report: the process's liveness and whether it polls."""

    def __init__(self) -> None:
        """Start as not ready: nothing is connected yet."""
        self._client: Client | None = None
        self._worker: Worker | None = None
        self._stopping = False
        self._last_tick = time.monotonic()
        self._max_lag = 0.0
        self._temporal = TemporalProbe()

    def attach(self, client: Client, worker: Worker) -> None:
        """The worker is built: readiness follows it (polling) and its client (Temporal)."""
        self._client = client
        self._worker = worker

    def begin_shutdown(self) -> None:
        """Shutdown has started: not ready from now on, whatever the worker still drains."""
        self._stopping = True

    async def monitor_loop(self) -> None:
        """Tick every second, recording how late each tick ran (the loop's lag)."""
        while True:
            before = time.monotonic()
            await asyncio.sleep(1.0)
            now = time.monotonic()
            self._max_lag = max(0.0, now - before - 1.0)
            self._last_tick = now

    def liveness(self) -> tuple[bool, dict[str, Any]]:
        """Whether the process is alive and its loop responsive, with the figures."""
        stalled = time.monotonic() - self._last_tick
        alive = stalled <= MAX_LOOP_STALL_SECONDS
        return alive, {
            "status": "ok" if alive else "event-loop-stalled",
            "pid": os.getpid(),
            "loop_lag_seconds": round(self._max_lag, 3),
            "seconds_since_tick": round(stalled, 3),
        }

    async def readiness(self) -> tuple[bool, dict[str, Any]]:
        """Whether the worker polls and Temporal answers, with the reason when not."""
        worker, client = self._worker, self._client
        if self._stopping:
            return False, {"status": "shutting-down"}
        if worker is None or client is None:
            return False, {"status": "connecting"}
        if not worker.is_running:
            return False, {"status": "stopped" if worker.is_shutdown else "starting"}
        answered, error = await self._temporal.answers(client)
        if not answered:
            return False, {"status": "temporal-unreachable", "error": error}
        return True, {"status": "polling", "task_queue": worker.task_queue}


_REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    503: "Service Unavailable",
}


async def _answer(
    health: WorkerHealth, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    status, head_only = 400, False
    body: dict[str, Any] = {"status": "bad-request"}
    try:
        try:
            raw = await asyncio.wait_for(
                reader.readuntil(b"\r\n\r\n"), REQUEST_READ_TIMEOUT_SECONDS
            )
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
            raw = b""
        parts = raw.split(b"\r\n", 1)[0].decode("latin-1").split()
        if len(parts) == 3 and parts[2].startswith("HTTP/"):
            method, target = parts[0], parts[1].split("?", 1)[0]
            head_only = method == "HEAD"
            if target not in ("/healthz", "/readyz"):
                status, body = 404, {"status": "not-found", "paths": ["/healthz", "/readyz"]}
            elif method not in ("GET", "HEAD"):
                status, body = 405, {"status": "method-not-allowed"}
            else:
                ok, body = health.liveness() if target == "/healthz" else await health.readiness()
                status = 200 if ok else 503
        payload = json.dumps(body).encode()
        head = (
            f"HTTP/1.1 {status} {_REASONS[status]}\r\n"
            "Content-Type: application/json\r\n"
            f"Content-Length: {len(payload)}\r\n"
            "Cache-Control: no-store\r\n"
            "Connection: close\r\n\r\n"
        ).encode()
        writer.write(head if head_only else head + payload)
        await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await writer.wait_closed()


@contextlib.asynccontextmanager
async def health_endpoint(
    listen: str | None, health: WorkerHealth
) -> AsyncIterator[tuple[str, int] | None]:
    """Serve ``/healthz`` and ``/readyz`` for the duration of the block.

    Args:
        listen: ``UCRENEW_WORKER_HEALTH_LISTEN``; nothing is served when ``None``.
        health: What the endpoints report.

    Yields:
        The bound host and port (port 0 picks a free one), or ``None`` when off.

    Raises:
        HealthEndpointError: The address cannot be bound (in use, not local).
    """
    if listen is None:
        yield None
        return
    host, port = parse_health_listen(listen)
    monitor = asyncio.create_task(health.monitor_loop())
    try:
        server = await asyncio.start_server(
            lambda r, w: _answer(health, r, w), host, port, limit=MAX_REQUEST_BYTES
        )
    except OSError as err:
        monitor.cancel()
        raise HealthEndpointError(
            f"UCRENEW_WORKER_HEALTH_LISTEN: cannot listen on {host}:{port}: {err.strerror or err}"
        ) from None
    bound = server.sockets[0].getsockname()
    log.info("worker health endpoint on http://%s:%s (/healthz, /readyz)", bound[0], bound[1])
    try:
        yield str(bound[0]), int(bound[1])
    finally:
        server.close()
        monitor.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await monitor
        await server.wait_closed()
