"""The crash matrix's oracle: duplicated CUCM effects and false audit entries, from journals
written by hand in the shapes :mod:`lab.cluster`, :mod:`lab.phones` and the CLI frontends
record them."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any

from bench.crash_journal import (
    RestartClaim,
    duplicated_effects,
    false_audit_entries,
    restart_claims,
)
from lab.journal import JournalEntry
from workflows.models import AuditEvent, RenewalPlan, RenewalStatus
from workflows.restart_models import NodeRestart, RestartPlan, RestartWave

TOMCAT = "Cisco Tomcat"


class Journal:
    """Entries numbered in order, as the lab's journal numbers them."""

    def __init__(self) -> None:
        self.entries: list[JournalEntry] = []
        self._seq = itertools.count(1)

    def add(self, kind: str, node: str | None = None, **data: Any) -> Journal:
        self.entries.append(
            JournalEntry(seq=next(self._seq), at=0.0, kind=kind, node=node, data=data)
        )
        return self


def audit(action: str, comment: str) -> AuditEvent:
    return AuditEvent(
        at=datetime(2026, 1, 1, tzinfo=UTC), actor="ucrenew", action=action, comment=comment
    )


def clean_renewal() -> Journal:
    """A tomcat renewal that did everything once: SSO, trust, upload, one restart per node."""
    j = Journal()
    j.add("csr.generated", "cucm-pub", purpose="tomcat")
    j.add("sso.disabled", None, origin="cli")
    j.add(
        "trust.uploaded",
        "cucm-pub",
        store="tomcat-trust",
        subject="Lab CA",
        fingerprint="aa" * 32,
        outcome="added",
    )
    j.add("identity.uploaded", "cucm-pub", purpose="tomcat", fingerprint="bb" * 32)
    for node in ("cucm-pub", "cucm-sub1"):
        j.add("service.control", node, service=TOMCAT, action="restart", origin="cli")
        j.add("service.state", node, service=TOMCAT, status="Started")
    j.add("sso.enabled", None, origin="bench operator")
    return j


CLEAN_AUDIT = [
    audit("sso-disabled", "disabled SAML SSO"),
    audit("trust-uploaded", "uploaded ['Lab CA']; already present none"),
    audit("certificate-uploaded", "tomcat: Successfully uploaded"),
]
CLEAN_CLAIMS = [
    RestartClaim("cucm-pub.lab.example.com", TOMCAT, 1),
    RestartClaim("cucm-sub1.lab.example.com", TOMCAT, 2),
]


def test_a_renewal_that_did_each_effect_once_and_says_so_is_clean() -> None:
    entries = clean_renewal().entries
    assert duplicated_effects(entries) == []
    assert false_audit_entries(entries, CLEAN_AUDIT, CLEAN_CLAIMS) == []


def test_the_same_upload_ctl_update_or_restart_twice_is_a_duplicated_effect() -> None:
    j = clean_renewal()
    j.add("identity.uploaded", "cucm-pub", purpose="tomcat", fingerprint="bb" * 32)
    j.add(
        "trust.uploaded",
        "cucm-pub",
        store="tomcat-trust",
        subject="Lab CA",
        fingerprint="aa" * 32,
        outcome="exists",
    )
    j.add("ctl.updated", "cucm-pub").add("ctl.updated", "cucm-pub")
    j.add("service.control", "cucm-sub1", service=TOMCAT, action="restart", origin="cli")
    found = duplicated_effects(j.entries)
    assert len(found) == 4
    assert any("tomcat" in f and "2 times" in f for f in found)
    assert any("tomcat-trust 2 times" in f for f in found)
    assert "CTL file updated 2 times" in found
    assert f"{TOMCAT} restarted 2 times on cucm-sub1" in found


def test_a_restart_of_the_same_service_on_another_node_or_a_start_is_no_duplicate() -> None:
    j = clean_renewal()
    j.add("service.control", "cucm-sub2", service=TOMCAT, action="restart", origin="cli")
    j.add("service.control", "cucm-pub", service=TOMCAT, action="start", origin="controlcenter")
    j.add("service.control", "cucm-pub", service="Cisco CallManager", action="restart")
    assert duplicated_effects(j.entries) == []


def test_a_phone_rebooted_twice_and_a_reset_sent_again_while_rebooting_are_told_apart() -> None:
    """Phones reset over AXL are journaled as ``reset:axl`` (lab/phones.py); a reset that
    reaches a phone still rebooting is ``phone.reset-undelivered``."""
    j = Journal()
    j.add("phone.unregistered", "cucm-sub1", phones=["SEP1", "SEP2"], reason="reset:axl")
    j.add("phone.unregistered", "cucm-sub1", phones=["SEP3"], reason="tls-restart")
    assert duplicated_effects(j.entries) == []
    j.add("phone.unregistered", "cucm-sub1", phones=["SEP2"], reason="reset:axl")
    j.add("phone.reset-undelivered", None, phones=["SEP1"], reason="reset:axl")
    found = duplicated_effects(j.entries)
    assert found == [
        "1 phone(s) rebooted by a reset more than once (e.g. SEP2)",
        "1 phone(s) sent a second reset while still rebooting from the first (e.g. SEP1)",
    ]


def test_sso_disabled_again_without_an_enable_between_is_a_duplicate() -> None:
    j = Journal().add("sso.disabled", None, origin="cli").add("sso.enabled", None, origin="gui")
    j.add("sso.disabled", None, origin="cli")
    assert duplicated_effects(j.entries) == []
    j.add("sso.disabled", None, origin="cli")
    assert len(duplicated_effects(j.entries)) == 1


