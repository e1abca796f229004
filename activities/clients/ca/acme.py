"""ACME (RFC 8555) backend: orders for CSRs made on CUCM, validated by dns-01 or http-01 hooks.

The CSR comes from the CUCM publisher and its private key never leaves the cluster, so an
order is finalized with the CSR exactly as given. Validation goes through pluggable hooks:
dns-01 when a :class:`DnsHook` is configured (internal UC hostnames rarely serve public HTTP),
otherwise http-01 through an :class:`HttpHook`.

:meth:`AcmeCa.submit` creates the order, presents and answers the challenges, and returns
``pending`` with the order URL as ``request_ref``; :meth:`AcmeCa.poll` re-reads the order,
finalizes it when ``ready`` and downloads the certificate when ``valid``. When every
authorization is already valid (the CA reused earlier ones) ``submit`` goes straight on to
finalize. Protocol work uses certbot's ``acme`` library (blocking ``requests``) in worker
threads; hooks are coroutines.

State directory layout (given by the caller, e.g. ``<state-dir>/ca/acme-<name>``)::

    account.key            the ACME account key (EC P-256, mode 0600) unless a secret
                           reference supplies one; never logged
    orders/<sha256>.json   the CSR and presented challenges of each open order, so that any
                           later process can finalize it and clean the challenge records up

Chain returned with an issued certificate: the certificates the CA served after the leaf
(intermediates, leaf→root order), followed by the configured ``root_pem`` when the last
served certificate is directly issued by it. ACME servers normally do not serve the root, so
without ``root_pem`` the chain holds intermediates only.
"""

from __future__ import annotations

import asyncio
import errno
import functools
import hashlib
import json
import logging
import os
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar, cast, runtime_checkable
from urllib.parse import urlsplit

import josepy as jose
import requests
from acme import challenges, client, messages
from acme import errors as acme_errors
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from activities.clients.ca.errors import (
    CaConfigurationError,
    CaError,
    CaProtocolError,
    CaRequestDenied,
    CaRequestNotFound,
    CaUnavailable,
)
from activities.clients.pki import (
    CertificateParseError,
    load_csr,
    load_pem_certificates,
    public_key_fingerprint,
)
from activities.clients.secrets import SecretRef, SecretRefError, resolve_secret_ref
from activities.models import CaProfile, CaSubmission

__all__ = [
    "AcmeCa",
    "CommandDnsHook",
    "DnsHook",
    "HttpHook",
    "parse_retry_after",
]

logger = logging.getLogger(__name__)

_T = TypeVar("_T")

_ACCOUNT_KEY = "account.key"
_ORDERS_DIR = "orders"
# acme retries a badNonce once; pebble rejects 5% of good nonces, and an issuance for a
# 4-node cluster makes dozens of POSTs, so one retry still loses a run now and then.
_BAD_NONCE_ROUNDS = 4
_USER_AGENT = "ucrenew-acme (acme-python)"

# Problem codes that are the CA's answer about this request: reported as ``denied``.
_DENIAL_CODES = frozenset({"rejectedIdentifier", "badCSR", "caa", "unsupportedIdentifier"})
# Problem codes that say the account or client configuration is wrong.
_CONFIG_CODES = frozenset(
    {
        "unauthorized",
        "accountDoesNotExist",
        "externalAccountRequired",
        "userActionRequired",
        "badPublicKey",
        "badSignatureAlgorithm",
        "invalidContact",
        "invalidEmail",
        "unsupportedContact",
    }
)
_TRANSIENT_CODES = frozenset({"rateLimited", "serverInternal", "badNonce"})


# --------------------------------------------------------------------------------------------
# Hooks
# --------------------------------------------------------------------------------------------


@runtime_checkable
class DnsHook(Protocol):
    """Publishes and removes the TXT record of a dns-01 challenge.

    The record is ``_acme-challenge.<domain>.`` with value ``validation``. :meth:`present`
    returns once the record is visible to the CA (the hook waits for propagation itself).
    Hooks raise :class:`~activities.clients.ca.errors.CaError` subclasses on failure.
    """

    async def present(self, domain: str, validation: str) -> None:
        """Publish the TXT record.

        Args:
            domain: The identifier being validated (no ``_acme-challenge.`` prefix, no dot).
            validation: The TXT record value.
        """
        ...

    async def cleanup(self, domain: str, validation: str) -> None:
        """Remove the TXT record published by :meth:`present`.

        Args:
            domain: The identifier that was validated.
            validation: The TXT record value that was published.
        """
        ...


