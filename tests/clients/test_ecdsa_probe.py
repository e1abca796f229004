"""The ECDSA purposes read through an ECDSA-only handshake, the RSA ones as before."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from activities.clients.cucm.discovery import discover
from activities.clients.cucm.errors import CucmTlsError
from activities.clients.cucm.purpose_certs import probe_purpose
from activities.clients.cucm.tls import probe_tls
from lab import pki
from lab.server import Lab
from tests.lab.conftest import LabHandle
from tests.lab.test_phones import install_cert, restart

TOMCAT = "Cisco Tomcat"


async def test_probe_reads_each_key_on_the_same_listener(lab: LabHandle) -> None:
    cluster = lab.lab.cluster
    for host, purpose, port in (
        ("cucm-sub1", "tomcat", 8443),
        ("cucm-sub1", "tomcat-ECDSA", 8443),
        ("imp-pub", "tomcat-ECDSA", 8443),
        ("cucm-sub1", "CallManager", 5061),
        ("cucm-sub1", "CallManager-ECDSA", 5061),
    ):
        node = cluster.node(host)
        entry = lab.cluster_entry.node(host)
        used, probe = await probe_purpose(
            lab.cluster_entry,
            entry,
            lab.endpoint(host),
            purpose,  # type: ignore[arg-type]
        )
        assert used == port
        assert probe.fingerprint_sha256 == pki.fingerprint(node.active[purpose].cert), purpose
        assert node.fqdn in probe.san_dns


async def test_an_installed_ecdsa_certificate_verifies_once_tomcat_restarted(
    lab: LabHandle,
) -> None:
    running = lab.lab
    new, root = install_cert(running, "tomcat-ECDSA")
    ep = lab.endpoint("cucm-sub2")
    before = await probe_tls(ep, 8443, [root], ecdsa_only=True)
    assert before.fingerprint_sha256 != new and not before.verified
    await restart(running, "cucm-sub2", TOMCAT)
    after = await probe_tls(ep, 8443, [root], ecdsa_only=True)
    assert after.fingerprint_sha256 == new
    assert after.verified, after.verify_error
    # The default handshake still gets the RSA tomcat certificate.
    rsa = await probe_tls(ep, 8443)
    assert rsa.fingerprint_sha256 == pki.fingerprint(
        running.cluster.node("cucm-sub2").active["tomcat"].cert
    )


async def test_discovery_reads_served_and_installed_ecdsa_certificates(lab: LabHandle) -> None:
    cluster = lab.lab.cluster
    purposes = ["tomcat-ECDSA", "CallManager-ECDSA"]
    snapshot = await discover(lab.inventory, lab.cluster_entry.name, purposes=purposes)  # type: ignore[arg-type]
    for snap in snapshot.nodes:
        node = cluster.node(snap.fqdn)
        assert snap.certificate_errors == {}
        assert snap.certificates["tomcat"].serial_hex == pki.serial_hex(node.active["tomcat"].cert)
        for purpose in purposes:
            if purpose not in node.own:
                assert purpose not in snap.certificates  # IM&P: no CallManager-ECDSA
                continue
            assert snap.certificates[purpose].key_type == "EC"
            assert snap.certificates[purpose].serial_hex == pki.serial_hex(
                node.active[purpose].cert
            )
            assert snap.installed[purpose].serial_hex == pki.serial_hex(node.own[purpose].cert)


async def test_ecdsa_only_handshake_fails_where_the_listener_has_no_ecdsa_identity(
    make_lab: Callable[..., Lab],
) -> None:
    async with make_lab(version="12.5.1.16900-48") as old:
        handle = LabHandle(old)
        assert (await probe_tls(handle.endpoint("cucm-pub"), 8443)).fingerprint_sha256
        with pytest.raises(CucmTlsError, match="TLS handshake on port 8443 failed"):
            await probe_tls(handle.endpoint("cucm-pub"), 8443, ecdsa_only=True)
