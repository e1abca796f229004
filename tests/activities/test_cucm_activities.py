"""CUCM activities against the lab, in Temporal's ActivityEnvironment (heartbeats, info)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.cluster_models import RegenerateRequest, RestartRequest
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
