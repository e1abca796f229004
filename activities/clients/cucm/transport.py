"""Connection details of one node and the HTTPS client every CUCM client shares.

Sockets go to the node's address (from the inventory) while TLS (SNI and hostname
verification) and the Host header use its FQDN, as on a real network with DNS.

What a client trusts for a node is the inventory's ``tls.ca_file`` (the system's CAs when it
is unset), the cluster's trust store and the other shared files the worker adds (see
``activities.clients.trust_store``), and the CA certificates a step is given. A certificate
that does not verify is reported once, here, with OpenSSL's reason, every file trusted and
the one to fix (:meth:`NodeEndpoint.untrusted`).
"""

from __future__ import annotations

import functools
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Self, TypeVar

import httpx

from activities.clients import pki, tracing
from activities.clients.cucm.backoff import Backoff, retry_after_of
from activities.clients.cucm.errors import (
    CucmAuthError,
    CucmCertificateUntrusted,
    CucmError,
    CucmHttpError,
    CucmResponseLost,
    CucmTlsError,
    CucmTrustConfigError,
    CucmUnreachable,
)
from activities.clients.inventory import ClusterEntry, Inventory, NodeEntry
from activities.clients.trust_store import TrustFile

#: OpenSSL X509_V_ERR codes that mean the chain ends at nothing trusted: unable to get the
#: issuer (2, 20), self-signed leaf (18) or chain (19), unable to verify the leaf (21).
_UNTRUSTED_ISSUER = frozenset({2, 18, 19, 20, 21})
_EXPIRED = 10
_HOSTNAME_MISMATCH = 62

_T = TypeVar("_T")

#: Methods a client may repeat on its own (RFC 9110 §9.2.2: idempotent, and safe, so a
#: repeat after a lost answer changes nothing on the node).
_REPEATABLE = frozenset({"GET", "HEAD"})


#: Statuses a read sent as a POST (a SOAP query) is repeated after: "busy" or "not reached"
#: (RFC 9110 §15.6.3-5, RFC 6585 §4). A SOAP 500 carries a fault that says what went wrong,
#: which the client reports instead.
_BUSY = frozenset({429, 502, 503, 504})


def transient_status(status: int) -> bool:
    """Whether an HTTP status says "not now" rather than "no": a 5xx or 429 (RFC 9110 §15.6,
    RFC 6585 §4), the statuses :class:`~activities.clients.cucm.errors.CucmHttpError` calls
    retryable."""
    return status >= 500 or status == 429


class _Waited(Exception):
    """A request that timed out, carried past the repeat loop (it is not repeated)."""

    def __init__(self, error: CucmError) -> None:
        super().__init__(str(error))
        self.error = error


