"""Client of the Certificate Management REST API (``/platformcom/api/v1/certmgr``, CUCM 14+).

The API is server-specific: a client talks to one node, as the OS platform admin over HTTP
Basic. HTTP failures become the typed errors of :mod:`activities.clients.cucm.errors`; every
assumption about response bodies the reference leaves open lives in
:mod:`activities.clients.cucm.inferred`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Literal

import httpx
from pydantic import BaseModel, Field

from activities.clients.cucm import inferred
from activities.clients.cucm.backoff import Backoff, retry_after_of, step_reads
from activities.clients.cucm.errors import (
    CucmBadRequest,
    CucmError,
    CucmHttpError,
    CucmIssuerNotTrusted,
    CucmStaleCsr,
    CucmThrottled,
    CucmTrustDuplicate,
)
from activities.clients.cucm.transport import BasicAuth, HttpsApi, HttpsClient, NodeEndpoint

BASE = "/platformcom/api/v1/certmgr"


class CsrResult(BaseModel):
    """A CSR generated on a node.

    Attributes:
        node: FQDN of the node that generated it.
        service: Certificate purpose (``tomcat``, ``CallManager``...).
        multi_server: Whether a multi-server (SAN) CSR was asked for.
        csr_pem: The CSR, PEM.
        exported_nodes: Short host names of the nodes the CSR was exported to, from the banner
            (empty when the node printed none).
        message: The node's message, verbatim.
        tracking_id: The node's tracking id of the CSR, when it returns one.
    """

    node: str
    service: str
    multi_server: bool
    csr_pem: str
    exported_nodes: list[str] = Field(default_factory=list)
    message: str = ""
    tracking_id: str | None = None


class TrustOutcome(BaseModel):
    """What a trust upload did with one certificate in one store.

    Attributes:
        store: Trust store, e.g. ``tomcat-trust``.
        subject: Common name of the certificate.
        serial: Serial number, lower-case hex.
        file_name: File name in the store (``<CN>_<serial>.pem``).
        outcome: ``added``, ``replaced``, ``exists`` or ``not-applied`` (same subject with an
            older validity start).
        nodes: Short host names the certificate reached.
    """

    store: str = ""
    subject: str = ""
    serial: str = ""
    file_name: str = ""
    outcome: str = inferred.TRUST_OUTCOME_DEFAULT
    nodes: list[str] = Field(default_factory=list)


class IdentityUploadResult(BaseModel):
    """An identity certificate upload the node accepted.

    Attributes:
        node: FQDN of the node the upload went to.
        service: Certificate purpose.
        installed_nodes: Short host names the banner lists (empty when there is no banner).
        message: The node's message, verbatim.
    """

    node: str
    service: str
    installed_nodes: list[str] = Field(default_factory=list)
    message: str = ""


class TrustCertificate(BaseModel):
    """One certificate of a trust store.

    Attributes:
        certificate_pem: The certificate, PEM.
        file_name: File name in the store.
        subject: Common name of the subject.
        serial: Serial number, hex.
        description: Description given at upload.
        store: The trust store the node says holds it (``service`` of the item), if given.
    """

    certificate_pem: str
    file_name: str = ""
    subject: str = ""
    serial: str = ""
    description: str = ""
    store: str = ""


class SnapshotIdentity(BaseModel):
    """An identity certificate in a server snapshot, with the CSR pending for it."""

    service: str
    certificate_pem: str | None = None
    csr_pem: str | None = None


class SnapshotTrustStore(BaseModel):
    """A trust store in a server snapshot."""

    store: str
    certificates: list[TrustCertificate] = Field(default_factory=list)


class ServerSnapshot(BaseModel):
    """``/config/snapshot/server``: what one node holds.

    Attributes:
        server: Name the node gives itself.
        identities: Identity certificates and pending CSRs per purpose.
        trusts: Trust stores with their certificates.
    """

    server: str = ""
    identities: list[SnapshotIdentity] = Field(default_factory=list)
    trusts: list[SnapshotTrustStore] = Field(default_factory=list)

    def identity(self, service: str) -> SnapshotIdentity | None:
        """The identity entry of ``service``, if present."""
        return next((i for i in self.identities if i.service == service), None)

    def trust(self, store: str) -> SnapshotTrustStore | None:
        """The trust store named ``store`` (``tomcat-trust``), if present."""
        return next((t for t in self.trusts if t.store == store), None)


class CertMgrClient(HttpsApi):
    """Certificate Management REST of one node.

    Use as ``async with CertMgrClient(endpoint, auth) as client:`` or call :meth:`aclose`.

    Args:
        endpoint: The node; requests go to ``endpoint.rest_port``.
        auth: The OS platform admin.
        reads: How a read (GET) is repeated after a transient fault: ``step`` as
            :func:`~activities.clients.cucm.backoff.step_reads` says (:data:`READS` in a
            step), None: sent once. Writes are sent once: their callers read back before
            they repeat them.
    """

    def __init__(
        self,
        endpoint: NodeEndpoint,
        auth: BasicAuth,
        reads: Backoff | Literal["step"] | None = "step",
    ) -> None:
        self.endpoint = endpoint
        self._http = HttpsClient(endpoint, endpoint.rest_port, auth, interface="rest")
        self._reads = step_reads() if reads == "step" else reads

    @property
    def node(self) -> str:
        """FQDN of the node."""
        return self.endpoint.fqdn

    # -- operations ---------------------------------------------------------------------

    async def generate_csr(
        self,
        service: str,
        *,
        multi_server: bool,
        common_name: str | None = None,
        key_type: str = "rsa",
        key_length: int = 2048,
        hash_algorithm: str = "sha256",
        alt_names: Sequence[str] = (),
    ) -> CsrResult:
        """Generate a CSR for ``service``; a multi-server CSR only on the publisher.

        Generating overwrites the CSR pending for the purpose, so a certificate signed for the
        previous CSR can no longer be uploaded.

        Raises:
            CucmBadRequest: Invalid service, key or distribution (e.g. multi-server on a
                subscriber).
            CucmHttpError: Any other HTTP error (5xx retryable).
        """
        body: dict[str, Any] = {
            "service": service,
            "distribution": inferred.CSR_MULTI_SERVER_DISTRIBUTION
            if multi_server
            else inferred.CSR_SINGLE_SERVER_DISTRIBUTION,
            "keyType": key_type,
            "keyLength": key_length,
            "hashAlgorithm": hash_algorithm,
        }
        if common_name:
            body["commonName"] = common_name
        if alt_names:
            body["altNames"] = list(alt_names)
        resp = await self._http.request("POST", f"{BASE}/config/csr", json=body)
        self._check(resp, "CSR generation")
        data = self._json(resp, "CSR generation")
        csr = data.get("csr")
        if not isinstance(csr, str) or "CERTIFICATE REQUEST" not in csr:
            raise CucmError("CSR response carries no CSR", node=self.node)
        message = str(data.get("message") or "")
        tracking = data.get("trackingId")
        return CsrResult(
            node=self.node,
            service=service,
            multi_server=multi_server,
            csr_pem=csr,
            exported_nodes=inferred.banner_nodes(message, inferred.CSR_EXPORT_BANNER_RE),
            message=message,
            tracking_id=str(tracking) if tracking else None,
        )

    async def upload_trust(
        self, services: Iterable[str], pems: Sequence[str], description: str
    ) -> list[TrustOutcome]:
        """Import CA certificates into the trust stores of ``services`` (``["tomcat"]``).

        Certificates that already exist are reported as ``exists`` outcomes when the node
        accepted the rest of the upload.

        Raises:
            CucmTrustDuplicate: Every certificate already exists (callers usually accept it).
            CucmBadRequest: The node refused the certificates (format, key size...).
            CucmHttpError: Any other HTTP error.
        """
        stores = [services] if isinstance(services, str) else list(services)
        body = {"service": stores, "certificates": list(pems), "description": description}
        resp = await self._http.request("POST", f"{BASE}/config/trust/certificates", json=body)
        if resp.status_code == 400 and inferred.TRUST_DUPLICATE_RE.search(self._message(resp)):
            raise CucmTrustDuplicate(self._message(resp), node=self.node, status=400)
        self._check(resp, "trust upload")
        data = self._json(resp, "trust upload", allow_empty=True)
        items: list[Any] = next(
            (data[k] for k in inferred.TRUST_OUTCOME_LIST_KEYS if isinstance(data.get(k), list)),
            [],
        )
        return [self._outcome(item) for item in items if isinstance(item, dict)]

    async def upload_identity(self, service: str, pems: Sequence[str]) -> IdentityUploadResult:
        """Upload the signed identity certificate: ``[leaf, intermediates..., root]``.

        The node installs it where its CSR is pending (every SAN node for multi-server); the
        new certificate is served only after Cisco Tomcat restarts on each node.

        Raises:
            CucmIssuerNotTrusted: The issuing CA is not in the purpose's trust store (400).
            CucmStaleCsr: The certificate does not match the pending CSR (500), including when
                a previous upload of it already succeeded.
            CucmBadRequest: Any other refusal (wildcard, key size, format).
            CucmHttpError: Any other HTTP error.
        """
        body = {"service": service, "certificates": list(pems)}
        resp = await self._http.request("POST", f"{BASE}/config/identity/certificates", json=body)
        if resp.status_code == 400 and inferred.ISSUER_NOT_TRUSTED_RE.search(self._message(resp)):
            raise CucmIssuerNotTrusted(self._message(resp), node=self.node, status=400)
        if resp.status_code == inferred.IDENTITY_STALE_CSR_STATUS:
            raise CucmStaleCsr(self._message(resp), node=self.node, status=resp.status_code)
        self._check(resp, "identity upload")
        message = str(self._json(resp, "identity upload", allow_empty=True).get("message") or "")
        return IdentityUploadResult(
            node=self.node,
            service=service,
            installed_nodes=inferred.banner_nodes(message, inferred.CERT_UPLOAD_BANNER_RE),
            message=message,
        )

    async def list_trust(self, service: str) -> list[TrustCertificate]:
        """The certificates of the trust store paired with ``service`` on this node."""
        resp = await self._http.request(
            "GET",
            f"{BASE}/config/trust/certificate",
            params={"service": service},
            retry=self._reads,
        )
        self._check(resp, "trust list")
        data = self._decode(resp, "trust list")
        if isinstance(data, dict):
            data = next(
                (data[k] for k in inferred.TRUST_LIST_KEYS if isinstance(data.get(k), list)), []
            )
        if not isinstance(data, list):
            raise CucmError("trust list response is not a list", node=self.node)
        return [self._trust_cert(item) for item in data if isinstance(item, dict)]

    async def get_identity(self, service: str) -> str:
        """PEM of the identity certificate *installed* for ``service`` (maybe not yet served)."""
        resp = await self._http.request(
            "GET",
            f"{BASE}/config/identity/certificate",
            params={"service": service},
            retry=self._reads,
        )
        self._check(resp, "identity read")
        pem = self._json(resp, "identity read").get("certificate")
        if not isinstance(pem, str) or "BEGIN CERTIFICATE" not in pem:
            raise CucmError("identity response carries no certificate", node=self.node)
        return pem

    async def snapshot(self) -> ServerSnapshot:
        """Identities (with pending CSRs) and trust stores of this node."""
        resp = await self._http.request("GET", f"{BASE}/config/snapshot/server", retry=self._reads)
        self._check(resp, "snapshot")
        data = self._json(resp, "snapshot")
        identities = [
            SnapshotIdentity(
                service=str(i.get("service", "")),
                certificate_pem=i.get("certificate") or None,
                csr_pem=i.get("csr") or None,
            )
            for i in data.get("identities") or []
            if isinstance(i, dict)
        ]
        trusts = [
            SnapshotTrustStore(
                store=str(t.get("service", "")),
                certificates=[
                    TrustCertificate(
                        certificate_pem=str(c.get("certificate", "")),
                        file_name=str(c.get("filename") or c.get("fileName") or ""),
                    )
                    for c in t.get("certificate_data") or []
                    if isinstance(c, dict)
                ],
            )
            for t in data.get("trusts") or []
            if isinstance(t, dict)
        ]
        return ServerSnapshot(
            server=str(data.get("server", "")), identities=identities, trusts=trusts
        )

    # -- helpers ------------------------------------------------------------------------

    def _check(self, resp: httpx.Response, what: str) -> None:
        """Raise the typed error of a non-2xx status (401 is raised by the transport)."""
        status = resp.status_code
        if 200 <= status < 300:
            return
        message = f"{what} failed with HTTP {status}: {self._message(resp)}"
        if status == 400:
            raise CucmBadRequest(message, node=self.node, status=status)
        if status == 429:
            raise CucmThrottled(
                message,
                node=self.node,
                retry_after=inferred.THROTTLE_RETRY_AFTER,
                asked_wait=retry_after_of(resp),
            )
        raise CucmHttpError(message, node=self.node, status=status, asked_wait=retry_after_of(resp))

    @staticmethod
    def _message(resp: httpx.Response) -> str:
        """The error text of a response: ``message``, ``messages[0]`` or the raw body."""
        try:
            data = resp.json()
        except ValueError:
            return resp.text.strip()[:300]
        if isinstance(data, dict):
            if isinstance(data.get("message"), str):
                return str(data["message"])
            messages = data.get("messages")
            if isinstance(messages, list) and messages:
                return str(messages[0])
        return resp.text.strip()[:300]

    def _decode(self, resp: httpx.Response, what: str) -> Any:
        try:
            return resp.json()
        except ValueError:
            raise CucmError(f"{what} response is not JSON", node=self.node) from None

    def _json(self, resp: httpx.Response, what: str, allow_empty: bool = False) -> dict[str, Any]:
        if allow_empty and not resp.content.strip():
            return {}
        data = self._decode(resp, what)
        if not isinstance(data, dict):
            raise CucmError(f"{what} response is not a JSON object", node=self.node)
        return data

    @staticmethod
    def _outcome(item: dict[str, Any]) -> TrustOutcome:
        outcome = next(
            (str(item[k]) for k in inferred.TRUST_OUTCOME_KEYS if item.get(k)),
            inferred.TRUST_OUTCOME_DEFAULT,
        )
        return TrustOutcome(
            store=str(item.get("service", "")),
            subject=str(item.get("subject", "")),
            serial=str(item.get("serial", "")),
            file_name=str(item.get("fileName", "")),
            outcome=outcome,
            nodes=[str(n) for n in item.get("nodes") or []],
        )

    @staticmethod
    def _trust_cert(item: dict[str, Any]) -> TrustCertificate:
        return TrustCertificate(
            certificate_pem=str(item.get("certificate", "")),
            file_name=str(item.get("fileName") or item.get("filename") or ""),
            subject=str(item.get("subject", "")),
            serial=str(item.get("serial", "")),
            description=str(item.get("description", "")),
            store=str(item.get("service") or ""),
        )
