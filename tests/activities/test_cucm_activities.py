"""CUCM activities against the lab, in Temporal's ActivityEnvironment (heartbeats, info)."""

from __future__ import annotations

from datetime import UTC, datetime

from temporalio.testing import ActivityEnvironment

from activities.cluster_models import RestartRequest
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