@dataclass(frozen=True)
class NodeEndpoint:
    """Everything needed to open a connection to one node."""

    fqdn: str
    host: str
    https_port: int = 8443
    rest_port: int = 443
    ssh_port: int = 22
    ca_file: str | None = None
    extra_ca_pem: tuple[str, ...] = field(default=())
    known_hosts: str | None = None
    timeout: float = 30.0
    trust_files: tuple[TrustFile, ...] = field(default=())
    cluster: str = ""

    @classmethod
    def from_inventory(
        cls,
        cluster: ClusterEntry,
        node: NodeEntry,
        extra_ca_pem: tuple[str, ...] = (),
        trust_files: tuple[TrustFile, ...] = (),
    ) -> NodeEndpoint:
        """Build from inventory entries.

        Args:
            cluster: The node's cluster (its ``tls`` block says what to trust).
            node: The node.
            extra_ca_pem: CA certificates (PEM) a step adds, e.g. the chain being installed.
            trust_files: PEM bundles trusted besides the inventory's CA file (the cluster's
                trust store, the local CA root).
        """
        return cls(
            fqdn=node.fqdn,
            host=node.connect_host,
            https_port=node.https_port,
            rest_port=node.rest_port,
            ssh_port=node.ssh_port,
            ca_file=cluster.tls.ca_file,
            extra_ca_pem=extra_ca_pem,
            known_hosts=cluster.tls.ssh_known_hosts,
            trust_files=trust_files,
            cluster=cluster.name,
        )

    @property
    def inventory_ca_file(self) -> TrustFile | None:
        """The inventory's ``tls.ca_file``, labelled; None when unset (system trust)."""
        if self.ca_file is None:
            return None
        where = f" of cluster {self.cluster}" if self.cluster else ""
        return TrustFile(self.ca_file, f"tls.ca_file{where} in the inventory")

    def ssl_context(self) -> ssl.SSLContext:
        """A verifying client context: everything the endpoint trusts.

        A trusted intermediate is an anchor too (OpenSSL's partial-chain flag, the default
        from Python 3.13), so a chain recorded without its root still verifies.

        Raises:
            CucmTrustConfigError: A trusted file is missing or holds no certificate.
        """
        inventory = self.inventory_ca_file
        if inventory is None:
            ctx = ssl.create_default_context()
        else:
            ctx = self._loaded(inventory, lambda: ssl.create_default_context(cafile=self.ca_file))
        for extra in self.trust_files:
            self._loaded(extra, functools.partial(ctx.load_verify_locations, cafile=extra.path))
        for pem in self.extra_ca_pem:
            ctx.load_verify_locations(cadata=pem)
        ctx.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
        return ctx

    def _loaded(self, source: TrustFile, load: Callable[[], _T]) -> _T:
        try:
            return load()
        except FileNotFoundError:
            raise CucmTrustConfigError(
                f"cannot verify its certificate: {source.describe()} does not exist",
                node=self.fqdn,
            ) from None
        except (OSError, ssl.SSLError) as exc:
            raise CucmTrustConfigError(
                f"cannot verify its certificate: {source.describe()} is not a PEM file of CA "
                f"certificates ({exc})",
                node=self.fqdn,
            ) from None

    def trusted(self) -> str:
        """What the endpoint trusts, in words: each file with why, and the step's CAs."""
        inventory = self.inventory_ca_file
        parts = [inventory.describe() if inventory else "the system's CA certificates"]
        parts += [f.describe() for f in self.trust_files]
        if self.extra_ca_pem:
            names = []
            for pem in self.extra_ca_pem:
                try:
                    names += [
                        pki.certificate_info(c).subject for c in pki.load_pem_certificates(pem)
                    ]
                except pki.PkiError:
                    names.append("an unreadable certificate")
            parts.append(
                "the CA certificates of the chain being installed (" + "; ".join(names) + ")"
            )
        return ", ".join(parts[:-1]) + " and " + parts[-1] if len(parts) > 1 else parts[0]

    def untrusted(
        self, port: int, verify_code: int, verify_message: str
    ) -> CucmCertificateUntrusted:
        """The error for a certificate that did not verify on ``port``: OpenSSL's reason,
        what ucrenew trusts, and what to fix."""
        reason = verify_message or "the certificate did not verify"
        if verify_code == _HOSTNAME_MISMATCH:
            advice = (
                f"the certificate it serves does not name {self.fqdn}: check the node's fqdn "
                f"(and address {self.host}) in the inventory"
            )
        else:
            advice = f"ucrenew trusts {self.trusted()}"
            if verify_code == _EXPIRED:
                advice += "; the node serves an expired certificate"
            elif verify_code in _UNTRUSTED_ISSUER or not verify_code:
                advice += "; " + self._trust_fix()
        return CucmCertificateUntrusted(
            f"certificate verify failed: {reason} — {advice}",
            node=self.fqdn,
            port=port,
            verify_code=verify_code,
            verify_message=verify_message,
        )

    def _trust_fix(self) -> str:
        what = (
            "the CA that issued the node's certificate (for a self-signed certificate, the "
            "certificate itself)"
        )
        where = f" of cluster {self.cluster}" if self.cluster else ""
        if self.ca_file is None:
            return f"set tls.ca_file{where} in the inventory to a PEM file holding {what}"
        return f"add {what} to {self.ca_file}, the inventory's tls.ca_file{where}"


@dataclass(frozen=True)
class BasicAuth:
    """User name and resolved password (lives only in activity memory)."""

    username: str
    password: str = field(repr=False)


def credentials(inventory: Inventory, cluster: ClusterEntry, account: str) -> BasicAuth:
    """Resolve ``os_admin`` or ``app_user`` of a cluster."""
    acct = getattr(cluster.credentials, account)
    return BasicAuth(acct.username, inventory.password(acct))


def _operation(method: str, path: str, headers: Any) -> str:
    """What a request does, for its span: the SOAP action's operation (AXL's
    ``"CUCM:DB ver=14.0 getCCMVersion"`` is ``getCCMVersion``), else the method and the path
    without its query."""
    action = str(headers.get("SOAPAction", "")).strip('" ') if isinstance(headers, dict) else ""
    if action:
        return action.split()[-1]
    return f"{method.upper()} {path.split('?', 1)[0]}"


