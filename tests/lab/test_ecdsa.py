"""ECDSA identities on 14 and later: served on 8443 and 5061 to ECDSA-only clients alone,
active after the activating service's restart (cucm-interfaces.md §1.1, §10)."""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Callable

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from lab import facts, pki
from lab.errors import LabError
from lab.server import Lab
from tests.lab.conftest import LabHandle
from tests.lab.test_phones import CM, install_cert, restart

TOMCAT = "Cisco Tomcat"
HAPROXY = "Cisco HAProxy"
ECDSA_ONLY = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384"


def _served(host: str, port: int, ecdsa_only: bool) -> x509.Certificate:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if ecdsa_only:
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        ctx.set_ciphers(ECDSA_ONLY)
    with (
        socket.create_connection((host, port), timeout=5) as raw,
        ctx.wrap_socket(raw) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der)


async def served(lab: Lab, hostname: str, port: int, *, ecdsa_only: bool) -> x509.Certificate:
    """The leaf a default client (or one offering ECDSA alone) gets on the node's port."""
    address = lab.cluster.node(hostname).address
    return await asyncio.to_thread(_served, address, port, ecdsa_only)


async def test_14_listeners_serve_the_ecdsa_identity_to_ecdsa_only_clients(
    lab: LabHandle,
) -> None:
    cluster, ports = lab.lab.cluster, lab.lab.spec.ports
    pub, imp = cluster.node("cucm-pub"), cluster.node("imp-pub")
    assert set(pub.own) == {"tomcat", "CallManager", "tomcat-ECDSA", "CallManager-ECDSA"}
    assert set(imp.own) == {"tomcat", "cup-xmpp", "cup-xmpp-s2s", "tomcat-ECDSA"}
    ec_self = pub.own["tomcat-ECDSA"].cert
    assert isinstance(ec_self.public_key(), ec.EllipticCurvePublicKey)
    assert pki.common_name(ec_self.subject) == "cucm-pub-EC.lab.example.com"
    assert pki.san_dns(ec_self) == [pub.fqdn]
    # Trusted cluster-wide like the RSA ones, in the RSA twin's store.
    assert any(e.cert == ec_self for e in cluster.node("cucm-sub2").trust["tomcat-trust"].values())

    for node, port, purpose in (
        (pub, ports.https, "tomcat"),
        (imp, ports.https, "tomcat"),
        (pub, ports.sip_tls, "CallManager"),
    ):
        rsa_leaf = await served(lab.lab, node.hostname, port, ecdsa_only=False)
        assert rsa_leaf == node.active[purpose].cert
        assert isinstance(rsa_leaf.public_key(), rsa.RSAPublicKey)
        ec_leaf = await served(lab.lab, node.hostname, port, ecdsa_only=True)
        assert ec_leaf == node.active[f"{purpose}-ECDSA"].cert


async def test_12_5_has_no_ecdsa_identity(make_lab: Callable[..., Lab]) -> None:
    async with make_lab(version="12.5.1.16900-48") as old:
        pub = old.cluster.node("cucm-pub")
        assert set(pub.own) == {"tomcat", "CallManager"}
        assert isinstance(
            (await served(old, "cucm-pub", old.spec.ports.https, ecdsa_only=False)).public_key(),
            rsa.RSAPublicKey,
        )
        with pytest.raises(ssl.SSLError):
            await served(old, "cucm-pub", old.spec.ports.https, ecdsa_only=True)
        with pytest.raises(LabError, match="Invalid service"):
            old.cluster.generate_csr(pub, "tomcat-ECDSA", facts.REST_MULTI_SERVER_DISTRIBUTION)


async def test_ecdsa_csr_key_and_multi_server_cn(lab: LabHandle) -> None:
    cluster = lab.lab.cluster
    pub = cluster.node("cucm-pub")
    pending, exported = cluster.generate_csr(
        pub, "CallManager-ECDSA", facts.REST_MULTI_SERVER_DISTRIBUTION
    )
    assert isinstance(pending.csr.public_key(), ec.EllipticCurvePublicKey)
    assert pki.key_size(pending.csr) == 256
    assert pki.common_name(pending.csr.subject) == "cucm-pub-EC-ms.lab.example.com"
    assert [n.hostname for n in exported] == ["cucm-pub", "cucm-sub1", "cucm-sub2"]
    with pytest.raises(LabError, match="Invalid key type"):
        cluster.generate_csr(pub, "tomcat-ECDSA", facts.REST_MULTI_SERVER_DISTRIBUTION, None, "rsa")


async def test_tomcat_ecdsa_is_active_after_the_tomcat_restart(lab: LabHandle) -> None:
    running = lab.lab
    https = running.spec.ports.https
    node = running.cluster.node("cucm-sub1")
    old_ec = node.active["tomcat-ECDSA"].cert
    old_rsa = node.active["tomcat"].cert
    install_cert(running, "tomcat-ECDSA")
    new_ec = node.own["tomcat-ECDSA"].cert
    assert new_ec != old_ec
    assert await served(running, "cucm-sub1", https, ecdsa_only=True) == old_ec  # installed
    await restart(running, "cucm-sub1", TOMCAT)
    assert await served(running, "cucm-sub1", https, ecdsa_only=True) == new_ec
    assert await served(running, "cucm-sub1", https, ecdsa_only=False) == old_rsa
    # Another node keeps the old one until its own restart.
    sub2 = running.cluster.node("cucm-sub2")
    assert await served(running, "cucm-sub2", https, ecdsa_only=True) != new_ec
    assert sub2.own["tomcat-ECDSA"].cert == new_ec


async def test_callmanager_ecdsa_needs_cisco_callmanager_on_14su1_plus(lab: LabHandle) -> None:
    running = lab.lab
    assert running.spec.version >= "14.0.1.11900"
    sip = running.spec.ports.sip_tls
    node = running.cluster.node("cucm-sub2")
    old_ec = node.active["CallManager-ECDSA"].cert
    install_cert(running, "CallManager-ECDSA")
    new_ec = node.own["CallManager-ECDSA"].cert
    # HAProxy alone activates an RSA CallManager certificate from 14SU1 on, not an ECDSA one.
    await restart(running, "cucm-sub2", HAPROXY)
    assert await served(running, "cucm-sub2", sip, ecdsa_only=True) == old_ec
    await restart(running, "cucm-sub2", CM)
    assert await served(running, "cucm-sub2", sip, ecdsa_only=True) == new_ec
    assert isinstance(
        (await served(running, "cucm-sub2", sip, ecdsa_only=False)).public_key(), rsa.RSAPublicKey
    )
