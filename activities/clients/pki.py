"""Pure X.509 helpers: parse certificates and CSRs, summarise them, build chains.

Everything here is a pure function of its arguments: no I/O, no clock, no temporalio.
Summaries are the pydantic models of ``activities.models`` so they can cross the Temporal
boundary; ``cryptography`` objects never leave this layer's callers. The check of a signed
certificate before upload, built on these helpers, is in
:mod:`activities.clients.pki_validation`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import TypeAlias

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from activities.models import (
    CertificateInfo,
    CsrInfo,
    KeyType,
)

__all__ = [
    "CertificateParseError",
    "ChainBuildError",
    "PkiError",
    "PublicKey",
    "as_bytes",
    "basic_constraints",
    "certificate_info",
    "common_name",
    "csr_info",
    "dedupe",
    "extended_key_usage_names",
    "is_self_signed",
    "key_type_and_size",
    "key_usage_names",
    "load_certificate_bundle",
    "load_csr",
    "load_pem_certificates",
    "order_chain",
    "public_key_fingerprint",
    "san_dns_names",
    "signature_hash_name",
    "signed_by",
    "subject_alt_name",
    "walk_chain",
]

PublicKey: TypeAlias = CertificatePublicKeyTypes
"""Any public key type an X.509 certificate can carry."""

_PEM_CERT_MARKER = b"-----BEGIN CERTIFICATE-----"
_PEM_PKCS7_MARKERS = (b"-----BEGIN PKCS7-----", b"-----BEGIN CERTIFICATE CHAIN-----")
_SHA256 = hashes.SHA256()

_EKU_NAMES: dict[x509.ObjectIdentifier, str] = {
    ExtendedKeyUsageOID.SERVER_AUTH: "serverAuth",
    ExtendedKeyUsageOID.CLIENT_AUTH: "clientAuth",
    ExtendedKeyUsageOID.CODE_SIGNING: "codeSigning",
    ExtendedKeyUsageOID.EMAIL_PROTECTION: "emailProtection",
    ExtendedKeyUsageOID.TIME_STAMPING: "timeStamping",
    ExtendedKeyUsageOID.OCSP_SIGNING: "OCSPSigning",
    ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE: "anyExtendedKeyUsage",
    ExtendedKeyUsageOID.IPSEC_IKE: "ipsecIKE",
}

# (attribute of x509.KeyUsage, RFC 5280 name)
_KEY_USAGE_NAMES: tuple[tuple[str, str], ...] = (
    ("digital_signature", "digitalSignature"),
    ("content_commitment", "contentCommitment"),
    ("key_encipherment", "keyEncipherment"),
    ("data_encipherment", "dataEncipherment"),
    ("key_agreement", "keyAgreement"),
    ("key_cert_sign", "keyCertSign"),
    ("crl_sign", "cRLSign"),
)


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------


class PkiError(Exception):
    """Root of the errors raised by this module."""


class CertificateParseError(PkiError, ValueError):
    """Input is not a certificate, bundle or CSR this module can read.

    Attributes:
        what: What was being parsed (``certificate``, ``CSR``).
    """

    def __init__(self, what: str, reason: str) -> None:
        """Build the error.

        Args:
            what: What was being parsed.
            reason: Why it could not be read.
        """
        super().__init__(f"cannot read {what}: {reason}")
        self.what = what
        self.reason = reason


class ChainBuildError(PkiError):
    """No issuer could be found for a certificate while building a chain.

    Attributes:
        stuck_at: Subject (RFC 4514) of the certificate whose issuer is missing.
        missing_issuer: The issuer name (RFC 4514) that was not found.
        partial: The chain built so far, leaf first.
    """

    def __init__(
        self, stuck_at: str, missing_issuer: str, partial: Sequence[x509.Certificate]
    ) -> None:
        """Build the error.

        Args:
            stuck_at: Subject of the certificate whose issuer is missing.
            missing_issuer: The issuer name that was not found.
            partial: The chain built so far, leaf first.
        """
        super().__init__(f"issuer {missing_issuer!r} of {stuck_at!r} not found")
        self.stuck_at = stuck_at
        self.missing_issuer = missing_issuer
        self.partial = list(partial)


# --------------------------------------------------------------------------------------------
# Parsing
# --------------------------------------------------------------------------------------------


def as_bytes(data: str | bytes) -> bytes:
    """PEM text as UTF-8 bytes; bytes unchanged."""
    return data.encode("utf-8") if isinstance(data, str) else bytes(data)


def load_certificate_bundle(data: str | bytes) -> tuple[list[x509.Certificate], bool]:
    """Parse certificates; also report whether they came from an (unordered) PKCS#7 bundle."""
    raw = as_bytes(data)
    if not raw.strip():
        raise CertificateParseError("certificate", "input is empty")
    try:
        if _PEM_CERT_MARKER in raw:
            return x509.load_pem_x509_certificates(raw), False
        if any(marker in raw for marker in _PEM_PKCS7_MARKERS):
            return pkcs7.load_pem_pkcs7_certificates(raw), True
        if b"-----BEGIN" in raw:
            raise CertificateParseError("certificate", "no CERTIFICATE or PKCS7 PEM block found")
    except ValueError as exc:
        if isinstance(exc, CertificateParseError):
            raise
        raise CertificateParseError("certificate", f"malformed PEM ({exc})") from exc
    try:
        return [x509.load_der_x509_certificate(raw)], False
    except ValueError:
        pass
    try:
        return pkcs7.load_der_pkcs7_certificates(raw), True
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise CertificateParseError("certificate", "neither PEM nor DER X.509 nor PKCS#7") from exc


