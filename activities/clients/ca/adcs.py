"""Microsoft ADCS web enrollment (``/certsrv``) backend of :class:`CertificateAuthority`.

The protocol is the certsrv web pages (cucm-interfaces.md §12): the CSR is posted to
``certfnsh.asp`` with ``CertificateTemplate:<name>`` in ``CertAttrib``; the answer is an HTML
page saying issued (a ``certnew.cer?ReqID=<id>`` link), pending ("Your Request Id is <id>.") or
denied (``The disposition message is "<reason>"``). The certificate comes from ``certnew.cer``,
the CA chain from ``certnew.p7b?ReqID=CACert`` after ``certcarc.asp`` says how many times the
CA was renewed. The page text is the only contract, so every regex that reads it is in one
block below, each marked with what the reference confirms and what is inferred ([INF]).

No maintained async client library exists (``certsrv`` on PyPI is synchronous, on
``requests``, last released 2018), so the protocol is written here on httpx.

Authentication: HTTP Basic and TLS client certificates are tested against the lab's ADCS
twin. NTLM (through ``httpx-ntlm``) and Kerberos/SPNEGO (through the optional ``httpx-gssapi``,
which needs the system's GSSAPI library) are wired but **untested against the twin**, which
has no NTLM or Kerberos acceptor. This module never imports temporalio and never puts
secrets in messages.
"""

from __future__ import annotations

import base64
import binascii
import html
import importlib
import logging
import re
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import httpx
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs7
from pydantic import BaseModel, ConfigDict

from activities.clients.ca.errors import (
    CaConfigurationError,
    CaProtocolError,
    CaRequestNotFound,
    CaUnavailable,
)
from activities.clients.pki import ChainBuildError, order_chain
from activities.clients.secrets import SecretRef
from activities.models import CaProfile, CaSubmission

__all__ = [
    "AdcsAuth",
    "AdcsAuthConfig",
    "AdcsBasicAuth",
    "AdcsCa",
    "AdcsCaConfig",
    "AdcsClientCertAuth",
    "AdcsKerberosAuth",
    "AdcsNtlmAuth",
    "adcs_ca_from_config",
]

logger = logging.getLogger(__name__)

# --------------------------------------------------------------------------------------------
# Page parsing: the only place that knows certsrv's wording
# --------------------------------------------------------------------------------------------

# §12: the issued page links the certificate as certnew.cer?ReqID=<id>&amp;Enc=b64.
_ISSUED_LINK = re.compile(r"certnew\.cer\?ReqID=(\d+)&(?:amp;)?Enc=", re.IGNORECASE)
# §12: the pending page says "Certificate Pending".
_PENDING_PAGE = re.compile(r"Certificate\s+Pending", re.IGNORECASE)
# §12: "Your Request Id is <id>." on the pending page; [INF] also on the denied page.
_REQUEST_ID = re.compile(r"Your\s+Request\s+Id\s+is\s+(\d+)", re.IGNORECASE)
# §12: the denied page quotes the reason after "The disposition message is".
_DISPOSITION_QUOTED = re.compile(r'The\s+disposition\s+message\s+is\s+"([^"]*)"', re.IGNORECASE)
# §12: a retrieval failure shows "Disposition message:"; [INF] the value is the next table
# cell (public clients skip to after two tabs), so tags and whitespace are skipped here.
_DISPOSITION_CELL = re.compile(
    r"Disposition\s+message:\s*(?:</?t[dhr][^>]*>\s*)*([^<\r\n]+)", re.IGNORECASE
)
# [INF]: the same error page carries an "Error:" cell with the HRESULT in words and hex.
_ERROR_CELL = re.compile(r"\bError:\s*(?:</?t[dhr][^>]*>\s*)*([^<\r\n]+)", re.IGNORECASE)
# §12: certcarc.asp exposes the CA's renewal count as a script variable.
_N_RENEWALS = re.compile(r"var\s+nRenewals\s*=\s*(\d+)\s*;", re.IGNORECASE)
# [INF]: CERTSRV_E_UNSUPPORTED_CERT_TYPE (unknown template) and CERTSRV_E_NO_CERT_TYPE (none
# named) are configuration errors, not refusals of this CSR.
_TEMPLATE_UNKNOWN = re.compile(
    r"0x80094800|0x80094801|CERTSRV_E_UNSUPPORTED_CERT_TYPE|CERTSRV_E_NO_CERT_TYPE"
    r"|certificate\s+template\s+that\s+is\s+not\s+supported",
    re.IGNORECASE,
)
# [INF]: a request id the CA database does not hold (CRYPT_E_NOT_FOUND), or a malformed one.
_NOT_FOUND = re.compile(
    r"0x80092004|CRYPT_E_NOT_FOUND|Cannot\s+find\s+object\s+or\s+property"
    r"|0x80070057|ERROR_INVALID_PARAMETER",
    re.IGNORECASE,
)
# [INF]: still waiting for a CA officer (CR_DISP_UNDER_SUBMISSION is "Taken Under Submission";
# retrieving it fails with CERTSRV_E_BAD_REQUESTSTATUS).
_STILL_PENDING = re.compile(
    r"Taken\s+Under\s+Submission|0x80094003|CERTSRV_E_BAD_REQUESTSTATUS", re.IGNORECASE
)
# [INF]: denied by an officer (CERTSRV_E_ADMIN_DENIED_REQUEST) or by the policy module; the
# disposition message of a denied request starts with "Denied by".
_DENIED = re.compile(r"^\s*Denied\b|0x80094014|CERTSRV_E_ADMIN_DENIED_REQUEST", re.IGNORECASE)
# [INF]: the PKCS#7 of certnew.p7b?Enc=b64 is PEM-armoured, reportedly under a CERTIFICATE
# label; any label is accepted and the content decides.
_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 #]+)-----(.+?)-----END \1-----", re.DOTALL)
_CERT_CONTENT_TYPES = ("application/pkix-cert", "application/x-x509-ca-cert")


