"""A lab node has the services of a real node of its product, role and release.

Names as Cisco's AXL schema enumerates them and VOS ``utils service list`` prints them
(cucm-interfaces.md S23, S28); which are network or feature services, activated, or Commanded
Out of Service on subscribers is [INF] (lab/catalog.py). Every one of them answers
``utils service list``, ``utils service restart`` and ``soapDoControlServices``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError
from typer.testing import CliRunner

from lab import topology
from lab.cli import app
from tests.lab.cli_helpers import LabCli
from tests.lab.conftest import LabHandle
from tests.lab.test_soap import LabControlCenter

CUCM_PUBLISHER_STARTED = (
    "A Cisco DB",
    "A Cisco DB Replicator",
    "Cisco AMC Service",
    "Cisco AXL Web Service",
    "Cisco Audit Event Service",
    "Cisco Bulk Provisioning Service",
    "Cisco CAR Scheduler",
    "Cisco CDR Agent",
    "Cisco CDR Repository Manager",
    "Cisco Certificate Change Notification",
    "Cisco Certificate Expiry Monitor",
    "Cisco DRF Local",
    "Cisco DRF Master",
    "Cisco Dialed Number Analyzer",
    "Cisco Extension Mobility",
    "Cisco IP Voice Media Streaming App",
    "Cisco Intercluster Lookup Service",
    "Cisco Location Bandwidth Manager",
    "Cisco Log Partition Monitoring Tool",
    "Cisco RIS Data Collector",
    "Cisco Serviceability Reporter",
    "Cisco UXL Web Service",
)
IMP_STARTED = (
    "Cisco SIP Proxy",
    "Cisco Presence Engine",
    "Cisco XCP Connection Manager",
    "Cisco XCP Authentication Service",
    "Cisco Client Profile Agent",
    "Cisco Sync Agent",
    "Cisco Intercluster Sync Agent",
    "Cisco Login Datastore",
    "Cisco Route Datastore",
    "Cisco Config Agent",
)


def cli(lab: LabHandle, host: str) -> LabCli:
    return LabCli(lab.endpoint(host), lab.os_admin)


async def test_cucm_publisher_lists_a_real_nodes_services_in_name_order(lab: LabHandle) -> None:
    async with cli(lab, "cucm-pub") as session:
        output = await session.run("utils service list")
        services = await session.service_list()
    for name in CUCM_PUBLISHER_STARTED:
        assert services[name].status == "STARTED", name
    for name in ("Cisco DirSync", "Cisco DHCP Monitor Service", "Cisco TAPS Service"):
        assert (services[name].status, services[name].detail) == (
            "STOPPED",
            "Service Not Activated",
        )
    assert not {"Cisco SIP Proxy", "Cisco Presence Engine"} & set(services)
    listed = [line.split("[")[0] for line in output.splitlines() if "[" in line]
    assert listed[:2] == ["A Cisco DB", "A Cisco DB Replicator"]
    assert listed == sorted(listed)


async def test_subscriber_has_publisher_services_out_of_service_or_not_activated(
    lab: LabHandle,
) -> None:
    async with cli(lab, "cucm-sub1") as session:
        services = await session.service_list()
    for name in ("Cisco DRF Master", "Cisco CAR Scheduler", "Cisco CDR Repository Manager"):
        assert (services[name].status, services[name].detail) == (
            "STOPPED",
            "Commanded Out of Service",
        ), name
    assert services["Cisco Certificate Authority Proxy Function"].detail == (
        "Service Not Activated"
    )
    # The AXL developer guide for 11.0: "AXL service is now enabled by default on all nodes
    # (Publisher and Subscribers.)".
    assert services["Cisco AXL Web Service"].started
    assert services["Cisco CDR Agent"].started
    assert "Cisco DirSync" not in services


async def test_imp_node_has_im_and_presence_services(lab: LabHandle) -> None:
    async with cli(lab, "imp-pub") as session:
        services = await session.service_list()
    for name in IMP_STARTED:
        assert services[name].started, name
    assert services["Cisco XCP Text Conference Manager"].detail == "Service Not Activated"
    assert not {"Cisco CallManager", "Cisco Tftp", "Cisco CDR Agent"} & set(services)


async def test_network_and_feature_services_in_the_static_list(lab: LabHandle) -> None:
    async with LabControlCenter(lab.endpoint("cucm-pub"), lab.app_user) as client:
        static = {s.name: s for s in await client.static_service_list()}
    assert not static["Cisco CDR Agent"].deployable
    assert static["Cisco CDR Agent"].group == "CDR Services"
    assert static["Cisco Extension Mobility"].deployable
    assert static["Cisco Extension Mobility"].group == "CM Services"
    assert static["Cisco UXL Web Service"].service_type == "Servlet"
    assert static["Cisco Certificate Change Notification"].group == "Platform Services"


async def test_any_service_restarts_over_control_center_and_cli(lab: LabHandle) -> None:
    async with LabControlCenter(lab.endpoint("imp-pub"), lab.app_user) as client:
        [item] = await client.control_services("restart", ["Cisco Presence Engine"])
        assert item.status == "Stopping"
        done = await client.wait_for_status(
            "Cisco Presence Engine", "Started", poll_interval=0.01, timeout=5
        )
        assert done.status == "Started"
    async with LabControlCenter(lab.endpoint("cucm-sub1"), lab.app_user) as client:
        [refused] = await client.control_services("start", ["Cisco DHCP Monitor Service"])
        assert refused.reason_code == -1068
        [item] = await client.control_services("start", ["Cisco DRF Master"])
        assert item.status == "Starting"
    async with cli(lab, "cucm-sub2") as session:
        line = await session.restart_service("Cisco CDR Agent", timeout=10, poll_interval=0.05)
    assert line.started
    controls = [
        (e.node, e.data["service"], e.data["action"])
        for e in lab.lab.journal.entries("service.control")
    ]
    assert controls == [
        ("imp-pub", "Cisco Presence Engine", "restart"),
        ("cucm-sub1", "Cisco DRF Master", "start"),
        ("cucm-sub2", "Cisco CDR Agent", "restart"),
    ]


async def test_release_decides_which_services_exist(make_lab) -> None:  # type: ignore[no-untyped-def]
    async with make_lab(version="12.5.1.16900-48") as running:
        old = running.cluster.node("cucm-pub").services
    assert "Cisco HAProxy" not in old and "Cisco AXL Tomcat" not in old
    assert "Cisco Smart License Manager" in old and "Cisco Headset Service" in old


def test_unknown_deactivated_service_is_a_clear_topology_error() -> None:
    data = topology.load().model_dump()
    data["nodes"][1]["deactivated"] = ["Cisco Tftp", "Cisco Frobnicator"]
    with pytest.raises(ValidationError) as err:
        topology.TopologySpec.model_validate(data)
    assert "'Cisco Frobnicator'" in str(err.value)
    assert "'Cisco Tftp'" not in str(err.value)
    data["nodes"][3]["deactivated"] = ["Cisco Tftp"]  # a CUCM service on the IM&P node
    data["nodes"][1]["deactivated"] = []
    with pytest.raises(ValidationError, match="imp-pub"):
        topology.TopologySpec.model_validate(data)


def test_lab_refuses_such_a_topology_with_the_reason(tmp_path: Path) -> None:
    data = topology.load().model_dump()
    data["nodes"][0]["deactivated"] = ["Cisco Frobnicator"]
    path = tmp_path / "topology.yaml"
    path.write_text(yaml.safe_dump(data))
    result = CliRunner().invoke(
        app, ["serve", "--topology", str(path), "--state-dir", str(tmp_path / "state")]
    )
    assert result.exit_code == 2
    assert "'Cisco Frobnicator'" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "state").exists()