def load_pem_certificates(data: str | bytes) -> list[x509.Certificate]:
    """Parse every certificate in a PEM bundle, a DER certificate, or a PKCS#7 (.p7b) bundle.

    Args:
        data: PEM text (one or more CERTIFICATE blocks, or a PKCS7 block), or DER bytes.

    Returns:
        The certificates, in the order they appear (PKCS#7 bundles have no defined order).

    Raises:
        CertificateParseError: Nothing parseable was found.
    """
    certs, _ = load_certificate_bundle(data)
    if not certs:
        raise CertificateParseError("certificate", "bundle contains no certificates")
    return certs


def load_csr(data: str | bytes) -> x509.CertificateSigningRequest:
    """Parse a PKCS#10 CSR in PEM or DER form.

    Args:
        data: PEM text or DER bytes.

    Returns:
        The CSR.

    Raises:
        CertificateParseError: The input is not a CSR.
    """
    raw = as_bytes(data)
    try:
        if b"-----BEGIN" in raw:
            return x509.load_pem_x509_csr(raw)
        return x509.load_der_x509_csr(raw)
    except ValueError as exc:
        raise CertificateParseError("CSR", str(exc)) from exc


def _one_certificate(cert_or_pem: x509.Certificate | str | bytes) -> x509.Certificate:
    if isinstance(cert_or_pem, x509.Certificate):
        return cert_or_pem
    return load_pem_certificates(cert_or_pem)[0]


# --------------------------------------------------------------------------------------------
# Summaries
# --------------------------------------------------------------------------------------------


def public_key_fingerprint(
    obj: x509.Certificate | x509.CertificateSigningRequest | PublicKey | str | bytes,
) -> str:
    """SHA-256 of the DER SubjectPublicKeyInfo, as lower-case hex.

    Equal fingerprints mean the same key pair, whatever certificate or CSR carries it.

    Args:
        obj: A certificate, a CSR, a public key, or PEM/DER text of a certificate or CSR.

    Returns:
        64 lower-case hex characters.

    Raises:
        CertificateParseError: Text was given that is neither a certificate nor a CSR.
    """
    key: PublicKey
    if isinstance(obj, str | bytes):
        raw = as_bytes(obj)
        if b"CERTIFICATE REQUEST-----" in raw:
            key = load_csr(raw).public_key()
        else:
            key = load_pem_certificates(raw)[0].public_key()
    elif isinstance(obj, x509.Certificate | x509.CertificateSigningRequest):
        key = obj.public_key()
    else:
        key = obj
    spki = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(spki).hexdigest()


def key_type_and_size(key: PublicKey) -> tuple[KeyType, int, str | None]:
    """The key's type, size in bits and, for EC, curve name."""
    if isinstance(key, rsa.RSAPublicKey):
        return "RSA", key.key_size, None
    if isinstance(key, ec.EllipticCurvePublicKey):
        return "EC", key.curve.key_size, key.curve.name
    return "other", 0, None


def signature_hash_name(obj: x509.Certificate | x509.CertificateSigningRequest) -> str | None:
    """The signature's hash (``sha256``); None without one (Ed25519), ``unknown`` if unknown."""
    try:
        algorithm = obj.signature_hash_algorithm
    except UnsupportedAlgorithm:
        return "unknown"
    return algorithm.name if algorithm is not None else None


def common_name(name: x509.Name) -> str | None:
    """The first CN of ``name``, or None."""
    attrs = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    if not attrs:
        return None
    value = attrs[0].value
    return value if isinstance(value, str) else value.decode("utf-8", "replace")


def _extension(
    cert: x509.Certificate | x509.CertificateSigningRequest, ext_type: type[x509.ExtensionType]
) -> x509.ExtensionType | None:
    try:
        return cert.extensions.get_extension_for_class(ext_type).value
    except x509.ExtensionNotFound:
        return None