def test_already_disabled_sso_after_ucrenew_disabled_it_is_a_false_audit_entry() -> None:
    """Issue 16: a worker killed right after ``utils sso disable`` took effect made the retry
    read "SSO was already disabled"."""
    entries = clean_renewal().entries
    said = [audit("sso-disabled", "SSO was already disabled"), *CLEAN_AUDIT[1:]]
    found = false_audit_entries(entries, said, CLEAN_CLAIMS)
    assert len(found) == 1 and "utils sso disable" in found[0]
    # And with no disable in the journal, "already disabled" is the truth.
    without = [e for e in entries if e.kind != "sso.disabled"]
    assert false_audit_entries(without, said, CLEAN_CLAIMS) == []


def test_claiming_an_effect_the_journal_lacks_is_a_false_audit_entry() -> None:
    entries = [
        e for e in clean_renewal().entries if e.kind not in ("sso.disabled", "identity.uploaded")
    ]
    found = false_audit_entries(
        entries, [*CLEAN_AUDIT, audit("ctl-updated", "utils ctl update CTLFile")], CLEAN_CLAIMS
    )
    assert len(found) == 3
    assert any("no utils sso disable" in f for f in found)
    assert any("no upload of tomcat" in f for f in found)
    assert any("no CTL update" in f for f in found)


def test_a_ctl_called_current_that_this_change_updated_is_a_false_audit_entry() -> None:
    entries = clean_renewal().add("ctl.updated", "cucm-pub").entries
    said = [*CLEAN_AUDIT, audit("ctl-current", "the CTL file already lists it")]
    found = false_audit_entries(entries, said, CLEAN_CLAIMS)
    assert len(found) == 1 and "this change's CTL update" in found[0]
    without = [e for e in entries if e.kind != "ctl.updated"]
    assert false_audit_entries(without, said, CLEAN_CLAIMS) == []


def test_already_present_trust_or_installed_certificate_this_change_uploaded_is_false() -> None:
    entries = clean_renewal().entries
    said = [
        CLEAN_AUDIT[0],
        audit("trust-uploaded", "uploaded nothing; already present ['Lab CA']"),
        audit("certificate-uploaded", "tomcat: already installed"),
    ]
    found = false_audit_entries(entries, said, CLEAN_CLAIMS)
    assert len(found) == 2
    assert "Lab CA was uploaded by this change" in found[0]
    assert "this change's upload of tomcat" in found[1]


def test_trust_subjects_are_read_before_a_note_that_follows_the_list() -> None:
    """Since intents, a retried trust upload ends its comment with a note on the subjects
    ucrenew uploaded: the lists are still read, and one still wrong is still found."""
    entries = clean_renewal().entries
    noted = " (Lab CA: uploaded by ucrenew, confirmed by read-back after a retry)"
    honest = audit("trust-uploaded", f"uploaded ['Lab CA']; already present none{noted}")
    assert false_audit_entries(entries, [CLEAN_AUDIT[0], honest, CLEAN_AUDIT[2]]) == []
    wrong = audit("trust-uploaded", f"uploaded nothing; already present ['Lab CA']{noted}")
    found = false_audit_entries(entries, [CLEAN_AUDIT[0], wrong, CLEAN_AUDIT[2]])
    assert len(found) == 1 and "Lab CA was uploaded by this change" in found[0]


def test_a_wave_done_on_a_node_that_never_restarted_is_a_false_claim() -> None:
    """Issue 16: one node's address pointing at another node: the restart step found "its"
    node already restarted, so one node restarted twice and the other never."""
    j = clean_renewal()
    j.add("service.control", "cucm-pub", service=TOMCAT, action="restart", origin="cli")
    claims = [*CLEAN_CLAIMS, RestartClaim("cucm-sub2.lab.example.com", TOMCAT, 3)]
    found = false_audit_entries(j.entries, CLEAN_AUDIT, claims)
    assert found == [
        f"wave 3 is done with {TOMCAT} restarted on cucm-sub2.lab.example.com, but the journal "
        "has no restart of it there"
    ]
    assert duplicated_effects(j.entries) == [f"{TOMCAT} restarted 2 times on cucm-pub"]


def test_phone_resets_claimed_beyond_the_journal_are_false() -> None:
    j = Journal().add(
        "phone.unregistered", "cucm-sub1", phones=["SEP1", "SEP2"], reason="reset:axl"
    )
    said = [audit("phones-reset", "phone reset batch 1/1: 2 of 2 phones reset")]
    assert false_audit_entries(j.entries, said) == []
    said.append(audit("phones-reset", "late phone reset batch 1/1: 1 of 1 phones reset"))
    assert false_audit_entries(j.entries, said) == [
        "audit claims 3 phone resets; the journal shows 2"
    ]


def test_restart_claims_are_the_waves_the_status_counts_done() -> None:
    waves = [
        RestartWave(index=i, nodes=[NodeRestart(node=f"n{i}.example.com", services=[TOMCAT])])
        for i in (1, 2, 3)
    ]
    restarts = RestartPlan(cluster="lab", purposes=["tomcat"], strategy="rolling", waves=waves)
    plan = RenewalPlan(
        cluster="lab",
        purposes=["tomcat"],
        publisher="n1.example.com",
        san=[f"n{i}.example.com" for i in (1, 2, 3)],
        restart_order=[f"n{i}.example.com" for i in (1, 2, 3)],
        sso_disable=False,
        steps=[],
        restarts=restarts,
    )
    status = RenewalStatus(
        change_id="CHG-1", cluster="lab", purposes=["tomcat"], ca="local", requested_by="t"
    )
    assert restart_claims(status) == []
    status.plan, status.waves_done = plan, 2
    assert restart_claims(status) == [
        RestartClaim("n1.example.com", TOMCAT, 1),
        RestartClaim("n2.example.com", TOMCAT, 2),
    ]
