"""``ucrenew campaign`` against the dev server, straight to Temporal, with the campaign's
stub renewals on an in-process worker: start, show, pause, resume, abort and ls, their exit
codes and one-line errors."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from temporalio.client import Client
from temporalio.worker import Worker

from tests.workflows.test_campaign import StubRenewal, fleet_of
from workers.devserver import DevServer
from workflows.campaign import CampaignWorkflow

pytestmark = pytest.mark.e2e

UCRENEW = str(Path(sys.executable).parent / "ucrenew")


@pytest_asyncio.fixture(loop_scope="session")
async def worker(dev_server_env: Client, task_queue: str) -> AsyncIterator[Worker]:
    async with Worker(
        dev_server_env,
        task_queue=task_queue,
        workflows=[CampaignWorkflow, StubRenewal],
        activities=fleet_of(3).activities(),
    ) as w:
        yield w


class Cli:
    """``ucrenew`` run in a thread (the worker keeps polling meanwhile)."""

    def __init__(self, server: DevServer, task_queue: str, state: Path) -> None:
        self.env = dict(os.environ)
        self.env.update(
            UCRENEW_STATE_DIR=str(state),
            UCRENEW_TEMPORAL_ADDRESS=f"{server.host}:{server.port}",
            UCRENEW_TASK_QUEUE=task_queue,
            UCRENEW_PRINCIPAL="carol",
            COLUMNS="200",
            XDG_CONFIG_HOME=str(state / "config"),
        )
        for name in ("UCRENEW_SERVER", "UCRENEW_TOKEN"):
            self.env.pop(name, None)

    async def __call__(self, *args: str) -> subprocess.CompletedProcess[str]:
        return await asyncio.to_thread(
            subprocess.run,
            [UCRENEW, *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    async def json(self, *args: str) -> Any:
        proc = await self(*args, "--json")
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)


async def test_campaign_commands(
    dev_server: DevServer, dev_server_env: Client, worker: Worker, task_queue: str, tmp_path: Path
) -> None:
    cli = Cli(dev_server, task_queue, tmp_path)
    cid = f"CMP-{uuid.uuid4().hex[:6]}"
    started = await cli.json(
        "campaign", "start", cid, "--select", "tag=emea,amer", "--purpose", "callmanager",
        "--limit", "2", "--stop-after-failures", "2",
    )  # fmt: skip
    try:
        assert started["purposes"] == ["CallManager"] and started["limit"] == 2
        assert started["requested_by"] == "carol"
        again = await cli("campaign", "start", cid, "--select", "tag=emea")
        assert again.returncode == 3 and "already in use" in again.stderr

        paused = await cli.json("campaign", "pause", cid, "--reason", "freeze")
        assert paused["phase"] == "paused"
        assert paused["paused_reason"] == "paused by carol: freeze"
        twice = await cli("campaign", "pause", cid, "--reason", "freeze")
        assert twice.returncode == 3 and "already paused" in twice.stderr

        shown = await cli("campaign", "show", cid)
        assert shown.returncode == 0 and "paused: paused by carol: freeze" in shown.stdout
        assert "c0" in shown.stdout and "c2" in shown.stdout

        resumed = await cli.json("campaign", "resume", cid, "--reason", "go", "--by", "dave")
        assert resumed["phase"] == "running" and resumed["audit"][-1]["principal"] == "dave"

        listed = await cli.json("campaign", "ls", "--running")
        assert cid in [r["campaign_id"] for r in listed]
    finally:
        aborted = await cli.json(
            "campaign", "abort", cid, "--reason", "test over", "--cancel-running"
        )
    assert aborted["abort_reason"] == "carol: test over"
    assert aborted["audit"][-1]["action"] == "aborted (cancelling running renewals)"

    handle = dev_server_env.get_workflow_handle_for(CampaignWorkflow.run, cid)
    final = await handle.result()
    assert final.phase == "aborted" and final.counts.running == 0
    ended = await cli("campaign", "pause", cid, "--reason", "late")
    assert ended.returncode == 3 and "has ended (completed)" in ended.stderr
    missing = await cli("campaign", "show", "CMP-none")
    assert missing.returncode == 4 and "no campaign 'CMP-none'" in missing.stderr
    empty_id = f"CMP-{uuid.uuid4().hex[:6]}"
    empty = await cli("campaign", "start", empty_id, "--select", "tag=nowhere")
    assert empty.returncode == 1
    assert f"no cluster of the inventory matches tag=nowhere: campaign {empty_id}" in empty.stderr
    weak = await cli("campaign", "start", "X", "--select", "tag=emea", "--key-length", "1024")
    assert weak.returncode == 2 and "--key-length" in weak.stderr
    usage = await cli("campaign", "start", "X", "--select", "colour=blue")
    assert usage.returncode == 2 and "name=CLUSTER, tag=TAG or release=VERSION" in usage.stderr
