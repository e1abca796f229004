"""The per-purpose activities against the lab: discovery, assessment and the CSCur97909 list."""

from __future__ import annotations

from temporalio.testing import ActivityEnvironment

from activities.cluster_models import AssessRequest, DiscoverRequest, LeftoverRequest
from activities.cucm import CucmActivities
from lab import pki
from tests.lab.conftest import LabHandle
from tests.lab.test_phones import install_cert


def activities(lab: LabHandle) -> CucmActivities:
    path = lab.lab.state_dir / "inventory.yaml"
    return CucmActivities(inventory_loader=lambda: path)


async def test_discover_reads_the_purposes_asked_for(lab: LabHandle) -> None:
    snap = await ActivityEnvironment().run(
        activities(lab).discover_cluster, DiscoverRequest(cluster="lab", purposes=["cup-xmpp"])
    )
    imp = lab.lab.cluster.node("imp-pub")
    assert snap.node("imp-pub").certificates["cup-xmpp"].serial_hex == pki.serial_hex(
        imp.active["cup-xmpp"].cert
    )
    # Without purposes discovery reads tomcat's served certificate only, as before.
    plain = await ActivityEnvironment().run(
        activities(lab).discover_cluster, DiscoverRequest(cluster="lab")
    )
    assert all(list(n.certificates) == ["tomcat"] and not n.installed for n in plain.nodes)


async def test_assess_and_leftovers_after_a_callmanager_upload(lab: LabHandle) -> None:
    cluster = lab.lab.cluster
    old = {n.fqdn: pki.serial_hex(n.active["CallManager"].cert) for n in cluster.nodes[:3]}
    _, root = install_cert(lab.lab, "CallManager")
    acts = activities(lab)
    assessment = await ActivityEnvironment().run(
        acts.assess_cluster, AssessRequest(cluster="lab", purposes=["CallManager"])
    )
    served = {s.node: s.served_by_purpose.get("CallManager") for s in assessment.nodes}
    assert served == {**old, cluster.node("imp-pub").fqdn: None}  # not active before restarts
    found = await ActivityEnvironment().run(
        acts.find_leftover_certificates,
        LeftoverRequest(cluster="lab", purposes=["CallManager"], extra_roots_pem=[root]),
    )
    assert sorted(left.serial for left in found.leftovers) == sorted(old.values())
