"""Phone-impacting CUCM activities against the lab: CM groups, registrations, CTL, policy,
purpose-aware CSRs and verification on the signalling ports."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import TypeAdapter
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.catalog import WATCHED_SERVICES
from activities.clients.cucm.discovery import attribute_registrations
from activities.clients.inventory import load_inventory
from activities.cluster_models import (
    ClusterRef,
    CmGroupInfo,
    CsrRequest,
    DiscoverRequest,
    PendingCsrRequest,
    PhoneResetRequest,
    PhoneResetResult,
    RegisteredPhonesRequest,
    RegistrationGateRequest,
    RestartRequest,
    VerifyRequest,
)
from activities.cucm import CucmActivities
from lab import pki
from lab.faults import Fault
from lab.server import Lab
from lab.timing import FAST
from tests.lab.conftest import LabHandle, lab_spec, solo_and_pair
from workflows.approval_models import ApprovalPolicy
from workflows.windows import WindowSpec

CM = "Cisco CallManager"
DOMAIN = "lab.example.com"


def fqdn(host: str) -> str:
    return f"{host}.{DOMAIN}"


def activities_at(path: Path) -> CucmActivities:
    return CucmActivities(inventory_loader=lambda: path)


def activities_for(lab: LabHandle) -> CucmActivities:
    return activities_at(lab.lab.state_dir / "inventory.yaml")


async def until(predicate: Callable[[], bool], timeout: float = 10.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


def unregistered(lab: Lab) -> list[str]:
    return [p.name for p in lab.phones.phones if p.node is None]


async def all_registered(lab: Lab) -> None:
    await until(lambda: not unregistered(lab), what="every phone registered")


def edited_inventory(lab: LabHandle, tmp_path: Path, **changes: Any) -> Path:
    """A copy of the lab's inventory with the cluster entry's fields changed."""
    doc = yaml.safe_load((lab.lab.state_dir / "inventory.yaml").read_text())
    doc["clusters"][0].update(changes)
    path = tmp_path / "edited-inventory.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


async def failure(awaitable: Any) -> ApplicationError:
    with pytest.raises(ApplicationError) as info:
        await awaitable
    return info.value


# -- discovery ----------------------------------------------------------------------------


async def test_discovery_reads_cm_groups_phones_and_registrations(lab: LabHandle) -> None:
    running = lab.lab
    await all_registered(running)
    snap = await ActivityEnvironment().run(
        activities_for(lab).discover_cluster, DiscoverRequest(cluster="lab")
    )
    assert snap.cm_groups_error is None and snap.registrations_error is None
    expected_groups = {
        g.name: [fqdn(m) for m in g.members] for g in running.spec.resolved_cm_groups()
    }
    assert {g.name: g.members for g in snap.cm_groups} == expected_groups
    assert expected_groups["CMG-1"][0] == fqdn("cucm-sub1")  # primary first
    phones_per_group: dict[str, int] = {}
    for pool in running.spec.resolved_device_pools():
        phones_per_group[pool.cm_group] = (
            phones_per_group.get(pool.cm_group, 0) + pool.sccp + pool.sip
        )
    assert {g.name: g.phones for g in snap.cm_groups} == phones_per_group
    assert sum(phones_per_group.values()) == len(running.phones.phones) > 0
    # The lab's AXL has no device table: the counts come from RisPort registrations.
    assert {g.phones_source for g in snap.cm_groups} == {"risport"}

    assert snap.registrations is not None
    assert snap.registrations.total == len(running.phones.phones)
    assert snap.registrations.registered == snap.registrations.total
    truth: dict[str, int] = {}
    for p in running.phones.phones:
        assert p.node is not None
        truth[fqdn(p.node)] = truth.get(fqdn(p.node), 0) + 1
    assert snap.registrations.per_node == truth

    sub1 = snap.node("cucm-sub1")
    for name in ("Cisco CTIManager", "Cisco Trust Verification Service", "Cisco HAProxy"):
        assert name in WATCHED_SERVICES
        state = sub1.service(name)
        assert state is not None and state.activated and state.status == "Started"
    imp = snap.node("imp-pub")
    xcp = imp.service("Cisco XCP Router")
    assert xcp is not None and xcp.activated


async def test_discovery_records_what_it_could_not_read(lab: LabHandle) -> None:
    running = lab.lab
    running.faults.add(Fault(kind="throttle", node="cucm-pub", count=1))
    running.faults.add(Fault(kind="http-error", node="cucm-pub", target="axl"))
    snap = await ActivityEnvironment().run(
        activities_for(lab).discover_cluster, DiscoverRequest(cluster="lab")
    )
    assert snap.registrations is None
    assert snap.registrations_error and "RisPort on cucm-pub" in snap.registrations_error
    assert snap.cm_groups == []
    assert snap.cm_groups_error and "AXL CM groups" in snap.cm_groups_error


async def test_discovery_of_a_single_member_group(make_lab: Callable[..., Lab]) -> None:
    async with make_lab(**solo_and_pair((7, 5), (3, 6))) as running:
        handle = LabHandle(running)
        await all_registered(running)
        snap = await ActivityEnvironment().run(
            activities_for(handle).discover_cluster, DiscoverRequest(cluster="lab")
        )
        assert [(g.name, g.members, g.phones) for g in snap.cm_groups] == [
            ("Solo", [fqdn("cucm-sub1")], 12),
            ("Pair", [fqdn("cucm-sub2"), fqdn("cucm-pub")], 9),
        ]


def test_registrations_are_attributed_to_the_group_a_node_ranks_highest_in() -> None:
    groups = [
        CmGroupInfo(name="A", members=[fqdn("s1"), fqdn("s2"), fqdn("pub")]),
        CmGroupInfo(name="B", members=[fqdn("s2"), fqdn("s1"), fqdn("pub")]),
        CmGroupInfo(name="C", members=[fqdn("s3")]),
    ]
    # s1 leads A, s2 leads B, pub ranks third in both (ambiguous), s9 is in no group.
    per_node = {"s1": 10, "s2": 4, "pub": 3, "s9": 2, "s3": 1}
    counts = attribute_registrations(groups, {fqdn(h): n for h, n in per_node.items()})
    assert counts == {"A": 10, "B": 4, "C": 1}


# -- registrations ------------------------------------------------------------------------


async def test_registration_snapshot_matches_the_lab(lab: LabHandle) -> None:
    await all_registered(lab.lab)
    snap = await ActivityEnvironment().run(
        activities_for(lab).registration_snapshot, ClusterRef(cluster="lab")
    )
    assert snap.total == snap.registered == len(lab.lab.phones.phones)
    assert snap.unregistered_sample == []


async def test_gate_passes_once_phones_are_back_after_a_callmanager_restart(
    lab: LabHandle,
) -> None:
    running = lab.lab
    acts = activities_for(lab)
    await all_registered(running)
    baseline = await ActivityEnvironment().run(
        acts.registration_snapshot, ClusterRef(cluster="lab")
    )
    since = running.journal.entries()[-1].seq
    restart = await ActivityEnvironment().run(
        acts.restart_service,
        RestartRequest(
            cluster="lab",
            node=fqdn("cucm-sub1"),
            service=CM,
            not_before=datetime.now(UTC),
            poll_seconds=0.02,
            timeout_seconds=30,
        ),
    )
    assert not restart.already_done
    env = ActivityEnvironment()
    beats: list[object] = []
    env.on_heartbeat = lambda *d: beats.append(d)
    result = await env.run(
        acts.wait_for_registrations,
        RegistrationGateRequest(
            cluster="lab",
            baseline_registered=baseline.registered,
            tolerance=0.0,
            timeout_seconds=20,
            poll_seconds=0.05,
        ),
    )
    assert result.ok, result
    assert result.registered == result.expected == baseline.registered
    assert not unregistered(running)  # the lab agrees: every phone is back
    dropped = running.journal.entries("phone.unregistered", node="cucm-sub1", since=since)
    assert dropped, "the restart did drop phones (the gate had something to wait for)"
    assert beats


async def test_gate_times_out_with_ok_false_while_a_group_has_no_callmanager(
    make_lab: Callable[..., Lab],
) -> None:
    async with make_lab(**solo_and_pair((6, 4), (5, 5))) as running:
        handle = LabHandle(running)
        await all_registered(running)
        node = running.cluster.node("cucm-sub1")
        running.cluster.control(node, CM, "stop", origin="test")
        await until(lambda: len(unregistered(running)) == 10, what="Solo's phones dropped")
        t0 = time.monotonic()
        result = await ActivityEnvironment().run(
            activities_for(handle).wait_for_registrations,
            RegistrationGateRequest(
                cluster="lab", baseline_registered=20, timeout_seconds=0.6, poll_seconds=0.1
            ),
        )
        elapsed = time.monotonic() - t0
        assert not result.ok
        assert result.registered == 10 and result.expected == 20
        assert sorted(result.unregistered_sample) == sorted(unregistered(running))
        assert 0.6 <= elapsed < 5.0
        assert result.waited_seconds >= 0.6


def shout(inventory: Path) -> None:
    """Spell every node of the inventory in upper case, as some operators type FQDNs."""
    data = yaml.safe_load(inventory.read_text())
    for cluster in data["clusters"]:
        cluster["publisher"] = cluster["publisher"].upper()
        for node in cluster["nodes"]:
            node["fqdn"] = node["fqdn"].upper()
    inventory.write_text(yaml.safe_dump(data))


@pytest.mark.parametrize("naming", ["fqdn", "upper-case-inventory", "ip-named-servers"])
async def test_gate_waits_for_fallback_off_the_nodes_the_next_wave_restarts(
    tmp_path: Path, naming: str
) -> None:
    # Phones fall back 0.4 s after their primary returns: long enough to see the gate wait.
    timing = FAST.model_copy(
        update={"phones": FAST.phones.model_copy(update={"fallback_delay": 0.4})}
    )
    # CUCM names servers by FQDN, host name or IP address (System > Server), and RisPort
    # reports registrations under that name; operators may type the inventory in any case.
    spec = lab_spec(server_names="address" if naming == "ip-named-servers" else "fqdn")
    async with Lab(spec, tmp_path / "lab", timing) as running:
        path = running.state_dir / "inventory.yaml"
        if naming == "upper-case-inventory":
            shout(path)
        acts = activities_at(path)
        # The planner's stages name drain nodes as the inventory spells them.
        sub2 = load_inventory(path).clusters[0].node("cucm-sub2").fqdn
        await all_registered(running)
        home = await ActivityEnvironment().run(
            acts.registration_snapshot, ClusterRef(cluster="lab")
        )
        group1 = [p for p in running.phones.phones if p.group == "CMG-1"]
        sub1 = running.cluster.node("cucm-sub1")
        running.cluster.control(sub1, CM, "stop", origin="test")
        await until(lambda: all(p.node == "cucm-sub2" for p in group1), what="failover")
        gate = RegistrationGateRequest(
            cluster="lab",
            baseline_registered=home.registered,
            tolerance=0.0,
            timeout_seconds=0.3,
            poll_seconds=0.02,
            drain_nodes=[sub2],
            home_per_node=home.per_node,
        )
        # Every phone is registered, but CMG-1's sit on cucm-sub2: the gate does not pass.
        stuck = await ActivityEnvironment().run(acts.wait_for_registrations, gate)
        assert not stuck.ok and stuck.registered == home.registered
        assert stuck.lingering == {sub2: len(group1)}
        # Without the drain condition the same moment passes (what the gate did before).
        plain = gate.model_copy(update={"drain_nodes": [], "home_per_node": {}})
        assert (await ActivityEnvironment().run(acts.wait_for_registrations, plain)).ok

        running.cluster.control(sub1, CM, "start", origin="test")
        done = await ActivityEnvironment().run(
            acts.wait_for_registrations, gate.model_copy(update={"timeout_seconds": 20})
        )
        assert done.ok and done.lingering == {}
        assert all(p.node == "cucm-sub1" for p in group1)  # fallen back before it passed
        assert done.waited_seconds >= 0.3


async def test_gate_waits_out_a_throttled_risport(lab: LabHandle) -> None:
    running = lab.lab
    await all_registered(running)
    running.faults.add(Fault(kind="throttle", node="cucm-pub", count=1))
    env = ActivityEnvironment()
    beats: list[tuple[Any, ...]] = []
    env.on_heartbeat = lambda *d: beats.append(d)
    result = await env.run(
        activities_for(lab).wait_for_registrations,
        RegistrationGateRequest(
            cluster="lab",
            baseline_registered=len(running.phones.phones),
            timeout_seconds=1.0,
            poll_seconds=0.05,
        ),
    )
    assert result.ok
    # The throttle's retry_after (30 s) is cut at the deadline, then one last look passes.
    assert 0.9 <= result.waited_seconds < 5.0
    fired = [e for e in running.journal.entries("fault.fired") if e.data["kind"] == "throttle"]
    assert len(fired) == 1


# -- listing and resetting phones -----------------------------------------------------------


def by_node(lab: Lab, protocol: str = "Any") -> dict[str, list[str]]:
    """The lab's own view: node FQDN -> sorted names of the phones registered with it."""
    out: dict[str, list[str]] = {
        fqdn(n.hostname): [] for n in lab.cluster.nodes if n.product == "cucm"
    }
    for p in lab.phones.phones:
        if p.node is not None and protocol in ("Any", p.protocol):
            out[fqdn(p.node)].append(p.name)
    return {node: sorted(names) for node, names in out.items()}


