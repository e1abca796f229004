"""Connection details of one node and the HTTPS client every CUCM client shares.

Sockets go to the node's address (from the inventory) while TLS (SNI and hostname
verification) and the Host header use its FQDN, as on a real network with DNS.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from typing import Any, Self

import httpx

from activities.clients.cucm.errors import (
    CucmAuthError,
    CucmError,
    CucmResponseLost,
    CucmUnreachable,
)
from activities.clients.inventory import ClusterEntry, Inventory, NodeEntry


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

    @classmethod
    def from_inventory(
        cls, cluster: ClusterEntry, node: NodeEntry, extra_ca_pem: tuple[str, ...] = ()
    ) -> NodeEndpoint:
        """Build from inventory entries."""
        return cls(
            fqdn=node.fqdn,
            host=node.connect_host,
            https_port=node.https_port,
            rest_port=node.rest_port,
            ssh_port=node.ssh_port,
            ca_file=cluster.tls.ca_file,
            extra_ca_pem=extra_ca_pem,
            known_hosts=cluster.tls.ssh_known_hosts,
        )

    def ssl_context(self) -> ssl.SSLContext:
        """A verifying client context trusting the inventory's CA file plus extra roots."""
        ctx = ssl.create_default_context(cafile=self.ca_file)
        for pem in self.extra_ca_pem:
            ctx.load_verify_locations(cadata=pem)
        return ctx


@dataclass(frozen=True)
class BasicAuth:
    """User name and resolved password (lives only in activity memory)."""

    username: str
    password: str = field(repr=False)


def credentials(inventory: Inventory, cluster: ClusterEntry, account: str) -> BasicAuth:
    """Resolve ``os_admin`` or ``app_user`` of a cluster."""
    acct = getattr(cluster.credentials, account)
    return BasicAuth(acct.username, inventory.password(acct))


class HttpsClient:
    """An httpx client bound to one node and port, translating transport errors."""

    def __init__(self, endpoint: NodeEndpoint, port: int, auth: BasicAuth) -> None:
        self.endpoint = endpoint
        self._client = httpx.AsyncClient(
            base_url=f"https://{endpoint.host}:{port}",
            verify=endpoint.ssl_context(),
            auth=httpx.BasicAuth(auth.username, auth.password),
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

    async def request(self, method: str, path: str, **kw: Any) -> httpx.Response:
        """Send a request; connection problems become CucmUnreachable / CucmResponseLost."""
        node = self.endpoint.fqdn
        extensions = {"sni_hostname": node}
        try:
            resp = await self._client.request(method, path, extensions=extensions, **kw)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise CucmUnreachable(f"cannot connect: {exc.__class__.__name__}", node=node) from None
        except (httpx.RemoteProtocolError, httpx.ReadError, httpx.ReadTimeout) as exc:
            raise CucmResponseLost(
                f"request sent but no response ({exc.__class__.__name__})", node=node
            ) from None
        except httpx.HTTPError as exc:
            raise CucmError(f"HTTP failure: {exc.__class__.__name__}", node=node) from None
        if resp.status_code == 401:
            raise CucmAuthError("credentials refused (HTTP 401)", node=node)
        return resp


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
