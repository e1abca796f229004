"""The per-cluster trust of stateless workers, held by ClusterTrustWorkflow (issue 15:
"Workers are stateless: ... the per-cluster trust lives in Temporal state").

The semantics are the file store's (activities/clients/trust_store.py): the pure merge is
checked against it step by step, then two workers' adapters (workers/trust_temporal.py), each
with its own empty copy directory, share a cluster's trust through the workflow on the
time-skipping server.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import pytest_asyncio
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from temporalio import activity, workflow
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.clients.trust_store import TrustStore, TrustStoreError
from activities.cluster_models import ClusterRef
from workers.trust_temporal import FRESH_SECONDS, TemporalTrust, TrustRefreshInterceptor
from workflows.cluster_trust import (
    ClusterTrustInput,
    ClusterTrustWorkflow,
    TrustChain,
    TrustEntry,
    TrustSettle,
    settle_entries,
    trust_id,
)


def certificate(name: str, *, ca: bool = True) -> str:
    """A self-signed certificate (PEM), a CA unless ``ca`` is False."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


OLD_ROOT = certificate("Old Root")
NEW_ROOT = certificate("New Root")
LEAF = certificate("cucm-pub.lab.example", ca=False)


def fingerprint(pem: str) -> str:
    return x509.load_pem_x509_certificate(pem.encode()).fingerprint(hashes.SHA256()).hex()


def entry(pem: str) -> TrustEntry:
    cert = x509.load_pem_x509_certificate(pem.encode())
    return TrustEntry(fingerprint=fingerprint(pem), subject=cert.subject.rfc4514_string(), pem=pem)


#: (chains, retire) steps of a cluster's life: two purposes on the old root, the new root
#: recorded for tomcat at upload, settled for tomcat (callmanager still lists the old root),
#: then for callmanager (nothing lists the old root any more); each write made twice.
STEPS: list[tuple[dict[str, list[str]], list[str]]] = [
    ({"tomcat": [LEAF, OLD_ROOT]}, []),
    ({"tomcat": [LEAF, OLD_ROOT]}, []),
    ({"callmanager": [OLD_ROOT]}, []),
    ({"tomcat": [NEW_ROOT]}, []),
    ({"tomcat": [NEW_ROOT]}, ["tomcat"]),
    ({"tomcat": [NEW_ROOT]}, ["tomcat"]),
    ({"callmanager": [NEW_ROOT]}, ["callmanager"]),
]


def test_the_workflow_settles_as_the_trust_file_does(tmp_path: Path) -> None:
    """Same entries, purposes and reported changes as TrustStore.settle after every step:
    record is idempotent, a non-CA certificate is never trusted, settle retires a CA only
    once no purpose lists it."""
    store = TrustStore(tmp_path)
    entries: list[TrustEntry] = []
    for chains, retire in STEPS:
        expected = store.settle("lab", chains, retire)
        req = TrustSettle(
            chains=[
                TrustChain(
                    purpose=p,
                    cas=[entry(pem) for pem in pems if pem != LEAF],  # the adapter's CA filter
                )
                for p, pems in chains.items()
            ],
            retire=retire,
        )
        entries, change = settle_entries(entries, req, "2026-12-01T00:00:00+00:00")
        assert [(e.fingerprint, tuple(e.purposes)) for e in entries] == [
            (e.fingerprint, e.purposes) for e in store.entries("lab")
        ]
        assert (change.added, change.retired, change.kept) == (
            expected.added,
            expected.retired,
            expected.kept,
        )
    assert [e.fingerprint for e in entries] == [fingerprint(NEW_ROOT)]


def test_an_entry_without_purposes_is_never_retired() -> None:
    """As a certificate added by hand to a trust file: kept, and gains no purpose."""
    held = entry(OLD_ROOT)
    retire_all = TrustSettle(
        chains=[TrustChain(purpose="tomcat", cas=[entry(OLD_ROOT), entry(NEW_ROOT)])],
        retire=["tomcat"],
    )
    after, _ = settle_entries([held], retire_all, "now")
    after, change = settle_entries(
        after, TrustSettle(chains=[TrustChain(purpose="tomcat")], retire=["tomcat"]), "now"
    )
    assert [(e.fingerprint, e.purposes) for e in after] == [(fingerprint(OLD_ROOT), [])]
    assert change.retired == [entry(NEW_ROOT).subject]


