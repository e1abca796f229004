"""A small HTTPS fake of one node's Cisco Unified OS Administration (``/cmplatform``).

It serves the page fixtures of ``tests/fixtures/cmplatform`` as ``docs/os-administration.md``
describes them: Tomcat form login with a ``JSESSIONID`` cookie, one-use form tokens per page
view, the status area of each form result, the CSR and certificate downloads. Knobs inject
what the contract says can go wrong (a refused token, an expired session, an error status,
a page of another kind), and every request is recorded with its raw body so tests can check
where the password travelled. It is a test double only; the lab's twin is separate.
"""

from __future__ import annotations

import datetime as dt
import email.parser
import email.policy
import secrets
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from string import Template
from urllib.parse import parse_qs

from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from activities.clients.cucm.transport import NodeEndpoint

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "cmplatform"
APP = "/cmplatform"
FORM_PAGES = {
    "certificateGenerateNewCsr.do": "generate_csr.html",
    "certificateDownloadCsr.do": "download_csr.html",
    "certificateUpload.do": "upload.html",
}
TOKEN_REFUSED = "Couldn't get token. You may be trying too often."
SID = web.RequestKey("sid", str)


def fixture(name: str) -> str:
    """The text of a fixture file."""
    return (FIXTURES / name).read_text()


def render(name: str, **values: str) -> str:
    """A fixture with its ``$placeholders`` filled in."""
    return Template(fixture(name)).substitute(values)


