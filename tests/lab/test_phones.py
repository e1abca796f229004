"""Phones of the twin: failover and fallback, registration rate, resets, CTL, metrics."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from activities.clients.cucm.axl import AxlClient
from lab import facts, pki
from lab.faults import Fault
from lab.journal import JournalEntry
from lab.phone_metrics import phone_metrics
from lab.server import Lab
from lab.timing import FAST, TimingProfile
from tests.lab.conftest import LabHandle, lab_spec
from tests.lab.control import LabControl

CM = "Cisco CallManager"


def timing(**phones: Any) -> TimingProfile:
    """The fast profile with some phone timings changed."""
    return FAST.model_copy(update={"phones": FAST.phones.model_copy(update=phones)})


async def until(
    predicate: Callable[[], bool], timeout: float = 5.0, what: str = "condition"
) -> None:
    """Poll the twin until ``predicate`` holds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.005)


def placement(lab: Lab) -> dict[str, str | None]:
    return {p.name: p.node for p in lab.phones.phones}


def registrations(lab: Lab, since: int = 0) -> list[tuple[float, str, str, str]]:
    """(time, phone, node, reason) of every registration after journal seq ``since``."""
    return [
        (e.at, name, e.node or "", e.data["reason"])
        for e in lab.journal.entries("phone.registered", since=since)
        for name in e.data["phones"]
    ]


def drops(lab: Lab, since: int = 0) -> dict[str, float]:
    """Phone -> time of its last unregistration after ``since``."""
    out: dict[str, float] = {}
    for e in lab.journal.entries("phone.unregistered", since=since):
        for name in e.data["phones"]:
            out[name] = e.at
    return out


async def settled(lab: Lab, hostname: str, service: str, timeout: float = 5.0) -> None:
    svc = lab.cluster.node(hostname).service(service)
    await until(lambda: not svc.transitioning, timeout, f"{service} on {hostname}")


async def restart(lab: Lab, hostname: str, service: str) -> None:
    lab.cluster.control(lab.cluster.node(hostname), service, "restart", origin="test")
    await settled(lab, hostname, service)


def install_callmanager_cert(lab: Lab) -> str:
    """Upload a CA-signed multi-server CallManager certificate (not yet active); its fingerprint."""
    return install_cert(lab, "CallManager")[0]


