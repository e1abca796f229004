"""The built-in local CA: a real two-tier PKI kept in a directory.

Used by the embedded demo and the lab, and by sites with no enterprise CA. On first use it
creates a self-signed root (pathlen 1, 10 years) and an issuing intermediate (pathlen 0,
5 years), both RSA 3072, and persists them; later instances load the same material. Leaves are
signed at once, so :meth:`LocalCa.submit` always answers ``issued``.

Directory layout (``<state-dir>/ca/local`` by convention)::

    root.pem  root.key  intermediate.pem  intermediate.key  issued/<serial>.pem

Private key files are mode 0600 and unencrypted (the directory is 0700); they are never logged
and never leave this module.

A stateless deployment gives the CA's material by secret reference instead
(``UCRENEW_LOCAL_CA_KEY_REF``: the issuing key, PEM; ``UCRENEW_LOCAL_CA_CHAIN_REF``: the issuing
certificate then its root, PEM), so that every worker signs with the same CA whatever its disk
holds; with ``local_disk=False`` nothing is created or recorded in the directory.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import re
import secrets
import shutil
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from activities.clients.ca.errors import CaConfigurationError, CaRequestDenied, CaRequestNotFound
from activities.clients.pki import (
    CertificateParseError,
    load_csr,
    load_pem_certificates,
    public_key_fingerprint,
)
from activities.clients.secrets import SecretRef, SecretRefError, resolve_secret_ref
from activities.models import CaProfile, CaSubmission

__all__ = ["LocalCa"]

logger = logging.getLogger(__name__)

_ROOT_CERT = "root.pem"
_ROOT_KEY = "root.key"
_INTERMEDIATE_CERT = "intermediate.pem"
_INTERMEDIATE_KEY = "intermediate.key"
_ISSUED_DIR = "issued"
_REQUIRED = (_ROOT_CERT, _ROOT_KEY, _INTERMEDIATE_CERT, _INTERMEDIATE_KEY)

_ROOT_DAYS = 3650
_INTERMEDIATE_DAYS = 1825
# Backdating absorbs clock skew between this host and the CUCM nodes that check the dates.
_CA_BACKDATE = timedelta(hours=1)
_LEAF_BACKDATE = timedelta(minutes=5)
_REF_RE = re.compile(r"^[0-9a-f]{1,40}$")


@dataclass(frozen=True)
class _Material:
    root_cert: x509.Certificate
    intermediate_cert: x509.Certificate
    intermediate_key: rsa.RSAPrivateKey


def _pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


def _write_file(path: Path, data: bytes, mode: int) -> None:
    """Create ``path`` exclusively with ``mode`` from the start (no window with wider rights)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        os.fchmod(fd, mode)
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def _key_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "ucrenew"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _ca_usage() -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=True,
        crl_sign=True,
        encipher_only=False,
        decipher_only=False,
    )


def _leaf_usage(public_key: object) -> x509.KeyUsage:
    # RFC 5480 forbids keyEncipherment/dataEncipherment on EC keys; EC leaves get keyAgreement.
    is_ec = isinstance(public_key, ec.EllipticCurvePublicKey)
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=not is_ec,
        data_encipherment=not is_ec,
        key_agreement=is_ec,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )


