"""Many twin clusters in one process: a fleet for scans, campaigns and benchmarks at scale.

Cluster ``i`` (from 0) is the topology with its own name (``lab``, ``lab-002``, …), its own
domain (``lab-002.example.com``) and its own loopback /24 (the topology's network moved up by
``i`` /24s: 127.0.1.0/24, 127.0.2.0/24, …), on a release taken in turn from a list. The
twins share one control API, whose root controls the first cluster as a single lab's does
and whose ``/clusters/{name}/…`` controls each cluster (faults, journal, state, SSO), and one
``inventory.yaml`` lists every cluster. The first cluster keeps the topology's ADCS twin, the
one CA every cluster's inventory entry can use; the others run none.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from aiohttp import web

from lab.errors import LabError
from lab.inventory import write_document
from lab.pki import InstallKeys
from lab.server import Lab, make_control_app
from lab.timing import TimingProfile
from lab.topology import TopologySpec

LOOPBACK = ipaddress.IPv4Network("127.0.0.0/8")


def cluster_name(prefix: str, index: int) -> str:
    """``lab`` for the first cluster, ``lab-002`` for the second, and so on."""
    return prefix if index == 0 else f"{prefix}-{index + 1:03d}"


def fleet_specs(
    base: TopologySpec,
    count: int,
    prefix: str | None = None,
    releases: Sequence[str] = (),
) -> list[TopologySpec]:
    """The topologies of ``count`` clusters made from ``base``.

    Args:
        base: The topology every cluster copies (the first one keeps its network and domain).
        count: How many clusters (1 or more).
        prefix: The first cluster's name and the others' prefix (default: ``base.cluster``).
        releases: CUCM versions given to the clusters in turn (default: ``base.version``).

    Raises:
        LabError: ``count`` is below 1, the networks would leave 127.0.0.0/8, or the
            topology pins node addresses (two clusters would share them).
        pydantic.ValidationError: a release or name makes an invalid topology.
    """
    if count < 1:
        raise LabError(400, f"a lab needs at least one cluster, not {count}")
    if count > 1 and any(n.address for n in base.nodes):
        raise LabError(
            400,
            "the topology gives nodes fixed addresses: several clusters would share them "
            "(leave address out so each cluster gets its own network)",
        )
    net = ipaddress.ip_network(base.network)
    if not isinstance(net, ipaddress.IPv4Network) or net.prefixlen < 24:
        raise LabError(400, f"several clusters need a /24 (or smaller) network, not {net}")
    last = int(net.network_address) + (count - 1) * 256
    if count > 1 and last > int(LOOPBACK.broadcast_address) - 255:
        raise LabError(
            400,
            f"{count} clusters from {net} would leave 127.0.0.0/8: start from a lower network",
        )
    prefix = prefix or base.cluster
    first_label, _, parent = base.domain.partition(".")
    parent = parent if first_label == base.cluster and parent else base.domain
    specs: list[TopologySpec] = []
    for i in range(count):
        name = cluster_name(prefix, i)
        data = base.model_dump()
        network = ipaddress.IPv4Network((int(net.network_address) + i * 256, net.prefixlen))
        data.update(
            cluster=name,
            network=str(network),
            domain=base.domain if i == 0 else f"{name}.{parent}",
        )
        if releases:
            data["version"] = releases[i % len(releases)]
        if i > 0:
            data["adcs"] = {**data["adcs"], "enabled": False}
            if base.seed is not None:
                data["seed"] = base.seed + i
        specs.append(TopologySpec.model_validate(data))
    return specs


class LabFleet:
    """Twin clusters in one process behind one control API. ``async with`` or start/stop."""

    def __init__(
        self,
        specs: Sequence[TopologySpec],
        state_dir: Path,
        timing: TimingProfile | None = None,
        control_port: int = 0,
        concurrency: int | None = None,
        shared_install_keys: bool = True,
    ) -> None:
        """Args:
        specs: One topology per cluster (see :func:`fleet_specs`); names must differ.
        state_dir: The lab's state dir: the first cluster keeps its files there (as a
            single lab does), the others under ``clusters/<name>``.
        timing: How long services take (default: each topology's profile).
        control_port: The shared control API's port (0: any free port).
        concurrency: How many twins build their keys at once (default: the CPU count).
        shared_install_keys: Install every twin's nodes with the same keys (distinct
            within a cluster; see :class:`~lab.pki.InstallKeys`): most of a twin's start
            time. False: every twin makes its own.
        """
        names = [s.cluster for s in specs]
        if not names or len(set(names)) != len(names):
            raise LabError(400, "a fleet needs one or more clusters with distinct names")
        self.state_dir = Path(state_dir)
        keys = InstallKeys() if shared_install_keys else None
        self.labs = [
            Lab(
                spec,
                self.state_dir if i == 0 else self.state_dir / "clusters" / spec.cluster,
                timing,
                standalone=False,
                install_keys=keys,
            )
            for i, spec in enumerate(specs)
        ]
        self.control_port = control_port
        self.control_url = ""
        self.concurrency = concurrency or os.cpu_count() or 2
        self.stopped = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._started: list[Lab] = []

    def lab(self, name: str) -> Lab:
        """The twin of cluster ``name``."""
        for lab in self.labs:
            if lab.spec.cluster == name:
                return lab
        known = ", ".join(lab.spec.cluster for lab in self.labs)
        raise LabError(404, f"no cluster {name!r} in this lab (known: {known})")

    @property
    def inventory_path(self) -> Path:
        """The one ``inventory.yaml`` listing every cluster."""
        return self.state_dir.resolve() / "inventory.yaml"

    async def start(self) -> LabFleet:
        """Open the control API, start every twin, then write the inventory and ``lab.json``
        (last, so a waiting ``lab up`` sees the fleet only once all of it answers)."""
        self.state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:
            await self._start_control()
            gate = asyncio.Semaphore(self.concurrency)

            async def start(lab: Lab) -> None:
                async with gate:
                    await lab.start()
                    self._started.append(lab)

            # Every start runs to its end before a failure stops the fleet: none is left half up.
            results = await asyncio.gather(
                *(start(lab) for lab in self.labs), return_exceptions=True
            )
            failed = next((r for r in results if isinstance(r, BaseException)), None)
            if failed is not None:
                raise failed
        except BaseException:
            await self.stop()
            raise
        first = self.labs[0]
        write_document(self.state_dir, [lab.inventory_entry() for lab in self.labs], first.adcs)
        (self.state_dir / "lab.json").write_text(json.dumps(self.describe(), indent=2))
        return self

    async def stop(self) -> None:
        """Stop every twin and the control API."""
        for lab in self._started:
            with contextlib.suppress(Exception):
                await lab.stop()
        self._started.clear()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self.stopped.set()

    async def __aenter__(self) -> LabFleet:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _start_control(self) -> None:
        first = self.labs[0]
        app = make_control_app(first, stop_all=self.stop, describe_all=self.describe)

        async def clusters(request: web.Request) -> web.Response:
            return web.json_response(
                [{"name": lab.spec.cluster, "control_url": lab.control_url} for lab in self.labs]
            )

        app.router.add_get("/clusters", clusters)
        for lab in self.labs:
            app.add_subapp(f"/clusters/{lab.spec.cluster}", make_control_app(lab, self.stop))
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.control_port)
        await site.start()
        server = site._server
        assert isinstance(server, asyncio.Server)
        self.control_port = server.sockets[0].getsockname()[1]
        self.control_url = f"http://127.0.0.1:{self.control_port}"
        for lab in self.labs:
            lab.control_url = f"{self.control_url}/clusters/{lab.spec.cluster}"

    def describe(self) -> dict[str, Any]:
        """Where everything is: the first cluster's description at the top (as a single lab
        gives it), the shared control API and inventory, and every cluster under
        ``clusters``."""
        first = self.labs[0].describe()
        return {
            **first,
            "control_url": self.control_url,
            "inventory": str(self.inventory_path),
            "clusters": [
                {
                    **lab.describe(),
                    "network": lab.spec.network,
                    "inventory": str(self.inventory_path),
                }
                for lab in self.labs
                if lab in self._started
            ],
        }
