"""Cisco Unified OS Administration (``/cmplatform``) of a twin node: the certificate pages.

Before 14 these pages are the only way to a multi-server (SAN) CSR, and from 14SU2 the only
way to upload a multi-SAN certificate (cucm-interfaces.md §3, §11). The page contract is
``docs/os-administration.md``: form login through ``j_security_check`` with the OS platform
administrator, ``JSESSIONID`` sessions with an idle timeout, one single-use Struts token per
page view, the status area and Cisco's banners. Translation only: requests become
:class:`~lab.cluster.Cluster` calls, as in the REST frontend, so both interfaces see one
cluster and the same rules; every page detail public sources do not show is in
:mod:`lab.facts` (``CMPLATFORM_*``).

Served on every release and product, on the ports of Tomcat (gone while Cisco Tomcat
restarts); a ``webapp-down`` fault (target ``cmplatform``) makes every page Tomcat's 404, a
``session-expired`` fault ends sessions. Journal entries: ``cmplatform.login``,
``cmplatform.login-refused``, ``cmplatform.session-expired``, ``cmplatform.token-refused``,
``cmplatform.csr-generated``, ``cmplatform.csr-downloaded``, ``cmplatform.uploaded``, beside
the cluster's own (``csr.generated``, ``trust.uploaded``, ``identity.uploaded``).
"""

from __future__ import annotations

import asyncio
import html
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from lab import facts, pki
from lab.catalog import PAWS, PURPOSES_BY_PRODUCT, TOMCAT, TRUST_STORES
from lab.errors import LabError
from lab.frontends import webapps
from lab.frontends.base import LAB_KEY, NODE_KEY, Twin
from lab.nodes import Node

APP = "cmplatform"
PREFIX = f"/{APP}"
TITLE = "Cisco Unified Operating System Administration"
HOME = f"{PREFIX}/{facts.WEB_LOGIN_LANDING}"
LIST_PAGE = "certificateFindList.do"
CSR_PAGE = "certificateGenerateNewCsr.do"
DOWNLOAD_CSR_PAGE = "certificateDownloadCsr.do"
UPLOAD_PAGE = "certificateUpload.do"
DOWNLOAD_PAGE = "certificateDownload.do"


@dataclass
class WebSession:
    """A Tomcat session of ``/cmplatform`` (``user`` None until the login succeeds)."""

    id: str
    tomcat_started: float | None
    user: str | None = None
    last_seen: float = field(default_factory=time.monotonic)
    #: The live token of each form page (one per page; a new view replaces it).
    tokens: dict[str, str] = field(default_factory=dict)
    #: Tokens already posted, to tell a reused token from a stale one in the journal.
    used: set[str] = field(default_factory=set)


class Sessions:
    """The sessions of one node's ``/cmplatform``."""

    def __init__(self) -> None:
        self._by_id: dict[str, WebSession] = {}

    def create(
        self, tomcat_started: float | None, idle_timeout: float, user: str | None = None
    ) -> WebSession:
        """A new session with a fresh id (sessions idle past the timeout are forgotten, as
        Tomcat's background expiry does)."""
        now = time.monotonic()
        for stale in [s.id for s in self._by_id.values() if now - s.last_seen > idle_timeout]:
            del self._by_id[stale]
        session = WebSession(secrets.token_hex(16).upper(), tomcat_started, user)
        self._by_id[session.id] = session
        return session

    def get(self, session_id: str | None) -> WebSession | None:
        """The session of an id, if the node knows it."""
        return self._by_id.get(session_id or "")

    def drop(self, session_id: str) -> None:
        """Forget a session."""
        self._by_id.pop(session_id, None)


SESSIONS_KEY: web.AppKey[Sessions] = web.AppKey("cmplatform_sessions", Sessions)

Page = Callable[[web.Request, Twin, Node, WebSession], Awaitable[web.StreamResponse]]


