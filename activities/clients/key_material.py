"""Recognising private key material in what an operator hands in as "a certificate".

A certificate submission carries public material only: the key of a CUCM certificate is
generated on the publisher with the CSR and never leaves it. A file that also holds a private
key (a PEM bundle exported with its key, a PKCS#12/PFX file, a bare DER key) must be refused
*before* it is sent anywhere: whatever reaches Temporal is stored in the workflow history and
its database for the retention period. :func:`find_key_material` says what it found (never
the material itself); :func:`refuse_key_material` turns that into :class:`KeyMaterialError`
with the message every entry point (CLI, service, workflow validator, data converter) shows.

Pure Python (no cryptography, no I/O): the renewal's update validator runs it inside the
workflow sandbox. This module never imports temporalio.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterator
from typing import Final

__all__ = [
    "KEY_MATERIAL_ADVICE",
    "KeyMaterialError",
    "find_key_material",
    "refuse_key_material",
]

KEY_MATERIAL_ADVICE: Final = (
    "submit only the signed certificate and its CA chain (PEM): the private key of a CUCM "
    "certificate is generated on CUCM with the CSR and never leaves it"
)
"""What to do instead, appended to every refusal."""

# A PEM block: its label and body (up to the matching END line, or the next dashes).
_PEM_BLOCK: Final = re.compile(
    r"-----BEGIN ([^-\r\n]{0,80})-----(.*?)(?:-----END [^-\r\n]{0,80}-----|-----|\Z)", re.S
)
# Anything that names a private key the way PEM, PGP or OpenSSH headers do, even mangled
# (spaces, case, dashes lost in a copy and paste).
_KEY_HEADER: Final = re.compile(r"BEGIN[\s_-]+(?:[A-Z0-9]+[\s_-]+)*PRIVATE[\s_-]+KEY", re.I)
# PuTTY's .ppk format has no PEM header.
_PUTTY: Final = re.compile(r"PuTTY-User-Key-File-\d|^Private-Lines:\s*\d", re.M)
_PKCS12_LABELS: Final = frozenset({"PKCS12", "PKCS #12", "PFX"})
_BASE64_TEXT: Final = re.compile(r"[A-Za-z0-9+/=\s]+")
# Shorter base64 runs cannot hold a key (the smallest, an EC P-256 SEC1 key, is 121 bytes).
_MIN_BARE_BASE64: Final = 100

_SEQUENCE: Final = 0x30
_INTEGER: Final = 0x02
_OCTET_STRING: Final = 0x04
_OID: Final = 0x06
# 1.2.840.113549.1.7 (PKCS#7 content types: data, signedData, ...), as DER value bytes.
_PKCS7_ARC: Final = bytes.fromhex("2a864886f70d0107")
# 1.2.840.113549.1.5 (PKCS#5 PBES1/PBES2) and 1.2.840.113549.1.12 (PKCS#12 PBE).
_KEY_ENCRYPTION_ARCS: Final = (bytes.fromhex("2a864886f70d0105"), bytes.fromhex("2a864886f70d010c"))


class KeyMaterialError(ValueError):
    """A submission holds private key material; the message names what, never the bytes.

    Attributes:
        kind: What was found, e.g. ``a PEM 'RSA PRIVATE KEY' block``.
    """

    def __init__(self, what: str, kind: str, outcome: str = "nothing of it was sent") -> None:
        """Build the refusal.

        Args:
            what: The refused thing, e.g. ``the certificate file cert.pem``.
            kind: What was found in it (from :func:`find_key_material`).
            outcome: What became of it, said after "refused:".
        """
        super().__init__(
            f"{what} holds private key material ({kind}) and was refused, {outcome}; "
            f"{KEY_MATERIAL_ADVICE}"
        )
        self.kind = kind


def _tlv(data: bytes, at: int, end: int) -> tuple[int, int, int] | None:
    """``(tag, value_start, value_end)`` of the DER/BER element at ``at``, or ``None``."""
    if at + 2 > end:
        return None
    tag, first = data[at], data[at + 1]
    start = at + 2
    if first < 0x80:
        length = first
    elif first == 0x80:  # BER indefinite length (some PFX writers): runs to the end
        return tag, start, end
    else:
        count = first & 0x7F
        if count > 4 or start + count > end:
            return None
        length = int.from_bytes(data[start : start + count], "big")
        start += count
    if start + length > end:
        return None
    return tag, start, start + length


def _children(data: bytes, start: int, end: int, limit: int = 3) -> Iterator[tuple[int, int, int]]:
    at = start
    for _ in range(limit):
        element = _tlv(data, at, end)
        if element is None:
            return
        yield element
        at = element[2]


def _der_kind(data: bytes) -> str | None:
    """What private key structure a DER (or BER) blob is, if it is one."""
    outer = _tlv(data, 0, len(data))
    if outer is None or outer[0] != _SEQUENCE:
        return None
    items = list(_children(data, outer[1], outer[2]))
    if len(items) < 2:
        return None
    (tag1, s1, e1), (tag2, s2, e2) = items[0], items[1]
    if tag1 == _INTEGER:
        version = int.from_bytes(data[s1:e1], "big") if e1 - s1 <= 4 else -1
        inner = next(_children(data, s2, e2, 1), None) if tag2 == _SEQUENCE else None
        inner_oid = data[inner[1] : inner[2]] if inner and inner[0] == _OID else b""
        if version == 3 and inner_oid.startswith(_PKCS7_ARC):
            return "a PKCS#12 (PFX) bundle"
        if version in (0, 1) and inner_oid:
            return "a DER PKCS#8 private key"
        if version == 0 and tag2 == _INTEGER:
            return "a DER RSA or DSA private key"
        if version == 1 and tag2 == _OCTET_STRING:
            return "a DER EC private key"
        return None
    if tag1 == _SEQUENCE and tag2 == _OCTET_STRING and len(items) == 2:
        algorithm = next(_children(data, s1, e1, 1), None)
        if algorithm and algorithm[0] == _OID:
            oid = data[algorithm[1] : algorithm[2]]
            if any(oid.startswith(arc) for arc in _KEY_ENCRYPTION_ARCS):
                return "a DER encrypted PKCS#8 private key"
    return None


def _b64(text: str) -> bytes | None:
    try:
        return base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        return None


def find_key_material(data: bytes | str) -> str | None:
    """Say what private key material ``data`` holds, or ``None`` when it holds none.

    Recognised: PEM blocks whose label names a private key (``PRIVATE KEY``, ``ENCRYPTED
    PRIVATE KEY``, ``RSA``/``EC``/``DSA``/``OPENSSH PRIVATE KEY``, PGP private key blocks),
    PuTTY key files, PKCS#12/PFX bundles (binary, base64 or in a PEM block), and DER keys
    (PKCS#8 plain or encrypted, PKCS#1 RSA, DSA, SEC1 EC), bare or under any PEM label.
    Certificates, chains, CSRs and PKCS#7 bundles are not key material.

    Args:
        data: A file's bytes or text.

    Returns:
        A short description of the first key material found (no key bytes), or ``None``.
    """
    if isinstance(data, str):
        text = data
    else:
        kind = _der_kind(data)
        if kind is not None:
            return kind
        text = data.decode("latin-1")
    for block in _PEM_BLOCK.finditer(text):
        label = " ".join(block.group(1).split()).upper()
        if "PRIVATE KEY" in label:
            return f"a PEM '{label}' block"
        if label in _PKCS12_LABELS:
            return "a PKCS#12 (PFX) bundle"
        body = "\n".join(
            line
            for line in block.group(2).splitlines()
            if ":" not in line  # RFC 1421 headers
        )
        der = _b64(body)
        kind = _der_kind(der) if der else None
        if kind is not None:
            return f"{kind} under a PEM '{label}' label"
    if _KEY_HEADER.search(text):
        return "a private key header"
    if _PUTTY.search(text):
        return "a PuTTY private key"
    # What is left outside the PEM blocks: a bare base64 blob pasted before or after them.
    stripped = _PEM_BLOCK.sub("\n", text).strip()
    if len(stripped) >= _MIN_BARE_BASE64 and _BASE64_TEXT.fullmatch(stripped):
        der = _b64(stripped)
        kind = _der_kind(der) if der else None
        if kind is not None:
            return f"{kind} (base64)"
    return None


def refuse_key_material(
    data: bytes | str | None, what: str, outcome: str = "nothing of it was sent"
) -> None:
    """Raise :class:`KeyMaterialError` when ``data`` holds private key material.

    Args:
        data: A file's bytes or text; ``None`` (nothing given) passes.
        what: How the message names it, e.g. ``the certificate file cert.pem``.
        outcome: What became of it (the default suits a check before sending).

    Raises:
        KeyMaterialError: Key material was found; the message says what and what to do.
    """
    if data is None:
        return
    kind = find_key_material(data)
    if kind is not None:
        raise KeyMaterialError(what, kind, outcome)
