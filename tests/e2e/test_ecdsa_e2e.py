"""A tomcat-ECDSA renewal on the real Temporal dev server against a CUCM 14 lab."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from activities.clients.ca.local import LocalCa
from activities.clients.cucm.tls import probe_tls
from activities.clients.cucm.xmpp import probe_sip_tls
from lab import pki
from tests.e2e.conftest import FAST_OPTIONS, Stack

pytestmark = pytest.mark.e2e


async def test_tomcat_ecdsa_renewal_with_the_local_ca(stack: Stack) -> None:
    cluster = stack.lab.lab.cluster
    rsa_before = {n.hostname: n.active["tomcat"].cert for n in cluster.nodes}
    async with stack.worker():
        handle = await stack.start(purposes=["tomcat-ECDSA"])
        await stack.reenable_sso(handle)
        status = await handle.result()

    assert status.phase == "done", status.error
    journal = stack.lab.lab.journal
    [csr] = journal.entries("csr.generated")
    assert csr.data["purpose"] == "tomcat-ECDSA" and csr.node == "cucm-pub"
    assert csr.data["common_name"] == "cucm-pub-EC-ms.lab.example.com"
    restarts = {
        (e.node, e.data["service"])
        for e in journal.entries("service.control")
        if e.data["action"] == "restart"
    }
    # 14SU3: Tomcat and DRF Local everywhere, DRF Master on the CUCM publisher.
    assert restarts == {
        *((n.hostname, "Cisco Tomcat") for n in cluster.nodes),
        *((n.hostname, "Cisco DRF Local") for n in cluster.nodes),
        ("cucm-pub", "Cisco DRF Master"),
    }
    root = LocalCa(stack.settings.state_dir / "ca" / "local").root_pem
    for node in cluster.nodes:
        new = node.active["tomcat-ECDSA"].cert
        assert isinstance(new.public_key(), ec.EllipticCurvePublicKey)
        assert format(new.serial_number, "x") == status.new_serial
        endpoint = stack.lab.endpoint(node.hostname)
        probe = await probe_tls(endpoint, endpoint.https_port, [root], ecdsa_only=True)
        assert probe.serial == status.new_serial and probe.verified
        # The RSA certificate, served to everyone else, is untouched.
        assert node.active["tomcat"].cert == rsa_before[node.hostname]
        default = await probe_tls(endpoint, endpoint.https_port)
        assert default.fingerprint_sha256 == pki.fingerprint(rsa_before[node.hostname])
    assert all(n.verified for n in status.nodes)


async def test_callmanager_ecdsa_renewal_restarts_callmanager_and_haproxy(stack: Stack) -> None:
    cluster = stack.lab.lab.cluster
    cucm = [n for n in cluster.nodes if n.product == "cucm"]
    rsa_before = {n.hostname: n.active["CallManager"].cert for n in cucm}
    async with stack.worker():
        handle = await stack.start(
            purposes=["CallManager-ECDSA"],
            windows=[stack.open_window()],
            options=FAST_OPTIONS.model_copy(update={"health_poll_seconds": 0.05}),
        )
        await stack.approve_impact(handle)
        status = await handle.result()

    assert status.phase == "done", status.error
    journal = stack.lab.lab.journal
    restarts = sorted(
        (e.node or "", e.data["service"])
        for e in journal.entries("service.control")
        if e.data["action"] == "restart"
    )
    # 14SU3: CallManager and HAProxy on each CUCM node (not HAProxy alone, as for RSA).
    assert restarts == sorted(
        (n.hostname, s) for n in cucm for s in ("Cisco CallManager", "Cisco HAProxy")
    )
    root = LocalCa(stack.settings.state_dir / "ca" / "local").root_pem
    for node in cucm:
        assert format(node.active["CallManager-ECDSA"].cert.serial_number, "x") == (
            status.new_serial
        )
        assert node.active["CallManager"].cert == rsa_before[node.hostname]
        probe = await probe_sip_tls(
            stack.lab.endpoint(node.hostname), 5061, [root], ecdsa_only=True
        )
        assert probe.serial == status.new_serial and probe.verified