@pytest_asyncio.fixture(loop_scope="session")
async def worker(time_skipping_env: WorkflowEnvironment, task_queue: str) -> AsyncIterator[Worker]:
    async with Worker(
        time_skipping_env.client, task_queue=task_queue, workflows=[ClusterTrustWorkflow]
    ) as w:
        yield w


@pytest_asyncio.fixture(loop_scope="session")
async def cluster(time_skipping_env: WorkflowEnvironment) -> AsyncIterator[str]:
    """A cluster name of its own; its trust workflow is ended after the test."""
    name = f"lab-{uuid.uuid4().hex[:8]}"
    yield name
    with contextlib.suppress(RPCError):  # never started, or already ended by the test
        await time_skipping_env.client.get_workflow_handle(trust_id(name)).terminate("test ended")


class Clock:
    """Monotonic seconds a test moves on."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def replica(client: Client, task_queue: str, directory: Path, clock: Clock) -> TemporalTrust:
    """A stateless worker's trust: an empty copy directory of its own."""
    trust = TemporalTrust(client, task_queue, copies=directory, clock=clock)
    trust.bind(asyncio.get_running_loop())
    return trust


async def record(trust: TemporalTrust, cluster: str, purpose: str, pems: Sequence[str]) -> None:
    """As the upload activity does: in a thread (the write blocks)."""
    await asyncio.to_thread(trust.record, cluster, purpose, pems)


def copy_text(trust: TemporalTrust, cluster: str) -> str:
    """What a TLS client of that worker loads for the cluster."""
    own = [f for f in trust.files(cluster) if trust_id(cluster) in f.label]
    return Path(own[0].path).read_text() if own else ""


async def test_a_second_worker_trusts_what_the_first_recorded(
    time_skipping_env: WorkflowEnvironment,
    worker: Worker,
    task_queue: str,
    cluster: str,
    tmp_path: Path,
) -> None:
    client = time_skipping_env.client
    clock = Clock()
    pod_a = replica(client, task_queue, tmp_path / "pod-a", clock)
    pod_b = replica(client, task_queue, tmp_path / "pod-b", clock)
    await pod_b.refresh(cluster)  # nothing recorded yet: no workflow, no copy
    assert pod_b.files(cluster) == () and pod_b.entries(cluster) == []

    await record(pod_a, cluster, "tomcat", [LEAF, OLD_ROOT])
    # pod-b read "nothing" just now: within FRESH_SECONDS it keeps that copy...
    await pod_b.refresh(cluster)
    assert pod_b.entries(cluster) == []
    # ...and reads again once it is older.
    clock.now += FRESH_SECONDS
    await pod_b.refresh(cluster)
    assert [(e.fingerprint, e.purposes) for e in pod_b.entries(cluster)] == [
        (fingerprint(OLD_ROOT), ("tomcat",))
    ]
    assert OLD_ROOT in copy_text(pod_b, cluster) and LEAF not in copy_text(pod_b, cluster)

    # The renewal moves tomcat to the new root; pod-b settles it, twice (a retried activity).
    await record(pod_b, cluster, "tomcat", [NEW_ROOT])
    for _ in range(2):
        outcome = await asyncio.to_thread(pod_b.settle, cluster, {"tomcat": [NEW_ROOT]}, ["tomcat"])
    assert outcome.added == [] and outcome.retired == []
    assert outcome.path == f"Temporal workflow {trust_id(cluster)}"
    # pod-b sees its own write at once; pod-a once its copy is old.
    assert OLD_ROOT not in copy_text(pod_b, cluster) and NEW_ROOT in copy_text(pod_b, cluster)
    clock.now += FRESH_SECONDS
    await pod_a.refresh(cluster)
    assert [e.fingerprint for e in pod_a.entries(cluster)] == [fingerprint(NEW_ROOT)]
    held = await client.get_workflow_handle(trust_id(cluster)).query(ClusterTrustWorkflow.entries)
    assert [(e.fingerprint, e.purposes) for e in held] == [(fingerprint(NEW_ROOT), ["tomcat"])]
    assert all("PRIVATE KEY" not in e.pem for e in held)


