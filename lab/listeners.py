"""The listeners of one twin node: HTTPS (REST, SOAP), SSH CLI, SIP TLS / XMPP.

:class:`NodeServers` opens and closes a node's ports as its Tomcat, its signalling services
and its reachability change; :func:`node_app` is the HTTPS application behind 8443 and 443,
with the fault middleware every HTTP interface goes through.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from email.utils import formatdate
from pathlib import Path

import asyncssh
from aiohttp import hdrs, web

from lab import facts, pki
from lab.catalog import TOMCAT
from lab.errors import LabError
from lab.frontends import axl, certmgr, cmplatform, risport, soap, webapps
from lab.frontends.base import LAB_KEY, NODE_KEY, ResponseLost, Twin
from lab.frontends.signalling import SignallingListeners
from lab.frontends.ssh import start_ssh_server
from lab.nodes import Node

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def effective_port(port: int) -> int:
    """Privileged ports move up by 10000 when the lab cannot bind them (not root)."""
    if port < 1024 and os.geteuid() != 0:
        return port + 10000
    return port


def interface_of(path: str) -> str:
    """Which interface a request path belongs to (for fault targeting)."""
    if path.startswith("/platformcom"):
        return "rest"
    if path.startswith("/axl"):
        return "axl"
    if path.startswith(("/controlcenterservice2", "/realtimeservice2")):
        return "soap"
    return "web"


def retry_after_header(seconds: int, form: object = None) -> str:
    """A ``Retry-After`` value (RFC 9110 §10.2.3): delay-seconds, or with ``form`` set to
    ``http-date`` the IMF-fixdate that many seconds from now."""
    if form == "http-date":
        return formatdate(time.time() + seconds, usegmt=True)
    return str(seconds)


def node_app(twin: Twin, node: Node) -> web.Application:
    """The aiohttp application serving one node: certmgr, Control Center, RisPort, AXL and the
    web applications' login pages."""

    @web.middleware
    async def faults(request: web.Request, handler: Handler) -> web.StreamResponse:
        interface = interface_of(request.path)
        fault = twin.faults.take("latency", node.hostname, interface)
        if fault:
            await asyncio.sleep(float(fault.params.get("seconds", 1.0)))
        fault = twin.faults.take("http-error", node.hostname, interface)
        if fault:
            status = int(fault.params.get("status", 503))
            headers = {}
            if "retry_after" in fault.params:
                headers["Retry-After"] = retry_after_header(
                    int(fault.params["retry_after"]), fault.params.get("retry_after_form")
                )
            return web.Response(
                status=status, text=f"{status} injected by the lab", headers=headers
            )
        if isinstance(request.match_info.http_exception, web.HTTPNotFound):
            # A URL no application serves (the certmgr REST before 14 among them): Tomcat's
            # own 404 page.
            rest = request.path.startswith(certmgr.BASE)
            return web.Response(
                status=facts.CERTMGR_REST_ABSENT_STATUS if rest else 404,
                text=facts.CERTMGR_REST_ABSENT_PAGE if rest else facts.TOMCAT_NOT_FOUND_PAGE,
                content_type="text/html",
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

    app = web.Application(middlewares=[faults])
    app.on_response_prepare.append(_server_header)
    app[NODE_KEY] = node
    app[LAB_KEY] = twin
    if facts.certmgr_rest_served(twin.spec.major_version):
        certmgr.add_routes(app)
    soap.add_routes(app)
    webapps.add_routes(app, served_elsewhere=(cmplatform.APP,))
    cmplatform.add_routes(app)
    if node.product == "cucm":
        risport.add_routes(app)
    if axl.serves_axl(node, twin.spec.major_version):
        axl.add_routes(app)
    return app


async def _server_header(request: web.Request, response: web.StreamResponse) -> None:
    # Every reply, errors included, shows the node's web server, not the lab's library.
    if facts.HTTP_SERVER_HEADER is None:
        response.headers.popall(hdrs.SERVER, None)
    else:
        response.headers[hdrs.SERVER] = facts.HTTP_SERVER_HEADER


#: Where a node keeps its SSH host key, under its state directory (like /etc/ssh on a node).
HOST_KEY_FILE = "ssh_host_ed25519_key"


def node_host_key(directory: Path) -> asyncssh.SSHKey:
    """The node's SSH host key: made once, then the same on every start of the twin.

    A real node keeps its key until it is reinstalled, so a client that pinned it (known_hosts,
    or a change that saw it at discovery) finds the same key at every later connection.
    """
    path = directory / HOST_KEY_FILE
    if path.exists():
        return asyncssh.read_private_key(path)
    key = asyncssh.generate_private_key("ssh-ed25519")
    directory.mkdir(parents=True, exist_ok=True)
    pki.write_private(path, key.export_private_key())
    return key


class NodeServers:
    """The listeners of one node, opened and closed as Tomcat and reachability change."""

    def __init__(self, twin: Twin, node: Node, directory: Path) -> None:
        """Prepare the node's listeners; nothing is bound until :meth:`setup`.

        Args:
            twin: The running twin.
            node: The node whose ports these are.
            directory: Where the node's TLS files live.
        """
        self.twin = twin
        self.node = node
        self.app = node_app(twin, node)
        self.runner = web.AppRunner(self.app, handle_signals=False, access_log=None)
        self.sites: list[web.TCPSite] = []
        self.ssh: asyncssh.SSHAcceptor | None = None
        self.dir = directory
        self.host_key = node_host_key(directory)
        self.signalling = SignallingListeners(twin, node, self.dir)

    @property
    def https_ports(self) -> list[int]:
        """Ports the node's Tomcat serves."""
        p = self.twin.spec.ports
        return [effective_port(p.https), effective_port(p.https_alt)]

    @property
    def ssh_port(self) -> int:
        """Port of the SSH admin CLI."""
        return effective_port(self.twin.spec.ports.ssh)

    async def setup(self) -> None:
        """Prepare the runner and open what should be open."""
        self.dir.mkdir(parents=True, exist_ok=True)
        await self.runner.setup()
        await self.sync()

    async def sync(self) -> None:
        """Open or close listeners to match the node's Tomcat state and reachability."""
        reachable = self.twin.cluster.reachable(self.node)
        https_up = reachable and self.node.started(TOMCAT)
        if https_up and not self.sites:
            ctx = pki.server_context(
                self.node.active["tomcat"],
                self.node.served_chain("tomcat"),
                self.dir,
                "tomcat",
                self.node.ecdsa_twin("tomcat"),
            )
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
            self.ssh = await start_ssh_server(self.twin, self.node, self.ssh_port, self.host_key)
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
