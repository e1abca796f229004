"""Client of Cisco Unified OS Administration (``/cmplatform``), the web interface of one node.

Before CUCM 14 there is no Certificate Management REST API, and from 14SU2 a multi-server
certificate can only be uploaded here: this client drives the pages as the administrator's
browser does, following ``docs/os-administration.md`` (the page contract). One instance holds
one session (cookies) of the OS platform administrator, logged in on first use; every form is
opened first for its one-use anti-CSRF token, then posted.

It recognises only what the contract lists. A refused token is retried once from a fresh view
of the form; an expired session (the login form where a page was expected) is logged in again
once and the form opened again, never re-posted blindly. Any other page is a
:class:`CucmUnexpectedPage` naming the URL, the HTTP status and what was missing. Page paths,
field names and markers live in :mod:`activities.clients.cucm.inferred`. The password is sent
in the login post only and appears in no error.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx
from lxml import etree
from pydantic import BaseModel

from activities.clients import pki
from activities.clients.cucm import inferred
from activities.clients.cucm.backoff import retry_after_of, step_reads
from activities.clients.cucm.certmgr import CsrResult, IdentityUploadResult, TrustCertificate
from activities.clients.cucm.errors import (
    CucmAuthError,
    CucmBadRequest,
    CucmFormRefused,
    CucmHttpError,
    CucmIssuerNotTrusted,
    CucmStaleCsr,
    CucmTokenRefused,
    CucmTrustDuplicate,
    CucmUnexpectedPage,
)
from activities.clients.cucm.transport import BasicAuth, HttpsApi, HttpsClient, NodeEndpoint

logger = logging.getLogger(__name__)

_BUTTON_TYPES = frozenset({"submit", "button", "image", "reset"})


class PlatformCertificate(BaseModel):
    """One row of the certificate list (``certificateFindList.do``).

    Attributes:
        certificate: Purpose or trust store (``tomcat``, ``tomcat-trust``).
        common_name: Common name of the certificate (or CSR).
        type: ``Self-signed``, ``CA-signed``, ``CSR Only`` or ``trust-cert``.
        key_type: ``RSA`` or ``EC``.
        distribution: A host name or ``Multi-server(SAN)``.
        issued_by: Issuer's common name, as the page shows it.
        expiration: Expiry date; None when the row shows none (a CSR).
        description: Description given at upload or generation.
        file: The file as the row links it, ``<store>/<file>`` (what the download takes).
    """

    certificate: str
    common_name: str = ""
    type: str = ""
    key_type: str = ""
    distribution: str = ""
    issued_by: str = ""
    expiration: date | None = None
    description: str = ""
    file: str

    @property
    def file_name(self) -> str:
        """The file name without its store (``tomcat.pem``)."""
        return self.file.rsplit("/", 1)[-1]


@dataclass
class _Page:
    """An answer of the node: the response, its URL (no query) and the parsed HTML if any."""

    resp: httpx.Response
    url: str
    doc: etree._Element | None

    @property
    def status(self) -> int:
        return self.resp.status_code


@dataclass
class _Form:
    """A form as a browser would submit it, with what it offers."""

    values: dict[str, str]
    names: set[str]
    options: dict[str, list[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class _Status:
    """The status area of a form result: success or error, and the node's text."""

    ok: bool
    text: str
    url: str


