"""The fleet view: how long a scan of the lab takes, how fast the service reads the latest
scan (cold and cached), and how large one cluster's result is (each cluster is the result of
its own child workflow: Temporal warns at 256 KB per payload and refuses 2 MB). Run:
``.venv/bin/python -m bench.bench_fleet [runs]``. Prints figures; asserts nothing.

Figures (2 shared cores, 5 runs): one cluster's result 13 KB (3+1 nodes), 28 KB (6+2),
71 KB (12+4); a scan of the lab (4 nodes, 6 purposes) 1.4 s; reading the latest view 14 ms
cold, 7 ms cached.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from activities.cluster_models import ClusterSnapshot, NodeSnapshot
from activities.fleet_models import FleetTarget
from activities.models import CertificateInfo
from lab import topology
from lab.server import Lab
from lab.timing import FAST
from workers import fleet as fleet_reader
from workers.devserver import DevServer, free_loopback_port
from workers.settings import UcrenewSettings
from workers.wiring import build_worker
from workflows.fleet import fleet_cluster, fleet_purposes
from workflows.fleet_models import FleetView

WARN, LIMIT = 256 * 1024, 2 * 1024 * 1024


def synthetic_cluster_bytes(cucm: int, imp: int) -> int:
    """JSON bytes of one cluster's view: every node serving one multi-server certificate per
    purpose (served = installed), CA-signed, with realistic names."""
    now = datetime.now(UTC)
    names = [f"cucm{i:02d}.voice.corp.example.com" for i in range(cucm)]
    names += [f"imp{i:02d}.voice.corp.example.com" for i in range(imp)]
    target = FleetTarget(cluster="c", version="15.0.1.11900-23", products=["cucm", "imp"])
    certs = {
        p: CertificateInfo(
            subject_cn=names[0],
            subject=f"CN={names[0]},OU=Voice,O=Example Corp,L=Zurich,ST=ZH,C=CH",
            issuer="CN=Example Corp Issuing CA 02,DC=corp,DC=example,DC=com",
            serial_hex="5e0000a1b2c3d4e5f60718293a4b5c6d7e8f9012",
            sha256_fingerprint="ab" * 32,
            not_before=now,
            not_after=now,
            san_dns=names,
            has_san=True,
            key_type="RSA",
            pem="",
        )
        for p in fleet_purposes(target)
    }
    nodes = [
        NodeSnapshot(
            fqdn=n,
            product="imp" if n.startswith("imp") else "cucm",
            certificates=dict(certs),
            installed=dict(certs),
        )
        for n in names
    ]
    snap = ClusterSnapshot(cluster="c", taken_at=now, nodes=nodes)
    view = FleetView(
        scanned_at=now,
        as_of=now,
        warning_days=30,
        clusters=[fleet_cluster(target, snap, None, now, 30)],
    )
    return len(view.model_dump_json())


async def main(runs: int) -> None:
    for cucm, imp in ((3, 1), (6, 2), (12, 4)):
        size = synthetic_cluster_bytes(cucm, imp)
        print(
            f"one cluster's result (its own payload), {cucm} CUCM + {imp} IM&P nodes, 6 "
            f"purposes: {size / 1024:.1f} KB ({100 * size / WARN:.0f}% of Temporal's 256 KB "
            f"warning, {100 * size / LIMIT:.1f}% of the 2 MB limit)"
        )
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        spec = topology.load().model_copy(update={"network": "127.59.2.0/24"})
        async with (
            DevServer(root / "temporal", port=free_loopback_port()) as server,
            Lab(spec, root / "state" / "lab", FAST) as lab,
        ):
            client = await server.connect()
            settings = UcrenewSettings(
                state_dir=root / "state", inventory=root / "state" / "lab" / "inventory.yaml"
            )
            queue = "bench-fleet"
            scans: list[float] = []
            async with build_worker(client, settings, queue):
                for _ in range(runs):
                    t0 = time.perf_counter()
                    view = await fleet_reader.run_fleet_scan(client, settings, task_queue=queue)
                    scans.append(time.perf_counter() - t0)
            print(
                f"scan of the lab ({len(lab.cluster.nodes)} nodes, "
                f"{len(view.clusters[0].purposes)} purposes): median "
                f"{statistics.median(scans):.2f} s of {runs}"
            )
            cold: list[float] = []
            warm: list[float] = []
            for _ in range(runs):
                fleet_reader._cache.clear()
                t0 = time.perf_counter()
                await fleet_reader.latest_fleet_view(client, datetime.now(UTC))
                cold.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                await fleet_reader.latest_fleet_view(client, datetime.now(UTC))
                warm.append(time.perf_counter() - t0)
            print(
                f"latest fleet view read: cold median {statistics.median(cold) * 1000:.1f} ms, "
                f"cached median {statistics.median(warm) * 1000:.1f} ms ({runs} runs)"
            )


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 5))
