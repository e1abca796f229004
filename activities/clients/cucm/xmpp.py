"""Certificate probes of the signalling ports: SIP TLS (5061) and XMPP with STARTTLS (5222/5269).

SIP TLS speaks TLS from the first byte, so its probe is :func:`probe_tls` as is. XMPP starts in
plain text (RFC 6120 §5): the client opens a stream, the server offers ``<starttls/>``, the
client asks for it and the server answers ``<proceed/>``; only then does the TLS handshake
show the served cup-xmpp / cup-xmpp-s2s certificate. :func:`starttls` does that part, as the
``prelude`` of :func:`probe_tls`; both probes return the same
:class:`~activities.clients.cucm.tls.TlsProbeResult`.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Sequence

from activities.clients.cucm import inferred
from activities.clients.cucm.errors import CucmTlsError
from activities.clients.cucm.tls import TlsProbeResult, probe_tls
from activities.clients.cucm.transport import NodeEndpoint

SIP_TLS_PORT = 5061

STREAMS_NS = "http://etherx.jabber.org/streams"
TLS_NS = "urn:ietf:params:xml:ns:xmpp-tls"
#: Bytes read at most while negotiating STARTTLS.
_MAX_PREAMBLE = 16384

_FEATURES_END = re.compile(rb"</stream:features>|<stream:features\s*/>")
_STARTTLS_OFFERED = re.compile(rb"<starttls\b[^>]*urn:ietf:params:xml:ns:xmpp-tls")
_VERDICT = re.compile(rb"<(proceed|failure)\b")


async def probe_sip_tls(
    endpoint: NodeEndpoint,
    port: int = SIP_TLS_PORT,
    extra_ca_pem: Sequence[str] = (),
    *,
    ecdsa_only: bool = False,
) -> TlsProbeResult:
    """The CallManager certificate a CUCM node serves on SIP TLS (``ecdsa_only``: the
    CallManager-ECDSA one, through a handshake that offers ECDSA alone).

    Raises:
        CucmUnreachable: Nothing listens (Cisco CallManager stopped) or the node is down.
        CucmTlsError: The handshake failed.
    """
    return await probe_tls(endpoint, port, extra_ca_pem, ecdsa_only=ecdsa_only)


def starttls(sock: socket.socket, *, node: str, domain: str, server_to_server: bool) -> None:
    """Negotiate XMPP STARTTLS on a connected socket; returns when TLS may start.

    Raises:
        CucmTlsError: STARTTLS was not offered, was refused, or the server hung up.
    """
    sock.settimeout(inferred.XMPP_STARTTLS_TIMEOUT)
    default_ns = "jabber:server" if server_to_server else "jabber:client"
    sock.sendall(
        (
            f"<?xml version='1.0'?><stream:stream xmlns='{default_ns}' "
            f"xmlns:stream='{STREAMS_NS}' to='{domain}' version='1.0'>"
        ).encode()
    )
    features = _read_until(sock, _FEATURES_END, node)
    if not _STARTTLS_OFFERED.search(features):
        raise CucmTlsError("the XMPP server does not offer STARTTLS", node=node)
    sock.sendall(f"<starttls xmlns='{TLS_NS}'/>".encode())
    verdict = _VERDICT.search(_read_until(sock, _VERDICT, node))
    if verdict is None or verdict.group(1) != b"proceed":
        raise CucmTlsError("the XMPP server refused STARTTLS", node=node)


def _read_until(sock: socket.socket, pattern: re.Pattern[bytes], node: str) -> bytes:
    data = b""
    while not pattern.search(data):
        chunk = sock.recv(4096)
        if not chunk:
            raise CucmTlsError("the XMPP server closed the stream during STARTTLS", node=node)
        data += chunk
        if len(data) > _MAX_PREAMBLE:
            raise CucmTlsError("the XMPP server sent too much before STARTTLS", node=node)
    return data