def subject_alt_name(
    obj: x509.Certificate | x509.CertificateSigningRequest,
) -> x509.SubjectAlternativeName | None:
    """The subjectAltName extension, or None when absent."""
    value = _extension(obj, x509.SubjectAlternativeName)
    return value if isinstance(value, x509.SubjectAlternativeName) else None


def san_dns_names(san: x509.SubjectAlternativeName | None) -> list[str]:
    """The DNS names of a subjectAltName (none when it is absent)."""
    return list(san.get_values_for_type(x509.DNSName)) if san is not None else []


def basic_constraints(cert: x509.Certificate) -> x509.BasicConstraints | None:
    """The basicConstraints extension, or None when absent."""
    value = _extension(cert, x509.BasicConstraints)
    return value if isinstance(value, x509.BasicConstraints) else None


def extended_key_usage_names(cert: x509.Certificate) -> list[str] | None:
    """EKU names, or None when the certificate has no EKU extension (no restriction)."""
    value = _extension(cert, x509.ExtendedKeyUsage)
    if not isinstance(value, x509.ExtendedKeyUsage):
        return None
    return [_EKU_NAMES.get(oid, oid.dotted_string) for oid in value]


def key_usage_names(cert: x509.Certificate) -> list[str] | None:
    """keyUsage names, or None when the certificate has no keyUsage extension."""
    value = _extension(cert, x509.KeyUsage)
    if not isinstance(value, x509.KeyUsage):
        return None
    names = [name for attr, name in _KEY_USAGE_NAMES if getattr(value, attr)]
    if value.key_agreement:
        if value.encipher_only:
            names.append("encipherOnly")
        if value.decipher_only:
            names.append("decipherOnly")
    return names


def signed_by(child: x509.Certificate, issuer: x509.Certificate) -> bool:
    """Whether ``issuer``'s name and key verify ``child``'s signature."""
    if child.issuer != issuer.subject:
        return False
    try:
        child.verify_directly_issued_by(issuer)
    except InvalidSignature:
        return False
    except (ValueError, TypeError, UnsupportedAlgorithm):
        return _verify_legacy_signature(child, issuer)
    return True


def _verify_legacy_signature(child: x509.Certificate, issuer: x509.Certificate) -> bool:
    """Verify a SHA-1/MD5 signature, which ``verify_directly_issued_by`` refuses outright.

    A weak hash is reported as ``hash-weak``; it must not also read as a broken signature
    or a missing issuer, which would send the operator after the wrong fault.
    """
    try:
        algorithm = child.signature_hash_algorithm
        if algorithm is None:
            return False
        key = issuer.public_key()
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(child.signature, child.tbs_certificate_bytes, padding.PKCS1v15(), algorithm)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(child.signature, child.tbs_certificate_bytes, ec.ECDSA(algorithm))
        else:
            return False
    except (InvalidSignature, UnsupportedAlgorithm, ValueError, TypeError):
        return False
    return True


def is_self_signed(cert: x509.Certificate) -> bool:
    """Whether the certificate's issuer is its subject and its own key verifies it.

    Args:
        cert: The certificate.

    Returns:
        True for a self-signed certificate.
    """
    return cert.issuer == cert.subject and signed_by(cert, cert)


def _sha256_hex(cert: x509.Certificate) -> str:
    return cert.fingerprint(_SHA256).hex()


def certificate_info(cert_or_pem: x509.Certificate | str | bytes) -> CertificateInfo:
    """Summarise a certificate.

    Args:
        cert_or_pem: A certificate, or PEM/DER text whose first certificate is summarised.

    Returns:
        The summary.

    Raises:
        CertificateParseError: Text was given that holds no certificate.
    """
    cert = _one_certificate(cert_or_pem)
    key_type, key_size, curve = key_type_and_size(cert.public_key())
    san = subject_alt_name(cert)
    bc = basic_constraints(cert)
    ski = _extension(cert, x509.SubjectKeyIdentifier)
    aki = _extension(cert, x509.AuthorityKeyIdentifier)
    return CertificateInfo(
        subject_cn=common_name(cert.subject),
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        serial_hex=format(cert.serial_number, "x"),
        sha256_fingerprint=_sha256_hex(cert),
        public_key_sha256=public_key_fingerprint(cert),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        san_dns=san_dns_names(san),
        san_ip=[str(ip) for ip in san.get_values_for_type(x509.IPAddress)] if san else [],
        has_san=san is not None,
        key_type=key_type,
        key_size=key_size,
        ec_curve=curve,
        signature_hash=signature_hash_name(cert),
        is_ca=bool(bc and bc.ca),
        path_length=bc.path_length if bc else None,
        self_signed=is_self_signed(cert),
        eku=extended_key_usage_names(cert) or [],
        key_usage=key_usage_names(cert) or [],
        subject_key_id=ski.digest.hex() if isinstance(ski, x509.SubjectKeyIdentifier) else None,
        authority_key_id=(
            aki.key_identifier.hex()
            if isinstance(aki, x509.AuthorityKeyIdentifier) and aki.key_identifier
            else None
        ),
        pem=cert.public_bytes(serialization.Encoding.PEM).decode("ascii"),
    )


