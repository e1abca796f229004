"""Pure X.509 helpers: parse certificates and CSRs, build chains, validate a signed certificate.

Everything here is a pure function of its arguments: no I/O, no clock (callers pass ``now``),
no temporalio. Results are the pydantic summaries of ``activities.models`` so they can cross
the Temporal boundary; ``cryptography`` objects never leave this layer's callers.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
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
    ValidationPolicy,
    ValidationProblem,
    ValidationReport,
)

__all__ = [
    "CertificateParseError",
    "ChainBuildError",
    "PkiError",
    "PublicKey",
    "certificate_info",
    "csr_info",
    "is_self_signed",
    "load_csr",
    "load_pem_certificates",
    "order_chain",
    "public_key_fingerprint",
    "validate_signed_certificate",
]

PublicKey: TypeAlias = CertificatePublicKeyTypes
"""Any public key type an X.509 certificate can carry."""

_PEM_CERT_MARKER = b"-----BEGIN CERTIFICATE-----"
_PEM_PKCS7_MARKERS = (b"-----BEGIN PKCS7-----", b"-----BEGIN CERTIFICATE CHAIN-----")
_WEAK_HASHES = frozenset({"sha1", "md5", "md2", "md4"})
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


def _as_bytes(data: str | bytes) -> bytes:
    return data.encode("utf-8") if isinstance(data, str) else bytes(data)


def _load_certificates(data: str | bytes) -> tuple[list[x509.Certificate], bool]:
    """Parse certificates; also report whether they came from an (unordered) PKCS#7 bundle."""
    raw = _as_bytes(data)
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
    certs, _ = _load_certificates(data)
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
    raw = _as_bytes(data)
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
        raw = _as_bytes(obj)
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


def _key_type_and_size(key: PublicKey) -> tuple[KeyType, int, str | None]:
    if isinstance(key, rsa.RSAPublicKey):
        return "RSA", key.key_size, None
    if isinstance(key, ec.EllipticCurvePublicKey):
        return "EC", key.curve.key_size, key.curve.name
    return "other", 0, None


def _hash_name(obj: x509.Certificate | x509.CertificateSigningRequest) -> str | None:
    try:
        algorithm = obj.signature_hash_algorithm
    except UnsupportedAlgorithm:
        return "unknown"
    return algorithm.name if algorithm is not None else None


def _common_name(name: x509.Name) -> str | None:
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


def _san(
    obj: x509.Certificate | x509.CertificateSigningRequest,
) -> x509.SubjectAlternativeName | None:
    value = _extension(obj, x509.SubjectAlternativeName)
    return value if isinstance(value, x509.SubjectAlternativeName) else None


def _san_dns(san: x509.SubjectAlternativeName | None) -> list[str]:
    return list(san.get_values_for_type(x509.DNSName)) if san is not None else []


def _basic_constraints(cert: x509.Certificate) -> x509.BasicConstraints | None:
    value = _extension(cert, x509.BasicConstraints)
    return value if isinstance(value, x509.BasicConstraints) else None


def _eku_names(cert: x509.Certificate) -> list[str] | None:
    """EKU names, or None when the certificate has no EKU extension (no restriction)."""
    value = _extension(cert, x509.ExtendedKeyUsage)
    if not isinstance(value, x509.ExtendedKeyUsage):
        return None
    return [_EKU_NAMES.get(oid, oid.dotted_string) for oid in value]


def _key_usage_names(cert: x509.Certificate) -> list[str] | None:
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


