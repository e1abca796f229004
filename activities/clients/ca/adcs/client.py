"""Microsoft ADCS web enrollment (``/certsrv``) backend of :class:`CertificateAuthority`.

The CSR is posted to ``certfnsh.asp`` with ``CertificateTemplate:<name>`` in ``CertAttrib``;
the answer is an HTML page saying issued (a ``certnew.cer?ReqID=<id>`` link), pending ("Your
Request Id is <id>.") or denied (``The disposition message is "<reason>"``), read by
:mod:`~activities.clients.ca.adcs.pages`. The certificate comes from ``certnew.cer``, the CA
chain from ``certnew.p7b?ReqID=CACert`` after ``certcarc.asp`` says how many times the CA was
renewed.

No maintained async client library exists (``certsrv`` on PyPI is synchronous, on
``requests``, last released 2018), so the protocol is written here on httpx. This module
never imports temporalio and never puts secrets in messages.
"""

from __future__ import annotations

import logging
import ssl
from typing import Any

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from activities.clients import tracing
from activities.clients.ca.adcs import pages
from activities.clients.ca.adcs.auth import AdcsAuth, httpx_auth, ssl_context
from activities.clients.ca.errors import (
    CaConfigurationError,
    CaProtocolError,
    CaRequestNotFound,
    CaUnavailable,
)
from activities.clients.pki import ChainBuildError, order_chain
from activities.models import CaProfile, CaSubmission

__all__ = ["AdcsCa"]

logger = logging.getLogger(__name__)


