"""Cisco Unified OS Administration (``/cmplatform``) of the twin, driven like a browser.

The page contract is docs/os-administration.md; the client here is written for the test (httpx
with a cookie jar), not ucrenew's adapter. The journal is the oracle of what the cluster did.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import html
import re
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from lab import facts
from lab.faults import Fault
from lab.server import Lab
from lab.timing import FAST, ServiceTiming
from tests.lab.conftest import LabHandle, lab_spec

NODES = ["cucm-pub", "cucm-sub1", "cucm-sub2", "imp-pub"]
DOMAIN = "lab.example.com"
TOMCAT = "Cisco Tomcat"
RELEASE_12_5 = "12.5.1.14900-63"
RELEASE_15 = "15.0.1.10000-32"

_TOKEN = re.compile(r'name="token" value="([^"]*)"')
_STATUS = re.compile(r'<div id="statusMessage" class="([^"]+)">(.*?)</div>', re.S)


# -- a small CA ------------------------------------------------------------------------------


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def fingerprint(pem: str | bytes) -> str:
    data = pem.encode() if isinstance(pem, str) else pem
    return x509.load_pem_x509_certificate(data).fingerprint(hashes.SHA256()).hex()


@dataclasses.dataclass
class SigningCa:
    """A root and an issuing intermediate that sign CSRs as they are."""

    root: x509.Certificate
    root_key: rsa.RSAPrivateKey
    issuing: x509.Certificate
    issuing_key: rsa.RSAPrivateKey

    @classmethod
    def create(cls) -> SigningCa:
        root_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        issuing_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        root = cls._ca(_name("OS Admin Test Root"), _name("OS Admin Test Root"), root_key, root_key)
        issuing = cls._ca(
            _name("OS Admin Test Issuing"), root.subject, issuing_key, root_key, issuing_key
        )
        return cls(root, root_key, issuing, issuing_key)

    @staticmethod
    def _ca(
        subject: x509.Name,
        issuer: x509.Name,
        key: rsa.RSAPrivateKey,
        signer: rsa.RSAPrivateKey,
        subject_key: rsa.RSAPrivateKey | None = None,
    ) -> x509.Certificate:
        now = dt.datetime.now(dt.UTC)
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer)
            .public_key((subject_key or key).public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(signer, hashes.SHA256())
        )

    @property
    def root_pem(self) -> str:
        return _pem(self.root)

    @property
    def issuing_pem(self) -> str:
        return _pem(self.issuing)

    def sign(self, csr_pem: str | bytes, san: Sequence[str] | None = None) -> str:
        data = csr_pem.encode() if isinstance(csr_pem, str) else csr_pem
        csr = x509.load_pem_x509_csr(data)
        names = san
        if names is None:
            ext = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName)
            names = ext.value.get_values_for_type(x509.DNSName)
        now = dt.datetime.now(dt.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(csr.subject)
            .issuer_name(self.issuing.subject)
            .public_key(csr.public_key())  # type: ignore[arg-type]
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=365))
            .add_extension(
                x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False
            )
            .sign(self.issuing_key, hashes.SHA256())
        )
        return _pem(cert)


@pytest.fixture(scope="module")
def ca() -> SigningCa:
    return SigningCa.create()


# -- a browser -------------------------------------------------------------------------------


@dataclasses.dataclass
class Page:
    """A page as the browser got it."""

    response: httpx.Response

    @property
    def text(self) -> str:
        return self.response.text

    @property
    def token(self) -> str | None:
        m = _TOKEN.search(self.text)
        return html.unescape(m.group(1)) if m else None

    @property
    def status(self) -> tuple[str, list[str]] | None:
        """(class, lines) of the status area, None without one."""
        m = _STATUS.search(self.text)
        if m is None:
            return None
        return m.group(1), [html.unescape(x) for x in m.group(2).split("<br>")]

    @property
    def is_login_form(self) -> bool:
        return 'action="/cmplatform/j_security_check"' in self.text


class Browser:
    """An administrator's browser on one node's 8443 (cookies kept, redirects not followed)."""

    def __init__(self, lab: LabHandle, host: str) -> None:
        ep = lab.endpoint(host)
        self.lab = lab
        self.host = host
        self.http = httpx.AsyncClient(
            base_url=f"https://{ep.host}:{ep.https_port}",
            verify=ep.ssl_context(),
            headers={"Host": f"{ep.fqdn}:{ep.https_port}"},
            timeout=10,
        )
        self._ext = {"sni_hostname": ep.fqdn}

    async def __aenter__(self) -> Browser:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.http.aclose()

    @property
    def session_id(self) -> str | None:
        return self.http.cookies.get(facts.CMPLATFORM_SESSION_COOKIE)

    async def get(self, path: str) -> Page:
        return Page(await self.http.get(path, extensions=self._ext))

    async def post(
        self, path: str, data: dict[str, str], files: dict[str, tuple[str, bytes]] | None = None
    ) -> Page:
        return Page(await self.http.post(path, data=data, files=files, extensions=self._ext))

    async def login(self, username: str | None = None, password: str | None = None) -> Page:
        await self.get("/cmplatform/showHome.do")
        admin = self.lab.os_admin
        return await self.post(
            "/cmplatform/j_security_check",
            {
                "appNav": "cmplatform",
                "j_username": admin.username if username is None else username,
                "j_password": admin.password if password is None else password,
            },
        )

    async def token(self, page: str) -> str:
        form = await self.get(f"/cmplatform/{page}")
        assert form.response.status_code == 200 and form.token, form.text
        return form.token

    async def generate_csr(
        self, distribution: str = "Multi-server(SAN)", purpose: str = "tomcat"
    ) -> Page:
        token = await self.token("certificateGenerateNewCsr.do")
        return await self.post(
            "/cmplatform/certificateGenerateNewCsr.do",
            {
                "token": token,
                "certificatePurpose": purpose,
                "distribution": distribution,
                "commonName": "",
                "otherDomains": "",
                "keyType": "RSA",
                "keyLength": "2048",
                "hashAlgorithm": "SHA256",
            },
        )

    async def download_csr(self, purpose: str = "tomcat") -> httpx.Response:
        token = await self.token("certificateDownloadCsr.do")
        page = await self.post(
            "/cmplatform/certificateDownloadCsr.do",
            {"token": token, "certificatePurpose": purpose},
        )
        return page.response

    async def upload(self, name: str, pem: str, description: str = "") -> Page:
        token = await self.token("certificateUpload.do")
        return await self.post(
            "/cmplatform/certificateUpload.do",
            {"token": token, "NAME": name, "description": description, "rootCertificate": ""},
            files={"file": ("cert.pem", pem.encode())},
        )


def journal(h: LabHandle, kind: str, since: int = 0) -> list[dict[str, object]]:
    return [{"node": e.node, **e.data} for e in h.lab.journal.entries(kind, since=since)]


def csr_banner(nodes: Sequence[str]) -> str:
    return f"CSR export operation successful on the nodes [{', '.join(nodes)}]."


def upload_banner(nodes: Sequence[str]) -> str:
    return f"Certificate upload operation successful for the nodes {','.join(nodes)}."


async def settled(h: LabHandle, host: str, service: str, status: str) -> None:
    node = h.lab.cluster.node(host)
    deadline = time.monotonic() + 5
    while node.service(service).status != status:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.005)


# -- session -------------------------------------------------------------------------------


async def test_login_with_the_os_platform_administrator(lab: LabHandle) -> None:
    """[CODE S26] GET /cmplatform gives a JSESSIONID; j_security_check takes appNav,
    j_username and j_password of the OS platform administrator (cucm-interfaces.md §1.5)."""
    async with Browser(lab, "cucm-pub") as browser:
        first = await browser.get("/cmplatform/")
        assert first.response.status_code == 302
        assert first.response.headers["location"] == "/cmplatform/showHome.do"
        form = await browser.get("/cmplatform/showHome.do")
        assert form.response.status_code == 200 and form.is_login_form
        assert 'name="appNav" value="cmplatform"' in form.text
        anonymous = browser.session_id
        assert anonymous

        refused = await browser.login(password="wrong")
        assert refused.response.status_code == 200 and refused.is_login_form
        assert f'<div id="loginError">{facts.CMPLATFORM_LOGIN_ERROR}</div>' in refused.text
        app_user = lab.app_user  # the AXL account is not an OS administrator
        assert (await browser.login(app_user.username, app_user.password)).is_login_form
        assert (await browser.get("/cmplatform/certificateFindList.do")).is_login_form

        ok = await browser.login()
        assert ok.response.status_code == 302
        assert ok.response.headers["location"] == "/cmplatform/showHome.do"
        assert browser.session_id and browser.session_id != anonymous
        home = await browser.get("/cmplatform/showHome.do")
        assert home.response.status_code == 200 and not home.is_login_form
        assert "certificateFindList.do" in home.text
    assert [e["user"] for e in journal(lab, "cmplatform.login-refused")] == [
        lab.os_admin.username,
        app_user.username,
    ]
    assert [e["user"] for e in journal(lab, "cmplatform.login")] == [lab.os_admin.username]


async def test_token_missing_reused_or_stale_does_nothing(lab: LabHandle) -> None:
    """[CODE S26] A POST without its page's Struts token answers "Couldn't get token. You may
    be trying too often." and does nothing."""
    page = "/cmplatform/certificateGenerateNewCsr.do"
    fields = {
        "certificatePurpose": "tomcat",
        "distribution": "Multi-server(SAN)",
        "keyType": "RSA",
        "keyLength": "2048",
        "hashAlgorithm": "SHA256",
    }
    refused = (facts.CMPLATFORM_STATUS_ERROR_CLASS, [facts.CMPLATFORM_TOKEN_REFUSED])
    async with Browser(lab, "cucm-pub") as browser:
        await browser.login()
        stale = await browser.token("certificateGenerateNewCsr.do")
        assert stale != await browser.token("certificateGenerateNewCsr.do")
        fresh = None
        for token in (stale, None):
            data = dict(fields, token=token) if token else fields
            answer = await browser.post(page, data)
            assert answer.response.status_code == 200 and answer.status == refused
            fresh = answer.token  # the form again, with a fresh token (a page view)
        assert fresh is not None
        assert journal(lab, "csr.generated") == []

        done = await browser.post(page, dict(fields, token=fresh))
        assert done.status == (facts.CMPLATFORM_STATUS_SUCCESS_CLASS, [csr_banner(NODES)])
        again = await browser.post(page, dict(fields, token=fresh))
        assert again.status == refused
    assert len(journal(lab, "csr.generated")) == 1
    assert [e["reason"] for e in journal(lab, "cmplatform.token-refused")] == [
        "stale",
        "missing",
        "reused",
    ]