def add_routes(app: web.Application) -> None:
    """Register the landing page, the login and the certificate pages."""
    app[SESSIONS_KEY] = Sessions()
    app.router.add_get(HOME, _page(home))
    app.router.add_post(f"{PREFIX}/j_security_check", _login)
    app.router.add_get(f"{PREFIX}/{LIST_PAGE}", _page(certificate_list))
    app.router.add_get(f"{PREFIX}/{CSR_PAGE}", _page(_form_view(CSR_PAGE)))
    app.router.add_post(f"{PREFIX}/{CSR_PAGE}", _page(_form_post(CSR_PAGE, generate_csr)))
    app.router.add_get(f"{PREFIX}/{DOWNLOAD_CSR_PAGE}", _page(_form_view(DOWNLOAD_CSR_PAGE)))
    app.router.add_post(
        f"{PREFIX}/{DOWNLOAD_CSR_PAGE}", _page(_form_post(DOWNLOAD_CSR_PAGE, download_csr))
    )
    app.router.add_get(f"{PREFIX}/{UPLOAD_PAGE}", _page(_form_view(UPLOAD_PAGE)))
    app.router.add_post(f"{PREFIX}/{UPLOAD_PAGE}", _page(_form_post(UPLOAD_PAGE, upload)))
    app.router.add_get(f"{PREFIX}/{DOWNLOAD_PAGE}", _page(download_certificate))


# -- sessions and login ------------------------------------------------------------------


def _tomcat_started(node: Node) -> float | None:
    return node.service(TOMCAT).start_time


def _session(request: web.Request, twin: Twin, node: Node) -> WebSession | None:
    """The request's session, or None when it has none the node still knows."""
    sessions = request.app[SESSIONS_KEY]
    session = sessions.get(request.cookies.get(facts.CMPLATFORM_SESSION_COOKIE))
    if session is None:
        return None
    idle = time.monotonic() - session.last_seen
    reason = None
    if idle > twin.timing.cmplatform_session_idle:
        reason = "idle"
    elif (
        not facts.CMPLATFORM_SESSIONS_SURVIVE_TOMCAT_RESTART
        and session.tomcat_started != _tomcat_started(node)
    ):
        reason = "tomcat-restarted"
    elif session.user is not None and twin.faults.take("session-expired", node.hostname, APP):
        reason = "fault"
    if reason is None:
        return session
    sessions.drop(session.id)
    if session.user is not None:
        twin.journal.record(
            "cmplatform.session-expired", node.hostname, user=session.user, reason=reason
        )
    return None


def _set_cookie(response: web.StreamResponse, session: WebSession) -> None:
    response.set_cookie(
        facts.CMPLATFORM_SESSION_COOKIE, session.id, path=PREFIX, secure=True, httponly=True
    )


def _login_form(
    request: web.Request, twin: Twin, node: Node, session: WebSession | None, error: str | None
) -> web.Response:
    """The login form (200), with a session (and its cookie) for a browser that has none."""
    response = webapps.login_response(APP, twin.spec.version, error)
    if session is None:
        sessions = request.app[SESSIONS_KEY]
        idle = twin.timing.cmplatform_session_idle
        _set_cookie(response, sessions.create(_tomcat_started(node), idle))
    return response


async def _login(request: web.Request) -> web.StreamResponse:
    """POST ``j_security_check``: the OS platform administrator's form login."""
    if not webapps.deployed(request, APP):
        return webapps.not_found()
    twin, node = request.app[LAB_KEY], request.app[NODE_KEY]
    form = await request.post()
    username, password = str(form.get("j_username", "")), str(form.get("j_password", ""))
    previous = _session(request, twin, node)
    if not twin.check_password("os_admin", username, password):
        twin.journal.record("cmplatform.login-refused", node.hostname, user=username)
        return _login_form(request, twin, node, previous, facts.CMPLATFORM_LOGIN_ERROR)
    if previous is not None:
        request.app[SESSIONS_KEY].drop(previous.id)
    session = request.app[SESSIONS_KEY].create(
        _tomcat_started(node), twin.timing.cmplatform_session_idle, username
    )
    twin.journal.record("cmplatform.login", node.hostname, user=username)
    response = web.HTTPFound(HOME)
    _set_cookie(response, session)
    return response


def _page(handler: Page) -> webapps.Handler:
    """A page behind the login: Tomcat's 404 when the application is down, the login form
    without a live authenticated session."""

    async def wrapped(request: web.Request) -> web.StreamResponse:
        if not webapps.deployed(request, APP):
            return webapps.not_found()
        twin, node = request.app[LAB_KEY], request.app[NODE_KEY]
        session = _session(request, twin, node)
        if session is None or session.user is None:
            return _login_form(request, twin, node, session, None)
        session.last_seen = time.monotonic()
        return await handler(request, twin, node, session)

    return wrapped


