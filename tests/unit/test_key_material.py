"""Private key material in a certificate submission: every flavour found, no certificate taken
for a key.

Formats: PEM labels of RFC 7468 (``PRIVATE KEY``, ``ENCRYPTED PRIVATE KEY``) and the legacy
OpenSSL ones (``RSA``/``EC``/``DSA PRIVATE KEY``, RFC 1421 ``Proc-Type`` encryption), OpenSSH's
own format, PKCS#8 (RFC 5958), PKCS#1 (RFC 8017 A.1.2), SEC1 (RFC 5915) and PKCS#12 (RFC 7292)
as produced by the ``cryptography`` library.
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Callable

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import pkcs7, pkcs12
from cryptography.x509.oid import NameOID

from activities.clients.key_material import (
    KeyMaterialError,
    find_key_material,
    refuse_key_material,
)

Enc = serialization.Encoding
Fmt = serialization.PrivateFormat
NO_PASSWORD = serialization.NoEncryption()
PASSWORD = serialization.BestAvailableEncryption(b"hunter2")

RSA = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC = ec.generate_private_key(ec.SECP256R1())
DSA = dsa.generate_private_key(key_size=2048)
ED = ed25519.Ed25519PrivateKey.generate()
NAME = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "cucm-pub.example.net")])
NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
CERT = (
    x509.CertificateBuilder()
    .subject_name(NAME)
    .issuer_name(NAME)
    .public_key(RSA.public_key())
    .serial_number(1)
    .not_valid_before(NOW)
    .not_valid_after(NOW + dt.timedelta(days=365))
    .sign(RSA, hashes.SHA256())
)
CERT_PEM = CERT.public_bytes(Enc.PEM)
CSR_PEM = (
    x509.CertificateSigningRequestBuilder().subject_name(NAME).sign(RSA, hashes.SHA256())
).public_bytes(Enc.PEM)

KEYS: dict[str, Callable[[], bytes]] = {
    "pem-pkcs8": lambda: RSA.private_bytes(Enc.PEM, Fmt.PKCS8, NO_PASSWORD),
    "pem-encrypted-pkcs8": lambda: RSA.private_bytes(Enc.PEM, Fmt.PKCS8, PASSWORD),
    "pem-rsa-traditional": lambda: RSA.private_bytes(Enc.PEM, Fmt.TraditionalOpenSSL, NO_PASSWORD),
    "pem-rsa-proc-type-encrypted": lambda: RSA.private_bytes(
        Enc.PEM, Fmt.TraditionalOpenSSL, PASSWORD
    ),
    "pem-ec": lambda: EC.private_bytes(Enc.PEM, Fmt.TraditionalOpenSSL, NO_PASSWORD),
    "pem-dsa": lambda: DSA.private_bytes(Enc.PEM, Fmt.TraditionalOpenSSL, NO_PASSWORD),
    "pem-openssh": lambda: ED.private_bytes(Enc.PEM, Fmt.OpenSSH, NO_PASSWORD),
    "der-pkcs8": lambda: RSA.private_bytes(Enc.DER, Fmt.PKCS8, NO_PASSWORD),
    "der-encrypted-pkcs8": lambda: EC.private_bytes(Enc.DER, Fmt.PKCS8, PASSWORD),
    "der-rsa-pkcs1": lambda: RSA.private_bytes(Enc.DER, Fmt.TraditionalOpenSSL, NO_PASSWORD),
    "der-ec-sec1": lambda: EC.private_bytes(Enc.DER, Fmt.TraditionalOpenSSL, NO_PASSWORD),
    "der-dsa": lambda: DSA.private_bytes(Enc.DER, Fmt.TraditionalOpenSSL, NO_PASSWORD),
    "pfx": lambda: pkcs12.serialize_key_and_certificates(b"x", RSA, CERT, None, PASSWORD),
    "pfx-no-password": lambda: pkcs12.serialize_key_and_certificates(
        b"x", RSA, CERT, None, NO_PASSWORD
    ),
}


@pytest.mark.parametrize("name", sorted(KEYS))
def test_every_flavour_of_private_key_is_found(name: str) -> None:
    assert find_key_material(KEYS[name]()) is not None


@pytest.mark.parametrize("name", sorted(k for k in KEYS if k.startswith("pem-")))
def test_a_key_appended_to_a_certificate_is_found_in_text(name: str) -> None:
    bundle = (CERT_PEM + KEYS[name]()).decode()
    kind = find_key_material(bundle)
    assert kind is not None and "PRIVATE KEY" in kind


@pytest.mark.parametrize("name", ["der-pkcs8", "der-rsa-pkcs1", "der-ec-sec1", "pfx"])
def test_a_der_key_is_found_in_base64_and_under_a_misleading_label(name: str) -> None:
    der = KEYS[name]()
    b64 = base64.encodebytes(der).decode()
    assert find_key_material(b64) is not None
    disguised = f"-----BEGIN CERTIFICATE-----\n{b64}-----END CERTIFICATE-----\n"
    assert find_key_material(CERT_PEM.decode() + disguised) is not None
    assert find_key_material(CERT_PEM.decode() + b64) is not None  # pasted after the cert


def test_a_pfx_in_a_pem_block_and_a_mangled_header_are_found() -> None:
    b64 = base64.encodebytes(KEYS["pfx"]()).decode()
    assert find_key_material(f"-----BEGIN PKCS12-----\n{b64}-----END PKCS12-----\n")
    assert find_key_material("begin rsa private key\nMIIEvQ...") == "a private key header"
    assert find_key_material("PuTTY-User-Key-File-3: ssh-ed25519\nPrivate-Lines: 1\nAAAA\n")


def test_public_material_is_not_key_material() -> None:
    chain = CERT_PEM + CERT_PEM
    p7 = pkcs7.serialize_certificates([CERT], Enc.DER)
    for public in (
        CERT_PEM,
        CERT_PEM.decode(),
        chain,
        CSR_PEM,
        CERT.public_bytes(Enc.DER),
        p7,
        pkcs7.serialize_certificates([CERT], Enc.PEM),
        base64.encodebytes(CERT.public_bytes(Enc.DER)).decode(),
        RSA.public_key().public_bytes(Enc.PEM, serialization.PublicFormat.SubjectPublicKeyInfo),
        RSA.public_key().public_bytes(Enc.DER, serialization.PublicFormat.PKCS1),
        b"",
        "not a certificate",
    ):
        assert find_key_material(public) is None, public[:40]


def test_the_refusal_names_what_was_found_and_never_the_key() -> None:
    key = KEYS["pem-rsa-traditional"]()
    body = key.decode().splitlines()[1]
    with pytest.raises(KeyMaterialError) as refused:
        refuse_key_material(CERT_PEM.decode() + key.decode(), "the certificate file signed.pem")
    message = str(refused.value)
    assert message.startswith("the certificate file signed.pem holds private key material")
    assert "refused, nothing of it was sent" in message
    assert "'RSA PRIVATE KEY'" in message and "never leaves" in message
    assert body not in message and "-----BEGIN" not in message
    refuse_key_material(None, "the chain")
    refuse_key_material(CERT_PEM, "the certificate")