@pytest.fixture
async def short_session_lab(tmp_path: Path) -> AsyncIterator[LabHandle]:
    timing = FAST.model_copy(update={"cmplatform_session_idle": 0.3})
    async with Lab(lab_spec(), tmp_path / "lab", timing) as running:
        yield LabHandle(running)


async def test_an_idle_session_expires_to_the_login_form(short_session_lab: LabHandle) -> None:
    lab = short_session_lab
    async with Browser(lab, "cucm-pub") as browser:
        await browser.login()
        token = await browser.token("certificateUpload.do")
        await asyncio.sleep(0.5)
        expired = await browser.post(
            "/cmplatform/certificateUpload.do",
            {"token": token, "NAME": "tomcat-trust", "description": ""},
            files={"file": ("root.pem", SigningCa.create().root_pem.encode())},
        )
        assert expired.response.status_code == 200 and expired.is_login_form
        assert journal(lab, "trust.uploaded") == []
        assert [e["reason"] for e in journal(lab, "cmplatform.session-expired")] == ["idle"]
        await browser.login()
        assert not (await browser.get("/cmplatform/certificateFindList.do")).is_login_form


async def test_a_session_expired_fault_ends_the_session(lab: LabHandle) -> None:
    async with Browser(lab, "cucm-sub1") as browser:
        await browser.login()
        await lab.lab.add_fault(
            Fault(kind="session-expired", node="cucm-sub1", target="cmplatform", count=1)
        )
        assert (await browser.get("/cmplatform/certificateFindList.do")).is_login_form
        await browser.login()
        assert not (await browser.get("/cmplatform/certificateFindList.do")).is_login_form
    assert [e["reason"] for e in journal(lab, "cmplatform.session-expired")] == ["fault"]


