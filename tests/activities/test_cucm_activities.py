"""CUCM activities against the lab, in Temporal's ActivityEnvironment (heartbeats, info)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from temporalio.testing import ActivityEnvironment

from activities.cluster_models import RestartRequest
from activities.cucm import CucmActivities
from lab.server import Lab
from lab.timing import FAST, ServiceTiming, TimingProfile
from tests.lab.conftest import LabHandle, lab_spec


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


async def test_a_restart_under_way_is_awaited_not_repeated(tmp_path: Path) -> None:
    slow = TimingProfile(
        name="slow-cm",
        default_service=FAST.default_service,
        services={
            **FAST.services,
            "Cisco CallManager": ServiceTiming(stopping=0.2, starting=0.4),
        },
    )
    async with Lab(lab_spec(), tmp_path / "lab", slow) as running:
        lab = LabHandle(running)
        node = running.cluster.node("cucm-sub2")
        not_before = datetime.now(UTC)
        svc = running.cluster.control(node, "Cisco CallManager", "restart", "earlier attempt")
        result = await ActivityEnvironment().run(
            activities_for(lab).restart_service,
            RestartRequest(
                cluster="lab",
                node=node.fqdn,
                service="Cisco CallManager",
                not_before=not_before,
                poll_seconds=0.05,
                timeout_seconds=30,
            ),
        )
        assert svc.task is not None and svc.task.done()
        assert result.already_done
        assert restarts(lab, "Cisco CallManager") == ["cucm-sub2"]
        assert node.started("Cisco CallManager")