@dataclass
class Recorded:
    """One request as the fake received it."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Row:
    """One certificate of the fake node, as its list row shows it."""

    certificate: str
    file: str
    pem: str = ""
    common_name: str = ""
    type: str = "trust-cert"
    key_type: str = "RSA"
    distribution: str = "cucm-pub"
    issued_by: str = ""
    expiration: str = "01/31/2035"
    description: str = ""


@dataclass
class Override:
    """What the fake answers, once, instead of a page: status, fixture and content type."""

    status: int
    fixture: str
    values: dict[str, str] = field(default_factory=dict)


class FakeCmplatform:
    """State and knobs of the fake node.

    Attributes:
        username, password: The OS platform administrator.
        rows: The certificate list.
        csrs: CSR pending per purpose (PEM).
        csr_banner: Nodes the CSR export banner lists.
        upload_banner: Nodes the identity upload banner lists.
        refuse_tokens: The next this many posts are answered "Couldn't get token".
        expire: ``"<METHOD> <page>"`` keys: the session is dropped when such a request comes
            (once each), so it is answered with the login form.
        overrides: ``"<METHOD> <page>"`` -> the answer of the next such request.
        upload_error: An error status for the next upload, instead of accepting it.
        upload_note: A line the identity upload's status adds after the banner.
        requests: Every request received.
        posted: The form fields of every accepted post, with the page.
    """

    def __init__(self, username: str = "osadmin", password: str | None = None) -> None:
        self.username = username
        # A fresh sentinel per fake, so a search for it in errors and requests means something.
        self.password = password or f"Os!{secrets.token_urlsafe(12)}"
        self.rows: list[Row] = []
        self.csrs: dict[str, str] = {}
        self.csr_banner = ["cucm-pub", "cucm-sub1", "imp-pub"]
        self.upload_banner = ["cucm-pub", "cucm-sub1", "imp-pub"]
        self.refuse_tokens = 0
        self.expire: set[str] = set()
        self.overrides: dict[str, Override] = {}
        self.upload_error: str | None = None
        self.upload_note = ""
        self.requests: list[Recorded] = []
        self.posted: list[tuple[str, dict[str, str]]] = []
        self._sessions: dict[str, bool] = {}
        self._tokens: dict[tuple[str, str], str] = {}

    # -- what the tests read --------------------------------------------------------------

    def pages(self, method: str | None = None) -> list[str]:
        """``"<METHOD> <page>"`` of every request, in order."""
        return [
            f"{r.method} {r.path.removeprefix(APP + '/')}"
            for r in self.requests
            if method is None or r.method == method
        ]

    # -- the application ------------------------------------------------------------------

    def app(self) -> web.Application:
        """The aiohttp application of the node's port 8443."""
        app = web.Application(middlewares=[self._record, self._session])
        app.router.add_get(f"{APP}/", self._root)
        app.router.add_get(f"{APP}/showHome.do", self._home)
        app.router.add_post(f"{APP}/j_security_check", self._login)
        app.router.add_get(f"{APP}/certificateFindList.do", self._list)
        app.router.add_get(f"{APP}/certificateDownload.do", self._download)
        for page in FORM_PAGES:
            app.router.add_get(f"{APP}/{page}", self._form)
            app.router.add_post(f"{APP}/{page}", self._post)
        return app

    @web.middleware
    async def _record(self, request: web.Request, handler):  # type: ignore[no-untyped-def]
        body = await request.read()
        self.requests.append(
            Recorded(
                request.method, request.path, request.query_string, dict(request.headers), body
            )
        )
        key = f"{request.method} {request.path.removeprefix(APP + '/')}"
        override = self.overrides.pop(key, None)
        if override is not None:
            return web.Response(
                status=override.status,
                text=render(override.fixture, **override.values),
                content_type="text/html",
            )
        return await handler(request)

    @web.middleware
    async def _session(self, request: web.Request, handler):  # type: ignore[no-untyped-def]
        sid = request.cookies.get("JSESSIONID", "")
        key = f"{request.method} {request.path.removeprefix(APP + '/')}"
        if key in self.expire:
            self.expire.discard(key)
            self._sessions.pop(sid, None)
        fresh = sid not in self._sessions
        if fresh:
            sid = secrets.token_hex(16).upper()
            self._sessions[sid] = False
        request[SID] = sid
        public = request.path in (f"{APP}/", f"{APP}/showHome.do", f"{APP}/j_security_check")
        if not self._sessions[sid] and not public:
            response: web.StreamResponse = self._html(fixture("login.html"))
        else:
            response = await handler(request)
        if fresh and "JSESSIONID" not in response.cookies:
            response.set_cookie("JSESSIONID", sid, path=APP, secure=True, httponly=True)
        return response

    @staticmethod
    def _html(text: str, status: int = 200) -> web.Response:
        return web.Response(status=status, text=text, content_type="text/html")

    async def _root(self, request: web.Request) -> web.StreamResponse:
        raise web.HTTPFound(f"{APP}/showHome.do")

    async def _home(self, request: web.Request) -> web.StreamResponse:
        logged_in = self._sessions[request[SID]]
        return self._html(fixture("home.html" if logged_in else "login.html"))

    async def _login(self, request: web.Request) -> web.StreamResponse:
        form = parse_qs((await request.read()).decode())
        user = form.get("j_username", [""])[0]
        password = form.get("j_password", [""])[0]
        nav = form.get("appNav", [""])[0]
        if (user, password, nav) != (self.username, self.password, "cmplatform"):
            return self._html(fixture("login_failed.html"))
        self._sessions.pop(request[SID], None)
        sid = secrets.token_hex(16).upper()
        self._sessions[sid] = True
        response = web.Response(status=302, headers={"Location": f"{APP}/showHome.do"})
        response.set_cookie("JSESSIONID", sid, path=APP, secure=True, httponly=True)
        return response

    async def _list(self, request: web.Request) -> web.StreamResponse:
        rows = "".join(
            render(
                "certificate_row.html",
                file=r.file,
                certificate=r.certificate,
                common_name=r.common_name,
                type=r.type,
                key_type=r.key_type,
                distribution=r.distribution,
                issued_by=r.issued_by,
                expiration=r.expiration,
                description=r.description,
            )
            for r in self.rows
        )
        return self._html(render("certificate_list.html", rows=rows))

    async def _download(self, request: web.Request) -> web.StreamResponse:
        cert = request.query.get("cert", "")
        row = next((r for r in self.rows if r.file == cert and r.pem), None)
        if row is None or request.query.get("format") != "pem":
            return self._html(fixture("tomcat_404.html"), status=404)
        return web.Response(
            text=row.pem,
            content_type="application/x-pem-file",
            headers={"Content-Disposition": f"attachment; filename={cert.split('/')[-1]}"},
        )

    def _form_page(self, request: web.Request, page: str, status: str = "") -> web.Response:
        token = secrets.token_hex(8)
        self._tokens[(request[SID], page)] = token
        return self._html(render(FORM_PAGES[page], token=token, status=status))

    async def _form(self, request: web.Request) -> web.StreamResponse:
        return self._form_page(request, request.path.rsplit("/", 1)[-1])

    async def _post(self, request: web.Request) -> web.StreamResponse:
        page = request.path.rsplit("/", 1)[-1]
        fields, files = _form_fields(request, await request.read())
        issued = self._tokens.pop((request[SID], page), None)
        if self.refuse_tokens or not issued or fields.get("token") != issued:
            self.refuse_tokens = max(0, self.refuse_tokens - 1)
            return self._form_page(request, page, fixture("status_token_refused.html"))
        self.posted.append((page, fields))
        if page == "certificateGenerateNewCsr.do":
            return self._generated(request, fields)
        if page == "certificateDownloadCsr.do":
            purpose = fields.get("certificatePurpose", "")
            csr = self.csrs.get(purpose)
            if csr is None:
                return self._result(request, page, False, f"No CSR found for {purpose}")
            return web.Response(
                body=csr.encode(),
                content_type="application/pkcs10",
                headers={"Content-Disposition": f"attachment; filename={purpose}.csr"},
            )
        return self._uploaded(request, fields, files.get("file", b"").decode())

    def _result(self, request: web.Request, page: str, ok: bool, message: str) -> web.Response:
        status = render("status_success.html" if ok else "status_error.html", message=message)
        return self._form_page(request, page, status)

    def _generated(self, request: web.Request, fields: dict[str, str]) -> web.Response:
        purpose = fields["certificatePurpose"]
        self.csrs[purpose] = fixture("tomcat.csr")
        nodes = (
            self.csr_banner
            if fields["distribution"] == "Multi-server(SAN)"
            else [fields["distribution"]]
        )
        message = f"CSR export operation successful on the nodes [{', '.join(nodes)}]."
        return self._result(request, "certificateGenerateNewCsr.do", True, message)

    def _uploaded(self, request: web.Request, fields: dict[str, str], pem: str) -> web.Response:
        page = "certificateUpload.do"
        if self.upload_error is not None:
            message, self.upload_error = self.upload_error, None
            return self._result(request, page, False, message)
        name = fields["NAME"]
        if name.endswith("-trust"):
            if any(r.pem == pem for r in self.rows if r.certificate == name):
                return self._result(
                    request, page, False, "Certificate already exists in the trust store"
                )
            cn = _common_name(pem)
            self.rows.append(
                Row(name, f"{name}/{cn}.pem", pem, cn, description=fields.get("description", ""))
            )
            return self._result(request, page, True, "Success: Certificate Uploaded")
        banner = (
            f"Certificate upload operation successful for the nodes {','.join(self.upload_banner)}."
        )
        note = f"<br>{self.upload_note}" if self.upload_note else ""
        return self._result(request, page, True, f"Success: Certificate Uploaded<br>{banner}{note}")


