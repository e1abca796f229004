"""The pure findings of workflows.caveats and the outstanding lines of workflows.compensation.

The scenarios are tech note 118731's: the three caveats (CSCur97909, CSCus47235, CSCup28852)
and the three reasons to re-issue a multi-server certificate (node added, subscriber restored
without a backup, host name or domain changed).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from activities.cluster_models import (
    ClusterSnapshot,
    LeftoverCertificate,
    LeftoverResult,
    NodeSnapshot,
)
from activities.models import CertificateInfo, CsrInfo
from workflows.caveats import (
    certificate_notes,
    cscup28852_check,
    csr_cn_finding,
    earliest_expiry,
    leftover_findings,
    reissue_findings,
)
from workflows.compensation import activation_outstanding, pending_activation
from workflows.models import RenewalPlan
from workflows.restart_models import NodeRestart, RestartPlan, RestartWave

D = "lab.example.com"
PUB, SUB1, SUB2, IMP = (f"{h}.{D}" for h in ("cucm-pub", "cucm-sub1", "cucm-sub2", "imp-pub"))
EXPIRY = datetime(2027, 3, 1, tzinfo=UTC)


def cert(
    serial: str,
    san: list[str],
    *,
    self_signed: bool = False,
    cn: str | None = None,
    not_after: datetime = EXPIRY,
) -> CertificateInfo:
    return CertificateInfo(
        subject_cn=cn or (san[0] if self_signed else f"cucm-pub-ms.{D}"),
        subject="CN=x",
        issuer="CN=x" if self_signed else "CN=Issuing CA",
        serial_hex=serial,
        sha256_fingerprint=f"fp{serial}",
        not_before=not_after - timedelta(days=365),
        not_after=not_after,
        san_dns=san,
        key_type="RSA",
        self_signed=self_signed,
        pem="-",
    )


def snapshot(
    certs: dict[str, CertificateInfo | None], purpose: str = "CallManager", **kw: object
) -> ClusterSnapshot:
    nodes = []
    for fqdn in (PUB, SUB1, SUB2, IMP):
        node = NodeSnapshot(fqdn=fqdn, product="imp" if fqdn == IMP else "cucm")
        if (c := certs.get(fqdn)) is not None:
            node.installed[purpose] = c
        nodes.append(node)
    return ClusterSnapshot.model_validate(
        {"cluster": "lab", "taken_at": EXPIRY, "domain": D, "nodes": nodes, **kw}
    )


MULTI = cert("ca5", [f"cucm-pub-ms.{D}", PUB, SUB1, SUB2])


def codes(findings: list) -> list[tuple[str, str | None]]:  # type: ignore[type-arg]
    return [(f.code, f.node) for f in findings]


# -- re-issue --------------------------------------------------------------------------------


def test_a_cluster_on_its_multi_server_certificate_needs_no_reissue() -> None:
    assert reissue_findings(snapshot({PUB: MULTI, SUB1: MULTI, SUB2: MULTI}), ["CallManager"]) == []


def test_self_signed_everywhere_is_a_first_issue_not_a_reissue() -> None:
    own = {n: cert(f"s{i}", [n], self_signed=True) for i, n in enumerate((PUB, SUB1, SUB2))}
    assert reissue_findings(snapshot(own), ["CallManager"]) == []


def test_per_node_certificates_are_not_a_multi_server_one() -> None:
    own = {n: cert(f"c{i}", [n], cn=n) for i, n in enumerate((PUB, SUB1, SUB2))}
    assert reissue_findings(snapshot(own), ["CallManager"]) == []


def test_a_node_added_since_is_not_in_the_sans() -> None:
    older = cert("ca4", [f"cucm-pub-ms.{D}", PUB, SUB1])
    new_node = cert("s3", [SUB2], self_signed=True)
    found = reissue_findings(snapshot({PUB: older, SUB1: older, SUB2: new_node}), ["CallManager"])
    assert codes(found) == [("reissue-node-added", SUB2)]
    assert "serial ca4" in found[0].message and "this renewal does it" in found[0].message


def test_a_node_restored_without_backup_is_self_signed_again() -> None:
    restored = cert("s9", [SUB1], self_signed=True)
    found = reissue_findings(snapshot({PUB: MULTI, SUB1: restored, SUB2: MULTI}), ["CallManager"])
    assert codes(found) == [("reissue-node-restored", SUB1)]
    assert "CSCuv75957" in found[0].message


def test_a_renamed_host_leaves_its_old_name_in_the_sans() -> None:
    renamed = cert("ca6", [f"cucm-pub-ms.{D}", PUB, SUB1, f"cucm-old.{D}", "im.example.org"])
    certs = {PUB: renamed, SUB1: renamed, SUB2: cert("s2", [SUB2], self_signed=True)}
    found = reissue_findings(snapshot(certs), ["CallManager"], other_domains=["im.example.org"])
    assert codes(found) == [("reissue-node-added", SUB2), ("reissue-hosts-gone", None)]
    gone = found[1].message
    assert f"cucm-old.{D}" in gone and "im.example.org" not in gone
    assert "cucm-pub-ms" not in gone  # the CN is no host


def test_tomcat_also_covers_nodes_only_axl_knows() -> None:
    multi = cert("ca7", [PUB, SUB1, SUB2, IMP])
    certs = dict.fromkeys((PUB, SUB1, SUB2, IMP), multi)
    found = reissue_findings(
        snapshot(certs, purpose="tomcat", axl_nodes=[PUB, "cucm-sub3"]), ["tomcat"]
    )
    assert codes(found) == [("reissue-node-added", "cucm-sub3")]
    assert "add the node to the inventory" in found[0].message


# -- notes and expiry ------------------------------------------------------------------------


def test_notes_show_each_purpose_on_the_nodes_of_its_san_only() -> None:
    snap = snapshot({PUB: MULTI, SUB1: MULTI})
    snap.nodes[0].certificates["CallManager"] = cert("old1", [PUB], self_signed=True)
    snap.nodes[2].certificate_errors["CallManager"] = "SIP TLS 5061: refused"
    notes = certificate_notes(snap, ["CallManager"])
    assert notes[0] == (
        f"{PUB}: current CallManager serial old1 (served on SIP TLS 5061, self-signed), "
        "expires 2027-03-01; installed ca5 is not active yet"
    )
    assert notes[1].startswith(f"{SUB1}: current CallManager serial ca5 (installed)")
    assert notes[2] == f"{SUB2}: current CallManager certificate unknown (SIP TLS 5061: refused)"
    assert len(notes) == 3  # the IM&P node is not in CallManager's SAN


def test_the_earliest_expiry_is_among_the_purposes_in_scope() -> None:
    soon = cert("s1", [SUB1], self_signed=True, not_after=EXPIRY - timedelta(days=9))
    snap = snapshot({PUB: MULTI, SUB1: soon})
    snap.nodes[3].installed["tomcat"] = cert("t", [IMP], not_after=EXPIRY - timedelta(days=30))
    first = earliest_expiry(snap, ["CallManager"])
    assert first is not None and first.serial_hex == "s1"


# -- the three caveats -----------------------------------------------------------------------


def test_cscus47235_a_csr_without_its_cn_among_the_sans() -> None:
    csr = CsrInfo(
        subject_cn=f"cucm-pub-ms.{D}",
        san_dns=[PUB, SUB1],
        key_type="RSA",
        public_key_sha256="k",
        pem="-",
    )
    finding = csr_cn_finding(csr, "tomcat")
    assert finding is not None and finding.code == "cscus47235-cn-not-in-san"
    assert f"have the CA add cucm-pub-ms.{D} as a SAN" in finding.message
    fixed = csr.model_copy(update={"san_dns": [f"CUCM-PUB-MS.{D}", PUB, SUB1]})
    assert csr_cn_finding(fixed, "tomcat") is None


def test_cscur97909_commands_say_where_and_whether_cluster_wide() -> None:
    def left(purpose: str, store: str, nodes: list[str]) -> LeftoverCertificate:
        return LeftoverCertificate(
            purpose=purpose,  # type: ignore[arg-type]
            store=store,
            file_name=f"{nodes[0]}_1f.pem",
            subject_cn=nodes[0],
            owner=nodes[0],
            serial="1f",
            not_after=EXPIRY,
            nodes=nodes,
        )

    result = LeftoverResult(
        leftovers=[
            left("CallManager", "CallManager-trust", [SUB1, PUB, SUB2]),
            left("cup-xmpp", "cup-xmpp-trust", [IMP]),
        ],
        errors={SUB2: "certmgr: HTTP 503"},
    )
    found = leftover_findings(result, {"CallManager": PUB, "cup-xmpp": IMP})
    assert codes(found) == [
        ("cscur97909-self-signed-left", SUB1),
        ("cscur97909-self-signed-left", IMP),
        ("cscur97909-unread", SUB2),
    ]
    assert (
        f"`set cert delete trust CallManager-trust/{SUB1}_1f.pem` on {PUB} (removes it from "
        "every node)" in found[0].message
    )
    assert "expires 2027-03-01" in found[0].message
    assert f"`set cert delete trust cup-xmpp-trust/{IMP}_1f.pem` on each of {IMP}" in (
        found[1].message
    )


def test_cscup28852_most_phones_registering_again_within_a_period() -> None:
    before = {f"SEP{i:012d}": 1000 for i in range(10)}
    after = {name: 1500 for name in list(before)[:5]} | {name: 1000 for name in list(before)[5:7]}
    check = cscup28852_check(before, after, 480)
    # 5 registered again, 3 not registered at the second look: 8 of 10.
    assert (check.watched, check.re_registered) == (10, 8)
    assert check.finding is not None and "8 of 10 phones" in check.finding.message
    quiet = cscup28852_check(before, dict(before), 480)
    assert quiet.re_registered == 0 and quiet.finding is None
    assert cscup28852_check({}, {}, 480).finding is None


# -- compensation ----------------------------------------------------------------------------


def cm_plan(version_services: list[str]) -> RenewalPlan:
    waves = [
        RestartWave(
            index=i + 1,
            nodes=[NodeRestart(node=n, services=version_services)],
        )
        for i, n in enumerate((PUB, SUB1, SUB2))
    ]
    return RenewalPlan(
        cluster="lab",
        purposes=["CallManager"],
        publisher=PUB,
        san=[PUB, SUB1, SUB2],
        restart_order=[PUB, SUB1, SUB2],
        sso_disable=False,
        steps=[],
        san_by_purpose={"CallManager": [PUB, SUB1, SUB2]},
        restarts=RestartPlan(
            cluster="lab", purposes=["CallManager"], strategy="rolling", waves=waves
        ),
    )


def test_a_node_serves_the_callmanager_certificate_once_all_its_services_restarted() -> None:
    services = ["Cisco CallManager", "Cisco CTIManager", "Cisco Trust Verification Service"]
    plan = cm_plan([*services, "Cisco Tftp"])
    restarted = {PUB: [*services, "Cisco Tftp"], SUB1: services}  # SUB1's TFTP still to come
    assert pending_activation("CallManager", plan, restarted, "12.5.1.14900-63") == [SUB1, SUB2]
    [line] = activation_outstanding(
        ["CallManager"], plan, restarted, "12.5.1.14900-63", mixed_mode_ctl_pending=True
    )
    assert line.startswith(
        f"the new CallManager certificate is installed but not yet served on {SUB1}, {SUB2}: "
        "it goes live at the next restart of Cisco CallManager, Cisco CTIManager, Cisco Trust "
        "Verification Service, Cisco Tftp (release 12.5.1.14900-63) or reboot of each of them"
    )
    assert "after `utils ctl update CTLFile` on the publisher (mixed mode)" in line


def test_on_14su1_haproxy_activates_callmanager() -> None:
    plan = cm_plan(["Cisco HAProxy"])
    restarted = {PUB: ["Cisco HAProxy"]}
    [line] = activation_outstanding(["CallManager"], plan, restarted, "14.0.1.13900-155")
    assert f"not yet served on {SUB1}, {SUB2}: it goes live at the next restart of Cisco " in line
    assert "HAProxy (release 14.0.1.13900-155)" in line
    everywhere = {n: ["Cisco HAProxy"] for n in (PUB, SUB1, SUB2)}
    assert activation_outstanding(["CallManager"], plan, everywhere, "14.0.1.13900-155") == []


def test_on_14su1_callmanager_ecdsa_needs_callmanager_and_haproxy() -> None:
    services = ["Cisco CallManager", "Cisco HAProxy"]
    plan = cm_plan(services).model_copy(
        update={
            "purposes": ["CallManager-ECDSA"],
            "san_by_purpose": {"CallManager-ECDSA": [PUB, SUB1, SUB2]},
        }
    )
    restarted = {PUB: ["Cisco HAProxy"], SUB1: services, SUB2: services}
    assert pending_activation("CallManager-ECDSA", plan, restarted, "14.0.1.13900-155") == [PUB]
    [line] = activation_outstanding(["CallManager-ECDSA"], plan, restarted, "14.0.1.13900-155")
    assert line.startswith(
        f"the new CallManager-ECDSA certificate is installed but not yet served on {PUB}: it "
        "goes live at the next restart of Cisco CallManager, Cisco HAProxy"
    )
    assert "phones then reset to fetch the new ITL" in line


def test_tomcat_not_yet_restarted_is_named_with_its_command() -> None:
    plan = cm_plan(["Cisco Tomcat"]).model_copy(
        update={"purposes": ["tomcat"], "san_by_purpose": {"tomcat": [PUB, SUB1]}}
    )
    [line] = activation_outstanding(["tomcat"], plan, {PUB: ["Cisco Tomcat"]}, "14.0.1")
    assert line == (
        f"the new tomcat certificate is installed but not yet served on {SUB1}: restart Cisco "
        "Tomcat there (utils service restart Cisco Tomcat) or reboot them; "
        f"on {SUB1}: `utils service restart Cisco Tomcat`"
    )


def test_nodes_a_rollback_regenerated_have_nothing_left_to_activate() -> None:
    plan = cm_plan(["Cisco Tomcat"]).model_copy(
        update={"purposes": ["tomcat"], "san_by_purpose": {"tomcat": [PUB, SUB1]}}
    )
    rolled_back = {PUB: ["tomcat"], SUB1: ["tomcat"]}
    assert activation_outstanding(["tomcat"], plan, {}, "14.0.1", rolled_back=rolled_back) == []