def axl_resets(lab: Lab, since: int) -> list[str]:
    """Every phone name journalled as dropped by an AXL reset after ``since`` (repeats kept)."""
    return [
        name
        for e in lab.journal.entries("phone.unregistered", since=since)
        if e.data["reason"] == "reset:axl"
        for name in e.data["phones"]
    ]


async def test_registered_phones_by_node_and_protocol(lab: LabHandle) -> None:
    running = lab.lab
    acts = activities_for(lab)
    await all_registered(running)
    every = await ActivityEnvironment().run(
        acts.registered_phones, RegisteredPhonesRequest(cluster="lab")
    )
    assert every.by_node == by_node(running)
    assert sum(len(v) for v in every.by_node.values()) == len(running.phones.phones)
    assert every.by_node[fqdn("cucm-pub")] == []  # listed although it holds no phone
    # Move CMG-1's phones: the listing follows the registrations, not the configuration.
    running.cluster.control(running.cluster.node("cucm-sub1"), CM, "stop", origin="test")
    await until(
        lambda: all(p.node not in (None, "cucm-sub1") for p in running.phones.phones),
        what="failover off cucm-sub1",
    )
    sip = await ActivityEnvironment().run(
        acts.registered_phones,
        RegisteredPhonesRequest(
            cluster="lab", nodes=[fqdn("cucm-sub2"), fqdn("cucm-sub1")], protocol="SIP"
        ),
    )
    expected = by_node(running, "SIP")
    assert sip.by_node == {
        fqdn("cucm-sub2"): expected[fqdn("cucm-sub2")],
        fqdn("cucm-sub1"): [],
    }
    assert len(sip.by_node[fqdn("cucm-sub2")]) == sum(
        1 for p in running.phones.phones if p.node == "cucm-sub2" and p.protocol == "SIP"
    )
    assert len(sip.by_node[fqdn("cucm-sub2")]) > 0
    sccp = await ActivityEnvironment().run(
        acts.registered_phones, RegisteredPhonesRequest(cluster="lab", protocol="SCCP")
    )
    assert sccp.by_node == by_node(running, "SCCP")
    assert set(sccp.by_node[fqdn("cucm-sub2")]).isdisjoint(sip.by_node[fqdn("cucm-sub2")])


