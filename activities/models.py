"""Payload models passed between workflows and activities.

Every model here crosses the Temporal boundary, so the rules of the style guide apply: add
fields only with defaults, keep pydantic's default ``extra="ignore"`` so old histories still
decode, and keep datetimes timezone-aware UTC. Nothing here imports ``cryptography`` or does
I/O; parsing lives in ``activities.clients.pki``, which returns these summaries.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field

__all__ = [
    "CaProfile",
    "CaSubmission",
    "CaSubmissionStatus",
    "CertificateInfo",
    "CsrInfo",
    "KeyType",
    "UtcDatetime",
    "ValidationPolicy",
    "ValidationProblem",
    "ValidationReport",
]


def _require_utc(value: datetime) -> datetime:
    """Reject naive datetimes and normalise aware ones to UTC."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("datetime must be timezone-aware (UTC)")
    return value.astimezone(UTC)


UtcDatetime = Annotated[datetime, AfterValidator(_require_utc)]
"""A timezone-aware datetime, normalised to UTC on validation."""

KeyType = Literal["RSA", "EC", "other"]
"""Public key algorithm family. CUCM accepts only RSA and EC; ``other`` covers Ed25519 etc."""


# --------------------------------------------------------------------------------------------
# X.509 summaries
# --------------------------------------------------------------------------------------------


class CertificateInfo(BaseModel):
    """What ucrenew needs to know about one X.509 certificate.

    Attributes:
        subject_cn: The first subject commonName, if any.
        subject: The subject as an RFC 4514 string.
        issuer: The issuer as an RFC 4514 string.
        serial_hex: The serial number, lower-case hex without separators.
        sha256_fingerprint: SHA-256 of the DER certificate, lower-case hex.
        public_key_sha256: SHA-256 of the DER SubjectPublicKeyInfo, lower-case hex.
        not_before: Start of validity (UTC).
        not_after: End of validity (UTC).
        san_dns: DNS names in the subjectAltName extension, in certificate order.
        san_ip: IP addresses in the subjectAltName extension.
        has_san: Whether a subjectAltName extension is present at all.
        key_type: Public key algorithm family.
        key_size: RSA modulus bits or EC curve bits; 0 when unknown.
        ec_curve: EC curve name (e.g. ``secp256r1``), if the key is EC.
        signature_hash: Hash of the signature algorithm (``sha256``), or None (Ed25519).
        is_ca: Whether basicConstraints says CA=true.
        path_length: basicConstraints pathLenConstraint, if any.
        self_signed: Whether issuer equals subject and the certificate verifies with its own key.
        eku: Extended key usages as short names (``serverAuth``) or dotted OIDs.
        key_usage: Key usages as RFC 5280 names (``digitalSignature``).
        subject_key_id: subjectKeyIdentifier, lower-case hex.
        authority_key_id: authorityKeyIdentifier keyIdentifier, lower-case hex.
        pem: The certificate in PEM form.
    """

    subject_cn: str | None = None
    subject: str
    issuer: str
    serial_hex: str
    sha256_fingerprint: str
    public_key_sha256: str = ""
    not_before: UtcDatetime
    not_after: UtcDatetime
    san_dns: list[str] = Field(default_factory=list)
    san_ip: list[str] = Field(default_factory=list)
    has_san: bool = False
    key_type: KeyType
    key_size: int = 0
    ec_curve: str | None = None
    signature_hash: str | None = None
    is_ca: bool = False
    path_length: int | None = None
    self_signed: bool = False
    eku: list[str] = Field(default_factory=list)
    key_usage: list[str] = Field(default_factory=list)
    subject_key_id: str | None = None
    authority_key_id: str | None = None
    pem: str


class CsrInfo(BaseModel):
    """What ucrenew needs to know about one PKCS#10 certificate signing request.

    Attributes:
        subject_cn: The first subject commonName, if any.
        subject: The subject as an RFC 4514 string.
        san_dns: DNS names in the requested subjectAltName extension.
        key_type: Public key algorithm family.
        key_size: RSA modulus bits or EC curve bits; 0 when unknown.
        public_key_sha256: SHA-256 of the DER SubjectPublicKeyInfo, lower-case hex.
        signature_hash: Hash of the CSR's signature algorithm, or None.
        signature_valid: Whether the CSR's self-signature verifies.
        pem: The CSR in PEM form.
    """

    subject_cn: str | None = None
    subject: str = ""
    san_dns: list[str] = Field(default_factory=list)
    key_type: KeyType
    key_size: int = 0
    public_key_sha256: str
    signature_hash: str | None = None
    signature_valid: bool = True
    pem: str


# --------------------------------------------------------------------------------------------
# Validation of a CA-signed certificate before it is uploaded to CUCM
# --------------------------------------------------------------------------------------------


