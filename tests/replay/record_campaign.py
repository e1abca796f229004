"""Record the campaign histories ``test_campaign_replay.py`` checks every change against.

Run ``.venv/bin/python -m tests.replay.record_campaign NAME...`` after a *deliberate*
``CampaignWorkflow`` change guarded by ``workflow.patched()``, naming new scenarios only;
never to make a failing replay pass. Scenarios run on the time-skipping server with the
campaign tests' stub renewals and activities.
"""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from tests.workflows.test_campaign import (
    Handle,
    StubRenewal,
    ended,
    finish,
    fleet_of,
    run_to_end,
    start,
    started,
    status_when,
)
from workers.binaries import temporal_test_server_path
from workers.converter import make_data_converter
from workers.devserver import ensure_search_attributes
from workflows.campaign import CampaignWorkflow
from workflows.campaign_models import CampaignAction
from workflows.notifications import NotificationWorkflow

HISTORIES = Path(__file__).parent / "campaign_histories"

Scenario = Callable[[Client, str], Awaitable[Handle]]

#: The scenarios' inventory and registry (``busy``: clusters with another change running).
FLEET = fleet_of(4)


async def stop_rule_then_resume(client: Client, tq: str) -> Handle:
    """Two at once; one fails, the stop rule pauses, an operator resumes, the rest done."""
    handle = await start(client, tq, limit=2, stop_after_failures=1)
    status = await status_when(handle, lambda s: len(started(s)) == 2)
    await finish(client, status, "c0", "fail")
    await status_when(handle, lambda s: s.phase == "paused")
    await finish(client, status, "c1", "done")
    await status_when(handle, lambda s: s.counts.done == 1)
    await handle.execute_update(
        CampaignWorkflow.resume, CampaignAction(principal="bob", reason="fixed")
    )
    await run_to_end(client, handle, already=("c0", "c1"))
    return handle


async def abort_cancel_running(client: Client, tq: str) -> Handle:
    """Paused by an operator, then aborted with the running renewals cancelled."""
    handle = await start(client, tq, limit=2)
    await status_when(handle, lambda s: len(started(s)) == 2)
    await handle.execute_update(
        CampaignWorkflow.pause, CampaignAction(principal="bob", reason="freeze")
    )
    await handle.execute_update(
        CampaignWorkflow.abort, CampaignAction(principal="bob", reason="no", cancel_running=True)
    )
    await ended(handle)
    return handle


async def continued_as_new(client: Client, tq: str) -> Handle:
    """The first run of a campaign that hands over after two renewals."""
    handle = await start(client, tq, limit=2, children_per_run=2)
    await run_to_end(client, handle)
    return handle


async def busy_waited_and_pause_notified(client: Client, tq: str) -> Handle:
    """c1 is busy (another change): waited for; c0 fails, the stop rule pauses and notifies;
    resumed, c1's retry finds it free and the rest are done."""
    FLEET.busy["c1"] = "CHG0031337"
    handle = await start(client, tq, limit=2, stop_after_failures=1, busy_retry_seconds=1)
    status = await status_when(handle, lambda s: started(s) == ["c0", "c2"])
    await finish(client, status, "c0", "fail")
    await status_when(handle, lambda s: s.audit[-1].action == "notified")
    FLEET.busy.clear()
    await handle.execute_update(
        CampaignWorkflow.resume, CampaignAction(principal="bob", reason="fixed")
    )
    await run_to_end(client, handle, already=("c0",))
    return handle


SCENARIOS: dict[str, Scenario] = {
    "campaign-stop-rule-then-resume": stop_rule_then_resume,
    "campaign-abort-cancel-running": abort_cancel_running,
    "campaign-continued-as-new": continued_as_new,
    "campaign-busy-waited-and-pause-notified": busy_waited_and_pause_notified,
}


async def main(names: list[str]) -> None:
    unknown = sorted(set(names) - set(SCENARIOS))
    if unknown:
        raise SystemExit(f"unknown scenarios {unknown}: choose from {', '.join(SCENARIOS)}")
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=make_data_converter(),
        test_server_existing_path=str(temporal_test_server_path()),
    )
    try:
        await ensure_search_attributes(env.client, env.client.namespace)
        HISTORIES.mkdir(parents=True, exist_ok=True)
        for name, scenario in SCENARIOS.items():
            if names and name not in names:
                continue
            tq = f"record-{uuid.uuid4()}"
            async with Worker(
                env.client,
                task_queue=tq,
                workflows=[CampaignWorkflow, StubRenewal, NotificationWorkflow],
                activities=FLEET.activities(),
            ):
                handle = await scenario(env.client, tq)
                # The first run: for a campaign that continued as new, the run that handed over.
                first = env.client.get_workflow_handle(handle.id, run_id=handle.result_run_id)
                history = await first.fetch_history()
            data: dict[str, Any] = json.loads(history.to_json())
            (HISTORIES / f"{name}.json").write_text(json.dumps(data, indent=1) + "\n")
            print(f"{name}: {len(history.events)} events")
    finally:
        await env.shutdown()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
