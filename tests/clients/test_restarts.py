"""The restart engine against the lab, without Temporal: the read-back before it acts."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime
from pathlib import Path

import pytest

from activities.clients.cucm.errors import ServiceFailedToStart, ServiceHung, ServiceNotActivated
from activities.clients.cucm.restarts import ServiceRestart
from activities.errors import translate
from lab.faults import Fault
from lab.server import Lab
from lab.timing import FAST, ServiceTiming, TimingProfile
from tests.lab.conftest import LabHandle, lab_spec
from tests.lab.test_cli import TOMCAT, wait_started
from tests.lab.test_phones import CM, settled


def restart(
    lab: LabHandle, host: str, service: str, not_before: datetime, lines: list[str] | None = None
) -> ServiceRestart:
    """A restart of ``service`` on ``host`` of the lab, with fast polling."""
    return ServiceRestart(
        lab.endpoint(host),
        service,
        app_user=lab.app_user,
        os_admin=lab.os_admin,
        not_before=not_before,
        timeout=30,
        poll_interval=0.05,
        progress=(lines if lines is not None else []).append,
    )


def restarts(lab: Lab, service: str) -> list[tuple[str, str]]:
    """(node, origin) of every restart of ``service`` the lab was asked for."""
    return [
        (e.node or "", e.data["origin"])
        for e in lab.journal.entries("service.control")
        if e.data["service"] == service and e.data["action"] == "restart"
    ]


def slow(service: str) -> TimingProfile:
    """The fast profile, with ``service`` taking a while to stop and start."""
    return FAST.model_copy(
        update={"services": {**FAST.services, service: ServiceTiming(stopping=0.2, starting=0.6)}}
    )


async def test_a_start_after_not_before_counts_as_the_restart_done(lab: LabHandle) -> None:
    running = lab.lab
    not_before = datetime.now(UTC)
    await asyncio.sleep(1.1)  # Control Center's UpTime has whole seconds
    running.cluster.control(running.cluster.node("cucm-sub1"), CM, "restart", origin="test")
    await settled(running, "cucm-sub1", CM)
    lines: list[str] = []
    assert await restart(lab, "cucm-sub1", CM, not_before, lines).run()
    assert restarts(running, CM) == [("cucm-sub1", "test")]
    assert lines == []  # nothing to report: it only read the start time
    # A start time before not_before does not count: the restart happens, once.
    await asyncio.sleep(1.1)
    assert not await restart(lab, "cucm-sub1", CM, datetime.now(UTC)).run()
    assert restarts(running, CM) == [("cucm-sub1", "test"), ("cucm-sub1", "controlcenter")]


async def test_a_tomcat_start_after_not_before_counts_as_the_restart_done(
    lab: LabHandle,
) -> None:
    running = lab.lab
    not_before = datetime.now(UTC)
    await asyncio.sleep(1.1)
    running.cluster.control(running.cluster.node("cucm-pub"), TOMCAT, "restart", origin="test")
    await wait_started(lab, "cucm-pub")
    lines: list[str] = []
    assert await restart(lab, "cucm-pub", TOMCAT, not_before, lines).run()
    assert restarts(running, TOMCAT) == [("cucm-pub", "test")]
    assert lines == ["waiting for HTTPS on cucm-pub.lab.example.com"]


async def test_tomcat_restarts_over_the_cli_and_serves_again(lab: LabHandle) -> None:
    lines: list[str] = []
    assert not await restart(lab, "cucm-sub2", TOMCAT, datetime.now(UTC), lines).run()
    assert restarts(lab.lab, TOMCAT) == [("cucm-sub2", "cli")]
    assert lines[0] == "restarting Cisco Tomcat on cucm-sub2.lab.example.com"
    assert "STARTED" in lines and lines[-1].startswith("waiting for HTTPS")


async def test_a_control_center_restart_under_way_is_awaited_not_repeated(
    tmp_path: Path,
) -> None:
    async with Lab(lab_spec(), tmp_path / "lab", slow(CM)) as running:
        node = running.cluster.node("cucm-sub2")
        not_before = datetime.now(UTC)
        svc = running.cluster.control(node, CM, "restart", "earlier attempt")
        assert await restart(LabHandle(running), "cucm-sub2", CM, not_before).run()
        assert svc.task is not None and svc.task.done()
        assert restarts(running, CM) == [("cucm-sub2", "earlier attempt")]
        assert node.started(CM)


async def test_a_tomcat_restart_under_way_is_awaited_through_the_cli(tmp_path: Path) -> None:
    # While Tomcat restarts Control Center does not answer: the CLI says a restart is on.
    async with Lab(lab_spec(), tmp_path / "lab", slow(TOMCAT)) as running:
        lab = LabHandle(running)
        node = running.cluster.node("cucm-sub1")
        not_before = datetime.now(UTC)
        svc = running.cluster.control(node, TOMCAT, "restart", "earlier attempt")
        assert await restart(lab, "cucm-sub1", TOMCAT, not_before).run()
        assert svc.task is not None and svc.task.done()
        assert restarts(running, TOMCAT) == [("cucm-sub1", "earlier attempt")]
        asked = [
            e.data["command"] for e in running.journal.entries("cli.command", node="cucm-sub1")
        ]
        assert "utils service list" in asked


async def test_a_service_that_is_not_activated_fails_for_good(lab: LabHandle) -> None:
    with pytest.raises(ServiceNotActivated) as info:
        await restart(lab, "cucm-pub", "Cisco DirSync", datetime.now(UTC)).run()
    assert str(info.value) == "Cisco DirSync is not activated on cucm-pub.lab.example.com"
    # The renewal reports it under the name it always had.
    failure = translate(info.value)
    assert failure is not None and failure.type == "ServiceNotActivated" and failure.non_retryable
    assert restarts(lab.lab, "Cisco DirSync") == []


@pytest.mark.parametrize(
    ("host", "service"),
    [("cucm-pub", TOMCAT), ("cucm-sub1", TOMCAT), ("cucm-sub1", CM)],
    ids=["tomcat-publisher", "tomcat-subscriber", "callmanager-control-center"],
)
async def test_a_service_that_fails_to_start_is_restarted_once_and_not_retried(
    lab: LabHandle, host: str, service: str
) -> None:
    """``service-fail-start`` ends the service NOTRUNNING (CLI) / Stopped with "Component is not
    running" (Control Center, cucm-interfaces.md §5 ReasonCode): another restart cannot help,
    so the step fails for good, with what to do."""
    await lab.lab.add_fault(Fault(kind="service-fail-start", node=host, target=service))
    try:
        with pytest.raises(ServiceFailedToStart) as info:
            await restart(lab, host, service, datetime.now(UTC)).run()
    finally:
        await lab.lab.clear_faults()
    assert restarts(lab.lab, service) == [(host, "controlcenter" if service == CM else "cli")]
    message = str(info.value)
    assert message.startswith(f"{lab.endpoint(host).fqdn}: {service} ")
    assert message.count(lab.endpoint(host).fqdn) == 1
    assert "does not try again" in message and f"utils service start {service}" in message
    failure = translate(info.value)
    assert failure is not None and failure.type == "ServiceFailedToStart"
    assert failure.non_retryable


@pytest.mark.parametrize("service", [TOMCAT, CM])
async def test_a_hung_start_is_reported_after_the_timeout_and_not_retried(
    lab: LabHandle, service: str
) -> None:
    await lab.lab.add_fault(Fault(kind="service-hang", node="cucm-sub2", target=service))
    step = dataclasses.replace(restart(lab, "cucm-sub2", service, datetime.now(UTC)), timeout=1.0)
    try:
        with pytest.raises(ServiceHung) as info:
            await step.run()
        assert restarts(lab.lab, service) == [
            ("cucm-sub2", "controlcenter" if service == CM else "cli")
        ]
        # The next attempt (a worker died meanwhile) waits for that start, then reports it:
        # it never asks for another restart.
        with pytest.raises(ServiceHung):
            await step.run()
        assert len(restarts(lab.lab, service)) == 1
    finally:
        await lab.lab.clear_faults()
    assert "within 1" in str(info.value) and "hung while starting" in str(info.value)
    failure = translate(info.value)
    assert failure is not None and failure.type == "ServiceHung" and failure.non_retryable
