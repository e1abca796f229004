"""ADCS web enrollment: the real client over real TLS against the lab's ADCS twin.

The journal and the twin's CA database are the oracles of what the CA did; the client's
answers are checked against them, and issued certificates against CUCM's validation rules.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import socket
import ssl
import stat
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import httpx
import pytest
import pytest_asyncio
from cryptography import x509
from typer.testing import CliRunner, Result

from activities.clients.ca.adcs.auth import (
    AdcsBasicAuth,
    AdcsClientCertAuth,
    AdcsKerberosAuth,
    AdcsNtlmAuth,
)
from activities.clients.ca.adcs.client import AdcsCa
from activities.clients.ca.adcs.config import AdcsCaConfig, adcs_ca_from_config
from activities.clients.ca.base import CertificateAuthority
from activities.clients.ca.errors import (
    CaConfigurationError,
    CaRequestNotFound,
    CaUnavailable,
)
from activities.clients.inventory import Inventory, load_inventory
from activities.clients.pki import load_pem_certificates
from activities.clients.pki_validation import validate_signed_certificate
from activities.clients.secrets import resolve_secret_ref
from activities.models import CaProfile, ValidationPolicy
from lab import pki
from lab.adcs import AdcsTwin
from lab.cli import app as lab_app
from lab.control import LabControl
from lab.errors import LabError
from lab.runner import lab_dir
from lab.server import Lab
from lab.timing import FAST
from tests.lab.conftest import lab_spec

AuthMethod = Literal["basic", "client_cert"]


class AdcsLab:
    """A running lab with its ADCS twin, and the inventory a client reads."""

    def __init__(self, lab: Lab) -> None:
        assert lab.adcs is not None
        self.lab = lab
        self.twin: AdcsTwin = lab.adcs
        self.inventory: Inventory = load_inventory(lab.state_dir / "inventory.yaml")
        entry = self.inventory.ca("adcs")
        self.config = AdcsCaConfig.model_validate(
            {"name": entry.name, "type": entry.type, **entry.settings}
        )
        self.node_fqdns = [n.fqdn for n in lab.cluster.nodes if n.product == "cucm"]

    def client(self, method: AuthMethod = "basic") -> AdcsCa:
        """The client built from the inventory's ``cas:`` entry."""
        return adcs_ca_from_config(
            self.config,
            lambda ref: resolve_secret_ref(ref, base_dir=self.inventory.base_dir),
            base_dir=self.inventory.base_dir,
            method=method,
        )

    def csr(self) -> str:
        """A multi-server CSR for the cluster's CUCM nodes, with a fresh key."""
        key = pki.new_key("rsa", 2048)
        cn = f"cucm-pub-ms.{self.lab.spec.domain}"
        return pki.pem(pki.make_csr(key, cn, self.node_fqdns))


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def adcs(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[AdcsLab]:
    """One lab with its ADCS twin for the whole module (each test makes its own requests)."""
    async with Lab(lab_spec(), tmp_path_factory.mktemp("adcs") / "lab", FAST) as lab:
        yield AdcsLab(lab)


def _now() -> datetime:
    return datetime.now(UTC)


def _journal(adcs: AdcsLab, kind: str, request_id: str) -> list[dict[str, object]]:
    return [
        e.data
        for e in adcs.lab.journal.entries(kind=kind)
        if str(e.data.get("request_id")) == request_id
    ]


def _assert_fits_cucm(adcs: AdcsLab, cert_pem: str, chain_pem: str, csr_pem: str) -> None:
    root_pem = Path(adcs.config.ca_file or "").read_text()
    report = validate_signed_certificate(
        cert_pem,
        chain_pem,
        csr_pem,
        adcs.node_fqdns,
        _now(),
        ValidationPolicy(trusted_roots_pem=[]),
    )
    assert report.ok, report.problems
    # Leaf → intermediate → the twin's own root, which the chain itself carries.
    chain = load_pem_certificates(chain_pem)
    assert len(chain) == 2
    assert chain[-1] == x509.load_pem_x509_certificate(root_pem.encode())
    assert [c.subject for c in report.chain][1:] == [c.subject.rfc4514_string() for c in chain]
    x509.load_pem_x509_certificate(cert_pem.encode()).verify_directly_issued_by(chain[0])
    chain[0].verify_directly_issued_by(chain[1])
    leaf = report.leaf
    assert leaf is not None
    assert sorted(leaf.san_dns) == sorted(adcs.node_fqdns)
    assert {"serverAuth", "clientAuth"} <= set(leaf.eku)
    assert {"digitalSignature", "keyEncipherment", "dataEncipherment"} <= set(leaf.key_usage)


# -- issuance --------------------------------------------------------------------------------


async def test_issued_at_once_fits_cucm_and_is_journalled(adcs: AdcsLab) -> None:
    ca = adcs.client()
    assert isinstance(ca, CertificateAuthority)
    csr = adcs.csr()

    sub = await ca.submit(csr, CaProfile(template="WebServer"))

    assert sub.status == "issued", sub.message
    assert sub.request_ref.isdigit()
    assert sub.certificate_pem is not None and sub.chain_pem is not None
    _assert_fits_cucm(adcs, sub.certificate_pem, sub.chain_pem, csr)
    row = adcs.twin.request(int(sub.request_ref))
    assert row.status == "issued" and row.certificate_pem == sub.certificate_pem
    assert _journal(adcs, "adcs.request.submitted", sub.request_ref)[0]["template"] == "WebServer"
    assert _journal(adcs, "adcs.request.issued", sub.request_ref)
    # Polling an issued request returns the same certificate.
    again = await ca.poll(sub.request_ref)
    assert again.status == "issued"
    assert again.certificate_pem == sub.certificate_pem


async def test_default_template_comes_from_the_inventory(adcs: AdcsLab) -> None:
    sub = await adcs.client().submit(adcs.csr(), CaProfile())

    assert sub.status == "issued"
    assert adcs.twin.request(int(sub.request_ref)).template == adcs.config.template == "WebServer"


async def test_pending_then_issued_by_the_ca_admin_python_api(adcs: AdcsLab) -> None:
    ca = adcs.client()
    csr = adcs.csr()

    sub = await ca.submit(csr, CaProfile(template="CUCMManualApproval"))
    assert sub.status == "pending"
    assert sub.certificate_pem is None
    assert _journal(adcs, "adcs.request.pending", sub.request_ref)
    assert (await ca.poll(sub.request_ref)).status == "pending"

    adcs.twin.issue(int(sub.request_ref))

    done = await ca.poll(sub.request_ref)
    assert done.status == "issued"
    assert done.certificate_pem is not None and done.chain_pem is not None
    _assert_fits_cucm(adcs, done.certificate_pem, done.chain_pem, csr)
    assert _journal(adcs, "adcs.request.issued", sub.request_ref)
    with pytest.raises(LabError) as err:
        adcs.twin.issue(int(sub.request_ref))
    assert err.value.status == 409


async def test_pending_then_issued_through_the_control_api(adcs: AdcsLab) -> None:
    ca = adcs.client()
    sub = await ca.submit(adcs.csr(), CaProfile(template="CUCMManualApproval"))
    assert sub.status == "pending"

    async with LabControl(adcs.lab.control_url) as control:
        rows = {str(r["request_id"]): r for r in await control.adcs_requests()}
        assert rows[sub.request_ref]["status"] == "pending"
        assert rows[sub.request_ref]["template"] == "CUCMManualApproval"
        issued = await control.adcs_issue(sub.request_ref)
        assert issued["status"] == "issued"
        with pytest.raises(LabError) as err:
            await control.adcs_issue("999999")
        assert err.value.status == 404

    assert (await ca.poll(sub.request_ref)).status == "issued"


async def test_pending_then_denied_carries_the_reason(adcs: AdcsLab) -> None:
    ca = adcs.client()
    sub = await ca.submit(adcs.csr(), CaProfile(template="CUCMManualApproval"))
    assert sub.status == "pending"
    reason = "SAN list not approved by the change board"

    async with LabControl(adcs.lab.control_url) as control:
        row = await control.adcs_deny(sub.request_ref, reason)
    assert row["status"] == "denied"

    denied = await ca.poll(sub.request_ref)
    assert denied.status == "denied"
    assert reason in denied.message
    assert denied.certificate_pem is None
    assert reason in str(_journal(adcs, "adcs.request.denied", sub.request_ref)[0]["disposition"])


async def test_pending_then_denied_by_the_python_api(adcs: AdcsLab) -> None:
    ca = adcs.client()
    sub = await ca.submit(adcs.csr(), CaProfile(template="CUCMManualApproval"))

    adcs.twin.deny(int(sub.request_ref), "key too weak for policy")

    denied = await ca.poll(sub.request_ref)
    assert denied.status == "denied"
    assert "key too weak for policy" in denied.message


async def test_template_policy_denies_at_submit(adcs: AdcsLab) -> None:
    sub = await adcs.client().submit(adcs.csr(), CaProfile(template="CUCMRestricted"))

    assert sub.status == "denied"
    assert sub.request_ref.isdigit()
    assert "do not allow the current user to enroll" in sub.message
    assert adcs.twin.request(int(sub.request_ref)).status == "denied"


async def test_unknown_template_is_refused_with_a_clear_message(adcs: AdcsLab) -> None:
    since = adcs.lab.journal.last_seq

    with pytest.raises(CaConfigurationError) as err:
        await adcs.client().submit(adcs.csr(), CaProfile(template="NoSuchTemplate"))

    assert "NoSuchTemplate" in err.value.message
    assert "not supported" in err.value.message
    denied = adcs.lab.journal.entries(kind="adcs.request.denied", since=since)
    assert [e.data["template"] for e in denied] == ["NoSuchTemplate"]


# -- authentication --------------------------------------------------------------------------


async def test_basic_auth_with_a_wrong_password_is_a_configuration_error(adcs: AdcsLab) -> None:
    since = adcs.lab.journal.last_seq
    wrong = AdcsCa(
        adcs.config.url,
        AdcsBasicAuth(adcs.twin.username, "not-the-password"),
        "WebServer",
        ca_file=adcs.config.ca_file,
        address=adcs.config.address,
    )

    with pytest.raises(CaConfigurationError) as err:
        await wrong.submit(adcs.csr(), CaProfile())

    assert "401" in err.value.message
    assert "not-the-password" not in str(err.value)
    assert adcs.lab.journal.entries(kind="adcs.request", since=since) == []


async def test_inventory_gives_the_password_by_reference_only(adcs: AdcsLab) -> None:
    password_ref = adcs.config.auth.password or ""
    assert password_ref.startswith("file:")
    path = Path(password_ref.removeprefix("file:"))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    raw = (adcs.lab.state_dir / "inventory.yaml").read_text()
    assert path.read_text() not in raw
    assert adcs.config.url == adcs.twin.url
    assert adcs.config.url.startswith(f"https://ca.{adcs.lab.spec.domain}")
    assert adcs.config.templates == ["WebServer", "CUCMManualApproval", "CUCMRestricted"]


async def test_client_certificate_auth_works(adcs: AdcsLab) -> None:
    ca = adcs.client("client_cert")

    sub = await ca.submit(adcs.csr(), CaProfile())

    assert sub.status == "issued"
    assert adcs.twin.request(int(sub.request_ref)).requester == adcs.twin.username


async def test_no_credentials_and_unmapped_certificates_are_refused(
    adcs: AdcsLab, tmp_path: Path
) -> None:
    # No Authorization header and no client certificate: IIS's 401 with a Basic challenge.
    ctx = ssl.create_default_context(cafile=adcs.config.ca_file)
    async with httpx.AsyncClient(verify=ctx, timeout=10) as raw:
        url = httpx.URL(adcs.config.url).copy_with(host=adcs.config.address)
        resp = await raw.get(
            url.join("certcarc.asp"),
            headers={"Host": httpx.URL(adcs.config.url).netloc.decode()},
            extensions={"sni_hostname": httpx.URL(adcs.config.url).host},
        )
    assert resp.status_code == 401
    assert resp.headers["WWW-Authenticate"].startswith("Basic")

    # A certificate from the same CA but for another account maps to nobody.
    key = pki.new_key("rsa", 2048)
    leaf, _ = adcs.twin.ca.sign(pki.pem(pki.make_csr(key, "someone-else", [])))
    cert_file, key_file = tmp_path / "other.pem", tmp_path / "other.key"
    cert_file.write_text(leaf + adcs.twin.ca.intermediate_pem)
    key_file.write_bytes(pki.key_pem(key))
    os.chmod(key_file, 0o600)
    other = AdcsCa(
        adcs.config.url,
        AdcsClientCertAuth(str(cert_file), str(key_file)),
        "WebServer",
        ca_file=adcs.config.ca_file,
        address=adcs.config.address,
    )
    with pytest.raises(CaConfigurationError, match="401"):
        await other.submit(adcs.csr(), CaProfile())


# -- failures --------------------------------------------------------------------------------


def _closed_port(address: str) -> int:
    with socket.socket() as s:
        s.bind((address, 0))
        return int(s.getsockname()[1])


async def test_unreachable_ca_is_unavailable(adcs: AdcsLab) -> None:
    port = _closed_port(adcs.twin.address)
    url = f"https://{adcs.twin.fqdn}:{port}/certsrv/"
    ca = AdcsCa(
        url,
        AdcsBasicAuth("u", "p"),
        "WebServer",
        ca_file=adcs.config.ca_file,
        address=adcs.twin.address,
        timeout=5,
    )

    with pytest.raises(CaUnavailable):
        await ca.submit(adcs.csr(), CaProfile())
    with pytest.raises(CaUnavailable):
        await ca.poll("2")


async def test_ca_answering_5xx_is_unavailable(adcs: AdcsLab) -> None:
    adcs.twin.outage = 503
    try:
        with pytest.raises(CaUnavailable) as err:
            await adcs.client().poll("2")
    finally:
        adcs.twin.outage = None
    assert err.value.http_status == 503


async def test_untrusted_ca_tls_is_a_configuration_error(adcs: AdcsLab) -> None:
    ca = AdcsCa(
        adcs.config.url,
        AdcsBasicAuth("u", "p"),
        "WebServer",
        ca_file=None,
        address=adcs.config.address,
    )

    with pytest.raises(CaConfigurationError, match="not trusted"):
        await ca.poll("2")


async def test_unknown_request_id_is_not_found(adcs: AdcsLab) -> None:
    ca = adcs.client()

    with pytest.raises(CaRequestNotFound) as err:
        await ca.poll("987654")
    assert err.value.request_ref == "987654"
    with pytest.raises(CaRequestNotFound):
        await ca.poll("not-a-number")


async def test_lab_without_adcs_has_no_twin_and_no_ca_entry(tmp_path: Path) -> None:
    spec = lab_spec(adcs={"enabled": False})
    async with Lab(spec, tmp_path / "lab", FAST) as lab:
        assert lab.adcs is None
        assert load_inventory(lab.state_dir / "inventory.yaml").cas == []
        async with LabControl(lab.control_url) as control:
            with pytest.raises(LabError) as err:
                await control.adcs_requests()
        assert err.value.status == 404


async def test_ntlm_and_kerberos_are_wired_but_the_twin_speaks_basic_only(adcs: AdcsLab) -> None:
    # The twin has no NTLM acceptor: httpx-ntlm finds only a Basic challenge and gives up,
    # which must surface as refused credentials, not as a crash or a retryable error.
    ntlm = AdcsCa(
        adcs.config.url,
        AdcsNtlmAuth("LAB\\ucrenew-enroll", "whatever"),
        "WebServer",
        ca_file=adcs.config.ca_file,
        address=adcs.config.address,
    )
    with pytest.raises(CaConfigurationError, match="401"):
        await ntlm.poll("2")

    kerberos = AdcsCa(
        adcs.config.url,
        AdcsKerberosAuth(),
        "WebServer",
        ca_file=adcs.config.ca_file,
        address=adcs.config.address,
    )
    if importlib.util.find_spec("httpx_gssapi") is None:
        with pytest.raises(CaConfigurationError, match="httpx-gssapi"):
            await kerberos.poll("2")
    else:
        with pytest.raises(CaConfigurationError, match="401"):
            await kerberos.poll("2")


async def test_lab_adcs_command_lists_issues_and_denies(adcs: AdcsLab, tmp_path: Path) -> None:
    ca = adcs.client()
    first = await ca.submit(adcs.csr(), CaProfile(template="CUCMManualApproval"))
    second = await ca.submit(adcs.csr(), CaProfile(template="CUCMManualApproval"))
    state = tmp_path / "state"
    lab_dir(state).mkdir(parents=True)
    (lab_dir(state) / "lab.json").write_text(json.dumps({"control_url": adcs.lab.control_url}))

    def run(*args: str) -> Result:
        return CliRunner().invoke(lab_app, ["adcs", *args, "--state-dir", str(state)])

    listed = await asyncio.to_thread(run, "list")
    assert listed.exit_code == 0, listed.output
    rows = {str(r["request_id"]): r["status"] for r in json.loads(listed.output)}
    assert rows[first.request_ref] == rows[second.request_ref] == "pending"
    issued = await asyncio.to_thread(run, "issue", first.request_ref)
    assert issued.exit_code == 0 and json.loads(issued.output)["status"] == "issued"
    denied = await asyncio.to_thread(run, "deny", second.request_ref, "--reason", "not approved")
    assert denied.exit_code == 0 and json.loads(denied.output)["status"] == "denied"
    assert (await ca.poll(first.request_ref)).status == "issued"
    assert "not approved" in (await ca.poll(second.request_ref)).message
    again = await asyncio.to_thread(run, "issue", first.request_ref)
    assert again.exit_code == 1 and "Traceback" not in again.output
    missing = await asyncio.to_thread(run, "deny")
    assert missing.exit_code == 2
