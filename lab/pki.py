"""X.509 material of the twin: real keys and certificates made with pyca/cryptography.

The twin is a separate system from ucrenew, so it carries its own small crypto helpers rather
than importing the orchestrator's.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import ssl
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from lab import facts

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

_HASHES: dict[str, type[hashes.SHA256 | hashes.SHA384 | hashes.SHA512]] = {
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}


class PkiError(ValueError):
    """Certificate material the twin cannot accept."""


class InstallKeys:
    """The keys of the self-signed certificates twins are installed with, shared by the
    twins of a fleet: twin N's node 2 tomcat key is twin 1's. Generating them takes most of a
    twin's start; they stay distinct within a cluster, and every key a twin makes afterwards
    (a CSR, ``set cert regen``) is new. Thread-safe: twins are built in threads.
    """

    def __init__(self) -> None:
        self._keys: dict[tuple[int, str, str, int], PrivateKey] = {}
        self._lock = threading.Lock()

    def key(self, node_index: int, purpose: str, key_type: str, key_length: int) -> PrivateKey:
        """The install key of ``purpose`` on the node at ``node_index``."""
        slot = (node_index, purpose, key_type, key_length)
        with self._lock:
            if slot not in self._keys:
                self._keys[slot] = new_key(key_type, key_length)
            return self._keys[slot]


def new_key(key_type: str = "rsa", key_length: int = 2048) -> PrivateKey:
    """Generate a private key as CUCM would on the box."""
    if key_type.lower() in ("rsa",):
        if key_length not in (1024, 2048, 3072, 4096):
            raise PkiError(f"unsupported RSA key length {key_length}")
        return rsa.generate_private_key(public_exponent=65537, key_size=key_length)
    if key_type.lower() in ("ec", "ecdsa"):
        curves: dict[int, ec.EllipticCurve] = {256: ec.SECP256R1(), 384: ec.SECP384R1()}
        if key_length not in curves:
            raise PkiError(f"unsupported EC key length {key_length}")
        return ec.generate_private_key(curves[key_length])
    raise PkiError(f"unsupported key type {key_type!r}")


def hash_algorithm(name: str) -> hashes.SHA256 | hashes.SHA384 | hashes.SHA512:
    """The hash named by a CSR request (sha256, sha384, sha512)."""
    try:
        return _HASHES[name.lower()]()
    except KeyError:
        raise PkiError(f"unsupported hash algorithm {name!r}") from None


def subject_name(common_name: str, organisation: str = "ucrenew lab") -> x509.Name:
    """The subject CUCM puts in its certificates and CSRs."""
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "Voice"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def key_usage(
    *,
    encipherment: bool = False,
    agreement: bool = False,
    cert_sign: bool = False,
    crl_sign: bool = False,
) -> x509.KeyUsage:
    """keyUsage with digitalSignature and the given uses (key and data encipherment together)."""
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=encipherment,
        data_encipherment=encipherment,
        key_agreement=agreement,
        key_cert_sign=cert_sign,
        crl_sign=crl_sign,
        encipher_only=False,
        decipher_only=False,
    )


def certificate_builder(
    subject: x509.Name,
    issuer: x509.Name,
    public_key: CertificatePublicKeyTypes,
    not_before: dt.datetime,
    not_after: dt.datetime,
) -> x509.CertificateBuilder:
    """A builder with names, key, validity and a random serial set; extensions are the caller's."""
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
    )


def self_signed(
    key: PrivateKey,
    common_name: str,
    san: list[str],
    now: dt.datetime,
    validity_days: float,
) -> x509.Certificate:
    """A self-signed identity certificate like the ones CUCM generates at install."""
    builder = (
        certificate_builder(
            subject_name(common_name),
            subject_name(common_name),
            key.public_key(),
            now - dt.timedelta(days=1),
            now + dt.timedelta(days=validity_days),
        )
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in san]), False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), True)
        .add_extension(
            key_usage(
                encipherment=isinstance(key, rsa.RSAPrivateKey),
                agreement=isinstance(key, ec.EllipticCurvePrivateKey),
                cert_sign=True,
            ),
            True,
        )
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            False,
        )
    )
    return builder.sign(key, hashes.SHA256())


def make_csr(
    key: PrivateKey, common_name: str, san: list[str], hash_name: str = "sha256"
) -> x509.CertificateSigningRequest:
    """A CSR for ``common_name`` with ``san`` as DNS names."""
    builder = x509.CertificateSigningRequestBuilder().subject_name(subject_name(common_name))
    if san:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(n) for n in san]), False
        )
    return builder.sign(key, hash_algorithm(hash_name))


def pem(obj: x509.Certificate | x509.CertificateSigningRequest) -> str:
    """PEM text of a certificate or CSR."""
    return obj.public_bytes(serialization.Encoding.PEM).decode()


