"""Reading certsrv's answers: the only place that knows the web enrollment pages' wording.

The page text is the only contract (cucm-interfaces.md §12), so every regex that reads it is
here, each marked with what the reference confirms and what is inferred ([INF]).
"""

from __future__ import annotations

import base64
import binascii
import html
import re

import httpx
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.serialization import pkcs7

__all__ = [
    "DENIED",
    "DISPOSITION_CELL",
    "DISPOSITION_QUOTED",
    "ERROR_CELL",
    "ISSUED_LINK",
    "NOT_FOUND",
    "N_RENEWALS",
    "PENDING_PAGE",
    "REQUEST_ID",
    "STILL_PENDING",
    "TEMPLATE_UNKNOWN",
    "is_certificate",
    "match_text",
    "parse_certificate",
    "parse_pkcs7",
    "retry_after_seconds",
]

# §12: the issued page links the certificate as certnew.cer?ReqID=<id>&amp;Enc=b64.
ISSUED_LINK = re.compile(r"certnew\.cer\?ReqID=(\d+)&(?:amp;)?Enc=", re.IGNORECASE)
# §12: the pending page says "Certificate Pending".
PENDING_PAGE = re.compile(r"Certificate\s+Pending", re.IGNORECASE)
# §12: "Your Request Id is <id>." on the pending page; [INF] also on the denied page.
REQUEST_ID = re.compile(r"Your\s+Request\s+Id\s+is\s+(\d+)", re.IGNORECASE)
# §12: the denied page quotes the reason after "The disposition message is".
DISPOSITION_QUOTED = re.compile(r'The\s+disposition\s+message\s+is\s+"([^"]*)"', re.IGNORECASE)
# §12: a retrieval failure shows "Disposition message:"; [INF] the value is the next table
# cell (public clients skip to after two tabs), so tags and whitespace are skipped here.
DISPOSITION_CELL = re.compile(
    r"Disposition\s+message:\s*(?:</?t[dhr][^>]*>\s*)*([^<\r\n]+)", re.IGNORECASE
)
# [INF]: the same error page carries an "Error:" cell with the HRESULT in words and hex.
ERROR_CELL = re.compile(r"\bError:\s*(?:</?t[dhr][^>]*>\s*)*([^<\r\n]+)", re.IGNORECASE)
# §12: certcarc.asp exposes the CA's renewal count as a script variable.
N_RENEWALS = re.compile(r"var\s+nRenewals\s*=\s*(\d+)\s*;", re.IGNORECASE)
# [INF]: CERTSRV_E_UNSUPPORTED_CERT_TYPE (unknown template) and CERTSRV_E_NO_CERT_TYPE (none
# named) are configuration errors, not refusals of this CSR.
TEMPLATE_UNKNOWN = re.compile(
    r"0x80094800|0x80094801|CERTSRV_E_UNSUPPORTED_CERT_TYPE|CERTSRV_E_NO_CERT_TYPE"
    r"|certificate\s+template\s+that\s+is\s+not\s+supported",
    re.IGNORECASE,
)
# [INF]: a request id the CA database does not hold (CRYPT_E_NOT_FOUND), or a malformed one.
NOT_FOUND = re.compile(
    r"0x80092004|CRYPT_E_NOT_FOUND|Cannot\s+find\s+object\s+or\s+property"
    r"|0x80070057|ERROR_INVALID_PARAMETER",
    re.IGNORECASE,
)
# [INF]: still waiting for a CA officer (CR_DISP_UNDER_SUBMISSION is "Taken Under Submission";
# retrieving it fails with CERTSRV_E_BAD_REQUESTSTATUS).
STILL_PENDING = re.compile(
    r"Taken\s+Under\s+Submission|0x80094003|CERTSRV_E_BAD_REQUESTSTATUS", re.IGNORECASE
)
# [INF]: denied by an officer (CERTSRV_E_ADMIN_DENIED_REQUEST) or by the policy module; the
# disposition message of a denied request starts with "Denied by".
DENIED = re.compile(r"^\s*Denied\b|0x80094014|CERTSRV_E_ADMIN_DENIED_REQUEST", re.IGNORECASE)
# [INF]: the PKCS#7 of certnew.p7b?Enc=b64 is PEM-armoured, reportedly under a CERTIFICATE
# label; any label is accepted and the content decides.
_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 #]+)-----(.+?)-----END \1-----", re.DOTALL)
_CERT_CONTENT_TYPES = ("application/pkix-cert", "application/x-x509-ca-cert")


def match_text(match: re.Match[str] | None) -> str | None:
    """The first group of ``match``, unescaped and stripped; None without a match."""
    return html.unescape(match.group(1)).strip() if match else None


def is_certificate(resp: httpx.Response) -> bool:
    """Whether certsrv answered with a certificate rather than an HTML page."""
    content_type = resp.headers.get("content-type", "").split(";")[0].strip().lower()
    return content_type in _CERT_CONTENT_TYPES


def parse_certificate(body: bytes) -> x509.Certificate | None:
    """A certificate from a PEM or DER body; None when the body is neither."""
    try:
        if b"-----BEGIN CERTIFICATE-----" in body:
            return x509.load_pem_x509_certificate(body)
        return x509.load_der_x509_certificate(body)
    except ValueError:
        return None


def parse_pkcs7(body: bytes) -> list[x509.Certificate]:
    """Certificates of a PKCS#7 that is DER or PEM under any label; empty when it is not one."""
    blobs: list[bytes] = []
    for match in _PEM_BLOCK.finditer(body):
        try:
            blobs.append(base64.b64decode(b"".join(match.group(2).split()), validate=True))
        except (binascii.Error, ValueError):
            continue
    if not blobs:
        blobs = [body]
    certs: list[x509.Certificate] = []
    for der in blobs:
        try:
            certs.extend(pkcs7.load_der_pkcs7_certificates(der))
        except (ValueError, UnsupportedAlgorithm):
            continue
    return certs


def retry_after_seconds(resp: httpx.Response) -> float | None:
    """The Retry-After header in seconds, when given as a number."""
    value = resp.headers.get("retry-after", "").strip()
    return float(value) if value.isdigit() else None
