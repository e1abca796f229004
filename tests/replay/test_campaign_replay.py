"""Replay gate of campaigns: every recorded campaign history must replay against the
current ``CampaignWorkflow`` (campaigns run for days: guard changes with
``workflow.patched()`` instead of re-recording)."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from workers.converter import make_data_converter
from workflows.campaign import CampaignWorkflow
from workflows.notifications import NotificationWorkflow

HISTORIES = sorted((Path(__file__).parent / "campaign_histories").glob("*.json"))


def test_campaign_histories_are_recorded() -> None:
    assert len(HISTORIES) >= 4


@pytest.mark.parametrize("path", HISTORIES, ids=lambda p: p.stem)
async def test_campaign_history_replays(path: Path) -> None:
    history = WorkflowHistory.from_json(path.stem, path.read_text())
    replayer = Replayer(
        workflows=[CampaignWorkflow, NotificationWorkflow], data_converter=make_data_converter()
    )
    result = await replayer.replay_workflow(history, raise_on_replay_failure=True)
    assert result.replay_failure is None
