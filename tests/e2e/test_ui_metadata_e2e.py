"""The Temporal UI's view of a renewal: static summary and details from the start, current
details (phase, waiting on, progress) kept up to date by the workflow, labelled activities."""

from __future__ import annotations

import uuid

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.api.sdk.v1 import WorkflowMetadata

from tests.e2e.conftest import FAST_OPTIONS, Stack
from workers.starting import start_renewal
from workflows.models import RenewalInput

pytestmark = pytest.mark.e2e


async def _current_details(handle: object) -> str:
    meta = await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)  # type: ignore[attr-defined]
    return str(meta.current_details)


async def test_a_renewal_shows_its_summary_details_and_current_phase(stack: Stack) -> None:
    change = f"CHG-UI-{uuid.uuid4().hex[:8]}"
    inp = RenewalInput(
        change_id=change,
        cluster=stack.lab.cluster_entry.name,
        purposes=["tomcat"],
        requested_by="alice",
        require_plan_approval=True,
        options=FAST_OPTIONS,
    )
    async with stack.worker():
        handle = await start_renewal(
            stack.client,
            inp,
            task_queue=stack.task_queue,
            base_url="http://127.0.0.1:8480/",
        )
        try:
            await stack.wait_for(handle, "approval")
            desc = await handle.describe()
            assert await desc.static_summary() == f"{change} · {inp.cluster} · tomcat"
            details = await desc.static_details() or ""
            assert "**Requested by** alice" in details
            assert "**CA** local" in details
            assert "plan approval" in details
            assert f"http://127.0.0.1:8480/renewals/{change}" in details

            current = await _current_details(handle)
            assert "**Phase** approve-plan" in current
            assert "**Waiting on** an approver (gate plan" in current

            history = await handle.fetch_history()
            scheduled = [
                e.activity_task_scheduled_event_attributes.activity_type.name
                for e in history.events
                if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
            ]
            labelled = [
                e
                for e in history.events
                if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
                and e.user_metadata.HasField("summary")
            ]
            assert "discover_cluster" in scheduled
            assert len(labelled) == len(scheduled)
        finally:
            await handle.terminate("test over")


async def test_without_a_base_url_there_is_no_link(stack: Stack) -> None:
    change = f"CHG-UI-{uuid.uuid4().hex[:8]}"
    inp = RenewalInput(
        change_id=change,
        cluster=stack.lab.cluster_entry.name,
        requested_by="bob",
        require_plan_approval=True,
        options=FAST_OPTIONS,
    )
    handle = await start_renewal(stack.client, inp, task_queue=stack.task_queue)
    try:
        details = await (await handle.describe()).static_details() or ""
        assert "**Requested by** bob" in details
        assert "/renewals/" not in details
    finally:
        await handle.terminate("test over")