class LocalCa:
    """A built-in two-tier CA persisted in a directory; implements ``CertificateAuthority``.

    Safe when several processes create it at once: material is generated in a private
    temporary directory and renamed into place atomically; a process that loses the race
    discards its own material and loads the winner's.

    Attributes:
        name: Short name used in logs and errors.
        directory: Where the CA material lives.
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        name: str = "local",
        key_size: int = 3072,
        clock: Callable[[], datetime] | None = None,
        key_ref: SecretRef | None = None,
        chain_ref: SecretRef | None = None,
        local_disk: bool = True,
    ) -> None:
        """Prepare the CA; nothing is read or created until first use.

        Args:
            directory: Directory holding the CA material (created on first use).
            name: Short name used in logs and errors.
            key_size: RSA key size for the root and intermediate.
            clock: Source of the current time (timezone-aware); defaults to the system clock.
            key_ref: Reference to the issuing CA's private key (PEM, RSA); with
                ``chain_ref``, the material comes from these and never from ``directory``.
            chain_ref: Reference to the issuing CA's certificate followed by its root (PEM;
                one self-signed certificate is both).
            local_disk: False on a stateless worker: the material must come from the
                references and no issued certificate is recorded in ``directory``.

        Raises:
            ValueError: Only one of ``key_ref`` and ``chain_ref`` is given.
        """
        if (key_ref is None) != (chain_ref is None):
            raise ValueError("the local CA needs both key_ref and chain_ref, or neither")
        self.name = name
        self.directory = Path(directory)
        self._key_ref = key_ref
        self._chain_ref = chain_ref
        self._local_disk = local_disk
        self._key_size = key_size
        self._clock = clock or (lambda: datetime.now(UTC))
        self._lock = threading.Lock()
        self._material: _Material | None = None

    # ----------------------------------------------------------------------------------------
    # Public material
    # ----------------------------------------------------------------------------------------

    @property
    def root_pem(self) -> str:
        """The root CA certificate, PEM (creates the CA on first use)."""
        return _pem(self._ensure().root_cert)

    @property
    def intermediate_pem(self) -> str:
        """The issuing intermediate CA certificate, PEM (creates the CA on first use)."""
        return _pem(self._ensure().intermediate_cert)

    @property
    def chain_pem(self) -> str:
        """Intermediate then root, PEM: the chain returned with every leaf."""
        material = self._ensure()
        if material.intermediate_cert == material.root_cert:
            return _pem(material.root_cert)
        return _pem(material.intermediate_cert) + _pem(material.root_cert)

    @property
    def from_references(self) -> bool:
        """Whether the material comes from secret references rather than the directory."""
        return self._key_ref is not None

    def ensure(self) -> None:
        """Create the CA if the directory holds none yet, otherwise load it.

        Raises:
            CaConfigurationError: The directory holds incomplete or unreadable material.
        """
        self._ensure()

    # ----------------------------------------------------------------------------------------
    # Issuance
    # ----------------------------------------------------------------------------------------

    def sign(
        self, csr_pem: str, validity_days: int = 365, now: datetime | None = None
    ) -> tuple[str, str]:
        """Issue a leaf for a CSR from the intermediate.

        The leaf copies the CSR's subject and subjectAltName, and carries EKU serverAuth and
        clientAuth (CUCM uses the certificate for mutual TLS), keyUsage for TLS, and
        subject/authority key identifiers. Validity is capped at the intermediate's.

        Args:
            csr_pem: The PKCS#10 CSR, PEM.
            validity_days: Requested validity in days.
            now: Issuance time (timezone-aware); defaults to the CA's clock.

        Returns:
            ``(leaf_pem, chain_pem)`` where the chain is intermediate then root.

        Raises:
            CaRequestDenied: The CSR cannot be read or its signature does not verify.
            ValueError: ``validity_days`` is not positive or ``now`` is naive.
        """
        if validity_days <= 0:
            raise ValueError("validity_days must be positive")
        now = now or self._clock()
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        material = self._ensure()
        try:
            csr = load_csr(csr_pem)
        except CertificateParseError as exc:
            raise CaRequestDenied(
                f"{self.name} CA: the CSR cannot be read", ca=self.name, reason=exc.reason
            ) from exc
        if not csr.is_signature_valid:
            raise CaRequestDenied(
                f"{self.name} CA: the CSR's signature does not verify",
                ca=self.name,
                reason="invalid CSR signature",
            )
        issuer = material.intermediate_cert
        not_after = min(now + timedelta(days=validity_days), issuer.not_valid_after_utc)
        issuer_ski = issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        public_key = csr.public_key()
        builder = (
            x509.CertificateBuilder()
            .subject_name(csr.subject)
            .issuer_name(issuer.subject)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - _LEAF_BACKDATE)
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_leaf_usage(public_key), critical=True)
            .add_extension(
                x509.ExtendedKeyUsage(
                    [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
                ),
                critical=False,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(issuer_ski),
                critical=False,
            )
        )
        try:
            san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        except x509.ExtensionNotFound:
            san = None
        if san is not None:
            # RFC 5280 4.2.1.6: the SAN must be critical when the subject is empty.
            builder = builder.add_extension(san, critical=len(csr.subject) == 0)
        leaf = builder.sign(material.intermediate_key, hashes.SHA256())
        if self._local_disk and self._key_ref is None:
            # A CA given by reference has no directory of its own to record into.
            self._record(leaf)
        logger.info(
            "%s CA issued serial %x for %s (key sha256 %s)",
            self.name,
            leaf.serial_number,
            csr.subject.rfc4514_string(),
            public_key_fingerprint(leaf)[:16],
        )
        return _pem(leaf), self.chain_pem

    async def submit(self, csr_pem: str, profile: CaProfile) -> CaSubmission:
        """Sign a CSR at once (``CertificateAuthority.submit``).

        Args:
            csr_pem: The PKCS#10 CSR, PEM.
            profile: Issuance parameters; ``validity_days`` defaults to 365.

        Returns:
            ``issued`` with leaf and chain, or ``denied`` when the CSR is unusable.
        """
        validity = profile.validity_days or 365
        try:
            leaf_pem, chain_pem = await asyncio.to_thread(self.sign, csr_pem, validity)
        except CaRequestDenied as exc:
            return CaSubmission(status="denied", request_ref="", message=exc.message)
        serial = format(x509.load_pem_x509_certificate(leaf_pem.encode()).serial_number, "x")
        return CaSubmission(
            status="issued",
            request_ref=serial,
            certificate_pem=leaf_pem,
            chain_pem=chain_pem,
            message=f"issued by the {self.name} CA, serial {serial}",
        )

    async def poll(self, request_ref: str, csr_pem: str | None = None) -> CaSubmission:
        """Return a certificate issued earlier (``CertificateAuthority.poll``).

        Args:
            request_ref: The serial (lower-case hex) returned by :meth:`submit`.
            csr_pem: Unused: :meth:`submit` answers ``issued`` at once, so a renewal never
                polls this CA; the records read here exist for ``ucrenew`` tools only.

        Returns:
            ``issued`` with the recorded leaf and the current chain.

        Raises:
            CaRequestNotFound: No certificate with this serial was issued by this CA.
        """
        return await asyncio.to_thread(self._poll_sync, request_ref)

    def _poll_sync(self, request_ref: str) -> CaSubmission:
        ref = request_ref.strip().lower()
        path = self.directory / _ISSUED_DIR / f"{ref}.pem"
        if not _REF_RE.match(ref) or not path.is_file():
            raise CaRequestNotFound(
                f"{self.name} CA has no certificate with serial {request_ref!r}",
                ca=self.name,
                request_ref=request_ref,
            )
        return CaSubmission(
            status="issued",
            request_ref=ref,
            certificate_pem=path.read_text(encoding="ascii"),
            chain_pem=self.chain_pem,
            message=f"issued by the {self.name} CA, serial {ref}",
        )

    # ----------------------------------------------------------------------------------------
    # Creation and loading
    # ----------------------------------------------------------------------------------------

    def _ensure(self) -> _Material:
        with self._lock:
            if self._material is None:
                if self._key_ref is not None and self._chain_ref is not None:
                    self._material = self._load_references(self._key_ref, self._chain_ref)
                    return self._material
                if not self._local_disk:
                    raise CaConfigurationError(
                        f"{self.name} CA: a stateless worker (UCRENEW_STATELESS=true) keeps no "
                        "CA on its disk; set UCRENEW_LOCAL_CA_KEY_REF (the issuing key, PEM) "
                        "and UCRENEW_LOCAL_CA_CHAIN_REF (its certificate then the root, PEM) "
                        "to secret references",
                        ca=self.name,
                    )
                if not self._is_complete():
                    self._create()
                self._material = self._load()
            return self._material

    def _is_complete(self) -> bool:
        return all((self.directory / name).is_file() for name in _REQUIRED)

    def _create(self) -> None:
        parent = self.directory.parent
        parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{self.directory.name}.", dir=parent))
        try:
            self._generate_into(staging)
            try:
                # Atomic; replaces an empty directory but fails if another process won.
                os.rename(staging, self.directory)
            except OSError as exc:
                if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                    raise CaConfigurationError(
                        f"{self.name} CA: cannot create {self.directory}: {exc.strerror}",
                        ca=self.name,
                    ) from exc
            else:
                logger.info("%s CA created in %s", self.name, self.directory)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        if not self._is_complete():
            missing = [n for n in _REQUIRED if not (self.directory / n).is_file()]
            raise CaConfigurationError(
                f"{self.name} CA: {self.directory} exists but lacks {', '.join(missing)}",
                ca=self.name,
            )

    def _generate_into(self, staging: Path) -> None:
        now = self._clock()
        tag = secrets.token_hex(3)
        root_key = rsa.generate_private_key(public_exponent=65537, key_size=self._key_size)
        int_key = rsa.generate_private_key(public_exponent=65537, key_size=self._key_size)
        root_name = _name(f"ucrenew Local Root CA {tag}")
        root_ski = x509.SubjectKeyIdentifier.from_public_key(root_key.public_key())
        root = (
            x509.CertificateBuilder()
            .subject_name(root_name)
            .issuer_name(root_name)
            .public_key(root_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - _CA_BACKDATE)
            .not_valid_after(now + timedelta(days=_ROOT_DAYS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=True)
            .add_extension(_ca_usage(), critical=True)
            .add_extension(root_ski, critical=False)
            .sign(root_key, hashes.SHA256())
        )
        intermediate = (
            x509.CertificateBuilder()
            .subject_name(_name(f"ucrenew Local Issuing CA {tag}"))
            .issuer_name(root_name)
            .public_key(int_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - _CA_BACKDATE)
            .not_valid_after(now + timedelta(days=_INTERMEDIATE_DAYS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(_ca_usage(), critical=True)
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(int_key.public_key()), critical=False
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(root_ski),
                critical=False,
            )
            .sign(root_key, hashes.SHA256())
        )
        _write_file(staging / _ROOT_KEY, _key_pem(root_key), 0o600)
        _write_file(staging / _INTERMEDIATE_KEY, _key_pem(int_key), 0o600)
        _write_file(staging / _ROOT_CERT, _pem(root).encode("ascii"), 0o644)
        _write_file(staging / _INTERMEDIATE_CERT, _pem(intermediate).encode("ascii"), 0o644)
        (staging / _ISSUED_DIR).mkdir(mode=0o700)

    def _load(self) -> _Material:
        try:
            root = x509.load_pem_x509_certificate((self.directory / _ROOT_CERT).read_bytes())
            intermediate = x509.load_pem_x509_certificate(
                (self.directory / _INTERMEDIATE_CERT).read_bytes()
            )
            key = serialization.load_pem_private_key(
                (self.directory / _INTERMEDIATE_KEY).read_bytes(), password=None
            )
        except (OSError, ValueError, TypeError) as exc:
            # The exception text may quote file content; report only its type.
            raise CaConfigurationError(
                f"{self.name} CA: cannot load material from {self.directory} "
                f"({type(exc).__name__})",
                ca=self.name,
            ) from None
        if not isinstance(key, rsa.RSAPrivateKey) or public_key_fingerprint(
            key.public_key()
        ) != public_key_fingerprint(intermediate):
            raise CaConfigurationError(
                f"{self.name} CA: {_INTERMEDIATE_KEY} does not match {_INTERMEDIATE_CERT} "
                f"in {self.directory}",
                ca=self.name,
            )
        return _Material(root_cert=root, intermediate_cert=intermediate, intermediate_key=key)

    def _load_references(self, key_ref: str, chain_ref: str) -> _Material:
        try:
            key_pem = resolve_secret_ref(key_ref)
            chain_pem = resolve_secret_ref(chain_ref)
        except SecretRefError as exc:
            raise CaConfigurationError(f"{self.name} CA: {exc}", ca=self.name) from None
        try:
            key = serialization.load_pem_private_key(key_pem.encode(), password=None)
        except (ValueError, TypeError):
            # The exception text may quote key material; name only the reference.
            raise CaConfigurationError(
                f"{self.name} CA: {key_ref} is not an unencrypted PEM private key",
                ca=self.name,
            ) from None
        try:
            certs = load_pem_certificates(chain_pem)
        except CertificateParseError as exc:
            raise CaConfigurationError(
                f"{self.name} CA: {chain_ref} holds no PEM certificates ({exc.reason})",
                ca=self.name,
            ) from None
        issuing, root = certs[0], certs[-1]
        if not isinstance(key, rsa.RSAPrivateKey) or public_key_fingerprint(
            key.public_key()
        ) != public_key_fingerprint(issuing):
            raise CaConfigurationError(
                f"{self.name} CA: the RSA key of {key_ref} is not the key of the first "
                f"certificate of {chain_ref}",
                ca=self.name,
            )
        return _Material(root_cert=root, intermediate_cert=issuing, intermediate_key=key)

    def _record(self, leaf: x509.Certificate) -> None:
        issued = self.directory / _ISSUED_DIR
        issued.mkdir(mode=0o700, exist_ok=True)
        final = issued / f"{leaf.serial_number:x}.pem"
        fd, tmp = tempfile.mkstemp(dir=issued, prefix=".", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(leaf.public_bytes(serialization.Encoding.PEM))
            os.replace(tmp, final)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
