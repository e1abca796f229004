"""Phone resets by primary on the time-skipping server (stub activities): before each wave that
stops a CallManager holding phones, that node's SCCP phones reset in gated batches, then its
SIP phones, and the wave starts at once, with no health gate in between, so the SIP phones
boot while their primary restarts and register with their secondary
(``workflows/reset_order.py``)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from tests.workflows.stubs import FQDNS, StubCluster
from tests.workflows.test_callmanager_workflow import run_approved
from workflows.cluster_lock import ClusterLockWorkflow
from workflows.renewal import CertRenewalWorkflow


@pytest_asyncio.fixture(loop_scope="session")
async def stub() -> StubCluster:
    return StubCluster(sso_enabled=False, version="12.5.1.14900-63")


@pytest_asyncio.fixture(loop_scope="session")
async def worker(
    time_skipping_env: WorkflowEnvironment, stub: StubCluster, task_queue: str
) -> AsyncIterator[Worker]:
    async with Worker(
        time_skipping_env.client,
        task_queue=task_queue,
        workflows=[CertRenewalWorkflow, ClusterLockWorkflow],
        activities=stub.activities(),
    ) as w:
        yield w


async def test_each_nodes_sip_phones_reset_right_before_its_callmanager_stops(
    time_skipping_env: WorkflowEnvironment, worker: Worker, stub: StubCluster, task_queue: str
) -> None:
    final = await run_approved(time_skipping_env, task_queue, phone_resets_by_primary=True)
    assert final.phase == "done", final.error
    assert final.plan is not None and final.plan.restarts is not None
    moving = [w for w in final.plan.restarts.waves if w.failovers]
    assert len(moving) == 2  # sub1 (G1's home) and sub2 (G2's home) in waves of their own
    calls = stub.calls
    for wave in moving:
        [home] = {f.from_node for f in wave.failovers}
        index = FQDNS.index(home)
        stop = next(
            i
            for i, c in enumerate(calls)
            if c[0] == "restart_service"
            and c[1].node == home
            and c[1].service == "Cisco CallManager"
        )
        resets = [(i, c) for i, c in enumerate(calls[:stop]) if c[0] == "reset_phones"]
        sccp = [(i, c) for i, c in resets if c[1].names[0].startswith(f"SEPSCCP{index}")]
        sip = [(i, c) for i, c in resets if c[1].names[0].startswith(f"SEPSIP{index}")]
        assert sccp and sip, f"{home}'s phones were not reset before it stopped"
        assert sccp[-1][0] < sip[0][0]
        # After the SCCP batch, a gate; after the SIP one, the wave at once: no gate between.
        between = [c[0] for c in calls[sip[-1][0] + 1 : stop]]
        assert "wait_for_registrations" not in between
        # The wave's baseline was counted before the SIP resets (they are booting now).
        assert "registration_snapshot" not in between
        assert "registration_snapshot" in [c[0] for c in calls[sccp[-1][0] + 1 : sip[0][0]]]
        assert "wait_for_registrations" in [c[0] for c in calls[sccp[-1][0] + 1 : sip[0][0]]]
    everyone = [n for c in calls if c[0] == "reset_phones" for n in c[1].names]
    assert len(everyone) == len(set(everyone)) == final.phones_reset
    # The publisher's phones (no wave stops a home of theirs there) go in the last sweep.
    last = [c for c in calls if c[0] == "reset_phones"][-1]
    assert all(n[-3] == "0" for n in last[1].names)
    assert any(e.action == "phones-reset" and "late phone" in e.comment for e in final.audit)