class PlatformAdminClient(HttpsApi):
    """Cisco Unified OS Administration of one node, as the OS platform administrator.

    Use as ``async with PlatformAdminClient(endpoint, auth) as admin:`` or call :meth:`aclose`.
    Calls on one instance run one at a time: the node's form tokens belong to the session.

    Args:
        endpoint: The node; requests go to ``endpoint.https_port``.
        auth: The OS platform administrator (sent in the login form only).
    """

    def __init__(self, endpoint: NodeEndpoint, auth: BasicAuth) -> None:
        self.endpoint = endpoint
        self._auth = auth
        # No HTTP Basic: the password travels in the login form and nowhere else.
        self._http = HttpsClient(endpoint, endpoint.https_port, None, interface="cmplatform")
        self._logged_in = False
        self._lock = asyncio.Lock()

    @property
    def node(self) -> str:
        """FQDN of the node."""
        return self.endpoint.fqdn

    @property
    def host_name(self) -> str:
        """Short host name of the node (the distribution of a single-server CSR)."""
        return self.endpoint.fqdn.split(".", 1)[0]

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
        """Generate a CSR for ``service`` and download it; multi-server only on a publisher.

        The distribution is ``Multi-server(SAN)`` or this node's host name. Fields not given
        keep the form's own values (the common name the node proposes). Generating overwrites
        the CSR pending for the purpose.

        Args:
            service: Certificate purpose (``tomcat``, ``CallManager``...).
            multi_server: Multi-server (SAN) CSR rather than one for this node.
            common_name: Common name; None keeps the one the form proposes.
            key_type: ``rsa`` or ``ec``.
            key_length: Key length (bits).
            hash_algorithm: ``sha256``, ``sha384`` or ``sha512``.
            alt_names: Other domains for the SAN, besides the ones the node adds.

        Returns:
            The CSR, with the nodes the export banner lists in ``exported_nodes``.

        Raises:
            ValueError: ``key_type`` is neither ``rsa`` nor ``ec``.
            CucmBadRequest: The form offers no such purpose, or no distribution naming this
                node (its host name, FQDN or address).
            CucmFormRefused: The node refused the request (its message, verbatim).
            CucmTokenRefused: The node refused the form's token twice.
            CucmAuthError: The OS platform administrator's login was refused.
            CucmUnexpectedPage: A page the contract does not describe, or no CSR to download
                after the node reported success.
        """
        try:
            key = inferred.OS_ADMIN_KEY_TYPES[key_type.lower()]
        except KeyError:
            raise ValueError(
                f"key type {key_type!r} is not one of {sorted(inferred.OS_ADMIN_KEY_TYPES)}"
            ) from None
        distribution: tuple[str, ...] = (
            (inferred.OS_ADMIN_MULTI_SERVER_DISTRIBUTION,)
            if multi_server
            else (self.host_name, self.endpoint.fqdn, self.endpoint.host)
        )
        values: dict[str, str | tuple[str, ...]] = {
            "certificatePurpose": (service,),
            "distribution": distribution,
            "keyType": key,
            "keyLength": str(key_length),
            "hashAlgorithm": hash_algorithm.upper(),
        }
        if common_name:
            values["commonName"] = common_name
        if alt_names:
            values["otherDomains"] = "\n".join(alt_names)
        async with self._lock:
            answer = await self._submit(
                inferred.OS_ADMIN_GENERATE_CSR_PATH,
                inferred.OS_ADMIN_GENERATE_CSR_FIELDS,
                values,
            )
            status = self._expect_status(answer)
            if not status.ok:
                raise self._refused(status)
            csr = await self._download_csr(service)
        if csr is None:
            raise self._unexpected(
                self._url(inferred.OS_ADMIN_DOWNLOAD_CSR_PATH),
                200,
                f"the {service} CSR the node just reported generated (it says none is pending)",
            )
        return CsrResult(
            node=self.node,
            service=service,
            multi_server=multi_server,
            csr_pem=csr,
            exported_nodes=_banner_nodes(status.text, inferred.CSR_EXPORT_BANNER_RE),
            message=self._clean(status.text),
        )

    async def pending_csr(self, service: str) -> str | None:
        """The CSR pending for ``service`` on this node (PEM); None when the node has none.

        Raises:
            CucmFormRefused: The node refused the download (its message, verbatim).
            CucmTokenRefused: The node refused the form's token twice.
            CucmAuthError: The OS platform administrator's login was refused.
            CucmUnexpectedPage: A page the contract does not describe.
        """
        async with self._lock:
            return await self._download_csr(service)

    async def certificates(self) -> list[PlatformCertificate]:
        """Every row of the certificate list: identities, CSRs and trust certificates.

        Raises:
            CucmAuthError: The OS platform administrator's login was refused.
            CucmUnexpectedPage: No certificate table, or a row without its cells or link.
        """
        async with self._lock:
            return await self._certificates()

    async def list_trust(self, store: str) -> list[TrustCertificate]:
        """The certificates of the trust store ``store`` (``tomcat-trust``), each downloaded.

        Raises:
            CucmHttpError: A listed certificate is gone when downloaded (404).
            CucmAuthError: The OS platform administrator's login was refused.
            CucmUnexpectedPage: A page the contract does not describe.
        """
        async with self._lock:
            rows = [row for row in await self._certificates() if row.certificate == store]
            found = []
            for row in rows:
                pem = await self._download_certificate(row.file)
                found.append(self._trust_certificate(row, pem))
            return found

    async def upload_trust(
        self, store: str, pem: str, description: str = "Trust Certificate"
    ) -> None:
        """Upload a CA certificate into the trust store ``store`` (``tomcat-trust``).

        Raises:
            CucmTrustDuplicate: The node says the certificate already exists.
            CucmBadRequest: The form offers no such store.
            CucmFormRefused: Any other refusal (the node's message, verbatim).
            CucmTokenRefused: The node refused the form's token twice.
            CucmAuthError: The OS platform administrator's login was refused.
            CucmUnexpectedPage: A page the contract does not describe.
        """
        async with self._lock:
            status = await self._upload(store, pem, description, root_name="")
        if status.ok:
            return
        if inferred.TRUST_DUPLICATE_RE.search(status.text):
            raise CucmTrustDuplicate(self._clean(status.text), node=self.node, status=200)
        raise self._refused(status)

    async def get_identity(self, service: str) -> str:
        """PEM of the identity certificate installed for ``service`` (maybe not yet served).

        Raises:
            CucmHttpError: The node has no ``<service>/<service>.pem`` (404).
            CucmAuthError: The OS platform administrator's login was refused.
            CucmUnexpectedPage: A page the contract does not describe.
        """
        async with self._lock:
            return await self._download_certificate(f"{service}/{service}.pem")

    async def upload_identity(
        self, service: str, pem: str, *, root_name: str = ""
    ) -> IdentityUploadResult:
        """Upload the signed identity certificate of ``service``.

        The node installs it where its CSR is pending (every SAN node for multi-server); the
        new certificate is served only after Cisco Tomcat restarts on each node.

        Args:
            service: Certificate purpose.
            pem: The certificate, PEM.
            root_name: File name of the issuing CA in the trust store (``rootCertificate``),
                when the caller knows it.

        Returns:
            The upload, with the nodes the banner lists in ``installed_nodes``.

        Raises:
            CucmStaleCsr: The certificate does not match the pending CSR (a newer CSR was
                generated, or this one was uploaded already).
            CucmIssuerNotTrusted: The issuing CA is not in the purpose's trust store.
            CucmBadRequest: The form offers no such purpose.
            CucmFormRefused: Any other refusal (the node's message, verbatim).
            CucmTokenRefused: The node refused the form's token twice.
            CucmAuthError: The OS platform administrator's login was refused.
            CucmUnexpectedPage: A page the contract does not describe.
        """
        async with self._lock:
            status = await self._upload(service, pem, "", root_name=root_name)
        text = self._clean(status.text)
        if not status.ok:
            if inferred.OS_ADMIN_STALE_CSR_RE.search(status.text):
                raise CucmStaleCsr(text, node=self.node, status=200)
            if inferred.ISSUER_NOT_TRUSTED_RE.search(status.text):
                raise CucmIssuerNotTrusted(text, node=self.node, status=200)
            raise self._refused(status)
        return IdentityUploadResult(
            node=self.node,
            service=service,
            installed_nodes=_banner_nodes(status.text, inferred.CERT_UPLOAD_BANNER_RE),
            message=text,
        )

    # -- pages --------------------------------------------------------------------------

    async def _certificates(self) -> list[PlatformCertificate]:
        relogged = False
        while True:
            page = await self._get(inferred.OS_ADMIN_LIST_PATH)
            if self._is_login_form(page):
                relogged = await self._log_in_again(page, relogged)
                continue
            return self._certificate_rows(page)

    async def _download_csr(self, service: str) -> str | None:
        answer = await self._submit(
            inferred.OS_ADMIN_DOWNLOAD_CSR_PATH,
            inferred.OS_ADMIN_DOWNLOAD_CSR_FIELDS,
            {"certificatePurpose": service},
            accept_file=True,
        )
        if isinstance(answer, _Status):
            if not answer.ok and inferred.OS_ADMIN_NO_CSR_RE.search(answer.text):
                return None
            if not answer.ok:
                raise self._refused(answer)
            raise self._unexpected(
                answer.url, 200, f"the {service} CSR ({inferred.OS_ADMIN_CSR_CONTENT_TYPE})"
            )
        text = answer.resp.text
        if "-----BEGIN" not in text or "CERTIFICATE REQUEST-----" not in text:
            raise self._unexpected(answer.url, answer.status, "a PEM certificate request")
        return text.strip() + "\n"

    async def _download_certificate(self, file: str) -> str:
        path = inferred.OS_ADMIN_DOWNLOAD_CERT_PATH
        params = {"cert": file, "format": inferred.OS_ADMIN_DOWNLOAD_CERT_FORMAT}
        relogged = False
        while True:
            page = await self._get(path, params=params)
            if page.status == 404:
                raise CucmHttpError(
                    f"{page.url} has no certificate {file} (HTTP 404)", node=self.node, status=404
                )
            if self._is_login_form(page):
                relogged = await self._log_in_again(page, relogged)
                continue
            text = page.resp.text
            if page.status != 200 or "-----BEGIN CERTIFICATE-----" not in text:
                raise self._unexpected(page.url, page.status, f"the PEM certificate {file}", page)
            return text.strip() + "\n"

    async def _upload(self, name: str, pem: str, description: str, *, root_name: str) -> _Status:
        values: dict[str, str | tuple[str, ...]] = {"NAME": (name,), "description": description}
        expected: tuple[str, ...] = inferred.OS_ADMIN_UPLOAD_FIELDS
        if root_name:
            values[inferred.OS_ADMIN_UPLOAD_ROOT_FIELD] = root_name
            expected = (*expected, inferred.OS_ADMIN_UPLOAD_ROOT_FIELD)
        files = {"file": (f"{name}.pem", pem.encode(), inferred.OS_ADMIN_UPLOAD_FILE_TYPE)}
        answer = await self._submit(inferred.OS_ADMIN_UPLOAD_PATH, expected, values, files=files)
        return self._expect_status(answer)

    # -- forms --------------------------------------------------------------------------

    async def _submit(
        self,
        path: str,
        expected: Sequence[str],
        values: Mapping[str, str | tuple[str, ...]],
        *,
        files: Mapping[str, tuple[str, bytes, str]] | None = None,
        accept_file: bool = False,
    ) -> _Status | _Page:
        """Open the form at ``path``, fill it in and post it with its token.

        A refused token is retried once from a new view of the form; an expired session is
        logged in again once and the form opened again (the node did nothing with a post it
        answered with the login form).

        Args:
            path: The form's page.
            expected: Fields the form must have.
            values: Field values. A string is posted as it is; a tuple is a choice the page
                lists (purpose, distribution): the first spelling the drop-down offers is
                posted, and none offered is a CucmBadRequest before anything is posted.
            files: Multipart file fields.
            accept_file: A download is an answer (returned as the page).

        Returns:
            The status area of the result, or the download.
        """
        relogged = False
        token_refused = False
        while True:
            page = await self._get(path)
            if self._is_login_form(page):
                relogged = await self._log_in_again(page, relogged)
                continue
            form = self._form(page, expected)
            data = self._fill(page, form, values)
            resp = await self._http.request("POST", path, data=data, files=files)
            answer = self._page(resp, path)
            if accept_file and resp.status_code == 200 and self._is_download(resp):
                return answer
            if self._is_login_form(answer):
                relogged = await self._log_in_again(answer, relogged)
                continue
            status = self._status(answer)
            if inferred.OS_ADMIN_TOKEN_REFUSED_RE.search(status.text):
                if token_refused:
                    raise CucmTokenRefused(
                        f"{status.url} refused the form's token twice, each time from a fresh "
                        f"view of the form; the node says {self._clean(status.text)!r}",
                        node=self.node,
                        url=status.url,
                        node_message=self._clean(status.text),
                    )
                token_refused = True
                logger.info("%s: %s refused the form's token; opening it again", self.node, path)
                continue
            return status

    def _form(self, page: _Page, expected: Sequence[str]) -> _Form:
        """The form of ``page`` that has every ``expected`` field (the first such)."""
        if page.status != 200 or page.doc is None:
            raise self._unexpected(
                page.url, page.status, f"the form with fields {', '.join(expected)}", page
            )
        forms = [_read_form(f) for f in _elements(page.doc, "//form")]
        for form in forms:
            if all(name in form.names for name in expected):
                token = form.values.get(inferred.OS_ADMIN_TOKEN_FIELD, "")
                if inferred.OS_ADMIN_TOKEN_FIELD in expected and not token:
                    raise self._unexpected(page.url, page.status, "a value in the token field")
                return form
        if not forms:
            raise self._unexpected(page.url, page.status, "a form (the page has none)", page)
        best = max(forms, key=lambda f: sum(name in f.names for name in expected))
        missing = [name for name in expected if name not in best.names]
        raise self._unexpected(
            page.url, page.status, f"the form's fields {', '.join(missing)}", page
        )

    def _fill(
        self,
        page: _Page,
        form: _Form,
        values: Mapping[str, str | tuple[str, ...]],
    ) -> dict[str, str]:
        data = dict(form.values)
        for name, wanted in values.items():
            # Key lengths and hashes are left unchecked: the real page may rewrite those
            # drop-downs from script as the key type changes.
            if isinstance(wanted, str):
                data[name] = wanted
                continue
            spellings = wanted
            offered = form.options.get(name)
            if offered is None:
                data[name] = spellings[0]
                continue
            chosen = next(
                (
                    option
                    for spelling in spellings
                    for option in offered
                    if option.casefold() == spelling.casefold()
                ),
                None,
            )
            if chosen is None:
                raise CucmBadRequest(
                    f"{page.url} offers no {name} {spellings[0]!r} (it offers "
                    f"{', '.join(repr(o) for o in offered) or 'nothing'})",
                    node=self.node,
                    status=200,
                )
            data[name] = chosen
        return data

    def _status(self, page: _Page) -> _Status:
        """The status area of a form result, or CucmUnexpectedPage."""
        if page.status != 200 or page.doc is None:
            raise self._unexpected(
                page.url,
                page.status,
                f'the status area <div id="{inferred.OS_ADMIN_STATUS_ID}">',
                page,
            )
        found = _elements(page.doc, f'//*[@id="{inferred.OS_ADMIN_STATUS_ID}"]')
        if not found:
            raise self._unexpected(
                page.url,
                page.status,
                f'the status area <div id="{inferred.OS_ADMIN_STATUS_ID}">',
                page,
            )
        area = found[0]
        classes = set((area.get("class") or "").split())
        text = _text(area)
        if inferred.OS_ADMIN_TOKEN_REFUSED_RE.search(text):
            return _Status(ok=False, text=text, url=page.url)
        if inferred.OS_ADMIN_STATUS_SUCCESS_CLASS in classes:
            return _Status(ok=True, text=text, url=page.url)
        if inferred.OS_ADMIN_STATUS_ERROR_CLASS in classes:
            return _Status(ok=False, text=text, url=page.url)
        raise self._unexpected(
            page.url,
            page.status,
            f"class {inferred.OS_ADMIN_STATUS_SUCCESS_CLASS} or "
            f"{inferred.OS_ADMIN_STATUS_ERROR_CLASS} on the status area",
            page,
        )

    def _expect_status(self, answer: _Status | _Page) -> _Status:
        if isinstance(answer, _Status):
            return answer
        raise self._unexpected(answer.url, answer.status, "the status area, not a download")

    def _certificate_rows(self, page: _Page) -> list[PlatformCertificate]:
        table_id = inferred.OS_ADMIN_LIST_TABLE_ID
        tables = _elements(page.doc, f'//table[@id="{table_id}"]') if page.doc is not None else []
        if page.status != 200 or not tables:
            raise self._unexpected(
                page.url, page.status, f'the certificate table <table id="{table_id}">', page
            )
        rows = []
        # Rows of header cells only (<th>) are headings, not certificates.
        body = [tr for tr in _elements(tables[0], ".//tr") if _elements(tr, "./td")]
        for number, tr in enumerate(body, start=1):
            cells = {
                cls: _text(td)
                for td in _elements(tr, "./td")
                for cls in (td.get("class") or "").split()
            }
            missing = [c for c in inferred.OS_ADMIN_LIST_CELLS.values() if c not in cells]
            file = _edit_link_file(tr)
            if file is None:
                missing.append(
                    f"a link {inferred.OS_ADMIN_EDIT_LINK_PAGE}?"
                    f"{inferred.OS_ADMIN_EDIT_LINK_PARAM}=<store>/<file>"
                )
            if missing:
                raise self._unexpected(
                    page.url, page.status, f"in row {number}: {', '.join(missing)}"
                )
            fields = {name: cells[cls] for name, cls in inferred.OS_ADMIN_LIST_CELLS.items()}
            expiration = fields.pop("expiration")
            try:
                expires = (
                    datetime.strptime(expiration, inferred.OS_ADMIN_EXPIRATION_FORMAT).date()
                    if expiration
                    else None
                )
            except ValueError:
                raise self._unexpected(
                    page.url,
                    page.status,
                    f"in row {number}: an expiration date MM/DD/YYYY (it reads {expiration!r})",
                ) from None
            rows.append(PlatformCertificate(**fields, expiration=expires, file=file))
        return rows

    def _trust_certificate(self, row: PlatformCertificate, pem: str) -> TrustCertificate:
        try:
            info = pki.certificate_info(pem)
        except pki.PkiError:
            raise self._unexpected(
                self._url(inferred.OS_ADMIN_DOWNLOAD_CERT_PATH),
                200,
                f"a readable certificate for {row.file}",
            ) from None
        return TrustCertificate(
            certificate_pem=pem,
            file_name=row.file_name,
            subject=row.common_name or info.subject_cn,
            serial=info.serial_hex,
            description=row.description,
            store=row.certificate,
        )

    # -- session ------------------------------------------------------------------------

    async def _get(self, path: str, params: Mapping[str, str] | None = None) -> _Page:
        """GET a page in the session, following redirects on the node."""
        if not self._logged_in:
            await self._log_in()
        return await self._follow(path, params)

    async def _follow(self, path: str, params: Mapping[str, str] | None = None) -> _Page:
        port = self.endpoint.https_port
        current = path
        for _ in range(inferred.OS_ADMIN_MAX_REDIRECTS + 1):
            # A page GET changes nothing: a 503 or a dropped answer is simply asked again.
            resp = await self._http.request("GET", current, params=params, retry=step_reads())
            if not resp.is_redirect:
                return self._page(resp, current)
            target = urljoin(self._url(current), resp.headers.get("location", ""))
            split = urlsplit(target)
            if (split.hostname or "").lower() != self.node.lower() or (split.port or 443) != port:
                raise self._unexpected(
                    self._url(current),
                    resp.status_code,
                    f"a page of the node (it redirects off the node, to {split.scheme}://"
                    f"{split.netloc}{split.path})",
                )
            current = split.path + (f"?{split.query}" if split.query else "")
            params = None
        raise self._unexpected(
            self._url(path), 302, f"a page within {inferred.OS_ADMIN_MAX_REDIRECTS} redirects"
        )

    async def _log_in(self) -> None:
        """Open the application (its login form) and log in as the OS platform administrator.

        Raises:
            CucmAuthError: The node answered the login form again.
            CucmUnexpectedPage: No login form, or an answer the contract does not describe.
        """
        page = await self._follow(inferred.OS_ADMIN_ROOT_PATH)
        form = self._login_form(page)
        if form is None:
            raise self._unexpected(
                page.url,
                page.status,
                f"the login form ({inferred.OS_ADMIN_LOGIN_ACTION} with "
                f"{inferred.OS_ADMIN_LOGIN_USER_FIELD} and "
                f"{inferred.OS_ADMIN_LOGIN_PASSWORD_FIELD})",
                page,
            )
        nav, app = inferred.OS_ADMIN_APP_NAV
        data = {nav: app, **form.values}
        data[inferred.OS_ADMIN_LOGIN_USER_FIELD] = self._auth.username
        data[inferred.OS_ADMIN_LOGIN_PASSWORD_FIELD] = self._auth.password
        resp = await self._http.request("POST", inferred.OS_ADMIN_LOGIN_PATH, data=data)
        url = self._url(inferred.OS_ADMIN_LOGIN_PATH)
        if resp.is_redirect:
            target = urlsplit(urljoin(url, resp.headers.get("location", "")))
            if target.path == inferred.OS_ADMIN_HOME_PATH:
                self._logged_in = True
                return
            raise self._unexpected(
                url,
                resp.status_code,
                f"a redirect to {inferred.OS_ADMIN_HOME_PATH} (it redirects to {target.path})",
            )
        answer = self._page(resp, inferred.OS_ADMIN_LOGIN_PATH)
        if resp.status_code == 200 and self._is_login_form(answer):
            reason = ""
            if answer.doc is not None:
                shown = _elements(answer.doc, f'//*[@id="{inferred.OS_ADMIN_LOGIN_ERROR_ID}"]')
                reason = _text(shown[0]) if shown else ""
            said = f" ({self._clean(reason)!r})" if reason else ""
            raise CucmAuthError(
                f"Cisco Unified OS Administration refused the login of "
                f"{self._auth.username!r}{said}: it needs the OS platform administrator (the "
                "account of the node's CLI, os_admin of the cluster in the inventory), not an "
                "application user",
                node=self.node,
            )
        raise self._unexpected(
            url, resp.status_code, f"a redirect to {inferred.OS_ADMIN_HOME_PATH}", answer
        )

    async def _log_in_again(self, page: _Page, relogged: bool) -> bool:
        """Log in again after the login form answered ``page``; once per operation."""
        if relogged:
            raise self._unexpected(
                page.url,
                page.status,
                "the page itself: the login form answered again right after logging in again",
            )
        logger.info("%s: the OS Administration session expired; logging in again", self.node)
        self._logged_in = False
        await self._log_in()
        return True

    def _login_form(self, page: _Page) -> _Form | None:
        if page.status != 200 or page.doc is None:
            return None
        for element in _elements(page.doc, "//form"):
            action = (element.get("action") or "").split("?")[0]
            form = _read_form(element)
            if (
                action.endswith(inferred.OS_ADMIN_LOGIN_ACTION)
                and inferred.OS_ADMIN_LOGIN_USER_FIELD in form.names
                and inferred.OS_ADMIN_LOGIN_PASSWORD_FIELD in form.names
            ):
                return form
        return None

    def _is_login_form(self, page: _Page) -> bool:
        return self._login_form(page) is not None

    # -- helpers ------------------------------------------------------------------------

    def _url(self, path: str) -> str:
        return f"https://{self.node}:{self.endpoint.https_port}{path.split('?')[0]}"

    def _page(self, resp: httpx.Response, path: str) -> _Page:
        content_type = resp.headers.get("content-type", "").split(";")[0].strip().lower()
        doc = None
        if content_type in ("text/html", "application/xhtml+xml") and resp.content.strip():
            # The response's charset (httpx falls back to UTF-8), not lxml's Latin-1 default.
            parser = etree.HTMLParser(encoding=resp.encoding or "utf-8", no_network=True)
            try:
                doc = etree.fromstring(resp.content, parser)
            except etree.LxmlError:
                doc = None
        return _Page(resp=resp, url=self._url(path), doc=doc)

    @staticmethod
    def _is_download(resp: httpx.Response) -> bool:
        content_type = resp.headers.get("content-type", "").split(";")[0].strip().lower()
        disposition = resp.headers.get("content-disposition", "").lower()
        return content_type == inferred.OS_ADMIN_CSR_CONTENT_TYPE or "attachment" in disposition

    def _clean(self, text: str) -> str:
        """``text`` from the node, with the password blanked should the node ever echo it."""
        secret = self._auth.password
        return text.replace(secret, "********") if secret else text

    def _refused(self, status: _Status) -> CucmFormRefused:
        text = self._clean(status.text)
        return CucmFormRefused(text, node=self.node, url=status.url, node_message=text)

    def _unexpected(
        self, url: str, status: int, missing: str, page: _Page | None = None
    ) -> CucmUnexpectedPage:
        what = f", {self._clean(_describe(page))}" if page is not None else ""
        return CucmUnexpectedPage(
            f"unexpected page from {url} (HTTP {status}{what}): expected {missing}",
            node=self.node,
            url=url,
            status=status,
            missing=missing,
            asked_wait=retry_after_of(page.resp) if page is not None else None,
        )