# -- the multi-server procedure ----------------------------------------------------------


@pytest.mark.parametrize("version", [RELEASE_12_5, RELEASE_15])
async def test_multi_server_renewal_through_the_pages(
    make_lab, ca: SigningCa, version: str
) -> None:  # type: ignore[no-untyped-def]
    """[DOC S1] Generate a Multi-server(SAN) CSR on the publisher ("CSR export operation
    successful on the nodes [...]"), download it, upload root and intermediate as tomcat-trust
    (cluster-wide), upload the signed certificate as tomcat ("Certificate upload operation
    successful for the nodes ..."): every node of the SAN is named. Before 14 this is the only
    path (no REST, [DOC S8]); from 14SU2 the only one for the upload ([DOC S3])."""
    async with make_lab(version=version) as running:
        h = LabHandle(running)
        async with Browser(h, "cucm-pub") as browser:
            await browser.login()
            generated = await browser.generate_csr()
            assert generated.status == (facts.CMPLATFORM_STATUS_SUCCESS_CLASS, [csr_banner(NODES)])
            listing = await browser.get("/cmplatform/certificateFindList.do")
            assert '<table id="certificateList">' in listing.text
            assert re.search(
                r'<td class="certificate">tomcat</td><td class="common-name">cucm-pub-ms\.'
                r'lab\.example\.com</td><td class="type">CSR Only</td><td class="key-type">RSA'
                r'</td><td class="distribution">Multi-server\(SAN\)</td>',
                listing.text,
            )

            download = await browser.download_csr()
            assert download.status_code == 200
            assert download.headers["content-type"].startswith("application/pkcs10")
            assert "filename=tomcat.csr" in download.headers["content-disposition"]
            csr = x509.load_pem_x509_csr(download.content)
            ext = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName)
            assert set(ext.value.get_values_for_type(x509.DNSName)) >= {
                f"{n}.{DOMAIN}" for n in NODES
            }
            leaf = ca.sign(download.content)

            for pem, what in ((ca.root_pem, "root"), (ca.issuing_pem, "issuing")):
                trusted = await browser.upload("tomcat-trust", pem, f"Test {what}")
                assert trusted.status == (
                    facts.CMPLATFORM_STATUS_SUCCESS_CLASS,
                    [facts.CMPLATFORM_UPLOAD_SUCCESS],
                )
            assert [sorted(e["nodes"]) for e in journal(h, "trust.uploaded")] == [
                sorted(NODES),
                sorted(NODES),
            ]

            since = running.journal.last_seq
            installed = await browser.upload("tomcat", leaf)
            assert installed.status == (
                facts.CMPLATFORM_STATUS_SUCCESS_CLASS,
                [facts.CMPLATFORM_UPLOAD_SUCCESS, upload_banner(NODES)],
            )
            assert [e["nodes"] for e in journal(h, "identity.uploaded", since)] == [NODES]
            assert journal(h, "cmplatform.uploaded", since)[0]["kind"] == "identity"
            got = await browser.get(
                "/cmplatform/certificateDownload.do?cert=tomcat/tomcat.pem&format=pem"
            )
            assert got.response.headers["content-type"].startswith("application/x-pem-file")
            assert fingerprint(got.response.content) == fingerprint(leaf)
            listing = await browser.get("/cmplatform/certificateFindList.do")
            assert re.search(
                r'<td class="certificate">tomcat</td><td class="common-name">[^<]*</td>'
                r'<td class="type">CA-signed</td><td class="key-type">RSA</td>'
                r'<td class="distribution">Multi-server\(SAN\)</td>'
                r'<td class="issued-by">OS Admin Test Issuing</td>',
                listing.text,
            )
            gone = await browser.get(
                "/cmplatform/certificateDownload.do?cert=tomcat/nope.pem&format=pem"
            )
            assert gone.response.status_code == 404
        for n in NODES:
            assert fingerprint(running.cluster.node(n).own["tomcat"].pem) == fingerprint(leaf)


