"""Each purpose's certificate read from the lab, and the CSCur97909 and CSCup28852 checks.

The lab's own state (``active``: what a listener serves, ``own``: what is installed, the
trust stores, the journal) is the oracle.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from activities.clients.cucm.certmgr import CertMgrClient
from activities.clients.cucm.discovery import discover
from activities.clients.cucm.phone_watch import registration_times
from activities.clients.cucm.purpose_certs import leftover_self_signed
from lab import pki
from lab.server import Lab
from lab.timing import FAST
from tests.lab.conftest import LabHandle, lab_spec
from tests.lab.test_phones import install_cert, restart, timing, until
from workflows.caveats import cscup28852_check

CM = "Cisco CallManager"
CUCM = ["cucm-pub", "cucm-sub1", "cucm-sub2"]


def serial(kc: pki.KeyedCert) -> str:
    return pki.serial_hex(kc.cert)


async def test_discovery_reads_each_purpose_on_the_nodes_of_its_san(lab: LabHandle) -> None:
    cluster = lab.lab.cluster
    purposes = ["CallManager", "cup-xmpp", "cup-xmpp-s2s"]
    snapshot = await discover(lab.inventory, lab.cluster_entry.name, purposes=purposes)
    for snap in snapshot.nodes:
        node = cluster.node(snap.fqdn)
        mine = [p for p in purposes if p in node.active]
        # tomcat is always read; the other purposes only where their SAN reaches.
        assert sorted(snap.certificates) == sorted(["tomcat", *mine])
        assert sorted(snap.installed) == sorted(mine)
        for purpose in mine:
            assert snap.certificates[purpose].serial_hex == serial(node.active[purpose])
            assert snap.installed[purpose].serial_hex == serial(node.own[purpose])
            assert snap.current(purpose) == snap.certificates[purpose]
        assert snap.certificate_errors == {}
    assert snapshot.node("imp-pub").certificates.get("CallManager") is None


async def test_an_installed_certificate_not_yet_served_is_seen_apart(lab: LabHandle) -> None:
    """After the upload SIP TLS still serves the old certificate: served and installed differ;
    with Cisco CallManager stopped, 5061 does not answer and the installed one remains."""
    cluster = lab.lab.cluster
    install_cert(lab.lab, "CallManager")
    sub2 = cluster.node("cucm-sub2")
    svc = cluster.control(sub2, CM, "stop", origin="test")
    assert svc.task is not None
    await svc.task
    snapshot = await discover(lab.inventory, lab.cluster_entry.name, purposes=["CallManager"])
    pub = snapshot.node("cucm-pub")
    node = cluster.node("cucm-pub")
    assert pub.certificates["CallManager"].serial_hex == serial(node.active["CallManager"])
    assert pub.installed["CallManager"].serial_hex == serial(node.own["CallManager"])
    assert pub.installed["CallManager"] != pub.certificates["CallManager"]
    stopped = snapshot.node("cucm-sub2")
    assert "CallManager" not in stopped.certificates
    assert "SIP TLS 5061" in stopped.certificate_errors["CallManager"]
    assert stopped.current("CallManager") == stopped.installed["CallManager"]


async def test_cup_xmpp_s2s_lists_the_cup_xmpp_trust_store(lab: LabHandle) -> None:
    """cucm-interfaces.md §1.1: cup-xmpp-s2s pairs with cup-xmpp-trust, on upload and list."""
    imp = lab.lab.cluster.node("imp-pub")
    async with CertMgrClient(lab.endpoint("imp-pub"), lab.os_admin) as certmgr:
        listed = await certmgr.list_trust("cup-xmpp-s2s")
    assert {t.store for t in listed} == {"cup-xmpp-trust"}
    assert sorted(t.file_name for t in listed) == sorted(imp.trust["cup-xmpp-trust"])


async def test_leftovers_are_the_former_self_signed_certificates(lab: LabHandle) -> None:
    cluster = lab.lab.cluster
    entry = lab.cluster_entry
    # Before any upload every self-signed certificate in the stores is some node's identity.
    none = await leftover_self_signed(lab.inventory, entry, ["CallManager", "cup-xmpp"])
    assert none.leftovers == [] and none.errors == {}
    old = {h: cluster.node(h).own["CallManager"].cert for h in CUCM}
    _, root = install_cert(lab.lab, "CallManager")
    found = await leftover_self_signed(lab.inventory, entry, ["CallManager"], [root])
    assert found.errors == {}
    by_owner = {left.owner: left for left in found.leftovers}
    assert sorted(by_owner) == sorted(cluster.node(h).fqdn for h in CUCM)
    for host, cert in old.items():
        left = by_owner[cluster.node(host).fqdn]
        assert left.serial == pki.serial_hex(cert) and left.store == "CallManager-trust"
        assert left.file_name in cluster.publisher.trust["CallManager-trust"]
        # CallManager-trust is replicated: every CUCM node holds it.
        assert sorted(left.nodes) == sorted(cluster.node(h).fqdn for h in CUCM)
    # The IM&P node's XMPP identities share cup-xmpp-trust: still in use, never leftovers.
    xmpp = await leftover_self_signed(lab.inventory, entry, ["cup-xmpp"], [root])
    assert xmpp.leftovers == []


async def test_an_unreadable_owner_is_not_called_a_leftover(lab: LabHandle) -> None:
    _, root = install_cert(lab.lab, "CallManager")
    lab.lab.cluster.set_paws(lab.lab.cluster.node("cucm-sub2"), running=False)
    found = await leftover_self_signed(lab.inventory, lab.cluster_entry, ["CallManager"], [root])
    sub2 = lab.lab.cluster.node("cucm-sub2").fqdn
    assert sub2 in found.errors
    assert sorted(left.owner for left in found.leftovers) == sorted(
        lab.lab.cluster.node(h).fqdn for h in ("cucm-pub", "cucm-sub1")
    )


async def _registration_window(lab: LabHandle, window: float) -> tuple[dict[str, int], ...]:
    ep = lab.endpoint("cucm-pub")
    before = await registration_times(ep, lab.app_user)
    await asyncio.sleep(window)
    return before, await registration_times(ep, lab.app_user)


async def _roll_callmanager(running: Lab) -> None:
    install_cert(running, "CallManager")
    await restart(running, "cucm-pub", "Cisco Tftp")
    for host in CUCM:
        await restart(running, host, "Cisco HAProxy")
    await until(lambda: _settled(running), what="phones registered after their resets")


def _settled(running: Lab) -> bool:
    return all(
        p.node is not None and not p.resetting and not p.reset_queued for p in running.phones.phones
    )


async def test_cscup28852_is_seen_over_two_reset_periods(tmp_path: Path) -> None:
    t = timing(cscup28852_interval=0.3)
    spec = lab_spec(phones={"count": 40, "cscup28852": True})
    async with Lab(spec, tmp_path / "lab", t) as running:
        lab = LabHandle(running)
        await _roll_callmanager(running)
        await until(lambda: bool(running.journal.entries("phone.cscup28852")), what="bug")
        # Several scaled reset periods, so a busy machine still sees most phones re-register.
        before, after = await _registration_window(lab, 1.5)
        check = cscup28852_check(before, after, 1.5)
        assert check.watched > 0
        assert check.finding is not None and check.finding.code == "cscup28852-phones-resetting"


async def test_no_cscup28852_without_the_bug(tmp_path: Path) -> None:
    spec = lab_spec(phones={"count": 40})
    async with Lab(spec, tmp_path / "lab", FAST) as running:
        lab = LabHandle(running)
        await _roll_callmanager(running)
        # Several scaled reset periods, so a busy machine still sees most phones re-register.
        before, after = await _registration_window(lab, 1.5)
        check = cscup28852_check(before, after, 1.5)
        assert check.watched == 40 and check.re_registered == 0 and check.finding is None
