"""A two-tier CA of the lab's own (root, then an issuing intermediate), kept in a directory.

The ADCS twin signs with it. The lab is a separate system from ucrenew, so it signs with this
small CA built on pyca/cryptography rather than with the orchestrator's local CA: were they
one code, the twin and ucrenew's CA clients would agree by construction.

Directory layout: ``root.pem root.key intermediate.pem intermediate.key``; keys are mode 0600.
The material is created on first use and loaded by later instances, so a lab restarted on the
same state dir keeps its CA.
"""

from __future__ import annotations

import datetime as dt
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from lab import pki

__all__ = ["CsrRejected", "TwoTierCa"]

_ROOT_DAYS = 3650
_INTERMEDIATE_DAYS = 1825
# Backdating absorbs clock skew between the lab and whoever checks the dates.
_CA_BACKDATE = dt.timedelta(hours=1)
_LEAF_BACKDATE = dt.timedelta(minutes=5)


class CsrRejected(pki.PkiError):
    """A CSR the CA will not sign: it cannot be read, or its signature does not verify."""


@dataclass(frozen=True)
class _Material:
    root: x509.Certificate
    intermediate: x509.Certificate
    intermediate_key: rsa.RSAPrivateKey


class TwoTierCa:
    """A root and an issuing intermediate in a directory; leaves are signed at once.

    Attributes:
        name: Short name, used in the CA certificates' common names.
        directory: Where the CA material lives.
    """

    def __init__(self, directory: Path, name: str, key_size: int = 2048) -> None:
        """Prepare the CA; nothing is read or created until first use.

        Args:
            directory: Directory holding the CA material (created on first use).
            name: Short name, used in the CA certificates' common names.
            key_size: RSA key size of the root and the intermediate.
        """
        self.name = name
        self.directory = Path(directory)
        self._key_size = key_size
        self._lock = threading.Lock()
        self._material: _Material | None = None

    @property
    def root_pem(self) -> str:
        """The root certificate, PEM (creates the CA on first use)."""
        return pki.pem(self._ensure().root)

    @property
    def intermediate_pem(self) -> str:
        """The issuing intermediate certificate, PEM (creates the CA on first use)."""
        return pki.pem(self._ensure().intermediate)

    def ensure(self) -> None:
        """Create the CA when the directory holds none yet, otherwise load it."""
        self._ensure()

    def sign(self, csr_pem: str, validity_days: int = 365) -> tuple[str, str]:
        """Issue a TLS leaf for a CSR from the intermediate.

        The leaf keeps the CSR's subject and subjectAltName and carries EKU serverAuth and
        clientAuth, keyUsage for its key type, and subject/authority key identifiers; its
        validity ends no later than the intermediate's.

        Args:
            csr_pem: The PKCS#10 request, PEM.
            validity_days: Requested validity in days.

        Returns:
            ``(leaf_pem, chain_pem)``, the chain being the intermediate then the root.

        Raises:
            CsrRejected: The CSR cannot be read or its signature does not verify.
        """
        material = self._ensure()
        try:
            csr = x509.load_pem_x509_csr(csr_pem.encode())
        except ValueError:
            raise CsrRejected(f"{self.name} CA: the CSR cannot be read") from None
        if not csr.is_signature_valid:
            raise CsrRejected(f"{self.name} CA: the CSR's signature does not verify")
        now = dt.datetime.now(dt.UTC)
        issuer = material.intermediate
        public_key = csr.public_key()
        is_ec = isinstance(public_key, ec.EllipticCurvePublicKey)
        not_after = min(now + dt.timedelta(days=validity_days), issuer.not_valid_after_utc)
        builder = (
            pki.certificate_builder(
                csr.subject, issuer.subject, public_key, now - _LEAF_BACKDATE, not_after
            )
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            # RFC 5480: an EC key agrees on keys, it does not encipher them.
            .add_extension(pki.key_usage(encipherment=not is_ec, agreement=is_ec), critical=True)
            .add_extension(
                x509.ExtendedKeyUsage(
                    [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
                ),
                critical=False,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
            .add_extension(_authority_key_id(issuer), critical=False)
        )
        try:
            san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        except x509.ExtensionNotFound:
            pass
        else:
            # RFC 5280 4.2.1.6: the SAN is critical when the subject is empty.
            builder = builder.add_extension(san, critical=len(csr.subject) == 0)
        leaf = builder.sign(material.intermediate_key, hashes.SHA256())
        return pki.pem(leaf), pki.pem(issuer) + pki.pem(material.root)

    # -- creation and loading -----------------------------------------------------------------

    def _ensure(self) -> _Material:
        with self._lock:
            if self._material is None:
                if not (self.directory / "intermediate.key").is_file():
                    self._create()
                self._material = self._load()
            return self._material

    def _create(self) -> None:
        now = dt.datetime.now(dt.UTC)
        root_key = rsa.generate_private_key(public_exponent=65537, key_size=self._key_size)
        int_key = rsa.generate_private_key(public_exponent=65537, key_size=self._key_size)
        # A tag per CA keeps the names of two labs' roots apart in one trust store.
        tag = secrets.token_hex(3)
        root_name = _ca_name(f"ucrenew lab {self.name} Root CA {tag}")
        root = _ca_certificate(
            root_name, root_name, root_key.public_key(), root_key, now, _ROOT_DAYS, 1, None
        )
        intermediate = _ca_certificate(
            _ca_name(f"ucrenew lab {self.name} Issuing CA {tag}"),
            root_name,
            int_key.public_key(),
            root_key,
            now,
            _INTERMEDIATE_DAYS,
            0,
            root,
        )
        self.directory.mkdir(parents=True, exist_ok=True)
        pki.write_private(self.directory / "root.key", pki.key_pem(root_key))
        (self.directory / "root.pem").write_text(pki.pem(root))
        (self.directory / "intermediate.pem").write_text(pki.pem(intermediate))
        # Written last: its presence marks the material complete.
        pki.write_private(self.directory / "intermediate.key", pki.key_pem(int_key))

    def _load(self) -> _Material:
        root = x509.load_pem_x509_certificate((self.directory / "root.pem").read_bytes())
        intermediate = x509.load_pem_x509_certificate(
            (self.directory / "intermediate.pem").read_bytes()
        )
        key = serialization.load_pem_private_key(
            (self.directory / "intermediate.key").read_bytes(), password=None
        )
        if not isinstance(key, rsa.RSAPrivateKey):
            raise pki.PkiError(f"{self.name} CA: intermediate.key is not an RSA key")
        return _Material(root=root, intermediate=intermediate, intermediate_key=key)


def _ca_name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "ucrenew lab"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _authority_key_id(issuer: x509.Certificate) -> x509.AuthorityKeyIdentifier:
    ski = issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)


def _ca_certificate(
    subject: x509.Name,
    issuer_name: x509.Name,
    public_key: rsa.RSAPublicKey,
    signing_key: rsa.RSAPrivateKey,
    now: dt.datetime,
    days: int,
    path_length: int,
    issuer: x509.Certificate | None,
) -> x509.Certificate:
    builder = (
        pki.certificate_builder(
            subject, issuer_name, public_key, now - _CA_BACKDATE, now + dt.timedelta(days=days)
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .add_extension(pki.key_usage(cert_sign=True, crl_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )
    if issuer is not None:
        builder = builder.add_extension(_authority_key_id(issuer), critical=False)
    return builder.sign(signing_key, hashes.SHA256())