@runtime_checkable
class HttpHook(Protocol):
    """Serves and withdraws the resource of an http-01 challenge.

    The resource is ``http://<domain>/.well-known/acme-challenge/<token>`` with body
    ``validation`` (the key authorization).
    """

    async def present(self, domain: str, token: str, validation: str) -> None:
        """Start serving the challenge resource.

        Args:
            domain: The identifier being validated.
            token: The challenge token (last path segment).
            validation: The key authorization to serve as the body.
        """
        ...

    async def cleanup(self, domain: str, token: str, validation: str) -> None:
        """Stop serving the challenge resource.

        Args:
            domain: The identifier that was validated.
            token: The challenge token.
            validation: The key authorization that was served.
        """
        ...


class CommandDnsHook:
    """dns-01 through an operator-provided executable, in the style of certbot manual hooks.

    The executable is run as ``argv... ACTION DOMAIN VALIDATION`` where ACTION is ``present``
    or ``cleanup``, DOMAIN the identifier (the record to set is ``_acme-challenge.DOMAIN.``)
    and VALIDATION the TXT value. Exit status 0 means done; ``present`` must not exit before
    the record is visible on the zone's authoritative servers. Its output is logged on
    failure, never put into errors (it may echo credentials).

    Attributes:
        argv: The command and its fixed leading arguments.
        timeout: Seconds one run may take before it is killed.
    """

    def __init__(
        self,
        argv: Sequence[str],
        *,
        timeout: float = 300.0,
        env: Mapping[str, str] | None = None,
    ) -> None:
        """Build the hook.

        Args:
            argv: The command and its fixed leading arguments (not run through a shell).
            timeout: Seconds one run may take before it is killed.
            env: Extra environment variables for the command (added to this process's).

        Raises:
            ValueError: ``argv`` is empty or ``timeout`` is not positive.
        """
        if not argv:
            raise ValueError("argv must name a command")
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        self.argv = list(argv)
        self.timeout = timeout
        self._env = dict(env) if env else None

    async def present(self, domain: str, validation: str) -> None:
        """Run ``argv present DOMAIN VALIDATION``.

        Args:
            domain: The identifier being validated.
            validation: The TXT record value.

        Raises:
            CaConfigurationError: The command cannot be run or exits non-zero.
            CaUnavailable: The command did not finish within ``timeout``.
        """
        await self._run("present", domain, validation)

    async def cleanup(self, domain: str, validation: str) -> None:
        """Run ``argv cleanup DOMAIN VALIDATION``.

        Args:
            domain: The identifier that was validated.
            validation: The TXT record value that was published.

        Raises:
            CaConfigurationError: The command cannot be run or exits non-zero.
            CaUnavailable: The command did not finish within ``timeout``.
        """
        await self._run("cleanup", domain, validation)

    async def _run(self, action: str, domain: str, validation: str) -> None:
        command = Path(self.argv[0]).name
        env = {**os.environ, **self._env} if self._env else None
        try:
            proc = await asyncio.create_subprocess_exec(
                *self.argv,
                action,
                domain,
                validation,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=env,
            )
        except OSError as exc:
            raise CaConfigurationError(
                f"DNS hook {command!r} cannot be run: {exc.strerror or type(exc).__name__}"
            ) from exc
        try:
            stdout, stderr = await asyncio.wait_for(proc.communicate(), self.timeout)
        except TimeoutError:
            with suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
            raise CaUnavailable(
                f"DNS hook {command!r} did not finish {action} for {domain} "
                f"within {self.timeout:g} s"
            ) from None
        if proc.returncode != 0:
            logger.warning(
                "DNS hook %s %s %s exited %s; stderr: %s",
                command,
                action,
                domain,
                proc.returncode,
                stderr.decode(errors="replace")[-2000:].strip(),
            )
            raise CaConfigurationError(
                f"DNS hook {command!r} exited {proc.returncode} on {action} for {domain} "
                "(see the worker log for its output)"
            )
        logger.debug("DNS hook %s %s %s done: %s", command, action, domain, stdout[-200:])


