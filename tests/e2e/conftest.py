"""End-to-end fixtures: the real Temporal dev server, an in-process lab, and real workers."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from temporalio.client import Client, WorkflowHandle
from temporalio.worker import Worker

from lab.server import Lab
from lab.timing import FAST
from tests.ca.pebble import pebble
from tests.lab.conftest import LabHandle, lab_spec
from workers.devserver import DevServer
from workers.settings import UcrenewSettings
from workers.wiring import build_worker
from workflows import search_attributes as sa
from workflows.models import (
    TERMINAL_PHASES,
    ApprovalInput,
    RenewalInput,
    RenewalOptions,
    RenewalStatus,
    SsoConfirmation,
)
from workflows.renewal import CertRenewalWorkflow

__all__ = ["Stack", "pebble"]

Handle = WorkflowHandle[CertRenewalWorkflow, RenewalStatus]

#: The lab restarts in milliseconds: poll it that fast.
FAST_OPTIONS = RenewalOptions(restart_poll_seconds=0.1, verify_timeout_seconds=30)


@dataclass
class Stack:
    """A lab, a Temporal client, settings for workers, and a task queue of their own."""

    lab: LabHandle
    client: Client
    settings: UcrenewSettings
    task_queue: str
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def worker(self) -> Worker:
        """An in-process worker (use as ``async with``)."""
        return build_worker(self.client, self.settings, self.task_queue)

    def worker_process(self, address: str) -> subprocess.Popen[bytes]:
        """A worker in its own process (``python -m workers``), killable like a real one."""
        env = dict(os.environ)
        env.update(
            UCRENEW_STATE_DIR=str(self.settings.state_dir),
            UCRENEW_INVENTORY=str(self.settings.inventory_path),
            UCRENEW_TEMPORAL_ADDRESS=address,
            UCRENEW_TASK_QUEUE=self.task_queue,
        )
        with (self.settings.state_dir / "worker.log").open("ab") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "workers"], env=env, stdout=log, stderr=subprocess.STDOUT
            )
        self.workers.append(proc)
        return proc

    async def start(self, **fields: Any) -> Handle:
        """Start a renewal of the lab cluster."""
        data: dict[str, Any] = {
            "change_id": f"CHG-{uuid.uuid4().hex[:10]}",
            "cluster": self.lab.cluster_entry.name,
            "requested_by": "e2e",
            "options": FAST_OPTIONS,
            **fields,
        }
        inp = RenewalInput.model_validate(data)
        return await self.client.start_workflow(
            CertRenewalWorkflow.run,
            inp,
            id=inp.change_id,
            task_queue=self.task_queue,
            search_attributes=sa.start_attributes(inp.cluster, inp.change_id, list(inp.purposes)),
        )

    async def wait_for(self, handle: Handle, awaiting: str, timeout: float = 60.0) -> RenewalStatus:
        """Poll until the renewal awaits ``awaiting``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            status = await handle.query(CertRenewalWorkflow.get_status)
            if status.awaiting == awaiting:
                return status
            if status.phase in TERMINAL_PHASES or loop.time() > deadline:
                raise AssertionError(
                    f"never awaited {awaiting}: phase {status.phase}, error {status.error}"
                )
            await asyncio.sleep(0.05)

    @staticmethod
    def open_window(hours: float = 4.0) -> dict[str, str]:
        """A maintenance window open now (from an hour ago) for ``hours``."""
        now = datetime.now(UTC)
        return {
            "start": (now - timedelta(hours=1)).isoformat(),
            "end": (now + timedelta(hours=hours)).isoformat(),
        }

    async def approve_impact(self, handle: Handle) -> RenewalStatus:
        """Play the CAB: approve the phone-impacting restarts once the change asks."""
        status = await self.wait_for(handle, "approval")
        assert status.gate == "impact"
        await handle.execute_update(
            CertRenewalWorkflow.approve,
            ApprovalInput(
                principal="cab-member",
                comment="ok",
                plan_hash=status.plan.plan_hash if status.plan else None,
            ),
        )
        return status

    async def reenable_sso(self, handle: Handle) -> None:
        """Play the operator: enable SSO in the (lab's) GUI, then confirm."""
        await self.wait_for(handle, "sso-confirm")
        self.lab.lab.cluster.sso_enable(origin="e2e operator")
        await handle.execute_update(
            CertRenewalWorkflow.confirm_sso, SsoConfirmation(principal="e2e-operator")
        )


@pytest.fixture
def lab_dir(tmp_path: Path) -> Path:
    return tmp_path / "state" / "lab"


@pytest_asyncio.fixture(loop_scope="session")
async def stack(dev_server_env: Client, lab_dir: Path, tmp_path: Path) -> AsyncIterator[Stack]:
    async with Lab(lab_spec(), lab_dir, FAST) as lab:
        settings = UcrenewSettings(
            state_dir=tmp_path / "state", inventory=lab_dir / "inventory.yaml"
        )
        s = Stack(LabHandle(lab), dev_server_env, settings, f"e2e-{uuid.uuid4()}")
        try:
            yield s
        finally:
            for proc in s.workers:
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
                    try:
                        proc.wait(10)
                    except subprocess.TimeoutExpired:
                        proc.kill()


@pytest.fixture
def dev_address(dev_server: DevServer) -> str:
    return dev_server.address
