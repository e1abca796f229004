"""The OS Administration client (``/cmplatform``) against page fixtures written to the contract.

A fake node (``cmplatform_fake.py``) serves ``tests/fixtures/cmplatform`` over real TLS on
loopback: the client runs its own transport, cookies and TLS trust unchanged. Until the lab's
twin serves these pages, the fixtures are where ``docs/os-administration.md`` is checked.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

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
from activities.clients.cucm.platform_admin import PlatformAdminClient, PlatformCertificate
from activities.clients.cucm.transport import BasicAuth, NodeEndpoint
from activities.errors import translate
from tests.clients.cmplatform_fake import (
    FakeCmplatform,
    Override,
    Row,
    ServerTls,
    fixture,
    serve,
)
from tests.lab.test_cli import TinyCa

FQDN = "cucm-pub.lab.example.com"
GENERATE = "certificateGenerateNewCsr.do"
DOWNLOAD = "certificateDownloadCsr.do"
UPLOAD = "certificateUpload.do"
LOGIN = ["GET ", "GET showHome.do", "POST j_security_check"]


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> ServerTls:
    return ServerTls(FQDN, tmp_path_factory.mktemp("cmplatform"))


@pytest.fixture
def fake() -> FakeCmplatform:
    return FakeCmplatform()


@pytest_asyncio.fixture(loop_scope="session")
async def node(fake: FakeCmplatform, tls: ServerTls) -> AsyncIterator[NodeEndpoint]:
    async with serve(fake, tls, FQDN) as endpoint:
        yield endpoint
    assert_password_only_in_login(fake)


def admin(
    node: NodeEndpoint, fake: FakeCmplatform, password: str | None = None
) -> PlatformAdminClient:
    return PlatformAdminClient(node, BasicAuth(fake.username, password or fake.password))


def assert_password_only_in_login(fake: FakeCmplatform) -> None:
    """No request but the login post carries the password: not in a body, query or header."""
    secret = fake.password.encode()
    for request in fake.requests:
        if (request.method, request.path) == ("POST", "/cmplatform/j_security_check"):
            continue
        carried = [request.body, request.query.encode()]
        carried += [f"{k}: {v}".encode() for k, v in request.headers.items()]
        assert not any(secret in c for c in carried), request.path
        assert "authorization" not in {k.lower() for k in request.headers}


def assert_no_password(fake: FakeCmplatform, err: BaseException) -> None:
    assert fake.password not in str(err)
    assert fake.password not in repr(err.args)


# -- CSR ----------------------------------------------------------------------------------


async def test_a_multi_server_csr_lists_the_banner_nodes_and_is_downloaded(
    node: NodeEndpoint, fake: FakeCmplatform
) -> None:
    async with admin(node, fake) as client:
        csr = await client.generate_csr(
            "tomcat", multi_server=True, alt_names=["uc.example.com", "voice.example.com"]
        )
    assert csr.node == FQDN and csr.service == "tomcat" and csr.multi_server
    assert csr.exported_nodes == ["cucm-pub", "cucm-sub1", "imp-pub"]
    assert csr.message == (
        "CSR export operation successful on the nodes [cucm-pub, cucm-sub1, imp-pub]."
    )
    assert csr.csr_pem == fixture("tomcat.csr")
    (page, fields), (download, asked) = fake.posted
    assert page == GENERATE and download == DOWNLOAD
    assert fields["certificatePurpose"] == "tomcat"
    assert fields["distribution"] == "Multi-server(SAN)"
    assert fields["otherDomains"] == "uc.example.com\nvoice.example.com"
    assert (fields["keyType"], fields["keyLength"], fields["hashAlgorithm"]) == (
        "RSA",
        "2048",
        "SHA256",
    )
    # The common name the node proposes is kept, as a browser would post it.
    assert fields["commonName"] == "cucm-pub.lab.example.com"
    assert asked["certificatePurpose"] == "tomcat"
    assert fake.pages() == [
        *LOGIN,
        f"GET {GENERATE}",
        f"POST {GENERATE}",
        f"GET {DOWNLOAD}",
        f"POST {DOWNLOAD}",
    ]


async def test_a_single_server_csr_names_this_node_and_maps_the_key(
    node: NodeEndpoint, fake: FakeCmplatform
) -> None:
    async with admin(node, fake) as client:
        csr = await client.generate_csr(
            "CallManager",
            multi_server=False,
            common_name="cucm-pub.lab.example.com",
            key_type="ec",
            key_length=384,
            hash_algorithm="sha384",
        )
    assert csr.exported_nodes == ["cucm-pub"]
    fields = fake.posted[0][1]
    assert fields["distribution"] == "cucm-pub"
    assert (fields["keyType"], fields["keyLength"], fields["hashAlgorithm"]) == (
        "EC",
        "384",
        "SHA384",
    )
    # The page's key lengths are RSA's: a browser's script rewrites them for EC, so the client
    # posts the length asked for rather than refusing it.


async def test_a_value_the_form_does_not_offer_is_refused_before_posting(
    node: NodeEndpoint, fake: FakeCmplatform
) -> None:
    async with admin(node, fake) as client:
        with pytest.raises(CucmBadRequest) as err:
            await client.generate_csr("cup-xmpp", multi_server=True)
    assert "offers no certificatePurpose 'cup-xmpp'" in str(err.value)
    assert "'tomcat', 'tomcat-ECDSA', 'CallManager', 'CallManager-ECDSA'" in str(err.value)
    assert not err.value.retryable
    assert f"POST {GENERATE}" not in fake.pages()


async def test_no_pending_csr_is_none(node: NodeEndpoint, fake: FakeCmplatform) -> None:
    fake.csrs["CallManager"] = fixture("tomcat.csr")
    async with admin(node, fake) as client:
        assert await client.pending_csr("tomcat") is None
        assert await client.pending_csr("CallManager") == fixture("tomcat.csr")
    # One login for both: the session is kept.
    assert fake.pages().count("POST j_security_check") == 1


# -- login and session ----------------------------------------------------------------------


async def test_a_refused_login_names_the_node_and_the_os_platform_administrator(
    node: NodeEndpoint, fake: FakeCmplatform
) -> None:
    async with admin(node, fake, password="wrong-Password-42") as client:
        with pytest.raises(CucmAuthError) as err:
            await client.certificates()
    message = str(err.value)
    assert message.startswith(f"{FQDN}: Cisco Unified OS Administration refused the login of ")
    assert "'osadmin' ('Invalid username or password')" in message
    assert "OS platform administrator" in message
    assert "wrong-Password-42" not in message
    assert not err.value.retryable and err.value.node == FQDN
    failure = translate(err.value)
    assert failure is not None and failure.type == "CucmAuthError" and failure.non_retryable
    assert fake.pages() == LOGIN


async def test_an_expired_session_logs_in_again_once_and_starts_again_from_the_form(
    node: NodeEndpoint, fake: FakeCmplatform
) -> None:
    fake.expire = {f"POST {UPLOAD}"}
    async with admin(node, fake) as client:
        result = await client.upload_identity("tomcat", TinyCa("leaf").pem, root_name="root.pem")
    assert result.installed_nodes == ["cucm-pub", "cucm-sub1", "imp-pub"]
    # The post the login form answered did nothing; the form is opened again, then posted.
    assert fake.pages() == [
        *LOGIN,
        f"GET {UPLOAD}",
        f"POST {UPLOAD}",
        *LOGIN,
        f"GET {UPLOAD}",
        f"POST {UPLOAD}",
    ]
    assert len(fake.posted) == 1
    assert fake.posted[0][1]["rootCertificate"] == "root.pem"


async def test_an_expired_session_on_a_page_logs_in_again(
    node: NodeEndpoint, fake: FakeCmplatform
) -> None:
    fake.expire = {"GET certificateFindList.do"}
    async with admin(node, fake) as client:
        assert await client.certificates() == []
    assert fake.pages().count("POST j_security_check") == 2


async def test_a_session_lost_again_right_after_logging_in_again_is_an_unexpected_page(
    node: NodeEndpoint, fake: FakeCmplatform
) -> None:
    fake.expire = {f"POST {UPLOAD}", f"GET {UPLOAD}"}
    async with admin(node, fake) as client:
        with pytest.raises(CucmUnexpectedPage) as err:
            await client.upload_trust("tomcat-trust", TinyCa("Root").pem)
    assert "the login form answered again right after logging in again" in str(err.value)
    assert fake.posted == []


# -- token ----------------------------------------------------------------------------------


async def test_a_refused_token_is_retried_once_with_a_fresh_one(
    node: NodeEndpoint, fake: FakeCmplatform
) -> None:
    fake.refuse_tokens = 1
    root = TinyCa("ucrenew Test Root")
    async with admin(node, fake) as client:
        await client.upload_trust("tomcat-trust", root.pem, description="ucrenew root")
    assert fake.pages()[len(LOGIN) :] == [
        f"GET {UPLOAD}",
        f"POST {UPLOAD}",
        f"GET {UPLOAD}",
        f"POST {UPLOAD}",
    ]
    assert [r.description for r in fake.rows] == ["ucrenew root"]


async def test_a_token_refused_twice_is_an_error_quoting_the_node(
    node: NodeEndpoint, fake: FakeCmplatform
) -> None:
    fake.refuse_tokens = 2
    async with admin(node, fake) as client:
        with pytest.raises(CucmTokenRefused) as err:
            await client.generate_csr("tomcat", multi_server=True)
    message = str(err.value)
    assert message.startswith(f"{FQDN}: https://{FQDN}:{node.https_port}/cmplatform/{GENERATE}")
    assert '"Couldn\'t get token. You may be trying too often."' in message
    assert err.value.node_message == "Couldn't get token. You may be trying too often."
    assert_no_password(fake, err.value)
    assert err.value.retryable
    assert fake.pages().count(f"POST {GENERATE}") == 2 and fake.posted == []


# -- uploads --------------------------------------------------------------------------------


async def test_a_node_missing_from_the_upload_banner_is_missing_from_the_result(
    node: NodeEndpoint, fake: FakeCmplatform
) -> None:
    fake.upload_banner = ["cucm-pub", "imp-pub"]
    fake.upload_note = "Restart Cisco Tomcat on each node to use the new certificate."
    async with admin(node, fake) as client:
        result = await client.upload_identity("tomcat", TinyCa("leaf").pem)
    assert result.node == FQDN and result.service == "tomcat"
    assert result.installed_nodes == ["cucm-pub", "imp-pub"]
    assert result.message == (
        "Success: Certificate Uploaded\n"
        "Certificate upload operation successful for the nodes cucm-pub,imp-pub.\n"
        "Restart Cisco Tomcat on each node to use the new certificate."
    )
    assert fake.posted[0][1]["NAME"] == "tomcat"


async def test_an_error_status_carries_the_node_message_verbatim(
    node: NodeEndpoint, fake: FakeCmplatform
) -> None:
    words = "Upload failed: the key length 1024 of the certificate is below the minimum 2048."
    fake.upload_error = words
    async with admin(node, fake) as client:
        with pytest.raises(CucmFormRefused) as err:
            await client.upload_identity("tomcat", TinyCa("leaf").pem)
    assert err.value.node_message == words
    assert_no_password(fake, err.value)
    assert str(err.value) == f"{FQDN}: {words}"
    assert err.value.url == f"https://{FQDN}:{node.https_port}/cmplatform/{UPLOAD}"
    failure = translate(err.value)
    assert failure is not None and failure.type == "CucmFormRefused" and failure.non_retryable


@pytest.mark.parametrize(
    ("words", "error"),
    [
        ("The certificate does not match the CSR pending for tomcat.", CucmStaleCsr),
        ("The issuer of the certificate is not in the tomcat-trust store.", CucmIssuerNotTrusted),
    ],
)
async def test_identity_refusals_are_the_errors_certmgr_raises(
    node: NodeEndpoint, fake: FakeCmplatform, words: str, error: type[CucmHttpError]
) -> None:
    fake.upload_error = words
    async with admin(node, fake) as client:
        with pytest.raises(error) as err:
            await client.upload_identity("tomcat", TinyCa("leaf").pem)
    assert str(err.value) == f"{FQDN}: {words}" and not err.value.retryable


async def test_trust_certificates_are_listed_downloaded_and_not_uploaded_twice(
    node: NodeEndpoint, fake: FakeCmplatform
) -> None:
    root = TinyCa("ucrenew Test Root")
    fake.rows = [
        Row("tomcat", "tomcat/tomcat.pem", TinyCa("cucm-pub").pem, "cucm-pub", "Self-signed"),
        Row("tomcat", "tomcat/tomcat.csr", "", "cucm-pub-ms", "CSR Only", expiration=""),
        Row("CallManager-trust", "CallManager-trust/Other.pem", TinyCa("Other").pem, "Other"),
    ]
    async with admin(node, fake) as client:
        assert await client.list_trust("tomcat-trust") == []
        await client.upload_trust("tomcat-trust", root.pem, "ucrenew root")
        (listed,) = await client.list_trust("tomcat-trust")
        with pytest.raises(CucmTrustDuplicate) as dup:
            await client.upload_trust("tomcat-trust", root.pem, "ucrenew root")
        rows = await client.certificates()
        identity = await client.get_identity("tomcat")
    assert listed.certificate_pem.strip() == root.pem.strip()
    assert listed.file_name == "ucrenew Test Root.pem" and listed.store == "tomcat-trust"
    assert listed.subject == "ucrenew Test Root" and listed.description == "ucrenew root"
    assert listed.serial == format(root.cert.serial_number, "x")
    assert not dup.value.retryable
    assert rows[1] == PlatformCertificate(
        certificate="tomcat",
        common_name="cucm-pub-ms",
        type="CSR Only",
        key_type="RSA",
        distribution="cucm-pub",
        expiration=None,
        file="tomcat/tomcat.csr",
    )
    assert rows[0].expiration is not None and rows[0].expiration.isoformat() == "2035-01-31"
    assert identity.strip() == fake.rows[0].pem.strip()


async def test_an_unknown_identity_file_is_a_404(node: NodeEndpoint, fake: FakeCmplatform) -> None:
    async with admin(node, fake) as client:
        with pytest.raises(CucmHttpError) as err:
            await client.get_identity("cup-xmpp")
    assert err.value.status == 404 and not err.value.retryable
    assert "cup-xmpp/cup-xmpp.pem" in str(err.value)


# -- pages the contract does not describe ---------------------------------------------------


async def test_a_tomcat_error_page_is_an_unexpected_page(
    node: NodeEndpoint, fake: FakeCmplatform
) -> None:
    fake.overrides[f"POST {GENERATE}"] = Override(500, "tomcat_500.html")
    async with admin(node, fake) as client:
        with pytest.raises(CucmUnexpectedPage) as err:
            await client.generate_csr("tomcat", multi_server=True)
    url = f"https://{FQDN}:{node.https_port}/cmplatform/{GENERATE}"
    assert str(err.value) == (
        f"{FQDN}: unexpected page from {url} (HTTP 500, titled 'HTTP Status 500 \u2013 Internal "
        'Server Error\'): expected the status area <div id="statusMessage">'
    )
    assert (err.value.url, err.value.status) == (url, 500)
    assert_no_password(fake, err.value)
    assert err.value.retryable
    failure = translate(err.value)
    assert failure is not None and failure.type == "CucmUnexpectedPage"
    assert not failure.non_retryable


async def test_a_form_without_its_token_is_an_unexpected_page_and_is_not_posted(
    node: NodeEndpoint, fake: FakeCmplatform
) -> None:
    fake.overrides[f"GET {GENERATE}"] = Override(
        200, "generate_csr_without_token.html", {"status": ""}
    )
    async with admin(node, fake) as client:
        with pytest.raises(CucmUnexpectedPage) as err:
            await client.generate_csr("tomcat", multi_server=True)
    assert err.value.missing == "the form's fields token"
    assert "(HTTP 200, titled 'Generate Certificate Signing Request')" in str(err.value)
    assert not err.value.retryable
    assert f"POST {GENERATE}" not in fake.pages()


async def test_a_result_without_a_status_area_is_an_unexpected_page(
    node: NodeEndpoint, fake: FakeCmplatform
) -> None:
    fake.overrides[f"POST {UPLOAD}"] = Override(200, "home.html")
    async with admin(node, fake) as client:
        with pytest.raises(CucmUnexpectedPage) as err:
            await client.upload_trust("tomcat-trust", TinyCa("Root").pem)
    assert err.value.missing == 'the status area <div id="statusMessage">'


async def test_a_list_without_its_table_is_an_unexpected_page(
    node: NodeEndpoint, fake: FakeCmplatform
) -> None:
    fake.overrides["GET certificateFindList.do"] = Override(200, "home.html")
    async with admin(node, fake) as client:
        with pytest.raises(CucmUnexpectedPage) as err:
            await client.list_trust("tomcat-trust")
    assert err.value.missing == 'the certificate table <table id="certificateList">'


async def test_a_login_page_that_is_not_the_login_form_is_an_unexpected_page(
    node: NodeEndpoint, fake: FakeCmplatform
) -> None:
    fake.overrides["GET showHome.do"] = Override(200, "home.html")
    async with admin(node, fake) as client:
        with pytest.raises(CucmUnexpectedPage) as err:
            await client.certificates()
    assert "expected the login form (j_security_check with j_username and j_password)" in str(
        err.value
    )
    assert "POST j_security_check" not in fake.pages()


async def test_a_row_without_its_cells_is_an_unexpected_page(
    node: NodeEndpoint, fake: FakeCmplatform
) -> None:
    row = '<tr><td>tomcat-trust</td><td>ucrenew Test Root</td><td colspan="6"></td></tr>'
    fake.overrides["GET certificateFindList.do"] = Override(
        200, "certificate_list.html", {"rows": row}
    )
    async with admin(node, fake) as client:
        with pytest.raises(CucmUnexpectedPage) as err:
            await client.certificates()
    assert err.value.missing.startswith("in row 1: certificate, common-name, type, key-type")
    assert err.value.missing.endswith("a link certificateEdit.do?cert=<store>/<file>")


async def test_a_node_message_echoing_the_password_is_blanked(
    node: NodeEndpoint, fake: FakeCmplatform
) -> None:
    fake.upload_error = f"Invalid value {fake.password} in field description"
    async with admin(node, fake) as client:
        with pytest.raises(CucmFormRefused) as err:
            await client.upload_trust("tomcat-trust", TinyCa("Root").pem)
    assert_no_password(fake, err.value)
    assert err.value.node_message == "Invalid value ******** in field description"
