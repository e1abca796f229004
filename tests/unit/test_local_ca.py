"""Tests for the built-in local CA (activities.clients.ca.local)."""

from __future__ import annotations

import stat
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from activities.clients.ca.base import CertificateAuthority
from activities.clients.ca.errors import CaConfigurationError, CaRequestDenied, CaRequestNotFound
from activities.clients.ca.local import LocalCa
from activities.clients.pki import certificate_info, is_self_signed, load_pem_certificates
from activities.clients.pki_validation import validate_signed_certificate
from activities.models import CaProfile, ValidationPolicy

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
NODES = ["cucm-pub.example.com", "cucm-sub1.example.com", "imp-pub.example.com"]


def make_csr(key: Any, sans: list[str] | None = None, cn: str = "cucm-pub-ms.example.com") -> str:
    builder = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Example Corp"),
                x509.NameAttribute(NameOID.COMMON_NAME, cn),
            ]
        )
    )
    builder = builder.add_extension(
        x509.SubjectAlternativeName([x509.DNSName(n) for n in (sans or NODES)]), critical=False
    )
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode()


@pytest.fixture(scope="session")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="session")
def ca_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("state") / "ca" / "local"


@pytest.fixture(scope="session")
def ca(ca_dir: Path) -> LocalCa:
    """The production-shaped CA (RSA 3072), created with a fixed clock."""
    authority = LocalCa(ca_dir, clock=lambda: NOW)
    authority.ensure()
    return authority


def _ext(cert: x509.Certificate, cls: type[Any]) -> Any:
    return cert.extensions.get_extension_for_class(cls)


# --------------------------------------------------------------------------------------------
# Creation and persistence
# --------------------------------------------------------------------------------------------


def test_root_is_a_self_signed_ten_year_ca_with_pathlen_1(ca: LocalCa) -> None:
    root = x509.load_pem_x509_certificate(ca.root_pem.encode())
    assert is_self_signed(root)
    bc = _ext(root, x509.BasicConstraints)
    assert bc.critical and bc.value.ca and bc.value.path_length == 1
    assert _ext(root, x509.KeyUsage).value.key_cert_sign
    assert isinstance(root.public_key(), rsa.RSAPublicKey)
    assert root.public_key().key_size == 3072
    lifetime = root.not_valid_after_utc - NOW
    assert timedelta(days=3649) < lifetime <= timedelta(days=3650)
    assert root.not_valid_before_utc <= NOW


def test_intermediate_is_a_five_year_ca_with_pathlen_0_under_the_root(ca: LocalCa) -> None:
    root = x509.load_pem_x509_certificate(ca.root_pem.encode())
    inter = x509.load_pem_x509_certificate(ca.intermediate_pem.encode())
    inter.verify_directly_issued_by(root)
    bc = _ext(inter, x509.BasicConstraints).value
    assert bc.ca and bc.path_length == 0
    assert inter.public_key().key_size == 3072
    assert timedelta(days=1824) < inter.not_valid_after_utc - NOW <= timedelta(days=1825)
    aki = _ext(inter, x509.AuthorityKeyIdentifier).value.key_identifier
    assert aki == _ext(root, x509.SubjectKeyIdentifier).value.digest
    assert ca.chain_pem == ca.intermediate_pem + ca.root_pem


def test_private_keys_are_mode_0600_in_a_private_directory(ca: LocalCa, ca_dir: Path) -> None:
    for name in ("root.key", "intermediate.key"):
        assert stat.S_IMODE((ca_dir / name).stat().st_mode) == 0o600, name
    assert stat.S_IMODE(ca_dir.stat().st_mode) == 0o700


def test_second_instance_loads_the_same_ca(ca: LocalCa, ca_dir: Path) -> None:
    key_before = (ca_dir / "root.key").read_bytes()
    again = LocalCa(ca_dir)
    assert again.root_pem == ca.root_pem
    assert again.intermediate_pem == ca.intermediate_pem
    assert (ca_dir / "root.key").read_bytes() == key_before


def test_separate_cas_have_distinct_names_and_keys(ca: LocalCa, tmp_path: Path) -> None:
    other = LocalCa(tmp_path / "other", key_size=2048)
    mine = certificate_info(ca.root_pem)
    theirs = certificate_info(other.root_pem)
    assert mine.subject != theirs.subject
    assert mine.public_key_sha256 != theirs.public_key_sha256


def test_creates_into_an_existing_empty_directory(tmp_path: Path) -> None:
    target = tmp_path / "ca"
    target.mkdir()
    LocalCa(target, key_size=2048).ensure()
    assert (target / "intermediate.key").is_file()


