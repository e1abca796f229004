"""SIP over TLS (5061) on CUCM nodes and XMPP with STARTTLS (5222, 5269) on IM&P nodes.

Each port presents the node's *active* certificate of its purpose (CallManager, cup-xmpp,
cup-xmpp-s2s), so a probe shows what phones and XMPP clients really see: the installed
certificate only after the activating restart (cucm-interfaces.md §10, §14.2.4). Listeners open
and close with their service (Cisco CallManager, Cisco XCP Router) and the node's reachability,
like Tomcat's HTTPS in :class:`lab.listeners.NodeServers`.

The TLS context is chosen per connection, so a certificate activated while the listener stays
open (HAProxy restart on 14+) is served to the next connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import re
import secrets
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from lab import facts, pki
from lab.frontends.base import Twin
from lab.nodes import Node

STREAMS_NS = "http://etherx.jabber.org/streams"
TLS_NS = "urn:ietf:params:xml:ns:xmpp-tls"
SASL_NS = "urn:ietf:params:xml:ns:xmpp-sasl"
#: Idle seconds after which a connection is closed (nothing is served past the handshake).
IDLE_TIMEOUT = 30.0
#: Largest XMPP preamble read before giving up on a client.
MAX_PREAMBLE = 8192

_STREAM_OPEN = re.compile(rb"<stream:stream\b[^>]*>")
_STARTTLS = re.compile(rb"<starttls\b[^>]*(/>|>\s*</starttls>)")

Mode = Literal["tls", "xmpp-c2s", "xmpp-s2s"]


@dataclass(frozen=True)
class Listener:
    """One signalling port: where, which service opens it, which certificate it serves."""

    port: int
    service: str
    purpose: str
    mode: Mode


class SignallingListeners:
    """The SIP TLS / XMPP listeners of one node.

    Args:
        lab: The running lab.
        node: The node whose ports these are.
        directory: Where the node's key material files live.
    """

    def __init__(self, lab: Twin, node: Node, directory: Path) -> None:
        self.lab = lab
        self.node = node
        self.dir = directory
        self.servers: dict[int, asyncio.Server] = {}
        self._contexts: dict[tuple[str, str, str], ssl.SSLContext] = {}
        self._connections: set[asyncio.StreamWriter] = set()

    def listeners(self) -> list[Listener]:
        """The ports this node serves, by product."""
        ports = self.lab.spec.ports
        if self.node.product == "cucm":
            return [Listener(ports.sip_tls, facts.SIP_TLS_SERVICE, "CallManager", "tls")]
        return [
            Listener(ports.xmpp_c2s, facts.XMPP_SERVICE, "cup-xmpp", "xmpp-c2s"),
            Listener(ports.xmpp_s2s, facts.XMPP_SERVICE, "cup-xmpp-s2s", "xmpp-s2s"),
        ]

    async def sync(self) -> None:
        """Open or close each port to match its service and the node's reachability."""
        reachable = self.lab.cluster.reachable(self.node)
        for listener in self.listeners():
            want = reachable and self.node.started(listener.service)
            server = self.servers.get(listener.port)
            if want and server is None:
                self.servers[listener.port] = await asyncio.start_server(
                    functools.partial(self._serve, listener),
                    self.node.address,
                    listener.port,
                    reuse_address=True,
                )
            elif not want and server is not None:
                del self.servers[listener.port]
                await self._stop(server)

    async def close(self) -> None:
        """Close every port and connection."""
        servers, self.servers = list(self.servers.values()), {}
        for server in servers:
            await self._stop(server)

    async def _stop(self, server: asyncio.Server) -> None:
        server.close()
        # A closed service drops its sessions too (the phone notices the TCP close).
        for writer in list(self._connections):
            writer.close()
        await server.wait_closed()

    def context(self, purpose: str) -> ssl.SSLContext:
        """A server context presenting the node's active certificate of ``purpose`` (and of
        its ECDSA twin, to ECDSA-only clients, where the node has one)."""
        kc = self.node.active[purpose]
        ecdsa = self.node.ecdsa_twin(purpose)
        key = (purpose, pki.fingerprint(kc.cert), pki.fingerprint(ecdsa[0].cert) if ecdsa else "")
        ctx = self._contexts.get(key)
        if ctx is None:
            ctx = pki.server_context(kc, self.node.served_chain(purpose), self.dir, purpose, ecdsa)
            self._contexts[key] = ctx
        return ctx

    async def _serve(
        self, listener: Listener, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self._connections.add(writer)
        try:
            if listener.mode == "tls":
                await writer.start_tls(self.context(listener.purpose))
            else:
                if not await self._starttls(listener, reader, writer):
                    return
                await writer.start_tls(self.context(listener.purpose))
                await self._after_tls(listener, reader, writer)
            # Nothing is served past the handshake: hold the session until the peer leaves.
            while await asyncio.wait_for(reader.read(4096), IDLE_TIMEOUT):
                pass
        except (OSError, ssl.SSLError, TimeoutError, asyncio.IncompleteReadError):
            pass
        finally:
            self._connections.discard(writer)
            writer.close()
            with contextlib.suppress(OSError, ssl.SSLError):
                await writer.wait_closed()

    def _stream_header(self, listener: Listener) -> bytes:
        default_ns = "jabber:server" if listener.mode == "xmpp-s2s" else "jabber:client"
        return (
            f"<?xml version='1.0'?><stream:stream xmlns='{default_ns}' "
            f"xmlns:stream='{STREAMS_NS}' id='{secrets.token_hex(8)}' "
            f"from='{self.lab.spec.domain}' version='1.0'>"
        ).encode()

    async def _read_until(self, reader: asyncio.StreamReader, pattern: re.Pattern[bytes]) -> bytes:
        data = b""
        while not pattern.search(data):
            chunk = await asyncio.wait_for(reader.read(1024), IDLE_TIMEOUT)
            if not chunk or len(data) > MAX_PREAMBLE:
                raise asyncio.IncompleteReadError(data, None)
            data += chunk
        return data

    async def _starttls(
        self, listener: Listener, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        await self._read_until(reader, _STREAM_OPEN)
        required = "<required/>" if facts.XMPP_STARTTLS_REQUIRED else ""
        writer.write(
            self._stream_header(listener)
            + f"<stream:features><starttls xmlns='{TLS_NS}'>{required}</starttls>"
            f"</stream:features>".encode()
        )
        await writer.drain()
        data = await self._read_until(reader, re.compile(rb"<starttls\b|<auth\b|</stream:stream>"))
        if not _STARTTLS.search(data):
            writer.write(f"<failure xmlns='{TLS_NS}'/></stream:stream>".encode())
            await writer.drain()
            return False
        writer.write(f"<proceed xmlns='{TLS_NS}'/>".encode())
        await writer.drain()
        return True

    async def _after_tls(
        self, listener: Listener, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        # The client restarts the stream over TLS; offer SASL as a real server would next.
        await self._read_until(reader, _STREAM_OPEN)
        writer.write(
            self._stream_header(listener)
            + f"<stream:features><mechanisms xmlns='{SASL_NS}'><mechanism>PLAIN</mechanism>"
            f"</mechanisms></stream:features>".encode()
        )
        await writer.drain()