def _signed_by(child: x509.Certificate, issuer: x509.Certificate) -> bool:
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
    return cert.issuer == cert.subject and _signed_by(cert, cert)


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
    key_type, key_size, curve = _key_type_and_size(cert.public_key())
    san = _san(cert)
    bc = _basic_constraints(cert)
    ski = _extension(cert, x509.SubjectKeyIdentifier)
    aki = _extension(cert, x509.AuthorityKeyIdentifier)
    return CertificateInfo(
        subject_cn=_common_name(cert.subject),
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        serial_hex=format(cert.serial_number, "x"),
        sha256_fingerprint=_sha256_hex(cert),
        public_key_sha256=public_key_fingerprint(cert),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        san_dns=_san_dns(san),
        san_ip=[str(ip) for ip in san.get_values_for_type(x509.IPAddress)] if san else [],
        has_san=san is not None,
        key_type=key_type,
        key_size=key_size,
        ec_curve=curve,
        signature_hash=_hash_name(cert),
        is_ca=bool(bc and bc.ca),
        path_length=bc.path_length if bc else None,
        self_signed=is_self_signed(cert),
        eku=_eku_names(cert) or [],
        key_usage=_key_usage_names(cert) or [],
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
    key_type, key_size, _ = _key_type_and_size(csr.public_key())
    try:
        signature_valid = csr.is_signature_valid
    except UnsupportedAlgorithm:
        signature_valid = False
    return CsrInfo(
        subject_cn=_common_name(csr.subject),
        subject=csr.subject.rfc4514_string(),
        san_dns=_san_dns(_san(csr)),
        key_type=key_type,
        key_size=key_size,
        public_key_sha256=public_key_fingerprint(csr),
        signature_hash=_hash_name(csr),
        signature_valid=signature_valid,
        pem=csr.public_bytes(serialization.Encoding.PEM).decode("ascii"),
    )


# --------------------------------------------------------------------------------------------
# Chain building
# --------------------------------------------------------------------------------------------


def _dedupe(certs: Iterable[x509.Certificate]) -> list[x509.Certificate]:
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
        if _signed_by(child, candidate):
            return candidate
    aki = _extension(child, x509.AuthorityKeyIdentifier)
    if isinstance(aki, x509.AuthorityKeyIdentifier) and aki.key_identifier:
        for candidate in candidates:
            ski = _extension(candidate, x509.SubjectKeyIdentifier)
            if isinstance(ski, x509.SubjectKeyIdentifier) and ski.digest == aki.key_identifier:
                return candidate
    return candidates[0]


def _walk_chain(
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
    chain, stuck = _walk_chain(leaf, _dedupe(others))
    if stuck is not None:
        raise ChainBuildError(stuck.subject.rfc4514_string(), stuck.issuer.rfc4514_string(), chain)
    return chain


# --------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------


def _describe(cert: x509.Certificate) -> str:
    cn = _common_name(cert.subject)
    return f"'{cn}'" if cn else f"'{cert.subject.rfc4514_string()}'"


def _normalise_dns(name: str) -> str:
    return name.strip().rstrip(".").lower()


def _dns_matches(pattern: str, name: str, allow_wildcard: bool) -> bool:
    pattern, name = _normalise_dns(pattern), _normalise_dns(name)
    if pattern == name:
        return True
    if allow_wildcard and pattern.startswith("*.") and "." in name:
        return name.split(".", 1)[1] == pattern[2:]
    return False


def _fmt_day(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC")


class _Collector:
    """Accumulates problems in the order found."""

    def __init__(self) -> None:
        self.problems: list[ValidationProblem] = []

    def add(self, code: str, message: str, cert: x509.Certificate | None = None) -> None:
        subject = cert.subject.rfc4514_string() if cert is not None else None
        self.problems.append(ValidationProblem(code=code, message=message, subject=subject))


def _choose_leaf(
    certs: list[x509.Certificate], csr_key_fp: str | None
) -> tuple[x509.Certificate, list[x509.Certificate]]:
    """Pick the leaf from what the operator pasted as "the certificate" (may be a bundle)."""
    if csr_key_fp is not None:
        for cert in certs:
            if public_key_fingerprint(cert) == csr_key_fp:
                return cert, [c for c in certs if c is not cert]
    for cert in certs:
        bc = _basic_constraints(cert)
        if not (bc and bc.ca):
            return cert, [c for c in certs if c is not cert]
    return certs[0], certs[1:]


def _check_key(
    leaf: x509.Certificate, policy: ValidationPolicy, out: _Collector
) -> tuple[KeyType, int]:
    key_type, size, curve = _key_type_and_size(leaf.public_key())
    if key_type == "RSA":
        if size > policy.max_rsa_key_size:
            out.add(
                "key-too-large",
                f"the certificate's RSA key is {size} bits; CUCM accepts at most "
                f"{policy.max_rsa_key_size} bits",
                leaf,
            )
        elif size < policy.min_rsa_key_size:
            out.add(
                "key-too-small",
                f"the certificate's RSA key is {size} bits; at least "
                f"{policy.min_rsa_key_size} bits are required",
                leaf,
            )
    elif key_type == "EC":
        if size not in policy.allowed_ec_curve_sizes:
            allowed = ", ".join(str(s) for s in policy.allowed_ec_curve_sizes)
            out.add(
                "ec-curve-unsupported",
                f"the certificate's EC key uses curve {curve} ({size} bits); CUCM accepts "
                f"only {allowed}-bit curves",
                leaf,
            )
    else:
        out.add(
            "key-type-unsupported",
            f"the certificate's public key is {type(leaf.public_key()).__name__}; CUCM "
            "accepts only RSA and EC keys",
            leaf,
        )
    return key_type, size


def _check_names(
    leaf: x509.Certificate, expected_dns: Sequence[str], policy: ValidationPolicy, out: _Collector
) -> None:
    san = _san(leaf)
    cn = _common_name(leaf.subject)
    names = _san_dns(san)
    if san is None:
        expected = ", ".join(expected_dns) or "(none expected)"
        out.add(
            "cn-only",
            f"the certificate has no subjectAltName extension (only CN={cn}); browsers and "
            f"CUCM ignore the CN, so every node must be in the SAN: {expected}",
            leaf,
        )
    else:
        missing = [
            fqdn
            for fqdn in expected_dns
            if not any(_dns_matches(n, fqdn, policy.allow_wildcard) for n in names)
        ]
        if missing:
            out.add(
                "san-missing",
                f"the certificate's subjectAltName lacks {len(missing)} cluster node(s): "
                f"{', '.join(missing)} (SAN has: {', '.join(names) or 'no DNS names'})",
                leaf,
            )
    if not policy.allow_wildcard:
        wild = [n for n in [*names, cn or ""] if "*" in n]
        if wild:
            out.add(
                "wildcard",
                f"the certificate contains wildcard name(s) {', '.join(sorted(set(wild)))}; "
                "CUCM does not support wildcard certificates",
                leaf,
            )


def _check_usages(
    leaf: x509.Certificate, key_type: KeyType, policy: ValidationPolicy, out: _Collector
) -> None:
    # An absent EKU/keyUsage extension means "no restriction" (RFC 5280 4.2.1.3, 4.2.1.12),
    # which CUCM's mutual TLS accepts; only an explicit list can lack a usage.
    eku = _eku_names(leaf)
    if eku is not None and "anyExtendedKeyUsage" not in eku:
        shown = ", ".join(eku) or "none"
        if policy.require_server_auth and "serverAuth" not in eku:
            out.add(
                "eku-missing-server-auth",
                f"the certificate's extended key usage ({shown}) lacks serverAuth "
                "(TLS Web Server Authentication)",
                leaf,
            )
        if policy.require_client_auth and "clientAuth" not in eku:
            out.add(
                "eku-missing-client-auth",
                f"the certificate's extended key usage ({shown}) lacks clientAuth "
                "(TLS Web Client Authentication); CUCM uses this certificate as a TLS client "
                "too (Field Notice FN74345)",
                leaf,
            )
    ku = _key_usage_names(leaf)
    required = {"RSA": policy.rsa_key_usage, "EC": policy.ec_key_usage}.get(key_type, [])
    if ku is not None:
        lacking = [u for u in required if u not in ku]
        if lacking:
            out.add(
                "key-usage-missing",
                f"the certificate's key usage ({', '.join(ku) or 'none'}) lacks "
                f"{', '.join(lacking)}, required for a {key_type} TLS certificate",
                leaf,
            )


def _check_leaf_dates(
    leaf: x509.Certificate, now: datetime, policy: ValidationPolicy, out: _Collector
) -> None:
    tolerance = timedelta(seconds=policy.not_before_tolerance_seconds)
    if leaf.not_valid_after_utc <= now:
        out.add(
            "leaf-expired",
            f"the certificate expired on {_fmt_day(leaf.not_valid_after_utc)}",
            leaf,
        )
    if leaf.not_valid_before_utc > now + tolerance:
        out.add(
            "leaf-not-yet-valid",
            f"the certificate is not valid before {_fmt_day(leaf.not_valid_before_utc)} "
            f"(now is {_fmt_day(now)})",
            leaf,
        )


def _check_hash(cert: x509.Certificate, role: str, out: _Collector) -> None:
    name = _hash_name(cert)
    if name is not None and name.lower() in _WEAK_HASHES:
        out.add(
            "hash-weak",
            f"the {role} {_describe(cert)} is signed with {name.upper()}; CUCM requires "
            "SHA-256 or stronger",
            cert,
        )


def _check_chain_links(chain: list[x509.Certificate], now: datetime, out: _Collector) -> None:
    for index in range(1, len(chain)):
        child, issuer = chain[index - 1], chain[index]
        is_root = is_self_signed(issuer)
        role = "root CA" if is_root else "intermediate CA"
        if not _signed_by(child, issuer):
            out.add(
                "signature-invalid",
                f"the signature on {_describe(child)} does not verify with the key of its "
                f"issuer {_describe(issuer)}",
                child,
            )
        bc = _basic_constraints(issuer)
        ku = _key_usage_names(issuer)
        if not (bc and bc.ca):
            out.add(
                "not-a-ca",
                f"{_describe(issuer)}, which issued {_describe(child)}, is not a CA "
                "(basicConstraints CA=true is missing)",
                issuer,
            )
        elif ku is not None and "keyCertSign" not in ku:
            out.add(
                "not-a-ca",
                f"{_describe(issuer)}, which issued {_describe(child)}, may not sign "
                "certificates (keyUsage lacks keyCertSign)",
                issuer,
            )
        if issuer.not_valid_after_utc <= now:
            out.add(
                "root-expired" if is_root else "intermediate-expired",
                f"the {role} {_describe(issuer)} expired on {_fmt_day(issuer.not_valid_after_utc)}",
                issuer,
            )
        elif issuer.not_valid_before_utc > now:
            out.add(
                "ca-not-yet-valid",
                f"the {role} {_describe(issuer)} is not valid before "
                f"{_fmt_day(issuer.not_valid_before_utc)}",
                issuer,
            )
        if not is_root:
            _check_hash(issuer, role, out)


def _check_remaining(
    chain: list[x509.Certificate], now: datetime, policy: ValidationPolicy, out: _Collector
) -> None:
    live = [c for c in chain if c.not_valid_after_utc > now]
    if len(live) != len(chain) or not live:
        return  # an expired certificate is already reported as such
    first = min(live, key=lambda c: c.not_valid_after_utc)
    remaining = first.not_valid_after_utc - now
    if remaining < timedelta(days=policy.min_remaining_days):
        which = "the certificate" if first is chain[0] else f"the CA {_describe(first)}"
        out.add(
            "validity-too-short",
            f"{which} expires on {_fmt_day(first.not_valid_after_utc)}, "
            f"{remaining.days} day(s) from now; the renewal policy needs at least "
            f"{policy.min_remaining_days} days",
            first,
        )


def _check_order(
    given: list[x509.Certificate], chain: list[x509.Certificate], out: _Collector
) -> None:
    on_path = {c.fingerprint(_SHA256) for c in chain[1:]}
    given_on_path = [c for c in given if c.fingerprint(_SHA256) in on_path]
    given_fps = {c.fingerprint(_SHA256) for c in given}
    expected = [c for c in chain[1:] if c.fingerprint(_SHA256) in given_fps]
    if [c.fingerprint(_SHA256) for c in given_on_path] != [
        c.fingerprint(_SHA256) for c in expected
    ]:
        out.add(
            "chain-out-of-order",
            "the chain is not in issuer order: it was given as "
            f"{', '.join(_describe(c) for c in given_on_path)}; the order from the leaf "
            f"up is {' → '.join(_describe(c) for c in chain)}",
        )


def _check_chain(
    leaf: x509.Certificate,
    given: list[x509.Certificate],
    trusted: list[x509.Certificate],
    check_order: bool,
    out: _Collector,
) -> list[x509.Certificate]:
    """Build the chain and report gaps, strays and ordering; return the chain as built."""
    given_fps = {c.fingerprint(_SHA256) for c in given}
    chain, stuck = _walk_chain(leaf, _dedupe([*given, *trusted]))
    used = {c.fingerprint(_SHA256) for c in chain}
    unused = [c for c in given if c.fingerprint(_SHA256) not in used]
    if stuck is not None:
        issuer = stuck.issuer.rfc4514_string()
        where = "the leaf" if stuck is leaf else _describe(stuck)
        if unused:
            out.add(
                "missing-intermediate",
                f"the issuer of {where} ({issuer}) is missing from the chain; the chain has "
                f"{', '.join(_describe(c) for c in unused)} but not the certificate in between",
                stuck,
            )
        elif stuck is leaf and not given:
            out.add(
                "chain-incomplete",
                f"no CA chain was given and the leaf's issuer ({issuer}) is not among the "
                "trusted roots",
                stuck,
            )
        else:
            out.add(
                "chain-incomplete",
                f"the chain stops at {where}; its issuer ({issuer}) was not given and is not "
                "among the trusted roots",
                stuck,
            )
    else:
        for stray in unused:
            out.add(
                "chain-unrelated-certificate",
                f"the chain contains {_describe(stray)}, which is not on the path from the "
                "leaf to its root; it would be uploaded to the trust store needlessly",
                stray,
            )
    if check_order and given_fps:
        _check_order(given, chain, out)
    return chain


def validate_signed_certificate(
    cert_pem: str | bytes,
    chain_pem: str | bytes | None,
    csr_pem: str,
    expected_dns: list[str],
    now: datetime,
    policy: ValidationPolicy | None = None,
) -> ValidationReport:
    """Check a CA-signed certificate before it is uploaded to a CUCM/IM&P cluster.

    Every problem is collected (the check does not stop at the first), each with a stable code
    and a message that names exactly what is wrong.

    Args:
        cert_pem: The signed certificate as PEM or DER; may be a bundle that also holds the
            chain, or a PKCS#7 (.p7b) bundle.
        chain_pem: Intermediates and root as returned by the CA, in leaf → root order; None or
            blank when the CA returned none.
        csr_pem: The CSR generated on the publisher; the certificate must carry its key.
        expected_dns: FQDNs of every node the multi-server certificate must cover.
        now: The current time (timezone-aware); callers pass ``workflow.now()`` or a fixed time.
        policy: The rules to apply; CUCM defaults when omitted.

    Returns:
        The report; ``ok`` is True only when no problem was found.

    Raises:
        ValueError: ``now`` is naive.
        CertificateParseError: A policy trusted root cannot be parsed (a configuration bug).
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    policy = policy or ValidationPolicy()
    out = _Collector()

    trusted: list[x509.Certificate] = []
    for root_pem in policy.trusted_roots_pem:
        trusted.extend(load_pem_certificates(root_pem))

    csr_key_fp: str | None = None
    try:
        csr_key_fp = public_key_fingerprint(load_csr(csr_pem))
    except CertificateParseError as exc:
        out.add("csr-unparsable", f"the CSR cannot be read: {exc.reason}")

    try:
        certs, cert_from_pkcs7 = _load_certificates(cert_pem)
        if not certs:
            raise CertificateParseError("certificate", "bundle contains no certificates")
    except CertificateParseError as exc:
        out.add("certificate-unparsable", f"the signed certificate cannot be read: {exc.reason}")
        return ValidationReport(ok=False, problems=out.problems)
    leaf, extras = _choose_leaf(certs, csr_key_fp)

    chain_certs: list[x509.Certificate] = []
    chain_from_pkcs7 = False
    if chain_pem is not None and _as_bytes(chain_pem).strip():
        try:
            chain_certs, chain_from_pkcs7 = _load_certificates(chain_pem)
        except CertificateParseError as exc:
            out.add("chain-unparsable", f"the CA chain cannot be read: {exc.reason}")
    leaf_fp = leaf.fingerprint(_SHA256)
    given = [c for c in _dedupe([*extras, *chain_certs]) if c.fingerprint(_SHA256) != leaf_fp]

    self_signed = is_self_signed(leaf)
    if self_signed:
        out.add(
            "self-signed-leaf",
            f"the certificate {_describe(leaf)} is self-signed, not signed by a CA",
            leaf,
        )
    _check_leaf_dates(leaf, now, policy, out)
    key_type, _ = _check_key(leaf, policy, out)
    if csr_key_fp is not None:
        cert_key_fp = public_key_fingerprint(leaf)
        if cert_key_fp != csr_key_fp:
            out.add(
                "key-mismatch",
                "the certificate's public key does not match the CSR generated on the "
                f"publisher (CSR key sha256 {csr_key_fp[:16]}…, certificate key sha256 "
                f"{cert_key_fp[:16]}…); it was issued for a different request",
                leaf,
            )
    _check_names(leaf, expected_dns, policy, out)
    _check_usages(leaf, key_type, policy, out)
    _check_hash(leaf, "certificate", out)

    if self_signed:
        chain = [leaf]
    else:
        check_order = policy.require_chain_order and not (cert_from_pkcs7 or chain_from_pkcs7)
        chain = _check_chain(leaf, given, trusted, check_order, out)
        _check_chain_links(chain, now, out)
    if leaf.not_valid_after_utc > now:
        _check_remaining(chain, now, policy, out)

    return ValidationReport(
        ok=not out.problems,
        problems=out.problems,
        leaf=certificate_info(leaf),
        chain=[certificate_info(c) for c in chain],
    )
