"""Replay gate: every recorded history must replay against the current workflow code.

A failure here means a change would break renewals already running (they wait days for CAs
and windows): guard it with ``workflow.patched()`` instead of re-recording.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from workers.converter import make_data_converter
from workers.sandbox import workflow_runner
from workflows.cluster_lock import ClusterLockWorkflow
from workflows.fleet_scan import FleetClusterScanWorkflow, FleetScanWorkflow
from workflows.phone_resets_workflow import PhoneResetsWorkflow
from workflows.renewal import CertRenewalWorkflow

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))


def test_histories_are_recorded() -> None:
    assert len(HISTORIES) >= 4


@pytest.mark.parametrize("path", HISTORIES, ids=lambda p: p.stem)
async def test_history_replays(path: Path) -> None:
    history = WorkflowHistory.from_json(path.stem, path.read_text())
    replayer = Replayer(
        workflows=[
            CertRenewalWorkflow,
            ClusterLockWorkflow,
            FleetScanWorkflow,
            FleetClusterScanWorkflow,
            PhoneResetsWorkflow,
        ],
        data_converter=make_data_converter(),
        # the sandbox the workers run them in (shared modules and compiled code)
        workflow_runner=workflow_runner(),
    )
    result = await replayer.replay_workflow(history, raise_on_replay_failure=True)
    assert result.replay_failure is None