def csr_info(pem: str | bytes | x509.CertificateSigningRequest) -> CsrInfo:
    """Summarise a CSR.

    Args:
        pem: A CSR, or its PEM/DER form.

    Returns:
        The summary.

    Raises:
        CertificateParseError: The input is not a CSR.
    """
    csr = pem if isinstance(pem, x509.CertificateSigningRequest) else load_csr(pem)
    key_type, key_size, _ = key_type_and_size(csr.public_key())
    try:
        signature_valid = csr.is_signature_valid
    except UnsupportedAlgorithm:
        signature_valid = False
    return CsrInfo(
        subject_cn=common_name(csr.subject),
        subject=csr.subject.rfc4514_string(),
        san_dns=san_dns_names(subject_alt_name(csr)),
        key_type=key_type,
        key_size=key_size,
        public_key_sha256=public_key_fingerprint(csr),
        signature_hash=signature_hash_name(csr),
        signature_valid=signature_valid,
        pem=csr.public_bytes(serialization.Encoding.PEM).decode("ascii"),
    )


# --------------------------------------------------------------------------------------------
# Chain building
# --------------------------------------------------------------------------------------------


def dedupe(certs: Iterable[x509.Certificate]) -> list[x509.Certificate]:
    """``certs`` without repeats (by SHA-256 fingerprint), first occurrence kept."""
    seen: set[bytes] = set()
    out: list[x509.Certificate] = []
    for cert in certs:
        fp = cert.fingerprint(_SHA256)
        if fp not in seen:
            seen.add(fp)
            out.append(cert)
    return out


def _pick_issuer(
    child: x509.Certificate, pool: Sequence[x509.Certificate]
) -> x509.Certificate | None:
    """The best issuer candidate for ``child``, matched by name.

    Among certificates whose subject is the child's issuer, prefer one whose key verifies the
    child's signature, then one whose subjectKeyIdentifier matches the child's
    authorityKeyIdentifier. A name match that does not verify is still returned so that the
    validator can report the broken link precisely instead of "issuer not found".
    """
    candidates = [c for c in pool if c.subject == child.issuer]
    if not candidates:
        return None
    for candidate in candidates:
        if signed_by(child, candidate):
            return candidate
    aki = _extension(child, x509.AuthorityKeyIdentifier)
    if isinstance(aki, x509.AuthorityKeyIdentifier) and aki.key_identifier:
        for candidate in candidates:
            ski = _extension(candidate, x509.SubjectKeyIdentifier)
            if isinstance(ski, x509.SubjectKeyIdentifier) and ski.digest == aki.key_identifier:
                return candidate
    return candidates[0]


def walk_chain(
    leaf: x509.Certificate, pool: Sequence[x509.Certificate]
) -> tuple[list[x509.Certificate], x509.Certificate | None]:
    """Follow issuers from ``leaf``; return the chain and the certificate stuck without issuer."""
    chain = [leaf]
    used = {leaf.fingerprint(_SHA256)}
    current = leaf
    while not is_self_signed(current):
        remaining = [c for c in pool if c.fingerprint(_SHA256) not in used]
        issuer = _pick_issuer(current, remaining)
        if issuer is None:
            return chain, current
        chain.append(issuer)
        used.add(issuer.fingerprint(_SHA256))
        current = issuer
    return chain, None


def order_chain(
    leaf: x509.Certificate, others: Iterable[x509.Certificate]
) -> list[x509.Certificate]:
    """Order a certificate chain from the leaf up to a self-signed root.

    Certificates in ``others`` that are not on the path (and duplicates, and the leaf itself)
    are ignored. Links are matched by issuer name, preferring a candidate whose key verifies
    the signature; signatures are not otherwise checked here (the validator does that).

    Args:
        leaf: The end-entity certificate.
        others: Intermediates and roots in any order.

    Returns:
        ``[leaf, intermediate..., root]``.

    Raises:
        ChainBuildError: Some certificate's issuer is not in ``others``; the error carries the
            partial chain and the missing issuer name.
    """
    chain, stuck = walk_chain(leaf, dedupe(others))
    if stuck is not None:
        raise ChainBuildError(stuck.subject.rfc4514_string(), stuck.issuer.rfc4514_string(), chain)
    return chain
