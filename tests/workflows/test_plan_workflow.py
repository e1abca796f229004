"""PlanWorkflow (``ucrenew plan`` on a worker) and the preflight verdict ``ucrenew start``
waits for: the same checks and the same plan as the renewal, and nothing written."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from temporalio import activity
from temporalio.client import WorkflowFailureError
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.cluster_models import ClusterSnapshot, DiscoverRequest, LeftoverChange
from console.attempts import ChangeIdTaken, preflight_verdict, reuse_policy
from tests.workflows.stubs import FQDNS, WRITES, StubCluster
from tests.workflows.test_renewal_workflow import start, stub, wait_for
from workflows import search_attributes as sa
from workflows.cluster_lock import ClusterLockWorkflow
from workflows.models import ApprovalInput, PlanReport, PlanRequest
from workflows.plan_workflow import PlanWorkflow
from workflows.renewal import CertRenewalWorkflow

__all__ = ["stub"]

READS = {"discover_cluster", "load_change_policy", "find_other_renewals", "cluster_lock_holder"}


@pytest_asyncio.fixture(loop_scope="session")
async def worker(
    time_skipping_env: WorkflowEnvironment, stub: StubCluster, task_queue: str
) -> AsyncIterator[Worker]:
    async with Worker(
        time_skipping_env.client,
        task_queue=task_queue,
        workflows=[CertRenewalWorkflow, ClusterLockWorkflow, PlanWorkflow],
        activities=stub.activities(),
    ) as w:
        yield w


async def dry_run(env: WorkflowEnvironment, task_queue: str, **kw: object) -> PlanReport:
    req = PlanRequest.model_validate({"cluster": "lab", **kw})
    return await env.client.execute_workflow(
        PlanWorkflow.run, req, id=f"plan-{uuid.uuid4().hex[:8]}", task_queue=task_queue
    )


async def test_the_plan_is_the_renewals_plan_and_nothing_is_written(
    time_skipping_env: WorkflowEnvironment, worker: Worker, stub: StubCluster, task_queue: str
) -> None:
    report = await dry_run(time_skipping_env, task_queue)
    assert report.problems == []
    assert set(stub.names()) == READS
    handle = await start(time_skipping_env, task_queue, require_plan_approval=True)
    status = await wait_for(handle, "approval")
    await handle.cancel()
    with pytest.raises(WorkflowFailureError):
        await handle.result()
    assert status.plan is not None
    assert status.plan.plan_hash == report.plan.plan_hash
    assert status.plan.steps == report.plan.steps


async def test_the_plan_sees_what_preflight_sees(
    time_skipping_env: WorkflowEnvironment, worker: Worker, stub: StubCluster, task_queue: str
) -> None:
    stub.paws_down_on = FQDNS[2]
    stub.other_renewals = ["CHG-running"]
    stub.leftover_changes = [
        LeftoverChange(change_id="CHG-earlier", status="cancelled", outstanding=["sso-disabled"])
    ]
    report = await dry_run(time_skipping_env, task_queue, change_id="CHG-new")
    blocking = [p for p in report.problems if p.blocking]
    assert any(p.node == FQDNS[2] and "Platform Administrative" in p.message for p in blocking)
    assert any("CHG-running" in p.message for p in blocking)
    (leftover,) = [p for p in report.problems if not p.blocking]
    assert leftover.code == "earlier-change-outstanding"
    assert "CHG-earlier (cancelled)" in leftover.message and "sso-disabled" in leftover.message
    assert "ucrenew show CHG-earlier" in leftover.message
    (asked,) = [arg for name, arg in stub.calls if name == "find_other_renewals"]
    assert asked.exclude_change_id == "CHG-new"
    assert not WRITES & set(stub.names())


async def test_the_plan_names_the_change_holding_the_cluster_under_another_name(
    time_skipping_env: WorkflowEnvironment, worker: Worker, stub: StubCluster, task_queue: str
) -> None:
    """Visibility by inventory name lists nothing; the cluster's lock (by its identity) is
    held: the plan says so, as start would refuse."""
    stub.lock_holder = "CHG-other-name"
    report = await dry_run(time_skipping_env, task_queue, change_id="CHG-new")
    (busy,) = [p for p in report.problems if p.code == "other-renewal-running"]
    assert busy.blocking and "CHG-other-name" in busy.message


async def test_the_plan_says_when_the_clusters_identity_is_unknown(
    time_skipping_env: WorkflowEnvironment, worker: Worker, stub: StubCluster, task_queue: str
) -> None:
    stub.publisher_uuid = None
    report = await dry_run(time_skipping_env, task_queue)
    assert [p.code for p in report.problems if p.blocking] == ["cluster-identity-unknown"]
    assert "cluster_lock_holder" not in stub.names()


async def test_an_unreadable_cluster_fails_the_plan_with_its_reason(
    time_skipping_env: WorkflowEnvironment, stub: StubCluster, task_queue: str
) -> None:
    @activity.defn(name="discover_cluster")
    async def discover_cluster(req: DiscoverRequest) -> ClusterSnapshot:
        raise ApplicationError(
            f"no cluster {req.cluster!r} in the inventory",
            type="InventoryError",
            non_retryable=True,
        )

    others = [
        a for a in stub.activities() if a.__temporal_activity_definition.name != "discover_cluster"
    ]
    async with Worker(
        time_skipping_env.client,
        task_queue=task_queue,
        workflows=[PlanWorkflow],
        activities=[discover_cluster, *others],
    ):
        with pytest.raises(WorkflowFailureError) as failed:
            await dry_run(time_skipping_env, task_queue, cluster="nowhere")
    assert isinstance(failed.value.cause, ApplicationError)
    assert failed.value.cause.type == "InventoryError"
    assert "no cluster 'nowhere'" in failed.value.cause.message


async def test_the_verdict_of_a_failed_preflight_has_the_problems_and_frees_the_id(
    time_skipping_env: WorkflowEnvironment, worker: Worker, stub: StubCluster, task_queue: str
) -> None:
    stub.paws_down_on = FQDNS[2]
    handle = await start(time_skipping_env, task_queue)
    verdict = await preflight_verdict(handle, 20)
    assert verdict is not None and verdict.phase == "failed" and verdict.plan is None
    assert [(p.code, p.node) for p in verdict.problems] == [("service-not-started", FQDNS[2])]
    assert not verdict.wrote_to_cluster()


async def test_the_verdict_of_a_passed_preflight_has_the_plan(
    time_skipping_env: WorkflowEnvironment, worker: Worker, stub: StubCluster, task_queue: str
) -> None:
    handle = await start(time_skipping_env, task_queue, require_plan_approval=True)
    verdict = await preflight_verdict(handle, 20)
    await handle.cancel()
    with pytest.raises(WorkflowFailureError):
        await handle.result()
    assert verdict is not None and verdict.plan is not None and verdict.problems == []


async def test_a_change_that_stops_with_sso_disabled_tags_it_for_the_next_plan(
    time_skipping_env: WorkflowEnvironment, worker: Worker, stub: StubCluster, task_queue: str
) -> None:
    handle = await start(time_skipping_env, task_queue)
    await wait_for(handle, "sso-confirm")
    await handle.cancel()
    with pytest.raises(WorkflowFailureError):
        await handle.result()
    desc = await handle.describe()
    assert desc.typed_search_attributes.get(sa.RENEWAL_OUTSTANDING) == ["sso-disabled"]
    status = await handle.query(CertRenewalWorkflow.get_status)
    assert status.wrote_to_cluster()


async def test_a_change_id_runs_again_only_after_a_run_that_wrote_nothing(
    time_skipping_env: WorkflowEnvironment, worker: Worker, stub: StubCluster, task_queue: str
) -> None:
    client = time_skipping_env.client
    stub.paws_down_on = FQDNS[2]
    refused = await start(time_skipping_env, task_queue)
    with pytest.raises(WorkflowFailureError):
        await refused.result()
    assert await reuse_policy(client, refused.id) == WorkflowIDReusePolicy.ALLOW_DUPLICATE
    stub.paws_down_on = None

    rejected = await start(time_skipping_env, task_queue, require_plan_approval=True)
    await wait_for(rejected, "approval")
    await rejected.execute_update(
        CertRenewalWorkflow.reject, ApprovalInput(principal="cab", comment="not tonight")
    )
    with pytest.raises(WorkflowFailureError):
        await rejected.result()
    assert await reuse_policy(client, rejected.id) == WorkflowIDReusePolicy.ALLOW_DUPLICATE

    running = await start(time_skipping_env, task_queue)
    await wait_for(running, "sso-confirm")
    with pytest.raises(ChangeIdTaken, match="is already running"):
        await reuse_policy(client, running.id)
    await running.cancel()
    with pytest.raises(WorkflowFailureError):
        await running.result()
    with pytest.raises(ChangeIdTaken, match="after writing to the cluster"):
        await reuse_policy(client, running.id)
    assert await reuse_policy(client, "CHG-never-seen") == WorkflowIDReusePolicy.REJECT_DUPLICATE