@pytest.mark.parametrize("failure", ["tomcat-stopped", "paws-down", "unreachable"])
async def test_a_node_that_cannot_take_part_is_missing_from_both_banners(
    lab: LabHandle, ca: SigningCa, failure: str
) -> None:
    """[DOC S1] Cisco Tomcat and Platform Administrative Web Service must run on every node;
    a node where they do not (or that is down) is missing from "CSR export operation
    successful on the nodes [...]" and from the upload banner."""
    running = lab.lab
    if failure == "tomcat-stopped":
        running.cluster.control(running.cluster.node("cucm-sub2"), TOMCAT, "stop", "test")
        await settled(lab, "cucm-sub2", TOMCAT, "Stopped")
    else:
        await running.add_fault(Fault(kind=failure, node="cucm-sub2"))  # type: ignore[arg-type]
    reached = ["cucm-pub", "cucm-sub1", "imp-pub"]
    async with Browser(lab, "cucm-pub") as browser:
        await browser.login()
        assert (await browser.generate_csr()).status == (
            facts.CMPLATFORM_STATUS_SUCCESS_CLASS,
            [csr_banner(reached)],
        )
        leaf = ca.sign((await browser.download_csr()).content)
        await browser.upload("tomcat-trust", ca.root_pem)
        await browser.upload("tomcat-trust", ca.issuing_pem)
        installed = await browser.upload("tomcat", leaf)
    assert installed.status == (
        facts.CMPLATFORM_STATUS_SUCCESS_CLASS,
        [facts.CMPLATFORM_UPLOAD_SUCCESS, upload_banner(reached)],
    )
    assert journal(lab, "identity.uploaded")[0]["nodes"] == reached


