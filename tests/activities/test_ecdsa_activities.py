"""tomcat-ECDSA end to end through the activities against a CUCM 14 lab: CSR, CA, upload,
restart, verification."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.cert_paths import choose_path
from activities.clients.ca.local import LocalCa
from activities.clients.pki_validation import validate_signed_certificate
from activities.cluster_models import (
    CertUploadRequest,
    CsrRequest,
    RestartRequest,
    TrustUploadRequest,
    VerifyRequest,
)
from activities.cucm import CucmActivities
from lab import pki, topology
from tests.lab.conftest import LabHandle

#: The default lab runs 14SU3: CSR over REST, the multi-server upload in OS Administration.
PATH = choose_path(topology.load().version)


def activities(lab: LabHandle) -> CucmActivities:
    path = lab.lab.state_dir / "inventory.yaml"
    return CucmActivities(inventory_loader=lambda: path)


async def test_tomcat_ecdsa_csr_sign_upload_restart_verify(lab: LabHandle, tmp_path: Path) -> None:
    env = ActivityEnvironment()
    acts = activities(lab)
    cluster = lab.lab.cluster
    rsa_before = {n.hostname: n.active["tomcat"].cert for n in cluster.nodes}
    corp = LocalCa(tmp_path / "corp-ca", name="corp", key_size=2048)
    fqdns = [n.fqdn for n in lab.cluster_entry.nodes]

    csr = await env.run(
        acts.generate_csr, CsrRequest(cluster="lab", purpose="tomcat-ECDSA", path=PATH)
    )
    assert (csr.info.key_type, csr.info.key_size) == ("EC", 256)
    assert sorted(csr.info.san_dns) == sorted(["cucm-pub-EC-ms.lab.example.com", *fqdns])
    leaf, chain = corp.sign(csr.csr_pem)
    report = validate_signed_certificate(leaf, chain, csr.csr_pem, fqdns, datetime.now(UTC))
    assert report.ok, report.problems

    ca_pems = [corp.intermediate_pem, corp.root_pem]
    await env.run(
        acts.upload_trust,
        TrustUploadRequest(cluster="lab", purpose="tomcat-ECDSA", ca_pems=ca_pems[::-1], path=PATH),
    )
    root = x509.load_pem_x509_certificate(corp.root_pem.encode())
    assert any(e.cert == root for e in cluster.node("cucm-sub2").trust["tomcat-trust"].values())
    done = await env.run(
        acts.upload_certificate,
        CertUploadRequest(
            cluster="lab",
            purpose="tomcat-ECDSA",
            certificate_pem=leaf,
            chain_pems=ca_pems,
            expected_nodes=fqdns,
            path=PATH,
        ),
    )
    assert sorted(done.installed_nodes) == sorted(n.hostname for n in cluster.nodes)
    new = x509.load_pem_x509_certificate(leaf.encode())
    assert isinstance(new.public_key(), ec.EllipticCurvePublicKey)
    assert all(n.own["tomcat-ECDSA"].cert == new for n in cluster.nodes)
    fingerprint = pki.fingerprint(new)

    # What the plan restarts on a 14SU3 subscriber for tomcat-ECDSA.
    sub1 = cluster.node("cucm-sub1")
    for service in ("Cisco Tomcat", "Cisco DRF Local"):
        done_restart = await env.run(
            acts.restart_service,
            RestartRequest(
                cluster="lab",
                node=sub1.fqdn,
                service=service,
                not_before=datetime.now(UTC),
                timeout_seconds=30,
                poll_seconds=0.05,
            ),
        )
        assert not done_restart.already_done
    verified = await env.run(
        acts.verify_node,
        VerifyRequest(
            cluster="lab",
            node=sub1.fqdn,
            purpose="tomcat-ECDSA",
            expected_fingerprint=fingerprint,
            extra_roots_pem=[corp.root_pem],
        ),
    )
    assert verified.ok and verified.port == 8443 and verified.chain_valid
    assert verified.login_page == ""  # the login page is the RSA tomcat's business
    # Installed but not active where Tomcat has not restarted.
    with pytest.raises(ApplicationError, match="not the uploaded certificate"):
        await env.run(
            acts.verify_node,
            VerifyRequest(
                cluster="lab",
                node=cluster.node("cucm-sub2").fqdn,
                purpose="tomcat-ECDSA",
                expected_fingerprint=fingerprint,
                extra_roots_pem=[corp.root_pem],
            ),
        )
    # The RSA tomcat certificate is untouched.
    assert {n.hostname: n.active["tomcat"].cert for n in cluster.nodes} == rsa_before