async def test_continue_as_new_carries_the_entries(
    time_skipping_env: WorkflowEnvironment,
    worker: Worker,
    task_queue: str,
    cluster: str,
    tmp_path: Path,
) -> None:
    client = time_skipping_env.client
    first = await client.start_workflow(
        ClusterTrustWorkflow.run,
        ClusterTrustInput(cluster=cluster, updates_per_run=2),
        id=trust_id(cluster),
        task_queue=task_queue,
    )
    pod = replica(client, task_queue, tmp_path / "pod", Clock())
    await record(pod, cluster, "tomcat", [OLD_ROOT])
    await record(pod, cluster, "callmanager", [NEW_ROOT])
    await record(pod, cluster, "tomcat", [NEW_ROOT])  # taken by the next run

    first_run = client.get_workflow_handle(trust_id(cluster), run_id=first.result_run_id)
    events = [e.event_type async for e in first_run.fetch_history_events()]
    assert events[-1] == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW
    held = await client.get_workflow_handle(trust_id(cluster)).query(ClusterTrustWorkflow.entries)
    assert [(e.fingerprint, e.purposes) for e in held] == [
        (fingerprint(OLD_ROOT), ["tomcat"]),
        (fingerprint(NEW_ROOT), ["callmanager", "tomcat"]),
    ]


async def test_a_terminated_trust_starts_again_from_the_last_copy(
    time_skipping_env: WorkflowEnvironment,
    worker: Worker,
    task_queue: str,
    cluster: str,
    tmp_path: Path,
) -> None:
    """An operator ended trust/<cluster>: the next write starts it with what the writing
    worker last read, so the CA recorded before is not forgotten."""
    client = time_skipping_env.client
    pod = replica(client, task_queue, tmp_path / "pod", Clock())
    await record(pod, cluster, "tomcat", [OLD_ROOT])
    await client.get_workflow_handle(trust_id(cluster)).terminate("operator")
    # The terminated run's memo still says what it held, with no worker asked.
    fresh = replica(client, task_queue, tmp_path / "another-pod", Clock())
    assert [e.fingerprint for e in await fresh.read(cluster) or []] == [fingerprint(OLD_ROOT)]
    await record(pod, cluster, "callmanager", [NEW_ROOT])
    held = await client.get_workflow_handle(trust_id(cluster)).query(ClusterTrustWorkflow.entries)
    assert [e.fingerprint for e in held] == [fingerprint(OLD_ROOT), fingerprint(NEW_ROOT)]


async def test_a_write_temporal_refuses_names_the_workflow(
    time_skipping_env: WorkflowEnvironment,
    worker: Worker,
    task_queue: str,
    cluster: str,
    tmp_path: Path,
) -> None:
    """The validator refuses a chain without a purpose; the error names trust/<cluster> and
    the reason, and nothing is recorded."""
    client = time_skipping_env.client
    pod = replica(client, task_queue, tmp_path / "pod", Clock())
    await record(pod, cluster, "tomcat", [OLD_ROOT])
    with pytest.raises(TrustStoreError, match=rf"{trust_id(cluster)}.*without a purpose"):
        await record(pod, cluster, "", [NEW_ROOT])
    held = await client.get_workflow_handle(trust_id(cluster)).query(ClusterTrustWorkflow.entries)
    assert [e.fingerprint for e in held] == [fingerprint(OLD_ROOT)]