# -- tokens ------------------------------------------------------------------------------


def _issue_token(session: WebSession, page: str) -> str:
    token = secrets.token_hex(16).upper()
    session.tokens[page] = token
    return token


def _take_token(session: WebSession, page: str, given: str) -> str | None:
    """None when ``given`` is the page's live token (now used up), else why it is refused."""
    expected = session.tokens.pop(page, None)
    if given and expected is not None and secrets.compare_digest(given, expected):
        session.used.add(given)
        return None
    if not given:
        return "missing"
    return "reused" if given in session.used else "stale"


# -- rendering ---------------------------------------------------------------------------


@dataclass
class Status:
    """What a POST shows in the status area."""

    ok: bool
    lines: list[str]


def _status_html(status: Status | None) -> str:
    if status is None:
        return ""
    css = (
        facts.CMPLATFORM_STATUS_SUCCESS_CLASS if status.ok else facts.CMPLATFORM_STATUS_ERROR_CLASS
    )
    text = facts.CMPLATFORM_STATUS_BREAK.join(html.escape(line) for line in status.lines)
    return f'<div id="statusMessage" class="{css}">{text}</div>\n'


def _document(title: str, user: str, body: str, status: Status | None = None) -> web.Response:
    page = (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(title)}</title>\n</head>\n<body>\n"
        f'<div class="cuesHeaderProductName">{html.escape(TITLE)}</div>\n'
        f'<div class="cuesHeaderUser">{html.escape(user)}</div>\n'
        f"<h1>{html.escape(title)}</h1>\n"
        f"{_status_html(status)}{body}</body>\n</html>\n"
    )
    return web.Response(text=page, content_type="text/html", headers=webapps.LOGIN_HEADERS)


def _select(name: str, options: list[str], selected: str | None = None) -> str:
    items = "".join(
        f'<option value="{html.escape(o)}"{" selected" if o == selected else ""}>'
        f"{html.escape(o)}</option>"
        for o in options
    )
    return f'<select name="{name}" id="{name}">{items}</select>\n'


def _purposes(twin: Twin, node: Node) -> list[str]:
    """The identity purposes the node's Certificate Purpose lists offer."""
    base = list(PURPOSES_BY_PRODUCT[node.product])
    if twin.spec.major_version >= facts.CMPLATFORM_ECDSA_SINCE:
        base += [f"{p}-ECDSA" for p in ("tomcat", "CallManager") if p in base]
    return base


def _distributions(node: Node) -> list[str]:
    return [facts.CMPLATFORM_MULTI_SERVER_DISTRIBUTION, node.hostname]


def _upload_names(twin: Twin, node: Node) -> list[str]:
    return [*_purposes(twin, node), *TRUST_STORES]


def _form_body(page: str, twin: Twin, node: Node, token: str) -> str:
    """The form of a page with its fresh token."""
    hidden = f'<input type="hidden" name="token" value="{html.escape(token)}">\n'
    action = f"{PREFIX}/{page}"
    purposes = _purposes(twin, node)
    if page == CSR_PAGE:
        fields = (
            _select("certificatePurpose", purposes)
            + _select("distribution", _distributions(node))
            + '<input type="text" name="commonName" id="commonName" value="">\n'
            + '<textarea name="otherDomains" id="otherDomains"></textarea>\n'
            + _select("keyType", list(facts.CMPLATFORM_KEY_TYPES))
            + _select(
                "keyLength",
                [str(n) for n in facts.CMPLATFORM_KEY_LENGTHS["RSA"]],
                "2048",
            )
            + _select("hashAlgorithm", list(facts.CMPLATFORM_HASH_ALGORITHMS))
        )
        return (
            f'<form name="certificateGenerateNewCsrForm" method="post" action="{action}">\n'
            f'{hidden}{fields}<input type="submit" name="generate" value="Generate">\n</form>\n'
        )
    if page == DOWNLOAD_CSR_PAGE:
        return (
            f'<form name="certificateDownloadCsrForm" method="post" action="{action}">\n'
            f"{hidden}{_select('certificatePurpose', purposes)}"
            '<input type="submit" name="download" value="Download CSR">\n</form>\n'
        )
    return (
        f'<form name="certificateUploadForm" method="post" action="{action}" '
        'enctype="multipart/form-data">\n'
        f"{hidden}{_select('NAME', _upload_names(twin, node))}"
        '<input type="text" name="description" id="description" value="">\n'
        '<input type="text" name="rootCertificate" id="rootCertificate" value="">\n'
        '<input type="file" name="file" id="file">\n'
        '<input type="submit" name="upload" value="Upload">\n</form>\n'
    )