async def test_wrong_purpose_and_untrusted_issuer_are_refused(
    lab: LabHandle, ca: SigningCa
) -> None:
    """The node's own message in a cuesStatus-error area; nothing is installed."""
    async with Browser(lab, "cucm-pub") as browser:
        await browser.login()
        await browser.generate_csr()
        leaf = ca.sign((await browser.download_csr()).content)
        untrusted = await browser.upload("tomcat", leaf)
        assert untrusted.status is not None
        assert untrusted.status[0] == facts.CMPLATFORM_STATUS_ERROR_CLASS
        assert "OS Admin Test Issuing" in untrusted.status[1][0]
        assert "tomcat-trust" in untrusted.status[1][0]
        await browser.upload("tomcat-trust", ca.root_pem)
        await browser.upload("tomcat-trust", ca.issuing_pem)
        wrong = await browser.upload("CallManager", leaf)
        assert wrong.status == (
            facts.CMPLATFORM_STATUS_ERROR_CLASS,
            [facts.REST_STALE_CSR_MESSAGE.format(service="CallManager")],
        )
        unknown = await browser.upload("cup-xmpp", leaf)  # not a purpose of a CUCM node
        assert unknown.status is not None
        assert unknown.status[0] == facts.CMPLATFORM_STATUS_ERROR_CLASS
        assert journal(lab, "identity.uploaded") == []
        assert "tomcat" in lab.lab.cluster.node("cucm-pub").pending


