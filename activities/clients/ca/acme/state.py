"""What an ACME backend keeps on disk: its account key and a record of each open order.

State directory layout (given by the caller, e.g. ``<state-dir>/ca/acme/<name>``)::

    account.key            the ACME account key (EC P-256, mode 0600) unless a secret
                           reference supplies one; never logged
    orders/<sha256>.json   the CSR and presented challenges of each open order, so that any
                           later process can finalize it and clean the challenge records up

On a stateless worker (``local_disk=False``) none of this is kept: the account key comes from
a secret reference, and an order is resumed from what is not secret and outlives any pod: the
order URL and the CSR, both in the renewal's workflow state, and the challenges, which the
CA's authorizations and the account key give back (see ``AcmeCa.poll``).
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import josepy as jose
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from activities.clients.ca.errors import CaConfigurationError
from activities.clients.secrets import SecretRef, SecretRefError, resolve_secret_ref

__all__ = ["AcmeState", "Challenge", "OrderRecord"]

logger = logging.getLogger(__name__)

_ACCOUNT_KEY = "account.key"
_ORDERS_DIR = "orders"


@dataclass
class Challenge:
    """A dns-01 TXT record presented for an order, as recorded for its later cleanup."""

    domain: str
    validation: str


@dataclass
class OrderRecord:
    """An open order: its URL, the CSR to finalize it with, and the presented challenges."""

    order_url: str
    csr_pem: str
    challenges: list[Challenge] = field(default_factory=list)
    cleaned: bool = False

    def to_json(self) -> str:
        """The record as written to ``orders/``."""
        return json.dumps(asdict(self), indent=1)

    @classmethod
    def from_json(cls, text: str) -> OrderRecord:
        """Read a record written by :meth:`to_json`."""
        data = json.loads(text)
        return cls(
            order_url=data["order_url"],
            csr_pem=data["csr_pem"],
            # Records of earlier releases also carry "kind" and "token"; neither is needed.
            challenges=[
                Challenge(domain=c["domain"], validation=c["validation"])
                for c in data.get("challenges", [])
            ],
            cleaned=bool(data.get("cleaned", False)),
        )


class AcmeState:
    """The state directory of one ACME backend (see the module docstring for its layout).

    Attributes:
        state_dir: The directory; created 0700 on first use.
        name: The backend's name, used in logs and errors.
    """

    def __init__(self, state_dir: Path, name: str, *, local_disk: bool = True) -> None:
        """Point at ``state_dir``; nothing is created until first use.

        Args:
            state_dir: The directory.
            name: The backend's name, used in logs and errors.
            local_disk: False on a stateless worker: nothing is read from or written to
                ``state_dir``; the account key must come from a reference and an order is
                resumed from the CA and the CSR the renewal carries.
        """
        self.state_dir = state_dir
        self.name = name
        self.local_disk = local_disk

    def load_account_key(self, ref: SecretRef | None) -> tuple[jose.JWK, jose.JWASignature]:
        """The account key from ``ref``, else from ``account.key`` (generated if missing).

        Args:
            ref: Secret reference to a PEM key (EC P-256/P-384 or RSA), or None.

        Returns:
            The key and the JWS algorithm it signs with.

        Raises:
            CaConfigurationError: The key cannot be resolved, read or used; the message
                names where it came from, never its content.
        """
        if ref is not None:
            try:
                pem = resolve_secret_ref(ref).encode()
            except SecretRefError as exc:
                raise CaConfigurationError(f"{self.name}: {exc}", ca=self.name) from None
            source = ref
        elif not self.local_disk:
            raise CaConfigurationError(
                f"{self.name}: a stateless worker (UCRENEW_STATELESS=true) keeps no ACME "
                "account key on its disk; set account_key on this CA to a secret reference "
                "(e.g. account_key: vault:secret/data/ucrenew#acme_account_key); the account "
                "URL is recovered from the key (RFC 8555 7.3.1)",
                ca=self.name,
            )
        else:
            path = self.state_dir / _ACCOUNT_KEY
            self._ensure_dirs()
            if not path.exists():
                self._create_account_key(path)
            try:
                pem = path.read_bytes()
            except OSError as exc:
                raise CaConfigurationError(
                    f"{self.name}: cannot read {path}: {exc.strerror}", ca=self.name
                ) from None
            source = str(path)
        try:
            key = serialization.load_pem_private_key(pem, password=None)
        except (ValueError, TypeError):
            # The exception text may quote key material; name only the source.
            raise CaConfigurationError(
                f"{self.name}: the account key from {source} is not an unencrypted PEM key",
                ca=self.name,
            ) from None
        if isinstance(key, rsa.RSAPrivateKey):
            return jose.JWKRSA(key=key), jose.RS256
        if isinstance(key, ec.EllipticCurvePrivateKey):
            algs = {"secp256r1": jose.ES256, "secp384r1": jose.ES384}
            if key.curve.name in algs:
                return jose.JWKEC(key=key), algs[key.curve.name]
        raise CaConfigurationError(
            f"{self.name}: the account key from {source} must be RSA or EC P-256/P-384",
            ca=self.name,
        )

    def _create_account_key(self, path: Path) -> None:
        key = ec.generate_private_key(ec.SECP256R1())
        data = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return  # another process created it first; use theirs
        try:
            os.fchmod(fd, 0o600)
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        logger.info("%s: generated a new ACME account key in %s", self.name, path)

    def _ensure_dirs(self) -> None:
        try:
            self.state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            (self.state_dir / _ORDERS_DIR).mkdir(mode=0o700, exist_ok=True)
        except OSError as exc:
            raise CaConfigurationError(
                f"{self.name}: cannot create {self.state_dir}: {exc.strerror}", ca=self.name
            ) from None

    def _record_path(self, order_url: str) -> Path:
        digest = hashlib.sha256(order_url.encode()).hexdigest()[:32]
        return self.state_dir / _ORDERS_DIR / f"{digest}.json"

    def save(self, record: OrderRecord) -> None:
        """Write ``record`` atomically, replacing an earlier record of the same order (nothing
        on a stateless worker)."""
        if not self.local_disk:
            return
        self._ensure_dirs()
        final = self._record_path(record.order_url)
        fd, tmp = tempfile.mkstemp(dir=final.parent, prefix=".", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(record.to_json())
            os.replace(tmp, final)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def load(self, order_url: str) -> OrderRecord | None:
        """The record of ``order_url``, or None when this directory holds none.

        Raises:
            CaConfigurationError: The record exists but cannot be read.
        """
        if not self.local_disk:
            return None
        path = self._record_path(order_url)
        try:
            record = OrderRecord.from_json(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise CaConfigurationError(
                f"{self.name}: order record {path} is unreadable ({type(exc).__name__})",
                ca=self.name,
                request_ref=order_url,
            ) from None
        return record if record.order_url == order_url else None

    def forget(self, order_url: str) -> None:
        """Remove the record of ``order_url`` (a failure is logged, not raised)."""
        if not self.local_disk:
            return
        try:
            self._record_path(order_url).unlink(missing_ok=True)
        except OSError as exc:
            if exc.errno != errno.ENOENT:
                logger.warning("%s: cannot remove order record: %s", self.name, exc.strerror)