async def test_registered_phones_leaves_out_unregistered_phones(
    make_lab: Callable[..., Lab],
) -> None:
    async with make_lab(**solo_and_pair((4, 3), (2, 5))) as running:
        await all_registered(running)
        running.cluster.control(running.cluster.node("cucm-sub1"), CM, "stop", origin="test")
        await until(lambda: len(unregistered(running)) == 7, what="Solo's phones dropped")
        listed = await ActivityEnvironment().run(
            activities_for(LabHandle(running)).registered_phones,
            RegisteredPhonesRequest(cluster="lab"),
        )
        assert listed.by_node == by_node(running)
        assert listed.by_node[fqdn("cucm-sub1")] == []
        assert len(listed.by_node[fqdn("cucm-sub2")]) == 7


async def test_reset_phones_resets_each_phone_once(lab: LabHandle) -> None:
    running = lab.lab
    await all_registered(running)
    names = [p.name for p in running.phones.phones[:6]]
    mark = running.journal.last_seq
    env = ActivityEnvironment()
    beats: list[Any] = []
    env.on_heartbeat = lambda *d: beats.append(d[0])
    result = await env.run(
        activities_for(lab).reset_phones,
        PhoneResetRequest(cluster="lab", names=names, concurrency=3),
    )
    assert result == PhoneResetResult(requested=6, reset=6, not_found=[])
    assert sorted(axl_resets(running, mark)) == sorted(names)
    assert beats[-1]["done"] == 6 and beats[-1]["ahead"] == []
    await all_registered(running)
    others = {p.name for p in running.phones.phones} - set(names)
    assert others.isdisjoint(
        n for e in running.journal.entries("phone", since=mark) for n in e.data["phones"]
    )


