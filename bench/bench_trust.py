"""What keeping a cluster's trust in Temporal costs a stateless worker
(``workers.trust_temporal``, ``workflows.cluster_trust``).

The script starts a headless Temporal dev server on a free loopback port and a worker that
runs ``ClusterTrustWorkflow``, then times, over ``clusters`` clusters:

- the first chain recorded for a cluster (update-with-start: the trust workflow starts);
- the same chain recorded again (idempotent: an update that changes nothing);
- a read as the refresh before an activity makes it (a describe of the trust workflow's
  memo), with the worker running;
- the same read once the worker has stopped (the server answers it alone);
- for comparison, the ``entries`` query with the worker running.

Run: ``.venv/bin/python -m bench.bench_trust [clusters]``. Prints figures; asserts nothing.
Every trust workflow it started is terminated; the server stops.

Figures of the issue-15 work (2 cores shared with other sessions, load average 0.3), 50
clusters:

============================================  =======  =======  =======
measure                                       p50      p95      max
============================================  =======  =======  =======
first record (update-with-start, starts it)   24.9 ms  30.1 ms  64.4 ms
same record again (idempotent update)         12.9 ms  18.6 ms  28.5 ms
refresh read (describe, memo), worker up      1.9 ms   2.3 ms   3.3 ms
refresh read (describe, memo), no worker      2.0 ms   2.2 ms   2.3 ms
entries query, worker up (comparison)         4.7 ms   5.2 ms   7.1 ms
============================================  =======  =======  =======

A query right after the worker that last ran the workflow died waits for its sticky queue's
timeout (about 5-10 s, seen in tests/e2e/test_stateless_workers_e2e.py), which is why the
refresh reads the memo instead.
"""

from __future__ import annotations

import asyncio
import functools
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from temporalio.worker import Worker

from workers.devserver import DevServer, free_loopback_port
from workers.sandbox import workflow_runner
from workers.trust_temporal import TemporalTrust
from workflows.cluster_trust import ClusterTrustWorkflow, trust_id


def _ca(name: str) -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


async def _timed(samples: list[float], call: Callable[[], Awaitable[object]]) -> None:
    began = time.perf_counter()
    await call()
    samples.append((time.perf_counter() - began) * 1000)


def _row(name: str, samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
    return (
        f"{name:<46}  {statistics.median(ordered):>8.1f} ms  {p95:>8.1f} ms  {ordered[-1]:>8.1f} ms"
    )


async def main(clusters: int) -> None:
    """Time the writes and reads of ``clusters`` clusters' trust; print the figures."""
    root, intermediate = _ca("Bench Root"), _ca("Bench Issuing CA")
    names = [f"bench-{uuid.uuid4().hex[:8]}" for _ in range(clusters)]
    first: list[float] = []
    again: list[float] = []
    read_live: list[float] = []
    read_alone: list[float] = []
    query_live: list[float] = []
    with tempfile.TemporaryDirectory(prefix="ucrenew-bench-trust-") as tmp:
        async with DevServer(Path(tmp) / "temporal", port=free_loopback_port()) as server:
            client = await server.connect()
            queue = f"bench-{uuid.uuid4()}"
            writer = TemporalTrust(client, queue, copies=Path(tmp) / "writer")
            reader = TemporalTrust(client, queue, copies=Path(tmp) / "reader")
            writer.bind(asyncio.get_running_loop())
            try:
                async with Worker(
                    client,
                    task_queue=queue,
                    workflows=[ClusterTrustWorkflow],
                    workflow_runner=workflow_runner(),
                ):
                    for name in names:
                        write = functools.partial(
                            asyncio.to_thread, writer.record, name, "tomcat", [intermediate, root]
                        )
                        await _timed(first, write)
                        await _timed(again, write)
                    for name in names:
                        await _timed(read_live, functools.partial(reader.read, name))
                        handle = client.get_workflow_handle(trust_id(name))
                        entries = functools.partial(handle.query, ClusterTrustWorkflow.entries)
                        await _timed(query_live, entries)
                for name in names:
                    await _timed(read_alone, functools.partial(reader.read, name))
            finally:
                for name in names:
                    try:
                        await client.get_workflow_handle(trust_id(name)).terminate("bench ended")
                    except Exception as exc:  # one never started: nothing to end
                        print(f"not terminated: {trust_id(name)}: {exc}", file=sys.stderr)
    print(f"{clusters} clusters, a chain of 2 CA certificates each")
    print(f"{'measure':<46}  {'p50':>11}  {'p95':>11}  {'max':>11}")
    print(_row("first record (update-with-start, starts it)", first))
    print(_row("same record again (idempotent update)", again))
    print(_row("refresh read (describe, memo), worker up", read_live))
    print(_row("refresh read (describe, memo), no worker", read_alone))
    print(_row("entries query, worker up (comparison)", query_live))


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 20))
