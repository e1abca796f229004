"""What asking a node who it is costs each step that acts on it or verifies it.

Every restart and verification (and ``set cert regen``, the CTL update) now opens an SSH
session and runs ``show status`` before it acts, and discovery reads the host name from the
``show status`` its health check runs anyway. Measured on an in-process lab (fast timing):
one identity check (a session of its own, as restarts and verifications do), one check inside
an open session (as regenerate and the CTL update do), and the known_hosts by-name lookup
that every CLI connection now adds.

Run: ``.venv/bin/python -m bench.bench_identity``. Prints figures; asserts nothing.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import asyncssh

from activities.clients.cucm.cli import CucmCli
from activities.clients.cucm.identity import confirm_identity, confirm_in_session
from activities.clients.cucm.transport import NodeEndpoint, credentials
from activities.clients.inventory import load_inventory
from lab import topology
from lab.server import Lab
from lab.timing import FAST

ROUNDS = 30


def _ms(samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[int(len(ordered) * 0.95) - 1]
    return f"median {statistics.median(samples) * 1000:7.1f} ms   p95 {p95 * 1000:7.1f} ms"


async def main() -> None:
    """Run the lab, measure, print."""
    with tempfile.TemporaryDirectory() as tmp:
        spec = topology.load().model_copy(update={"network": "127.50.7.0/24"})
        async with Lab(spec, Path(tmp) / "lab", FAST) as lab:
            inventory = load_inventory(lab.state_dir / "inventory.yaml")
            cluster = inventory.cluster(spec.cluster)
            node = cluster.node("cucm-sub1")
            ep = NodeEndpoint.from_inventory(cluster, node)
            auth = credentials(inventory, cluster, "os_admin")

            own: list[float] = []
            for _ in range(ROUNDS):
                t0 = time.perf_counter()
                await confirm_identity(ep, auth)
                own.append(time.perf_counter() - t0)

            inside: list[float] = []
            async with CucmCli(ep, auth) as shell:
                for _ in range(ROUNDS):
                    t0 = time.perf_counter()
                    await confirm_in_session(shell)
                    inside.append(time.perf_counter() - t0)

            lookup: list[float] = []
            known = ep.known_hosts or ""
            for _ in range(ROUNDS):
                t0 = time.perf_counter()
                asyncssh.read_known_hosts(known).match(ep.fqdn, "", ep.ssh_port)
                lookup.append(time.perf_counter() - t0)

    print(f"identity check, own SSH session ({ROUNDS}x):   {_ms(own)}")
    print(f"identity check, open session ({ROUNDS}x):      {_ms(inside)}")
    print(f"known_hosts lookup by name ({ROUNDS}x):        {_ms(lookup)}")


if __name__ == "__main__":
    asyncio.run(main())
