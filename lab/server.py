"""The running lab: one process serving every node of a twin cluster on its own loopback address.

:class:`Lab` wires the :class:`~lab.cluster.Cluster` to its frontends: per node an HTTPS
server (certmgr REST, Control Center and AXL SOAP) on 8443 and 443 presenting the node's
*active* tomcat certificate, and an SSH admin CLI; plus the out-of-band control API on
127.0.0.1. It is also the Python API tests use in-process.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import secrets
import ssl
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncssh
from aiohttp import web

from lab import pki
from lab.adcs import AdcsTwin
from lab.catalog import TOMCAT
from lab.cluster import Cluster
from lab.errors import LabError
from lab.facts import SIP_TLS_SERVICE, XMPP_SERVICE
from lab.faults import Fault, FaultSet
from lab.journal import Journal
from lab.nodes import Node, ServiceState
from lab.phones import PhoneSystem
from lab.timing import TimingProfile
from lab.timing import profile as timing_profile
from lab.topology import TopologySpec

log = logging.getLogger("lab")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

NODE_KEY: web.AppKey[Node] = web.AppKey("node", Node)
LAB_KEY: web.AppKey[Lab] = web.AppKey("lab", object)  # type: ignore[arg-type]


#: Services whose state opens or closes a node's SIP TLS / XMPP listeners.
SIGNALLING_SERVICES = frozenset({SIP_TLS_SERVICE, XMPP_SERVICE})


class ResponseLost(Exception):
    """Raised by a handler after applying a change whose response must be lost (fault)."""


def effective_port(port: int) -> int:
    """Privileged ports move up by 10000 when the lab cannot bind them (not root)."""
    if port < 1024 and os.geteuid() != 0:
        return port + 10000
    return port


class NodeServers:
    """The listeners of one node, opened and closed as Tomcat and reachability change."""

    def __init__(self, lab: Lab, node: Node) -> None:
        self.lab = lab
        self.node = node
        self.app = lab.make_app(node)
        self.runner = web.AppRunner(self.app, handle_signals=False, access_log=None)
        self.sites: list[web.TCPSite] = []
        self.ssh: asyncssh.SSHAcceptor | None = None
        self.dir = lab.state_dir / "nodes" / node.hostname
        self.host_key = asyncssh.generate_private_key("ssh-ed25519")
        from lab.frontends.signalling import SignallingListeners

        self.signalling = SignallingListeners(lab, node, self.dir)

    @property
    def https_ports(self) -> list[int]:
        """Ports the node's Tomcat serves."""
        p = self.lab.spec.ports
        return [effective_port(p.https), effective_port(p.https_alt)]

    @property
    def ssh_port(self) -> int:
        """Port of the SSH admin CLI."""
        return effective_port(self.lab.spec.ports.ssh)

    async def setup(self) -> None:
        """Prepare the runner and open what should be open."""
        self.dir.mkdir(parents=True, exist_ok=True)
        await self.runner.setup()
        await self.sync()

    def _ssl_context(self) -> ssl.SSLContext:
        kc = self.node.active["tomcat"]
        cert_file = self.dir / "tomcat.pem"
        key_file = self.dir / "tomcat.key"
        chain = self.node.served_chain("tomcat")
        cert_file.write_text(kc.pem + "".join(pki.pem(c) for c in chain))
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(pki.key_pem(kc.key))
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(cert_file, key_file)
        return ctx

    async def sync(self) -> None:
        """Open or close listeners to match the node's Tomcat state and reachability."""
        reachable = self.lab.cluster.reachable(self.node)
        https_up = reachable and self.node.started(TOMCAT)
        if https_up and not self.sites:
            ctx = self._ssl_context()
            for port in self.https_ports:
                site = web.TCPSite(
                    self.runner, self.node.address, port, ssl_context=ctx, reuse_address=True
                )
                await site.start()
                self.sites.append(site)
        elif not https_up and self.sites:
            for site in self.sites:
                await site.stop()
            self.sites = []
        if reachable and self.ssh is None:
            from lab.frontends.ssh import start_ssh_server

            self.ssh = await start_ssh_server(self.lab, self.node, self.ssh_port, self.host_key)
        elif not reachable and self.ssh is not None:
            self.ssh.close()
            await self.ssh.wait_closed()
            self.ssh = None
        await self.signalling.sync()

    async def close(self) -> None:
        """Close everything."""
        for site in self.sites:
            await site.stop()
        self.sites = []
        if self.ssh is not None:
            self.ssh.close()
            await self.ssh.wait_closed()
            self.ssh = None
        await self.signalling.close()
        await self.runner.cleanup()


