"""Tests for activities.clients.pki and pki_validation: parsing, summaries, chains, validation.

All key material is generated at test time. The bad-certificate corpus covers every problem
code the validator can emit; each case asserts the exact set of codes and that the message
names the fault (the missing FQDN, the expired CA, the two key fingerprints).
"""

from __future__ import annotations

import hashlib
import inspect
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from types import ModuleType
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from pydantic import ValidationError

from activities.clients import pki, pki_validation
from activities.clients.pki import (
    CertificateParseError,
    ChainBuildError,
    certificate_info,
    csr_info,
    load_pem_certificates,
    order_chain,
    public_key_fingerprint,
)
from activities.clients.pki_validation import validate_signed_certificate
from activities.models import CertificateInfo, ValidationPolicy, ValidationReport

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
NODES = [
    "cucm-pub.example.com",
    "cucm-sub1.example.com",
    "cucm-sub2.example.com",
    "imp-pub.example.com",
]
SERVER = ExtendedKeyUsageOID.SERVER_AUTH
CLIENT = ExtendedKeyUsageOID.CLIENT_AUTH

# --------------------------------------------------------------------------------------------
# Test PKI factory
# --------------------------------------------------------------------------------------------

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey


@cache
def key(kind: str) -> Any:
    """A private key per kind; ``kind`` is e.g. ``rsa2048-a``, ``ec256``, ``ed25519``."""
    family = kind.split("-", 1)[0]
    if family.startswith("rsa"):
        return rsa.generate_private_key(public_exponent=65537, key_size=int(family[3:]))
    if family == "ec256":
        return ec.generate_private_key(ec.SECP256R1())
    if family == "ec384":
        return ec.generate_private_key(ec.SECP384R1())
    if family == "ec521":
        return ec.generate_private_key(ec.SECP521R1())
    if family == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    raise AssertionError(kind)


