"""Validate a CA-signed certificate before it is uploaded to a CUCM/IM&P cluster.

:func:`validate_signed_certificate` collects every problem (it does not stop at the first),
each with a stable code and a message that names exactly what is wrong. A pure function of
its arguments, like :mod:`activities.clients.pki` it builds on: no I/O, no clock (callers
pass ``now``), no temporalio.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from activities.clients.pki import (
    CertificateParseError,
    as_bytes,
    basic_constraints,
    certificate_info,
    common_name,
    dedupe,
    extended_key_usage_names,
    is_self_signed,
    key_type_and_size,
    key_usage_names,
    load_certificate_bundle,
    load_csr,
    load_pem_certificates,
    public_key_fingerprint,
    san_dns_names,
    signature_hash_name,
    signed_by,
    subject_alt_name,
    walk_chain,
)
from activities.models import KeyType, ValidationPolicy, ValidationProblem, ValidationReport

__all__ = ["validate_signed_certificate"]

_WEAK_HASHES = frozenset({"sha1", "md5", "md2", "md4"})
_SHA256 = hashes.SHA256()


def _describe(cert: x509.Certificate) -> str:
    cn = common_name(cert.subject)
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
        bc = basic_constraints(cert)
        if not (bc and bc.ca):
            return cert, [c for c in certs if c is not cert]
    return certs[0], certs[1:]


def _check_key(
    leaf: x509.Certificate, policy: ValidationPolicy, out: _Collector
) -> tuple[KeyType, int]:
    key_type, size, curve = key_type_and_size(leaf.public_key())
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
    san = subject_alt_name(leaf)
    cn = common_name(leaf.subject)
    names = san_dns_names(san)
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
    eku = extended_key_usage_names(leaf)
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
    ku = key_usage_names(leaf)
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
    name = signature_hash_name(cert)
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
        if not signed_by(child, issuer):
            out.add(
                "signature-invalid",
                f"the signature on {_describe(child)} does not verify with the key of its "
                f"issuer {_describe(issuer)}",
                child,
            )
        bc = basic_constraints(issuer)
        ku = key_usage_names(issuer)
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
    chain, stuck = walk_chain(leaf, dedupe([*given, *trusted]))
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
        certs, cert_from_pkcs7 = load_certificate_bundle(cert_pem)
        if not certs:
            raise CertificateParseError("certificate", "bundle contains no certificates")
    except CertificateParseError as exc:
        out.add("certificate-unparsable", f"the signed certificate cannot be read: {exc.reason}")
        return ValidationReport(ok=False, problems=out.problems)
    leaf, extras = _choose_leaf(certs, csr_key_fp)

    chain_certs: list[x509.Certificate] = []
    chain_from_pkcs7 = False
    if chain_pem is not None and as_bytes(chain_pem).strip():
        try:
            chain_certs, chain_from_pkcs7 = load_certificate_bundle(chain_pem)
        except CertificateParseError as exc:
            out.add("chain-unparsable", f"the CA chain cannot be read: {exc.reason}")
    leaf_fp = leaf.fingerprint(_SHA256)
    given = [c for c in dedupe([*extras, *chain_certs]) if c.fingerprint(_SHA256) != leaf_fp]

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
