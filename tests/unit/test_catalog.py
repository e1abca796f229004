"""The purpose catalog: every purpose ucrenew accepts has one entry, and the entries say what
Cisco's procedure says of each purpose."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import get_args

import pytest

from activities import catalog
from activities.catalog import PURPOSES, Purpose
from activities.cluster_models import ClusterSnapshot, NodeSnapshot, ServiceState
from workflows.models import RenewalOptions, RenewalPlan
from workflows.plan import compose_plan, preflight_problems


def test_every_purpose_has_one_entry() -> None:
    assert set(get_args(Purpose)) == set(PURPOSES)
    assert all(name == spec.name for name, spec in PURPOSES.items())


def test_an_unknown_purpose_names_the_known_ones() -> None:
    with pytest.raises(KeyError, match="one of tomcat, CallManager, cup-xmpp, cup-xmpp-s2s"):
        catalog.purpose("cup-xmpp-ECDSA")


def test_entries_follow_the_multi_server_procedure() -> None:
    # Cisco's multi-server CSR procedure (DESIGN §1 step 3): tomcat covers CUCM and IM&P,
    # CallManager the CUCM nodes, cup-xmpp(-s2s) the IM&P nodes; CA certificates go to
    # <purpose>-trust (step 5); only the CallManager and XMPP restarts touch phones or IM users.
    assert PURPOSES["tomcat"].san_products == ("cucm", "imp")
    assert PURPOSES["CallManager"].san_products == ("cucm",)
    assert PURPOSES["cup-xmpp"].csr_product == PURPOSES["cup-xmpp-s2s"].csr_product == "imp"
    assert [spec.trust_store for spec in PURPOSES.values()] == [
        "tomcat-trust",
        "CallManager-trust",
        "cup-xmpp-trust",
        "cup-xmpp-trust",  # cucm-interfaces.md §1.1: federation CAs go to cup-xmpp-trust
        "tomcat-trust",  # §1.1: an ECDSA purpose pairs with its RSA twin's store
        "CallManager-trust",
    ]
    assert not catalog.phone_impact(["tomcat"])
    assert catalog.phone_impact(["tomcat", "cup-xmpp"])
    assert [n for n, spec in PURPOSES.items() if spec.disables_sso] == ["tomcat", "tomcat-ECDSA"]


def test_restarts_by_product_and_release() -> None:
    # cucm-interfaces.md §10: CallManager on 12.5 restarts CallManager, CTIManager, TVS and
    # TFTP; an IM&P node is not in a CallManager certificate; XMPP restarts the XCP Router.
    cm = PURPOSES["CallManager"]
    assert cm.restart_services("cucm", "12.5.1.14900-63") == (
        catalog.CALLMANAGER,
        catalog.CTIMANAGER,
        catalog.TVS,
        catalog.TFTP,
    )
    assert cm.restart_services("imp", "12.5.1.14900-63") == ()
    assert PURPOSES["cup-xmpp"].restart_services("imp", "14.0.1") == (catalog.XCP_ROUTER,)
    assert PURPOSES["tomcat"].restart_services("imp", "14.0.1") == (catalog.TOMCAT,)


def test_plans_name_the_trust_store_each_purpose_uploads_to() -> None:
    snapshot = ClusterSnapshot(
        cluster="lab",
        taken_at=datetime(2026, 11, 30, tzinfo=UTC),
        version="14.0.1.13900-155",
        publisher="cucm-pub.example.com",
        nodes=[
            NodeSnapshot(fqdn="cucm-pub.example.com", product="cucm", role="publisher"),
            NodeSnapshot(fqdn="imp-pub.example.com", product="imp", role="publisher"),
        ],
    )
    plan = compose_plan(snapshot, ["cup-xmpp-s2s"], RenewalOptions())
    uploads = [s.action for s in plan.steps if s.phase == "upload-trust"]
    assert uploads == ["upload root then intermediates as cup-xmpp-trust"]
    # A change approved before the store was named right keeps its plan and hash.
    legacy = compose_plan(snapshot, ["cup-xmpp-s2s"], RenewalOptions(), legacy_labels=True)
    assert [s.action for s in legacy.steps if s.phase == "upload-trust"] == [
        "upload root then intermediates as cup-xmpp-s2s-trust"
    ]
    assert legacy.plan_hash != plan.plan_hash


# -- ECDSA purposes (14 and later) -----------------------------------------------------------

V12_5 = "12.5.1.16900-48"
V14 = "14.0.1.10000-20"
V14SU1 = "14.0.1.11900-132"
V14SU2 = "14.0.1.12900-161"
V14SU3 = "14.0.1.13900-155"


def test_ecdsa_entries_pair_with_their_rsa_twins() -> None:
    for name, twin in (("tomcat-ECDSA", "tomcat"), ("CallManager-ECDSA", "CallManager")):
        spec, rsa = PURPOSES[name], PURPOSES[twin]  # type: ignore[index]
        assert (spec.san_products, spec.csr_product) == (rsa.san_products, rsa.csr_product)
        assert (spec.trust_store, spec.listener) == (rsa.trust_store, rsa.listener)
        assert (spec.phone_impact, spec.disables_sso) == (rsa.phone_impact, rsa.disables_sso)
        assert (spec.key_type, spec.csr_key_type, spec.min_release) == ("ECDSA", "ec", (14, 0))
        assert (rsa.key_type, rsa.csr_key_type, rsa.min_release) == ("RSA", "rsa", ())
        assert "ECDSA" in spec.verify_label
        assert not spec.available_on(V12_5) and not spec.available_on("")
        assert spec.available_on(V14) and spec.available_on("15.0.1.10000-4")
        assert rsa.available_on(V12_5) and rsa.available_on("")


@pytest.mark.parametrize(
    ("version", "tomcat_ecdsa", "callmanager_ecdsa"),
    [
        # §11: no ECDSA purpose before 14: nothing to restart.
        (V12_5, (), ()),
        # §10: 14 before SU1 restarts CallManager, CTIManager and HAProxy for CallManager.
        (V14, (catalog.TOMCAT,), (catalog.CALLMANAGER, catalog.CTIMANAGER, catalog.HAPROXY)),
        # 14SU1+: CallManager and HAProxy for ECDSA (HAProxy alone for RSA).
        (V14SU1, (catalog.TOMCAT,), (catalog.CALLMANAGER, catalog.HAPROXY)),
        # 14SU2+: the DRF restart for tomcat-ECDSA.
        (
            V14SU2,
            (catalog.TOMCAT, catalog.DRF_MASTER, catalog.DRF_LOCAL),
            (catalog.CALLMANAGER, catalog.HAPROXY),
        ),
        (
            V14SU3,
            (catalog.TOMCAT, catalog.DRF_MASTER, catalog.DRF_LOCAL),
            (catalog.CALLMANAGER, catalog.HAPROXY),
        ),
        # No build number: the larger set is the safe one.
        ("14.0", (catalog.TOMCAT, catalog.DRF_MASTER, catalog.DRF_LOCAL), None),
    ],
)
def test_ecdsa_restarts_by_release(
    version: str,
    tomcat_ecdsa: tuple[str, ...],
    callmanager_ecdsa: tuple[str, ...] | None,
) -> None:
    assert PURPOSES["tomcat-ECDSA"].restart_services("cucm", version) == tomcat_ecdsa
    assert PURPOSES["tomcat-ECDSA"].restart_services("imp", version) == tomcat_ecdsa
    if callmanager_ecdsa is not None:
        cm_ec = PURPOSES["CallManager-ECDSA"]
        # The ECDSA row restarts for its EC key whatever key the caller passes.
        assert cm_ec.restart_services("cucm", version) == callmanager_ecdsa
        assert cm_ec.restart_services("cucm", version, "RSA") == callmanager_ecdsa
        assert cm_ec.restart_services("imp", version) == ()
    if version == V14SU1:
        assert PURPOSES["CallManager"].restart_services("cucm", version) == (catalog.HAPROXY,)


def _snapshot(version: str | None, *, sso: bool = True) -> ClusterSnapshot:
    cm = [
        ServiceState(name=s, status="Started")
        for s in (catalog.CALLMANAGER, catalog.CTIMANAGER, catalog.TFTP, catalog.TVS)
    ]
    return ClusterSnapshot(
        cluster="lab",
        taken_at=datetime(2026, 11, 30, tzinfo=UTC),
        version=version,
        publisher="cucm-pub.example.com",
        sso_enabled=sso,
        nodes=[
            NodeSnapshot(
                fqdn="cucm-pub.example.com", product="cucm", role="publisher", services=cm
            ),
            NodeSnapshot(fqdn="cucm-sub1.example.com", product="cucm", services=cm),
            NodeSnapshot(fqdn="imp-pub.example.com", product="imp", role="publisher"),
        ],
    )


def _restarts(plan: RenewalPlan) -> dict[str, list[str]]:
    assert plan.restarts is not None
    return {nr.node.split(".")[0]: nr.services for w in plan.restarts.waves for nr in w.nodes}


def test_ecdsa_purpose_before_14_is_a_blocking_preflight_problem() -> None:
    for version in (V12_5, None):
        problems = preflight_problems(_snapshot(version), ["tomcat", "CallManager-ECDSA"])
        release = [p for p in problems if p.code == "purpose-not-on-release"]
        assert len(release) == 1 and release[0].blocking
        assert release[0].message.startswith("CallManager-ECDSA exists on CUCM 14.0 and later")
    assert "runs 12.5.1.16900-48: renew CallManager instead" in catalog.release_problem(
        "CallManager-ECDSA", V12_5
    )
    assert not [
        p
        for p in preflight_problems(_snapshot(V14), ["tomcat-ECDSA", "CallManager-ECDSA"])
        if p.code == "purpose-not-on-release"
    ]
    # The plan itself restarts nothing for a purpose the release does not have.
    plan = compose_plan(_snapshot(V12_5), ["tomcat-ECDSA"], RenewalOptions())
    assert _restarts(plan) == {}


def test_tomcat_ecdsa_plan_on_14su2() -> None:
    plan = compose_plan(_snapshot(V14SU2), ["tomcat-ECDSA"], RenewalOptions())
    csr = next(s for s in plan.steps if s.phase == "csr")
    assert csr.action == "generate multi-server tomcat-ECDSA CSR"
    assert csr.detail.endswith("; key EC 256, hash SHA256")
    legacy = compose_plan(_snapshot(V14SU2), ["tomcat-ECDSA"], RenewalOptions(), csr_detail=False)
    assert next(s for s in legacy.steps if s.phase == "csr").detail.endswith("; ECDSA (EC) key")
    assert [s.action for s in plan.steps if s.phase == "upload-trust"] == [
        "upload root then intermediates as tomcat-trust"
    ]
    assert plan.sso_disable and not plan.phone_impact
    # Tomcat and DRF Local everywhere, DRF Master on the CUCM publisher only; one node at a
    # time, publisher first, as for tomcat.
    assert _restarts(plan) == {
        "cucm-pub": [catalog.TOMCAT, catalog.DRF_LOCAL, catalog.DRF_MASTER],
        "cucm-sub1": [catalog.TOMCAT, catalog.DRF_LOCAL],
        "imp-pub": [catalog.TOMCAT, catalog.DRF_LOCAL],
    }
    assert plan.restarts is not None and all(len(w.nodes) == 1 for w in plan.restarts.waves)
    assert plan.restart_order[0] == "cucm-pub.example.com"
    verify = [s.action for s in plan.steps if s.phase == "verify"]
    assert verify == ["TLS handshake on HTTPS 8443 (ECDSA-only handshake)"] * 3
    # An RSA tomcat plan names its RSA key; plans of changes started before the plan named
    # the key carry no note (their hash stays).
    rsa = compose_plan(_snapshot(V14SU2), ["tomcat"], RenewalOptions())
    san = "SAN: cucm-pub.example.com, cucm-sub1.example.com, imp-pub.example.com"
    assert rsa.steps[0].detail == san + "; key RSA 2048, hash SHA256"
    legacy_rsa = compose_plan(_snapshot(V14SU2), ["tomcat"], RenewalOptions(), csr_detail=False)
    assert legacy_rsa.steps[0].detail == san


def test_plan_names_the_csr_options() -> None:
    options = RenewalOptions(
        key_length=3072,
        ec_key_length=384,
        hash_algorithm="SHA384",
        other_domains=["uc.example.com", "UC.example.com."],
        min_remaining_days=90,
    )
    plan = compose_plan(_snapshot(V14SU2), ["tomcat", "tomcat-ECDSA"], options)
    details = [s.detail for s in plan.steps if s.phase in ("csr", "validate")]
    assert details[0].endswith("; key RSA 3072, hash SHA384; other domains: uc.example.com")
    assert details[1].endswith("validity (at least 90 days left)")
    assert details[2].endswith("; key EC 384, hash SHA384; other domains: uc.example.com")
    assert plan.plan_hash != compose_plan(_snapshot(V14SU2), ["tomcat"], RenewalOptions()).plan_hash


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"key_length": 1024}, "80 bits of security"),
        ({"key_length": 8192}, "2048, 3072, 4096"),
        ({"ec_key_length": 521}, "256 or 384"),
        ({"hash_algorithm": "sha1"}, "sha256, sha384, sha512"),
        ({"ec_key_length": 384}, "CUCM allows sha384, sha512"),
        ({"other_domains": ["*.example.com"]}, "wildcard"),
        ({"other_domains": ["not a name"]}, "DNS name"),
        ({"min_remaining_days": 0}, "greater than or equal to 1"),
    ],
)
def test_csr_options_outside_what_cucm_offers_are_refused(
    fields: dict[str, object], reason: str
) -> None:
    with pytest.raises(ValueError, match=reason):
        RenewalOptions.model_validate(fields)


@pytest.mark.parametrize(
    ("version", "services"),
    [
        (V14, [catalog.CALLMANAGER, catalog.CTIMANAGER, catalog.HAPROXY]),
        (V14SU1, [catalog.CALLMANAGER, catalog.HAPROXY]),
    ],
)
def test_callmanager_ecdsa_plan_by_release(version: str, services: list[str]) -> None:
    plan = compose_plan(_snapshot(version), ["CallManager-ECDSA"], RenewalOptions())
    assert plan.phone_impact and not plan.sso_disable
    assert _restarts(plan) == {"cucm-pub": services, "cucm-sub1": services}
    assert [s.node for s in plan.steps if s.phase == "verify"] == [
        "cucm-pub.example.com",
        "cucm-sub1.example.com",
    ]
    # Mixed mode: the CTL is updated before any restart, as for the RSA CallManager.
    mixed = _snapshot(version).model_copy(update={"security_mode": 1})
    mixed_plan = compose_plan(mixed, ["CallManager-ECDSA"], RenewalOptions())
    assert mixed_plan.restarts is not None and mixed_plan.restarts.ctl_update_first