# --------------------------------------------------------------------------------------------
# Pure helpers: Retry-After
# --------------------------------------------------------------------------------------------


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Turn a ``Retry-After`` header into seconds from ``now``.

    Args:
        value: The header value: delay-seconds or an HTTP-date; ``None`` when absent.
        now: The current time (timezone-aware), for HTTP-dates.

    Returns:
        Seconds to wait (0 for a date in the past), or ``None`` when absent or unparseable.
    """
    if value is None or not value.strip():
        return None
    text = value.strip()
    if text.isdigit():
        return float(int(text))
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


# --------------------------------------------------------------------------------------------
# Protocol plumbing
# --------------------------------------------------------------------------------------------


class _Exchange:
    """Status and Retry-After of the last HTTP response of one session (for error mapping)."""

    def __init__(self) -> None:
        self.status: int | None = None
        self.retry_after: str | None = None

    def record(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        self.status = response.status_code
        self.retry_after = response.headers.get("Retry-After")


class _Network(client.ClientNetwork):
    def post(self, *args: Any, **kwargs: Any) -> requests.Response:
        for round_ in range(_BAD_NONCE_ROUNDS):
            try:
                return super().post(*args, **kwargs)
            except messages.Error as exc:
                if exc.code != "badNonce" or round_ == _BAD_NONCE_ROUNDS - 1:
                    raise
                logger.debug("ACME badNonce twice in a row; retrying with a fresh nonce")
        raise AssertionError("unreachable")


@dataclass
class _Session:
    """One thread's use of the ACME server: a ClientV2 and its response recorder."""

    acme: client.ClientV2
    exchange: _Exchange

    def post_as_get(self, url: str) -> requests.Response:
        return self.acme.net.post(url, None, new_nonce_url=self.acme.directory["newNonce"])

    def fetch_order(self, url: str) -> tuple[messages.Order, float | None]:
        response = self.post_as_get(url)
        body = messages.Order.from_json(response.json())
        return body, parse_retry_after(response.headers.get("Retry-After"), datetime.now(UTC))


@dataclass
class _Challenge:
    kind: str  # "dns-01" or "http-01"
    domain: str
    token: str
    validation: str


@dataclass
class _OrderRecord:
    order_url: str
    csr_pem: str
    challenges: list[_Challenge] = field(default_factory=list)
    cleaned: bool = False

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1)

    @classmethod
    def from_json(cls, text: str) -> _OrderRecord:
        data = json.loads(text)
        return cls(
            order_url=data["order_url"],
            csr_pem=data["csr_pem"],
            challenges=[_Challenge(**c) for c in data.get("challenges", [])],
            cleaned=bool(data.get("cleaned", False)),
        )


def _problem_text(problem: messages.Error) -> str:
    head = problem.code or problem.typ
    text = f"{head}: {problem.detail}" if problem.detail else str(head)
    if problem.identifier is not None:
        text = f"{problem.identifier.value}: {text}"
    for sub in problem.subproblems or ():
        text += f"; {_problem_text(sub)}"
    return text


def _challenge_type(challb: messages.ChallengeBody) -> str:
    typ = challb.chall.typ
    if isinstance(typ, str):
        return typ
    # acme decodes challenge types it does not implement as UnrecognizedChallenge.
    raw = getattr(challb.chall, "jobj", {})
    return str(raw.get("type", "unknown")) if isinstance(raw, Mapping) else "unknown"


def _pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


