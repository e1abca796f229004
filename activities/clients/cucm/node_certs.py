"""One node's certificates through the interface a change's path names.

The certificate steps (CSR, pending CSR, trust list and upload, identity upload and read-back)
exist on three of CUCM's interfaces: the Certificate Management REST API (14 and later), OS
Administration (every release) and the platform CLI (single-server only). :func:`open_node`
gives one object with the same methods whichever it is, so the activities read like the
runbook and say which interface each step uses once, in the path (``activities.cert_paths``).
An interface asked for a step it does not have is a :class:`CucmError` naming both: the path
never routes one there.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Protocol

from activities import catalog
from activities.cert_paths import INTERFACE_LABELS, Interface
from activities.clients.cucm.certmgr import (
    CertMgrClient,
    CsrResult,
    IdentityUploadResult,
    TrustCertificate,
)
from activities.clients.cucm.cli import CucmCli
from activities.clients.cucm.errors import CucmError
from activities.clients.cucm.platform_admin import PlatformAdminClient
from activities.clients.cucm.transport import BasicAuth, NodeEndpoint

__all__ = ["CsrResult", "IdentityUploadResult", "NodeCertificates", "TrustCertificate", "open_node"]


class NodeCertificates(Protocol):
    """The certificate steps on one node, whatever the interface."""

    interface: Interface

    async def generate_csr(
        self,
        purpose: str,
        *,
        multi_server: bool,
        key_type: str,
        key_length: int,
        hash_algorithm: str,
        alt_names: Sequence[str],
    ) -> CsrResult:
        """Generate a CSR for ``purpose`` (multi-server on a publisher, or for this node)."""
        ...

    async def pending_csr(self, purpose: str) -> str | None:
        """The CSR pending for ``purpose`` (PEM), None when there is none."""
        ...

    async def list_trust(self, purpose: str) -> list[TrustCertificate]:
        """The certificates of ``purpose``'s trust store."""
        ...

    async def upload_trust(self, purpose: str, pem: str) -> None:
        """Upload one CA certificate to ``purpose``'s trust store (CucmTrustDuplicate if
        present)."""
        ...

    async def get_identity(self, purpose: str) -> str:
        """The installed identity certificate of ``purpose`` (PEM)."""
        ...

    async def upload_identity(self, purpose: str, pems: Sequence[str]) -> IdentityUploadResult:
        """Upload the signed certificate (leaf first, then its chain)."""
        ...


def _absent(interface: Interface, step: str, node: str) -> CucmError:
    return CucmError(f"{step} is not offered by the {INTERFACE_LABELS[interface]}", node=node)


class _Client:
    """The steps CertMgrClient and PlatformAdminClient spell alike."""

    def __init__(self, client: CertMgrClient | PlatformAdminClient) -> None:
        self._c = client

    async def generate_csr(
        self,
        purpose: str,
        *,
        multi_server: bool,
        key_type: str,
        key_length: int,
        hash_algorithm: str,
        alt_names: Sequence[str],
    ) -> CsrResult:
        return await self._c.generate_csr(
            purpose,
            multi_server=multi_server,
            key_type=key_type,
            key_length=key_length,
            hash_algorithm=hash_algorithm,
            alt_names=alt_names,
        )

    async def get_identity(self, purpose: str) -> str:
        return await self._c.get_identity(purpose)


class _Rest(_Client):
    interface: Interface = "rest"

    def __init__(self, client: CertMgrClient) -> None:
        super().__init__(client)
        self._rest = client

    async def pending_csr(self, purpose: str) -> str | None:
        identity = (await self._rest.snapshot()).identity(purpose)
        return identity.csr_pem if identity is not None and identity.csr_pem else None

    async def list_trust(self, purpose: str) -> list[TrustCertificate]:
        return await self._rest.list_trust(purpose)

    async def upload_trust(self, purpose: str, pem: str) -> None:
        await self._rest.upload_trust([purpose], [pem], "Trust Certificate")

    async def upload_identity(self, purpose: str, pems: Sequence[str]) -> IdentityUploadResult:
        return await self._rest.upload_identity(purpose, pems)


class _OsAdmin(_Client):
    interface: Interface = "os-admin"

    def __init__(self, client: PlatformAdminClient) -> None:
        super().__init__(client)
        self._web = client

    async def pending_csr(self, purpose: str) -> str | None:
        return await self._web.pending_csr(purpose)

    async def list_trust(self, purpose: str) -> list[TrustCertificate]:
        return await self._web.list_trust(catalog.purpose(purpose).trust_store)

    async def upload_trust(self, purpose: str, pem: str) -> None:
        await self._web.upload_trust(catalog.purpose(purpose).trust_store, pem)

    async def upload_identity(self, purpose: str, pems: Sequence[str]) -> IdentityUploadResult:
        # The chain is in the trust store already (uploaded first): the page takes the leaf.
        return await self._web.upload_identity(purpose, pems[0])


class _Cli:
    interface: Interface = "cli"

    def __init__(self, shell: CucmCli) -> None:
        self._c = shell

    async def generate_csr(
        self,
        purpose: str,
        *,
        multi_server: bool,
        key_type: str,
        key_length: int,
        hash_algorithm: str,
        alt_names: Sequence[str],
    ) -> CsrResult:
        node = self._c.node
        if multi_server:
            raise _absent("cli", "a multi-server CSR", node)
        message = await self._c.generate_csr(purpose)
        pem = await self._c.show_csr(purpose)
        if pem is None:
            raise CucmError(f"no {purpose} CSR pending after set csr gen: {message}", node=node)
        return CsrResult(
            node=node,
            service=purpose,
            multi_server=False,
            csr_pem=pem,
            exported_nodes=[node],
            message=message,
        )

    async def pending_csr(self, purpose: str) -> str | None:
        return await self._c.show_csr(purpose)

    async def list_trust(self, purpose: str) -> list[TrustCertificate]:
        raise _absent("cli", "reading a trust store as PEM", self._c.node)

    async def upload_trust(self, purpose: str, pem: str) -> None:
        # set cert import trust takes the unit the store pairs with: tomcat → tomcat-trust.
        unit = catalog.purpose(purpose).trust_store.removesuffix("-trust")
        await self._c.import_certificate("trust", unit, pem)

    async def get_identity(self, purpose: str) -> str:
        raise _absent("cli", "reading an identity certificate as PEM", self._c.node)

    async def upload_identity(self, purpose: str, pems: Sequence[str]) -> IdentityUploadResult:
        node = self._c.node
        message = await self._c.import_certificate("own", purpose, pems[0])
        # set cert import own installs on this node only, and says so without naming it.
        return IdentityUploadResult(
            node=node, service=purpose, installed_nodes=[node], message=message
        )


@asynccontextmanager
async def open_node(
    interface: Interface, endpoint: NodeEndpoint, auth: BasicAuth
) -> AsyncIterator[NodeCertificates]:
    """The certificate steps of the node at ``endpoint`` over ``interface``.

    Args:
        interface: ``rest``, ``os-admin`` or ``cli`` (from the change's path).
        endpoint: the node.
        auth: the OS platform administrator (all three interfaces take that account).
    """
    if interface == "rest":
        async with CertMgrClient(endpoint, auth) as rest:
            yield _Rest(rest)
    elif interface == "os-admin":
        async with PlatformAdminClient(endpoint, auth) as admin:
            yield _OsAdmin(admin)
    else:
        async with CucmCli(endpoint, auth) as shell:
            yield _Cli(shell)