async def test_reset_phones_resumes_from_the_heartbeat_details(lab: LabHandle) -> None:
    running = lab.lab
    await all_registered(running)
    names = [p.name for p in running.phones.phones[:7]]
    mark = running.journal.last_seq
    env = ActivityEnvironment()
    # A previous attempt answered the first three and the fifth (one of them unknown to AXL).
    env.info = dataclasses.replace(
        env.info,
        heartbeat_details=[{"done": 3, "reset": 3, "not_found": ["SEPGONE"], "ahead": [4]}],
    )
    result = await env.run(
        activities_for(lab).reset_phones, PhoneResetRequest(cluster="lab", names=names)
    )
    assert sorted(axl_resets(running, mark)) == sorted([names[3], names[5], names[6]])
    assert result == PhoneResetResult(requested=7, reset=6, not_found=["SEPGONE"])


async def test_a_retried_reset_batch_does_not_reset_phones_twice(lab: LabHandle) -> None:
    running = lab.lab
    await all_registered(running)
    names = [p.name for p in running.phones.phones[:5]]
    mark = running.journal.last_seq
    acts = activities_for(lab)
    req = PhoneResetRequest(cluster="lab", names=names, concurrency=1)
    first = ActivityEnvironment()
    beats: list[Any] = []

    def beat(*details: Any) -> None:
        beats.append(details)
        if details[0]["done"] == 2 and not running.faults.active():
            # From the third request on AXL faults until cleared: the attempt dies after two
            # resets (a single fault answer is read back and sent again within the attempt).
            running.faults.add(Fault(kind="soap-fault", node="cucm-pub", target="axl"))

    first.on_heartbeat = beat
    err = await failure(first.run(acts.reset_phones, req))
    assert err.type == "CucmSoapFault" and not err.non_retryable
    assert axl_resets(running, mark) == names[:2]
    running.faults.clear()
    retry = ActivityEnvironment()
    retry.info = dataclasses.replace(retry.info, attempt=2, heartbeat_details=beats[-1])
    result = await retry.run(acts.reset_phones, req)
    assert result == PhoneResetResult(requested=5, reset=5)
    assert sorted(axl_resets(running, mark)) == sorted(names)  # each exactly once


