"""The purpose catalog: every purpose ucrenew accepts has one entry, and the entries say what
Cisco's procedure says of each purpose."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import get_args

import pytest

from activities import catalog
from activities.catalog import PURPOSES, Purpose
from activities.cluster_models import ClusterSnapshot, NodeSnapshot
from workflows.models import RenewalOptions
from workflows.plan import compose_plan


def test_every_purpose_has_one_entry() -> None:
    assert set(get_args(Purpose)) == set(PURPOSES)
    assert all(name == spec.name for name, spec in PURPOSES.items())


def test_an_unknown_purpose_names_the_known_ones() -> None:
    with pytest.raises(KeyError, match="one of tomcat, CallManager, cup-xmpp, cup-xmpp-s2s"):
        catalog.purpose("tomcat-ECDSA")


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
    ]
    assert not catalog.phone_impact(["tomcat"])
    assert catalog.phone_impact(["tomcat", "cup-xmpp"])
    assert [n for n, spec in PURPOSES.items() if spec.disables_sso] == ["tomcat"]


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
