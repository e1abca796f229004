"""Steps on the publisher that read it before they act, against the lab without Temporal:
trust uploads, the pending-CSR check and disabling SSO."""

from __future__ import annotations

from activities.clients.cucm.certificates import (
    pending_csr,
    trust_presence,
    upload_missing_trust,
)
from activities.clients.cucm.certmgr import CertMgrClient
from activities.clients.cucm.node_certs import open_node
from activities.clients.cucm.sso import disable_sso
from tests.lab.conftest import LabHandle
from tests.lab.test_cli import TinyCa


async def test_trust_upload_skips_what_the_store_already_has(lab: LabHandle) -> None:
    pub = lab.endpoint("cucm-pub")
    first, second = TinyCa("ucrenew Root One"), TinyCa("ucrenew Root Two")
    # Listed over REST, uploaded in OS Administration: both see the same store.
    async with (
        open_node("rest", pub, lab.os_admin) as rest,
        open_node("os-admin", pub, lab.os_admin) as web,
    ):
        once = await upload_missing_trust(rest, web, "tomcat", [first.pem])
        assert (once.uploaded, once.skipped) == (["ucrenew Root One"], [])
        both = await upload_missing_trust(rest, rest, "tomcat", [first.pem, second.pem])
        assert (both.uploaded, both.skipped) == (["ucrenew Root Two"], ["ucrenew Root One"])
        again = await upload_missing_trust(web, web, "tomcat", [first.pem, second.pem])
        assert (again.uploaded, again.skipped) == ([], ["ucrenew Root One", "ucrenew Root Two"])


async def test_trust_presence_reads_what_an_upload_would_add_and_changes_nothing(
    lab: LabHandle,
) -> None:
    """The renewal records these as its intent before the upload (issue 16)."""
    pub = lab.endpoint("cucm-pub")
    first, second = TinyCa("ucrenew Root Three"), TinyCa("ucrenew Root Four")
    since = lab.lab.journal.last_seq
    async with open_node("rest", pub, lab.os_admin) as rest:
        await upload_missing_trust(rest, rest, "tomcat", [first.pem])
        before = lab.lab.journal.last_seq
        seen = await trust_presence(rest, "tomcat", [first.pem, second.pem])
    assert (seen.missing, seen.present) == (["ucrenew Root Four"], ["ucrenew Root Three"])
    assert lab.lab.journal.last_seq == before > since  # the read wrote nothing


async def test_pending_csr_matches_only_the_latest_csr(lab: LabHandle) -> None:
    pub = lab.endpoint("cucm-pub")
    async with (
        CertMgrClient(pub, lab.os_admin) as certmgr,
        open_node("os-admin", pub, lab.os_admin) as web,
    ):
        signed = (await certmgr.generate_csr("tomcat", multi_server=True)).csr_pem
        assert (await pending_csr(web, pub.fqdn, "tomcat", signed)).matches
        await certmgr.generate_csr("tomcat", multi_server=True)
        stale = await pending_csr(web, pub.fqdn, "tomcat", signed)
    assert not stale.matches and stale.pending_key_fingerprint
    assert "is not the one that was signed" in stale.detail


async def test_sso_is_disabled_once_and_read_back(lab: LabHandle) -> None:
    pub = lab.endpoint("cucm-pub")
    first = await disable_sso(pub, lab.os_admin)
    assert (first.was_enabled, first.enabled, first.changed) == (True, False, True)
    again = await disable_sso(pub, lab.os_admin)
    assert (again.was_enabled, again.enabled, again.changed) == (False, False, False)
    assert again.detail == "SSO was already disabled"
    assert len(lab.lab.journal.entries("sso.disabled")) == 1