@pytest.mark.parametrize(
    ("kind", "params"), [("soap-fault", {}), ("http-error", {"status": 503, "retry_after": 1})]
)
async def test_a_fault_answer_to_one_reset_is_read_back_and_sent_again_within_the_attempt(
    lab: LabHandle, kind: str, params: dict[str, Any]
) -> None:
    """The chaos bench's CallManager change that failed on ``doDeviceReset: AxisFault`` (a
    SOAP fault at 5 % meets one of a few dozen resets nearly every attempt, and four attempts
    were the batch's whole budget). A fault answer does not say whether the phone got the
    reset: RisPort70 does (a reset phone is off its node at once, [DOC S9]), so the reset is
    sent again only to a phone still registered from before, and each phone reboots once."""
    running = lab.lab
    await all_registered(running)
    names = [p.name for p in running.phones.phones[:5]]
    mark = running.journal.last_seq
    running.faults.add(
        Fault.model_validate(
            {"kind": kind, "node": "cucm-pub", "target": "axl", "count": 2, "params": params}
        )
    )
    result = await ActivityEnvironment().run(
        activities_for(lab).reset_phones,
        PhoneResetRequest(cluster="lab", names=names, concurrency=1),
    )
    assert result == PhoneResetResult(requested=5, reset=5)
    assert not running.faults.active()  # both fault answers were met
    assert sorted(axl_resets(running, mark)) == sorted(names)  # each exactly once


