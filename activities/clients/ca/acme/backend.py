"""The ACME (RFC 8555) backend: order, answer the challenges, poll, finalize, download.

The CSR comes from the CUCM publisher and its private key never leaves the cluster, so an
order is finalized with the CSR exactly as given. Validation is dns-01 only, through a DNS
hook (:mod:`~activities.clients.ca.acme.hooks`): the names on a CUCM certificate are CUCM and
IM&P nodes, whose ports 80 and 443 are Cisco Tomcat with no place for an ACME token, so
http-01 and tls-alpn-01 cannot be answered. An authorization without a dns-01 challenge is
refused with a :class:`~activities.clients.ca.errors.CaConfigurationError`.

:meth:`AcmeCa.submit` creates the order, presents and answers the challenges, and returns
``pending`` with the order URL as ``request_ref``; :meth:`AcmeCa.poll` re-reads the order,
finalizes it when ``ready`` and downloads the certificate when ``valid``. When every
authorization is already valid (the CA reused earlier ones) ``submit`` goes straight on to
finalize. Protocol work (:mod:`~activities.clients.ca.acme.wire`) runs in worker threads;
hooks are coroutines. The account key and open orders live in a state directory
(:mod:`~activities.clients.ca.acme.state`), except on a stateless worker.

Any worker can resume an order it did not create: the account key comes from a reference
(the account URL is found again with ``onlyReturnExisting``, RFC 8555 7.3.1), the renewal
passes the order URL and the CSR to :meth:`AcmeCa.poll`, and the dns-01 records to clean up
are computed again from the order's authorizations (each names its challenge token, and the
TXT value is a digest of the token and the account key, RFC 8555 8.4).

Chain returned with an issued certificate: the certificates the CA served after the leaf
(intermediates, leaf→root order), followed by the configured ``root_pem`` when the last
served certificate is directly issued by it. ACME servers normally do not serve the root, so
without ``root_pem`` the chain holds intermediates only.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar, cast
from urllib.parse import urlsplit

import josepy as jose
from acme import challenges, client, messages
from acme import errors as acme_errors
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization

from activities.clients.ca.acme.hooks import DnsHook
from activities.clients.ca.acme.state import AcmeState, Challenge, OrderRecord
from activities.clients.ca.acme.wire import (
    Exchange,
    Network,
    Session,
    challenge_type,
    parse_retry_after,
    problem_text,
    translate_errors,
)
from activities.clients.ca.errors import (
    CaConfigurationError,
    CaError,
    CaProtocolError,
    CaRequestDenied,
    CaRequestNotFound,
)
from activities.clients.pki import (
    CertificateParseError,
    load_csr,
    load_pem_certificates,
    public_key_fingerprint,
)
from activities.clients.secrets import SecretRef
from activities.models import CaProfile, CaSubmission

__all__ = ["AcmeCa", "dns01_challenge"]

logger = logging.getLogger(__name__)

_T = TypeVar("_T")

_USER_AGENT = "ucrenew-acme (acme-python)"


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
        ca_bundle: str | os.PathLike[str] | None = None,
        root_pem: str | None = None,
        name: str = "acme",
        timeout: float = 30.0,
        poll_interval: float = 10.0,
        agree_terms_of_service: bool = True,
        local_disk: bool = True,
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
            dns_hook: Answers the dns-01 challenges; without one, only orders whose
                authorizations are all valid already can go through.
            ca_bundle: PEM file of CAs trusted for the ACME server's TLS; None for the
                system trust store.
            root_pem: The CA's root certificate, appended to issued chains it terminates.
            name: Short name used in logs and errors.
            timeout: Seconds allowed for each HTTP request.
            poll_interval: Seconds suggested between polls when the CA sends no Retry-After.
            agree_terms_of_service: Agree to the CA's terms when creating the account.
            local_disk: False on a stateless worker: ``state_dir`` is never used, the
                account key must come from ``account_key_ref``.

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
        self._verify: bool | str = str(ca_bundle) if ca_bundle is not None else True
        self._root = load_pem_certificates(root_pem)[0] if root_pem else None
        self._timeout = timeout
        self._agree = agree_terms_of_service
        self._state = AcmeState(self.state_dir, name, local_disk=local_disk)
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
            CaConfigurationError: Account, trust or hook problems, an authorization without
                a dns-01 challenge, or no DNS hook for one that needs answering.
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
        record = OrderRecord(order_url=order_url, csr_pem=csr_text)
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
        self._state.save(record)
        if not answers:
            return await self._advance(session, order_url)
        await self._present(record)
        for challb, response in answers:
            await self._run(
                functools.partial(session.acme.answer_challenge, challb, response),
                session=session,
                request_ref=order_url,
            )
        return CaSubmission(
            status="pending",
            request_ref=order_url,
            message=f"{self.name}: validating {len(record.challenges)} identifier(s) by dns-01",
            retry_after_seconds=self.poll_interval,
        )

    async def poll(self, request_ref: str, csr_pem: str | None = None) -> CaSubmission:
        """Advance an order: finalize it when ready, download the certificate when valid.

        Args:
            request_ref: The order URL returned by :meth:`submit`.
            csr_pem: The CSR the order was created for, as the renewal carries it: lets a
                worker that did not create the order (another pod, an empty disk) finalize
                it and check the issued key.

        Returns:
            ``pending`` (with the CA's Retry-After, else ``poll_interval``), ``issued`` with
            the leaf and chain, or ``denied`` with the ACME problem detail.

        Raises:
            CaRequestNotFound: The reference is not an order URL of this CA, or the order is
                ready and its CSR is neither given nor in ``state_dir``.
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
        return await self._advance(session, order_url, csr_pem)

    # ----------------------------------------------------------------------------------------
    # Order progression
    # ----------------------------------------------------------------------------------------

    async def _advance(
        self, session: Session, order_url: str, csr_pem: str | None = None
    ) -> CaSubmission:
        body, retry = await self._run(
            lambda: session.fetch_order(order_url), session=session, request_ref=order_url
        )
        status = body.status
        if status == messages.STATUS_PENDING:
            # RFC 8555 7.1.6: a failed authorization turns the order invalid, so a pending
            # order is still being validated.
            return self._pending(order_url, retry, "waiting for the CA to validate")
        record = self._state.load(order_url)
        if record is None and csr_pem is not None:
            # Another worker created the order. Once the CA leaves "pending", that worker (or
            # this one) cleans the dns-01 records up before finalizing, so only a ready or an
            # invalid order still has records to remove.
            cleanup = status in (messages.STATUS_READY, messages.STATUS_INVALID)
            authz_urls = list(body.authorizations) if cleanup else []
            record = await self._run(
                lambda: self._rebuild(session, order_url, csr_pem, authz_urls, not cleanup),
                session=session,
                request_ref=order_url,
            )
        if record is not None and not record.cleaned:
            await self._cleanup(record)
            self._state.save(record)
        if status == messages.STATUS_READY:
            if record is None:
                raise CaRequestNotFound(
                    f"{self.name}: order {order_url} is ready but its CSR was not given and "
                    f"is not in {self.state_dir}",
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
                self._state.forget(order_url)
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
            self._state.forget(order_url)
            logger.info("%s: order %s is invalid: %s", self.name, order_url, reason)
            return self._denied(order_url, reason)
        raise CaProtocolError(
            f"{self.name}: order {order_url} has unexpected status {status}",
            ca=self.name,
            request_ref=order_url,
        )

    def _finalize(
        self, session: Session, order_url: str, body: messages.Order, csr_pem: str
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
        session: Session,
        order_url: str,
        body: messages.Order,
        record: OrderRecord | None,
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
        self._state.forget(order_url)
        serial = format(leaf.serial_number, "x")
        logger.info("%s: order %s issued serial %s", self.name, order_url, serial)
        return CaSubmission(
            status="issued",
            request_ref=order_url,
            certificate_pem=_pem(leaf),
            chain_pem="".join(_pem(c) for c in chain) or None,
            message=f"issued by {self.name}, serial {serial}",
        )

    def _rebuild(
        self,
        session: Session,
        order_url: str,
        csr_pem: str,
        authz_urls: list[str],
        cleaned: bool,
    ) -> OrderRecord:
        """The record of an order another worker created, from the CA and the given CSR."""
        record = OrderRecord(order_url=order_url, csr_pem=csr_pem, cleaned=cleaned)
        if not authz_urls:
            return record
        key, _ = self._account_key()
        for url in authz_urls:
            authz = messages.Authorization.from_json(session.post_as_get(url).json())
            for challb in authz.challenges:
                if isinstance(challb.chall, challenges.DNS01):
                    validation = challb.chall.validation(key)
                    record.challenges.append(Challenge(authz.identifier.value, validation))
        logger.info(
            "%s: resuming order %s created elsewhere (%d dns-01 record(s) to clean up)",
            self.name,
            order_url,
            len(record.challenges),
        )
        return record

    def _failure_reason(self, session: Session, body: messages.Order) -> str:
        # Failed authorizations name the domain; the order's own error often does not.
        reasons: list[str] = []
        for url in body.authorizations:
            authz = messages.Authorization.from_json(session.post_as_get(url).json())
            if authz.status == messages.STATUS_VALID:
                continue
            domain = authz.identifier.value
            errors = [c.error for c in authz.challenges if c.error is not None]
            if errors:
                reasons.extend(f"{domain}: {problem_text(e)}" for e in errors)
            else:
                reasons.append(f"{domain}: authorization {authz.status}")
        if reasons:
            return "; ".join(reasons)
        if body.error is not None:
            return problem_text(body.error)
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
    ) -> tuple[Challenge, messages.ChallengeBody, challenges.ChallengeResponse]:
        challb = dns01_challenge(authzr.body, self.name)
        domain = authzr.body.identifier.value
        if self._dns_hook is None:
            raise CaConfigurationError(
                f"{self.name}: {domain} needs a dns-01 answer and no DNS hook is configured "
                "(set dns_hook on this CA)",
                ca=self.name,
            )
        key, _ = self._account_key()
        response, validation = challb.response_and_validation(key)
        return Challenge(domain, validation), challb, response

    async def _present(self, record: OrderRecord) -> None:
        presented: list[Challenge] = []
        try:
            for challenge in record.challenges:
                await self._hook_call("present", challenge)
                presented.append(challenge)
        except BaseException:
            await self._cleanup(OrderRecord(record.order_url, record.csr_pem, presented))
            # The order is abandoned: a retried submit creates a new one.
            self._state.forget(record.order_url)
            raise

    async def _cleanup(self, record: OrderRecord) -> None:
        for challenge in record.challenges:
            try:
                await self._hook_call("cleanup", challenge)
            except (CaError, OSError) as exc:
                # A leftover TXT record is harmless; failing an issuance over it is not.
                logger.warning(
                    "%s: cleanup of dns-01 for %s failed: %s",
                    self.name,
                    challenge.domain,
                    getattr(exc, "message", type(exc).__name__),
                )
        record.cleaned = True

    async def _hook_call(self, action: str, challenge: Challenge) -> None:
        try:
            if self._dns_hook is None:
                raise CaConfigurationError(f"{self.name}: no DNS hook", ca=self.name)
            method = getattr(self._dns_hook, action)
            await method(challenge.domain, challenge.validation)
        except CaError:
            raise
        except Exception as exc:
            raise CaConfigurationError(
                f"{self.name}: the DNS hook failed to {action} for {challenge.domain} "
                f"({type(exc).__name__})",
                ca=self.name,
            ) from exc

    # ----------------------------------------------------------------------------------------
    # Sessions and account
    # ----------------------------------------------------------------------------------------

    async def _run(
        self,
        fn: Callable[[], _T],
        *,
        session: Session | None = None,
        request_ref: str | None = None,
    ) -> _T:
        exchange = session.exchange if session is not None else Exchange()

        def call() -> _T:
            with translate_errors(self.name, self.directory_url, exchange, request_ref):
                return fn()

        return await asyncio.to_thread(call)

    def _open(self) -> Session:
        exchange = Exchange()
        key, alg = self._account_key()
        net = Network(
            key,
            alg=alg,
            # requests takes a CA bundle path where acme's annotation says bool.
            verify_ssl=cast(bool, self._verify),
            user_agent=_USER_AGENT,
            timeout=max(1, round(self._timeout)),
        )
        net.session.hooks["response"].append(exchange.record)
        with translate_errors(self.name, self.directory_url, exchange, None):
            directory = self._directory
            if directory is None:
                directory = client.ClientV2.get_directory(self.directory_url, net)
                self._directory = directory
            acme = client.ClientV2(directory, net)
            uri = self._account_uri or self._find_or_create_account(acme)
            net.account = messages.RegistrationResource(uri=uri, body=messages.Registration())
        return Session(acme=acme, exchange=exchange)

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
                self._key = self._state.load_account_key(self._account_key_ref)
            return self._key


def dns01_challenge(authz: messages.Authorization, ca: str) -> messages.ChallengeBody:
    """The dns-01 challenge of an authorization: the only kind ucrenew answers.

    Args:
        authz: The authorization, as the ACME server sent it.
        ca: The backend's name, for the error.

    Returns:
        The offered dns-01 challenge.

    Raises:
        CaConfigurationError: The server offers no dns-01 challenge for the identifier; the
            message names what it offered.
    """
    for challb in authz.challenges:
        if isinstance(challb.chall, challenges.DNS01):
            return challb
    offered = ", ".join(sorted(challenge_type(c) for c in authz.challenges)) or "none"
    raise CaConfigurationError(
        f"{ca}: the ACME server offers no dns-01 challenge for {authz.identifier.value} "
        f"(offered: {offered}); ucrenew validates by dns-01 only, because CUCM and IM&P "
        "nodes cannot serve http-01 or tls-alpn-01 tokens (their ports 80 and 443 are Cisco "
        "Tomcat); the CA must offer dns-01 for this name",
        ca=ca,
    )


def _pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


def _issued_by(child: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        child.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True
