"""Certificate Management REST: the real client against the lab over sockets.

The journal is the oracle of what happened on the cluster; the TLS probe is the oracle of what
each node serves. The twins run 14SU1 (``REST_RELEASE``): the last release whose REST API
accepts a multi-SAN identity upload (GUI only from 14SU2, [DOC S3]; see test_rest_release.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import secrets
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest
import pytest_asyncio
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from activities.clients.cucm.certmgr import CertMgrClient, CsrResult
from activities.clients.cucm.errors import (
    CucmAuthError,
    CucmBadRequest,
    CucmHttpError,
    CucmIssuerNotTrusted,
    CucmResponseLost,
    CucmStaleCsr,
    CucmTrustDuplicate,
    CucmUnreachable,
)
from activities.clients.cucm.tls import probe_tls
from activities.clients.cucm.transport import BasicAuth
from lab import facts
from lab.faults import Fault
from lab.server import Lab
from lab.timing import FAST, ServiceTiming
from tests.lab.conftest import LabHandle, lab_spec

#: 14SU1: REST serves multi-SAN identity uploads (refused from 14SU2, lab.facts).
REST_RELEASE = "14.0.1.11900-132"
NODES = ["cucm-pub", "cucm-sub1", "cucm-sub2", "imp-pub"]
DOMAIN = "lab.example.com"
TOMCAT = "Cisco Tomcat"


# -- a small test CA ------------------------------------------------------------------------


def _name(cn: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "ucrenew tests"),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


def _pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def _fp(pem: str) -> str:
    return x509.load_pem_x509_certificate(pem.encode()).fingerprint(hashes.SHA256()).hex()


def _serial(pem: str) -> str:
    return format(x509.load_pem_x509_certificate(pem.encode()).serial_number, "x")


def _ca_cert(
    cn: str,
    key: rsa.RSAPrivateKey,
    issuer: tuple[x509.Certificate, rsa.RSAPrivateKey] | None = None,
    not_before: dt.datetime | None = None,
    public_key: rsa.RSAPublicKey | None = None,
) -> x509.Certificate:
    start = not_before or dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    issuer_name, signer = (issuer[0].subject, issuer[1]) if issuer else (_name(cn), key)
    return (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(issuer_name)
        .public_key(public_key or key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(signer, hashes.SHA256())
    )


@dataclasses.dataclass
class SigningCa:
    """Root and issuing intermediate, like the enterprise CA of the tech note."""

    root: x509.Certificate
    root_key: rsa.RSAPrivateKey
    intermediate: x509.Certificate
    intermediate_key: rsa.RSAPrivateKey

    @property
    def root_pem(self) -> str:
        return _pem(self.root)

    @property
    def intermediate_pem(self) -> str:
        return _pem(self.intermediate)

    def issue(self, public_key: object, cn: str, san: Sequence[str], *, days: int = 365) -> str:
        """A server certificate for ``public_key`` signed by the intermediate."""
        now = dt.datetime.now(dt.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name(cn))
            .issuer_name(self.intermediate.subject)
            .public_key(public_key)  # type: ignore[arg-type]
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=days))
            .add_extension(
                x509.SubjectAlternativeName([x509.DNSName(n) for n in san]), critical=False
            )
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(self.intermediate_key, hashes.SHA256())
        )
        return _pem(cert)

    def sign(self, csr_pem: str) -> str:
        """Sign a CSR as a CA would: its subject CN, its SANs, its key."""
        csr = x509.load_pem_x509_csr(csr_pem.encode())
        cn = csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
        san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        return self.issue(csr.public_key(), str(cn), san.get_values_for_type(x509.DNSName))

    @property
    def chain(self) -> list[str]:
        return [self.intermediate_pem, self.root_pem]


@pytest_asyncio.fixture(loop_scope="session")
async def lab(tmp_path: Path) -> AsyncIterator[LabHandle]:
    """A fresh 14SU1 lab (fast timing) for one test."""
    async with Lab(lab_spec(version=REST_RELEASE), tmp_path / "lab", FAST) as running:
        yield LabHandle(running)


@pytest.fixture(scope="session")
def ca() -> SigningCa:
    root_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    root = _ca_cert("ucrenew Test Root CA", root_key)
    inter_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    inter = _ca_cert("ucrenew Test Issuing CA", inter_key, issuer=(root, root_key))
    return SigningCa(root, root_key, inter, inter_key)


# -- helpers --------------------------------------------------------------------------------


def client(
    h: LabHandle, hostname: str, auth: BasicAuth | None = None, **kw: object
) -> CertMgrClient:
    endpoint = h.endpoint(hostname)
    if kw:
        endpoint = dataclasses.replace(endpoint, **kw)  # type: ignore[arg-type]
    # reads=None: these tests look at each answer of the lab, not at the client's repeats.
    return CertMgrClient(endpoint, auth or h.os_admin, reads=None)


def csr_names(csr_pem: str) -> tuple[str, list[str]]:
    csr = x509.load_pem_x509_csr(csr_pem.encode())
    cn = str(csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)
    san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return cn, list(san.get_values_for_type(x509.DNSName))


def installed_fp(h: LabHandle, hostname: str, purpose: str = "tomcat") -> str:
    return h.lab.cluster.node(hostname).own[purpose].cert.fingerprint(hashes.SHA256()).hex()


def journal(h: LabHandle, kind: str, since: int = 0) -> list[dict[str, object]]:
    return [{"node": e.node, **e.data} for e in h.lab.journal.entries(kind, since=since)]


async def trust_ca(h: LabHandle, ca: SigningCa, hostname: str = "cucm-pub") -> None:
    async with client(h, hostname) as c:
        for pem in (ca.root_pem, ca.intermediate_pem):
            with contextlib.suppress(CucmTrustDuplicate):
                await c.upload_trust(["tomcat"], [pem], "test CA")


async def multi_server_csr(h: LabHandle) -> CsrResult:
    async with client(h, "cucm-pub") as c:
        return await c.generate_csr("tomcat", multi_server=True)


async def wait_status(h: LabHandle, hostname: str, statuses: set[str], timeout: float = 5) -> None:
    svc = h.lab.cluster.node(hostname).services[TOMCAT]
    deadline = time.monotonic() + timeout
    while svc.status not in statuses:
        assert time.monotonic() < deadline, f"{hostname} Tomcat never reached {statuses}"
        await asyncio.sleep(0.005)


# -- the full flow --------------------------------------------------------------------------


async def test_multi_server_tomcat_renewal_end_to_end(tmp_path: Path, ca: SigningCa) -> None:
    timing = FAST.model_copy(
        update={"services": {TOMCAT: ServiceTiming(stopping=0.3, starting=0.3)}}
    )
    async with Lab(lab_spec(version=REST_RELEASE), tmp_path / "lab", timing) as running:
        h = LabHandle(running)
        before = {n: (await probe_tls(h.endpoint(n), h.endpoint(n).https_port)) for n in NODES}
        assert all(p.verified and p.subject_cn == f"{n}.{DOMAIN}" for n, p in before.items())

        # CSR on the publisher, exported to every node, SAN covering every node.
        csr = await multi_server_csr(h)
        assert csr.exported_nodes == NODES
        cn, san = csr_names(csr.csr_pem)
        assert cn == facts.MULTI_SERVER_CN.format(host="cucm-pub", domain=DOMAIN)
        assert set(san) >= {f"{n}.{DOMAIN}" for n in NODES}
        leaf = ca.sign(csr.csr_pem)

        # Root, then intermediate, as tomcat-trust: replicated cluster-wide.
        async with client(h, "cucm-pub") as pub:
            root_out = await pub.upload_trust(["tomcat"], [ca.root_pem], "Test root")
            inter_out = await pub.upload_trust(["tomcat"], [ca.intermediate_pem], "Test issuing")
        for out, pem in ((root_out, ca.root_pem), (inter_out, ca.intermediate_pem)):
            assert [(o.store, o.outcome, o.serial) for o in out] == [
                ("tomcat-trust", "added", _serial(pem))
            ]
            assert sorted(out[0].nodes) == sorted(NODES)
        async with client(h, "cucm-sub2") as sub:
            sub_trust = {_fp(t.certificate_pem): t for t in await sub.list_trust("tomcat")}
        assert _fp(ca.root_pem) in sub_trust
        assert sub_trust[_fp(ca.intermediate_pem)].description == "Test issuing"
        assert sub_trust[_fp(ca.intermediate_pem)].subject == "ucrenew Test Issuing CA"

        # Identity upload: installed everywhere, served nowhere yet.
        since = h.lab.journal.last_seq
        async with client(h, "cucm-pub") as pub:
            result = await pub.upload_identity("tomcat", [leaf, *ca.chain])
        assert result.installed_nodes == NODES
        uploads = journal(h, "identity.uploaded", since)
        assert len(uploads) == 1
        assert uploads[0]["nodes"] == NODES and uploads[0]["fingerprint"] == _fp(leaf)
        for n in NODES:
            async with client(h, n) as c:
                assert _fp(await c.get_identity("tomcat")) == _fp(leaf)
            probe = await probe_tls(h.endpoint(n), h.endpoint(n).https_port, (ca.root_pem,))
            assert probe.fingerprint_sha256 == before[n].fingerprint_sha256

        # CSCur97909: the old self-signed certificates stay in tomcat-trust.
        async with client(h, "cucm-pub") as pub:
            trusted = {_fp(t.certificate_pem) for t in await pub.list_trust("tomcat")}
        assert {p.fingerprint_sha256 for p in before.values()} <= trusted

        # Each node serves the new certificate only once its own Tomcat restarted.
        for i, n in enumerate(NODES):
            ep = h.endpoint(n)
            for later in NODES[i:]:
                still = await probe_tls(h.endpoint(later), h.endpoint(later).https_port)
                assert still.fingerprint_sha256 == before[later].fingerprint_sha256
            node = h.lab.cluster.node(n)
            svc = h.lab.cluster.control(node, TOMCAT, "restart", "test")
            await wait_status(h, n, {"Stopped", "Starting"})
            for port in (ep.https_port, ep.rest_port):
                with pytest.raises(CucmUnreachable):
                    await probe_tls(ep, port)
            assert svc.task is not None
            await svc.task
            for port in (ep.https_port, ep.rest_port):
                after = await probe_tls(ep, port, (ca.root_pem,))
                assert after.fingerprint_sha256 == _fp(leaf)
                assert after.verified and after.chain_verified and after.hostname_matched
                assert after.verify_error is None
                assert f"{n}.{DOMAIN}" in after.san_dns
                assert after.issuer_cn == "ucrenew Test Issuing CA"
        activated = journal(h, "cert.activated")
        assert [e["node"] for e in activated] == NODES
        assert {e["fingerprint"] for e in activated} == {_fp(leaf)}

        # REST keeps working over the new certificate for a client that trusts the new root.
        ep = dataclasses.replace(h.endpoint("cucm-sub1"), extra_ca_pem=(ca.root_pem,))
        async with CertMgrClient(ep, h.os_admin) as c:
            assert _fp(await c.get_identity("tomcat")) == _fp(leaf)


# -- authentication and request errors ------------------------------------------------------


async def test_wrong_credentials_are_401(lab: LabHandle) -> None:
    wrong = BasicAuth(lab.os_admin.username, "not-the-password")
    async with client(lab, "cucm-pub", wrong) as c:
        with pytest.raises(CucmAuthError) as err:
            await c.generate_csr("tomcat", multi_server=True)
    assert not err.value.retryable
    # The application user (AXL, serviceability) is not a platform account.
    async with client(lab, "cucm-sub1", lab.app_user) as c:
        with pytest.raises(CucmAuthError):
            await c.list_trust("tomcat")
    assert journal(lab, "csr.generated") == []


async def test_unknown_service_is_refused(lab: LabHandle) -> None:
    async with client(lab, "cucm-pub") as c:
        with pytest.raises(CucmBadRequest) as err:
            await c.get_identity("no-such-purpose")
        assert err.value.status == 400 and not err.value.retryable
        with pytest.raises(CucmBadRequest):
            await c.list_trust("no-such-purpose")
        with pytest.raises(CucmBadRequest):
            await c.generate_csr("cup-xmpp", multi_server=False)  # IM&P purpose on CUCM
    async with client(lab, "imp-pub") as c:
        assert "BEGIN CERTIFICATE" in await c.get_identity("cup-xmpp")


async def test_identity_before_trust_is_issuer_not_trusted(lab: LabHandle, ca: SigningCa) -> None:
    csr = await multi_server_csr(lab)
    leaf = ca.sign(csr.csr_pem)
    old = {n: installed_fp(lab, n) for n in NODES}
    async with client(lab, "cucm-pub") as pub:
        with pytest.raises(CucmIssuerNotTrusted) as err:
            await pub.upload_identity("tomcat", [leaf, *ca.chain])
        assert err.value.status == 400 and not err.value.retryable
        # Root alone is not enough: the issuing intermediate is missing.
        await pub.upload_trust(["tomcat"], [ca.root_pem], "root only")
        with pytest.raises(CucmIssuerNotTrusted):
            await pub.upload_identity("tomcat", [leaf, *ca.chain])
        snap = await pub.snapshot()
    assert journal(lab, "identity.uploaded") == []
    assert {n: installed_fp(lab, n) for n in NODES} == old
    pending = snap.identity("tomcat")
    assert pending is not None and pending.csr_pem == csr.csr_pem


async def test_stale_csr_is_500(lab: LabHandle, ca: SigningCa) -> None:
    csr = await multi_server_csr(lab)
    leaf = ca.sign(csr.csr_pem)
    await trust_ca(lab, ca)
    lab.lab.cluster.regenerate_pending_csr(lab.lab.cluster.publisher, "tomcat")
    async with client(lab, "cucm-pub") as pub:
        with pytest.raises(CucmStaleCsr) as err:
            await pub.upload_identity("tomcat", [leaf, *ca.chain])
    assert err.value.status == 500 and not err.value.retryable
    assert journal(lab, "identity.uploaded") == []
    # A fresh CSR signed again goes in.
    csr = await multi_server_csr(lab)
    async with client(lab, "cucm-pub") as pub:
        result = await pub.upload_identity("tomcat", [ca.sign(csr.csr_pem), *ca.chain])
    assert result.installed_nodes == NODES


async def test_certificate_for_another_key_is_stale(lab: LabHandle, ca: SigningCa) -> None:
    csr = await multi_server_csr(lab)
    _, san = csr_names(csr.csr_pem)
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    wrong = ca.issue(other.public_key(), "cucm-pub-ms." + DOMAIN, san)
    await trust_ca(lab, ca)
    async with client(lab, "cucm-pub") as pub:
        with pytest.raises(CucmStaleCsr):
            await pub.upload_identity("tomcat", [wrong, *ca.chain])
    assert journal(lab, "identity.uploaded") == []


async def test_wildcard_certificate_is_refused(lab: LabHandle, ca: SigningCa) -> None:
    csr = await multi_server_csr(lab)
    key = x509.load_pem_x509_csr(csr.csr_pem.encode()).public_key()
    wildcard = ca.issue(key, "*." + DOMAIN, ["*." + DOMAIN])
    await trust_ca(lab, ca)
    async with client(lab, "cucm-pub") as pub:
        with pytest.raises(CucmBadRequest) as err:
            await pub.upload_identity("tomcat", [wildcard, *ca.chain])
    assert not isinstance(err.value, CucmIssuerNotTrusted)
    assert "wildcard" in str(err.value).lower()
    assert journal(lab, "identity.uploaded") == []


async def test_keys_over_4096_bits_are_refused(lab: LabHandle, ca: SigningCa) -> None:
    # A public key needs no primes: a 4200-bit odd modulus makes an oversize key instantly.
    n = (1 << 4199) | (secrets.randbits(4198) << 1) | 1
    big = rsa.RSAPublicNumbers(65537, n).public_key()
    big_ca = _pem(
        _ca_cert("Oversize CA", ca.root_key, issuer=(ca.root, ca.root_key), public_key=big)
    )
    await trust_ca(lab, ca)
    async with client(lab, "cucm-pub") as pub:
        with pytest.raises(CucmBadRequest, match="4096"):
            await pub.upload_trust(["tomcat"], [big_ca], "too big")
        with pytest.raises(CucmBadRequest):
            await pub.generate_csr("tomcat", multi_server=True, key_length=8192)
        csr = await pub.generate_csr("tomcat", multi_server=True)
        _, san = csr_names(csr.csr_pem)
        with pytest.raises(CucmBadRequest, match="4096"):
            await pub.upload_identity("tomcat", [ca.issue(big, "big", san), *ca.chain])
    assert [e["subject"] for e in journal(lab, "trust.uploaded")] == [
        "ucrenew Test Root CA",
        "ucrenew Test Issuing CA",
    ]
    assert journal(lab, "identity.uploaded") == []


async def test_non_pem_garbage_is_refused(lab: LabHandle) -> None:
    async with client(lab, "cucm-pub") as pub:
        with pytest.raises(CucmBadRequest) as err:
            await pub.upload_trust(["tomcat"], ["this is not a certificate"], "junk")
        assert not isinstance(err.value, CucmTrustDuplicate)
        assert "PEM or DER" in str(err.value)
        await pub.generate_csr("tomcat", multi_server=True)
        with pytest.raises(CucmBadRequest) as err2:
            await pub.upload_identity("tomcat", ["-----BEGIN CERTIFICATE-----\nAAAA\n"])
        assert not isinstance(err2.value, CucmIssuerNotTrusted)
    assert journal(lab, "trust.uploaded") == []
    assert journal(lab, "identity.uploaded") == []


# -- trust store rules ----------------------------------------------------------------------


async def test_duplicate_trust_upload(lab: LabHandle, ca: SigningCa) -> None:
    async with client(lab, "cucm-pub") as pub:
        first = await pub.upload_trust(["tomcat"], [ca.root_pem], "root")
        assert [o.outcome for o in first] == ["added"]
        with pytest.raises(CucmTrustDuplicate) as err:
            await pub.upload_trust(["tomcat"], [ca.root_pem], "root again")
        assert err.value.status == 400 and not err.value.retryable
        # Mixed: the existing one is an outcome, the new one goes in.
        mixed = await pub.upload_trust(["tomcat"], [ca.root_pem, ca.intermediate_pem], "chain")
    assert [(o.subject, o.outcome) for o in mixed] == [
        ("ucrenew Test Root CA", "exists"),
        ("ucrenew Test Issuing CA", "added"),
    ]
    assert mixed[0].nodes == ["cucm-pub"] and sorted(mixed[1].nodes) == sorted(NODES)
    outcomes = [(e["subject"], e["outcome"]) for e in journal(lab, "trust.uploaded")]
    assert outcomes == [
        ("ucrenew Test Root CA", "added"),
        ("ucrenew Test Root CA", "exists"),
        ("ucrenew Test Root CA", "exists"),
        ("ucrenew Test Issuing CA", "added"),
    ]
    async with client(lab, "imp-pub") as imp:
        roots = [t for t in await imp.list_trust("tomcat") if t.subject == "ucrenew Test Root CA"]
    assert len(roots) == 1 and roots[0].description == "root"


async def test_same_subject_trust_keeps_the_later_validity_start(lab: LabHandle) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = dt.datetime.now(dt.UTC)
    current = _pem(_ca_cert("Rolling Root", key, not_before=now - dt.timedelta(days=5)))
    older = _pem(_ca_cert("Rolling Root", key, not_before=now - dt.timedelta(days=50)))
    newer = _pem(_ca_cert("Rolling Root", key, not_before=now - dt.timedelta(hours=2)))

    async def rolling(hostname: str) -> list[str]:
        async with client(lab, hostname) as c:
            return [
                _fp(t.certificate_pem)
                for t in await c.list_trust("tomcat")
                if t.subject == "Rolling Root"
            ]

    async with client(lab, "cucm-pub") as pub:
        assert [o.outcome for o in await pub.upload_trust(["tomcat"], [current], "v1")] == ["added"]
        not_applied = await pub.upload_trust(["tomcat"], [older], "v0")
        assert [o.outcome for o in not_applied] == ["not-applied"]
        assert await rolling("cucm-pub") == [_fp(current)]
        replaced = await pub.upload_trust(["tomcat"], [newer], "v2")
        assert [o.outcome for o in replaced] == ["replaced"]
    for n in NODES:
        assert await rolling(n) == [_fp(newer)], n


# -- topology: publisher vs subscriber, PAWS ------------------------------------------------


async def test_multi_server_csr_on_a_subscriber_is_refused(lab: LabHandle) -> None:
    async with client(lab, "cucm-sub1") as sub:
        with pytest.raises(CucmBadRequest, match="publisher"):
            await sub.generate_csr("tomcat", multi_server=True)
    assert journal(lab, "csr.generated") == []


async def test_single_server_csr_on_a_subscriber(lab: LabHandle, ca: SigningCa) -> None:
    pub_before = installed_fp(lab, "cucm-pub")
    async with client(lab, "cucm-sub1") as sub:
        csr = await sub.generate_csr("tomcat", multi_server=False)
        assert csr.exported_nodes == ["cucm-sub1"]
        assert csr_names(csr.csr_pem) == (f"cucm-sub1.{DOMAIN}", [f"cucm-sub1.{DOMAIN}"])
        await sub.upload_trust(["tomcat"], [ca.root_pem, ca.intermediate_pem], "CA")
        leaf = ca.sign(csr.csr_pem)
        result = await sub.upload_identity("tomcat", [leaf, *ca.chain])
        assert result.installed_nodes == ["cucm-sub1"]
        assert _fp(await sub.get_identity("tomcat")) == _fp(leaf)
    assert installed_fp(lab, "cucm-pub") == pub_before
    assert [e["nodes"] for e in journal(lab, "identity.uploaded")] == [["cucm-sub1"]]


async def test_paws_down_node_is_left_out_of_export_and_upload(
    lab: LabHandle, ca: SigningCa
) -> None:
    await lab.lab.add_fault(Fault(kind="paws-down", node="cucm-sub2"))
    async with client(lab, "cucm-sub2") as down:
        with pytest.raises(CucmHttpError) as err:
            await down.list_trust("tomcat")
    assert err.value.status == facts.REST_PAWS_DOWN_STATUS and err.value.retryable
    old_sub2 = installed_fp(lab, "cucm-sub2")

    csr = await multi_server_csr(lab)
    assert csr.exported_nodes == ["cucm-pub", "cucm-sub1", "imp-pub"]
    assert f"cucm-sub2.{DOMAIN}" in csr_names(csr.csr_pem)[1]  # still in the SAN
    await trust_ca(lab, ca)
    async with client(lab, "cucm-pub") as pub:
        result = await pub.upload_identity("tomcat", [ca.sign(csr.csr_pem), *ca.chain])
    assert result.installed_nodes == ["cucm-pub", "cucm-sub1", "imp-pub"]
    assert journal(lab, "identity.uploaded")[0]["nodes"] == result.installed_nodes
    await lab.lab.clear_faults()
    async with client(lab, "cucm-sub2") as sub2:
        assert _fp(await sub2.get_identity("tomcat")) == old_sub2


async def test_paws_down_at_upload_time_skips_that_node(lab: LabHandle, ca: SigningCa) -> None:
    csr = await multi_server_csr(lab)
    assert csr.exported_nodes == NODES
    await trust_ca(lab, ca)
    await lab.lab.add_fault(Fault(kind="paws-down", node="imp-pub"))
    async with client(lab, "cucm-pub") as pub:
        result = await pub.upload_identity("tomcat", [ca.sign(csr.csr_pem), *ca.chain])
    assert result.installed_nodes == ["cucm-pub", "cucm-sub1", "cucm-sub2"]
    await lab.lab.clear_faults()
    async with client(lab, "imp-pub") as imp:
        snap = await imp.snapshot()
    identity = snap.identity("tomcat")
    assert identity is not None and identity.csr_pem == csr.csr_pem  # still pending there
    assert identity.certificate_pem is not None
    assert _fp(identity.certificate_pem) == installed_fp(lab, "imp-pub")
    assert installed_fp(lab, "imp-pub") != installed_fp(lab, "cucm-pub")


async def test_snapshot_shows_pending_csr_and_trust(lab: LabHandle, ca: SigningCa) -> None:
    async with client(lab, "cucm-sub1") as sub:
        snap = await sub.snapshot()
        assert snap.server == "cucm-sub1"
        tomcat = snap.identity("tomcat")
        assert tomcat is not None and tomcat.csr_pem is None
        assert tomcat.certificate_pem is not None
        assert _fp(tomcat.certificate_pem) == installed_fp(lab, "cucm-sub1")
        store = snap.trust("tomcat-trust")
        assert store is not None
        assert all(c.file_name.startswith("tomcat-trust/") for c in store.certificates)
        # The self-signed tomcat certificate of every node, trusted since install.
        self_signed = {installed_fp(lab, n) for n in NODES}
        assert self_signed <= {_fp(c.certificate_pem) for c in store.certificates}
    csr = await multi_server_csr(lab)
    async with client(lab, "cucm-sub1") as sub:
        exported = (await sub.snapshot()).identity("tomcat")
    assert exported is not None and exported.csr_pem == csr.csr_pem
    # A CSR for the ECDSA purpose shows up with its self-signed certificate (14+).
    async with client(lab, "cucm-sub1") as sub:
        ec = await sub.generate_csr(
            "tomcat-ECDSA", multi_server=False, key_type="ec", key_length=256
        )
        ecdsa = (await sub.snapshot()).identity("tomcat-ECDSA")
    own = lab.lab.cluster.node("cucm-sub1").own["tomcat-ECDSA"]
    assert ecdsa is not None and ecdsa.csr_pem == ec.csr_pem
    assert ecdsa.certificate_pem == own.pem


# -- faults ---------------------------------------------------------------------------------


async def test_http_error_is_retryable_then_succeeds(lab: LabHandle) -> None:
    await lab.lab.add_fault(
        Fault(kind="http-error", node="cucm-pub", target="rest", rate=1.0, count=1)
    )
    async with client(lab, "cucm-pub") as pub:
        with pytest.raises(CucmHttpError) as err:
            await pub.generate_csr("tomcat", multi_server=True)
        assert err.value.status >= 500 and err.value.retryable
        assert not isinstance(err.value, CucmBadRequest | CucmStaleCsr)
        csr = await pub.generate_csr("tomcat", multi_server=True)
    assert csr.exported_nodes == NODES
    assert len(journal(lab, "csr.generated")) == 1


async def test_latency_delays_and_can_time_out(lab: LabHandle) -> None:
    await lab.lab.add_fault(
        Fault(kind="latency", node="cucm-sub1", target="rest", count=1, params={"seconds": 0.4})
    )
    async with client(lab, "cucm-sub1") as sub:
        start = time.monotonic()
        assert await sub.list_trust("tomcat")
        assert time.monotonic() - start >= 0.4
        start = time.monotonic()
        await sub.list_trust("tomcat")
        assert time.monotonic() - start < 0.4
    await lab.lab.add_fault(
        Fault(kind="latency", node="cucm-sub1", target="rest", count=1, params={"seconds": 1.0})
    )
    async with client(lab, "cucm-sub1", timeout=0.2) as impatient:
        with pytest.raises(CucmResponseLost):
            await impatient.list_trust("tomcat")


async def test_response_lost_on_identity_upload(lab: LabHandle, ca: SigningCa) -> None:
    csr = await multi_server_csr(lab)
    leaf = ca.sign(csr.csr_pem)
    await trust_ca(lab, ca)
    await lab.lab.add_fault(
        Fault(kind="response-lost", node="cucm-pub", target="upload-identity", count=1)
    )
    async with client(lab, "cucm-pub") as pub:
        with pytest.raises(CucmResponseLost):
            await pub.upload_identity("tomcat", [leaf, *ca.chain])
    uploads = journal(lab, "identity.uploaded")
    assert len(uploads) == 1 and uploads[0]["fingerprint"] == _fp(leaf)
    assert uploads[0]["nodes"] == NODES
    fired = [e for e in journal(lab, "fault.fired") if e["kind"] == "response-lost"]
    assert fired == [{"node": "cucm-pub", "kind": "response-lost", "operation": "upload-identity"}]
    # The caller checks state before retrying: the certificate is installed everywhere.
    for n in NODES:
        async with client(lab, n) as c:
            assert _fp(await c.get_identity("tomcat")) == _fp(leaf)
    # A blind retry is refused (nothing pending any more) and applies nothing twice.
    async with client(lab, "cucm-pub") as pub:
        with pytest.raises(CucmStaleCsr):
            await pub.upload_identity("tomcat", [leaf, *ca.chain])
    assert len(journal(lab, "identity.uploaded")) == 1


async def test_response_lost_on_csr_still_exports(lab: LabHandle) -> None:
    await lab.lab.add_fault(Fault(kind="response-lost", node="cucm-pub", target="csr", count=1))
    async with client(lab, "cucm-pub") as pub:
        with pytest.raises(CucmResponseLost):
            await pub.generate_csr("tomcat", multi_server=True)
        snap = await pub.snapshot()
    generated = journal(lab, "csr.generated")
    assert len(generated) == 1 and generated[0]["exported"] == NODES
    pending = snap.identity("tomcat")
    assert pending is not None and pending.csr_pem is not None


async def test_operation_hang_holds_the_csr_until_cleared(lab: LabHandle) -> None:
    """``operation-hang`` holds the CSR before it takes effect (a node slow to generate and
    export it); once cleared the CSR is generated and exported as usual."""
    fault = await lab.lab.add_fault(Fault(kind="operation-hang", node="cucm-pub", target="csr"))
    async with client(lab, "cucm-pub") as pub:
        task = asyncio.create_task(pub.generate_csr("tomcat", multi_server=True))
        while not journal(lab, "fault.fired"):
            await asyncio.sleep(0.02)
        assert journal(lab, "fault.fired") == [
            {"node": "cucm-pub", "kind": "operation-hang", "operation": "csr"}
        ]
        assert not task.done() and not journal(lab, "csr.generated")
        await lab.lab.clear_faults(fault.id)
        result = await task
    assert result.exported_nodes == NODES
    assert len(journal(lab, "csr.generated")) == 1


async def test_unreachable_node(lab: LabHandle) -> None:
    await lab.lab.add_fault(Fault(kind="unreachable", node="cucm-sub2"))
    ep = lab.endpoint("cucm-sub2")
    async with client(lab, "cucm-sub2") as sub:
        with pytest.raises(CucmUnreachable) as err:
            await sub.list_trust("tomcat")
        assert not isinstance(err.value, CucmResponseLost)
        assert err.value.node == f"cucm-sub2.{DOMAIN}" and err.value.retryable
    with pytest.raises(CucmUnreachable):
        await probe_tls(ep, ep.https_port)
    # The multi-server export skips the unreachable node.
    assert (await multi_server_csr(lab)).exported_nodes == ["cucm-pub", "cucm-sub1", "imp-pub"]
    await lab.lab.clear_faults()
    async with client(lab, "cucm-sub2") as sub:
        assert await sub.list_trust("tomcat")


# -- the TLS probe --------------------------------------------------------------------------


async def test_probe_reports_what_is_wrong(lab: LabHandle) -> None:
    ep = lab.endpoint("cucm-sub1")
    served = lab.lab.cluster.node("cucm-sub1").active["tomcat"].cert
    served_fp = served.fingerprint(hashes.SHA256()).hex()

    ok = await probe_tls(ep, ep.https_port)
    assert ok.verified and ok.fingerprint_sha256 == served_fp
    assert ok.serial == format(served.serial_number, "x")

    # Not trusted: the system roots do not know the node's self-signed certificate.
    untrusted = await probe_tls(dataclasses.replace(ep, ca_file=None), ep.https_port)
    assert not untrusted.verified and not untrusted.chain_verified
    assert untrusted.hostname_matched
    assert untrusted.verify_error and "self-signed" in untrusted.verify_error
    assert untrusted.fingerprint_sha256 == served_fp

    # Trusted chain, wrong name: we asked for cucm-sub2 but reached cucm-sub1.
    wrong_name = dataclasses.replace(ep, fqdn=f"cucm-sub2.{DOMAIN}")
    mismatch = await probe_tls(wrong_name, ep.https_port)
    assert mismatch.chain_verified and not mismatch.hostname_matched and not mismatch.verified
    assert mismatch.verify_error and "mismatch" in mismatch.verify_error.lower()
    assert mismatch.fingerprint_sha256 == served_fp
