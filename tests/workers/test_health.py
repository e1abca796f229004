"""The worker's probe endpoint (``UCRENEW_WORKER_HEALTH_LISTEN``) against a real worker on the
session's Temporal dev server: alive but not ready before it is connected, ready while it
polls, not ready from the moment shutdown starts while it still drains an activity."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import Worker

from workers.devserver import DevServer, free_loopback_port
from workers.health import WorkerHealth, health_endpoint, parse_health_listen
from workers.settings import SettingsError, UcrenewSettings, load_settings

pytestmark = pytest.mark.e2e

#: How long a test waits for a state it polls for (a worker process starting, say).
WAIT_SECONDS = 60.0


async def http_get(host: str, port: int, path: str, method: str = "GET") -> tuple[int, Any]:
    """One request as a kubelet probe sends it; the status and the JSON body (or None)."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(f"{method} {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        await writer.drain()
        raw = await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
    head, _, body = raw.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, json.loads(body) if body else None


async def wait_for_status(host: str, port: int, path: str, want: int) -> Any:
    """Poll ``path`` until it answers ``want``; its body."""
    last: object = None
    for _ in range(int(WAIT_SECONDS / 0.2)):
        try:
            status, body = await http_get(host, port, path)
        except OSError as err:
            last = err
        else:
            if status == want:
                return body
            last = (status, body)
        await asyncio.sleep(0.2)
    raise AssertionError(f"{path} never answered {want}: last {last!r}")


@contextlib.asynccontextmanager
async def black_hole() -> AsyncIterator[int]:
    """A loopback port that accepts connections and never answers: a Temporal frontend that
    hangs, so a worker stays in its connect."""
    held: list[asyncio.StreamWriter] = []

    async def hold(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()


def worker_process(
    tmp_path: Path, address: str, namespace: str, health: str | None
) -> subprocess.Popen[bytes]:
    """``python -m workers`` as the image runs it, with the probe endpoint on (unless
    ``health`` is ``None``)."""
    env = {k: v for k, v in os.environ.items() if k != "UCRENEW_WORKER_HEALTH_LISTEN"}
    env.update(
        UCRENEW_STATE_DIR=str(tmp_path / "state"),
        UCRENEW_TEMPORAL_ADDRESS=address,
        UCRENEW_NAMESPACE=namespace,
        UCRENEW_TASK_QUEUE=f"health-{uuid.uuid4()}",
    )
    if health is not None:
        env["UCRENEW_WORKER_HEALTH_LISTEN"] = health
    tmp_path.mkdir(parents=True, exist_ok=True)
    log = (tmp_path / "worker.log").open("ab")
    try:
        return subprocess.Popen(
            [sys.executable, "-m", "workers"], env=env, stdout=log, stderr=subprocess.STDOUT
        )
    finally:
        log.close()


def stop(proc: subprocess.Popen[bytes]) -> int:
    """SIGTERM, then the exit status (killed if it does not drain)."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


async def test_a_worker_process_is_alive_not_ready_before_it_connects(tmp_path: Path) -> None:
    """While Temporal does not answer the connection, the kubelet must not restart the worker
    for liveness yet, and must not count it ready either."""
    port = free_loopback_port()
    async with black_hole() as hole:
        proc = worker_process(tmp_path, f"127.0.0.1:{hole}", "default", f"127.0.0.1:{port}")
        try:
            body = await wait_for_status("127.0.0.1", port, "/healthz", 200)
            assert body["status"] == "ok"
            status, ready = await http_get("127.0.0.1", port, "/readyz")
            assert (status, ready) == (503, {"status": "connecting"})
        finally:
            stop(proc)


async def test_a_worker_process_is_ready_while_polling_and_exits_on_sigterm(
    tmp_path: Path, dev_server: DevServer, dev_server_env: Client
) -> None:
    """The real worker (every workflow and activity) on the dev server: ready once polling;
    SIGTERM drains it and the endpoint closes with the process (exit 0)."""
    port = free_loopback_port()
    proc = worker_process(tmp_path, dev_server.address, dev_server.namespace, f"127.0.0.1:{port}")
    try:
        ready = await wait_for_status("127.0.0.1", port, "/readyz", 200)
        assert ready["status"] == "polling"
        status, alive = await http_get("127.0.0.1", port, "/healthz")
        assert status == 200 and alive["loop_lag_seconds"] < 30
        assert (await http_get("127.0.0.1", port, "/metrics"))[0] == 404
        assert (await http_get("127.0.0.1", port, "/readyz", method="POST"))[0] == 405
    finally:
        code = stop(proc)
    assert code == 0, (tmp_path / "worker.log").read_text()
    with pytest.raises(OSError):
        await http_get("127.0.0.1", port, "/healthz")


@activity.defn(name="health_test_hold")
async def hold_activity() -> str:
    """Runs until the test releases it (heartbeating, as a draining activity would)."""
    HELD.started.set()
    while not HELD.release.is_set():
        activity.heartbeat()
        await asyncio.sleep(0.1)
    return "released"


class _Held:
    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.release = asyncio.Event()


HELD = _Held()


@workflow.defn(name="HealthTestWorkflow", sandboxed=False)
class HealthTestWorkflow:
    """Runs :func:`hold_activity` once."""

    @workflow.run
    async def run(self) -> str:
        """The activity's result."""
        return await workflow.execute_activity(
            "health_test_hold",
            start_to_close_timeout=timedelta(minutes=2),
            heartbeat_timeout=timedelta(seconds=10),
            result_type=str,
        )


async def test_readiness_goes_false_when_shutdown_starts_while_an_activity_drains(
    dev_server_env: Client,
) -> None:
    """Kubernetes removes a terminating pod from its endpoints on readiness; the worker must
    say "not ready" from the signal on, while it still finishes its running activity."""
    global HELD
    HELD = _Held()
    queue = f"health-{uuid.uuid4()}"
    health = WorkerHealth()
    worker = Worker(
        dev_server_env,
        task_queue=queue,
        workflows=[HealthTestWorkflow],
        activities=[hold_activity],
        graceful_shutdown_timeout=timedelta(seconds=60),
    )
    async with health_endpoint("127.0.0.1:0", health) as bound:
        assert bound is not None
        host, port = bound
        assert (await http_get(host, port, "/readyz")) == (503, {"status": "connecting"})
        handle = None
        async with worker:
            health.attach(dev_server_env, worker)
            try:
                ready = await wait_for_status(host, port, "/readyz", 200)
                assert ready == {"status": "polling", "task_queue": queue}
                handle = await dev_server_env.start_workflow(
                    HealthTestWorkflow.run, id=f"health-{uuid.uuid4()}", task_queue=queue
                )
                await asyncio.wait_for(HELD.started.wait(), WAIT_SECONDS)
                health.begin_shutdown()
                draining = asyncio.create_task(worker.shutdown())
                await asyncio.sleep(0.3)
                assert not draining.done(), "the worker did not wait for its activity"
                assert await http_get(host, port, "/readyz") == (
                    503,
                    {"status": "shutting-down"},
                )
                assert (await http_get(host, port, "/healthz"))[0] == 200
                HELD.release.set()
                await asyncio.wait_for(draining, WAIT_SECONDS)
            finally:
                HELD.release.set()
                if handle is not None:
                    with contextlib.suppress(Exception):
                        await handle.terminate("test over")


def test_the_listen_setting_is_checked_and_loopback_by_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A port alone binds loopback (the endpoint is not exposed unless asked); a typo is one
    line naming the variable, as for every UCRENEW_* setting."""
    assert parse_health_listen("8081") == ("127.0.0.1", 8081)
    assert parse_health_listen(":8081") == ("127.0.0.1", 8081)
    assert parse_health_listen("0.0.0.0:8081") == ("0.0.0.0", 8081)  # noqa: S104
    assert parse_health_listen("[::]:8081") == ("::", 8081)
    assert UcrenewSettings().worker_health_listen is None
    for bad in ("127.0.0.1:http", "127.0.0.1:0", "127.0.0.1:70000"):
        monkeypatch.setenv("UCRENEW_WORKER_HEALTH_LISTEN", bad)
        with pytest.raises(SettingsError, match="UCRENEW_WORKER_HEALTH_LISTEN"):
            load_settings()


async def test_a_port_in_use_is_one_line_naming_the_setting(tmp_path: Path) -> None:
    """Two workers given the same probe port: the second says which setting, no traceback."""
    taken = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = taken.sockets[0].getsockname()[1]
    try:
        async with black_hole() as hole:
            proc = worker_process(tmp_path, f"127.0.0.1:{hole}", "default", f"127.0.0.1:{port}")
            try:
                code = proc.wait(WAIT_SECONDS)
            finally:
                stop(proc)
    finally:
        taken.close()
        await taken.wait_closed()
    out = (tmp_path / "worker.log").read_text()
    assert code == 1
    assert "error: UCRENEW_WORKER_HEALTH_LISTEN: cannot listen on 127.0.0.1:" in out
    assert "Traceback" not in out


async def test_requests_that_are_not_probes_get_a_short_answer() -> None:
    """Garbage, an oversized header block or a client that sends nothing: 400 or a closed
    connection, and the endpoint keeps answering probes."""
    health = WorkerHealth()
    async with health_endpoint("127.0.0.1:0", health) as bound:
        assert bound is not None
        host, port = bound
        for raw in (b"hello\r\n\r\n", b"GET /healthz HTTP/1.1\r\nX: " + b"a" * 20000 + b"\r\n\r\n"):
            reader, writer = await asyncio.open_connection(host, port)
            writer.write(raw)
            with contextlib.suppress(ConnectionError):
                await writer.drain()
            try:
                answer = await asyncio.wait_for(reader.read(), 10)
            except ConnectionResetError:
                # The oversized request: closed while the client still sent it.
                answer = b""
            writer.close()
            assert answer.startswith(b"HTTP/1.1 400 ") or (not answer and len(raw) > 8192)
        status, body = await http_get(host, port, "/healthz", method="HEAD")
        assert status == 200 and body is None
        assert (await http_get(host, port, "/healthz"))[0] == 200
