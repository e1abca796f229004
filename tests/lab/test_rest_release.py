"""Certificate Management REST by release: absent before 14, multi-SAN upload refused from 14SU2.

Driven with a plain httpx client written here (HTTP Basic as the OS platform administrator),
not ucrenew's client.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from lab import facts
from lab.server import Lab
from tests.lab.conftest import LabHandle
from tests.lab.test_cmplatform import NODES, SigningCa

BASE = "/platformcom/api/v1/certmgr"
RELEASE_14SU1 = "14.0.1.11900-132"
RELEASE_14SU2 = "14.0.1.12900-161"
RELEASE_15 = "15.0.1.10000-32"


class Rest:
    """A client of a node's 8443, as the OS platform administrator (or anonymous)."""

    def __init__(self, h: LabHandle, host: str, auth: bool = True) -> None:
        ep = h.endpoint(host)
        admin = h.os_admin
        self.http = httpx.AsyncClient(
            base_url=f"https://{ep.host}:{ep.https_port}",
            verify=ep.ssl_context(),
            headers={"Host": f"{ep.fqdn}:{ep.https_port}"},
            auth=(admin.username, admin.password) if auth else None,
            timeout=10,
        )
        self.ext = {"sni_hostname": ep.fqdn}

    async def __aenter__(self) -> Rest:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.http.aclose()

    async def get(self, path: str) -> httpx.Response:
        return await self.http.get(path, extensions=self.ext)

    async def post(self, path: str, body: object) -> httpx.Response:
        return await self.http.post(path, json=body, extensions=self.ext)


def rest(h: LabHandle, host: str, auth: bool = True) -> Rest:
    return Rest(h, host, auth)


@pytest.fixture(scope="module")
def ca() -> SigningCa:
    return SigningCa.create()


@pytest.mark.parametrize("version", ["11.5.1.10000-6", "12.5.1.14900-63"])
async def test_before_14_the_certmgr_urls_are_tomcat_404(
    make_lab: Callable[..., Lab], version: str
) -> None:
    """[DOC S8] Certificate Management REST is for release 14 and later (cucm-interfaces.md
    §2, §11): an older node answers its URLs as unknown URLs, Tomcat's 404 page ([INF]
    CERTMGR_REST_ABSENT_*), with or without credentials; the OS Administration pages are there."""
    async with make_lab(version=version) as running:
        h = LabHandle(running)
        for auth in (True, False):
            async with rest(h, "cucm-pub", auth) as client:
                answers = [
                    await client.get(f"{BASE}/config/snapshot/server"),
                    await client.get(f"{BASE}/config/trust/certificate?service=tomcat"),
                    await client.post(f"{BASE}/config/csr", {"service": "tomcat"}),
                    await client.post(f"{BASE}/config/identity/certificates", {}),
                ]
            for answer in answers:
                assert answer.status_code == facts.CERTMGR_REST_ABSENT_STATUS == 404
                assert answer.text == facts.CERTMGR_REST_ABSENT_PAGE == facts.TOMCAT_NOT_FOUND_PAGE
                assert answer.headers["content-type"].startswith("text/html")
        async with rest(h, "cucm-pub") as client:
            page = await client.get("/cmplatform/showHome.do")
        assert page.status_code == 200 and "j_security_check" in page.text
    assert running.journal.entries("csr.generated") == []


async def _multi_server_upload(h: LabHandle, ca: SigningCa) -> httpx.Response:
    """Multi-server CSR, CA chain as tomcat-trust, then the signed certificate, all over REST."""
    async with rest(h, "cucm-pub") as client:
        csr = await client.post(
            f"{BASE}/config/csr",
            {"service": "tomcat", "distribution": facts.REST_MULTI_SERVER_DISTRIBUTION},
        )
        assert csr.status_code == 200, csr.text
        for pem in (ca.root_pem, ca.issuing_pem):
            trust = await client.post(
                f"{BASE}/config/trust/certificates",
                {"service": ["tomcat"], "certificates": [pem]},
            )
            assert trust.status_code in (200, 201), trust.text
        leaf = ca.sign(csr.json()["csr"])
        return await client.post(
            f"{BASE}/config/identity/certificates",
            {"service": "tomcat", "certificates": [leaf, ca.issuing_pem, ca.root_pem]},
        )


@pytest.mark.parametrize("version", [RELEASE_14SU2, RELEASE_15])
async def test_multi_san_identity_upload_over_rest_is_refused_from_14su2(
    make_lab: Callable[..., Lab], ca: SigningCa, version: str
) -> None:
    """[DOC S3] From 14SU2 a multi-SAN certificate is uploaded from the GUI only; the REST API
    is taken not to count as GUI ([INF] REST_MULTI_SAN_IDENTITY_REFUSED_*): refused, nothing
    installed, the CSR still pending. CSR generation and trust uploads stay allowed ([DOC S8])."""
    async with make_lab(version=version) as running:
        h = LabHandle(running)
        before = running.cluster.node("cucm-pub").own["tomcat"]
        refused = await _multi_server_upload(h, ca)
        assert refused.status_code == facts.REST_MULTI_SAN_IDENTITY_REFUSED_STATUS
        assert refused.json()["message"] == facts.REST_MULTI_SAN_IDENTITY_REFUSED_MESSAGE
        assert running.journal.entries("identity.uploaded") == []
        assert [e.data["reason"] for e in running.journal.entries("identity.refused")] == [
            "multi-san-gui-only"
        ]
        pub = running.cluster.node("cucm-pub")
        assert pub.own["tomcat"] is before and "tomcat" in pub.pending

        # A single-server (this-server) certificate still goes through REST.
        async with rest(h, "cucm-sub1") as client:
            csr = await client.post(
                f"{BASE}/config/csr",
                {"service": "tomcat", "distribution": facts.REST_SINGLE_SERVER_DISTRIBUTION},
            )
            single = await client.post(
                f"{BASE}/config/identity/certificates",
                {"service": "tomcat", "certificates": [ca.sign(csr.json()["csr"])]},
            )
        assert single.status_code == 200, single.text
        assert single.json()["message"] == facts.CERT_UPLOAD_BANNER.format(nodes="cucm-sub1")


async def test_multi_san_identity_upload_over_rest_is_allowed_on_14su1(
    make_lab: Callable[..., Lab], ca: SigningCa
) -> None:
    """[DOC S8] REST from 14; the GUI-only rule for multi-SAN uploads starts with 14SU2
    ([DOC S3])."""
    async with make_lab(version=RELEASE_14SU1) as running:
        installed = await _multi_server_upload(LabHandle(running), ca)
        assert installed.status_code == 200, installed.text
        assert installed.json()["message"] == facts.CERT_UPLOAD_BANNER.format(
            nodes=facts.REST_BANNER_NODE_SEPARATOR.join(NODES)
        )
        assert [e.data["nodes"] for e in running.journal.entries("identity.uploaded")] == [NODES]