def install_cert(lab: Lab, purpose: str, product: str = "cucm") -> tuple[str, str]:
    """Upload a CA-signed multi-server certificate of ``purpose`` (installed, not active).

    Returns:
        The leaf's fingerprint and the root's PEM.
    """
    cluster = lab.cluster
    pub = cluster.product_publisher(product)
    pending, _ = cluster.generate_csr(pub, purpose, facts.REST_MULTI_SERVER_DISTRIBUTION)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cn = f"Test Root {purpose} {x509.random_serial_number() % 10**6}"
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = dt.datetime.now(dt.UTC)
    root = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    csr = pending.csr
    san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    leaf = (
        x509.CertificateBuilder()
        .subject_name(csr.subject)
        .issuer_name(name)
        .public_key(csr.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(san, critical=False)
        .sign(key, hashes.SHA256())
    )
    cluster.upload_trust(pub, [purpose], [pki.pem(root)], "test root")
    cluster.upload_identity(pub, purpose, [pki.pem(leaf)])
    return pki.fingerprint(leaf), pki.pem(root)


def cucm_hosts(lab: Lab) -> list[str]:
    return [n.hostname for n in lab.cluster.nodes if n.product == "cucm"]


# -- population and AXL -------------------------------------------------------------------


async def test_default_population_registers_with_primaries(lab: LabHandle) -> None:
    phones = lab.lab.phones.phones
    assert len(phones) == 40
    assert {p.protocol for p in phones} == {"SCCP", "SIP"}
    assert sum(p.protocol == "SIP" for p in phones) == 20
    groups = lab.lab.phones.groups
    assert groups == {
        "CMG-1": ("cucm-sub1", "cucm-sub2", "cucm-pub"),
        "CMG-2": ("cucm-sub2", "cucm-sub1", "cucm-pub"),
    }
    assert all(p.node == p.members[0] for p in phones)
    snap = lab.lab.phones.snapshot()
    assert snap["registered"] == {"cucm-pub": 0, "cucm-sub1": 20, "cucm-sub2": 20}
    initial = lab.lab.journal.entries("phone.registered")
    assert sum(e.data["count"] for e in initial) == 40
    assert {e.data["reason"] for e in initial} == {"initial"}


async def test_axl_lists_cm_groups_device_pools_and_sql_tables(lab: LabHandle) -> None:
    async with AxlClient(lab.endpoint("cucm-pub"), lab.app_user) as client:
        groups = await client._call(
            "listCallManagerGroup", lambda req: _list(req, "%", "name", "tftpDefault")
        )
        members = {
            name: await client._call(
                "getCallManagerGroup", lambda req, n=name: _child(req, "name", n)
            )
            for name in ("CMG-1", "CMG-2")
        }
        pools = await client._call(
            "listDevicePool", lambda req: _list(req, "DP-%", "name", "callManagerGroupName")
        )
        rows = await client.execute_sql(
            "select fkcallmanagergroup, fkcallmanager, priority from callmanagergroupmember"
        )
        cms = await client.execute_sql("select pkid, name, fkprocessnode from callmanager")
        cmg = await client.execute_sql("select pkid, name from callmanagergroup")
        dps = await client.execute_sql("select name, fkcallmanagergroup from devicepool")
        nodes = await client.execute_sql("select pkid, name from processnode")
        listed = await client.list_cm_groups()
    # listCallManagerGroup has no members (LCallManagerGroup); getCallManagerGroup has.
    assert {g.findtext("name"): g.findtext("tftpDefault") for g in groups} == {
        "CMG-1": "true",
        "CMG-2": "false",
    }
    assert groups.find("callManagerGroup/members") is None
    assert {
        name: [
            (m.findtext("callManagerName"), int(m.findtext("priority") or 0))
            for m in ret.iterfind("callManagerGroup/members/member")
        ]
        for name, ret in members.items()
    } == {
        "CMG-1": [("CM_cucm-sub1", 1), ("CM_cucm-sub2", 2), ("CM_cucm-pub", 3)],
        "CMG-2": [("CM_cucm-sub2", 1), ("CM_cucm-sub1", 2), ("CM_cucm-pub", 3)],
    }
    assert {
        p.findtext("name"): p.findtext("callManagerGroupName") for p in pools.iterfind("devicePool")
    } == {"DP-1": "CMG-1", "DP-2": "CMG-2"}
    # The SQL tables join up: group -> members (0-based priority) -> callmanager -> processnode.
    cm_by_pkid = {r["pkid"]: r for r in cms}
    node_by_pkid = {r["pkid"]: r["name"] for r in nodes}
    group_by_pkid = {r["pkid"]: r["name"] for r in cmg}
    joined: dict[str, list[tuple[int, str]]] = {}
    for r in rows:
        fqdn = node_by_pkid[cm_by_pkid[r["fkcallmanager"]]["fkprocessnode"]]
        joined.setdefault(group_by_pkid[r["fkcallmanagergroup"]], []).append(
            (int(r["priority"]), fqdn.split(".")[0])
        )
    assert sorted(joined["CMG-1"]) == [(0, "cucm-sub1"), (1, "cucm-sub2"), (2, "cucm-pub")]
    assert {r["name"]: group_by_pkid[r["fkcallmanagergroup"]] for r in dps} == {
        "DP-1": "CMG-1",
        "DP-2": "CMG-2",
    }
    # The client's one query joins the same tables.
    fqdn = {n.hostname: n.fqdn for n in lab.lab.cluster.nodes}
    assert [
        (g.name, [(m.callmanager, m.priority, m.server) for m in g.members]) for g in listed
    ] == [
        (
            "CMG-1",
            [
                ("CM_cucm-sub1", 1, fqdn["cucm-sub1"]),
                ("CM_cucm-sub2", 2, fqdn["cucm-sub2"]),
                ("CM_cucm-pub", 3, fqdn["cucm-pub"]),
            ],
        ),
        (
            "CMG-2",
            [
                ("CM_cucm-sub2", 1, fqdn["cucm-sub2"]),
                ("CM_cucm-sub1", 2, fqdn["cucm-sub1"]),
                ("CM_cucm-pub", 3, fqdn["cucm-pub"]),
            ],
        ),
    ]


def _child(req: Any, tag: str, text: str) -> Any:
    from lxml import etree

    el = etree.SubElement(req, tag)
    el.text = text
    return el


def _list(req: Any, name: str, *tags: str) -> None:
    """searchCriteria by name, and the returnedTags wanted (schema order)."""
    _child(_child(req, "searchCriteria", ""), "name", name)
    returned = _child(req, "returnedTags", "")
    for tag in tags:
        _child(returned, tag, "")


def test_topology_validates_cm_groups() -> None:
    with pytest.raises(ValueError, match="not a CUCM node"):
        lab_spec(cm_groups=[{"name": "G", "members": ["imp-pub"]}])
    with pytest.raises(ValueError, match="unknown CM group"):
        lab_spec(device_pools=[{"name": "DP", "cm_group": "nope", "sccp": 1}])
    with pytest.raises(ValueError):
        lab_spec(cm_groups=[{"name": "G", "members": ["cucm-pub", "cucm-sub1", "cucm-sub2", "x"]}])
    spec = lab_spec(phones={"count": 2000, "groups": 2})
    assert sum(p.sccp + p.sip for p in spec.resolved_device_pools()) == 2000


# -- failover and fallback ----------------------------------------------------------------


async def test_failover_walks_the_group_and_falls_back(tmp_path: Path) -> None:
    t = timing(
        sccp_failover=0.002,
        sip_register_delta=0.06,
        sip_keepalive=0.15,
        fallback_delay=0.12,
    )
    async with Lab(lab_spec(), tmp_path / "lab", t) as lab:
        cluster = lab.cluster
        group1 = {p.name for p in lab.phones.phones if p.group == "CMG-1"}
        group2 = {p.name for p in lab.phones.phones if p.group == "CMG-2"}
        protocol = {p.name: p.protocol for p in lab.phones.phones}
        mark = lab.journal.last_seq

        cluster.control(cluster.node("cucm-sub1"), CM, "stop", origin="test")
        await until(lambda: all(placement(lab)[n] == "cucm-sub2" for n in group1), what="failover")
        dropped = drops(lab, mark)
        assert set(dropped) == group1
        delays = {name: at - dropped[name] for at, name, _, _ in registrations(lab, mark)}
        sccp = [d for n, d in delays.items() if protocol[n] == "SCCP"]
        sip = [d for n, d in delays.items() if protocol[n] == "SIP"]
        assert max(sccp) < 0.05  # near-immediate on a clean stop
        assert min(sip) >= 0.06  # never before Timer Register Delta
        assert max(sip) <= 0.15 + 0.05  # within the keepalive
        assert all(placement(lab)[n] == "cucm-sub2" for n in group2)  # untouched

        # With the secondary gone too, everyone walks on to the tertiary (the publisher).
        await settled(lab, "cucm-sub1", CM)
        cluster.control(cluster.node("cucm-sub2"), CM, "stop", origin="test")
        await until(
            lambda: all(node == "cucm-pub" for node in placement(lab).values()), what="tertiary"
        )

        # The primary of CMG-1 returns: CMG-1 falls back to it, CMG-2 moves up to its secondary.
        await settled(lab, "cucm-sub2", CM)
        mark = lab.journal.last_seq
        cluster.control(cluster.node("cucm-sub1"), CM, "start", origin="test")
        await settled(lab, "cucm-sub1", CM)
        started = next(
            e.at
            for e in lab.journal.entries("service.state", node="cucm-sub1", since=mark)
            if e.data["service"] == CM and e.data["status"] == "Started"
        )
        await until(
            lambda: all(node == "cucm-sub1" for node in placement(lab).values()), what="fallback"
        )
        moves = registrations(lab, mark)
        assert {reason for _, _, _, reason in moves} == {"fallback"}
        assert min(at for at, *_ in moves) - started >= 0.12
        # A fallback registers with the primary before leaving the backup: no gap.
        assert lab.journal.entries("phone.unregistered", since=mark) == []

        cluster.control(cluster.node("cucm-sub2"), CM, "start", origin="test")
        await until(
            lambda: (
                placement(lab)
                == {n: ("cucm-sub1" if n in group1 else "cucm-sub2") for n in protocol}
            ),
            what="CMG-2 back on its primary",
        )


async def test_a_sip_phone_reset_just_before_its_primary_stops_boots_onto_its_secondary(
    tmp_path: Path,
) -> None:
    """What ucrenew's resets by primary rely on: a phone that boots while its primary's
    Cisco CallManager is down registers with the next member of its group (failover walks
    the CM group's list, cucm-interfaces.md §9, [DOC S17]) at once, instead of noticing the
    stop through its keepalive (up to 120 s for SIP, operations-facts.md B1), and falls back
    without a gap once the primary is back."""
    t = timing(sip_register_delta=0.3, sip_keepalive=0.6, reset_duration=0.3, fallback_delay=0.05)
    async with Lab(lab_spec(), tmp_path / "lab", t) as lab:
        cluster = lab.cluster
        sip = [p.name for p in lab.phones.phones if p.group == "CMG-1" and p.protocol == "SIP"]
        mark = lab.journal.last_seq
        assert lab.phones.reset_devices(sip).reset == sip
        cluster.control(cluster.node("cucm-sub1"), CM, "stop", origin="test")
        await until(lambda: all(placement(lab)[n] == "cucm-sub2" for n in sip), what="secondary")
        # Down once, for the reset: the stop found none of them registered there.
        assert {
            e.data["reason"]
            for e in lab.journal.entries("phone.unregistered", since=mark)
            if set(e.data["phones"]) & set(sip)
        } == {"reset:axl"}
        # ... and they came back through the failover path, to the secondary, not home.
        assert {
            (node, reason) for _, name, node, reason in registrations(lab, mark) if name in sip
        } == {("cucm-sub2", "failover")}
        cluster.control(cluster.node("cucm-sub1"), CM, "start", origin="test")
        await until(lambda: all(placement(lab)[n] == "cucm-sub1" for n in sip), what="fallback")


async def test_registration_rate_is_bounded_per_node(tmp_path: Path) -> None:
    rate_sccp, rate_sip, burst = 200.0, 100.0, 2
    t = timing(
        sccp_failover=0.001,
        sip_register_delta=0.001,
        sip_keepalive=0.002,
        registration_rate_sccp=rate_sccp,
        registration_rate_sip=rate_sip,
        registration_burst=burst,
    )
    async with Lab(lab_spec(), tmp_path / "lab", t) as lab:
        group1 = {p.name for p in lab.phones.phones if p.group == "CMG-1"}
        mark = lab.journal.last_seq
        lab.cluster.control(lab.cluster.node("cucm-sub1"), CM, "stop", origin="test")
        await until(lambda: all(placement(lab)[n] == "cucm-sub2" for n in group1), what="failover")
        times = sorted(at for at, _, node, _ in registrations(lab, mark) if node == "cucm-sub2")
        assert len(times) == 20
        # Token bucket: any i..j run of admissions needs (j - i - burst) slots of the fastest
        # rate; all 20 at once (no limiter) would break this.
        for i in range(len(times)):
            for j in range(i + burst + 1, len(times)):
                assert times[j] - times[i] >= (j - i - burst) / rate_sccp - 0.003
        # 10 SCCP at 5 ms and 10 SIP at 10 ms of work: ~150 ms minus the burst allowance.
        assert times[-1] - times[0] >= 0.12


async def test_a_late_scheduler_wake_up_keeps_the_registration_rate(tmp_path: Path) -> None:
    # The admission is driven by hand with chosen clock values, so the check does not
    # depend on how busy the machine is.
    rate, burst = 100.0, 2
    t = timing(registration_rate_sccp=rate, registration_burst=burst)
    async with Lab(lab_spec(), tmp_path / "lab", t) as lab:
        system = lab.phones
        await system.close()
        sccp = [p for p in system.phones if p.protocol == "SCCP"]
        start = asyncio.get_running_loop().time() + 10.0
        for phone in sccp:
            phone.node = None
            phone.epoch += 1
            system._queues["cucm-pub"].append((phone, phone.epoch, "register", start))
        # A wake-up 100 ms after the phones queued admits the 10 slots that passed (plus
        # the burst), not just one burst.
        system._admit(start + 0.1)
        admitted = [p for p in sccp if p.node == "cucm-pub"]
        assert int(0.1 * rate) <= len(admitted) <= int(0.1 * rate) + burst + 1
        # Capacity already used is not granted twice.
        system._admit(start + 0.1)
        assert [p for p in sccp if p.node == "cucm-pub"] == admitted
        system._admit(start + 0.25)
        assert len([p for p in sccp if p.node == "cucm-pub"]) == len(sccp)


async def test_unreachable_node_is_noticed_by_keepalive(make_lab: Callable[..., Lab]) -> None:
    async with make_lab() as lab:
        group1 = {p.name for p in lab.phones.phones if p.group == "CMG-1"}
        sccp = {p.name for p in lab.phones.phones if p.protocol == "SCCP"}
        mark = lab.journal.last_seq
        # The lab journals the drop after it has scheduled every phone's detection, so the
        # delays are measured from before the fault, not from the journal stamp.
        before = time.time()
        await lab.add_fault(Fault(kind="unreachable", node="cucm-sub1"))
        entry = lab.journal.entries("phone.unregistered", since=mark)[0]
        assert entry.node == "cucm-sub1"
        assert entry.data["reason"] == "node-unreachable"
        await until(lambda: all(placement(lab)[n] == "cucm-sub2" for n in group1), what="failover")
        low = facts.SCCP_MISSED_KEEPALIVES[0] * lab.timing.phones.sccp_keepalive
        sccp_delays = [at - before for at, name, _, _ in registrations(lab, mark) if name in sccp]
        assert min(sccp_delays) >= low  # not the near-immediate clean-stop failover
        await lab.clear_faults()
        await until(lambda: all(placement(lab)[n] == "cucm-sub1" for n in group1), what="fallback")


# -- certificate change, ITL reset, CTL -----------------------------------------------------


async def _roll_callmanager_cert(lab: Lab, update_ctl: bool) -> None:
    install_callmanager_cert(lab)
    if update_ctl:
        lab.cluster.ctl_update(lab.cluster.publisher)
    await restart(lab, "cucm-pub", "Cisco Tftp")
    for host in cucm_hosts(lab):
        await restart(lab, host, "Cisco HAProxy")


async def test_secure_phones_need_the_ctl_update_before_the_restarts(
    make_lab: Callable[..., Lab],
) -> None:
    async with make_lab(security_mode=1, phones={"secure_fraction": 0.5}) as lab:
        secure = {p.name for p in lab.phones.phones if p.secure}
        assert len(secure) == 20
        mark = lab.journal.last_seq
        await _roll_callmanager_cert(lab, update_ctl=False)
        await until(lambda: _count_resets(lab, mark) == 40, what="one reset per phone")
        # Every secure phone tried and was refused (the CTL lacks the new certificates) ...
        await until(lambda: _rejected(lab, mark) == secure, what="secure phones refused")
        # ... and only they stay unregistered.
        await asyncio.sleep(0.1)
        assert {n for n, node in placement(lab).items() if node is None} == secure
        # A CTL update after the restarts is signed by a certificate they do not know: too late.
        lab.cluster.ctl_update(lab.cluster.publisher)
        lab.phones.reconcile()
        await asyncio.sleep(0.1)
        assert {n for n, node in placement(lab).items() if node is None} == secure


def _rejected(lab: Lab, since: int) -> set[str]:
    return {n for e in lab.journal.entries("phone.rejected", since=since) for n in e.data["phones"]}


def _count_resets(lab: Lab, since: int) -> int:
    return sum(
        e.data["count"]
        for e in lab.journal.entries("phone.unregistered", since=since)
        if e.data["reason"] == "reset:itl"
    )


async def test_ctl_update_first_keeps_secure_phones_and_resets_once(
    make_lab: Callable[..., Lab],
) -> None:
    async with make_lab(security_mode=1, phones={"secure_fraction": 0.5}) as lab:
        mark = lab.journal.last_seq
        install_callmanager_cert(lab)
        lab.cluster.ctl_update(lab.cluster.publisher)
        await restart(lab, "cucm-pub", "Cisco HAProxy")
        # Active on one node but TFTP still serves the old ITL: no reset yet.
        await asyncio.sleep(0.05)
        assert _count_resets(lab, mark) == 0
        await restart(lab, "cucm-pub", "Cisco Tftp")
        await until(lambda: _count_resets(lab, mark) == 40, what="one reset per phone")
        for host in ("cucm-sub1", "cucm-sub2"):
            await restart(lab, host, "Cisco HAProxy")
        await until(
            lambda: all(p.node == p.members[0] for p in lab.phones.phones),
            what="every phone back on its primary",
        )
        await asyncio.sleep(0.1)
        assert _count_resets(lab, mark) == 40  # the ITL already lists the new certificates
        assert lab.journal.entries("phone.rejected", since=mark) == []
        assert lab.journal.entries("phone.cscup28852", since=mark) == []


async def test_before_14_cucm_leaves_the_phone_resets_to_the_administrator(
    make_lab: Callable[..., Lab],
) -> None:
    """ "Phone Interaction on Certificate Update" (phones reset by themselves after a
    CallManager certificate change) came with 14 (cucm-interfaces.md §11, [DOC S4] CUCM 14
    release notes); before it, Cisco's procedure resets the phones as a step of its own after
    the restarts (tech notes 118731 and 214231). On 12.5 a new CallManager certificate served
    by TFTP and by Cisco CallManager resets no phone; a reset on request (AXL) still gives a
    phone the new ITL. The same roll on 14 resets every phone
    (test_ctl_update_first_keeps_secure_phones_and_resets_once)."""
    async with make_lab(version="12.5.1.14900-63") as lab:
        mark = lab.journal.last_seq
        new = install_callmanager_cert(lab)
        for host in cucm_hosts(lab):
            await restart(lab, host, "Cisco Tftp")
        for host in cucm_hosts(lab):
            await restart(lab, host, CM)
        await until(
            lambda: all(p.node == p.members[0] for p in lab.phones.phones),
            what="every phone back on its primary",
        )
        await asyncio.sleep(0.1)
        assert _count_resets(lab, mark) == 0
        assert all(new not in p.itl for p in lab.phones.phones)
        phone = lab.phones.phones[0]
        assert lab.phones.reset_devices([phone.name]).reset == [phone.name]
        await until(lambda: phone.node is not None, what="the reset phone back")
        assert new in phone.itl


async def test_cscup28852_resets_phones_periodically(tmp_path: Path) -> None:
    t = timing(cscup28852_interval=0.15)
    async with Lab(lab_spec(phones={"cscup28852": True}), tmp_path / "lab", t) as lab:
        await asyncio.sleep(0.2)
        assert lab.journal.entries("phone.cscup28852") == []  # no multi-server cert active yet
        mark = lab.journal.last_seq
        await _roll_callmanager_cert(lab, update_ctl=False)
        await asyncio.sleep(0.6)
        waves = [
            e.at
            for e in lab.journal.entries("phone.unregistered", since=mark)
            if e.data["reason"] == "reset:cscup28852"
        ]
        starts = [w for i, w in enumerate(waves) if i == 0 or w - waves[i - 1] > 0.1]
        assert len(starts) >= 2
        assert all(b - a >= 0.14 for a, b in itertools.pairwise(starts))


# -- metrics --------------------------------------------------------------------------------


def _entry(seq: int, at: float, kind: str, phones: list[str]) -> JournalEntry:
    return JournalEntry(
        seq=seq, at=at, kind=f"phone.{kind}", node="n", data={"phones": phones, "reason": "x"}
    )


def test_metrics_are_exact_on_a_scripted_journal() -> None:
    entries = [
        _entry(1, 100.0, "registered", ["A", "B", "C", "D"]),
        _entry(2, 110.0, "unregistered", ["A", "B"]),
        _entry(3, 111.0, "unregistered", ["D"]),
        _entry(4, 112.0, "registered", ["A"]),
        _entry(5, 113.0, "registered", ["D"]),
        _entry(6, 115.0, "unregistered", ["C"]),
        _entry(7, 120.0, "registered", ["B"]),
        JournalEntry(seq=8, at=121.0, kind="service.state", data={"phones": ["A"]}),
        _entry(9, 130.0, "registered", ["C"]),
    ]
    m = phone_metrics(entries, since=105.0, until=125.0)
    # A 110-112 (2), B 110-120 (10), C 115-125 (10), D 111-113 (2)
    assert m.unregistered_seconds == pytest.approx(24.0)
    assert m.peak_unregistered == 3
    assert m.peak_unregistered_fraction == pytest.approx(0.75)
    assert m.peak_at == 111.0
    assert m.phones == 4
    # A window starting inside an outage counts from its start.
    m = phone_metrics(entries, since=116.0, until=140.0)
    assert m.unregistered_seconds == pytest.approx(4.0 + 14.0)
    assert m.peak_unregistered == 2 and m.peak_at == 116.0
    # Same-instant entries apply together: a move does not count as a spike.
    moved = [
        _entry(1, 1.0, "registered", ["A", "B"]),
        _entry(2, 2.0, "unregistered", ["A"]),
        _entry(3, 2.0, "registered", ["A"]),
    ]
    assert phone_metrics(moved, 0.0, 3.0).peak_unregistered == 0


def test_metrics_split_outages_by_what_started_them() -> None:
    def down(seq: int, at: float, reason: str, phones: list[str]) -> JournalEntry:
        return JournalEntry(
            seq=seq, at=at, kind="phone.unregistered", data={"phones": phones, "reason": reason}
        )

    entries = [
        _entry(1, 0.0, "registered", ["A", "B", "C"]),
        down(2, 10.0, "callmanager-stopped", ["A", "B"]),
        _entry(3, 15.0, "registered", ["A"]),
        # B resets while still down from the stop: the outage keeps its first cause.
        down(4, 20.0, "reset:itl", ["B", "C"]),
        _entry(5, 30.0, "registered", ["B"]),
        _entry(6, 80.0, "registered", ["C"]),
    ]
    m = phone_metrics(entries, since=0.0, until=100.0)
    # A 10-15 and B 10-30 after the stop; C 20-80 for its reset.
    assert m.unregistered_seconds_by_reason == {
        "callmanager-stopped": pytest.approx(25.0),
        "reset:itl": pytest.approx(60.0),
    }
    assert m.unregistered_seconds == pytest.approx(85.0)
    assert m.peak_unregistered == 2


async def test_metrics_of_a_live_failover_match_the_journal(lab: LabHandle) -> None:
    running = lab.lab
    start = time.time()
    mark = running.journal.last_seq
    running.cluster.control(running.cluster.node("cucm-sub2"), CM, "restart", origin="test")
    await settled(running, "cucm-sub2", CM)
    await until(
        lambda: all(p.node == p.members[0] for p in running.phones.phones), what="back home"
    )
    await asyncio.sleep(0.01)
    end = time.time()
    # Independent oracle: pair each phone's drop with its next registration.
    expected = 0.0
    down: dict[str, float] = {}
    for e in running.journal.entries("phone", since=mark):
        for name in e.data.get("phones", []):
            if e.kind == "phone.unregistered":
                down[name] = e.at
            elif e.kind == "phone.registered" and name in down:
                expected += e.at - down.pop(name)
    assert down == {}
    assert expected > 0
    assert running.phones.metrics(start, end).unregistered_seconds == pytest.approx(expected)
    # Everyone on cucm-sub2 drops at the same instant: the peak is exactly their share.
    assert running.phones.peak_unregistered_fraction(start, end) == pytest.approx(0.5)
    async with LabControl(running.control_url) as control:
        remote = await control.phone_metrics(start, end)
        snapshot = await control.phones()
    assert remote.unregistered_seconds == pytest.approx(expected)
    assert remote.peak_unregistered == 20
    assert snapshot["registered"] == {"cucm-pub": 0, "cucm-sub1": 20, "cucm-sub2": 20}
