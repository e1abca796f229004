"""Twin of a Microsoft ADCS web enrollment server (``/certsrv``), cucm-interfaces.md §12.

An HTTPS server on its own loopback address, with a real TLS certificate for ``ca.<domain>``
issued by the twin's own two-tier PKI (a :class:`~lab.ca.TwoTierCa` kept in the twin's state
dir). It serves the pages a certsrv client reads:

* ``POST /certsrv/certfnsh.asp``: submit a CSR with ``CertAttrib: CertificateTemplate:<name>``;
  the template's configured disposition decides: issued at once, pending until a CA admin
  acts, or denied; an unknown template is refused.
* ``GET /certsrv/certnew.cer?ReqID=<id>&Enc=b64|bin``: the issued certificate, or the HTML
  error page with a "Disposition message:" for a request that is not issued.
* ``GET /certsrv/certcarc.asp`` (``var nRenewals=<n>;``),
  ``GET /certsrv/certnew.cer?ReqID=CACert&Renewal=<n>&Enc=…`` (the issuing CA) and
  ``GET /certsrv/certnew.p7b?ReqID=CACert&Renewal=<n>&Enc=…`` (the CA chain as PKCS#7).

Authentication is HTTP Basic (the password lives in a 0600 file, referenced by the inventory)
or a TLS client certificate issued by the twin whose CN names the account. CA-admin actions
(issue or deny a pending request) are out of band: :meth:`AdcsTwin.issue`,
:meth:`AdcsTwin.deny` and the control API routes added by :func:`add_control_routes`. Every
state change is journalled (``adcs.request.*``). Behaviour the reference does not confirm is
in :mod:`lab.adcs_facts`.
"""

from __future__ import annotations

import asyncio
import base64
import html
import ipaddress
import secrets
import ssl
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import NameOID

from lab import adcs_facts as facts
from lab import pki
from lab.ca import CsrRejected, TwoTierCa
from lab.errors import LabError
from lab.journal import Journal
from lab.topology import TopologySpec

__all__ = ["AdcsRequest", "AdcsTwin", "add_control_routes"]

RequestStatus = Literal["pending", "issued", "denied"]

_USER: web.RequestKey[str] = web.RequestKey("adcs_user", str)