class ValidationPolicy(BaseModel):
    """Rules a signed certificate must meet before ucrenew uploads it to CUCM.

    The defaults follow CUCM's documented limits (cucm-interfaces.md §1.2) and Field Notice
    FN74345 (CUCM uses its tomcat/CallManager certificates as TLS clients too, so a
    serverAuth-only certificate breaks mutual TLS).

    Attributes:
        max_rsa_key_size: Largest RSA key CUCM accepts.
        min_rsa_key_size: Smallest RSA key ucrenew accepts.
        allowed_ec_curve_sizes: EC curve sizes CUCM accepts.
        require_server_auth: Require the serverAuth EKU (when an EKU extension is present).
        require_client_auth: Require the clientAuth EKU (when an EKU extension is present).
        rsa_key_usage: Key usages an RSA leaf must carry (when a keyUsage extension is present).
        ec_key_usage: Key usages an EC leaf must carry (when a keyUsage extension is present).
        min_remaining_days: Refuse a chain that expires sooner than this; shorter validity than
            the renewal threshold would trigger another renewal at once.
        allow_wildcard: Accept ``*`` names (CUCM does not support wildcard certificates).
        require_chain_order: Refuse a PEM chain not given in issuer order (leaf → root).
        not_before_tolerance_seconds: Clock skew tolerated for a not-yet-valid leaf.
        trusted_roots_pem: Root certificates (PEM) that may complete a chain ending at an
            intermediate.
    """

    max_rsa_key_size: int = 4096
    min_rsa_key_size: int = 2048
    allowed_ec_curve_sizes: list[int] = Field(default_factory=lambda: [256, 384])
    require_server_auth: bool = True
    require_client_auth: bool = True
    rsa_key_usage: list[str] = Field(
        default_factory=lambda: ["digitalSignature", "keyEncipherment"]
    )
    ec_key_usage: list[str] = Field(default_factory=lambda: ["digitalSignature"])
    min_remaining_days: int = 30
    allow_wildcard: bool = False
    require_chain_order: bool = True
    not_before_tolerance_seconds: int = 300
    trusted_roots_pem: list[str] = Field(default_factory=list)


class ValidationProblem(BaseModel):
    """One reason a certificate is refused.

    Attributes:
        code: Short stable kebab-case identifier (``san-missing``, ``key-mismatch``).
        message: Human text naming the problem precisely (which name, which certificate).
        subject: Subject (RFC 4514) of the certificate the problem is about, if one.
    """

    code: str
    message: str
    subject: str | None = None


class ValidationReport(BaseModel):
    """The outcome of validating a signed certificate against its CSR and the cluster.

    Attributes:
        ok: True when there are no problems.
        problems: Every problem found, not just the first.
        leaf: The leaf certificate, when it could be parsed.
        chain: The ordered chain leaf → root as far as it could be built (leaf included).
    """

    ok: bool
    problems: list[ValidationProblem] = Field(default_factory=list)
    leaf: CertificateInfo | None = None
    chain: list[CertificateInfo] = Field(default_factory=list)

    @property
    def codes(self) -> list[str]:
        """The problem codes, in the order found."""
        return [p.code for p in self.problems]


# --------------------------------------------------------------------------------------------
# Certificate authorities
# --------------------------------------------------------------------------------------------

CaSubmissionStatus = Literal["issued", "pending", "denied"]


class CaProfile(BaseModel):
    """Per-request issuance parameters handed to a CA backend.

    Attributes:
        name: Profile name from the inventory, for logs and audit.
        template: Backend-specific certificate template (ADCS template name, ACME profile).
        validity_days: Requested validity; None lets the CA decide.
    """

    name: str = "default"
    template: str | None = None
    validity_days: int | None = None


class CaSubmission(BaseModel):
    """The state of one certificate request at a CA.

    Attributes:
        status: ``issued``, ``pending`` (ask again later) or ``denied``.
        request_ref: Opaque reference to poll with (ADCS Request Id, ACME order URL, serial).
        certificate_pem: The issued leaf, when issued.
        chain_pem: Intermediates then root (leaf → root order), when issued.
        message: Human text from the CA (disposition message, denial reason).
        retry_after_seconds: The CA's hint for the next poll, when pending.
    """

    status: CaSubmissionStatus
    request_ref: str
    certificate_pem: str | None = None
    chain_pem: str | None = None
    message: str = ""
    retry_after_seconds: float | None = None


class CaSubmitRequest(BaseModel):
    """Submit a CSR to the CA a renewal uses.

    Attributes:
        change_id: The change, for the CA's records and logs.
        ca: Backend kind: ``local``, ``adcs`` or ``acme``.
        ca_name: Inventory name of the CA; the first of its kind when None.
        csr_pem: The CSR generated on the publisher.
    """

    change_id: str
    ca: Literal["local", "adcs", "acme"]
    ca_name: str | None = None
    csr_pem: str
    template: str | None = None


class CaPollRequest(BaseModel):
    """Ask the CA about an earlier request, until it is issued or denied.

    Attributes:
        poll_seconds: The wait between polls when the CA gives no Retry-After.
        csr_pem: The CSR that was submitted (public): any worker, with nothing on its disk,
            can finish the request (ACME finalizes an order with it). None in renewals
            started before it was carried.
    """

    change_id: str
    ca: Literal["local", "adcs", "acme"]
    ca_name: str | None = None
    request_ref: str
    poll_seconds: float = 300.0
    csr_pem: str | None = None