_PAGE_TITLES = {
    CSR_PAGE: "Generate Certificate Signing Request",
    DOWNLOAD_CSR_PAGE: "Download Certificate Signing Request",
    UPLOAD_PAGE: "Upload Certificate/Certificate chain",
}


def _form_page(
    page: str, twin: Twin, node: Node, session: WebSession, status: Status | None = None
) -> web.Response:
    if status is not None and not status.ok and not facts.CMPLATFORM_REFUSAL_SHOWS_FORM:
        return _document(_PAGE_TITLES[page], session.user or "", "", status)
    token = _issue_token(session, page)
    return _document(
        _PAGE_TITLES[page], session.user or "", _form_body(page, twin, node, token), status
    )


# -- pages -------------------------------------------------------------------------------


async def home(request: web.Request, twin: Twin, node: Node, session: WebSession) -> web.Response:
    """``showHome.do`` once logged in."""
    links = "".join(
        f'<li><a href="{PREFIX}/{p}">{html.escape(t)}</a></li>'
        for p, t in (
            (LIST_PAGE, "Certificate Management"),
            (CSR_PAGE, _PAGE_TITLES[CSR_PAGE]),
            (UPLOAD_PAGE, _PAGE_TITLES[UPLOAD_PAGE]),
        )
    )
    body = (
        f'<div class="cuesSystemVersion">System version: {html.escape(twin.spec.version)}</div>\n'
        f"<ul>{links}</ul>\n"
    )
    return _document(TITLE, session.user or "", body)


def _form_view(page: str) -> Page:
    async def view(
        request: web.Request, twin: Twin, node: Node, session: WebSession
    ) -> web.Response:
        return _form_page(page, twin, node, session)

    return view


#: A posted form (url-encoded or multipart).
Form = Mapping[str, object]
Action = Callable[[Form, Twin, Node], Awaitable["web.StreamResponse | Status"]]


def _form_post(page: str, action: Action) -> Page:
    """A form POST: the token first (refused: nothing is done), then the action; a Status
    answers the form again under the status area."""

    async def post(
        request: web.Request, twin: Twin, node: Node, session: WebSession
    ) -> web.StreamResponse:
        form = await request.post()
        refused = _take_token(session, page, str(form.get("token", "")))
        if refused is not None:
            twin.journal.record(
                "cmplatform.token-refused", node.hostname, page=page, reason=refused
            )
            return _form_page(
                page, twin, node, session, Status(False, [facts.CMPLATFORM_TOKEN_REFUSED])
            )
        try:
            result = await action(form, twin, node)
        except LabError as exc:
            result = Status(False, [exc.message])
        if isinstance(result, Status):
            return _form_page(page, twin, node, session, result)
        return result

    return post


def _field(form: Form, name: str) -> str:
    value = form.get(name, "")
    return value.strip() if isinstance(value, str) else ""


def _choice(form: Form, name: str, options: list[str] | tuple[str, ...]) -> str:
    value = _field(form, name)
    if value not in options:
        raise LabError(400, facts.CMPLATFORM_BAD_VALUE.format(field=name, value=value), "bad-value")
    return value


def _paws_gate(node: Node) -> None:
    if not node.started(PAWS):
        raise LabError(503, facts.CMPLATFORM_PAWS_DOWN_MESSAGE, "paws-down")


def _nodes(nodes: list[Node], separator: str) -> str:
    return separator.join(n.hostname for n in nodes)


