"""The fleet scan starts renewals on its own: exactly one for a cluster past its threshold or
drifted as its policy says, none for a healthy one, none beside a running renewal, each at the
cluster's jitter; and it reports every drift kind.

The start activity is a stub with the real one's contract (``workers.auto_renew``): a renewal
it starts runs until the test ends it, and while one runs it starts nothing. Its own check
against Temporal's visibility is tested on the dev server (tests/workers).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pytest_asyncio
from temporalio import activity
from temporalio.api.enums.v1 import EventType
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.cluster_models import ClusterRef, ClusterSnapshot, DiscoverRequest, NodeSnapshot
from activities.fleet_models import (
    AutoRenewPolicy,
    FleetInventory,
    FleetInventoryRequest,
    FleetTarget,
    KnownCa,
    LastRenewal,
    LastRenewals,
)
from activities.models import CertificateInfo
from workflows.fleet import auto_change_id, jitter_seconds
from workflows.fleet_models import (
    AutoRenewOutcome,
    AutoRenewStartRequest,
    FleetCluster,
    FleetScanRequest,
    FleetScanResult,
)
from workflows.fleet_scan import FleetClusterScanWorkflow, FleetScanWorkflow

PUB, SUB = "cucm-pub.{c}.test", "cucm-sub.{c}.test"
ISSUER = "CN=Issuing CA"


def cert(
    now: datetime,
    serial: str,
    left_days: float,
    sans: list[str],
    *,
    lifetime_days: float = 365,
    self_signed: bool = False,
    issuer: str = ISSUER,
) -> CertificateInfo:
    not_after = now + timedelta(days=left_days)
    return CertificateInfo(
        subject_cn=sans[0],
        subject=f"CN={sans[0]}",
        issuer=f"CN={sans[0]}" if self_signed else issuer,
        serial_hex=serial,
        sha256_fingerprint=f"fp-{serial}",
        not_before=not_after - timedelta(days=lifetime_days),
        not_after=not_after,
        san_dns=sans,
        has_san=True,
        key_type="RSA",
        self_signed=self_signed,
        pem="",
    )


@dataclass
class Fleet:
    """The clusters the stub activities serve: per cluster, tomcat per node FQDN."""

    tomcat: dict[str, dict[str, CertificateInfo]] = field(default_factory=dict)
    policies: dict[str, AutoRenewPolicy | None] = field(default_factory=dict)
    last: dict[str, LastRenewals] = field(default_factory=dict)
    #: cluster -> change id of its running renewal (what visibility would list)
    running: dict[str, str] = field(default_factory=dict)
    starts: list[tuple[AutoRenewStartRequest, datetime]] = field(default_factory=list)

    def add(
        self,
        name: str,
        certs: dict[str, CertificateInfo],
        policy: AutoRenewPolicy | None = None,
    ) -> None:
        self.tomcat[name] = certs
        self.policies[name] = policy

    def activities(self) -> list[Any]:
        f = self

        @activity.defn(name="fleet_inventory")
        async def fleet_inventory(req: FleetInventoryRequest) -> FleetInventory:
            names = req.clusters or list(f.tomcat)
            return FleetInventory(
                targets=[
                    FleetTarget(
                        cluster=n,
                        version="12.5.1.14900-63",
                        products=["cucm"],
                        auto_renew=f.policies[n],
                    )
                    for n in names
                ]
            )

        @activity.defn(name="discover_cluster")
        async def discover_cluster(req: DiscoverRequest) -> ClusterSnapshot:
            now = activity.info().current_attempt_scheduled_time
            nodes = [
                NodeSnapshot(
                    fqdn=fqdn,
                    role="publisher" if fqdn.startswith("cucm-pub") else "subscriber",
                    https_ok=True,
                    certificates={"tomcat": c},
                )
                for fqdn, c in f.tomcat[req.cluster].items()
            ]
            return ClusterSnapshot(cluster=req.cluster, taken_at=now, nodes=nodes)

        @activity.defn(name="last_renewed_certificates")
        async def last_renewed_certificates(ref: ClusterRef) -> LastRenewals:
            return f.last.get(ref.cluster, LastRenewals(cluster=ref.cluster))

        @activity.defn(name="start_scheduled_renewal")
        async def start_scheduled_renewal(req: AutoRenewStartRequest) -> AutoRenewOutcome:
            if req.cluster in f.running:
                return AutoRenewOutcome(status="running", change_id=f.running[req.cluster])
            f.starts.append((req, activity.info().current_attempt_scheduled_time))
            f.running[req.cluster] = req.change_id
            return AutoRenewOutcome(status="started", change_id=req.change_id)

        return [
            fleet_inventory,
            discover_cluster,
            last_renewed_certificates,
            start_scheduled_renewal,
        ]


@pytest_asyncio.fixture(loop_scope="session")
async def fleet() -> Fleet:
    return Fleet()


@pytest_asyncio.fixture(loop_scope="session")
async def worker(
    time_skipping_env: WorkflowEnvironment, fleet: Fleet, task_queue: str
) -> AsyncIterator[Worker]:
    async with Worker(
        time_skipping_env.client,
        task_queue=task_queue,
        workflows=[FleetScanWorkflow, FleetClusterScanWorkflow],
        activities=fleet.activities(),
    ) as w:
        yield w


async def scan(
    env: WorkflowEnvironment, task_queue: str, **req: Any
) -> tuple[FleetScanResult, dict[str, FleetCluster]]:
    scan_id = f"fleet-scan-{uuid.uuid4().hex[:8]}"
    result = await env.client.execute_workflow(
        FleetScanWorkflow.run,
        FleetScanRequest(**req),
        id=scan_id,
        task_queue=task_queue,
        result_type=FleetScanResult,
    )
    clusters = {}
    for e in result.clusters:
        assert e.workflow_id is not None
        handle = env.client.get_workflow_handle(
            e.workflow_id, run_id=e.run_id, result_type=FleetCluster
        )
        clusters[e.cluster] = await handle.result()
    return result, clusters


def two_nodes(name: str) -> list[str]:
    return [PUB.format(c=name), SUB.format(c=name)]


ON = AutoRenewPolicy(enabled=True, on_drift=["node-not-in-san", "self-signed"])


async def test_one_renewal_for_the_cluster_past_its_threshold_none_for_the_healthy_one(
    time_skipping_env: WorkflowEnvironment, worker: Worker, fleet: Fleet, task_queue: str
) -> None:
    now = await time_skipping_env.get_current_time()
    old, fresh = two_nodes("old"), two_nodes("fresh")
    # 100 of 365 days left: past a third of the lifetime; 300 left: healthy.
    fleet.add("old", {n: cert(now, "a1", 100, old) for n in old}, ON)
    fleet.add("fresh", {n: cert(now, "b1", 300, fresh) for n in fresh}, ON)
    fleet.add("manual", {n: cert(now, "c1", 100, two_nodes("manual")) for n in two_nodes("manual")})

    result, clusters = await scan(time_skipping_env, task_queue, start_renewals=True)

    assert [(r.cluster, r.purposes) for r, _ in fleet.starts] == [("old", ["tomcat"])]
    started = fleet.starts[0][0]
    assert started.change_id == auto_change_id("old", now) == f"AUTO-old-{now:%Y%m%d}"
    assert started.require_plan_approval and started.ca == "local"
    outcome = {e.cluster: e.auto_renew for e in result.clusters}
    assert outcome["old"] is not None and outcome["old"].status == "started"
    assert outcome["old"].reasons == ["tomcat: renewal-due"]
    assert outcome["fresh"] is not None and outcome["fresh"].status == "not-due"
    # No policy: never started, though due; the view says so.
    assert outcome["manual"] is not None and outcome["manual"].status == "off"
    assert [d.kind for d in clusters["manual"].purposes[0].drift] == ["renewal-due"]
    for name in ("old", "fresh", "manual"):
        fleet.running.pop(name, None)


async def test_a_second_scan_while_the_first_renewal_runs_starts_nothing(
    time_skipping_env: WorkflowEnvironment, worker: Worker, fleet: Fleet, task_queue: str
) -> None:
    now = await time_skipping_env.get_current_time()
    nodes = two_nodes("busy")
    fleet.add("busy", {n: cert(now, "d1", 10, nodes) for n in nodes}, ON)
    first, _ = await scan(time_skipping_env, task_queue, start_renewals=True)
    second, _ = await scan(time_skipping_env, task_queue, start_renewals=True)

    assert len(fleet.starts) == 1
    first_outcome, second_outcome = first.clusters[0].auto_renew, second.clusters[0].auto_renew
    assert first_outcome is not None and first_outcome.status == "started"
    assert second_outcome is not None and second_outcome.status == "running"
    assert second_outcome.change_id == first_outcome.change_id
    fleet.running.clear()


async def test_without_start_renewals_the_scan_says_what_would_start(
    time_skipping_env: WorkflowEnvironment, worker: Worker, fleet: Fleet, task_queue: str
) -> None:
    now = await time_skipping_env.get_current_time()
    nodes = two_nodes("dry")
    fleet.add("dry", {n: cert(now, "e1", 5, nodes) for n in nodes}, ON)
    result, _ = await scan(time_skipping_env, task_queue)
    outcome = result.clusters[0].auto_renew
    assert fleet.starts == []
    assert outcome is not None and outcome.status == "would-start"
    assert outcome.change_id == f"AUTO-dry-{now:%Y%m%d}" and outcome.purposes == ["tomcat"]


async def test_starts_wait_for_each_clusters_jitter(
    time_skipping_env: WorkflowEnvironment, worker: Worker, fleet: Fleet, task_queue: str
) -> None:
    now = await time_skipping_env.get_current_time()
    window = 3600
    names = ["j-alpha", "j-bravo", "j-charlie"]
    for name in names:
        nodes = two_nodes(name)
        fleet.add(name, {n: cert(now, f"{name}-1", 20, nodes) for n in nodes}, ON)
    offsets = {name: jitter_seconds(name, window) for name in names}
    assert len(set(offsets.values())) == 3 and all(0 <= o < window for o in offsets.values())

    result, _ = await scan(
        time_skipping_env, task_queue, start_renewals=True, jitter_seconds=window
    )

    first = min(at for _, at in fleet.starts)
    # No start before its offset from the scan's start...
    for req, at in fleet.starts:
        assert at - now >= timedelta(seconds=offsets[req.cluster])
    # ...and each at its own offset after the reads (the same instant for all three).
    base = min(offsets.values())
    for req, at in fleet.starts:
        spread = (at - first) - timedelta(seconds=offsets[req.cluster] - base)
        assert abs(spread) < timedelta(seconds=60)
    order = [req.cluster for req, _ in sorted(fleet.starts, key=lambda s: s[1])]
    assert order == sorted(names, key=lambda n: offsets[n])
    for e in result.clusters:
        assert e.auto_renew is not None and e.auto_renew.start_after_seconds == offsets[e.cluster]
    fleet.running.clear()


async def test_every_drift_kind_is_reported(
    time_skipping_env: WorkflowEnvironment, worker: Worker, fleet: Fleet, task_queue: str
) -> None:
    now = await time_skipping_env.get_current_time()
    added = ["cucm-pub.d.test", "cucm-sub.d.test", "cucm-new.d.test"]
    ms = cert(now, "f1", 300, added[:2])
    fleet.add(
        "d-added",
        {added[0]: ms, added[1]: ms, added[2]: cert(now, "f2", 300, [added[2]], self_signed=True)},
    )
    fleet.last["d-added"] = LastRenewals(
        cluster="d-added", by_purpose={"tomcat": LastRenewal(change_id="CHG1", serial="f1")}
    )
    renamed = ["cucm-pub.new.test", "cucm-sub.new.test"]
    old_names = cert(now, "g1", 300, ["cucm-pub.old.test", "cucm-sub.old.test"])
    fleet.add("d-renamed", {n: old_names for n in renamed})
    ca_soon = two_nodes("ca")
    fleet.add("d-ca", {n: cert(now, "h1", 300, ca_soon) for n in ca_soon})
    fleet.last["d-ca"] = LastRenewals(
        cluster="d-ca",
        cas=[KnownCa(subject=ISSUER, issuer=ISSUER, not_after=now + timedelta(days=20))],
    )
    expiring = two_nodes("exp")
    fleet.add("d-exp", {n: cert(now, "i1", 10, expiring) for n in expiring})

    _, clusters = await scan(
        time_skipping_env,
        task_queue,
        clusters=["d-added", "d-renamed", "d-ca", "d-exp"],
        warning_days=30,
    )

    def kinds(name: str) -> dict[str, list[str]]:
        return {d.kind: d.nodes for d in clusters[name].purposes[0].drift}

    assert kinds("d-added") == {
        "differs-between-nodes": [added[2]],
        "node-not-in-san": [added[2]],
        "self-signed": [added[2]],
        "not-from-last-change": [added[2]],
    }
    assert kinds("d-renamed") == {"name-mismatch": sorted(renamed)}
    assert kinds("d-ca") == {"ca-expiring": sorted(ca_soon)}
    assert kinds("d-exp") == {"expiring": sorted(expiring), "renewal-due": sorted(expiring)}
    assert fleet.starts == []


async def test_a_cluster_not_read_or_a_start_that_fails_is_said_not_hidden(
    time_skipping_env: WorkflowEnvironment, fleet: Fleet, task_queue: str
) -> None:
    now = await time_skipping_env.get_current_time()
    due = two_nodes("due")
    fleet.add("due", {n: cert(now, "k1", 10, due) for n in due}, ON)
    fleet.add("dark", {}, ON)  # no node answers: the cluster is failed

    @activity.defn(name="start_scheduled_renewal")
    async def refuses(req: AutoRenewStartRequest) -> AutoRenewOutcome:
        raise ApplicationError("no such purpose", type="InvalidRequest", non_retryable=True)

    stubs = [a for a in fleet.activities() if a.__name__ != "start_scheduled_renewal"]
    async with Worker(
        time_skipping_env.client,
        task_queue=task_queue,
        workflows=[FleetScanWorkflow, FleetClusterScanWorkflow],
        activities=[*stubs, refuses],
    ):
        result, _ = await scan(time_skipping_env, task_queue, start_renewals=True)
    outcome = {e.cluster: e.auto_renew for e in result.clusters}
    assert outcome["dark"] is not None and outcome["dark"].status == "unknown"
    failed = outcome["due"]
    assert failed is not None and failed.status == "failed"
    assert failed.change_id == f"AUTO-due-{now:%Y%m%d}"
    assert "InvalidRequest" in failed.detail and "no such purpose" in failed.detail


async def test_a_big_scan_continues_as_new_and_starts_each_due_cluster_once(
    time_skipping_env: WorkflowEnvironment, worker: Worker, fleet: Fleet, task_queue: str
) -> None:
    """With a small threshold (3 reads or starts per run), a scan of 9 clusters, 7 of them
    due, hands over to new runs carrying its progress: each cluster is read once and in the
    result once, each due one started exactly once at its jitter from one origin. On main the
    scan had no continue-as-new: one run, however many clusters (Temporal warns at 10,240
    events, about 1,150 due clusters)."""
    now = await time_skipping_env.get_current_time()
    names = [f"big-{i}" for i in range(9)]
    for i, name in enumerate(names):
        nodes = two_nodes(name)
        fleet.add(name, {n: cert(now, f"{name}-1", 20 if i < 7 else 300, nodes) for n in nodes}, ON)
    window = 1800
    offsets = {name: jitter_seconds(name, window) for name in names}
    handle = await time_skipping_env.client.start_workflow(
        FleetScanWorkflow.run,
        FleetScanRequest(
            start_renewals=True, jitter_seconds=window, concurrency=2, operations_per_run=3
        ),
        id=f"fleet-scan-{uuid.uuid4().hex[:8]}",
        task_queue=task_queue,
        result_type=FleetScanResult,
    )
    result = await handle.result()

    assert result.runs >= 4
    assert [e.cluster for e in result.clusters] == sorted(names)
    assert all(e.status == "ok" and e.workflow_id for e in result.clusters)
    started = [req.cluster for req, _ in fleet.starts]
    assert sorted(started) == names[:7]  # each due cluster once, no healthy one
    outcome = {e.cluster: e.auto_renew for e in result.clusters}
    for name in names:
        o = outcome[name]
        assert o is not None
        assert o.status == ("started" if name in started else "not-due"), (name, o)
    first = min(at for _, at in fleet.starts)
    base = min(offsets[c] for c in started)
    for req, at in fleet.starts:
        assert at - now >= timedelta(seconds=offsets[req.cluster])
        spread = (at - first) - timedelta(seconds=offsets[req.cluster] - base)
        assert abs(spread) < timedelta(seconds=60), req.cluster
    # The first run read 4 clusters (2 batches of 2: the third would pass the threshold)
    # and handed over.
    run1 = time_skipping_env.client.get_workflow_handle(handle.id, run_id=handle.result_run_id)
    events = [e async for e in run1.fetch_history_events()]
    initiated = EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED
    assert sum(1 for e in events if e.event_type == initiated) == 4
    assert events[-1].event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW
    fleet.running.clear()