async def test_a_retry_after_resets_the_heartbeats_never_reported_skips_those_phones(
    lab: LabHandle,
) -> None:
    """A worker killed after two resets whose heartbeat (throttled, or lost with the worker)
    still said "none answered": the retry reads the five phones back in RisPort70 (a reset
    phone is off its node at once and its TimeStamp is the status change, [DOC S9]) and resets
    only the three the dead attempt never reached."""
    running = lab.lab
    await all_registered(running)
    names = [p.name for p in running.phones.phones[:5]]
    acts = activities_for(lab)
    req = PhoneResetRequest(cluster="lab", names=names, concurrency=1)
    first = ActivityEnvironment()
    beats: list[Any] = []

    def beat(*details: Any) -> None:
        beats.append(details)
        if details[0]["done"] == 2 and not running.faults.active():
            running.faults.add(Fault(kind="soap-fault", node="cucm-pub", target="axl"))

    first.on_heartbeat = beat
    first.info = dataclasses.replace(first.info, scheduled_time=datetime.now(UTC))
    mark = running.journal.last_seq
    await failure(first.run(acts.reset_phones, req))
    assert axl_resets(running, mark) == names[:2]
    lagging = [b for b in beats if b[0]["done"] == 0][-1]
    running.faults.clear()
    await all_registered(running)  # the retry comes after the heartbeat timeout: all back
    retry = ActivityEnvironment()
    retry.info = dataclasses.replace(first.info, attempt=2, heartbeat_details=lagging)
    result = await retry.run(acts.reset_phones, req)
    assert result == PhoneResetResult(requested=5, reset=5)
    assert sorted(axl_resets(running, mark)) == sorted(names)  # each exactly once


async def test_a_retry_with_no_heartbeat_at_all_reads_back_from_the_scheduled_time(
    lab: LabHandle,
) -> None:
    """The dead attempt sent no heartbeat: the batch began no earlier than the activity was
    first scheduled, so that time separates the phones it reset from those it did not."""
    running = lab.lab
    await all_registered(running)
    names = [p.name for p in running.phones.phones[:4]]
    acts = activities_for(lab)
    scheduled = datetime.now(UTC)
    mark = running.journal.last_seq
    await ActivityEnvironment().run(
        acts.reset_phones, PhoneResetRequest(cluster="lab", names=names[:2])
    )
    await all_registered(running)  # the retry comes after the heartbeat timeout: all back
    retry = ActivityEnvironment()
    retry.info = dataclasses.replace(retry.info, attempt=2, scheduled_time=scheduled)
    result = await retry.run(acts.reset_phones, PhoneResetRequest(cluster="lab", names=names))
    assert result == PhoneResetResult(requested=4, reset=4)
    assert sorted(axl_resets(running, mark)) == sorted(names)  # each exactly once


async def test_reset_phones_fails_on_refused_credentials(lab: LabHandle, tmp_path: Path) -> None:
    running = lab.lab
    await all_registered(running)
    mark = running.journal.last_seq
    # The OS admin is not an AXL user: the publisher refuses it.
    os_admin = lab.cluster_entry.credentials.os_admin.model_dump()
    path = edited_inventory(lab, tmp_path, credentials={"os_admin": os_admin, "app_user": os_admin})
    err = await failure(
        ActivityEnvironment().run(
            activities_at(path).reset_phones,
            PhoneResetRequest(cluster="lab", names=[running.phones.phones[0].name]),
        )
    )
    assert err.type == "CucmAuthError" and err.non_retryable
    assert axl_resets(running, mark) == []


# -- CTL ----------------------------------------------------------------------------------


async def test_ctl_update_runs_once_and_a_retry_finds_it_done(lab: LabHandle) -> None:
    """``show ctl`` lists a record per CCM+TFTP node with its certificate's serial number
    (tech note 118893): once it lists the publisher's installed CallManager certificate, a
    retried attempt (the worker died after the update) does not update the CTL again."""
    acts = activities_for(lab)
    first = await ActivityEnvironment().run(acts.ctl_update, ClusterRef(cluster="lab"))
    assert first.updated and not first.already_done
    retry = ActivityEnvironment()
    retry.info = dataclasses.replace(retry.info, attempt=2)
    again = await retry.run(acts.ctl_update, ClusterRef(cluster="lab"))
    assert (again.updated, again.already_done, again.attempt) == (False, True, 2)
    serial = pki.serial_hex(lab.lab.cluster.node("cucm-pub").own["CallManager"].cert)
    assert serial in again.detail
    assert [e.node for e in lab.lab.journal.entries("ctl.updated")] == ["cucm-pub"]


