"""The crash-and-fault matrix's harness on the real stack: a worker process SIGKILLed the
moment the lab journals an effect, a new one, and the verdict from the journal."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bench.bench_crash_matrix import Matrix, _args
from workers.devserver import DevServer

pytestmark = pytest.mark.e2e


def _matrix(dev_server: DevServer, tmp_path: Path, *argv: str) -> Matrix:
    # A second octet below the 100-249 of tests/lab/conftest.py's lab_spec.
    subnet = str(70 + os.getpid() % 25)
    return Matrix(_args(["--subnet", subnet, "--timeout", "120", *argv]), tmp_path, dev_server)


async def test_a_worker_killed_as_tomcat_stops_is_replaced_and_the_renewal_is_judged(
    dev_server: DevServer, tmp_path: Path
) -> None:
    """Kill during a Tomcat restart: the harness kills exactly once, at the effect, and the
    renewal finishes under the next worker with every node restarted once (the restart step
    is durable on main: it checks the service's start time before restarting again)."""
    matrix = _matrix(dev_server, tmp_path, "--restart-heartbeat", "3")
    matrix.client = await dev_server.connect()
    result = await matrix.run("during-tomcat-restart", "kill", 0)
    assert result.kills == 1
    assert result.completed, result.operator
    assert result.duplicated == []
    assert result.false_audit == []


async def test_a_fault_run_counts_the_faults_that_fired(
    dev_server: DevServer, tmp_path: Path
) -> None:
    """Latency on half the HTTPS requests: the renewal completes, and the delayed requests
    are fired faults the matrix counts (latency leaves no journal entry: the fault set's
    counters are read)."""
    matrix = _matrix(dev_server, tmp_path, "--rate", "0.5", "--latency", "0.2")
    matrix.client = await dev_server.connect()
    result = await matrix.run("latency", "fault", 0)
    assert result.completed, result.operator
    assert result.duplicated == [] and result.false_audit == []
    assert result.faults_fired > 0
