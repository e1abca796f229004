"""Per-cluster trust that follows what ucrenew installs.

A renewal replaces what a cluster's nodes serve: after the first CA-signed renewal of a
cluster that served self-signed certificates, the inventory's ``tls.ca_file`` no longer
verifies them. So the CA certificates of every chain ucrenew installs are kept, per cluster,
in ``<trust dir>/<cluster>.pem`` (``<state dir>/trust`` unless ``UCRENEW_TRUST_DIR`` says
otherwise), and every client that talks to the cluster's nodes trusts that file together with
the inventory's CA file.

- **When it is written.** :meth:`TrustStore.record` adds a chain's CA certificates as soon as
  the certificate upload reached a node (the node serves it from its next restart, whatever
  happens to the renewal after that). :meth:`TrustStore.settle` runs once a renewal has
  verified every node: it records the chains again (idempotent) and retires the CA
  certificates that only the renewed purposes used. Until then the previous CA stays trusted,
  so a half-finished renewal leaves every node reachable.
- **What it holds.** CA certificates only (basicConstraints CA=true), each after a comment
  block naming its subject, fingerprint and the purposes it was installed for. It never holds a
  private key. A certificate added by hand without a ``# purposes:`` line is never retired.
- **Who shares it.** Every worker reads the same directory (plans are made by workers), so
  a multi-worker deployment keeps it on storage all workers mount (like the local CA's
  directory). Writes take an exclusive ``flock`` on ``<cluster>.lock`` beside the file and
  replace the file atomically, so readers never see half a file. A stateless worker
  (``UCRENEW_STATELESS``) keeps the same entries in Temporal instead
  (``workers.trust_temporal``); the activities see either through :class:`ClusterTrust`.

This module never imports temporalio.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import tempfile
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol
from urllib.parse import quote

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

__all__ = [
    "ClusterTrust",
    "SettleOutcome",
    "TrustFile",
    "TrustStore",
    "TrustStoreError",
    "TrustedCa",
    "ca_certificates",
]

_BLOCK = re.compile(
    r"((?:^#[^\n]*\n)*)(-----BEGIN CERTIFICATE-----\n.*?\n-----END CERTIFICATE-----)",
    re.MULTILINE | re.DOTALL,
)
_HEADER = re.compile(r"^#\s*([a-z-]+):\s*(.*?)\s*$")
_FILE_MODE = 0o644


class TrustStoreError(ValueError):
    """The trust file of a cluster cannot be read or written; the message names the file."""


@dataclass(frozen=True)
class TrustFile:
    """A PEM bundle a client trusts, and why (named in TLS errors).

    Attributes:
        path: The file.
        label: What it is, e.g. ``tls.ca_file of cluster lab in the inventory``.
    """

    path: str
    label: str

    def describe(self) -> str:
        """``<path> (<label>)``."""
        return f"{self.path} ({self.label})"


@dataclass(frozen=True)
class TrustedCa:
    """One CA certificate of a cluster's trust store.

    Attributes:
        cert: The certificate.
        purposes: The purposes whose chains installed it; empty for one added by hand.
        recorded: When ucrenew first recorded it (ISO 8601, UTC); empty when unknown.
    """

    cert: x509.Certificate
    purposes: tuple[str, ...] = ()
    recorded: str = ""

    @property
    def fingerprint(self) -> str:
        """SHA-256 of the DER certificate, lower-case hex."""
        return self.cert.fingerprint(hashes.SHA256()).hex()

    @property
    def subject(self) -> str:
        """The subject, RFC 4514."""
        return self.cert.subject.rfc4514_string()

    @property
    def pem(self) -> str:
        """The certificate, PEM."""
        return self.cert.public_bytes(serialization.Encoding.PEM).decode("ascii")

    def text(self) -> str:
        """The entry as written: a comment block, then the PEM."""
        lines = [
            f"# subject: {self.subject}",
            f"# sha256: {self.fingerprint}",
            f"# not-after: {self.cert.not_valid_after_utc.isoformat()}",
        ]
        if self.purposes:
            lines.append(f"# purposes: {', '.join(self.purposes)}")
        if self.recorded:
            lines.append(f"# recorded: {self.recorded}")
        return "\n".join(lines) + "\n" + self.pem


@dataclass
class SettleOutcome:
    """What a write changed in a cluster's trust store.

    Attributes:
        path: The trust file.
        added: Subjects of the CA certificates added.
        retired: Subjects of the CA certificates removed.
        kept: Subjects of the CA certificates the store holds now.
    """

    path: str
    added: list[str] = field(default_factory=list)
    retired: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)


class ClusterTrust(Protocol):
    """What the activities need of a per-cluster trust: :class:`TrustStore` (files) or the
    Temporal-held one of stateless workers (``workers.trust_temporal``).

    ``files`` and ``entries`` are called on the event loop and never block on the network;
    ``record`` and ``settle`` may block, so callers run them in a thread.
    """

    def files(self, cluster: str) -> tuple[TrustFile, ...]:
        """The PEM bundles a client of ``cluster``'s nodes trusts besides the inventory's."""
        ...

    def entries(self, cluster: str) -> list[TrustedCa]:
        """The CA certificates ucrenew trusts for ``cluster``."""
        ...

    def record(self, cluster: str, purpose: str, ca_pems: Sequence[str]) -> SettleOutcome:
        """Trust the CA certificates of a chain installed for ``purpose`` (idempotent)."""
        ...

    def settle(
        self, cluster: str, chains: Mapping[str, Sequence[str]], retire: Collection[str]
    ) -> SettleOutcome:
        """Record ``chains``, then retire what only the purposes of ``retire`` used."""
        ...


class TrustStore:
    """The per-cluster trust files in one directory, plus files trusted for every cluster.

    Args:
        directory: Where ``<cluster>.pem`` files live (created on the first write).
        shared: Further PEM bundles trusted for every cluster when they exist (the root of
            ucrenew's local CA).
        clock: Source of the current time, for the ``recorded`` line.
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        shared: Sequence[TrustFile] = (),
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.directory = Path(directory)
        self.shared = tuple(shared)
        self._clock = clock or (lambda: datetime.now(UTC))

    # -- reading -------------------------------------------------------------------------

    def path(self, cluster: str) -> Path:
        """The trust file of ``cluster`` (which need not exist)."""
        return self.directory / f"{quote(cluster, safe='')}.pem"

    def files(self, cluster: str) -> tuple[TrustFile, ...]:
        """The files a client of ``cluster``'s nodes trusts besides the inventory's CA file:
        the cluster's trust file and the shared ones, those that exist."""
        own = TrustFile(
            str(self.path(cluster)), f"CA certificates ucrenew installed on cluster {cluster}"
        )
        return tuple(f for f in (own, *self.shared) if Path(f.path).is_file())

    def entries(self, cluster: str) -> list[TrustedCa]:
        """The CA certificates of ``cluster``'s trust file, in file order; none if absent.

        Raises:
            TrustStoreError: The file cannot be read, holds a private key, or a block is not a
                certificate.
        """
        path = self.path(cluster)
        try:
            text = path.read_text(encoding="utf-8").replace("\r\n", "\n")
        except FileNotFoundError:
            return []
        except (OSError, UnicodeDecodeError) as exc:
            raise TrustStoreError(f"cannot read the trust file {path}: {exc}") from None
        if "PRIVATE KEY" in text:
            raise TrustStoreError(
                f"the trust file {path} holds a private key: remove it (only CA certificates "
                "belong there)"
            )
        found: list[TrustedCa] = []
        for match in _BLOCK.finditer(text):
            headers: dict[str, str] = {
                m[1]: m[2] for line in match[1].splitlines() if (m := _HEADER.match(line))
            }
            try:
                cert = x509.load_pem_x509_certificate(match[2].encode("ascii"))
            except ValueError as exc:
                raise TrustStoreError(
                    f"the trust file {path} holds a damaged certificate "
                    f"({headers.get('subject', 'no subject line')}): {exc}; remove that block"
                ) from None
            purposes = tuple(p.strip() for p in headers.get("purposes", "").split(",") if p.strip())
            found.append(TrustedCa(cert, purposes, headers.get("recorded", "")))
        return found

    # -- writing -------------------------------------------------------------------------

    def record(self, cluster: str, purpose: str, ca_pems: Sequence[str]) -> SettleOutcome:
        """Trust the CA certificates of a chain installed on ``cluster`` for ``purpose``.

        Idempotent: a certificate already held only gains the purpose. Certificates that are
        not CAs (basicConstraints CA=true) are ignored; so is a chain without any.

        Raises:
            TrustStoreError: The file or a certificate cannot be read, or the file cannot be
                written.
        """
        return self.settle(cluster, {purpose: ca_pems}, retire=())

    def settle(
        self,
        cluster: str,
        chains: Mapping[str, Sequence[str]],
        retire: Collection[str],
    ) -> SettleOutcome:
        """Record ``chains`` (purpose → CA certificates), then retire, for each purpose in
        ``retire``, the CA certificates recorded for it that are not in its chain now.

        A certificate keeps its place while another purpose still lists it; one added by hand
        (no purposes) always does.

        Raises:
            TrustStoreError: As :meth:`record`.
        """
        wanted = {
            p: ca_certificates(pems, f"file {self.path(cluster)}") for p, pems in chains.items()
        }
        with self._locked(cluster):
            entries = self.entries(cluster)
            original = {e.fingerprint: e for e in entries}
            by_fp = dict(original)
            now = self._clock().isoformat(timespec="seconds")
            for purpose, certs in wanted.items():
                for cert in certs:
                    fp = cert.fingerprint(hashes.SHA256()).hex()
                    entry = by_fp.get(fp)
                    if entry is None:
                        by_fp[fp] = TrustedCa(cert, (purpose,), now)
                    elif entry.purposes and purpose not in entry.purposes:
                        by_fp[fp] = TrustedCa(cert, (*entry.purposes, purpose), entry.recorded)
            for purpose in retire:
                current = {c.fingerprint(hashes.SHA256()).hex() for c in wanted.get(purpose, [])}
                for fp, entry in list(by_fp.items()):
                    if purpose in entry.purposes and fp not in current:
                        left = tuple(p for p in entry.purposes if p != purpose)
                        by_fp[fp] = TrustedCa(entry.cert, left, entry.recorded)
            # An entry whose purposes were all retired goes; one added by hand (none) stays.
            final = [
                e
                for fp, e in by_fp.items()
                if e.purposes or (fp in original and not original[fp].purposes)
            ]
            kept = {e.fingerprint for e in final}
            outcome = SettleOutcome(
                path=str(self.path(cluster)),
                added=[e.subject for e in final if e.fingerprint not in original],
                retired=[e.subject for fp, e in original.items() if fp not in kept],
                kept=[e.subject for e in final],
            )
            if [(e.fingerprint, e.purposes) for e in entries] != [
                (e.fingerprint, e.purposes) for e in final
            ]:
                self._write(cluster, final)
        return outcome

    def replace(self, cluster: str, entries: Sequence[TrustedCa]) -> None:
        """Make ``cluster``'s trust file hold exactly ``entries`` (atomically, under the lock):
        for a copy of a trust kept elsewhere.

        Raises:
            TrustStoreError: The file cannot be written.
        """
        with self._locked(cluster):
            self._write(cluster, entries)

    @contextlib.contextmanager
    def _locked(self, cluster: str) -> Iterator[None]:
        path = self.path(cluster)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            handle = open(path.with_suffix(".lock"), "a+")  # noqa: SIM115 - held across the yield
        except OSError as exc:
            raise TrustStoreError(f"cannot write the trust file {path}: {exc}") from None
        with handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _write(self, cluster: str, entries: Sequence[TrustedCa]) -> None:
        path = self.path(cluster)
        text = _preamble(cluster) + "".join("\n" + e.text() for e in entries)
        try:
            fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=f".{path.name}.", suffix=".tmp")
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as out:
                    out.write(text)
                    out.flush()
                    os.fchmod(out.fileno(), _FILE_MODE)
                    os.fsync(out.fileno())
                os.replace(tmp, path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
            dir_fd = os.open(self.directory, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        except OSError as exc:
            raise TrustStoreError(f"cannot write the trust file {path}: {exc}") from None


def ca_certificates(pems: Sequence[str], where: str) -> list[x509.Certificate]:
    """The CA certificates (basicConstraints CA=true) among ``pems``, in order.

    Raises:
        TrustStoreError: A certificate is unreadable; the message names ``where`` the chain
            was to be recorded.
    """
    certs: list[x509.Certificate] = []
    for pem in pems:
        try:
            cert = x509.load_pem_x509_certificate(pem.encode("ascii"))
        except (ValueError, UnicodeEncodeError) as exc:
            raise TrustStoreError(
                f"not recorded in the trust {where}: a chain certificate is unreadable ({exc})"
            ) from None
        try:
            constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
        except x509.ExtensionNotFound:
            continue
        if constraints.ca:
            certs.append(cert)
    return certs


def _preamble(cluster: str) -> str:
    return (
        f"# ucrenew trust store of cluster {cluster}\n"
        "#\n"
        "# The CA certificates of the chains ucrenew installed on this cluster's nodes. ucrenew\n"
        "# trusts them, with the inventory's tls.ca_file, on every connection to these nodes.\n"
        "# A chain is added when its certificate is uploaded; the previous CA of a purpose is\n"
        "# retired once a renewal has verified every node. Written by ucrenew (atomically, under\n"
        "# the .lock beside it); a certificate added by hand without a purposes line is kept.\n"
    )