def _form_fields(request: web.Request, body: bytes) -> tuple[dict[str, str], dict[str, bytes]]:
    """The fields of a urlencoded or multipart body (files apart)."""
    if request.content_type != "multipart/form-data":
        return {k: v[0] for k, v in parse_qs(body.decode(), keep_blank_values=True).items()}, {}
    head = f"Content-Type: {request.headers['Content-Type']}\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    fields: dict[str, str] = {}
    files: dict[str, bytes] = {}
    for part in message.iter_parts():  # type: ignore[attr-defined]
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True) or b""
        if part.get_filename() is not None:
            files[name] = payload
        else:
            fields[name] = payload.decode()
    return fields, files


def _common_name(pem: str) -> str:
    cert = x509.load_pem_x509_certificate(pem.encode())
    return str(cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)


class ServerTls:
    """A root and a server certificate for ``fqdn``, and the root's file to trust."""

    def __init__(self, fqdn: str, directory: Path) -> None:
        now = dt.datetime.now(dt.UTC)
        root_key = ec.generate_private_key(ec.SECP256R1())
        root_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "cmplatform fake root")])
        root = (
            x509.CertificateBuilder()
            .subject_name(root_name)
            .issuer_name(root_name)
            .public_key(root_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .sign(root_key, hashes.SHA256())
        )
        key = ec.generate_private_key(ec.SECP256R1())
        leaf = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, fqdn)]))
            .issuer_name(root_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(fqdn)]), False)
            .sign(root_key, hashes.SHA256())
        )
        self.ca_file = directory / "root.pem"
        self.ca_file.write_bytes(root.public_bytes(serialization.Encoding.PEM))
        cert_file, key_file = directory / "server.pem", directory / "server.key"
        cert_file.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
        key_file.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.context.load_cert_chain(cert_file, key_file)


@asynccontextmanager
async def serve(
    fake: FakeCmplatform, tls: ServerTls, fqdn: str, timeout: float = 10.0
) -> AsyncIterator[NodeEndpoint]:
    """Serve ``fake`` over TLS on loopback; yields the endpoint a client connects to."""
    runner = web.AppRunner(fake.app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=tls.context)
    await site.start()
    server = site._server
    assert server is not None
    port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
    try:
        yield NodeEndpoint(
            fqdn=fqdn,
            host="127.0.0.1",
            https_port=port,
            ca_file=str(tls.ca_file),
            timeout=timeout,
        )
    finally:
        await runner.cleanup()