def test_incomplete_directory_is_a_configuration_error(tmp_path: Path) -> None:
    target = tmp_path / "ca"
    target.mkdir()
    (target / "root.pem").write_text("x")
    with pytest.raises(CaConfigurationError, match=r"lacks root\.key, intermediate\.pem"):
        LocalCa(target, key_size=2048).ensure()


def test_mismatched_key_is_a_configuration_error(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    LocalCa(a, key_size=2048).ensure()
    LocalCa(b, key_size=2048).ensure()
    (a / "intermediate.key").write_bytes((b / "intermediate.key").read_bytes())
    with pytest.raises(CaConfigurationError, match="does not match") as err:
        LocalCa(a).ensure()
    assert "PRIVATE KEY" not in str(err.value)


def test_loser_of_a_creation_race_loads_the_winner(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "ca"
    winner = LocalCa(target, key_size=2048)
    loser = LocalCa(target, key_size=2048)

    def generate_then_lose(staging: Path) -> None:
        LocalCa._generate_into(loser, staging)
        winner.ensure()  # the other process renames its directory into place first

    monkeypatch.setattr(loser, "_generate_into", generate_then_lose)
    assert loser.root_pem == winner.root_pem
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ca"]  # staging dir cleaned up


def test_two_processes_creating_at_once_agree(tmp_path: Path) -> None:
    target = tmp_path / "ca"
    script = (
        "import sys; from activities.clients.ca.local import LocalCa; "
        "from activities.clients.pki import certificate_info; "
        "print(certificate_info(LocalCa(sys.argv[1], key_size=2048).root_pem).sha256_fingerprint)"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, str(target)], stdout=subprocess.PIPE, text=True
        )
        for _ in range(3)
    ]
    outputs = [proc.communicate(timeout=120)[0].strip() for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0, 0]
    assert len(set(outputs)) == 1 and len(outputs[0]) == 64
    assert certificate_info(LocalCa(target).root_pem).sha256_fingerprint == outputs[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ca"]


# --------------------------------------------------------------------------------------------
# Issuance
# --------------------------------------------------------------------------------------------


def test_sign_issues_a_leaf_cucm_accepts(ca: LocalCa, rsa_key: rsa.RSAPrivateKey) -> None:
    csr = make_csr(rsa_key)
    leaf_pem, chain_pem = ca.sign(csr, validity_days=365, now=NOW)
    assert chain_pem == ca.intermediate_pem + ca.root_pem
    report = validate_signed_certificate(leaf_pem, chain_pem, csr, NODES, NOW, ValidationPolicy())
    assert report.problems == []
    assert report.ok
    assert [c.subject for c in report.chain] == [
        "CN=cucm-pub-ms.example.com,O=Example Corp",
        certificate_info(ca.intermediate_pem).subject,
        certificate_info(ca.root_pem).subject,
    ]


def test_leaf_copies_subject_and_sans_and_carries_cucm_extensions(
    ca: LocalCa, rsa_key: rsa.RSAPrivateKey
) -> None:
    sans = ["cucm-pub.example.com", "other.example.net"]
    leaf_pem, _ = ca.sign(make_csr(rsa_key, sans=sans, cn="custom.example.com"), now=NOW)
    leaf = x509.load_pem_x509_certificate(leaf_pem.encode())
    inter = x509.load_pem_x509_certificate(ca.intermediate_pem.encode())
    assert leaf.subject.rfc4514_string() == "CN=custom.example.com,O=Example Corp"
    assert leaf.issuer == inter.subject
    assert _ext(leaf, x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName) == sans
    assert list(_ext(leaf, x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.SERVER_AUTH,
        ExtendedKeyUsageOID.CLIENT_AUTH,
    ]
    ku = _ext(leaf, x509.KeyUsage)
    assert ku.critical
    assert (ku.value.digital_signature, ku.value.key_encipherment, ku.value.data_encipherment) == (
        True,
        True,
        True,
    )
    assert not ku.value.key_cert_sign
    bc = _ext(leaf, x509.BasicConstraints)
    assert bc.critical and not bc.value.ca
    assert (
        _ext(leaf, x509.AuthorityKeyIdentifier).value.key_identifier
        == _ext(inter, x509.SubjectKeyIdentifier).value.digest
    )
    assert _ext(leaf, x509.SubjectKeyIdentifier).value == x509.SubjectKeyIdentifier.from_public_key(
        rsa_key.public_key()
    )
    assert leaf.signature_hash_algorithm is not None
    assert leaf.signature_hash_algorithm.name == "sha256"
    leaf.verify_directly_issued_by(inter)


def test_validity_follows_the_request_and_now(ca: LocalCa, rsa_key: rsa.RSAPrivateKey) -> None:
    leaf_pem, _ = ca.sign(make_csr(rsa_key), validity_days=90, now=NOW)
    info = certificate_info(leaf_pem)
    assert info.not_after == NOW + timedelta(days=90)
    assert NOW - timedelta(hours=1) <= info.not_before <= NOW


def test_validity_is_capped_at_the_intermediate(ca: LocalCa, rsa_key: rsa.RSAPrivateKey) -> None:
    leaf_pem, _ = ca.sign(make_csr(rsa_key), validity_days=10_000, now=NOW)
    assert certificate_info(leaf_pem).not_after == certificate_info(ca.intermediate_pem).not_after


def test_ec_csr_gets_ec_appropriate_key_usage_and_validates(ca: LocalCa) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    csr = make_csr(key)
    leaf_pem, chain_pem = ca.sign(csr, now=NOW)
    info = certificate_info(leaf_pem)
    assert info.key_usage == ["digitalSignature", "keyAgreement"]
    assert validate_signed_certificate(leaf_pem, chain_pem, csr, NODES, NOW).ok


def test_serials_are_unique(ca: LocalCa, rsa_key: rsa.RSAPrivateKey) -> None:
    csr = make_csr(rsa_key)
    serials = {certificate_info(ca.sign(csr, now=NOW)[0]).serial_hex for _ in range(5)}
    assert len(serials) == 5


@pytest.mark.parametrize(
    "csr",
    ["garbage", "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n"],
)
def test_unreadable_csr_is_denied(ca: LocalCa, csr: str) -> None:
    with pytest.raises(CaRequestDenied, match="cannot be read") as err:
        ca.sign(csr)
    assert err.value.ca == "local"


def test_csr_with_broken_signature_is_denied(ca: LocalCa, rsa_key: rsa.RSAPrivateKey) -> None:
    csr = x509.load_pem_x509_csr(make_csr(rsa_key).encode())
    der = bytearray(csr.public_bytes(serialization.Encoding.DER))
    der[-5] ^= 0xFF  # inside the signature value
    tampered = x509.load_der_x509_csr(bytes(der))
    pem = tampered.public_bytes(serialization.Encoding.PEM).decode()
    with pytest.raises(CaRequestDenied, match="signature does not verify"):
        ca.sign(pem)


def test_sign_rejects_bad_arguments(ca: LocalCa, rsa_key: rsa.RSAPrivateKey) -> None:
    with pytest.raises(ValueError, match="positive"):
        ca.sign(make_csr(rsa_key), validity_days=0)
    with pytest.raises(ValueError, match="timezone-aware"):
        ca.sign(make_csr(rsa_key), now=datetime(2026, 1, 1))


# --------------------------------------------------------------------------------------------
# The CertificateAuthority interface
# --------------------------------------------------------------------------------------------


def test_local_ca_implements_the_interface(ca: LocalCa) -> None:
    assert isinstance(ca, CertificateAuthority)


async def test_submit_issues_at_once_and_poll_returns_it(
    ca: LocalCa, rsa_key: rsa.RSAPrivateKey
) -> None:
    csr = make_csr(rsa_key)
    submission = await ca.submit(csr, CaProfile(validity_days=200))
    assert submission.status == "issued"
    assert submission.certificate_pem is not None and submission.chain_pem is not None
    info = certificate_info(submission.certificate_pem)
    assert submission.request_ref == info.serial_hex
    assert [c.subject for c in load_pem_certificates(submission.chain_pem)] == [
        load_pem_certificates(ca.intermediate_pem)[0].subject,
        load_pem_certificates(ca.root_pem)[0].subject,
    ]
    assert timedelta(days=199) < info.not_after - info.not_before <= timedelta(days=200, hours=1)

    polled = await ca.poll(submission.request_ref.upper())
    assert polled.status == "issued"
    assert polled.certificate_pem == submission.certificate_pem
    assert polled.chain_pem == submission.chain_pem


async def test_submit_defaults_to_a_year(ca: LocalCa, rsa_key: rsa.RSAPrivateKey) -> None:
    submission = await ca.submit(make_csr(rsa_key), CaProfile())
    assert submission.certificate_pem is not None
    info = certificate_info(submission.certificate_pem)
    assert timedelta(days=364) < info.not_after - info.not_before <= timedelta(days=365, hours=1)


async def test_submit_of_an_unreadable_csr_is_denied(ca: LocalCa) -> None:
    submission = await ca.submit("garbage", CaProfile())
    assert submission.status == "denied"
    assert submission.certificate_pem is None
    assert "cannot be read" in submission.message


@pytest.mark.parametrize("ref", ["abcdef0123", "../root", "../root.key", "", "zz"])
async def test_poll_of_unknown_or_malformed_ref_is_not_found(ca: LocalCa, ref: str) -> None:
    with pytest.raises(CaRequestNotFound) as err:
        await ca.poll(ref)
    assert err.value.request_ref == ref
    assert err.value.ca == "local"
