"""A CallManager renewal of a cluster above ``phone_resets_child_above`` phones: the resets run
in phone-reset child workflows that continue as new, and the renewal's history stays small.

Issue 14: a CallManager renewal wrote every phone name into its history and never continued as
new, so a 40,000-phone cluster would pass Temporal's suggested 10,240 events
(../shared/reference/operations-facts.md). Here the same shape runs small: 300 phones, batches
of 40 (8 batches), a child run continuing as new after every 2 batches.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from bench.crash_journal import (
    AXL_RESET,
    duplicated_effects,
    false_audit_entries,
    restart_claims,
)
from lab.server import Lab
from lab.timing import FAST
from tests.e2e.conftest import FAST_OPTIONS, Stack
from tests.lab.conftest import LabHandle, lab_spec
from workers.settings import UcrenewSettings

pytestmark = pytest.mark.e2e

PHONES = 300
BATCH = 40
PER_RUN = 2
BATCHES = -(-PHONES // BATCH)
#: Events of the renewal itself: what it has without phone resets (about 330 for this
#: cluster) and a few per batch reported, far from one activity trio per batch.
RENEWAL_EVENTS_BOUND = 420
#: Events of one phone-reset run: two batches (two activities and a signal each).
CHILD_RUN_EVENTS_BOUND = 60


async def test_a_large_cluster_resets_its_phones_in_children_that_continue_as_new(
    dev_server_env: Client, tmp_path: Path
) -> None:
    spec = lab_spec(
        version="12.5.1.14900-63",
        sso_enabled=False,
        phones={"count": PHONES, "secure_fraction": 0.0},
    )
    async with Lab(spec, tmp_path / "state" / "lab", FAST) as running:
        settings = UcrenewSettings(
            state_dir=tmp_path / "state", inventory=tmp_path / "state" / "lab" / "inventory.yaml"
        )
        stack = Stack(LabHandle(running), dev_server_env, settings, f"cms-{tmp_path.name}")
        names = sorted(p.name for p in running.phones.phones)
        async with stack.worker():
            handle = await stack.start(
                purposes=["CallManager"],
                windows=[stack.open_window()],
                options=FAST_OPTIONS.model_copy(
                    update={
                        "health_poll_seconds": 0.05,
                        "phone_reset_batch": BATCH,
                        "phone_resets_child_above": 0,
                        "phone_reset_batches_per_run": PER_RUN,
                    }
                ),
            )
            try:
                await stack.approve_impact(handle)
                final = await handle.result()
            finally:
                desc = await handle.describe()
                if desc.status is not None and desc.status.name == "RUNNING":
                    await handle.terminate("test ended")
        assert final.phase == "done", final.error
        # Each phone rebooted by exactly one AXL reset (the crash matrix's journal oracle).
        resets = Counter(
            str(name)
            for e in running.journal.entries("phone.unregistered")
            if e.data.get("reason") == AXL_RESET
            for name in e.data.get("phones", [])
        )
        assert sorted(resets) == names
        assert max(resets.values()) == 1
        entries = running.journal.entries()
        assert duplicated_effects(entries) == []
        assert false_audit_entries(entries, final.audit, restart_claims(final)) == []
        # The status tells the truth across the child runs: counts and one audit per batch.
        assert final.phones_reset == PHONES
        batches = [a for a in final.audit if a.action == "phones-reset"]
        assert len(batches) == BATCHES
        assert batches[0].comment.startswith(f"phone reset batch 1: {BATCH} of {BATCH} phones")

        history = await handle.fetch_history()
        renewal_json = history.to_json()
        assert len(history.events) <= RENEWAL_EVENTS_BOUND
        # The renewal's history holds no phone name: the batches are chosen on the worker.
        assert not [n for n in names if n in renewal_json]
        children = [
            e.child_workflow_execution_started_event_attributes.workflow_execution
            for e in history.events
            if e.event_type == EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_STARTED
            and "/phone-resets/"
            in e.child_workflow_execution_started_event_attributes.workflow_execution.workflow_id
        ]
        assert [c.workflow_id for c in children] == [f"{final.change_id}/phone-resets/main/1"]
        runs = 0
        run_id: str | None = children[0].run_id
        while run_id is not None:
            child = await dev_server_env.get_workflow_handle(
                children[0].workflow_id, run_id=run_id
            ).fetch_history()
            runs += 1
            assert len(child.events) <= CHILD_RUN_EVENTS_BOUND
            run_id = None
            for e in child.events:
                if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW:
                    run_id = (
                        e.workflow_execution_continued_as_new_event_attributes.new_execution_run_id
                    )
        assert runs == -(-BATCHES // PER_RUN)