def _issued_by(child: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        child.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


# --------------------------------------------------------------------------------------------
# The backend
# --------------------------------------------------------------------------------------------


class AcmeCa:
    """An ACME CA (RFC 8555) that signs CUCM CSRs; implements ``CertificateAuthority``.

    Each call opens its own HTTP session (instances are safe to share between concurrent
    activities); the directory and the account URL are cached per instance.

    Attributes:
        name: Short name used in logs and errors.
        directory_url: The ACME directory URL.
        state_dir: Directory for the account key and open orders.
        poll_interval: Seconds suggested between polls when the CA sends no Retry-After.
    """

    def __init__(
        self,
        directory_url: str,
        *,
        state_dir: str | os.PathLike[str],
        account_key_ref: SecretRef | None = None,
        contact_email: str | None = None,
        dns_hook: DnsHook | None = None,
        http_hook: HttpHook | None = None,
        ca_bundle: str | os.PathLike[str] | None = None,
        root_pem: str | None = None,
        name: str = "acme",
        timeout: float = 30.0,
        poll_interval: float = 10.0,
        agree_terms_of_service: bool = True,
    ) -> None:
        """Configure the backend; nothing is contacted or created until first use.

        Args:
            directory_url: The ACME directory URL.
            state_dir: Directory for ``account.key`` (when no reference is given) and open
                orders; created 0700 on first use. Workers that poll each other's orders
                must share it.
            account_key_ref: Secret reference (``env:NAME``, ``file:PATH``) to a PEM account
                key (EC P-256/P-384 or RSA); when None a P-256 key is generated and kept in
                ``state_dir``.
            contact_email: Account contact, used only when the account is created.
            dns_hook: Answers dns-01 challenges (preferred when set).
            http_hook: Answers http-01 challenges when no DNS hook is set.
            ca_bundle: PEM file of CAs trusted for the ACME server's TLS; None for the
                system trust store.
            root_pem: The CA's root certificate, appended to issued chains it terminates.
            name: Short name used in logs and errors.
            timeout: Seconds allowed for each HTTP request.
            poll_interval: Seconds suggested between polls when the CA sends no Retry-After.
            agree_terms_of_service: Agree to the CA's terms when creating the account.

        Raises:
            ValueError: ``timeout`` or ``poll_interval`` is not positive, or ``root_pem`` is
                not a certificate.
        """
        if timeout <= 0 or poll_interval <= 0:
            raise ValueError("timeout and poll_interval must be positive")
        self.name = name
        self.directory_url = directory_url
        self.state_dir = Path(state_dir)
        self.poll_interval = poll_interval
        self._account_key_ref = account_key_ref
        self._contact_email = contact_email
        self._dns_hook = dns_hook
        self._http_hook = http_hook
        self._verify: bool | str = str(ca_bundle) if ca_bundle is not None else True
        self._root = load_pem_certificates(root_pem)[0] if root_pem else None
        self._timeout = timeout
        self._agree = agree_terms_of_service
        self._lock = threading.Lock()
        self._key: tuple[jose.JWK, jose.JWASignature] | None = None
        self._directory: messages.Directory | None = None
        self._account_uri: str | None = None

    # ----------------------------------------------------------------------------------------
    # CertificateAuthority
    # ----------------------------------------------------------------------------------------

    async def submit(self, csr_pem: str, profile: CaProfile) -> CaSubmission:
        """Order a certificate for the CSR's names and answer its challenges.

        Args:
            csr_pem: The PKCS#10 CSR from the publisher, PEM.
            profile: ``template`` is sent as the ACME profile name when set.

        Returns:
            ``pending`` with the order URL while the CA validates; ``issued`` or ``pending``
            after finalization when every authorization was already valid; ``denied`` when
            the CSR is unusable or the CA refuses the names.

        Raises:
            CaUnavailable: The CA cannot be reached, fails, or rate-limits.
            CaConfigurationError: Account, trust or hook problems, or no configured hook fits
                the offered challenges.
            CaProtocolError: The CA answered something unexpected.
        """
        try:
            csr = load_csr(csr_pem)
        except CertificateParseError as exc:
            return self._denied("", f"the CSR cannot be read: {exc.reason}")
        if not csr.is_signature_valid:
            return self._denied("", "the CSR's signature does not verify")
        csr_text = csr.public_bytes(serialization.Encoding.PEM).decode("ascii")
        try:
            session = await self._run(self._open)
            orderr = await self._run(
                lambda: session.acme.new_order(csr_text.encode("ascii"), profile.template),
                session=session,
            )
        except CaRequestDenied as exc:
            return self._denied("", exc.message)
        order_url = orderr.uri
        if not order_url:
            raise CaProtocolError(f"{self.name}: new order has no Location", ca=self.name)
        status = orderr.body.status
        logger.info("%s: order %s is %s", self.name, order_url, status)
        if status == messages.STATUS_INVALID:
            return await self._advance(session, order_url)
        record = _OrderRecord(order_url=order_url, csr_pem=csr_text)
        answers: list[tuple[messages.ChallengeBody, challenges.ChallengeResponse]] = []
        if status == messages.STATUS_PENDING:
            for authzr in orderr.authorizations:
                authz_status = authzr.body.status
                if authz_status == messages.STATUS_VALID:
                    continue
                if authz_status != messages.STATUS_PENDING:
                    # The order follows its authorizations to invalid; report its problem.
                    return await self._advance(session, order_url)
                challenge, challb, response = self._prepare(authzr)
                record.challenges.append(challenge)
                answers.append((challb, response))
        self._save_record(record)
        if not answers:
            return await self._advance(session, order_url)
        await self._present(record)
        for challb, response in answers:
            await self._run(
                functools.partial(session.acme.answer_challenge, challb, response),
                session=session,
                request_ref=order_url,
            )
        kinds = sorted({c.kind for c in record.challenges})
        return CaSubmission(
            status="pending",
            request_ref=order_url,
            message=(
                f"{self.name}: validating {len(record.challenges)} identifier(s) "
                f"by {', '.join(kinds)}"
            ),
            retry_after_seconds=self.poll_interval,
        )

    async def poll(self, request_ref: str) -> CaSubmission:
        """Advance an order: finalize it when ready, download the certificate when valid.

        Args:
            request_ref: The order URL returned by :meth:`submit`.

        Returns:
            ``pending`` (with the CA's Retry-After, else ``poll_interval``), ``issued`` with
            the leaf and chain, or ``denied`` with the ACME problem detail.

        Raises:
            CaRequestNotFound: The reference is not an order URL of this CA, or the order is
                ready but its CSR is not in ``state_dir``.
            CaUnavailable: The CA cannot be reached, fails, or rate-limits.
            CaConfigurationError: Account or trust problems (another account's order).
            CaProtocolError: The CA answered something unexpected, or issued a certificate
                for a key other than the CSR's.
        """
        order_url = request_ref.strip()
        if urlsplit(order_url).scheme not in ("https", "http") or not urlsplit(order_url).netloc:
            raise CaRequestNotFound(
                f"{self.name}: {request_ref!r} is not an ACME order URL",
                ca=self.name,
                request_ref=request_ref,
            )
        session = await self._run(self._open)
        return await self._advance(session, order_url)

    # ----------------------------------------------------------------------------------------
    # Order progression
    # ----------------------------------------------------------------------------------------

    async def _advance(self, session: _Session, order_url: str) -> CaSubmission:
        body, retry = await self._run(
            lambda: session.fetch_order(order_url), session=session, request_ref=order_url
        )
        status = body.status
        if status == messages.STATUS_PENDING:
            # RFC 8555 7.1.6: a failed authorization turns the order invalid, so a pending
            # order is still being validated.
            return self._pending(order_url, retry, "waiting for the CA to validate")
        record = self._load_record(order_url)
        if record is not None and not record.cleaned:
            await self._cleanup(record)
            self._save_record(record)
        if status == messages.STATUS_READY:
            if record is None:
                raise CaRequestNotFound(
                    f"{self.name}: order {order_url} is ready but its CSR is not in "
                    f"{self.state_dir} (workers polling ACME orders must share the state dir)",
                    ca=self.name,
                    request_ref=order_url,
                )
            csr_text = record.csr_pem
            try:
                body, retry = await self._run(
                    lambda: self._finalize(session, order_url, body, csr_text),
                    session=session,
                    request_ref=order_url,
                )
            except CaRequestDenied as exc:
                self._forget(order_url)
                return self._denied(order_url, exc.message)
            status = body.status
            logger.info("%s: order %s finalized, now %s", self.name, order_url, status)
        if status == messages.STATUS_PROCESSING:
            return self._pending(order_url, retry, "the CA is issuing the certificate")
        if status == messages.STATUS_VALID:
            return await self._issued(session, order_url, body, record)
        if status == messages.STATUS_INVALID:
            reason = await self._run(
                lambda: self._failure_reason(session, body),
                session=session,
                request_ref=order_url,
            )
            self._forget(order_url)
            logger.info("%s: order %s is invalid: %s", self.name, order_url, reason)
            return self._denied(order_url, reason)
        raise CaProtocolError(
            f"{self.name}: order {order_url} has unexpected status {status}",
            ca=self.name,
            request_ref=order_url,
        )

    def _finalize(
        self, session: _Session, order_url: str, body: messages.Order, csr_pem: str
    ) -> tuple[messages.Order, float | None]:
        orderr = messages.OrderResource(body=body, uri=order_url, csr_pem=csr_pem.encode())
        try:
            finalized = session.acme.begin_finalization(orderr)
        except messages.Error as exc:
            if exc.code != "orderNotReady":
                raise
            # Another poller finalized it first; report where the order is now.
            return session.fetch_order(order_url)
        return finalized.body, parse_retry_after(session.exchange.retry_after, datetime.now(UTC))

    async def _issued(
        self,
        session: _Session,
        order_url: str,
        body: messages.Order,
        record: _OrderRecord | None,
    ) -> CaSubmission:
        cert_url = body.certificate
        if not cert_url:
            raise CaProtocolError(
                f"{self.name}: order {order_url} is valid but names no certificate",
                ca=self.name,
                request_ref=order_url,
            )
        response = await self._run(
            lambda: session.post_as_get(cert_url), session=session, request_ref=order_url
        )
        try:
            certs = load_pem_certificates(response.text)
        except CertificateParseError as exc:
            raise CaProtocolError(
                f"{self.name}: the certificate download is not PEM ({exc.reason})",
                ca=self.name,
                request_ref=order_url,
            ) from exc
        leaf, served = certs[0], certs[1:]
        if record is not None and public_key_fingerprint(leaf) != public_key_fingerprint(
            record.csr_pem
        ):
            raise CaProtocolError(
                f"{self.name}: the issued certificate's key is not the CSR's",
                ca=self.name,
                request_ref=order_url,
            )
        chain = list(served)
        if self._root is not None and chain and chain[-1] != self._root:
            if _issued_by(chain[-1], self._root):
                chain.append(self._root)
            else:
                logger.warning(
                    "%s: served chain for %s does not end under the configured root",
                    self.name,
                    order_url,
                )
        self._forget(order_url)
        serial = format(leaf.serial_number, "x")
        logger.info("%s: order %s issued serial %s", self.name, order_url, serial)
        return CaSubmission(
            status="issued",
            request_ref=order_url,
            certificate_pem=_pem(leaf),
            chain_pem="".join(_pem(c) for c in chain) or None,
            message=f"issued by {self.name}, serial {serial}",
        )

    def _failure_reason(self, session: _Session, body: messages.Order) -> str:
        # Failed authorizations name the domain; the order's own error often does not.
        reasons: list[str] = []
        for url in body.authorizations:
            authz = messages.Authorization.from_json(session.post_as_get(url).json())
            if authz.status == messages.STATUS_VALID:
                continue
            domain = authz.identifier.value
            errors = [c.error for c in authz.challenges if c.error is not None]
            if errors:
                reasons.extend(f"{domain}: {_problem_text(e)}" for e in errors)
            else:
                reasons.append(f"{domain}: authorization {authz.status}")
        if reasons:
            return "; ".join(reasons)
        if body.error is not None:
            return _problem_text(body.error)
        return "the order is invalid (the CA gave no reason)"

    def _pending(self, order_url: str, retry: float | None, what: str) -> CaSubmission:
        return CaSubmission(
            status="pending",
            request_ref=order_url,
            message=f"{self.name}: {what}",
            retry_after_seconds=retry if retry is not None else self.poll_interval,
        )

    def _denied(self, order_url: str, reason: str) -> CaSubmission:
        return CaSubmission(
            status="denied", request_ref=order_url, message=f"{self.name} denied: {reason}"
        )

    # ----------------------------------------------------------------------------------------
    # Challenges
    # ----------------------------------------------------------------------------------------

    def _prepare(
        self, authzr: messages.AuthorizationResource
    ) -> tuple[_Challenge, messages.ChallengeBody, challenges.ChallengeResponse]:
        key, _ = self._account_key()
        domain = authzr.body.identifier.value
        offered = {type(c.chall): c for c in authzr.body.challenges}
        if self._dns_hook is not None and challenges.DNS01 in offered:
            challb = offered[challenges.DNS01]
            response, validation = challb.response_and_validation(key)
            return _Challenge("dns-01", domain, "", validation), challb, response
        if self._http_hook is not None and challenges.HTTP01 in offered:
            challb = offered[challenges.HTTP01]
            response, validation = challb.response_and_validation(key)
            token = challb.chall.encode("token")
            return _Challenge("http-01", domain, token, validation), challb, response
        kinds = ", ".join(sorted(_challenge_type(c) for c in authzr.body.challenges))
        hooks = [k for k, h in (("dns", self._dns_hook), ("http", self._http_hook)) if h]
        raise CaConfigurationError(
            f"{self.name}: no configured hook ({', '.join(hooks) or 'none'}) answers the "
            f"challenges offered for {domain} ({kinds})",
            ca=self.name,
        )

    async def _present(self, record: _OrderRecord) -> None:
        presented: list[_Challenge] = []
        try:
            for challenge in record.challenges:
                await self._hook_call("present", challenge)
                presented.append(challenge)
        except BaseException:
            await self._cleanup(_OrderRecord(record.order_url, record.csr_pem, presented))
            # The order is abandoned: a retried submit creates a new one.
            self._forget(record.order_url)
            raise

    async def _cleanup(self, record: _OrderRecord) -> None:
        for challenge in record.challenges:
            try:
                await self._hook_call("cleanup", challenge)
            except (CaError, OSError) as exc:
                # A leftover TXT record is harmless; failing an issuance over it is not.
                logger.warning(
                    "%s: cleanup of %s for %s failed: %s",
                    self.name,
                    challenge.kind,
                    challenge.domain,
                    getattr(exc, "message", type(exc).__name__),
                )
        record.cleaned = True

    async def _hook_call(self, action: str, challenge: _Challenge) -> None:
        try:
            if challenge.kind == "dns-01":
                if self._dns_hook is None:
                    raise CaConfigurationError(f"{self.name}: no DNS hook", ca=self.name)
                method = getattr(self._dns_hook, action)
                await method(challenge.domain, challenge.validation)
            else:
                if self._http_hook is None:
                    raise CaConfigurationError(f"{self.name}: no HTTP hook", ca=self.name)
                method = getattr(self._http_hook, action)
                await method(challenge.domain, challenge.token, challenge.validation)
        except CaError:
            raise
        except Exception as exc:
            raise CaConfigurationError(
                f"{self.name}: the {challenge.kind} hook failed to {action} for "
                f"{challenge.domain} ({type(exc).__name__})",
                ca=self.name,
            ) from exc

    # ----------------------------------------------------------------------------------------
    # Sessions, account and errors
    # ----------------------------------------------------------------------------------------

    async def _run(
        self,
        fn: Callable[[], _T],
        *,
        session: _Session | None = None,
        request_ref: str | None = None,
    ) -> _T:
        exchange = session.exchange if session is not None else _Exchange()

        def call() -> _T:
            with self._translate(exchange, request_ref):
                return fn()

        return await asyncio.to_thread(call)

    def _open(self) -> _Session:
        exchange = _Exchange()
        key, alg = self._account_key()
        net = _Network(
            key,
            alg=alg,
            # requests takes a CA bundle path where acme's annotation says bool.
            verify_ssl=cast(bool, self._verify),
            user_agent=_USER_AGENT,
            timeout=max(1, round(self._timeout)),
        )
        net.session.hooks["response"].append(exchange.record)
        with self._translate(exchange, None):
            directory = self._directory
            if directory is None:
                directory = client.ClientV2.get_directory(self.directory_url, net)
                self._directory = directory
            acme = client.ClientV2(directory, net)
            uri = self._account_uri or self._find_or_create_account(acme)
            net.account = messages.RegistrationResource(uri=uri, body=messages.Registration())
        return _Session(acme=acme, exchange=exchange)

    def _find_or_create_account(self, acme: client.ClientV2) -> str:
        with self._lock:
            if self._account_uri is not None:
                return self._account_uri
            uri: str | None
            try:
                regr = acme.new_account(messages.NewRegistration(only_return_existing=True))
                uri = regr.uri
            except acme_errors.ConflictError as exc:
                uri = exc.location
            except messages.Error as exc:
                if exc.code != "accountDoesNotExist":
                    raise
                uri = None
            if uri is not None:
                logger.info("%s: using ACME account %s", self.name, uri)
            else:
                registration = messages.NewRegistration.from_data(
                    email=self._contact_email, terms_of_service_agreed=self._agree
                )
                try:
                    uri = acme.new_account(registration).uri
                except acme_errors.ConflictError as exc:
                    uri = exc.location
                logger.info("%s: created ACME account %s", self.name, uri)
            if not uri:
                raise CaProtocolError(f"{self.name}: account has no URL", ca=self.name)
            acme.net.account = None
            self._account_uri = uri
            return uri

    def _account_key(self) -> tuple[jose.JWK, jose.JWASignature]:
        with self._lock:
            if self._key is None:
                self._key = self._load_account_key()
            return self._key

    def _load_account_key(self) -> tuple[jose.JWK, jose.JWASignature]:
        if self._account_key_ref is not None:
            try:
                pem = resolve_secret_ref(self._account_key_ref).encode()
            except SecretRefError as exc:
                raise CaConfigurationError(f"{self.name}: {exc}", ca=self.name) from None
            source = self._account_key_ref
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

    @contextmanager
    def _translate(self, exchange: _Exchange, request_ref: str | None) -> Iterator[None]:
        """Map library and transport errors onto the CaError tree (the one place it happens)."""
        host = urlsplit(self.directory_url).netloc
        try:
            yield
        except CaError:
            raise
        except requests.exceptions.SSLError as exc:
            raise CaConfigurationError(
                f"{self.name}: TLS verification of {host} failed (check ca_bundle)",
                ca=self.name,
                request_ref=request_ref,
            ) from exc
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise CaUnavailable(
                f"{self.name}: cannot reach {host} ({type(exc).__name__})",
                ca=self.name,
                request_ref=request_ref,
            ) from exc
        except messages.Error as exc:
            raise self._map_problem(exc, exchange, request_ref) from exc
        except acme_errors.ClientError as exc:
            raise self._map_status(exchange, request_ref, "non-ACME error answer") from exc
        except (acme_errors.Error, jose.DeserializationError, ValueError, KeyError) as exc:
            raise CaProtocolError(
                f"{self.name}: unexpected answer from {host} ({type(exc).__name__})",
                ca=self.name,
                request_ref=request_ref,
            ) from exc
        except requests.RequestException as exc:
            raise CaUnavailable(
                f"{self.name}: request to {host} failed ({type(exc).__name__})",
                ca=self.name,
                request_ref=request_ref,
            ) from exc

    def _map_problem(
        self, problem: messages.Error, exchange: _Exchange, request_ref: str | None
    ) -> CaError:
        text = _problem_text(problem)
        code = problem.code
        status = exchange.status
        if code in _DENIAL_CODES:
            return CaRequestDenied(
                f"{self.name}: {text}", ca=self.name, request_ref=request_ref, reason=text
            )
        if code in _TRANSIENT_CODES or (status is not None and status >= 500):
            return CaUnavailable(
                f"{self.name}: {text}",
                ca=self.name,
                request_ref=request_ref,
                http_status=status,
                retry_after=parse_retry_after(exchange.retry_after, datetime.now(UTC)),
            )
        if status == 404:
            return CaRequestNotFound(f"{self.name}: {text}", ca=self.name, request_ref=request_ref)
        if code in _CONFIG_CODES:
            return CaConfigurationError(
                f"{self.name}: {text}", ca=self.name, request_ref=request_ref
            )
        return CaProtocolError(f"{self.name}: {text}", ca=self.name, request_ref=request_ref)

    def _map_status(self, exchange: _Exchange, request_ref: str | None, what: str) -> CaError:
        status = exchange.status
        message = f"{self.name}: {what} (HTTP {status})"
        if status is not None and (status >= 500 or status == 429):
            return CaUnavailable(
                message,
                ca=self.name,
                request_ref=request_ref,
                http_status=status,
                retry_after=parse_retry_after(exchange.retry_after, datetime.now(UTC)),
            )
        if status == 404:
            return CaRequestNotFound(message, ca=self.name, request_ref=request_ref)
        return CaProtocolError(message, ca=self.name, request_ref=request_ref)

    # ----------------------------------------------------------------------------------------
    # Order records
    # ----------------------------------------------------------------------------------------

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

    def _save_record(self, record: _OrderRecord) -> None:
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

    def _load_record(self, order_url: str) -> _OrderRecord | None:
        path = self._record_path(order_url)
        try:
            record = _OrderRecord.from_json(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise CaConfigurationError(
                f"{self.name}: order record {path} is unreadable ({type(exc).__name__})",
                ca=self.name,
                request_ref=order_url,
            ) from None
        return record if record.order_url == order_url else None

    def _forget(self, order_url: str) -> None:
        try:
            self._record_path(order_url).unlink(missing_ok=True)
        except OSError as exc:
            if exc.errno != errno.ENOENT:
                logger.warning("%s: cannot remove order record: %s", self.name, exc.strerror)