def _banner_nodes(text: str, pattern: re.Pattern[str]) -> list[str]:
    """Nodes of the banner line of a status area; the banner patterns read to the end of
    their text, so a line the node adds after the banner must not become node names."""
    for line in text.split("\n"):
        nodes = inferred.banner_nodes(line, pattern)
        if nodes:
            return nodes
    return []


def _elements(node: etree._Element, path: str) -> list[etree._Element]:
    found = node.xpath(path)
    return [e for e in found if isinstance(e, etree._Element)] if isinstance(found, list) else []


def _text(element: etree._Element) -> str:
    """The text a browser shows for ``element``: a line per ``<br>`` or block, blanks as one."""
    lines = _flatten(element).split("\n")
    return "\n".join(" ".join(line.split()) for line in lines if line.split())


def _flatten(element: etree._Element) -> str:
    out = [element.text or ""]
    for child in element:
        if not isinstance(child.tag, str):
            out.append(child.tail or "")
            continue
        if child.tag in ("br", "p", "div", "li", "tr"):
            out.append("\n")
        out.append(_flatten(child))
        if child.tag in ("p", "div", "li", "tr"):
            out.append("\n")
        out.append(child.tail or "")
    return "".join(out)


def _read_form(element: etree._Element) -> _Form:
    """A form's fields as a browser submits them (file fields named only)."""
    form = _Form(values={}, names=set())
    for control in _elements(element, ".//input|.//select|.//textarea"):
        name = control.get("name")
        if not name:
            continue
        form.names.add(name)
        if control.tag == "select":
            options = _elements(control, ".//option")
            offered = [o.get("value") or _text(o) for o in options]
            form.options[name] = offered
            chosen = next(
                (v for o, v in zip(options, offered, strict=True) if o.get("selected") is not None),
                offered[0] if offered else "",
            )
            form.values[name] = chosen
        elif control.tag == "textarea":
            form.values[name] = control.text or ""
        else:
            kind = (control.get("type") or "text").lower()
            if kind in _BUTTON_TYPES or kind == "file":
                continue
            if kind in ("checkbox", "radio"):
                if control.get("checked") is not None:
                    form.values[name] = control.get("value") or "on"
                continue
            form.values[name] = control.get("value") or ""
    return form


def _edit_link_file(row: etree._Element) -> str | None:
    """``<store>/<file>`` of the row's link to the edit page, if it has one."""
    for link in _elements(row, ".//a[@href]"):
        href = link.get("href") or ""
        split = urlsplit(href)
        if not split.path.endswith(inferred.OS_ADMIN_EDIT_LINK_PAGE):
            continue
        files = parse_qs(split.query).get(inferred.OS_ADMIN_EDIT_LINK_PARAM)
        if files and "/" in files[0]:
            return files[0]
    return None


def _describe(page: _Page) -> str:
    """A page in a few words, for an error: its title, or its first words."""
    if page.doc is None:
        content_type = page.resp.headers.get("content-type", "no content type")
        return f"{content_type.split(';')[0]}, {len(page.resp.content)} bytes"
    titles = _elements(page.doc, "//title")
    title = _text(titles[0]) if titles else ""
    if title:
        return f"titled {title!r}"
    words = " ".join(_flatten(page.doc).split())
    return repr(words[:80] + ("…" if len(words) > 80 else "")) if words else "an empty page"