class AdcsCa:
    """A Microsoft ADCS CA reached through its web enrollment pages.

    Implements ``CertificateAuthority``. One HTTP client per operation (submit or poll), so an
    instance holds no open connection between calls and needs no closing.

    Attributes:
        name: Short name used in logs and errors.
        base_url: The certsrv base URL, ending in ``/``.
        template: Default certificate template.
    """

    def __init__(
        self,
        base_url: str,
        auth: AdcsAuth,
        template: str | None,
        *,
        ca_file: str | None = None,
        address: str | None = None,
        name: str = "adcs",
        timeout: float = 30.0,
    ) -> None:
        """Prepare the client; nothing is read or connected until first use.

        Args:
            base_url: ``https://<ca>/certsrv/``.
            auth: How to authenticate.
            template: Template used when a profile names none (``WebServer`` or a copy of it
                that keeps Server + Client Authentication and Data Encipherment for CUCM).
            ca_file: PEM bundle the CA's HTTPS certificate chains to; system trust if None.
            address: Connect to this address instead of resolving the URL's host; SNI, the
                certificate check and the Host header still use the URL's host.
            name: Short name used in logs and errors.
            timeout: Seconds for each HTTP exchange.
        """
        self.name = name
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self.template = template
        self._url = httpx.URL(self.base_url)
        self._auth = auth
        self._ca_file = ca_file
        self._address = address
        self._timeout = timeout

    # -- CertificateAuthority -----------------------------------------------------------------

    async def submit(self, csr_pem: str, profile: CaProfile) -> CaSubmission:
        """Post a CSR to ``certfnsh.asp`` (``CertificateAuthority.submit``).

        Args:
            csr_pem: The PKCS#10 CSR, PEM.
            profile: ``template`` overrides the default template; validity is the template's.

        Returns:
            ``issued`` with leaf and chain (leaf → root, root included), ``pending`` with the
            Request Id as ``request_ref``, or ``denied`` with the disposition message.

        Raises:
            CaConfigurationError: No template, a template the CA does not offer, credentials
                refused, or TLS trust that does not match the CA.
            CaUnavailable: The CA cannot be reached or answered 5xx.
            CaProtocolError: The answer page could not be understood.
        """
        template = profile.template or self.template
        if not template:
            raise CaConfigurationError(
                f"ADCS {self.name}: no certificate template configured", ca=self.name
            )
        form = {
            "Mode": "newreq",
            "CertRequest": csr_pem,
            "CertAttrib": f"CertificateTemplate:{template}\r\n",
            "FriendlyType": "Saved-Request Certificate",
            "TargetStoreFlags": "0",
            "SaveCert": "yes",
        }
        async with self._client() as client:
            resp = await self._send(client, "POST", "certfnsh.asp", data=form)
            page = resp.text
            issued = pages.ISSUED_LINK.search(page)
            if issued:
                return await self._retrieve(client, issued.group(1))
            request_id = pages.match_text(pages.REQUEST_ID.search(page))
            if pages.PENDING_PAGE.search(page) and request_id:
                logger.info("ADCS %s: request %s pending (%s)", self.name, request_id, template)
                return CaSubmission(
                    status="pending",
                    request_ref=request_id,
                    message=f"ADCS {self.name}: request {request_id} is waiting for a CA "
                    f"administrator (template {template})",
                )
            disposition = pages.match_text(pages.DISPOSITION_QUOTED.search(page))
            if disposition is not None:
                if pages.TEMPLATE_UNKNOWN.search(disposition):
                    raise CaConfigurationError(
                        f"ADCS {self.name} does not issue template {template!r}: {disposition}",
                        ca=self.name,
                        request_ref=request_id,
                    )
                return CaSubmission(
                    status="denied", request_ref=request_id or "", message=disposition
                )
            error = pages.match_text(pages.ERROR_CELL.search(page))
            raise CaProtocolError(
                f"ADCS {self.name}: certfnsh.asp answered a page that is neither issued, "
                f"pending nor denied{f' ({error})' if error else ''}",
                ca=self.name,
            )

    async def poll(self, request_ref: str, csr_pem: str | None = None) -> CaSubmission:
        """Ask for a request's certificate with ``certnew.cer`` (``CertificateAuthority.poll``).

        Args:
            request_ref: The Request Id returned by :meth:`submit`.
            csr_pem: Unused: the CA keeps the request, so any worker can ask for it.

        Returns:
            ``issued`` with leaf and chain, ``pending``, or ``denied`` with the disposition.

        Raises:
            CaRequestNotFound: The CA holds no request with this id.
            CaUnavailable: The CA cannot be reached or answered 5xx.
            CaConfigurationError: Credentials refused or TLS trust wrong.
            CaProtocolError: The answer could not be understood.
        """
        ref = request_ref.strip()
        if not ref.isdigit():
            raise CaRequestNotFound(
                f"ADCS {self.name}: {request_ref!r} is not an ADCS Request Id",
                ca=self.name,
                request_ref=request_ref,
            )
        async with self._client() as client:
            return await self._retrieve(client, ref)

    # -- internals -----------------------------------------------------------------------------

    async def _retrieve(self, client: httpx.AsyncClient, request_id: str) -> CaSubmission:
        resp = await self._send(
            client, "GET", "certnew.cer", params={"ReqID": request_id, "Enc": "b64"}
        )
        if pages.is_certificate(resp):
            leaf = self._certificate_from(resp, f"the certificate of request {request_id}")
            chain = await self._chain_for(client, leaf)
            logger.info("ADCS %s: request %s issued", self.name, request_id)
            return CaSubmission(
                status="issued",
                request_ref=request_id,
                certificate_pem=_pem(leaf),
                chain_pem="".join(_pem(c) for c in chain),
                message=f"issued by ADCS {self.name}, Request Id {request_id}",
            )
        page = resp.text
        disposition = pages.match_text(pages.DISPOSITION_CELL.search(page))
        error = pages.match_text(pages.ERROR_CELL.search(page)) or ""
        if disposition is None and pages.NOT_FOUND.search(error or page):
            raise CaRequestNotFound(
                f"ADCS {self.name} has no request {request_id} ({error})",
                ca=self.name,
                request_ref=request_id,
            )
        if (disposition is not None and pages.DENIED.search(disposition)) or pages.DENIED.search(
            error
        ):
            message = disposition or error
            return CaSubmission(status="denied", request_ref=request_id, message=message)
        if (
            disposition is not None and pages.STILL_PENDING.search(disposition)
        ) or pages.STILL_PENDING.search(error):
            return CaSubmission(
                status="pending",
                request_ref=request_id,
                message=f"ADCS {self.name}: request {request_id} is still pending "
                f"({disposition or error})",
            )
        raise CaProtocolError(
            f"ADCS {self.name}: certnew.cer for request {request_id} returned neither a "
            f"certificate nor a recognised disposition ({disposition or error or 'no message'})",
            ca=self.name,
            request_ref=request_id,
        )

    async def _chain_for(
        self, client: httpx.AsyncClient, leaf: x509.Certificate
    ) -> list[x509.Certificate]:
        """Intermediates then root above ``leaf``, from the CA's published chain."""
        certs = await self._ca_certificates(client)
        try:
            return order_chain(leaf, certs)[1:]
        except ChainBuildError as exc:
            # A partial chain is still useful; the validator reports what is missing.
            logger.warning(
                "ADCS %s: chain from certnew.p7b is incomplete (issuer %s not provided)",
                self.name,
                exc.missing_issuer,
            )
            return exc.partial[1:]

    async def _renewals(self, client: httpx.AsyncClient) -> str:
        resp = await self._send(client, "GET", "certcarc.asp")
        match = pages.N_RENEWALS.search(resp.text)
        if match is None:
            raise CaProtocolError(
                f"ADCS {self.name}: certcarc.asp does not say how often the CA was renewed "
                "(no nRenewals)",
                ca=self.name,
            )
        return match.group(1)

    async def _ca_certificates(self, client: httpx.AsyncClient) -> list[x509.Certificate]:
        renewals = await self._renewals(client)
        params = {"ReqID": "CACert", "Renewal": renewals, "Enc": "b64"}
        resp = await self._send(client, "GET", "certnew.p7b", params=params)
        certs = pages.parse_pkcs7(resp.content)
        if certs:
            return certs
        # No usable PKCS#7 (older or locked-down sites): fall back to the issuing CA alone.
        resp = await self._send(client, "GET", "certnew.cer", params=params)
        return [self._certificate_from(resp, "the CA certificate")]

    def _certificate_from(self, resp: httpx.Response, what: str) -> x509.Certificate:
        if not pages.is_certificate(resp):
            error = pages.match_text(pages.ERROR_CELL.search(resp.text))
            raise CaProtocolError(
                f"ADCS {self.name}: expected {what}, got {resp.headers.get('content-type')}"
                f"{f' ({error})' if error else ''}",
                ca=self.name,
            )
        cert = pages.parse_certificate(resp.content)
        if cert is None:
            raise CaProtocolError(f"ADCS {self.name}: {what} cannot be parsed", ca=self.name)
        return cert

    def _client(self) -> httpx.AsyncClient:
        url = self._url.copy_with(host=self._address) if self._address else self._url
        return httpx.AsyncClient(
            base_url=url,
            verify=ssl_context(self._auth, self._ca_file, self.name),
            auth=httpx_auth(self._auth, self.name),
            headers={"Host": self._url.netloc.decode("ascii")},
            timeout=self._timeout,
            follow_redirects=False,
        )

    async def _send(
        self, client: httpx.AsyncClient, method: str, page: str, **kw: Any
    ) -> httpx.Response:
        """One exchange with certsrv; transport and HTTP failures become CaError subclasses."""
        with tracing.call_span("adcs", f"{method} {page}", ca=self.name) as span:
            resp = await self._exchange(client, method, page, **kw)
            span.set_outcome("ok" if resp.status_code < 400 else f"http-{resp.status_code}")
            return resp

    async def _exchange(
        self, client: httpx.AsyncClient, method: str, page: str, **kw: Any
    ) -> httpx.Response:
        extensions = {"sni_hostname": self._url.host}
        try:
            resp = await client.request(method, page, extensions=extensions, **kw)
        except httpx.ConnectError as exc:
            if _is_tls_verification_failure(exc):
                raise CaConfigurationError(
                    f"ADCS {self.name}: the CA's HTTPS certificate is not trusted (check ca_file)",
                    ca=self.name,
                ) from None
            raise CaUnavailable(
                f"ADCS {self.name}: cannot connect ({type(exc).__name__})", ca=self.name
            ) from None
        except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as exc:
            raise CaUnavailable(
                f"ADCS {self.name}: no answer from {page} ({type(exc).__name__})", ca=self.name
            ) from None
        except httpx.HTTPError as exc:
            raise CaProtocolError(
                f"ADCS {self.name}: HTTP failure on {page} ({type(exc).__name__})", ca=self.name
            ) from None
        status = resp.status_code
        if status == 401:
            raise CaConfigurationError(
                f"ADCS {self.name}: credentials refused (HTTP 401) on {page}", ca=self.name
            )
        if status == 403:
            raise CaConfigurationError(
                f"ADCS {self.name}: access forbidden (HTTP 403) on {page}", ca=self.name
            )
        if status == 404:
            raise CaConfigurationError(
                f"ADCS {self.name}: no {page} under {self.base_url} (HTTP 404)", ca=self.name
            )
        if status in (408, 429) or status >= 500:
            raise CaUnavailable(
                f"ADCS {self.name}: {page} answered HTTP {status}",
                ca=self.name,
                http_status=status,
                retry_after=pages.retry_after_seconds(resp),
            )
        if status >= 400:
            raise CaProtocolError(f"ADCS {self.name}: {page} answered HTTP {status}", ca=self.name)
        return resp


def _pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


def _is_tls_verification_failure(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            return True
        seen = seen.__cause__ or seen.__context__
    return "CERTIFICATE_VERIFY_FAILED" in str(exc)
