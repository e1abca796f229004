"""TLS probe: which certificate a node really serves, and whether it verifies.

What ``show cert own`` or the REST API report is the *installed* certificate; what a node
serves changes only when its service restarts. The probe connects to the node's address with
SNI = FQDN, as a browser would, and reports the served leaf even when verification fails, so
the verify step of a renewal can say exactly what is wrong.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import socket
import ssl
from collections.abc import Callable, Sequence

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID
from pydantic import BaseModel, Field

from activities.clients.cucm import inferred
from activities.clients.cucm.errors import CucmTlsError, CucmUnreachable
from activities.clients.cucm.transport import NodeEndpoint

#: A plain-text negotiation on the connected socket before TLS starts (STARTTLS).
Prelude = Callable[[socket.socket], None]

#: OpenSSL's X509_V_ERR_HOSTNAME_MISMATCH: the chain verified, the name did not.
_HOSTNAME_MISMATCH = 62


class TlsProbeResult(BaseModel):
    """What one TLS handshake with a node showed.

    Attributes:
        node: FQDN used for SNI and hostname verification.
        port: TCP port probed.
        leaf_pem: The served leaf certificate, PEM.
        fingerprint_sha256: SHA-256 fingerprint of the leaf, lower-case hex.
        serial: Serial number of the leaf, lower-case hex.
        subject_cn: Common name of the leaf's subject.
        issuer_cn: Common name of the leaf's issuer.
        san_dns: DNS names of the leaf's SAN extension.
        not_before: Start of validity (UTC).
        not_after: End of validity (UTC).
        chain_verified: The chain verified against the trusted roots.
        hostname_matched: The leaf is valid for ``node``.
        verified: Both of the above.
        verify_error: OpenSSL's verification message when ``verified`` is false.
        verify_code: OpenSSL's X509_V_ERR code when ``verified`` is false (62: hostname
            mismatch); ``NodeEndpoint.untrusted`` turns both into an actionable message.
    """

    node: str
    port: int
    leaf_pem: str
    fingerprint_sha256: str
    serial: str
    subject_cn: str
    issuer_cn: str
    san_dns: list[str] = Field(default_factory=list)
    not_before: dt.datetime
    not_after: dt.datetime
    chain_verified: bool
    hostname_matched: bool
    verified: bool
    verify_error: str | None = None
    verify_code: int | None = None


async def probe_tls(
    endpoint: NodeEndpoint,
    port: int,
    extra_ca_pem: Sequence[str] = (),
    prelude: Prelude | None = None,
    *,
    ecdsa_only: bool = False,
) -> TlsProbeResult:
    """Handshake with ``endpoint`` on ``port`` and describe the served certificate.

    Trust is everything the endpoint trusts (the inventory's CA file, the cluster's trust
    store, its extra roots) and ``extra_ca_pem``.

    A listener with an RSA and an ECDSA certificate (CUCM 14+) serves the ECDSA one only to a
    client that offers nothing else: ``ecdsa_only`` makes the probe such a client (TLS 1.2,
    ECDHE-ECDSA cipher suites); otherwise it offers what a browser does.

    Args:
        endpoint: The node (socket to ``endpoint.host``, SNI and hostname check on its FQDN).
        port: The TLS port (8443 for the admin web, the REST port...).
        extra_ca_pem: Further roots to trust, e.g. the CA that signed the new certificate.
        prelude: Plain-text negotiation run on the connected socket before the handshake
            (XMPP STARTTLS, see xmpp.py); None for TLS from the first byte.
        ecdsa_only: Offer ECDSA alone, to read the ECDSA certificate of the listener.

    Raises:
        CucmUnreachable: The connection was refused, reset or timed out.
        CucmTlsError: The handshake failed for a reason other than certificate verification
            (with ``ecdsa_only``: also when the listener has no ECDSA certificate).
        CucmTrustConfigError: A file the endpoint trusts is missing or not PEM.
    """
    return await asyncio.to_thread(_probe, endpoint, port, tuple(extra_ca_pem), prelude, ecdsa_only)


def _offer_ecdsa_only(ctx: ssl.SSLContext) -> ssl.SSLContext:
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers(inferred.ECDSA_ONLY_CIPHERS)
    return ctx


def _probe(
    endpoint: NodeEndpoint,
    port: int,
    extra_ca_pem: tuple[str, ...],
    prelude: Prelude | None = None,
    ecdsa_only: bool = False,
) -> TlsProbeResult:
    verifying = endpoint.ssl_context()
    for pem in extra_ca_pem:
        verifying.load_verify_locations(cadata=pem)
    if ecdsa_only:
        _offer_ecdsa_only(verifying)
    try:
        der = _handshake(endpoint, port, verifying, prelude)
        return _result(endpoint, port, der, chain_ok=True, name_ok=True, error=None)
    except ssl.SSLCertVerificationError as exc:
        error = exc.verify_message or str(exc)
        code = exc.verify_code
        chain_ok = code == _HOSTNAME_MISMATCH
    # A second handshake without verification reads the leaf the node serves all the same.
    reading = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    reading.check_hostname = False
    reading.verify_mode = ssl.CERT_NONE
    if ecdsa_only:
        _offer_ecdsa_only(reading)
    der = _handshake(endpoint, port, reading, prelude)
    name_ok = _name_matches(x509.load_der_x509_certificate(der), endpoint.fqdn)
    result = _result(endpoint, port, der, chain_ok=chain_ok, name_ok=name_ok, error=error)
    result.verify_code = code
    return result


def _handshake(
    endpoint: NodeEndpoint, port: int, ctx: ssl.SSLContext, prelude: Prelude | None = None
) -> bytes:
    node = endpoint.fqdn
    try:
        with socket.create_connection((endpoint.host, port), timeout=endpoint.timeout) as raw:
            if prelude is not None:
                prelude(raw)
            with ctx.wrap_socket(raw, server_hostname=node) as tls:
                der = tls.getpeercert(binary_form=True)
    except ssl.SSLCertVerificationError:
        raise
    except (ConnectionError, TimeoutError) as exc:
        raise CucmUnreachable(f"TLS port {port}: {exc.__class__.__name__}", node=node) from None
    except ssl.SSLError as exc:
        raise CucmTlsError(f"TLS handshake on port {port} failed: {exc}", node=node) from None
    except OSError as exc:
        raise CucmUnreachable(f"TLS port {port}: {exc}", node=node) from None
    if not der:
        raise CucmTlsError(f"no certificate served on port {port}", node=node)
    return der


def _result(
    endpoint: NodeEndpoint,
    port: int,
    der: bytes,
    *,
    chain_ok: bool,
    name_ok: bool,
    error: str | None,
) -> TlsProbeResult:
    cert = x509.load_der_x509_certificate(der)
    return TlsProbeResult(
        node=endpoint.fqdn,
        port=port,
        leaf_pem=cert.public_bytes(serialization.Encoding.PEM).decode("ascii"),
        fingerprint_sha256=cert.fingerprint(hashes.SHA256()).hex(),
        serial=format(cert.serial_number, "x"),
        subject_cn=_cn(cert.subject),
        issuer_cn=_cn(cert.issuer),
        san_dns=_san_dns(cert),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        chain_verified=chain_ok,
        hostname_matched=name_ok,
        verified=chain_ok and name_ok,
        verify_error=error,
    )


def _cn(name: x509.Name) -> str:
    attrs = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(attrs[0].value) if attrs else name.rfc4514_string()


def _san_dns(cert: x509.Certificate) -> list[str]:
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return []
    return list(ext.value.get_values_for_type(x509.DNSName))


def _name_matches(cert: x509.Certificate, host: str) -> bool:
    """RFC 6125 DNS-ID matching (SAN only, one left-most wildcard label), like OpenSSL's."""
    host = host.lower().rstrip(".")
    for name in _san_dns(cert):
        pattern = name.lower().rstrip(".")
        if pattern == host:
            return True
        if pattern.startswith("*.") and "." in host and host.split(".", 1)[1] == pattern[2:]:
            return True
    return False