async def generate_csr(form: Form, twin: Twin, node: Node) -> Status:
    """POST ``certificateGenerateNewCsr.do``: generate (multi-server: export) a CSR."""
    purpose = _choice(form, "certificatePurpose", _purposes(twin, node))
    distribution = _choice(form, "distribution", _distributions(node))
    key_type = _choice(form, "keyType", facts.CMPLATFORM_KEY_TYPES)
    lengths = [str(n) for n in facts.CMPLATFORM_KEY_LENGTHS[key_type]]
    key_length = int(_choice(form, "keyLength", lengths))
    hash_name = _choice(form, "hashAlgorithm", facts.CMPLATFORM_HASH_ALGORITHMS)
    other = [line.strip() for line in _field(form, "otherDomains").splitlines()]
    _paws_gate(node)
    multi = distribution == facts.CMPLATFORM_MULTI_SERVER_DISTRIBUTION
    await twin.hold_operation(node, "csr")
    pending, exported = await asyncio.to_thread(
        twin.cluster.generate_csr,
        node,
        purpose,
        facts.REST_MULTI_SERVER_DISTRIBUTION if multi else node.hostname,
        _field(form, "commonName") or None,
        key_type.lower(),
        key_length,
        hash_name.lower(),
        [o for o in other if o],
    )
    twin.journal.record(
        "cmplatform.csr-generated",
        node.hostname,
        purpose=purpose,
        distribution=distribution,
        nodes=[n.hostname for n in exported],
        tracking_id=pending.tracking_id,
    )
    twin.lose_response(node, "csr")
    banner = facts.CMPLATFORM_CSR_BANNER.format(
        nodes=_nodes(exported, facts.CMPLATFORM_CSR_BANNER_SEPARATOR)
    )
    return Status(True, [banner])


async def download_csr(form: Form, twin: Twin, node: Node) -> web.StreamResponse | Status:
    """POST ``certificateDownloadCsr.do``: the pending CSR of a purpose, as a file."""
    purpose = _choice(form, "certificatePurpose", _purposes(twin, node))
    pending = node.pending.get(purpose)
    if pending is None:
        return Status(False, [facts.CMPLATFORM_NO_CSR.format(purpose=purpose)])
    twin.journal.record(
        "cmplatform.csr-downloaded",
        node.hostname,
        purpose=purpose,
        tracking_id=pending.tracking_id,
    )
    return web.Response(
        body=pki.pem(pending.csr).encode(),
        content_type=facts.CMPLATFORM_CSR_CONTENT_TYPE,
        headers={"Content-Disposition": f"attachment; filename={purpose}.csr"},
    )


def _uploaded_pem(form: Form) -> str:
    """The uploaded file as PEM text (DER is converted; anything else is left for the
    cluster to refuse with its message)."""
    item = form.get("file")
    if isinstance(item, web.FileField):
        with item.file:  # closed here: a lost response aborts before aiohttp would close it
            data = item.file.read()
    elif isinstance(item, str | bytes):
        data = item.encode() if isinstance(item, str) else item
    else:
        raise LabError(400, facts.CMPLATFORM_BAD_VALUE.format(field="file", value=""), "bad-value")
    if b"-----BEGIN" in data:
        return data.decode("ascii", errors="replace")
    try:
        return pki.pem(x509.load_der_x509_certificate(data))
    except ValueError:
        return data.decode("ascii", errors="replace")


async def upload(form: Form, twin: Twin, node: Node) -> Status:
    """POST ``certificateUpload.do``: a CA certificate into a trust store (cluster-wide as
    over REST) or the signed certificate of the pending CSR of a purpose (every SAN node)."""
    name = _choice(form, "NAME", _upload_names(twin, node))
    pem = _uploaded_pem(form)
    _paws_gate(node)
    await twin.hold_operation(
        node, "upload-trust" if name.endswith("-trust") else "upload-identity"
    )
    if name.endswith("-trust"):
        description = _field(form, "description") or facts.CMPLATFORM_TRUST_DEFAULT_DESCRIPTION
        outcomes = twin.cluster.upload_trust(node, [name], [pem], description)
        twin.journal.record(
            "cmplatform.uploaded",
            node.hostname,
            name=name,
            kind="trust",
            nodes=sorted({h for o in outcomes for h in o["nodes"]}),
        )
        twin.lose_response(node, "upload-trust")
        return Status(True, [facts.CMPLATFORM_UPLOAD_SUCCESS])
    installed = twin.cluster.upload_identity(node, name, [pem])
    twin.journal.record(
        "cmplatform.uploaded",
        node.hostname,
        name=name,
        kind="identity",
        nodes=[n.hostname for n in installed],
    )
    twin.lose_response(node, "upload-identity")
    banner = facts.CMPLATFORM_UPLOAD_BANNER.format(
        nodes=_nodes(installed, facts.CMPLATFORM_UPLOAD_BANNER_SEPARATOR)
    )
    return Status(True, [facts.CMPLATFORM_UPLOAD_SUCCESS, banner])