def _text(match: re.Match[str] | None) -> str | None:
    return html.unescape(match.group(1)).strip() if match else None


# --------------------------------------------------------------------------------------------
# Authentication
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AdcsBasicAuth:
    """HTTP Basic with a resolved password (lives only in activity memory).

    Attributes:
        username: Account name, ``DOMAIN\\user`` or ``user@domain`` as IIS expects.
        password: The resolved password; never printed.
    """

    username: str
    password: str = field(repr=False)


@dataclass(frozen=True)
class AdcsClientCertAuth:
    """A TLS client certificate that IIS maps to an account.

    Attributes:
        cert_file: PEM file with the client certificate (and its intermediates).
        key_file: PEM file with its private key.
    """

    cert_file: str
    key_file: str


@dataclass(frozen=True)
class AdcsNtlmAuth:
    """NTLM through ``httpx-ntlm`` (untested against the lab twin, which has no NTLM acceptor).

    Attributes:
        username: ``DOMAIN\\user``.
        password: The resolved password; never printed.
    """

    username: str
    password: str = field(repr=False)


@dataclass(frozen=True)
class AdcsKerberosAuth:
    """Kerberos/SPNEGO through the optional ``httpx-gssapi`` and the process's ticket cache.

    Untested against the lab twin, which has no Kerberos acceptor; ``httpx-gssapi`` needs the
    system's GSSAPI library to install, so it is not a dependency of ucrenew.
    """


AdcsAuth = AdcsBasicAuth | AdcsClientCertAuth | AdcsNtlmAuth | AdcsKerberosAuth
"""How :class:`AdcsCa` authenticates to certsrv."""


# --------------------------------------------------------------------------------------------
# Inventory configuration
# --------------------------------------------------------------------------------------------