class Lab:
    """A twin cluster with its servers. Use ``async with Lab(...)`` or start()/stop()."""

    def __init__(
        self,
        spec: TopologySpec,
        state_dir: Path,
        timing: TimingProfile | None = None,
        control_port: int = 0,
    ) -> None:
        self.spec = spec
        self.state_dir = Path(state_dir)
        self.timing = timing or timing_profile(spec.timing)
        self.journal = Journal()
        self.faults = FaultSet(seed=spec.seed)
        self.cluster: Cluster
        self.phones: PhoneSystem
        self.servers: dict[str, NodeServers] = {}
        self.control_port = control_port
        self.control_url = ""
        self._control_runner: web.AppRunner | None = None
        self.credentials = {
            "os_admin": (spec.os_admin_user, secrets.token_urlsafe(18)),
            "app_user": (spec.app_user, secrets.token_urlsafe(18)),
        }
        self._realtime_calls: dict[str, list[float]] = {}
        self.stopped = asyncio.Event()
        self.adcs: AdcsTwin | None = None

    # -- lifecycle ----------------------------------------------------------------------

    async def start(self) -> Lab:
        """Build the cluster (real keys), open every node's ports and the control API."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        loop = asyncio.get_running_loop()
        # Key generation for a whole cluster takes a moment: keep the loop free meanwhile.
        self.cluster = await loop.run_in_executor(
            None, lambda: Cluster(self.spec, self.timing, self.journal, self.faults)
        )
        self.cluster.hooks.append(self._on_service_state)
        self.phones = PhoneSystem(self.cluster, self.journal)
        self.cluster.hooks.append(self.phones.on_service_state)
        for node in self.cluster.nodes:
            servers = NodeServers(self, node)
            self.servers[node.hostname] = servers
        await asyncio.gather(*(s.setup() for s in self.servers.values()))
        await self._start_control()
        self.phones.start()
        if self.spec.adcs.enabled:
            adcs_port = effective_port(self.spec.adcs.port)
            self.adcs = AdcsTwin(self.spec, self.state_dir / "adcs", self.journal, adcs_port)
            await self.adcs.start()
        from lab.inventory import write_inventory

        write_inventory(self)
        return self

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

    # -- HTTP plumbing for frontends ----------------------------------------------------

    def make_app(self, node: Node) -> web.Application:
        """The aiohttp application serving one node."""
        from lab.frontends import certmgr, soap

        app = web.Application(middlewares=[self._fault_middleware])
        app[NODE_KEY] = node
        app[LAB_KEY] = self
        certmgr.add_routes(app)
        soap.add_routes(app)
        if node.product == "cucm":
            from lab.frontends import risport

            risport.add_routes(app)
        return app

    @web.middleware
    async def _fault_middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        node = request.app[NODE_KEY]
        interface = interface_of(request.path)
        fault = self.faults.take("latency", node.hostname, interface)
        if fault:
            await asyncio.sleep(float(fault.params.get("seconds", 1.0)))
        fault = self.faults.take("http-error", node.hostname, interface)
        if fault:
            status = int(fault.params.get("status", 503))
            headers = {}
            if "retry_after" in fault.params:
                headers["Retry-After"] = str(int(fault.params["retry_after"]))
            return web.Response(
                status=status, text=f"{status} injected by the lab", headers=headers
            )
        try:
            return await handler(request)
        except ResponseLost:
            transport = request.transport
            if transport is not None:
                transport.abort()
            raise asyncio.CancelledError from None
        except LabError as exc:
            return web.json_response(
                {"message": exc.message, "messages": [exc.message]}, status=exc.status
            )

    def check_auth(self, request: web.Request, account: str, realm: str) -> None:
        """HTTP Basic against one of the lab's accounts; raises 401 with the realm."""
        user, password = self.credentials[account]
        header = request.headers.get("Authorization", "")
        ok = False
        if header.startswith("Basic "):
            try:
                given = base64.b64decode(header[6:]).decode()
            except ValueError:
                given = ""
            u, _, p = given.partition(":")
            ok = secrets.compare_digest(u, user) and secrets.compare_digest(p, password)
        if not ok:
            raise web.HTTPUnauthorized(
                headers={"WWW-Authenticate": f'Basic realm="{realm}"'},
                text="<html><body><h1>HTTP Status 401 - Unauthorized</h1></body></html>",
                content_type="text/html",
            )

    def check_ssh_password(self, username: str, password: str) -> bool:
        """Password check of the OS platform admin (the CLI account)."""
        user, expected = self.credentials["os_admin"]
        return secrets.compare_digest(username, user) and secrets.compare_digest(password, expected)

    def realtime_throttled(self, node: Node) -> bool:
        """Whether a Control Center / RisPort call on ``node`` exceeds the realtime rate."""
        if self.faults.take("throttle", node.hostname):
            return True
        now = time.monotonic()
        calls = [t for t in self._realtime_calls.get(node.hostname, []) if now - t < 60.0]
        if len(calls) >= self.timing.realtime_rate_per_minute:
            self._realtime_calls[node.hostname] = calls
            return True
        calls.append(now)
        self._realtime_calls[node.hostname] = calls
        return False

    def lose_response(self, node: Node, operation: str) -> None:
        """Raise ResponseLost when a ``response-lost`` fault targets this operation now."""
        if self.faults.take("response-lost", node.hostname, operation):
            self.journal.record(
                "fault.fired", node.hostname, kind="response-lost", operation=operation
            )
            raise ResponseLost(operation)

    # -- control API --------------------------------------------------------------------

    async def _start_control(self) -> None:
        from lab.control import make_control_app

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


def interface_of(path: str) -> str:
    """Which interface a request path belongs to (for fault targeting)."""
    if path.startswith("/platformcom"):
        return "rest"
    if path.startswith("/axl"):
        return "axl"
    if path.startswith(("/controlcenterservice2", "/realtimeservice2")):
        return "soap"
    return "web"
