"""SIP TLS (5061) and XMPP STARTTLS (5222/5269) serve the *active* certificates (§10)."""

from __future__ import annotations

import asyncio
import functools
import socket
from collections.abc import Callable, Sequence

import pytest

from activities.clients.cucm.errors import CucmUnreachable
from activities.clients.cucm.tls import TlsProbeResult, probe_tls
from activities.clients.cucm.transport import NodeEndpoint
from activities.clients.cucm.xmpp import probe_sip_tls, starttls
from lab import pki
from lab.server import Lab
from tests.lab.conftest import LabHandle
from tests.lab.test_phones import CM, install_cert, restart, settled

XCP = "Cisco XCP Router"
XMPP_C2S_PORT = 5222
XMPP_S2S_PORT = 5269


async def probe_xmpp(
    endpoint: NodeEndpoint, port: int = XMPP_C2S_PORT, extra_ca_pem: Sequence[str] = ()
) -> TlsProbeResult:
    """The cup-xmpp (5222) or cup-xmpp-s2s (5269) certificate an IM&P node serves."""
    prelude = functools.partial(
        starttls,
        node=endpoint.fqdn,
        domain=endpoint.fqdn.split(".", 1)[-1],
        server_to_server=port == XMPP_S2S_PORT,
    )
    return await probe_tls(endpoint, port, extra_ca_pem, prelude=prelude)


def active_fp(lab: Lab, hostname: str, purpose: str) -> str:
    return pki.fingerprint(lab.cluster.node(hostname).active[purpose].cert)


async def test_sip_tls_serves_the_new_callmanager_cert_after_haproxy_on_14(
    lab: LabHandle,
) -> None:
    running = lab.lab
    endpoint = lab.endpoint("cucm-sub1")
    old = active_fp(running, "cucm-sub1", "CallManager")
    assert (await probe_sip_tls(endpoint)).fingerprint_sha256 == old
    new, root = install_cert(running, "CallManager")
    assert (await probe_sip_tls(endpoint)).fingerprint_sha256 == old  # installed, not active
    await restart(running, "cucm-sub1", CM)
    assert (await probe_sip_tls(endpoint)).fingerprint_sha256 == old  # 14+: not this service
    await restart(running, "cucm-sub1", "Cisco HAProxy")
    served = await probe_sip_tls(endpoint, extra_ca_pem=[root])
    assert served.fingerprint_sha256 == new
    assert served.verified, served.verify_error
    assert "cucm-sub1.lab.example.com" in served.san_dns
    # Other nodes keep serving the old certificate until their own restart.
    assert (await probe_sip_tls(lab.endpoint("cucm-sub2"))).fingerprint_sha256 != new


async def test_sip_tls_port_follows_cisco_callmanager(lab: LabHandle) -> None:
    running = lab.lab
    node = running.cluster.node("cucm-sub2")
    running.cluster.control(node, CM, "stop", origin="test")
    await settled(running, "cucm-sub2", CM)
    with pytest.raises(CucmUnreachable):
        await probe_sip_tls(lab.endpoint("cucm-sub2"))
    running.cluster.control(node, CM, "start", origin="test")
    await settled(running, "cucm-sub2", CM)
    assert (await probe_sip_tls(lab.endpoint("cucm-sub2"))).fingerprint_sha256 == active_fp(
        running, "cucm-sub2", "CallManager"
    )


async def test_12_5_activates_callmanager_with_cisco_callmanager(
    make_lab: Callable[..., Lab],
) -> None:
    async with make_lab(version="12.5.1.16900-48") as running:
        handle = LabHandle(running)
        sub1 = running.cluster.node("cucm-sub1")
        assert "Cisco HAProxy" not in sub1.services
        new, _ = install_cert(running, "CallManager")
        assert (await probe_sip_tls(handle.endpoint("cucm-sub1"))).fingerprint_sha256 != new
        await restart(running, "cucm-sub1", CM)
        assert (await probe_sip_tls(handle.endpoint("cucm-sub1"))).fingerprint_sha256 == new
        activated = [
            e.data["purpose"] for e in running.journal.entries("cert.activated", node="cucm-sub1")
        ]
        assert activated == ["CallManager"]


async def test_xmpp_starttls_serves_cup_xmpp_and_s2s(lab: LabHandle) -> None:
    running = lab.lab
    endpoint = lab.endpoint("imp-pub")
    c2s = await probe_xmpp(endpoint, XMPP_C2S_PORT)
    s2s = await probe_xmpp(endpoint, XMPP_S2S_PORT)
    assert c2s.fingerprint_sha256 == active_fp(running, "imp-pub", "cup-xmpp")
    assert s2s.fingerprint_sha256 == active_fp(running, "imp-pub", "cup-xmpp-s2s")
    assert c2s.fingerprint_sha256 != s2s.fingerprint_sha256

    new, root = install_cert(running, "cup-xmpp", product="imp")
    assert (await probe_xmpp(endpoint)).fingerprint_sha256 != new
    await restart(running, "imp-pub", XCP)
    served = await probe_xmpp(endpoint, extra_ca_pem=[root])
    assert served.fingerprint_sha256 == new and served.verified

    running.cluster.control(running.cluster.node("imp-pub"), XCP, "stop", origin="test")
    await settled(running, "imp-pub", XCP)
    for port in (XMPP_C2S_PORT, XMPP_S2S_PORT):
        with pytest.raises(CucmUnreachable):
            await probe_xmpp(endpoint, port)


async def test_xmpp_requires_starttls_before_anything_else(lab: LabHandle) -> None:
    endpoint = lab.endpoint("imp-pub")

    def exchange() -> tuple[bytes, bytes]:
        with socket.create_connection((endpoint.host, XMPP_C2S_PORT), timeout=5) as sock:
            sock.sendall(
                b"<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
                b"xmlns:stream='http://etherx.jabber.org/streams' to='lab.example.com' "
                b"version='1.0'>"
            )
            features = b""
            while b"</stream:features>" not in features:
                features += sock.recv(4096)
            sock.sendall(b"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'/>")
            rest = b""
            while chunk := sock.recv(4096):
                rest += chunk
            return features, rest

    features, rest = await asyncio.to_thread(exchange)
    assert b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls>" in features
    assert b"<failure xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>" in rest