def _name(cn: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Example Corp"),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


def _der_len(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def _der_seq(body: bytes) -> bytes:
    return b"\x30" + _der_len(len(body)) + body


_SHA256_RSA = bytes.fromhex("06092a864886f70d01010b")
_SHA1_RSA = bytes.fromhex("06092a864886f70d010105")


def resign_sha1(cert: x509.Certificate, issuer_key: rsa.RSAPrivateKey) -> x509.Certificate:
    """Re-sign an RSA/SHA-256 certificate with SHA-1 (cryptography no longer builds those)."""
    tbs = cert.tbs_certificate_bytes
    assert tbs.count(_SHA256_RSA) == 1
    tbs = tbs.replace(_SHA256_RSA, _SHA1_RSA)
    signature = issuer_key.sign(tbs, padding.PKCS1v15(), hashes.SHA1())  # noqa: S303
    algorithm = _der_seq(_SHA1_RSA + b"\x05\x00")
    bit_string = b"\x03" + _der_len(len(signature) + 1) + b"\x00" + signature
    return x509.load_der_x509_certificate(_der_seq(tbs + algorithm + bit_string))


@dataclass
class Issued:
    """A certificate and the private key of its subject."""

    cert: x509.Certificate
    key: Any

    @property
    def pem(self) -> str:
        return self.cert.public_bytes(serialization.Encoding.PEM).decode()

    @property
    def cn(self) -> str:
        return str(self.cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)


_UNSET: Any = object()


def make_cert(
    cn: str,
    subject_key: Any,
    issuer: Issued | None = None,
    *,
    sans: list[str] | None = _UNSET,
    ca: bool | None = False,
    path_length: int | None = None,
    eku: list[x509.ObjectIdentifier] | None = _UNSET,
    key_usage: dict[str, bool] | None = _UNSET,
    not_before: datetime = NOW - timedelta(days=1),
    not_after: datetime = NOW + timedelta(days=365),
    sign_key: Any = None,
    sha1: bool = False,
) -> Issued:
    """Build a certificate; defaults give a good CUCM leaf (or CA when ``ca=True``)."""
    is_ca = bool(ca)
    if sans is _UNSET:
        sans = None if is_ca else list(NODES)
    if eku is _UNSET:
        eku = None if is_ca else [SERVER, CLIENT]
    if key_usage is _UNSET:
        if is_ca:
            key_usage = {"key_cert_sign": True, "crl_sign": True, "digital_signature": True}
        elif isinstance(subject_key, rsa.RSAPrivateKey):
            key_usage = {"digital_signature": True, "key_encipherment": True}
        else:
            key_usage = {"digital_signature": True}
    public_key = subject_key.public_key()
    issuer_name = issuer.cert.subject if issuer else _name(cn)
    signer = sign_key or (issuer.key if issuer else subject_key)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(issuer_name)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )
    if ca is not None:
        builder = builder.add_extension(
            x509.BasicConstraints(ca=is_ca, path_length=path_length if is_ca else None),
            critical=True,
        )
    if issuer is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()),
            critical=False,
        )
    if sans is not None:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(n) for n in sans]), critical=False
        )
    if eku is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage(eku), critical=False)
    if key_usage is not None:
        flags = dict.fromkeys(
            [
                "digital_signature",
                "content_commitment",
                "key_encipherment",
                "data_encipherment",
                "key_agreement",
                "key_cert_sign",
                "crl_sign",
                "encipher_only",
                "decipher_only",
            ],
            False,
        )
        flags.update(key_usage)
        builder = builder.add_extension(x509.KeyUsage(**flags), critical=True)
    algorithm = None if isinstance(signer, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    cert = builder.sign(signer, algorithm)
    if sha1:
        cert = resign_sha1(cert, signer)
    return Issued(cert, subject_key)


def make_csr(
    subject_key: Any, cn: str = "cucm-pub-ms.example.com", sans: list[str] | None = None
) -> str:
    """A PEM CSR like the publisher's multi-server CSR."""
    builder = x509.CertificateSigningRequestBuilder().subject_name(_name(cn))
    builder = builder.add_extension(
        x509.SubjectAlternativeName([x509.DNSName(n) for n in (sans or NODES)]), critical=False
    )
    algorithm = None if isinstance(subject_key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    csr = builder.sign(subject_key, algorithm)
    return csr.public_bytes(serialization.Encoding.PEM).decode()


def bundle(*items: Issued) -> str:
    return "".join(i.pem for i in items)


@dataclass
class Pki:
    """The standard test hierarchy: root → intermediate, plus a second unrelated root."""

    root: Issued
    inter: Issued
    other_root: Issued
    ec_root: Issued
    ec_inter: Issued
    csr_key: Any = field(default=None)

    def leaf(self, key_kind: str = "rsa2048-leaf", issuer: Issued | None = _UNSET, **kw: Any):
        return make_cert(
            "cucm-pub-ms.example.com",
            key(key_kind),
            self.inter if issuer is _UNSET else issuer,
            **kw,
        )

    def validate(
        self,
        leaf: Issued | str | bytes,
        chain: list[Issued] | str | None = _UNSET,
        *,
        csr_kind: str = "rsa2048-leaf",
        csr_pem: str | None = None,
        expected: list[str] | None = None,
        policy: ValidationPolicy | None = None,
    ) -> ValidationReport:
        if chain is _UNSET:
            chain = [self.inter, self.root]
        chain_pem = bundle(*chain) if isinstance(chain, list) else chain
        cert_pem = leaf.pem if isinstance(leaf, Issued) else leaf
        return validate_signed_certificate(
            cert_pem,
            chain_pem,
            csr_pem or make_csr(key(csr_kind)),
            NODES if expected is None else expected,
            NOW,
            policy or ValidationPolicy(),
        )


@pytest.fixture(scope="session")
def p() -> Pki:
    root = make_cert(
        "Example Root CA",
        key("rsa2048-root"),
        ca=True,
        path_length=1,
        not_before=NOW - timedelta(days=3000),
        not_after=NOW + timedelta(days=3000),
    )
    inter = make_cert(
        "Example Issuing CA",
        key("rsa2048-inter"),
        root,
        ca=True,
        path_length=0,
        not_before=NOW - timedelta(days=1000),
        not_after=NOW + timedelta(days=1500),
    )
    other_root = make_cert("Unrelated Root CA", key("rsa2048-other"), ca=True)
    ec_root = make_cert(
        "Example EC Root CA",
        key("ec384-root"),
        ca=True,
        path_length=1,
        not_after=NOW + timedelta(days=3000),
    )
    ec_inter = make_cert(
        "Example EC Issuing CA",
        key("ec256-inter"),
        ec_root,
        ca=True,
        path_length=0,
        not_after=NOW + timedelta(days=1500),
    )
    return Pki(root, inter, other_root, ec_root, ec_inter)


# --------------------------------------------------------------------------------------------
# Parsing
# --------------------------------------------------------------------------------------------


def test_load_pem_bundle_keeps_order(p: Pki) -> None:
    certs = load_pem_certificates(bundle(p.root, p.inter, p.other_root))
    assert [c.subject for c in certs] == [
        p.root.cert.subject,
        p.inter.cert.subject,
        p.other_root.cert.subject,
    ]


def test_load_accepts_der_bytes(p: Pki) -> None:
    der = p.inter.cert.public_bytes(serialization.Encoding.DER)
    assert load_pem_certificates(der) == [p.inter.cert]


def test_load_accepts_pem_as_bytes(p: Pki) -> None:
    assert load_pem_certificates(p.root.pem.encode()) == [p.root.cert]


@pytest.mark.parametrize("encoding", [serialization.Encoding.PEM, serialization.Encoding.DER])
def test_load_accepts_pkcs7_bundles(p: Pki, encoding: serialization.Encoding) -> None:
    data = pkcs7.serialize_certificates([p.inter.cert, p.root.cert], encoding)
    certs = load_pem_certificates(data)
    assert {c.subject for c in certs} == {p.inter.cert.subject, p.root.cert.subject}


@pytest.mark.parametrize(
    "data",
    [
        "",
        "   \n",
        "not a certificate",
        b"\x30\x03\x02\x01\x01",
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        # a real private key (made here, never committed) is not a certificate
        ec.generate_private_key(ec.SECP256R1())
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode(),
    ],
    ids=["empty", "blank", "text", "bad-der", "bad-pem", "key-block"],
)
def test_load_rejects_garbage(data: str | bytes) -> None:
    with pytest.raises(CertificateParseError):
        load_pem_certificates(data)


# --------------------------------------------------------------------------------------------
# Summaries
# --------------------------------------------------------------------------------------------


def test_certificate_info_rsa_leaf(p: Pki) -> None:
    leaf = p.leaf()
    info = certificate_info(leaf.pem)
    der = leaf.cert.public_bytes(serialization.Encoding.DER)
    assert info.subject_cn == "cucm-pub-ms.example.com"
    assert info.subject == "CN=cucm-pub-ms.example.com,O=Example Corp"
    assert info.issuer == "CN=Example Issuing CA,O=Example Corp"
    assert info.serial_hex == format(leaf.cert.serial_number, "x")
    assert info.sha256_fingerprint == hashlib.sha256(der).hexdigest()
    assert info.san_dns == NODES
    assert info.has_san is True
    assert (info.key_type, info.key_size, info.ec_curve) == ("RSA", 2048, None)
    assert info.signature_hash == "sha256"
    assert (info.is_ca, info.self_signed) == (False, False)
    assert info.eku == ["serverAuth", "clientAuth"]
    assert info.key_usage == ["digitalSignature", "keyEncipherment"]
    assert info.not_before == NOW - timedelta(days=1)
    assert info.not_after.tzinfo is not None
    assert (
        info.authority_key_id
        == p.inter.cert.extensions.get_extension_for_class(
            x509.SubjectKeyIdentifier
        ).value.digest.hex()
    )
    assert info.pem == leaf.pem


def test_certificate_info_root_and_ec(p: Pki) -> None:
    root = certificate_info(p.root.cert)
    assert (root.is_ca, root.path_length, root.self_signed) == (True, 1, True)
    assert "keyCertSign" in root.key_usage
    assert root.eku == []
    ec_leaf = p.leaf("ec256-leaf", p.ec_inter)
    info = certificate_info(ec_leaf.cert)
    assert (info.key_type, info.key_size, info.ec_curve) == ("EC", 256, "secp256r1")


def test_certificate_info_names_unknown_eku_by_oid(p: Pki) -> None:
    custom = x509.ObjectIdentifier("1.3.6.1.4.1.99999.1")
    info = certificate_info(p.leaf(eku=[SERVER, custom]).cert)
    assert info.eku == ["serverAuth", "1.3.6.1.4.1.99999.1"]


def test_certificate_info_lists_key_agreement_modifiers(p: Pki) -> None:
    usage = {"digital_signature": True, "key_agreement": True, "encipher_only": True}
    info = certificate_info(p.leaf("ec256-leaf", p.ec_inter, key_usage=usage).cert)
    assert info.key_usage == ["digitalSignature", "keyAgreement", "encipherOnly"]


def test_certificate_info_survives_json_round_trip(p: Pki) -> None:
    info = certificate_info(p.leaf().cert)
    assert CertificateInfo.model_validate_json(info.model_dump_json()) == info


def test_certificate_info_rejects_naive_datetimes(p: Pki) -> None:
    data = certificate_info(p.root.cert).model_dump()
    data["not_after"] = datetime(2030, 1, 1)
    with pytest.raises(ValidationError, match="timezone-aware"):
        CertificateInfo.model_validate(data)


def test_csr_info_pem_and_der() -> None:
    k = key("rsa3072-csr")
    pem = make_csr(k, sans=["a.example.com", "b.example.com"])
    info = csr_info(pem)
    assert info.subject_cn == "cucm-pub-ms.example.com"
    assert info.san_dns == ["a.example.com", "b.example.com"]
    assert (info.key_type, info.key_size) == ("RSA", 3072)
    assert info.public_key_sha256 == public_key_fingerprint(k.public_key())
    assert (info.signature_hash, info.signature_valid) == ("sha256", True)
    der = x509.load_pem_x509_csr(pem.encode()).public_bytes(serialization.Encoding.DER)
    assert csr_info(der).public_key_sha256 == info.public_key_sha256


def test_csr_info_rejects_garbage() -> None:
    with pytest.raises(CertificateParseError):
        csr_info("-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----")


def test_public_key_fingerprint_is_the_same_for_cert_csr_and_key(p: Pki) -> None:
    k = key("rsa2048-leaf")
    leaf = p.leaf()
    csr = make_csr(k)
    expected = public_key_fingerprint(k.public_key())
    assert len(expected) == 64
    assert public_key_fingerprint(leaf.cert) == expected
    assert public_key_fingerprint(leaf.pem) == expected
    assert public_key_fingerprint(csr) == expected
    assert public_key_fingerprint(x509.load_pem_x509_csr(csr.encode())) == expected
    assert public_key_fingerprint(p.root.cert) != expected


# --------------------------------------------------------------------------------------------
# Chain ordering
# --------------------------------------------------------------------------------------------


def test_order_chain_orders_any_permutation_and_ignores_strays(p: Pki) -> None:
    leaf = p.leaf()
    others = [p.root.cert, p.other_root.cert, p.inter.cert, p.root.cert, leaf.cert]
    random.Random(7).shuffle(others)
    assert order_chain(leaf.cert, others) == [leaf.cert, p.inter.cert, p.root.cert]


def test_order_chain_raises_with_partial_chain(p: Pki) -> None:
    leaf = p.leaf()
    with pytest.raises(ChainBuildError) as err:
        order_chain(leaf.cert, [p.inter.cert, p.other_root.cert])
    assert err.value.stuck_at == "CN=Example Issuing CA,O=Example Corp"
    assert err.value.missing_issuer == "CN=Example Root CA,O=Example Corp"
    assert err.value.partial == [leaf.cert, p.inter.cert]


def test_order_chain_prefers_the_issuer_whose_key_verifies(p: Pki) -> None:
    # A re-keyed CA with the same name (CA renewal) must not be picked for the old leaf.
    rekeyed = make_cert("Example Issuing CA", key("rsa2048-rekeyed"), p.root, ca=True)
    leaf = p.leaf()
    assert order_chain(leaf.cert, [rekeyed.cert, p.inter.cert, p.root.cert])[1] == p.inter.cert


def test_self_signed_leaf_is_its_own_chain() -> None:
    leaf = make_cert("lonely.example.com", key("rsa2048-self"))
    assert order_chain(leaf.cert, []) == [leaf.cert]


# --------------------------------------------------------------------------------------------
# Validation: good certificates
# --------------------------------------------------------------------------------------------


def _assert_ok(report: ValidationReport) -> None:
    assert report.problems == []
    assert report.ok is True


def test_rsa_leaf_with_intermediate_is_accepted(p: Pki) -> None:
    leaf = p.leaf()
    report = p.validate(leaf)
    _assert_ok(report)
    assert report.leaf is not None
    assert report.leaf.sha256_fingerprint == leaf.cert.fingerprint(hashes.SHA256()).hex()
    assert [c.subject_cn for c in report.chain] == [
        "cucm-pub-ms.example.com",
        "Example Issuing CA",
        "Example Root CA",
    ]


def test_rsa_leaf_signed_by_root_directly_is_accepted(p: Pki) -> None:
    report = p.validate(p.leaf(issuer=p.root), [p.root])
    _assert_ok(report)
    assert len(report.chain) == 2


@pytest.mark.parametrize("kind", ["ec256-leaf", "ec384-leaf"])
def test_ecdsa_leaf_is_accepted(p: Pki, kind: str) -> None:
    report = p.validate(p.leaf(kind, p.ec_inter), [p.ec_inter, p.ec_root], csr_kind=kind)
    _assert_ok(report)
    assert report.leaf is not None and report.leaf.key_type == "EC"


def test_ecdsa_leaf_from_rsa_root_without_intermediate_is_accepted(p: Pki) -> None:
    _assert_ok(p.validate(p.leaf("ec256-leaf", p.root), [p.root], csr_kind="ec256-leaf"))


def test_trusted_root_completes_a_chain_ending_at_the_intermediate(p: Pki) -> None:
    policy = ValidationPolicy(trusted_roots_pem=[p.other_root.pem, p.root.pem])
    report = p.validate(p.leaf(), [p.inter], policy=policy)
    _assert_ok(report)
    assert report.chain[-1].subject_cn == "Example Root CA"


def test_trusted_root_alone_completes_a_missing_chain(p: Pki) -> None:
    policy = ValidationPolicy(trusted_roots_pem=[p.root.pem])
    _assert_ok(p.validate(p.leaf(issuer=p.root), None, policy=policy))


def test_bundle_pasted_as_the_certificate_is_accepted(p: Pki) -> None:
    report = p.validate(bundle(p.leaf(), p.inter, p.root), None)
    _assert_ok(report)
    assert report.leaf is not None and report.leaf.subject_cn == "cucm-pub-ms.example.com"


def test_leaf_repeated_in_chain_is_ignored(p: Pki) -> None:
    leaf = p.leaf()
    _assert_ok(p.validate(leaf, [leaf, p.inter, p.root]))


def test_der_leaf_and_unordered_pkcs7_chain_are_accepted(p: Pki) -> None:
    leaf = p.leaf()
    p7b = pkcs7.serialize_certificates([p.root.cert, p.inter.cert], serialization.Encoding.PEM)
    report = p.validate(leaf.cert.public_bytes(serialization.Encoding.DER), p7b.decode())
    _assert_ok(report)
    assert len(report.chain) == 3


def test_absent_eku_and_key_usage_mean_unrestricted(p: Pki) -> None:
    _assert_ok(p.validate(p.leaf(eku=None, key_usage=None)))


def test_any_extended_key_usage_is_accepted(p: Pki) -> None:
    _assert_ok(p.validate(p.leaf(eku=[ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE])))


def test_dns_names_match_case_insensitively_and_ignore_trailing_dot(p: Pki) -> None:
    expected = ["CUCM-PUB.example.com.", "cucm-sub1.EXAMPLE.com"]
    _assert_ok(p.validate(p.leaf(), expected=expected))


def test_wildcard_accepted_and_matching_when_policy_allows(p: Pki) -> None:
    leaf = p.leaf(sans=["*.example.com"])
    _assert_ok(p.validate(leaf, policy=ValidationPolicy(allow_wildcard=True)))
    # A wildcard covers one label only.
    report = p.validate(
        leaf, expected=["a.b.example.com"], policy=ValidationPolicy(allow_wildcard=True)
    )
    assert report.codes == ["san-missing"]


def test_policy_can_relax_chain_order(p: Pki) -> None:
    policy = ValidationPolicy(require_chain_order=False)
    _assert_ok(p.validate(p.leaf(), [p.root, p.inter], policy=policy))


def test_not_before_within_clock_skew_tolerance_is_accepted(p: Pki) -> None:
    leaf = p.leaf(not_before=NOW + timedelta(seconds=120))
    _assert_ok(p.validate(leaf))


# --------------------------------------------------------------------------------------------
# Validation: the bad-certificate corpus
# --------------------------------------------------------------------------------------------


@dataclass
class Case:
    """A bad certificate: the exact codes expected and what the primary message must say."""

    build: Callable[[Pki], ValidationReport]
    codes: set[str]
    says: list[str]
    primary: str | None = None  # the code whose message ``says`` checks; default: the only one


def _via(p: Pki, ca: Issued, **leaf_kw: Any) -> ValidationReport:
    """Validate a leaf issued by intermediate ``ca``, chain given as ``ca`` then the root."""
    return p.validate(p.leaf(issuer=ca, **leaf_kw), [ca, p.root])


def _sub_ca(p: Pki, cn: str, **kw: Any) -> Issued:
    """An intermediate under the standard root (``ca=True`` unless overridden)."""
    kw.setdefault("ca", True)
    return make_cert(cn, key(f"rsa2048-{cn}"), p.root, **kw)


def _fp(kind: str) -> str:
    return public_key_fingerprint(key(kind).public_key())[:16]


def _root_expired(p: Pki) -> ValidationReport:
    dead = make_cert(
        "Dead Root CA",
        key("rsa2048-dead"),
        ca=True,
        not_before=NOW - timedelta(days=9000),
        not_after=NOW - timedelta(days=5),
    )
    child = make_cert("Child CA", key("rsa2048-child"), dead, ca=True)
    return p.validate(p.leaf(issuer=child), [child, dead])


BAD_CHAIN = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"

CASES: dict[str, Case] = {
    "key-mismatch": Case(
        lambda p: p.validate(p.leaf("rsa2048-other-leaf")),
        {"key-mismatch"},
        ["CSR generated on the publisher", _fp("rsa2048-leaf"), _fp("rsa2048-other-leaf")],
    ),
    "san-missing": Case(
        lambda p: p.validate(p.leaf(sans=NODES[:2])),
        {"san-missing"},
        ["lacks 2 cluster node(s): cucm-sub2.example.com, imp-pub.example.com"],
    ),
    "cn-only": Case(
        lambda p: p.validate(p.leaf(sans=None)),
        {"cn-only"},
        ["no subjectAltName", "CN=cucm-pub-ms.example.com", "imp-pub.example.com"],
    ),
    "wildcard-san": Case(
        lambda p: p.validate(p.leaf(sans=[*NODES, "*.example.com"])),
        {"wildcard"},
        ["wildcard name(s) *.example.com"],
    ),
    "wildcard-cn": Case(
        lambda p: p.validate(make_cert("*.example.com", key("rsa2048-leaf"), p.inter)),
        {"wildcard"},
        ["wildcard name(s) *.example.com"],
    ),
    "leaf-expired": Case(
        lambda p: p.validate(
            p.leaf(not_before=NOW - timedelta(days=400), not_after=NOW - timedelta(days=2))
        ),
        {"leaf-expired"},
        ["expired on 2026-02-27"],
    ),
    "leaf-not-yet-valid": Case(
        lambda p: p.validate(p.leaf(not_before=NOW + timedelta(days=3))),
        {"leaf-not-yet-valid"},
        ["not valid before 2026-03-04"],
    ),
    "intermediate-expired": Case(
        lambda p: _via(
            p,
            _sub_ca(
                p,
                "Old Issuing CA",
                not_before=NOW - timedelta(days=900),
                not_after=NOW - timedelta(days=1),
            ),
        ),
        {"intermediate-expired"},
        ["intermediate CA 'Old Issuing CA' expired on 2026-02-28"],
    ),
    "root-expired": Case(_root_expired, {"root-expired"}, ["root CA 'Dead Root CA' expired"]),
    "ca-not-yet-valid": Case(
        lambda p: _via(p, _sub_ca(p, "Future CA", not_before=NOW + timedelta(days=1))),
        {"ca-not-yet-valid"},
        ["'Future CA' is not valid before 2026-03-02"],
    ),
    "chain-out-of-order": Case(
        lambda p: p.validate(p.leaf(), [p.root, p.inter]),
        {"chain-out-of-order"},
        [
            "given as 'Example Root CA', 'Example Issuing CA'",
            "'cucm-pub-ms.example.com' → 'Example Issuing CA' → 'Example Root CA'",
        ],
    ),
    "chain-out-of-order-in-bundle": Case(
        lambda p: p.validate(bundle(p.root, p.inter, p.leaf()), None),
        {"chain-out-of-order"},
        ["not in issuer order"],
    ),
    "chain-incomplete": Case(
        lambda p: p.validate(p.leaf(), [p.inter]),
        {"chain-incomplete"},
        ["stops at 'Example Issuing CA'; its issuer (CN=Example Root CA,O=Example Corp)"],
    ),
    "chain-incomplete-no-chain": Case(
        lambda p: p.validate(p.leaf(), None),
        {"chain-incomplete"},
        ["no CA chain was given", "(CN=Example Issuing CA,O=Example Corp)"],
    ),
    "chain-incomplete-wrong-trusted-root": Case(
        lambda p: p.validate(
            p.leaf(), [p.inter], policy=ValidationPolicy(trusted_roots_pem=[p.other_root.pem])
        ),
        {"chain-incomplete"},
        ["its issuer (CN=Example Root CA,O=Example Corp)"],
    ),
    "missing-intermediate": Case(
        lambda p: p.validate(p.leaf(), [p.root]),
        {"missing-intermediate"},
        ["issuer of the leaf (CN=Example Issuing CA,O=Example Corp)", "has 'Example Root CA'"],
    ),
    "chain-unrelated-certificate": Case(
        lambda p: p.validate(p.leaf(), [p.inter, p.root, p.other_root]),
        {"chain-unrelated-certificate"},
        ["contains 'Unrelated Root CA'"],
    ),
    "self-signed-leaf": Case(
        lambda p: p.validate(make_cert("cucm-pub-ms.example.com", key("rsa2048-leaf")), None),
        {"self-signed-leaf"},
        ["'cucm-pub-ms.example.com' is self-signed"],
    ),
    "eku-missing-client-auth": Case(
        lambda p: p.validate(p.leaf(eku=[SERVER])),
        {"eku-missing-client-auth"},
        ["(serverAuth) lacks clientAuth", "FN74345"],
    ),
    "eku-missing-server-auth": Case(
        lambda p: p.validate(p.leaf(eku=[CLIENT])),
        {"eku-missing-server-auth"},
        ["(clientAuth) lacks serverAuth"],
    ),
    "key-usage-missing": Case(
        lambda p: p.validate(p.leaf(key_usage={"digital_signature": True})),
        {"key-usage-missing"},
        ["(digitalSignature) lacks keyEncipherment", "RSA"],
    ),
    "key-too-large": Case(
        lambda p: p.validate(p.leaf("rsa4104-big"), csr_kind="rsa4104-big"),
        {"key-too-large"},
        ["RSA key is 4104 bits", "at most 4096"],
    ),
    "key-too-small": Case(
        lambda p: p.validate(p.leaf("rsa1024-small"), csr_kind="rsa1024-small"),
        {"key-too-small"},
        ["RSA key is 1024 bits", "at least 2048"],
    ),
    "ec-curve-unsupported": Case(
        lambda p: p.validate(
            p.leaf("ec521-leaf", p.ec_inter), [p.ec_inter, p.ec_root], csr_kind="ec521-leaf"
        ),
        {"ec-curve-unsupported"},
        ["curve secp521r1 (521 bits)", "256, 384"],
    ),
    "key-type-unsupported": Case(
        lambda p: p.validate(p.leaf("ed25519-leaf"), csr_kind="ed25519-leaf"),
        {"key-type-unsupported"},
        ["Ed25519PublicKey", "only RSA and EC"],
    ),
    "validity-too-short": Case(
        lambda p: p.validate(p.leaf(not_after=NOW + timedelta(days=10))),
        {"validity-too-short"},
        ["the certificate expires on 2026-03-11", "10 day(s)", "at least 30 days"],
    ),
    "validity-too-short-by-ca": Case(
        lambda p: _via(p, _sub_ca(p, "Short CA", not_after=NOW + timedelta(days=20))),
        {"validity-too-short"},
        ["the CA 'Short CA' expires on 2026-03-21", "20 day(s)"],
    ),
    "signature-invalid": Case(
        lambda p: p.validate(p.leaf(sign_key=key("rsa2048-impostor"))),
        {"signature-invalid"},
        ["signature on 'cucm-pub-ms.example.com' does not verify", "'Example Issuing CA'"],
    ),
    "signature-invalid-intermediate": Case(
        lambda p: _via(p, _sub_ca(p, "Forged CA", sign_key=key("rsa2048-impostor"))),
        {"signature-invalid"},
        ["signature on 'Forged CA' does not verify with the key of its issuer 'Example Root"],
    ),
    "not-a-ca": Case(
        lambda p: _via(p, _sub_ca(p, "Server Not CA", ca=False, key_usage={"key_cert_sign": True})),
        {"not-a-ca"},
        ["'Server Not CA', which issued 'cucm-pub-ms.example.com', is not a CA"],
    ),
    "not-a-ca-no-basic-constraints": Case(
        lambda p: _via(p, _sub_ca(p, "Bare CA", ca=None, key_usage=None)),
        {"not-a-ca"},
        ["'Bare CA'", "basicConstraints CA=true is missing"],
    ),
    "not-a-ca-no-key-cert-sign": Case(
        lambda p: _via(p, _sub_ca(p, "No Sign CA", key_usage={"crl_sign": True})),
        {"not-a-ca"},
        ["'No Sign CA'", "keyUsage lacks keyCertSign"],
    ),
    "hash-weak": Case(
        lambda p: p.validate(p.leaf(sha1=True)),
        {"hash-weak"},
        ["certificate 'cucm-pub-ms.example.com' is signed with SHA1"],
    ),
    "hash-weak-intermediate": Case(
        lambda p: _via(p, _sub_ca(p, "SHA1 Issuing CA", sha1=True)),
        {"hash-weak"},
        ["intermediate CA 'SHA1 Issuing CA' is signed with SHA1"],
    ),
    "certificate-unparsable": Case(
        lambda p: p.validate("this is not a certificate"),
        {"certificate-unparsable"},
        ["signed certificate cannot be read"],
    ),
    "chain-unparsable": Case(
        lambda p: p.validate(p.leaf(), BAD_CHAIN),
        {"chain-unparsable", "chain-incomplete"},
        ["CA chain cannot be read"],
        primary="chain-unparsable",
    ),
    "csr-unparsable": Case(
        lambda p: p.validate(p.leaf(), csr_pem="garbage"),
        {"csr-unparsable"},
        ["CSR cannot be read"],
    ),
}

# Every code the brief requires, plus the extra ones this validator emits.
REQUIRED_CODES = {
    "key-mismatch",
    "san-missing",
    "cn-only",
    "wildcard",
    "leaf-expired",
    "leaf-not-yet-valid",
    "intermediate-expired",
    "chain-out-of-order",
    "chain-incomplete",
    "missing-intermediate",
    "self-signed-leaf",
    "eku-missing-client-auth",
    "eku-missing-server-auth",
    "key-too-large",
    "validity-too-short",
    "signature-invalid",
    "not-a-ca",
    "hash-weak",
}
EXTRA_CODES = {
    "root-expired",
    "ca-not-yet-valid",
    "chain-unrelated-certificate",
    "key-usage-missing",
    "key-too-small",
    "ec-curve-unsupported",
    "key-type-unsupported",
    "certificate-unparsable",
    "chain-unparsable",
    "csr-unparsable",
}


def test_corpus_covers_every_problem_code() -> None:
    covered = set().union(*(case.codes for case in CASES.values()))
    assert covered == REQUIRED_CODES | EXTRA_CODES


def test_every_code_the_validator_can_emit_is_in_the_corpus() -> None:
    source = inspect.getsource(pki_validation)
    emitted = set(re.findall(r'out\.add\(\s*"([a-z-]+)"', source))
    for pair in re.findall(r'"([a-z-]+)" if is_root else "([a-z-]+)"', source):
        emitted |= set(pair)
    assert len(emitted) > 20
    assert emitted == REQUIRED_CODES | EXTRA_CODES


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_certificate_is_refused_with_precise_problem(p: Pki, name: str) -> None:
    case = CASES[name]
    report = case.build(p)
    assert report.ok is False
    assert set(report.codes) == case.codes, [pr.message for pr in report.problems]
    primary_code = case.primary or next(iter(case.codes))
    primary = next(pr for pr in report.problems if pr.code == primary_code)
    for text in case.says:
        assert text in primary.message, (text, primary.message)


def test_all_problems_are_collected_not_just_the_first(p: Pki) -> None:
    leaf = p.leaf(
        "rsa2048-other-leaf",
        sans=NODES[:3],
        eku=[SERVER],
        not_before=NOW - timedelta(days=400),
        not_after=NOW - timedelta(days=1),
        sha1=True,
    )
    report = p.validate(leaf, [p.root, p.inter, p.other_root])
    assert set(report.codes) == {
        "leaf-expired",
        "key-mismatch",
        "san-missing",
        "eku-missing-client-auth",
        "hash-weak",
        "chain-unrelated-certificate",
        "chain-out-of-order",
    }
    missing = next(pr for pr in report.problems if pr.code == "san-missing")
    assert "imp-pub.example.com" in missing.message.split("(SAN has")[0]
    assert "cucm-sub2.example.com" not in missing.message.split("(SAN has")[0]
    assert len(report.chain) == 3


def test_problems_name_the_certificate_they_concern(p: Pki) -> None:
    report = p.validate(p.leaf(), [p.inter, p.root, p.other_root])
    assert report.problems[0].subject == "CN=Unrelated Root CA,O=Example Corp"


def test_min_remaining_days_is_policy(p: Pki) -> None:
    leaf = p.leaf(not_after=NOW + timedelta(days=10))
    _assert_ok(p.validate(leaf, policy=ValidationPolicy(min_remaining_days=7)))


def test_key_size_limits_are_policy(p: Pki) -> None:
    report = p.validate(p.leaf(), policy=ValidationPolicy(max_rsa_key_size=1024))
    assert report.codes == ["key-too-large"]


def test_client_auth_requirement_can_be_disabled(p: Pki) -> None:
    _assert_ok(p.validate(p.leaf(eku=[SERVER]), policy=ValidationPolicy(require_client_auth=False)))


def test_naive_now_is_rejected(p: Pki) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        validate_signed_certificate(
            p.leaf().pem,
            None,
            make_csr(key("rsa2048-leaf")),
            NODES,
            datetime(2026, 1, 1),
        )


@pytest.mark.parametrize("module", [pki, pki_validation])
def test_pki_modules_are_pure(module: ModuleType) -> None:
    source = inspect.getsource(module)
    assert not re.search(r"^\s*(import|from) temporalio", source, re.MULTILINE)
    assert not re.search(r"datetime\.(now|utcnow|today)\(", source)
    assert "open(" not in source