class HttpsClient:
    """An httpx client bound to one node and port, translating transport errors."""

    def __init__(
        self,
        endpoint: NodeEndpoint,
        port: int,
        auth: BasicAuth | None,
        *,
        interface: str = "https",
    ) -> None:
        """Args:
        endpoint: The node.
        port: Its TLS port.
        auth: HTTP Basic credentials; None for pages a browser opens without (login pages).
        interface: The node API the client speaks (``axl``, ``risport``, ``controlcenter``,
            ``cmplatform``, ``rest``…), named in the span of each request.
        """
        self.endpoint = endpoint
        self._port = port
        self.interface = interface
        self._client = httpx.AsyncClient(
            base_url=f"https://{endpoint.host}:{port}",
            verify=endpoint.ssl_context(),
            auth=httpx.BasicAuth(auth.username, auth.password) if auth is not None else None,
            headers={"Host": f"{endpoint.fqdn}:{port}"},
            timeout=endpoint.timeout,
        )

    async def __aenter__(self) -> HttpsClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._client.aclose()

    async def request(
        self,
        method: str,
        path: str,
        *,
        retry: Backoff | None = None,
        read: bool = False,
        **kw: Any,
    ) -> httpx.Response:
        """Send a request; connection problems become CucmUnreachable / CucmResponseLost.

        ``retry``: a GET or HEAD (which a repeat cannot make happen twice) is sent again as
        it says after a transient fault: a refused connection, a dropped answer, or an answer
        of 5xx/429, waiting what the node asks (``Retry-After``); not after a timeout, which
        already took the endpoint's whole timeout. When the attempts are used up the last
        answer is returned (the caller reports its status as usual) or the last connection
        error raised, with :attr:`CucmError.attempts` set. ``read``: the request is a query
        sent as a POST (SOAP), repeated like a GET, after a busy status only among the answers
        (429, 502-504). Other requests are sent once.
        """
        repeatable = method.upper() in _REPEATABLE
        if retry is None or not (repeatable or read):
            return await self._send(method, path, **kw)
        transient = transient_status if repeatable else _BUSY.__contains__
        node = self.endpoint.fqdn
        last: list[httpx.Response] = []

        async def once() -> httpx.Response:
            last.clear()
            try:
                resp = await self._send(method, path, **kw)
            except (CucmUnreachable, CucmResponseLost) as exc:
                if isinstance(exc.__context__, httpx.TimeoutException):
                    # A node that let the request time out already took the whole timeout:
                    # the step's own attempts decide what comes next, not a loop of waits.
                    raise _Waited(exc) from None
                raise
            if transient(resp.status_code):
                last.append(resp)
                raise CucmHttpError(
                    f"HTTP {resp.status_code}",
                    node=node,
                    status=resp.status_code,
                    asked_wait=retry_after_of(resp),
                )
            return resp

        try:
            return await retry.run(once)
        except _Waited as waited:
            raise waited.error from None
        except CucmHttpError:
            if last:
                return last[0]
            raise

    async def _send(self, method: str, path: str, **kw: Any) -> httpx.Response:
        with tracing.call_span(
            self.interface, _operation(method, path, kw.get("headers")), node=self.endpoint.fqdn
        ) as span:
            resp = await self._exchange(method, path, **kw)
            span.set_outcome("ok" if resp.status_code < 400 else f"http-{resp.status_code}")
            return resp

    async def _exchange(self, method: str, path: str, **kw: Any) -> httpx.Response:
        node = self.endpoint.fqdn
        extensions = {"sni_hostname": node}
        try:
            resp = await self._client.request(method, path, extensions=extensions, **kw)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise self._connect_error(exc) from None
        except (httpx.RemoteProtocolError, httpx.ReadError, httpx.ReadTimeout) as exc:
            raise CucmResponseLost(
                f"request sent but no response ({exc.__class__.__name__})", node=node
            ) from None
        except httpx.HTTPError as exc:
            raise CucmError(f"HTTP failure: {exc.__class__.__name__}", node=node) from None
        if resp.status_code == 401:
            raise CucmAuthError("credentials refused (HTTP 401)", node=node)
        return resp

    def _connect_error(self, exc: httpx.HTTPError) -> CucmError:
        """httpx says ConnectError for a refused socket and a failed handshake alike; the
        ssl error it wraps tells them apart (a verification failure names what to fix)."""
        ep = self.endpoint
        port = self._port
        cause: BaseException | None = exc
        for _ in range(8):  # httpx → httpcore → ssl: a few links at most
            if cause is None:
                break
            if isinstance(cause, ssl.SSLCertVerificationError):
                return ep.untrusted(port, cause.verify_code, cause.verify_message or str(cause))
            if isinstance(cause, ssl.SSLError):
                return CucmTlsError(f"TLS handshake on port {port} failed: {cause}", node=ep.fqdn)
            cause = cause.__cause__ or cause.__context__
        return CucmUnreachable(
            f"cannot connect to port {port}: {exc or exc.__class__.__name__}", node=ep.fqdn
        )


class HttpsApi:
    """Base of the node API clients: owns one :class:`HttpsClient` as ``self._http``."""

    _http: HttpsClient

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()
