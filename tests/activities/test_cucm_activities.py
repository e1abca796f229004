"""CUCM activities against the lab, in Temporal's ActivityEnvironment (heartbeats, info)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.cluster_models import (
    ClusterRef,
    CsrRequest,
    PendingCsrRequest,
    RegenerateRequest,
    RestartRequest,
    VerifyRequest,
)
from activities.cucm import CucmActivities
from tests.lab.conftest import LabHandle


def activities_for(lab: LabHandle) -> CucmActivities:
    path = lab.lab.state_dir / "inventory.yaml"
    return CucmActivities(inventory_loader=lambda: path)


def restarts(lab: LabHandle, service: str) -> list[str]:
    return [
        e.node or ""
        for e in lab.lab.journal.entries("service.control")
        if e.data["service"] == service and e.data["action"] == "restart"
    ]


async def test_control_center_restart_happens_once_across_retries(lab: LabHandle) -> None:
    acts = activities_for(lab)
    env = ActivityEnvironment()
    beats: list[object] = []
    env.on_heartbeat = lambda *details: beats.append(details)
    req = RestartRequest(
        cluster="lab",
        node="cucm-sub1.lab.example.com",
        service="Cisco CallManager",
        not_before=datetime.now(UTC),
        poll_seconds=0.05,
        timeout_seconds=30,
    )
    first = await env.run(acts.restart_service, req)
    assert not first.already_done
    again = await env.run(acts.restart_service, req)  # a retried attempt
    assert again.already_done
    assert restarts(lab, "Cisco CallManager") == ["cucm-sub1"]
    assert beats  # the step heartbeats while it waits


async def test_regenerate_certificate_runs_set_cert_regen_on_the_node(lab: LabHandle) -> None:
    acts = activities_for(lab)
    sub = lab.lab.cluster.node("cucm-sub2")
    before = sub.own["tomcat"]
    result = await ActivityEnvironment().run(
        acts.regenerate_certificate,
        RegenerateRequest(cluster="lab", node=sub.fqdn, purpose="tomcat"),
    )
    assert result.detail.endswith("Successfully regenerated certificate for tomcat.")
    assert sub.own["tomcat"] is not before and sub.active["tomcat"] is before
    [event] = lab.lab.journal.entries("identity.regenerated")
    assert event.node == "cucm-sub2"
    with pytest.raises(ApplicationError) as refused:
        await ActivityEnvironment().run(
            acts.regenerate_certificate,
            RegenerateRequest(cluster="lab", node=sub.fqdn, purpose="cup-xmpp"),
        )
    assert refused.value.type == "RegenerateFailed" and "cucm-sub2" in refused.value.message


async def test_every_step_on_a_node_heartbeats_naming_the_node(lab: LabHandle) -> None:
    """CSR generation, the pending-CSR read, SSO and ``set cert regen`` heartbeat from their
    start (``activities.heartbeats.heartbeating``), so the heartbeat timeout of their policy
    (``workflows.policies.STEP_HEARTBEAT``) notices a worker that died during any of them."""
    acts = activities_for(lab)
    pub = lab.lab.cluster.node("cucm-pub").fqdn
    sub = lab.lab.cluster.node("cucm-sub2").fqdn
    seen: dict[str, list[object]] = {}

    async def run(name: str, fn: Any, arg: Any) -> Any:
        env = ActivityEnvironment()
        env.info = dataclasses.replace(env.info, heartbeat_timeout=timedelta(seconds=3))
        beats = seen.setdefault(name, [])
        env.on_heartbeat = lambda *details: beats.extend(details)
        return await env.run(fn, arg)

    csr = await run("csr", acts.generate_csr, CsrRequest(cluster="lab"))
    await run(
        "pending", acts.check_pending_csr, PendingCsrRequest(cluster="lab", csr_pem=csr.csr_pem)
    )
    await run("sso", acts.disable_sso, ClusterRef(cluster="lab"))
    await run("sso-status", acts.sso_status, ClusterRef(cluster="lab"))
    await run(
        "regen",
        acts.regenerate_certificate,
        RegenerateRequest(cluster="lab", node=sub, purpose="tomcat"),
    )
    assert seen["csr"][0] == f"generating the tomcat CSR on {pub}"
    assert seen["pending"][0] == f"reading the tomcat CSR pending on {pub}"
    assert seen["sso"][0] == f"utils sso disable on {pub}"
    assert seen["sso-status"][0] == f"utils sso status on {pub}"
    assert seen["regen"][0] == f"set cert regen tomcat on {sub}"


async def test_verification_heartbeats_naming_the_node(lab: LabHandle) -> None:
    """``verify_node`` logs in to the node (identity) before its handshake: like every step on
    a node it heartbeats from its start, so a worker that dies during it is noticed after the
    heartbeat timeout rather than the attempt's whole start-to-close."""
    acts = activities_for(lab)
    sub = lab.lab.cluster.node("cucm-sub1").fqdn
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, heartbeat_timeout=timedelta(seconds=3))
    beats: list[object] = []
    env.on_heartbeat = lambda *details: beats.extend(details)
    with pytest.raises(ApplicationError) as failed:
        await env.run(
            acts.verify_node,
            VerifyRequest(cluster="lab", node=sub, purpose="tomcat", expected_fingerprint="00"),
        )
    assert failed.value.type == "VerifyFailed"
    assert beats and beats[0] == f"verifying tomcat on {sub}"