async def test_ctl_update_runs_again_once_a_new_callmanager_certificate_is_installed(
    lab: LabHandle,
) -> None:
    """The CTL holds the certificates as of its last update (tech note 118893): a CallManager
    certificate installed since is not in it, so the update is due again."""
    acts = activities_for(lab)
    await ActivityEnvironment().run(acts.ctl_update, ClusterRef(cluster="lab"))
    cluster = lab.lab.cluster
    cluster.regenerate_self_signed(cluster.node("cucm-pub"), "CallManager")
    result = await ActivityEnvironment().run(acts.ctl_update, ClusterRef(cluster="lab"))
    assert result.updated and not result.already_done
    assert len(lab.lab.journal.entries("ctl.updated")) == 2


async def test_ctl_update_refused_is_a_non_retryable_step_error(
    lab: LabHandle, tmp_path: Path
) -> None:
    # An inventory that names a subscriber as publisher: the CLI refuses, in its own words.
    path = edited_inventory(lab, tmp_path, publisher=fqdn("cucm-sub1"))
    err = await failure(
        ActivityEnvironment().run(activities_at(path).ctl_update, ClusterRef(cluster="lab"))
    )
    assert err.type == "CtlUpdateFailed" and err.non_retryable
    assert "only on the publisher" in err.message
    assert lab.lab.journal.entries("ctl.updated") == []


# -- change policy ------------------------------------------------------------------------


async def test_load_change_policy_from_the_inventory(lab: LabHandle, tmp_path: Path) -> None:
    policy_block = {
        "approvals": {
            "plan": {"approver_groups": ["voice-leads"], "required": 1},
            "impact": {
                "approver_groups": ["cab"],
                "required": 2,
                "forbid_self_approval": True,
                "justification_required": True,
                "expiry_seconds": 86400,
            },
        },
        "windows": [
            {"start": "2030-01-05T22:00:00Z", "end": "2030-01-06T02:00:00Z"},
            {
                "days": ["sat", "sun"],
                "start": "01:30",
                "duration_seconds": 10800,
                "timezone": "Europe/Paris",
            },
        ],
        "health_tolerance": 0.05,
        "health_timeout_seconds": 1200,
    }
    path = edited_inventory(lab, tmp_path, change_policy=policy_block)
    policy = await ActivityEnvironment().run(
        activities_at(path).load_change_policy, ClusterRef(cluster="lab")
    )
    assert policy.health_tolerance == 0.05 and policy.health_timeout_seconds == 1200
    impact = ApprovalPolicy.model_validate(policy.approvals["impact"])
    assert impact.gate == "impact" and impact.required == 2 and impact.approver_groups == ["cab"]
    assert impact.justification_required and impact.expiry_seconds == 86400
    plan = ApprovalPolicy.model_validate(policy.approvals["plan"])
    assert plan.gate == "plan" and plan.forbid_self_approval  # the workflow's default
    windows = [TypeAdapter(WindowSpec).validate_python(w) for w in policy.windows]
    assert windows[0].start == datetime(2030, 1, 5, 22, tzinfo=UTC)  # type: ignore[union-attr]
    assert windows[1].timezone == "Europe/Paris"  # type: ignore[union-attr]

    # Without a block: the defaults.
    default = await ActivityEnvironment().run(
        activities_for(lab).load_change_policy, ClusterRef(cluster="lab")
    )
    assert default.approvals == {} and default.windows == [] and default.health_tolerance == 0.02


async def test_an_unquoted_window_time_is_refused(lab: LabHandle, tmp_path: Path) -> None:
    path = edited_inventory(lab, tmp_path)
    path.write_text(
        path.read_text().replace(
            "  credentials:",
            "  change_policy:\n    windows:\n    - {days: [sat], start: 22:00, "
            "duration_seconds: 3600}\n  credentials:",
            1,
        )
    )
    err = await failure(
        ActivityEnvironment().run(activities_at(path).load_change_policy, ClusterRef(cluster="lab"))
    )
    assert err.type == "InventoryError" and err.non_retryable
    assert "quote" in err.message


