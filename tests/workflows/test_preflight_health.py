"""Pre-change health in the renewal workflow: warnings let the change go on, errors stop it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.cluster_models import (
    BackupHealth,
    BackupRun,
    CoreFile,
    DiskPartition,
    HealthPolicy,
    NodeHealth,
    NtpState,
)
from tests.workflows.stubs import FQDNS, WRITES, StubCluster
from tests.workflows.test_renewal_workflow import confirm_sso, start, stub, worker
from workflows.renewal import CertRenewalWorkflow

__all__ = ["stub", "worker"]


def node_health(synchronised: bool = True, cores: int = 0) -> NodeHealth:
    common = DiskPartition(name="logging", total_kb=1000, used_kb=400, free_kb=600, used_percent=40)
    return NodeHealth(
        ntp=NtpState(synchronised=synchronised, stratum=3 if synchronised else None),
        partitions=[common],
        core_files=[
            CoreFile(name=f"core.{i}.6.ccm.1", created=datetime.now(UTC)) for i in range(cores)
        ],
    )


def recent_backup(now: datetime) -> BackupHealth:
    done = now - timedelta(hours=20)
    return BackupHealth(
        latest=BackupRun(completed=done, result="SUCCESS", tar="x.tar"), last_success=done, runs=1
    )


async def test_warnings_are_recorded_and_the_change_goes_on(
    time_skipping_env: WorkflowEnvironment, worker: Worker, stub: StubCluster, task_queue: str
) -> None:
    stub.node_health = {f: node_health(cores=1 if f == FQDNS[1] else 0) for f in FQDNS}
    stub.backup = recent_backup
    handle = await start(time_skipping_env, task_queue)
    await confirm_sso(handle, stub)
    status = await handle.result()
    assert status.phase == "done" and status.problems == []
    assert [(w.code, w.node, w.severity) for w in status.warnings] == [
        ("core-files", FQDNS[1], "warning")
    ]
    audit = [e for e in status.audit if e.action == "preflight-warnings"]
    assert len(audit) == 1 and FQDNS[1] in audit[0].comment
    assert "upload_certificate" in stub.names()


async def test_an_unsynchronised_clock_stops_the_change_before_any_write(
    time_skipping_env: WorkflowEnvironment, worker: Worker, stub: StubCluster, task_queue: str
) -> None:
    stub.node_health = {f: node_health(synchronised=f != FQDNS[2], cores=1) for f in FQDNS}
    stub.backup = recent_backup
    handle = await start(time_skipping_env, task_queue)
    with pytest.raises(WorkflowFailureError) as failed:
        await handle.result()
    assert isinstance(failed.value.cause, ApplicationError)
    assert failed.value.cause.type == "PreflightFailed"
    assert "NTP is not synchronised on " + FQDNS[2] in failed.value.cause.message
    assert "core file" not in failed.value.cause.message
    assert not WRITES & set(stub.names())
    status = await handle.query(CertRenewalWorkflow.get_status)
    assert [(p.code, p.node) for p in status.problems] == [("ntp-unsynchronised", FQDNS[2])]
    assert {w.code for w in status.warnings} == {"core-files"}


async def test_the_policy_decides_what_stops_the_change(
    time_skipping_env: WorkflowEnvironment, worker: Worker, stub: StubCluster, task_queue: str
) -> None:
    stub.node_health = {f: node_health(synchronised=False) for f in FQDNS}
    stub.backup = lambda now: BackupHealth()  # no successful backup at all
    stub.health_policy = HealthPolicy(ntp="warn", backup="off")
    handle = await start(time_skipping_env, task_queue)
    await confirm_sso(handle, stub)
    status = await handle.result()
    assert status.phase == "done"
    assert {(w.code, w.severity) for w in status.warnings} == {("ntp-unsynchronised", "warning")}
    assert len(status.warnings) == len(FQDNS)