def key_pem(key: PrivateKey) -> bytes:
    """Unencrypted PKCS#8 PEM of a private key (written only under the lab's state dir)."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def write_private(path: Path, data: bytes) -> None:
    """Write a file only its owner may read: mode 0600 from its creation on."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def server_context(
    identity: KeyedCert,
    chain: Sequence[x509.Certificate],
    directory: Path,
    name: str,
    ecdsa: tuple[KeyedCert, Sequence[x509.Certificate]] | None = None,
) -> ssl.SSLContext:
    """A TLS server context presenting ``identity`` followed by ``chain``.

    With ``ecdsa`` the context holds that ECDSA identity too and serves it only to a client
    that offers ECDSA alone (``facts.TLS_DUAL_IDENTITY_CIPHERS``).

    Args:
        identity: The certificate and its key.
        chain: The CA certificates sent after the leaf.
        directory: Where ``<name>.pem`` and ``<name>.key`` (mode 0600) are written.
        name: Base name of the two files (``<name>-ECDSA.*`` for the ECDSA identity).
        ecdsa: The ECDSA identity and its chain, if the listener has one.
    """
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    _load(ctx, identity, chain, directory, name)
    if ecdsa is not None:
        _load(ctx, *ecdsa, directory, f"{name}-ECDSA")
        ctx.maximum_version = ssl.TLSVersion[facts.TLS_DUAL_IDENTITY_MAX_VERSION]
        ctx.set_ciphers(facts.TLS_DUAL_IDENTITY_CIPHERS)
        ctx.options |= ssl.OP_CIPHER_SERVER_PREFERENCE
    return ctx


def _load(
    ctx: ssl.SSLContext,
    identity: KeyedCert,
    chain: Sequence[x509.Certificate],
    directory: Path,
    name: str,
) -> None:
    cert_file = directory / f"{name}.pem"
    key_file = directory / f"{name}.key"
    cert_file.write_text(identity.pem + "".join(pem(c) for c in chain))
    write_private(key_file, key_pem(identity.key))
    ctx.load_cert_chain(cert_file, key_file)


def public_key_der(obj: x509.Certificate | x509.CertificateSigningRequest | PrivateKey) -> bytes:
    """DER SubjectPublicKeyInfo, for comparing a certificate with a CSR or key."""
    pub = obj.public_key()
    return pub.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def parse_certificates(data: str | bytes) -> list[x509.Certificate]:
    """PEM (one or many) or DER; raises PkiError for anything else."""
    raw = data.encode() if isinstance(data, str) else data
    try:
        if b"-----BEGIN CERTIFICATE-----" in raw:
            return x509.load_pem_x509_certificates(raw)
        return [x509.load_der_x509_certificate(raw)]
    except ValueError as exc:
        raise PkiError(str(exc)) from None


def common_name(name: x509.Name) -> str:
    """The CN of a name, or the whole RFC 4514 string when it has none."""
    attrs = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(attrs[0].value) if attrs else name.rfc4514_string()


def san_dns(cert: x509.Certificate | x509.CertificateSigningRequest) -> list[str]:
    """DNS names of the SAN extension (empty without one)."""
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return []
    return list(ext.value.get_values_for_type(x509.DNSName))


def key_size(cert: x509.Certificate | x509.CertificateSigningRequest) -> int:
    """Public key size in bits."""
    pub = cert.public_key()
    if isinstance(pub, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
        return pub.key_size
    return 0


def fingerprint(cert: x509.Certificate) -> str:
    """SHA-256 fingerprint, lower-case hex."""
    return cert.fingerprint(hashes.SHA256()).hex()


def serial_hex(cert: x509.Certificate) -> str:
    """Serial number as lower-case hex, the way CUCM names trust files."""
    return format(cert.serial_number, "x")


def is_self_signed(cert: x509.Certificate) -> bool:
    """Issuer equals subject and the signature verifies with the certificate's own key."""
    if cert.issuer != cert.subject:
        return False
    return issued_by(cert, cert)


def issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """Whether ``issuer`` signed ``cert``."""
    if cert.issuer != issuer.subject:
        return False
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, Exception):
        return False
    return True


def tracking_id(csr: x509.CertificateSigningRequest) -> str:
    """A stable id for a pending CSR (CUCM binds each CSR to an internal tracking id)."""
    return hashlib.sha256(public_key_der(csr)).hexdigest()[:16]


@dataclass
class KeyedCert:
    """An identity certificate installed on a node, with the key that stays on the node."""

    cert: x509.Certificate
    key: PrivateKey
    description: str
    multi_server: bool = False

    @property
    def pem(self) -> str:
        """PEM text of the certificate."""
        return pem(self.cert)


@dataclass
class TrustEntry:
    """A certificate in a trust store."""

    cert: x509.Certificate
    description: str

    @property
    def file_name(self) -> str:
        """``<CN>_<serial>.pem`` as CUCM names trust files."""
        return f"{common_name(self.cert.subject).replace(' ', '_')}_{serial_hex(self.cert)}.pem"


@dataclass
class PendingCsr:
    """A CSR waiting on a node for its signed certificate."""

    csr: x509.CertificateSigningRequest
    key: PrivateKey
    purpose: str
    multi_server: bool
    san_nodes: list[str]
    generated_at: dt.datetime
    tracking_id: str = field(default="")

    def __post_init__(self) -> None:
        if not self.tracking_id:
            self.tracking_id = tracking_id(self.csr)