# -- purposes -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "purpose", "port"),
    [
        ("cucm-sub1", "CallManager", 5061),
        ("imp-pub", "cup-xmpp", 5222),
        ("imp-pub", "cup-xmpp-s2s", 5269),
        ("cucm-pub", "tomcat", 0),
    ],
)
async def test_verify_node_checks_the_purposes_own_port(
    lab: LabHandle, tmp_path: Path, host: str, purpose: Any, port: int
) -> None:
    node = lab.lab.cluster.node(host)
    active = node.active[purpose]
    # The lab's certificates are self-signed, and a node's tomcat and CallManager ones share
    # their subject: trust exactly the purpose's certificates, as a CA-signed cluster would.
    trust = tmp_path / f"{purpose}-trust.pem"
    trust.write_text(
        "".join(n.active[purpose].pem for n in lab.lab.cluster.nodes if purpose in n.active)
    )
    acts = activities_at(
        edited_inventory(
            lab, tmp_path, tls={**lab.cluster_entry.tls.model_dump(), "ca_file": str(trust)}
        )
    )
    # port 0: the purpose's port from the inventory
    result = await ActivityEnvironment().run(
        acts.verify_node,
        VerifyRequest(
            cluster="lab",
            node=node.fqdn,
            purpose=purpose,
            expected_fingerprint=pki.fingerprint(active.cert),
        ),
    )
    assert result.ok and result.fqdn_in_san and result.chain_valid
    assert result.port == (port or lab.cluster_entry.node(host).https_port)
    # Another certificate of the node is not what this port serves.
    other = "tomcat" if purpose != "tomcat" else "CallManager"
    if other in node.active:
        err = await failure(
            ActivityEnvironment().run(
                acts.verify_node,
                VerifyRequest(
                    cluster="lab",
                    node=node.fqdn,
                    purpose=purpose,
                    port=port,
                    expected_fingerprint=pki.fingerprint(node.active[other].cert),
                ),
            )
        )
        assert err.type == "VerifyFailed"


async def test_verify_refuses_a_purpose_the_node_does_not_serve(lab: LabHandle) -> None:
    err = await failure(
        ActivityEnvironment().run(
            activities_for(lab).verify_node,
            VerifyRequest(
                cluster="lab",
                node=fqdn("imp-pub"),
                purpose="CallManager",
                expected_fingerprint="00",
            ),
        )
    )
    assert err.type == "PurposeNotServed" and err.non_retryable


async def test_cup_xmpp_csr_is_generated_on_the_imp_publisher(lab: LabHandle) -> None:
    acts = activities_for(lab)
    csr = await ActivityEnvironment().run(
        acts.generate_csr, CsrRequest(cluster="lab", purpose="cup-xmpp")
    )
    generated = lab.lab.journal.entries("csr.generated")
    assert [(e.node, e.data["purpose"]) for e in generated] == [("imp-pub", "cup-xmpp")]
    assert all(n.startswith("imp") for n in csr.exported_nodes)
    pending = await ActivityEnvironment().run(
        acts.check_pending_csr,
        PendingCsrRequest(cluster="lab", purpose="cup-xmpp", csr_pem=csr.csr_pem),
    )
    assert pending.matches, pending.detail
    # The CUCM publisher has no cup-xmpp CSR pending: the tomcat one is separate.
    tomcat = await ActivityEnvironment().run(
        acts.generate_csr, CsrRequest(cluster="lab", purpose="tomcat")
    )
    assert lab.lab.journal.entries("csr.generated")[-1].node == "cucm-pub"
    assert tomcat.csr_pem != csr.csr_pem


# -- restarts of the phone-impacting services ---------------------------------------------


@pytest.mark.parametrize(
    ("host", "service"),
    [
        ("cucm-sub1", "Cisco CallManager"),
        ("cucm-sub2", "Cisco CTIManager"),
        ("cucm-pub", "Cisco Tftp"),
        ("cucm-sub1", "Cisco Trust Verification Service"),
        ("cucm-sub2", "Cisco HAProxy"),
        ("imp-pub", "Cisco XCP Router"),
    ],
)
async def test_restart_of_phone_impacting_services(lab: LabHandle, host: str, service: str) -> None:
    node = lab.lab.cluster.node(host)
    before = node.service(service).start_time
    result = await ActivityEnvironment().run(
        activities_for(lab).restart_service,
        RestartRequest(
            cluster="lab",
            node=node.fqdn,
            service=service,
            not_before=datetime.now(UTC),
            poll_seconds=0.02,
            timeout_seconds=30,
        ),
    )
    assert not result.already_done
    assert node.started(service) and node.service(service).start_time != before
    assert [
        e.node
        for e in lab.lab.journal.entries("service.control")
        if e.data["service"] == service and e.data["action"] == "restart"
    ] == [host]
