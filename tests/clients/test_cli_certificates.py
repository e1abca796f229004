"""Single-server CSR and certificate import over the CLI (``CucmCli``), against the lab over SSH.

The lab's node state (``pending``, ``own``, ``active``, the journal) is the oracle: what the
client reports must be what the node did.
"""

from __future__ import annotations

import pytest
from cryptography import x509

from activities.clients.cucm.cli import CucmCli
from activities.clients.cucm.errors import CucmCliError
from lab import facts, pki
from tests.lab.conftest import LabHandle
from tests.lab.test_cli import TinyCa


def cli(lab: LabHandle, host: str = "cucm-pub") -> CucmCli:
    return CucmCli(lab.endpoint(host), lab.os_admin)


async def test_csr_sign_import_on_14su2_answers_the_ou_question(lab: LabHandle) -> None:
    assert lab.lab.spec.version >= "14.0.1.12900"
    ca = TinyCa()
    sub = lab.lab.cluster.node("cucm-sub1")
    async with cli(lab, "cucm-sub1") as session:
        assert await session.show_csr("tomcat") is None
        # The lab prints what a public client (S13) expects after the OU question: two spaces
        # and no period.
        message = await session.generate_csr("tomcat", include_ou=True)
        assert message == "Successfully Generated CSR  for tomcat"
        csr_pem = await session.show_csr("tomcat")
        assert csr_pem is not None and csr_pem.endswith("-----END CERTIFICATE REQUEST-----\n")
        csr = x509.load_pem_x509_csr(csr_pem.encode())
        assert pki.public_key_der(csr) == pki.public_key_der(sub.pending["tomcat"].csr)

        trust = await session.import_certificate("trust", "tomcat", ca.pem)
        assert trust.startswith("Successfully imported certificate for tomcat.")
        signed = ca.sign(csr_pem)
        own = await session.import_certificate("own", "tomcat", signed)
    assert own.splitlines()[0] == "Successfully imported certificate for tomcat."
    assert "restart services related to tomcat" in own
    leaf = x509.load_pem_x509_certificate(signed.encode())
    assert sub.own["tomcat"].cert == leaf
    assert sub.active["tomcat"].cert != leaf  # active after Cisco Tomcat restarts
    assert "tomcat" not in sub.pending
    csr_events = lab.lab.journal.entries("csr.generated", node="cucm-sub1")
    assert [e.data["distribution"] for e in csr_events] == [facts.REST_SINGLE_SERVER_DISTRIBUTION]


async def test_multi_san_own_import_refused_on_14su2_with_the_cli_text(lab: LabHandle) -> None:
    ca = TinyCa()
    cluster = lab.lab.cluster
    pub, sub = cluster.node("cucm-pub"), cluster.node("cucm-sub1")
    before = pub.own["tomcat"]
    async with cli(lab) as session:
        await session.import_certificate("trust", "tomcat", ca.pem)
        await session.generate_csr("tomcat")
        csr_pem = await session.show_csr("tomcat")
        assert csr_pem is not None
        signed = ca.sign(csr_pem, san=[pub.fqdn, sub.fqdn])
        with pytest.raises(CucmCliError) as refused:
            await session.import_certificate("own", "tomcat", signed)
        # The session survives the refusal.
        assert await session.show_csr("tomcat") == csr_pem
    error = refused.value
    assert facts.CLI_MULTI_SAN_IMPORT_REFUSED in str(error)
    assert "BEGIN CERTIFICATE" not in str(error)
    assert error.command == "set cert import own tomcat"
    assert error.node == pub.fqdn
    assert not error.retryable
    assert pub.own["tomcat"] is before
    assert not lab.lab.journal.entries("identity.uploaded")


async def test_12_5_has_no_ou_question_and_imports_a_multi_san_certificate(make_lab) -> None:  # type: ignore[no-untyped-def]
    ca = TinyCa()
    async with make_lab(version="12.5.1.16900-48") as old:
        lab = LabHandle(old)
        pub, sub = old.cluster.node("cucm-pub"), old.cluster.node("cucm-sub1")
        async with cli(lab) as session:
            # include_ou only answers a question the node asks: 12.5 asks none, and prints
            # the CLI reference's line.
            message = await session.generate_csr("CallManager", include_ou=True)
            assert message == "Successfully Generated CSR for CallManager."
            csr_pem = await session.show_csr("CallManager")
            assert csr_pem is not None
            await session.import_certificate("trust", "CallManager", ca.pem)
            signed = ca.sign(csr_pem, san=[pub.fqdn, sub.fqdn])
            await session.import_certificate("own", "CallManager", signed)
        assert pub.own["CallManager"].cert == x509.load_pem_x509_certificate(signed.encode())


async def test_failures_carry_the_cli_text(lab: LabHandle) -> None:
    ca = TinyCa()
    async with cli(lab, "imp-pub") as session:
        # IM&P has no CallManager certificate.
        with pytest.raises(CucmCliError, match="Invalid service 'CallManager'") as failed:
            await session.generate_csr("CallManager")
        assert facts.CLI_INCLUDE_OU_PROMPT not in str(failed.value)
        # A certificate that answers no pending CSR.
        with pytest.raises(CucmCliError, match="does not match the CSR"):
            await session.import_certificate("own", "tomcat", ca.pem)
        # One certificate per paste: a chain is refused before anything is sent.
        with pytest.raises(ValueError, match="one PEM certificate"):
            await session.import_certificate("trust", "tomcat", ca.pem + ca.pem)
        with pytest.raises(ValueError):
            await session.import_certificate("trust", "tomcat", "not a certificate")
    assert not lab.lab.journal.entries("identity.uploaded")
    assert not lab.lab.journal.entries("csr.generated")