def test_writes_are_made_from_a_thread(tmp_path: Path) -> None:
    """Blocking the worker's event loop on its own RPC would hang it: refused with a clear
    error instead (the activities call record/settle through asyncio.to_thread)."""

    async def on_the_loop() -> None:
        pod = TemporalTrust(Client.__new__(Client), "tq", copies=tmp_path)
        pod.bind(asyncio.get_running_loop())
        with pytest.raises(TrustStoreError, match="thread"):
            pod.record("lab", "tomcat", [OLD_ROOT])

    asyncio.run(on_the_loop())


@activity.defn(name="trusted_pems")
async def trusted_pems(ref: ClusterRef) -> str:
    """What an activity of this worker would hand its TLS clients for the cluster."""
    return "".join(Path(f.path).read_text() for f in PROBED.files(ref.cluster))


#: The trust the probe activity reads (set by the test that runs it).
PROBED: TemporalTrust


@workflow.defn(sandboxed=False)
class ProbeWorkflow:
    """Runs the probe activity once, as a renewal runs a CUCM activity."""

    @workflow.run
    async def run(self, ref: ClusterRef) -> str:
        """The probe's answer."""
        return await workflow.execute_activity(
            trusted_pems, ref, start_to_close_timeout=timedelta(seconds=30)
        )


async def test_an_activity_naming_a_cluster_sees_the_trust_another_worker_recorded(
    time_skipping_env: WorkflowEnvironment,
    worker: Worker,
    task_queue: str,
    cluster: str,
    tmp_path: Path,
) -> None:
    """The interceptor refreshes the worker's copy before the activity body runs: no
    activity has to ask Temporal itself."""
    global PROBED
    client = time_skipping_env.client
    writer = replica(client, task_queue, tmp_path / "pod-a", Clock())
    await record(writer, cluster, "tomcat", [OLD_ROOT])
    PROBED = replica(client, task_queue, tmp_path / "pod-b", Clock())
    probe_queue = f"{task_queue}-probe"
    async with Worker(
        client,
        task_queue=probe_queue,
        workflows=[ProbeWorkflow],
        activities=[trusted_pems],
        interceptors=[TrustRefreshInterceptor(PROBED)],
    ):
        seen = await client.execute_workflow(
            ProbeWorkflow.run,
            ClusterRef(cluster=cluster),
            id=f"probe-{uuid.uuid4().hex[:8]}",
            task_queue=probe_queue,
        )
    assert OLD_ROOT in seen


async def test_a_former_shared_trust_dir_seeds_the_cluster_trust(
    time_skipping_env: WorkflowEnvironment,
    worker: Worker,
    task_queue: str,
    cluster: str,
    tmp_path: Path,
) -> None:
    """Upgrading a deployment that shared UCRENEW_TRUST_DIR to stateless workers: a cluster
    whose trust workflow never started is trusted with its file, and its first write carries
    the file's entries into Temporal; once started, the workflow alone counts."""
    client = time_skipping_env.client
    former = TrustStore(tmp_path / "shared-trust")
    former.record(cluster, "tomcat", [OLD_ROOT])
    pod = TemporalTrust(client, task_queue, copies=tmp_path / "pod", clock=Clock(), former=former)
    pod.bind(asyncio.get_running_loop())
    await pod.refresh(cluster)
    assert [e.fingerprint for e in pod.entries(cluster)] == [fingerprint(OLD_ROOT)]
    await record(pod, cluster, "callmanager", [NEW_ROOT])
    held = await client.get_workflow_handle(trust_id(cluster)).query(ClusterTrustWorkflow.entries)
    assert [(e.fingerprint, e.purposes) for e in held] == [
        (fingerprint(OLD_ROOT), ["tomcat"]),
        (fingerprint(NEW_ROOT), ["callmanager"]),
    ]
    former.record(cluster, "tomcat", [certificate("Written Later To The Old Dir")])
    fresh = TemporalTrust(client, task_queue, copies=tmp_path / "fresh", former=former)
    await fresh.refresh(cluster)
    assert len(fresh.entries(cluster)) == 2