@dataclass
class AdcsRequest:
    """One row of the twin's CA database.

    Attributes:
        request_id: The Request Id shown to the requester.
        template: Template named in CertAttrib (may be unknown to the CA).
        requester: Account that submitted it.
        csr_pem: The submitted request, as received.
        status: ``pending``, ``issued`` or ``denied``.
        disposition: The disposition message.
        submitted_at: Wall-clock seconds since the epoch.
        certificate_pem: The issued leaf, once issued.
    """

    request_id: int
    template: str
    requester: str
    csr_pem: str
    status: RequestStatus
    disposition: str
    submitted_at: float
    certificate_pem: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The row as the control API returns it."""
        return {
            "request_id": self.request_id,
            "template": self.template,
            "requester": self.requester,
            "status": self.status,
            "disposition": self.disposition,
            "submitted_at": self.submitted_at,
            "certificate_pem": self.certificate_pem,
        }


def _pem_armor(der: bytes, label: str) -> str:
    body = "\n".join(textwrap.wrap(base64.b64encode(der).decode("ascii"), 64))
    return f"-----BEGIN {label}-----\n{body}\n-----END {label}-----\n"


class AdcsTwin:
    """The ADCS web enrollment twin of a lab.

    Attributes:
        fqdn: The CA's host name (``ca.<domain>``); its TLS certificate names it.
        address: Loopback address it listens on.
        port: TCP port it listens on (443, or 10443 when not root).
        username: The enrollment account (HTTP Basic user, client-certificate CN).
        templates: Template name → ``issue`` | ``pending`` | ``deny``.
        directory: The twin's state dir (CA material, TLS files, password file).
        ca: The CA that signs (root + issuing intermediate).
        outage: When set, every certsrv request answers this HTTP status (a CA outage).
    """

    def __init__(self, spec: TopologySpec, directory: Path, journal: Journal, port: int) -> None:
        """Prepare the twin; nothing is generated or bound until :meth:`start`.

        Args:
            spec: The lab topology (its ``adcs`` block, domain and network).
            directory: State dir of the twin.
            journal: The lab journal that records every state change.
            port: The port to bind (already shifted when not root).
        """
        self.fqdn = f"{spec.adcs.hostname}.{spec.domain}"
        self.address = spec.adcs_address
        self.port = port
        self.username = spec.adcs.username
        self.templates = dict(spec.adcs.templates)
        self.directory = Path(directory)
        self.ca = TwoTierCa(self.directory / "ca", name="ADCS")
        self.outage: int | None = None
        self._journal = journal
        self._password = secrets.token_urlsafe(18)
        self._requests: dict[int, AdcsRequest] = {}
        self._next_id = facts.FIRST_REQUEST_ID
        self._runner: web.AppRunner | None = None

    # -- files the inventory points at ----------------------------------------------------

    @property
    def url(self) -> str:
        """Base URL of the web enrollment pages."""
        netloc = self.fqdn if self.port == 443 else f"{self.fqdn}:{self.port}"
        return f"https://{netloc}/certsrv/"

    @property
    def ca_file(self) -> Path:
        """PEM file holding the root that the twin's TLS certificate chains to."""
        return self.directory / "tls-trust.pem"

    @property
    def password_file(self) -> Path:
        """File holding the enrollment account's password (mode 0600)."""
        return self.directory / "enroll-password"

    @property
    def client_cert_file(self) -> Path:
        """Client certificate (leaf then issuing CA) mapped to the enrollment account."""
        return self.directory / "client.pem"

    @property
    def client_key_file(self) -> Path:
        """Private key of the client certificate (mode 0600)."""
        return self.directory / "client.key"

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> AdcsTwin:
        """Create the PKI and TLS material, then listen."""
        self.directory.mkdir(parents=True, exist_ok=True)
        ctx = await asyncio.get_running_loop().run_in_executor(None, self._prepare)
        app = web.Application(middlewares=[self._middleware])
        app.router.add_get("/certsrv/", self._home)
        app.router.add_get("/certsrv/certcarc.asp", self._certcarc)
        app.router.add_post("/certsrv/certfnsh.asp", self._certfnsh)
        app.router.add_get("/certsrv/certnew.cer", self._certnew_cer)
        app.router.add_get("/certsrv/certnew.p7b", self._certnew_p7b)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(
            self._runner, self.address, self.port, ssl_context=ctx, reuse_address=True
        )
        await site.start()
        self._journal.record("adcs.started", self.fqdn, url=self.url, address=self.address)
        return self

    async def stop(self) -> None:
        """Stop listening."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def _prepare(self) -> ssl.SSLContext:
        self.ca.ensure()
        pki.write_private(self.password_file, self._password.encode())
        self.ca_file.write_text(self.ca.root_pem)
        server_key = pki.new_key("rsa", 2048)
        csr = (
            x509.CertificateSigningRequestBuilder()
            .subject_name(pki.subject_name(self.fqdn))
            .add_extension(
                x509.SubjectAlternativeName(
                    [
                        x509.DNSName(self.fqdn),
                        x509.IPAddress(ipaddress.ip_address(self.address)),
                    ]
                ),
                critical=False,
            )
            .sign(server_key, pki.hash_algorithm("sha256"))
        )
        leaf, _ = self.ca.sign(pki.pem(csr), validity_days=365)
        server_cert = self.directory / "tls.pem"
        server_key_file = self.directory / "tls.key"
        server_cert.write_text(leaf + self.ca.intermediate_pem)
        pki.write_private(server_key_file, pki.key_pem(server_key))
        client_key = pki.new_key("rsa", 2048)
        client_csr = pki.make_csr(client_key, self.username, [])
        client_leaf, _ = self.ca.sign(pki.pem(client_csr), validity_days=365)
        self.client_cert_file.write_text(client_leaf + self.ca.intermediate_pem)
        pki.write_private(self.client_key_file, pki.key_pem(client_key))
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(server_cert, server_key_file)
        # Optional, so Basic clients connect without a certificate; one that is presented
        # must chain to the twin's root or the handshake fails.
        ctx.verify_mode = ssl.CERT_OPTIONAL
        ctx.load_verify_locations(cadata=self.ca.root_pem)
        return ctx

    # -- CA-admin actions (out of band) -------------------------------------------------------

    def list_requests(self) -> list[AdcsRequest]:
        """Every request the CA database holds, oldest first."""
        return [self._requests[k] for k in sorted(self._requests)]

    def request(self, request_id: int) -> AdcsRequest:
        """One request.

        Raises:
            LabError: 404 when the CA holds no such request.
        """
        try:
            return self._requests[int(request_id)]
        except KeyError:
            raise LabError(404, f"ADCS has no request {request_id}") from None

    def issue(self, request_id: int) -> AdcsRequest:
        """Issue a pending request, as a CA admin does in the Pending Requests folder.

        Raises:
            LabError: 404 for an unknown id, 409 when the request is not pending.
        """
        req = self._pending(request_id)
        self._sign(req)
        return req

    def deny(self, request_id: int, reason: str) -> AdcsRequest:
        """Deny a pending request with a reason, as a CA admin does.

        Raises:
            LabError: 404 for an unknown id, 409 when the request is not pending.
        """
        req = self._pending(request_id)
        disposition = facts.ADMIN_DENIED_DISPOSITION.format(
            officer=facts.ADMIN_OFFICER, reason=reason
        )
        self._set_denied(req, disposition)
        return req

    def _pending(self, request_id: int) -> AdcsRequest:
        req = self.request(request_id)
        if req.status != "pending":
            raise LabError(409, f"ADCS request {req.request_id} is {req.status}, not pending")
        return req

    # -- state changes -------------------------------------------------------------------------

    def _submit(self, csr_pem: str, template: str, requester: str) -> AdcsRequest:
        req = AdcsRequest(
            request_id=self._next_id,
            template=template,
            requester=requester,
            csr_pem=csr_pem,
            status="pending",
            disposition=facts.PENDING_DISPOSITION,
            submitted_at=time.time(),
        )
        self._next_id += 1
        self._requests[req.request_id] = req
        self._journal.record(
            "adcs.request.submitted",
            self.fqdn,
            request_id=req.request_id,
            template=template,
            requester=requester,
        )
        mode = self.templates.get(template) if template else None
        if not template:
            self._set_denied(req, facts.NO_TEMPLATE_DISPOSITION)
        elif mode is None:
            self._set_denied(req, facts.UNKNOWN_TEMPLATE_DISPOSITION.format(template=template))
        elif mode == "deny":
            reason = facts.POLICY_DENIED_REASON
            self._set_denied(req, facts.POLICY_DENIED_DISPOSITION.format(reason=reason))
        elif mode == "pending":
            self._journal.record(
                "adcs.request.pending", self.fqdn, request_id=req.request_id, template=template
            )
        else:
            self._sign(req)
        return req

    def _sign(self, req: AdcsRequest) -> None:
        try:
            leaf, _ = self.ca.sign(req.csr_pem, validity_days=facts.LEAF_VALIDITY_DAYS)
        except CsrRejected:
            self._set_denied(req, facts.BAD_CSR_DISPOSITION)
            return
        req.status = "issued"
        req.disposition = facts.ISSUED_DISPOSITION
        req.certificate_pem = leaf
        serial = format(x509.load_pem_x509_certificate(leaf.encode()).serial_number, "x")
        self._journal.record(
            "adcs.request.issued",
            self.fqdn,
            request_id=req.request_id,
            template=req.template,
            serial=serial,
        )

    def _set_denied(self, req: AdcsRequest, disposition: str) -> None:
        req.status = "denied"
        req.disposition = disposition
        self._journal.record(
            "adcs.request.denied",
            self.fqdn,
            request_id=req.request_id,
            template=req.template,
            disposition=disposition,
        )

    # -- HTTP -------------------------------------------------------------------------------------

    @web.middleware
    async def _middleware(
        self, request: web.Request, handler: Any
    ) -> web.StreamResponse:  # aiohttp's handler type is not exported
        if self.outage is not None:
            return web.Response(status=self.outage, text=f"HTTP Error {self.outage}")
        request[_USER] = self._authenticate(request)
        response: web.StreamResponse = await handler(request)
        return response

    def _authenticate(self, request: web.Request) -> str:
        header = request.headers.get("Authorization", "")
        if header.startswith("Basic "):
            try:
                user, _, password = base64.b64decode(header[6:]).decode().partition(":")
            except ValueError:
                user, password = "", ""
            if secrets.compare_digest(user, self.username) and secrets.compare_digest(
                password, self._password
            ):
                return user
        elif not header:
            mapped = self._client_cert_account(request)
            if mapped is not None:
                return mapped
        raise web.HTTPUnauthorized(
            headers={"WWW-Authenticate": facts.BASIC_CHALLENGE.format(host=self.fqdn)},
            text=facts.UNAUTHORIZED_BODY,
            content_type="text/html",
        )

    def _client_cert_account(self, request: web.Request) -> str | None:
        transport = request.transport
        ssl_object = transport.get_extra_info("ssl_object") if transport else None
        der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
        if not der:
            return None
        cert = x509.load_der_x509_certificate(der)
        cns = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        if facts.CLIENT_CERT_MAPS_BY_CN and cns and cns[0].value == self.username:
            return self.username
        return None

    def _html(self, heading: str, body: str) -> web.Response:
        page = (
            "<HTML>\r\n<Head>\r\n"
            '<Meta HTTP-Equiv="Content-Type" Content="text/html; charset=UTF-8">\r\n'
            f"<Title>{facts.PAGE_TITLE}</Title>\r\n</Head>\r\n<Body>\r\n"
            f"<Font ID=locPageTitle><B>{facts.PAGE_TITLE}</B></Font>\r\n"
            f"<P ID=locPageDesc><B>{heading}</B>\r\n{body}\r\n</Body>\r\n</HTML>\r\n"
        )
        return web.Response(
            status=facts.PAGE_STATUS,
            text=page,
            content_type=facts.HTML_CONTENT_TYPE,
            charset="utf-8",
        )

    def _error_page(self, error: str, disposition: str | None) -> web.Response:
        rows = f"<TR><TD>Error:{facts.LABEL_VALUE_SEPARATOR}{html.escape(error)}\r\n</TD></TR>"
        if disposition is not None:
            rows += (
                f"\r\n<TR><TD>Disposition message:{facts.LABEL_VALUE_SEPARATOR}"
                f"{html.escape(disposition)}\r\n</TD></TR>"
            )
        return self._html(
            facts.ERROR_HEADING,
            f"<P>An unexpected error has occurred:\r\n<Table>\r\n{rows}\r\n</Table>",
        )

    async def _home(self, request: web.Request) -> web.Response:
        return self._html("Welcome", "<P>Use this Web site to request a certificate.")

    async def _certfnsh(self, request: web.Request) -> web.Response:
        form = await request.post()
        csr = str(form.get("CertRequest", ""))
        attrib = str(form.get("CertAttrib", ""))
        mode = str(form.get("Mode", facts.MODE_NEW_REQUEST))
        if mode != facts.MODE_NEW_REQUEST:
            return self._error_page(facts.BAD_ID_ERROR, None)
        template = ""
        for line in attrib.replace("\r\n", "\n").split("\n"):
            name, sep, value = line.partition(":")
            if sep and name.strip().lower() == facts.TEMPLATE_ATTRIBUTE.lower():
                template = value.strip()
        req = self._submit(csr, template, request[_USER])
        rid = req.request_id
        if req.status == "issued":
            return self._html(
                facts.ISSUED_HEADING,
                f"<P>{facts.ISSUED_TEXT}\r\n"
                f'<P><A Href="certnew.cer?ReqID={rid}&amp;Enc=b64">Download certificate</A>\r\n'
                f'<P><A Href="certnew.p7b?ReqID={rid}&amp;Enc=b64">'
                "Download certificate chain</A>",
            )
        if req.status == "pending":
            return self._html(
                facts.PENDING_HEADING,
                f"<P>{facts.PENDING_TEXT}\r\n<P>Your Request Id is {rid}.",
            )
        message = html.escape(req.disposition, quote=False)
        return self._html(
            facts.DENIED_HEADING,
            f"<P>{facts.DENIED_TEXT}\r\n"
            f'<P>Your Request Id is {rid}. The disposition message is "{message}".\r\n'
            "<P>Contact your administrator for further information.",
        )

    async def _certcarc(self, request: web.Request) -> web.Response:
        return self._html(
            "Download a CA certificate, certificate chain, or CRL",
            "<Script Language=JavaScript>\r\n"
            f"\tvar nRenewals={facts.CA_RENEWALS};\r\n"
            "</Script>\r\n"
            "<P>To trust certificates issued from this certification authority, "
            "install this CA certificate.",
        )

    def _ca_renewal_ok(self, request: web.Request) -> bool:
        return request.query.get("Renewal", str(facts.CA_RENEWALS)) == str(facts.CA_RENEWALS)

    async def _certnew_cer(self, request: web.Request) -> web.Response:
        req_id = request.query.get("ReqID", "")
        enc = request.query.get("Enc", "bin")
        if req_id == "CACert":
            if not self._ca_renewal_ok(request):
                return self._error_page(facts.NOT_FOUND_ERROR, None)
            return self._cert_response(self.ca.intermediate_pem, enc)
        if not req_id.isdigit():
            return self._error_page(facts.BAD_ID_ERROR, None)
        req = self._requests.get(int(req_id))
        if req is None:
            return self._error_page(facts.NOT_FOUND_ERROR, None)
        if req.status == "issued" and req.certificate_pem is not None:
            return self._cert_response(req.certificate_pem, enc)
        error = facts.PENDING_ERROR if req.status == "pending" else facts.DENIED_ERROR
        return self._error_page(error, req.disposition)

    async def _certnew_p7b(self, request: web.Request) -> web.Response:
        req_id = request.query.get("ReqID", "")
        enc = request.query.get("Enc", "bin")
        chain = [self.ca.intermediate_pem, self.ca.root_pem]
        if req_id == "CACert":
            if not self._ca_renewal_ok(request):
                return self._error_page(facts.NOT_FOUND_ERROR, None)
            pems = chain
        elif req_id.isdigit() and int(req_id) in self._requests:
            req = self._requests[int(req_id)]
            if req.status != "issued" or req.certificate_pem is None:
                error = facts.PENDING_ERROR if req.status == "pending" else facts.DENIED_ERROR
                return self._error_page(error, req.disposition)
            pems = [req.certificate_pem, *chain]
        else:
            return self._error_page(facts.NOT_FOUND_ERROR, None)
        certs = [x509.load_pem_x509_certificate(p.encode()) for p in pems]
        der = pkcs7.serialize_certificates(certs, serialization.Encoding.DER)
        body = _pem_armor(der, facts.P7B_PEM_LABEL).encode() if enc == "b64" else der
        return web.Response(body=body, content_type=facts.P7B_CONTENT_TYPE)

    def _cert_response(self, pem_text: str, enc: str) -> web.Response:
        cert = x509.load_pem_x509_certificate(pem_text.encode())
        if enc == "b64":
            body = cert.public_bytes(serialization.Encoding.PEM)
        else:
            body = cert.public_bytes(serialization.Encoding.DER)
        return web.Response(body=body, content_type="application/pkix-cert")


def add_control_routes(app: web.Application, running: Callable[[], AdcsTwin | None]) -> None:
    """Add the CA-admin routes to the lab's control API.

    ``GET /adcs/requests``, ``POST /adcs/requests/{id}/issue`` and
    ``POST /adcs/requests/{id}/deny`` (JSON body ``{"reason": "..."}``); each answers the
    request row(s) as JSON, 404 when the lab runs no ADCS twin or the id is unknown, 409 when
    the request is not pending.

    Args:
        app: The control API application.
        running: The lab's ADCS twin at the time of a request (None when it runs none).
    """

    def twin() -> AdcsTwin:
        adcs = running()
        if adcs is None:
            raise LabError(404, "this lab runs no ADCS twin")
        return adcs

    def request_id(request: web.Request) -> int:
        raw = request.match_info["rid"]
        if not raw.isdigit():
            raise LabError(404, f"ADCS has no request {raw}")
        return int(raw)

    async def list_requests(request: web.Request) -> web.Response:
        try:
            rows = [r.to_json() for r in twin().list_requests()]
        except LabError as exc:
            return web.json_response({"message": exc.message}, status=exc.status)
        return web.json_response(rows)

    async def issue(request: web.Request) -> web.Response:
        try:
            row = twin().issue(request_id(request))
        except LabError as exc:
            return web.json_response({"message": exc.message}, status=exc.status)
        return web.json_response(row.to_json())

    async def deny(request: web.Request) -> web.Response:
        body: dict[str, Any] = {}
        if request.can_read_body:
            body = await request.json()
        reason = str(body.get("reason") or "denied by the CA administrator")
        try:
            row = twin().deny(request_id(request), reason)
        except LabError as exc:
            return web.json_response({"message": exc.message}, status=exc.status)
        return web.json_response(row.to_json())

    app.router.add_get("/adcs/requests", list_requests)
    app.router.add_post("/adcs/requests/{rid}/issue", issue)
    app.router.add_post("/adcs/requests/{rid}/deny", deny)