def _key_type(cert: x509.Certificate | x509.CertificateSigningRequest) -> str:
    return "EC" if isinstance(cert.public_key(), ec.EllipticCurvePublicKey) else "RSA"


def _row(cells: dict[str, str], link: str) -> str:
    tds = "".join(f'<td class="{k}">{html.escape(v)}</td>' for k, v in cells.items())
    href = html.escape(f"certificateEdit.do?cert={link}")
    return f'<tr>{tds}<td class="link"><a href="{href}">{html.escape(link)}</a></td></tr>\n'


def _cert_cells(
    store: str,
    cert: x509.Certificate,
    kind: str,
    distribution: str,
    description: str,
) -> dict[str, str]:
    return {
        "certificate": store,
        "common-name": pki.common_name(cert.subject),
        "type": kind,
        "key-type": _key_type(cert),
        "distribution": distribution,
        "issued-by": pki.common_name(cert.issuer),
        "expiration": cert.not_valid_after_utc.strftime(facts.CMPLATFORM_EXPIRATION_FORMAT),
        "description": description,
    }


async def certificate_list(
    request: web.Request, twin: Twin, node: Node, session: WebSession
) -> web.Response:
    """``certificateFindList.do``: identities, pending CSRs and trust certificates."""
    multi = facts.CMPLATFORM_MULTI_SERVER_DISTRIBUTION
    rows: list[str] = []
    for purpose, kc in node.own.items():
        kind = (
            facts.CMPLATFORM_TYPE_SELF_SIGNED
            if pki.is_self_signed(kc.cert)
            else facts.CMPLATFORM_TYPE_CA_SIGNED
        )
        cells = _cert_cells(
            purpose, kc.cert, kind, multi if kc.multi_server else node.hostname, kc.description
        )
        rows.append(_row(cells, f"{purpose}/{purpose}.pem"))
    for purpose, pending in node.pending.items():
        cells = {
            "certificate": purpose,
            "common-name": pki.common_name(pending.csr.subject),
            "type": facts.CMPLATFORM_TYPE_CSR,
            "key-type": _key_type(pending.csr),
            "distribution": multi if pending.multi_server else node.hostname,
            "issued-by": "",
            "expiration": "",
            "description": "",
        }
        rows.append(_row(cells, f"{purpose}/{purpose}.csr"))
    for store, entries in node.trust.items():
        for file_name, entry in entries.items():
            cells = _cert_cells(
                store, entry.cert, facts.CMPLATFORM_TYPE_TRUST, node.hostname, entry.description
            )
            rows.append(_row(cells, f"{store}/{file_name}"))
    table = f'<table id="certificateList">\n{"".join(rows)}</table>\n'
    return _document("Certificate List", session.user or "", table)


async def download_certificate(
    request: web.Request, twin: Twin, node: Node, session: WebSession
) -> web.Response:
    """``certificateDownload.do?cert=<store>/<file>&format=pem``."""
    store, _, file_name = request.query.get("cert", "").partition("/")
    if request.query.get("format", "pem") != "pem":
        return webapps.not_found()
    cert: x509.Certificate | None = None
    if store in node.own and file_name == f"{store}.pem":
        cert = node.own[store].cert
    elif file_name in node.trust.get(store, {}):
        cert = node.trust[store][file_name].cert
    if cert is None:
        return webapps.not_found()
    return web.Response(
        body=pki.pem(cert).encode(),
        content_type=facts.CMPLATFORM_CERT_CONTENT_TYPE,
        headers={"Content-Disposition": f"attachment; filename={file_name}"},
    )
