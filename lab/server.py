"""The running lab: one process serving every node of a twin cluster on its own loopback address.

:class:`Lab` wires the :class:`~lab.cluster.Cluster` and its phones to the listeners of each
node (:mod:`lab.listeners`: HTTPS with certmgr REST, Control Center, RisPort and AXL SOAP on
8443 and 443 presenting the node's *active* tomcat certificate, the SSH admin CLI, SIP TLS and
XMPP), the ADCS twin, and the out-of-band control API on 127.0.0.1. It is also the Python API
tests use in-process. Imports flow one way: this module uses the listeners and frontends,
which see the lab only as the :class:`~lab.frontends.base.Twin` it is.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from lab.adcs import AdcsTwin, add_control_routes
from lab.catalog import TOMCAT
from lab.cluster import Cluster
from lab.errors import LabError
from lab.facts import SIP_TLS_SERVICE, XMPP_SERVICE
from lab.faults import Fault
from lab.frontends.base import Twin
from lab.inventory import cluster_entry, write_inventory
from lab.listeners import NodeServers, effective_port
from lab.nodes import Node, ServiceState
from lab.phones import PhoneSystem
from lab.pki import InstallKeys
from lab.timing import TimingProfile
from lab.timing import profile as timing_profile
from lab.topology import TopologySpec

#: Services whose state opens or closes a node's SIP TLS / XMPP listeners.
SIGNALLING_SERVICES = frozenset({SIP_TLS_SERVICE, XMPP_SERVICE})


class Lab(Twin):
    """A twin cluster with its servers. Use ``async with Lab(...)`` or start()/stop()."""

    def __init__(
        self,
        spec: TopologySpec,
        state_dir: Path,
        timing: TimingProfile | None = None,
        control_port: int = 0,
        *,
        standalone: bool = True,
        install_keys: InstallKeys | None = None,
    ) -> None:
        """Args:
        spec: The cluster's topology.
        state_dir: Where this twin keeps its keys, secrets and files.
        timing: How long services take (default: the topology's profile).
        control_port: The control API's port (0: any free port).
        standalone: Serve its own control API and write its own ``inventory.yaml`` and
            ``lab.json``; False for a twin of a :class:`~lab.fleet.LabFleet`, which serves
            one control API and writes one inventory for all its twins.
        install_keys: Keys shared with other twins to install the nodes with (a fast
            start); None: new keys.
        """
        super().__init__(spec, timing or timing_profile(spec.timing))
        self.standalone = standalone
        self.install_keys = install_keys
        self.state_dir = Path(state_dir)
        self.servers: dict[str, NodeServers] = {}
        self.control_port = control_port
        self.control_url = ""
        self._control_runner: web.AppRunner | None = None
        self.stopped = asyncio.Event()
        self.adcs: AdcsTwin | None = None

    # -- lifecycle ----------------------------------------------------------------------

    async def start(self) -> Lab:
        """Build the cluster (real keys), open every node's ports and the control API."""
        self.state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        loop = asyncio.get_running_loop()
        # Key generation for a whole cluster takes a moment: keep the loop free meanwhile.
        self.cluster = await loop.run_in_executor(
            None,
            lambda: Cluster(self.spec, self.timing, self.journal, self.faults, self.install_keys),
        )
        self.cluster.hooks.append(self._on_service_state)
        self.phones = PhoneSystem(self.cluster, self.journal)
        self.cluster.hooks.append(self.phones.on_service_state)
        for node in self.cluster.nodes:
            directory = self.state_dir / "nodes" / node.hostname
            self.servers[node.hostname] = NodeServers(self, node, directory)
        await asyncio.gather(*(s.setup() for s in self.servers.values()))
        if self.standalone:
            await self._start_control()
        self.phones.start()
        if self.spec.adcs.enabled:
            adcs_port = effective_port(self.spec.adcs.port)
            self.adcs = AdcsTwin(self.spec, self.state_dir / "adcs", self.journal, adcs_port)
            await self.adcs.start()
        if self.standalone:
            write_inventory(self, self.state_dir, self.servers, self.control_url, self.adcs)
            self.write_descriptor()
        return self

    def inventory_entry(self) -> dict[str, Any]:
        """This running twin's ``clusters:`` entry; writes its secrets and trust files."""
        return cluster_entry(self, self.state_dir, self.servers, self.control_url)

    async def stop(self) -> None:
        """Close every listener."""
        await self.phones.close()
        for servers in self.servers.values():
            await servers.close()
        if self.adcs is not None:
            await self.adcs.stop()
        if self._control_runner is not None:
            await self._control_runner.cleanup()
            self._control_runner = None
        self.journal.record("lab.stopped")
        self.stopped.set()

    async def __aenter__(self) -> Lab:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _on_service_state(self, node: Node, svc: ServiceState, old: str, new: str) -> None:
        if svc.name == TOMCAT or svc.name in SIGNALLING_SERVICES:
            await self.servers[node.hostname].sync()

    # -- faults -------------------------------------------------------------------------

    async def add_fault(self, fault: Fault) -> Fault:
        """Inject a fault and apply its immediate effects."""
        if fault.node is not None:
            self.cluster.node(fault.node)  # raises for an unknown node
            fault = fault.model_copy(update={"node": self.cluster.node(fault.node).hostname})
        stored = self.faults.add(fault)
        self.journal.record("fault.injected", stored.node, **stored.model_dump(exclude={"node"}))
        await self._apply_fault_effects()
        return stored

    async def clear_faults(self, fault_id: int | None = None) -> list[Fault]:
        """Clear one fault or all; effects are undone (ports reopen, PAWS restarts)."""
        removed = self.faults.clear(fault_id)
        for f in removed:
            self.journal.record("fault.cleared", f.node, id=f.id, kind=f.kind)
        await self._apply_fault_effects()
        return removed

    async def _apply_fault_effects(self) -> None:
        for node in self.cluster.nodes:
            paws_fault = self.faults.has("paws-down", node.hostname) is not None
            paws_running = node.started("Platform Administrative Web Service")
            if paws_fault and paws_running:
                self.cluster.set_paws(node, running=False)
            elif not paws_fault and not paws_running:
                self.cluster.set_paws(node, running=True)
            await self.servers[node.hostname].sync()
        self.cluster.replay_replication()
        self.phones.reconcile()

    # -- control API --------------------------------------------------------------------

    async def _start_control(self) -> None:
        app = make_control_app(self)
        self._control_runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._control_runner.setup()
        site = web.TCPSite(self._control_runner, "127.0.0.1", self.control_port)
        await site.start()
        server = site._server
        assert isinstance(server, asyncio.Server)
        port = server.sockets[0].getsockname()[1]
        self.control_port = port
        self.control_url = f"http://127.0.0.1:{port}"

    def describe(self) -> dict[str, Any]:
        """Where everything is: nodes, ports, control API, inventory."""
        return {
            "cluster": self.spec.cluster,
            "version": self.spec.version,
            "timing": self.timing.name,
            "control_url": self.control_url,
            "inventory": str(self.state_dir / "inventory.yaml"),
            "pid": os.getpid(),
            "adcs": (
                {"url": self.adcs.url, "address": self.adcs.address, "port": self.adcs.port}
                if self.adcs is not None
                else None
            ),
            "nodes": [
                {
                    "hostname": n.hostname,
                    "fqdn": n.fqdn,
                    "address": n.address,
                    "product": n.product,
                    "role": n.role,
                    "https_ports": self.servers[n.hostname].https_ports,
                    "ssh_port": self.servers[n.hostname].ssh_port,
                    "signalling_ports": (
                        [self.spec.ports.sip_tls]
                        if n.product == "cucm"
                        else [self.spec.ports.xmpp_c2s, self.spec.ports.xmpp_s2s]
                    ),
                    "https_open": bool(self.servers[n.hostname].sites),
                }
                for n in self.cluster.nodes
            ],
        }

    def write_descriptor(self) -> Path:
        """Write ``lab.json`` (how to reach this running lab) into the state dir."""
        path = self.state_dir / "lab.json"
        path.write_text(json.dumps(self.describe(), indent=2))
        return path


def make_control_app(
    lab: Lab,
    stop_all: Callable[[], Awaitable[None]] | None = None,
    describe_all: Callable[[], dict[str, Any]] | None = None,
) -> web.Application:
    """The out-of-band control API of a lab (see :mod:`lab.control` for its client).

    Args:
        lab: The twin it controls.
        stop_all: What ``POST /shutdown`` stops (default: this twin).
        describe_all: What ``GET /describe`` returns (default: this twin's description).
    """
    routes = web.RouteTableDef()
    stop = stop_all or lab.stop
    describe_fn = describe_all or lab.describe

    @routes.get("/health")
    async def health(request: web.Request) -> web.Response:
        return web.json_response({"ok": True, "cluster": lab.spec.cluster})

    @routes.get("/describe")
    async def describe(request: web.Request) -> web.Response:
        return web.json_response(describe_fn())

    @routes.get("/state")
    async def state(request: web.Request) -> web.Response:
        return web.json_response(lab.cluster.state())

    @routes.get("/journal")
    async def journal(request: web.Request) -> web.Response:
        q = request.query
        entries = lab.journal.entries(
            kind=q.get("kind"), node=q.get("node"), since=int(q.get("since", "0"))
        )
        return web.json_response([e.model_dump() for e in entries])

    @routes.get("/faults")
    async def faults(request: web.Request) -> web.Response:
        return web.json_response([f.model_dump() for f in lab.faults.active()])

    @routes.post("/faults")
    async def add_fault(request: web.Request) -> web.Response:
        try:
            fault = Fault.model_validate(await request.json())
            stored = await lab.add_fault(fault)
        except ValidationError as exc:
            return web.json_response({"message": str(exc)}, status=400)
        except LabError as exc:
            return web.json_response({"message": exc.message}, status=exc.status)
        return web.json_response(stored.model_dump(), status=201)

    @routes.delete("/faults")
    async def clear_all(request: web.Request) -> web.Response:
        removed = await lab.clear_faults()
        return web.json_response([f.model_dump() for f in removed])

    @routes.delete("/faults/{fid}")
    async def clear_one(request: web.Request) -> web.Response:
        removed = await lab.clear_faults(int(request.match_info["fid"]))
        if not removed:
            return web.json_response({"message": "no such fault"}, status=404)
        return web.json_response([f.model_dump() for f in removed])

    @routes.post("/sso/enable")
    async def sso_enable(request: web.Request) -> web.Response:
        lab.cluster.sso_enable(origin="control-api")
        return web.json_response({"enabled": True})

    @routes.post("/nodes/{node}/csr/regenerate")
    async def regenerate(request: web.Request) -> web.Response:
        try:
            node = lab.cluster.node(request.match_info["node"])
            pending = lab.cluster.regenerate_pending_csr(
                node, request.query.get("purpose", "tomcat")
            )
        except LabError as exc:
            return web.json_response({"message": exc.message}, status=exc.status)
        return web.json_response({"tracking_id": pending.tracking_id})

    @routes.get("/phones")
    async def phones(request: web.Request) -> web.Response:
        return web.json_response(lab.phones.snapshot())

    @routes.get("/metrics/phones")
    async def phone_metrics(request: web.Request) -> web.Response:
        try:
            since = float(request.query.get("since", "0"))
            until = float(request.query["until"]) if "until" in request.query else None
        except ValueError:
            return web.json_response({"message": "since/until are epoch seconds"}, status=400)
        return web.json_response(lab.phones.metrics(since, until).model_dump())

    @routes.post("/shutdown")
    async def shutdown(request: web.Request) -> web.Response:
        asyncio.get_running_loop().call_later(0.05, lambda: asyncio.ensure_future(stop()))
        return web.json_response({"stopping": True})

    app = web.Application()
    app.add_routes(routes)
    add_control_routes(app, lambda: lab.adcs)
    return app
