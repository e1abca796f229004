"""A renewal on a lab of two clusters, on the real Temporal dev server: renewing the second
cluster changes nothing on the first (both are in the one inventory the worker reads)."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from temporalio.client import Client

from lab.fleet import LabFleet, fleet_specs
from lab.timing import FAST
from tests.e2e.conftest import Stack
from tests.lab.conftest import LabHandle, lab_spec
from workers.settings import UcrenewSettings
from workflows.models import TERMINAL_PHASES
from workflows.renewal import CertRenewalWorkflow

pytestmark = pytest.mark.e2e

WRITE_KINDS = (
    "csr.generated",
    "trust.uploaded",
    "identity.uploaded",
    "service.control",
    "sso.disabled",
    "cert.activated",
)


@pytest_asyncio.fixture(loop_scope="session")
async def fleet(tmp_path: Path) -> AsyncIterator[LabFleet]:
    async with LabFleet(fleet_specs(lab_spec(), 2), tmp_path / "state" / "lab", FAST) as running:
        yield running


async def test_renewing_the_second_cluster_leaves_the_first_untouched(
    dev_server_env: Client, fleet: LabFleet, tmp_path: Path
) -> None:
    first, second = fleet.labs
    settings = UcrenewSettings(state_dir=tmp_path / "state", inventory=fleet.inventory_path)
    stack = Stack(
        LabHandle(second, fleet.inventory_path),
        dev_server_env,
        settings,
        f"e2e-fleet-{uuid.uuid4()}",
    )
    assert stack.lab.cluster_entry.name == "lab-002"
    before = {
        lab.spec.cluster: {
            n.hostname: n.active["tomcat"].cert.serial_number for n in lab.cluster.nodes
        }
        for lab in fleet.labs
    }
    async with stack.worker():
        handle = await stack.start()
        try:
            await stack.reenable_sso(handle)
            status = await handle.result()
        finally:
            with contextlib.suppress(Exception):
                described = await handle.query(CertRenewalWorkflow.get_status)
                if described.phase not in TERMINAL_PHASES:
                    await handle.terminate("test over")

    assert status.phase == "done"
    renewed = {n.hostname: n.active["tomcat"].cert.serial_number for n in second.cluster.nodes}
    assert all(renewed[h] != before["lab-002"][h] for h in renewed)
    assert len(second.journal.entries("identity.uploaded")) == 1
    untouched = {n.hostname: n.active["tomcat"].cert.serial_number for n in first.cluster.nodes}
    assert untouched == before["lab"]
    assert [e.kind for k in WRITE_KINDS for e in first.journal.entries(k)] == []
