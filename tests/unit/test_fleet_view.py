"""The fleet view of a cluster from a discovery snapshot: expiry, drift, failed clusters, the
UI metadata texts, and the table ``ucrenew fleet`` prints."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from pydantic import ValidationError
from rich.console import Console

from activities.clients.inventory import ChangePolicyEntry
from activities.cluster_models import ClusterSnapshot, NodeSnapshot
from activities.fleet_models import AutoRenewPolicy, FleetTarget, KnownCa, LastRenewal, LastRenewals
from activities.models import CertificateInfo
from console.fleet import fleet_table, renewals_table
from workflows.fleet import (
    auto_change_id,
    auto_renew_due,
    fleet_cluster,
    fleet_purposes,
    jitter_seconds,
    normal_serial,
)
from workflows.fleet_models import AutoRenewOutcome, FleetView
from workflows.models import AuditEvent, RenewalInput, RenewalOptions, RenewalStatus
from workflows.ui_metadata import activity_summary, current_details, static_details

NOW = datetime(2026, 6, 1, tzinfo=UTC)
PUB, SUB, IMP = "cucm-pub.x.test", "cucm-sub.x.test", "imp-pub.x.test"
TARGET = FleetTarget(cluster="c1", version="15.0.1.10000-1", products=["cucm", "imp"])


def cert(serial: str, days: float, sans: list[str], fp: str | None = None) -> CertificateInfo:
    return CertificateInfo(
        subject_cn=sans[0] if sans else "x",
        subject=f"CN={sans[0] if sans else 'x'}",
        issuer="CN=Issuing CA",
        serial_hex=serial,
        sha256_fingerprint=fp or f"fp-{serial}",
        not_before=NOW - timedelta(days=300),
        not_after=NOW + timedelta(days=days),
        san_dns=sans,
        has_san=bool(sans),
        key_type="RSA",
        pem="",
    )


def node(fqdn: str, product: str = "cucm", **tomcat: CertificateInfo) -> NodeSnapshot:
    role = "publisher" if "pub" in fqdn else "subscriber"
    return NodeSnapshot(
        fqdn=fqdn,
        product=product,  # type: ignore[arg-type]
        role=role,  # type: ignore[arg-type]
        https_ok=True,
        certificates={"tomcat": tomcat["served"]} if "served" in tomcat else {},
        installed={"tomcat": tomcat["installed"]} if "installed" in tomcat else {},
    )


def snapshot(*nodes: NodeSnapshot) -> ClusterSnapshot:
    return ClusterSnapshot(cluster="c1", taken_at=NOW, version=TARGET.version, nodes=list(nodes))


def tomcat_of(snap: ClusterSnapshot, last: LastRenewals | None = None, warning: int = 30):  # type: ignore[no-untyped-def]
    cluster = fleet_cluster(TARGET, snap, last, NOW, warning)
    return cluster, next(p for p in cluster.purposes if p.purpose == "tomcat")


def kinds(purpose) -> list[str]:  # type: ignore[no-untyped-def]
    return [d.kind for d in purpose.drift]


MULTI = [PUB, SUB, IMP]


def test_purposes_follow_products_and_release() -> None:
    assert fleet_purposes(FleetTarget(cluster="a", version="12.5.1", products=["cucm"])) == [
        "tomcat",
        "CallManager",
    ]
    assert "cup-xmpp" in fleet_purposes(TARGET) and "tomcat-ECDSA" in fleet_purposes(TARGET)
    assert "tomcat-ECDSA" not in fleet_purposes(FleetTarget(cluster="a", products=["cucm"]))


def test_one_multi_server_certificate_everywhere_is_no_drift() -> None:
    c = cert("0a1b", 200, MULTI)
    cluster, tomcat = tomcat_of(
        snapshot(
            node(PUB, served=c, installed=c),
            node(SUB, served=c, installed=c),
            node(IMP, "imp", served=c, installed=c),
        ),
        LastRenewals(
            cluster="c1", by_purpose={"tomcat": LastRenewal(change_id="CHG1", serial="A1B")}
        ),
    )
    assert cluster.status == "ok"
    assert tomcat.days_to_expiry == 200 and tomcat.drift == []
    assert tomcat.last_change_id == "CHG1"
    assert [n.node for n in tomcat.nodes] == [PUB, SUB, IMP]
    # The installed certificate is the served one: said once, to keep the scan's result small.
    first = tomcat.nodes[0]
    assert first.installed is None and first.installed_same
    assert first.installed_certificate == first.served


def test_a_node_serving_another_certificate_of_a_multi_server_set_is_drift() -> None:
    c = cert("aa", 200, MULTI)
    odd = cert("bb", 300, [SUB])
    _, tomcat = tomcat_of(
        snapshot(
            node(PUB, served=c, installed=c),
            node(SUB, served=odd, installed=odd),
            node(IMP, "imp", served=c, installed=c),
        ),
        LastRenewals(
            cluster="c1", by_purpose={"tomcat": LastRenewal(change_id="CHG1", serial="aa")}
        ),
    )
    differs = next(d for d in tomcat.drift if d.kind == "differs-between-nodes")
    assert differs.nodes == [SUB]
    replaced = next(d for d in tomcat.drift if d.kind == "not-from-last-change")
    assert replaced.nodes == [SUB] and "CHG1" in replaced.message


def test_per_node_self_signed_certificates_are_not_a_multi_server_set() -> None:
    _, tomcat = tomcat_of(
        snapshot(
            node(PUB, served=cert("1", 200, [PUB])),
            node(SUB, served=cert("2", 200, [SUB])),
            node(IMP, "imp", served=cert("3", 200, [IMP])),
        )
    )
    assert "differs-between-nodes" not in kinds(tomcat)


def test_served_other_than_installed_says_a_restart_is_pending() -> None:
    old, new = cert("1", 200, MULTI), cert("2", 400, MULTI)
    _, tomcat = tomcat_of(
        snapshot(
            node(PUB, served=old, installed=new),
            node(SUB, served=new, installed=new),
            node(IMP, "imp", served=new, installed=new),
        )
    )
    pending = next(d for d in tomcat.drift if d.kind == "served-not-installed")
    assert pending.nodes == [PUB]
    pub = tomcat.nodes[0]
    assert not pub.installed_same and pub.installed_certificate is not None
    assert pub.installed_certificate.serial == "2"


def test_expiring_and_expired() -> None:
    soon = cert("1", 10.5, MULTI)
    _, tomcat = tomcat_of(snapshot(node(PUB, served=soon), node(SUB, served=soon)), warning=30)
    # 10 days left of a 310-day lifetime is also past the default threshold (a third).
    assert tomcat.days_to_expiry == 10 and kinds(tomcat) == ["expiring", "renewal-due"]
    _, tomcat = tomcat_of(snapshot(node(PUB, served=soon), node(SUB, served=soon)), warning=5)
    assert kinds(tomcat) == ["renewal-due"]
    gone = cert("1", -2, MULTI)
    _, tomcat = tomcat_of(snapshot(node(PUB, served=gone), node(SUB, served=gone)))
    assert tomcat.days_to_expiry == -2 and kinds(tomcat) == ["expired"]


def test_an_unreadable_node_is_reported_not_dropped() -> None:
    c = cert("1", 200, MULTI)
    broken = NodeSnapshot(
        fqdn=SUB, https_error="connection refused", certificate_errors={"tomcat": "HTTPS: refused"}
    )
    _, tomcat = tomcat_of(snapshot(node(PUB, served=c), broken))
    assert [n.node for n in tomcat.nodes] == [PUB, SUB]
    unreadable = next(d for d in tomcat.drift if d.kind == "unreadable")
    assert unreadable.nodes == [SUB] and "refused" in unreadable.message


def test_a_cluster_none_of_whose_certificates_can_be_read_is_failed() -> None:
    down = [
        NodeSnapshot(fqdn=f, product=p, https_error="connection refused")  # type: ignore[arg-type]
        for f, p in ((PUB, "cucm"), (SUB, "cucm"), (IMP, "imp"))
    ]
    cluster = fleet_cluster(TARGET, snapshot(*down), None, NOW, 30)
    assert cluster.status == "failed"
    assert cluster.error is not None and "connection refused" in cluster.error
    assert cluster.purposes, "the purposes stay, each node with its error"


def test_days_are_counted_again_from_the_readers_time() -> None:
    c = cert("1", 20, MULTI)
    cluster, _ = tomcat_of(snapshot(node(PUB, served=c)))
    view = FleetView(scanned_at=NOW, as_of=NOW, warning_days=30, clusters=[cluster])
    later = view.at(NOW + timedelta(days=5))
    tomcat = later.clusters[0].purposes[0]
    assert tomcat.days_to_expiry == 15 and tomcat.nodes[0].served is not None
    assert tomcat.nodes[0].served.days_to_expiry == 15


def test_serials_compare_in_one_spelling() -> None:
    assert normal_serial("00:0A:1b") == normal_serial("a1b") == "a1b"


def test_the_fleet_table_shows_failed_clusters_and_drift() -> None:
    c = cert("1", 10, MULTI)
    ok, _ = tomcat_of(snapshot(node(PUB, served=c)))
    failed = fleet_cluster(
        FleetTarget(cluster="c2", products=["cucm"]),
        ClusterSnapshot(
            cluster="c2", taken_at=NOW, nodes=[NodeSnapshot(fqdn="n", https_error="refused")]
        ),
        None,
        NOW,
        30,
    )
    view = FleetView(scanned_at=NOW, as_of=NOW, warning_days=30, clusters=[ok, failed])
    out = Console(width=250, record=True)
    out.print(fleet_table(view))
    text = out.export_text()
    assert "c2" in text and "failed" in text and "refused" in text
    assert "expires in 10 day(s)" in text


def test_ui_metadata_texts() -> None:
    inp = RenewalInput(
        change_id="CHG9",
        cluster="c1",
        purposes=["tomcat", "CallManager"],
        ca="adcs",
        ca_name="corp",
        requested_by="alice",
        options=RenewalOptions(),
    )
    details = static_details(inp, "https://ucrenew.example.net/")
    assert "**CA** adcs (corp)" in details
    assert "impact approval" in details
    assert "[https://ucrenew.example.net/renewals/CHG9]" in details
    status = RenewalStatus(
        change_id="CHG9",
        cluster="c1",
        purposes=["tomcat"],
        ca="adcs",
        requested_by="alice",
        phase="ca-wait",
        awaiting="ca",
        ca_request_ref="42",
    )
    assert "**Waiting on** the CA (request 42)" in current_details(status)
    assert "**Phase** ca-wait" in current_details(status)

    approved = [
        AuditEvent(at=NOW, actor="a1", action="approved"),
        AuditEvent(at=NOW, actor="a2", action="approved"),
        AuditEvent(at=NOW, actor="a1", action="approved-impact"),
    ]
    at_impact = status.model_copy(
        update={"awaiting": "approval", "gate": "impact", "approvals": approved}
    )
    assert "an approver (gate impact, 1 approval(s) so far)" in current_details(at_impact)

    class Req:
        cluster = "c1"
        node = PUB
        service = "Cisco Tomcat"

    assert activity_summary("restart_service", Req()) == f"restart service {PUB} Cisco Tomcat (c1)"


# -- drift that starts renewals, and the auto-renew decision --------------------------------


def test_a_node_added_after_issuance_is_missing_from_the_sans() -> None:
    ms = cert("1", 300, [PUB, SUB])
    own = cert("2", 300, [IMP])
    _, tomcat = tomcat_of(
        snapshot(node(PUB, served=ms), node(SUB, served=ms), node(IMP, "imp", served=own))
    )
    found = {d.kind: d.nodes for d in tomcat.drift}
    assert found["node-not-in-san"] == [IMP] and found["differs-between-nodes"] == [IMP]
    # A per-node set (no certificate names two nodes) has no SAN set to be missing from.
    _, tomcat = tomcat_of(
        snapshot(node(PUB, served=cert("3", 300, [PUB])), node(SUB, served=cert("4", 300, [SUB])))
    )
    assert kinds(tomcat) == []


def test_self_signed_only_where_a_ca_signed_certificate_was_issued() -> None:
    selfish = cert("9", 300, [SUB]).model_copy(update={"self_signed": True, "issuer": f"CN={SUB}"})
    lone = cert("8", 300, [PUB]).model_copy(update={"self_signed": True, "issuer": f"CN={PUB}"})
    # Install-time: every node self-signed, nothing issued: no drift.
    _, tomcat = tomcat_of(snapshot(node(PUB, served=lone), node(SUB, served=selfish)))
    assert "self-signed" not in kinds(tomcat)
    # A CA-signed one on the publisher: the subscriber restored without backup.
    _, tomcat = tomcat_of(
        snapshot(node(PUB, served=cert("1", 300, [PUB])), node(SUB, served=selfish))
    )
    assert {d.kind: d.nodes for d in tomcat.drift}["self-signed"] == [SUB]
    # Issued by the last ucrenew change, though no other node shows it.
    last = LastRenewals(
        cluster="c1", by_purpose={"tomcat": LastRenewal(change_id="CHG9", serial="1")}
    )
    _, tomcat = tomcat_of(snapshot(node(SUB, served=selfish)), last)
    finding = next(d for d in tomcat.drift if d.kind == "self-signed")
    assert finding.nodes == [SUB] and "CHG9" in finding.message


def test_a_renamed_host_or_domain_is_a_name_mismatch() -> None:
    _, tomcat = tomcat_of(snapshot(node(PUB, served=cert("1", 300, ["cucm-pub.old.test"]))))
    assert {d.kind: d.nodes for d in tomcat.drift} == {"name-mismatch": [PUB]}
    # The CN alone, or a wildcard over the node's domain, names it.
    by_cn = cert("2", 300, []).model_copy(update={"subject_cn": PUB.upper()})
    _, tomcat = tomcat_of(snapshot(node(PUB, served=by_cn)))
    assert kinds(tomcat) == []
    _, tomcat = tomcat_of(snapshot(node(PUB, served=cert("3", 300, ["*.x.test"]))))
    assert kinds(tomcat) == []


def test_a_ca_of_the_chain_about_to_expire() -> None:
    root, issuing = "CN=Root", "CN=Issuing CA"
    cas = [
        KnownCa(subject=issuing, issuer=root, not_after=NOW + timedelta(days=400)),
        KnownCa(subject=root, issuer=root, not_after=NOW + timedelta(days=45)),
    ]
    last = LastRenewals(cluster="c1", cas=cas)
    _, tomcat = tomcat_of(snapshot(node(PUB, served=cert("1", 300, [PUB]))), last)
    finding = next(d for d in tomcat.drift if d.kind == "ca-expiring")
    assert finding.nodes == [PUB] and root in finding.message and "45 day(s)" in finding.message
    # Below the policy's warning, nothing.
    cluster = fleet_cluster(
        TARGET,
        snapshot(node(PUB, served=cert("1", 300, [PUB]))),
        last,
        NOW,
        30,
        AutoRenewPolicy(ca_warning_days=30),
    )
    assert kinds(cluster.purposes[0]) == []


def test_renewal_due_at_a_third_of_the_lifetime_or_the_policys_days() -> None:
    # cert(): issued 300 days ago; 160 left of 460 is above a third, 140 left below.
    _, tomcat = tomcat_of(snapshot(node(PUB, served=cert("1", 160, [PUB]))))
    assert kinds(tomcat) == []
    _, tomcat = tomcat_of(snapshot(node(PUB, served=cert("1", 140, [PUB]))))
    assert kinds(tomcat) == ["renewal-due"]
    cluster = fleet_cluster(
        TARGET,
        snapshot(node(PUB, served=cert("1", 140, [PUB]))),
        None,
        NOW,
        30,
        AutoRenewPolicy(threshold_days=100),
    )
    assert kinds(cluster.purposes[0]) == []


def test_what_makes_a_purpose_due_follows_the_policy() -> None:
    ms = cert("1", 300, [PUB, SUB])
    cluster = fleet_cluster(
        TARGET,
        snapshot(
            node(PUB, served=ms),
            node(SUB, served=ms),
            node(IMP, "imp", served=cert("2", 300, [IMP])),
        ),
        None,
        NOW,
        30,
    )
    assert auto_renew_due(cluster, AutoRenewPolicy(enabled=True, on_drift=[])) == {}
    due = auto_renew_due(cluster, AutoRenewPolicy(enabled=True, on_drift=["node-not-in-san"]))
    assert due == {"tomcat": ["node-not-in-san"]}
    only_xmpp = AutoRenewPolicy(enabled=True, purposes=["cup-xmpp"], on_drift=["node-not-in-san"])
    assert auto_renew_due(cluster, only_xmpp) == {}


def test_change_id_and_jitter_are_deterministic() -> None:
    assert auto_change_id("lab east/1", NOW) == "AUTO-lab-east-1-20260601"
    assert jitter_seconds("lab", 1800) == jitter_seconds("lab", 1800) < 1800
    assert jitter_seconds("lab", 0) == 0
    # Whole minutes over the window: 300 clusters use every minute of 30, none crowded.
    per_minute = Counter(jitter_seconds(f"c{i}", 1800) for i in range(300))
    assert all(offset % 60 == 0 for offset in per_minute)
    assert len(per_minute) == 30 and max(per_minute.values()) <= 25
    assert len({jitter_seconds(f"c{i}", 50) for i in range(300)}) == 50


def test_an_unknown_purpose_in_auto_renew_is_refused_by_name() -> None:
    with pytest.raises(ValidationError) as err:
        ChangePolicyEntry.model_validate({"auto_renew": {"enabled": True, "purposes": ["tomcatt"]}})
    assert "unknown purpose(s) tomcatt" in str(err.value)
    with pytest.raises(ValidationError):
        ChangePolicyEntry.model_validate({"auto_renew": {"on_drift": ["expiring"]}})
    entry = ChangePolicyEntry.model_validate({"auto_renew": {"enabled": True}})
    assert entry.auto_renew is not None and entry.auto_renew.require_plan_approval


def test_the_fleet_table_shows_what_the_scan_started_or_would_start() -> None:
    cluster = fleet_cluster(
        TARGET, snapshot(node(PUB, served=cert("1", 140, [PUB]))), None, NOW, 30
    )
    started = cluster.model_copy(
        update={
            "auto_renew": AutoRenewOutcome(
                status="started",
                change_id="AUTO-c1-20260601",
                purposes=["tomcat"],
                detail="started AUTO-c1-20260601; it waits for a plan approval",
                started_at=NOW,
            )
        }
    )
    off = cluster.model_copy(update={"cluster": "c2", "auto_renew": AutoRenewOutcome(status="off")})
    view = FleetView(scanned_at=NOW, as_of=NOW, warning_days=30, clusters=[started, off])
    console = Console(width=250, record=True)
    console.print(fleet_table(view))
    text = console.export_text()
    assert "renewals the scan starts" in text and "AUTO-c1-20260601" in text
    assert "waits for a plan approval" in text
    table = renewals_table(view)
    assert table is not None and table.row_count == 1
    assert renewals_table(view.model_copy(update={"clusters": [off]})) is None


def test_the_fleet_page_shows_the_renewal_the_scan_started() -> None:
    from service.dashboard.router import templates
    from service.principal import Principal

    cluster = fleet_cluster(
        TARGET, snapshot(node(PUB, served=cert("1", 140, [PUB]))), None, NOW, 30
    )
    started = cluster.model_copy(
        update={
            "auto_renew": AutoRenewOutcome(
                status="started",
                change_id="AUTO-c1-20260601",
                purposes=["tomcat"],
                reasons=["tomcat: renewal-due"],
                detail="started AUTO-c1-20260601; it waits for a plan approval",
            )
        }
    )
    off = cluster.model_copy(update={"cluster": "c2", "auto_renew": AutoRenewOutcome(status="off")})
    view = FleetView(scanned_at=NOW, as_of=NOW, warning_days=30, clusters=[started, off])
    # The page as the router renders it, with a browser session of its own.
    request = SimpleNamespace(session={})
    html = templates.get_template("fleet.html").render(
        view=view,
        error=None,
        request=request,
        principal=Principal(name="alice", via="password"),
        now=NOW,
    )
    assert html.count("Renewal by the scan") == 1
    assert '<a href="/renewals/AUTO-c1-20260601">AUTO-c1-20260601</a>' in html
    assert "tomcat: renewal-due" in html and "waits for a plan approval" in html


def test_the_schedules_jitter_never_outlasts_half_the_scan_interval() -> None:
    from workers.fleet import start_jitter_seconds
    from workers.settings import UcrenewSettings

    assert start_jitter_seconds(UcrenewSettings()) == 30 * 60
    short = UcrenewSettings(fleet_scan_minutes=20, fleet_start_jitter_minutes=30)
    assert start_jitter_seconds(short) == 10 * 60
    assert start_jitter_seconds(UcrenewSettings(fleet_start_jitter_minutes=0)) == 0
