"""Fixtures of the ITSM tests: the lab's ServiceNow twin on loopback, and configurations."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio

from lab.servicenow import ServiceNowTwin


@pytest_asyncio.fixture(loop_scope="session")
async def twin(tmp_path: Path) -> AsyncIterator[ServiceNowTwin]:
    """The twin with its default fixture records, over HTTPS."""
    async with ServiceNowTwin(tmp_path / "servicenow", token="oauth-token-for-tests") as t:
        yield t