async def test_csr_page_refusals(lab: LabHandle) -> None:
    error = facts.CMPLATFORM_STATUS_ERROR_CLASS
    async with Browser(lab, "cucm-sub1") as browser:
        await browser.login()
        on_sub = await browser.generate_csr()  # multi-server only on the publisher
        assert on_sub.status is not None and on_sub.status[0] == error
        assert "publisher" in on_sub.status[1][0]
        assert (await browser.download_csr()).text.count(
            facts.CMPLATFORM_NO_CSR.format(purpose="tomcat")
        ) == 1
        single = await browser.generate_csr(distribution="cucm-sub1")
        assert single.status == (facts.CMPLATFORM_STATUS_SUCCESS_CLASS, [csr_banner(["cucm-sub1"])])
        other = await browser.generate_csr(distribution="cucm-sub2")
        assert other.status is not None and other.status[0] == error
    assert [e["exported"] for e in journal(lab, "csr.generated")] == [["cucm-sub1"]]


async def test_imp_serves_the_pages_with_its_purposes(lab: LabHandle) -> None:
    async with Browser(lab, "imp-pub") as browser:
        await browser.login()
        form = await browser.get("/cmplatform/certificateGenerateNewCsr.do")
        assert '<option value="cup-xmpp">' in form.text
        assert '<option value="CallManager">' not in form.text
        done = await browser.generate_csr(purpose="cup-xmpp")
    assert done.status == (facts.CMPLATFORM_STATUS_SUCCESS_CLASS, [csr_banner(["imp-pub"])])


# -- Tomcat ------------------------------------------------------------------------------


@pytest.fixture
async def slow_tomcat_lab(tmp_path: Path) -> AsyncIterator[LabHandle]:
    timing = FAST.model_copy(
        update={"services": {TOMCAT: ServiceTiming(stopping=0.3, starting=0.3)}}
    )
    async with Lab(lab_spec(), tmp_path / "lab", timing) as running:
        yield LabHandle(running)


async def test_pages_are_gone_while_tomcat_restarts_and_sessions_end(
    slow_tomcat_lab: LabHandle,
) -> None:
    lab = slow_tomcat_lab
    async with Browser(lab, "cucm-sub1") as browser:
        await browser.login()
        cookies = browser.http.cookies
    svc = lab.lab.cluster.control(lab.lab.cluster.node("cucm-sub1"), TOMCAT, "restart", "t")
    deadline = time.monotonic() + 5
    while svc.status not in ("Stopped", "Starting"):
        assert time.monotonic() < deadline
        await asyncio.sleep(0.005)
    async with Browser(lab, "cucm-sub1") as browser:
        browser.http.cookies = cookies
        with pytest.raises(httpx.ConnectError):
            await browser.get("/cmplatform/certificateFindList.do")
    assert svc.task is not None
    await svc.task
    async with Browser(lab, "cucm-sub1") as browser:
        browser.http.cookies = cookies
        assert (await browser.get("/cmplatform/certificateFindList.do")).is_login_form
    assert [e["reason"] for e in journal(lab, "cmplatform.session-expired")] == ["tomcat-restarted"]


async def test_webapp_down_makes_every_page_404(lab: LabHandle) -> None:
    await lab.lab.add_fault(Fault(kind="webapp-down", node="cucm-pub", target="cmplatform"))
    async with Browser(lab, "cucm-pub") as browser:
        assert (await browser.get("/cmplatform/showHome.do")).response.status_code == 404
        assert (await browser.login()).response.status_code == 404
    assert journal(lab, "cmplatform.login") == []


async def test_a_lost_response_still_installed_the_certificate(
    lab: LabHandle, ca: SigningCa
) -> None:
    """A ``response-lost`` fault on upload-identity drops the connection after the upload is
    applied, as for REST: the journal shows it done."""
    async with Browser(lab, "cucm-pub") as browser:
        await browser.login()
        await browser.generate_csr()
        leaf = ca.sign((await browser.download_csr()).content)
        await browser.upload("tomcat-trust", ca.root_pem)
        await browser.upload("tomcat-trust", ca.issuing_pem)
        await lab.lab.add_fault(
            Fault(kind="response-lost", node="cucm-pub", target="upload-identity", count=1)
        )
        with pytest.raises(httpx.TransportError):
            await browser.upload("tomcat", leaf)
    assert [e["nodes"] for e in journal(lab, "identity.uploaded")] == [NODES]