class AdcsAuthConfig(BaseModel):
    """The ``auth:`` block of an ADCS entry in the inventory's ``cas:`` list.

    Attributes:
        method: ``basic``, ``client_cert``, ``ntlm`` or ``kerberos``.
        username: Account for basic and ntlm.
        password: Secret reference (``env:NAME`` or ``file:PATH``) for basic and ntlm.
        client_cert: PEM client certificate for ``client_cert``.
        client_key: PEM private key file for ``client_cert``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    method: Literal["basic", "client_cert", "ntlm", "kerberos"] = "basic"
    username: str | None = None
    password: SecretRef | None = None
    client_cert: str | None = None
    client_key: str | None = None


class AdcsCaConfig(BaseModel):
    """An ADCS entry of the inventory's ``cas:`` list.

    Attributes:
        name: Name of this CA in the inventory.
        type: Always ``adcs``.
        url: Base URL of the web enrollment pages (``https://ca.example.com/certsrv/``).
        address: Connect here instead of resolving the URL's host (TLS still checks the host).
        template: Template used when the request's profile names none.
        templates: Templates this CA offers (informational).
        ca_file: PEM bundle that the CA's HTTPS certificate chains to; system trust if None.
        timeout: Seconds for each HTTP exchange.
        auth: How to authenticate.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    type: Literal["adcs"] = "adcs"
    url: str
    address: str | None = None
    template: str | None = None
    templates: list[str] = []
    ca_file: str | None = None
    timeout: float = 30.0
    auth: AdcsAuthConfig = AdcsAuthConfig()


def adcs_ca_from_config(
    config: AdcsCaConfig,
    resolve_secret: Callable[[str], str],
    *,
    base_dir: Path | str | None = None,
    method: Literal["basic", "client_cert", "ntlm", "kerberos"] | None = None,
) -> AdcsCa:
    """Build an :class:`AdcsCa` from its inventory entry.

    Args:
        config: The entry.
        resolve_secret: Turns a secret reference into its value (the worker's resolver).
        base_dir: Directory that relative file paths are relative to (the inventory's).
        method: Override of ``config.auth.method``.

    Returns:
        The client.

    Raises:
        CaConfigurationError: The entry lacks what its authentication method needs.
    """

    def path(value: str | None, what: str) -> str:
        if not value:
            raise CaConfigurationError(f"ADCS {config.name}: auth needs {what}", ca=config.name)
        p = Path(value).expanduser()
        if not p.is_absolute() and base_dir is not None:
            p = Path(base_dir) / p
        return str(p)

    chosen = method or config.auth.method
    a = config.auth
    auth: AdcsAuth
    if chosen in ("basic", "ntlm"):
        if not a.username or not a.password:
            raise CaConfigurationError(
                f"ADCS {config.name}: {chosen} auth needs username and password", ca=config.name
            )
        secret = resolve_secret(a.password)
        auth = (
            AdcsBasicAuth(a.username, secret)
            if chosen == "basic"
            else AdcsNtlmAuth(a.username, secret)
        )
    elif chosen == "client_cert":
        auth = AdcsClientCertAuth(
            path(a.client_cert, "client_cert"), path(a.client_key, "client_key")
        )
    else:
        auth = AdcsKerberosAuth()
    return AdcsCa(
        config.url,
        auth,
        config.template,
        ca_file=path(config.ca_file, "ca_file") if config.ca_file else None,
        address=config.address,
        name=config.name,
        timeout=config.timeout,
    )


# --------------------------------------------------------------------------------------------
# The client
# --------------------------------------------------------------------------------------------


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
            issued = _ISSUED_LINK.search(page)
            if issued:
                return await self._retrieve(client, issued.group(1))
            request_id = _text(_REQUEST_ID.search(page))
            if _PENDING_PAGE.search(page) and request_id:
                logger.info("ADCS %s: request %s pending (%s)", self.name, request_id, template)
                return CaSubmission(
                    status="pending",
                    request_ref=request_id,
                    message=f"ADCS {self.name}: request {request_id} is waiting for a CA "
                    f"administrator (template {template})",
                )
            disposition = _text(_DISPOSITION_QUOTED.search(page))
            if disposition is not None:
                if _TEMPLATE_UNKNOWN.search(disposition):
                    raise CaConfigurationError(
                        f"ADCS {self.name} does not issue template {template!r}: {disposition}",
                        ca=self.name,
                        request_ref=request_id,
                    )
                return CaSubmission(
                    status="denied", request_ref=request_id or "", message=disposition
                )
            error = _text(_ERROR_CELL.search(page))
            raise CaProtocolError(
                f"ADCS {self.name}: certfnsh.asp answered a page that is neither issued, "
                f"pending nor denied{f' ({error})' if error else ''}",
                ca=self.name,
            )

    async def poll(self, request_ref: str) -> CaSubmission:
        """Ask for a request's certificate with ``certnew.cer`` (``CertificateAuthority.poll``).

        Args:
            request_ref: The Request Id returned by :meth:`submit`.

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
        if _is_certificate(resp):
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
        disposition = _text(_DISPOSITION_CELL.search(page))
        error = _text(_ERROR_CELL.search(page)) or ""
        if disposition is None and _NOT_FOUND.search(error or page):
            raise CaRequestNotFound(
                f"ADCS {self.name} has no request {request_id} ({error})",
                ca=self.name,
                request_ref=request_id,
            )
        if (disposition is not None and _DENIED.search(disposition)) or _DENIED.search(error):
            message = disposition or error
            return CaSubmission(status="denied", request_ref=request_id, message=message)
        if (
            disposition is not None and _STILL_PENDING.search(disposition)
        ) or _STILL_PENDING.search(error):
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
        match = _N_RENEWALS.search(resp.text)
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
        certs = _parse_pkcs7(resp.content)
        if certs:
            return certs
        # No usable PKCS#7 (older or locked-down sites): fall back to the issuing CA alone.
        resp = await self._send(client, "GET", "certnew.cer", params=params)
        return [self._certificate_from(resp, "the CA certificate")]

    def _certificate_from(self, resp: httpx.Response, what: str) -> x509.Certificate:
        if not _is_certificate(resp):
            error = _text(_ERROR_CELL.search(resp.text))
            raise CaProtocolError(
                f"ADCS {self.name}: expected {what}, got {resp.headers.get('content-type')}"
                f"{f' ({error})' if error else ''}",
                ca=self.name,
            )
        cert = _parse_certificate(resp.content)
        if cert is None:
            raise CaProtocolError(f"ADCS {self.name}: {what} cannot be parsed", ca=self.name)
        return cert

    def _client(self) -> httpx.AsyncClient:
        url = self._url.copy_with(host=self._address) if self._address else self._url
        return httpx.AsyncClient(
            base_url=url,
            verify=self._ssl_context(),
            auth=self._httpx_auth(),
            headers={"Host": self._url.netloc.decode("ascii")},
            timeout=self._timeout,
            follow_redirects=False,
        )

    def _ssl_context(self) -> ssl.SSLContext:
        try:
            ctx = ssl.create_default_context(cafile=self._ca_file)
            if isinstance(self._auth, AdcsClientCertAuth):
                ctx.load_cert_chain(self._auth.cert_file, self._auth.key_file)
        except (OSError, ssl.SSLError) as exc:
            raise CaConfigurationError(
                f"ADCS {self.name}: cannot load TLS files ({type(exc).__name__}: "
                f"{getattr(exc, 'strerror', None) or 'unreadable'})",
                ca=self.name,
            ) from None
        return ctx

    def _httpx_auth(self) -> httpx.Auth | None:
        auth = self._auth
        if isinstance(auth, AdcsBasicAuth):
            return httpx.BasicAuth(auth.username, auth.password)
        if isinstance(auth, AdcsNtlmAuth):
            ntlm: Any = importlib.import_module("httpx_ntlm")
            result: httpx.Auth = ntlm.HttpNtlmAuth(auth.username, auth.password)
            return result
        if isinstance(auth, AdcsKerberosAuth):
            try:
                gssapi: Any = importlib.import_module("httpx_gssapi")
            except ImportError:
                raise CaConfigurationError(
                    f"ADCS {self.name}: Kerberos needs the optional package httpx-gssapi "
                    "(and the system's GSSAPI library)",
                    ca=self.name,
                ) from None
            spnego: httpx.Auth = gssapi.HTTPSPNEGOAuth()
            return spnego
        return None

    async def _send(
        self, client: httpx.AsyncClient, method: str, page: str, **kw: Any
    ) -> httpx.Response:
        """One exchange with certsrv; transport and HTTP failures become CaError subclasses."""
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
                retry_after=_retry_after(resp),
            )
        if status >= 400:
            raise CaProtocolError(f"ADCS {self.name}: {page} answered HTTP {status}", ca=self.name)
        return resp


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def _pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


def _is_certificate(resp: httpx.Response) -> bool:
    content_type = resp.headers.get("content-type", "").split(";")[0].strip().lower()
    return content_type in _CERT_CONTENT_TYPES


def _parse_certificate(body: bytes) -> x509.Certificate | None:
    try:
        if b"-----BEGIN CERTIFICATE-----" in body:
            return x509.load_pem_x509_certificate(body)
        return x509.load_der_x509_certificate(body)
    except ValueError:
        return None


def _parse_pkcs7(body: bytes) -> list[x509.Certificate]:
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


def _retry_after(resp: httpx.Response) -> float | None:
    value = resp.headers.get("retry-after", "").strip()
    return float(value) if value.isdigit() else None


def _is_tls_verification_failure(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            return True
        seen = seen.__cause__ or seen.__context__
    return "CERTIFICATE_VERIFY_FAILED" in str(exc)
