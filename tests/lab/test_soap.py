"""Control Center and AXL SOAP: the real clients over sockets against the twin."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from lxml import etree

from activities.clients.cucm.axl import AxlClient, supported_versions
from activities.clients.cucm.controlcenter import AST_NS, ControlCenterClient, ServiceStatus
from activities.clients.cucm.errors import (
    CucmAuthError,
    CucmAxlSchemaError,
    CucmAxlVersionError,
    CucmError,
    CucmHttpError,
    CucmResponseLost,
    CucmServiceError,
    CucmSoapFault,
    CucmThrottled,
)
from activities.clients.cucm.transport import BasicAuth, HttpsClient
from lab import facts, topology
from lab.faults import Fault
from lab.frontends import axl_devices
from lab.server import Lab
from lab.timing import FAST, ServiceTiming
from tests.lab.conftest import LabHandle, lab_spec

CM = "Cisco CallManager"
SUB1 = "cucm-sub1"


@dataclass(frozen=True)
class StaticService:
    """An entry of soapGetStaticServiceList."""

    name: str
    service_type: str
    deployable: bool
    group: str


class LabControlCenter(ControlCenterClient):
    """Control Center with the static service list, which only tests ask for."""

    async def static_service_list(self) -> list[StaticService]:
        """Every service the node's Service Manager knows (soapGetStaticServiceList)."""
        req = etree.Element(f"{{{AST_NS}}}soapGetStaticServiceList", nsmap={"soap": AST_NS})
        etree.SubElement(req, f"{{{AST_NS}}}ServiceInformationResponse")
        ret = await self._call("soapGetStaticServiceList", req)

        def text(item: etree._Element, name: str) -> str:
            return (item.findtext(f"{{{AST_NS}}}{name}") or "").strip()

        return [
            StaticService(
                name=text(item, "ServiceName"),
                service_type=text(item, "ServiceType") or "Service",
                deployable=text(item, "Deployable").lower() == "true",
                group=text(item, "GroupName"),
            )
            for item in ret.iterfind(f"{{{AST_NS}}}Services/{{{AST_NS}}}item")
        ]


def cc(handle: LabHandle, hostname: str = SUB1) -> LabControlCenter:
    return LabControlCenter(handle.endpoint(hostname), handle.app_user)


def axl(handle: LabHandle, hostname: str = "cucm-pub", version: str = "14.0") -> AxlClient:
    # reads=None: these tests look at each answer of the lab, not at the client's repeats.
    return AxlClient(handle.endpoint(hostname), handle.app_user, version=version, reads=None)


async def settled(lab: Lab, hostname: str, service: str, timeout: float = 5.0) -> None:
    """Wait until the twin finished any transition of the service."""
    svc = lab.cluster.node(hostname).service(service)
    deadline = time.monotonic() + timeout
    while svc.transitioning:
        assert time.monotonic() < deadline, f"{service} still transitioning"
        await asyncio.sleep(0.01)


def states(lab: Lab, hostname: str, service: str, since: int = 0) -> list[str]:
    return [
        e.data["status"]
        for e in lab.journal.entries("service.state", node=hostname, since=since)
        if e.data.get("service") == service
    ]


def controls(lab: Lab, hostname: str, since: int = 0) -> list[dict[str, Any]]:
    return [e.data for e in lab.journal.entries("service.control", node=hostname, since=since)]


def nodes_with(hostname: str, **fields: object) -> list[dict[str, Any]]:
    """The default topology's nodes with fields changed on one of them."""
    nodes = [n.model_dump() for n in topology.load().nodes]
    for n in nodes:
        if n["hostname"] == hostname:
            n.update(fields)
    return nodes


# -- Control Center: status ---------------------------------------------------------------


async def test_status_of_all_services(lab: LabHandle) -> None:
    async with cc(lab, "cucm-pub") as client:
        statuses = await client.get_service_status()
    node = lab.lab.cluster.node("cucm-pub")
    assert [s.name for s in statuses] == list(node.services)
    by_name = {s.name: s for s in statuses}
    assert by_name[CM].status == "Started" and by_name[CM].ok and by_name[CM].uptime >= 0
    assert by_name[CM].started_at is not None
    dirsync = by_name["Cisco DirSync"]  # present on the publisher, not activated by default
    assert (dirsync.status, dirsync.reason_code, dirsync.reason) == (
        "Stopped",
        -1068,
        "Service Not Activated",
    )
    assert not dirsync.activated and dirsync.uptime == -1 and dirsync.started_at is None


async def test_status_of_some_services(lab: LabHandle) -> None:
    async with cc(lab) as client:
        statuses = await client.get_service_status(["Cisco Tftp", CM, "Cisco Nonsense"])
    assert [s.name for s in statuses] == ["Cisco Tftp", CM, "Cisco Nonsense"]
    assert [s.status for s in statuses] == ["Started", "Started", "Unknown"]
    assert statuses[2].reason_code == facts.CONTROL_CENTER_NO_SUCH_SERVICE_REASON[0]


async def test_commanded_out_service_shows_1069(lab: LabHandle) -> None:
    async with cc(lab) as client:
        [stopping] = await client.control_services("stop", ["Cisco Tftp"])
        assert (stopping.status, stopping.reason_code) == ("Stopping", -1)
        stopped = await client.wait_for_status(
            "Cisco Tftp", "Stopped", poll_interval=0.01, timeout=5
        )
    assert (stopped.reason_code, stopped.reason) == (-1069, "Commanded Out of Service")
    assert stopped.activated


# -- Control Center: restart ----------------------------------------------------------------


async def test_restart_callmanager_on_subscriber(tmp_path: Path) -> None:
    # Slow enough that polls see the transitional states, still fast for a test.
    timing = FAST.model_copy(
        update={"services": {**FAST.services, CM: ServiceTiming(stopping=0.2, starting=0.3)}}
    )
    async with Lab(lab_spec(), tmp_path / "lab", timing) as running:
        handle = LabHandle(running)
        old_start = running.cluster.node(SUB1).service(CM).start_time
        mark = running.journal.last_seq
        seen: list[ServiceStatus] = []
        async with cc(handle) as client:
            [before] = await client.get_service_status([CM])
            [reply] = await client.control_services("restart", [CM])
            assert (reply.name, reply.status, reply.reason_code, reply.uptime) == (
                CM,
                "Stopping",
                -1,
                -1,
            )
            done = await client.wait_for_status(
                CM,
                started_after=before.started_at,
                poll_interval=0.02,
                timeout=5,
                on_poll=seen.append,
            )
        assert states(running, SUB1, CM, mark) == ["Stopping", "Stopped", "Starting", "Started"]
        assert controls(running, SUB1, mark) == [
            {"service": CM, "action": "restart", "origin": "controlcenter"}
        ]
        assert {"Stopping", "Starting"} & {s.status for s in seen}
        assert done.status == "Started" and 0 <= done.uptime <= 1
        new_start = running.cluster.node(SUB1).service(CM).start_time
        assert old_start is not None and new_start is not None and new_start > old_start
        # Only sub1 restarted.
        assert controls(running, "cucm-sub2", mark) == []


async def test_wait_proves_restart_by_start_time(lab: LabHandle) -> None:
    svc = lab.lab.cluster.node(SUB1).service(CM)
    assert svc.start_time is not None
    svc.start_time -= 3600  # up for an hour before the restart
    async with cc(lab) as client:
        [before] = await client.get_service_status([CM])
        assert before.uptime >= 3600
        await client.control_services("restart", [CM])
        await settled(lab.lab, SUB1, CM)
        # The first poll already reads Started: only the start time can prove the restart.
        done = await client.wait_for_status(
            CM, started_after=before.started_at, poll_interval=0.01, timeout=2
        )
    assert before.started_at is not None and done.started_at is not None
    assert done.started_at > before.started_at + 3000
    assert done.uptime < 5


async def test_wait_without_restart_is_not_proven(lab: LabHandle) -> None:
    svc = lab.lab.cluster.node(SUB1).service(CM)
    assert svc.start_time is not None
    svc.start_time -= 3600
    polls: list[ServiceStatus] = []
    async with cc(lab) as client:
        [before] = await client.get_service_status([CM])
        with pytest.raises(CucmServiceError, match="within"):
            await client.wait_for_status(
                CM,
                started_after=before.started_at,
                poll_interval=0.05,
                timeout=0.3,
                on_poll=polls.append,
            )
    assert len(polls) >= 2 and all(p.status == "Started" for p in polls)


@pytest.mark.parametrize(
    ("kind", "params"),
    [("soap-fault", {}), ("http-error", {"status": 503})],
)
async def test_wait_outlasts_failed_polls(
    lab: LabHandle, kind: str, params: dict[str, Any]
) -> None:
    """A restart wait polls Control Center dozens of times (every 5 s for the 1-3 min of a
    CallManager restart, cucm-interfaces.md §13): one poll the node answers with a SOAP fault
    or a 503 is a missed poll, not a failed restart. The chaos bench
    (bench/bench_chaos.py) saw CallManager restarts end as operator questions from one."""
    svc = lab.lab.cluster.node(SUB1).service(CM)
    assert svc.start_time is not None
    svc.start_time -= 3600
    # reads=None: the wait's own handling of a failed poll is under test, not the client's
    # repeat of a busy query.
    async with ControlCenterClient(lab.endpoint(SUB1), lab.app_user, reads=None) as client:
        [before] = await client.get_service_status([CM])
        await client.control_services("restart", [CM])
        # The next two Control Center requests to the node fail, then it answers again.
        await lab.lab.add_fault(
            Fault.model_validate(
                {"kind": kind, "node": SUB1, "target": "soap", "count": 2, "params": params}
            )
        )
        done = await client.wait_for_status(
            CM, started_after=before.started_at, poll_interval=0.01, timeout=5
        )
    assert done.status == "Started" and done.uptime < 5
    assert not lab.lab.faults.active()  # both failures were met, and outlasted


async def test_wait_names_the_last_failed_poll_when_it_times_out(lab: LabHandle) -> None:
    await lab.lab.add_fault(Fault(kind="soap-fault", node=SUB1, target="soap"))
    async with ControlCenterClient(lab.endpoint(SUB1), lab.app_user, reads=None) as client:
        with pytest.raises(CucmServiceError, match="never answered; the last poll failed"):
            await client.wait_for_status(CM, poll_interval=0.02, timeout=0.3)


async def test_wait_fails_fast_when_start_fails(lab: LabHandle) -> None:
    await lab.lab.add_fault(Fault(kind="service-fail-start", node=SUB1, target=CM, count=1))
    async with cc(lab) as client:
        await client.control_services("restart", [CM])
        with pytest.raises(CucmServiceError, match="failed to start") as info:
            await client.wait_for_status(CM, poll_interval=0.01, timeout=5)
    assert info.value.retryable is False


async def test_start_already_started(lab: LabHandle) -> None:
    mark = lab.lab.journal.last_seq
    async with cc(lab) as client:
        [reply] = await client.control_services("Start", [CM])
    assert (reply.status, reply.reason_code, reply.reason) == (
        "Started",
        -1039,
        "Component already started",
    )
    assert reply.uptime >= 0
    assert controls(lab.lab, SUB1, mark) == []


async def test_control_pending_while_restarting(tmp_path: Path) -> None:
    timing = FAST.model_copy(
        update={"services": {**FAST.services, CM: ServiceTiming(stopping=0.3, starting=0.3)}}
    )
    async with Lab(lab_spec(), tmp_path / "lab", timing) as running:
        async with cc(LabHandle(running)) as client:
            [first] = await client.control_services("restart", [CM])
            [second] = await client.control_services("restart", [CM])
        assert first.reason_code == -1
        assert second.reason_code == -1029
        assert len(controls(running, SUB1)) == 1


async def test_control_not_activated_service(make_lab: Any) -> None:
    async with make_lab(nodes=nodes_with(SUB1, deactivated=["Cisco Tftp"])) as running:
        handle = LabHandle(running)
        async with cc(handle) as client:
            [status] = await client.get_service_status(["Cisco Tftp"])
            assert (status.status, status.reason_code) == ("Stopped", -1068)
            assert not status.activated
            [reply] = await client.control_services("start", ["Cisco Tftp"])
            assert (reply.reason_code, reply.reason) == (-1068, "Service Not Activated")
            with pytest.raises(CucmServiceError, match="not activated"):
                await client.wait_for_status("Cisco Tftp", poll_interval=0.01, timeout=1)
        # Still activated where the topology did not deactivate it.
        async with cc(handle, "cucm-sub2") as client:
            [other] = await client.get_service_status(["Cisco Tftp"])
        assert other.status == "Started" and other.activated
        assert controls(running, SUB1) == []


async def test_tomcat_refused_through_control_center(lab: LabHandle) -> None:
    mark = lab.lab.journal.last_seq
    async with cc(lab) as client:
        [reply] = await client.control_services("restart", ["Cisco Tomcat"])
    assert reply.reason_code == facts.CONTROL_CENTER_TOMCAT_REASON
    assert reply.status == "Started"
    assert controls(lab.lab, SUB1, mark) == []
    assert lab.lab.cluster.node(SUB1).started("Cisco Tomcat")


async def test_other_node_name_refused(lab: LabHandle) -> None:
    async with cc(lab) as client:
        with pytest.raises(CucmServiceError, match="not this node") as info:
            await client.control_services(
                "restart", [CM], node_name=lab.lab.cluster.node("cucm-sub2").fqdn
            )
        # Naming the node itself is accepted.
        [reply] = await client.control_services(
            "restart", [CM], node_name=lab.lab.cluster.node(SUB1).fqdn
        )
    assert info.value.retryable is False
    assert reply.reason_code == -1
    assert [c["action"] for c in controls(lab.lab, SUB1)] == ["restart"]
    assert controls(lab.lab, "cucm-sub2") == []


async def test_static_service_list(lab: LabHandle) -> None:
    async with cc(lab, "imp-pub") as client:
        services = await client.static_service_list()
    names = [s.name for s in services]
    assert "Cisco XCP Router" in names and CM not in names
    tomcat = next(s for s in services if s.name == "Cisco Tomcat")
    assert tomcat.group == "Platform Services" and tomcat.deployable is False


# -- Control Center: faults -----------------------------------------------------------------


async def test_throttle_fault_then_success(lab: LabHandle) -> None:
    await lab.lab.add_fault(Fault(kind="throttle", node=SUB1, count=2))
    async with cc(lab) as client:
        for _ in range(2):
            with pytest.raises(CucmThrottled, match="Exceeded allowed rate for Reatime") as info:
                await client.get_service_status([CM])
            assert info.value.retry_after > 0
        [status] = await client.get_service_status([CM])
    assert status.status == "Started"
    fired = [e for e in lab.lab.journal.entries("fault.fired") if e.data["kind"] == "throttle"]
    assert len(fired) == 2


async def test_throttle_by_rate_names_the_limit(tmp_path: Path) -> None:
    timing = FAST.model_copy(update={"realtime_rate_per_minute": 3})
    async with Lab(lab_spec(), tmp_path / "lab", timing) as running:
        async with cc(LabHandle(running)) as client:
            for _ in range(3):
                await client.get_service_status([CM])
            with pytest.raises(CucmThrottled) as info:
                await client.control_services("restart", [CM])
        assert str(info.value).endswith(
            "Current allowed rate for realtime information is 3 requests per minute."
        )
        assert controls(running, SUB1) == []
        # The static list is not realtime information.
        async with cc(LabHandle(running)) as client:
            assert await client.static_service_list()


async def test_soap_fault_rate(make_lab: Any) -> None:
    async with make_lab(seed=7) as running:
        await running.add_fault(Fault(kind="soap-fault", node=SUB1, target="soap", rate=0.5))
        outcomes: list[str] = []
        async with cc(LabHandle(running)) as client:
            for _ in range(30):
                try:
                    await client.get_service_status([CM])
                    outcomes.append("ok")
                except CucmSoapFault as exc:
                    assert exc.faultcode == facts.SOAP_FAULT_CODE
                    outcomes.append("fault")
        fired = [
            e for e in running.journal.entries("fault.fired") if e.data["kind"] == "soap-fault"
        ]
        assert 0 < outcomes.count("fault") < 30
        assert len(fired) == outcomes.count("fault")


async def test_response_lost_on_service_control(lab: LabHandle) -> None:
    await lab.lab.add_fault(
        Fault(kind="response-lost", node=SUB1, target="service-control", count=1)
    )
    mark = lab.lab.journal.last_seq
    async with cc(lab) as client:
        with pytest.raises(CucmResponseLost):
            await client.control_services("restart", [CM])
        await settled(lab.lab, SUB1, CM)
        # The restart was applied: asking again to start finds it already started.
        [again] = await client.control_services("start", [CM])
    assert again.reason_code == -1039
    assert controls(lab.lab, SUB1, mark) == [
        {"service": CM, "action": "restart", "origin": "controlcenter"}
    ]
    assert states(lab.lab, SUB1, CM, mark) == ["Stopping", "Stopped", "Starting", "Started"]


async def test_control_center_wrong_password(lab: LabHandle) -> None:
    bad = BasicAuth(lab.app_user.username, "wrong")
    async with ControlCenterClient(lab.endpoint(SUB1), bad) as client:
        with pytest.raises(CucmAuthError):
            await client.get_service_status()


# -- AXL ------------------------------------------------------------------------------------


async def test_get_ccm_version(lab: LabHandle) -> None:
    async with axl(lab) as client:
        assert await client.get_ccm_version() == lab.lab.spec.version


async def test_list_process_nodes(lab: LabHandle) -> None:
    async with axl(lab) as client:
        nodes = await client.list_process_nodes()
        subs = await client.list_process_nodes("CUCM-SUB%")
    cluster = lab.lab.cluster
    assert [n.name for n in nodes] == [n.fqdn for n in cluster.nodes]
    usage = {n.name: n.node_usage for n in nodes}
    assert usage[cluster.node("cucm-pub").fqdn] == "Publisher"
    assert usage[cluster.node(SUB1).fqdn] == "Subscriber"
    assert usage[cluster.node("cucm-sub2").fqdn] == "Subscriber"
    roles = {n.name: n.role for n in nodes}
    assert roles[cluster.node("imp-pub").fqdn] == facts.PROCESS_NODE_ROLE["imp"]
    assert roles[cluster.node(SUB1).fqdn] == facts.PROCESS_NODE_ROLE["cucm"]
    assert [n.name for n in subs] == [cluster.node(SUB1).fqdn, cluster.node("cucm-sub2").fqdn]


async def list_process_node(lab: LabHandle, inner: str) -> httpx.Response:
    """One hand-written listProcessNode (14.0) to the publisher, and the HTTP response."""
    body = (
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns:ns="http://www.cisco.com/AXL/API/14.0"><soapenv:Body><ns:listProcessNode>'
        f"{inner}</ns:listProcessNode></soapenv:Body></soapenv:Envelope>"
    )
    endpoint = lab.endpoint("cucm-pub")
    async with HttpsClient(endpoint, endpoint.https_port, lab.app_user) as http:
        return await http.request(
            "POST",
            "/axl/",
            content=body,
            headers={"SOAPAction": '"CUCM:DB ver=14.0 listProcessNode"'},
        )


async def test_list_process_node_includes_enterprise_wide_data_on_the_wire(
    lab: LabHandle,
) -> None:
    resp = await list_process_node(
        lab, "<searchCriteria><name>%</name></searchCriteria><returnedTags><name/></returnedTags>"
    )
    assert resp.status_code == 200
    assert resp.text.count("<processNode ") == 5
    assert "<name>EnterpriseWideData</name>" in resp.text
    assert "<nodeUsage>" not in resp.text  # only the returned tags asked for


async def test_list_process_node_by_role_and_page(lab: LabHandle) -> None:
    # ListProcessNodeReq's searchCriteria: name, description, processNodeRole; skip counts only
    # with first (AXLSoap.xsd).
    async def names(inner: str) -> list[str]:
        resp = await list_process_node(lab, inner)
        assert resp.status_code == 200, resp.text
        return [e.text or "" for e in etree.fromstring(resp.content).iter("name")]

    cluster = lab.lab.cluster
    imp = "<processNodeRole>CUCM IM and Presence</processNodeRole>"
    tags = "<returnedTags><name/><nodeUsage/></returnedTags>"
    assert await names(f"<searchCriteria>{imp}</searchCriteria>{tags}") == [
        cluster.node("imp-pub").fqdn
    ]
    everyone = f"<searchCriteria><name>%</name></searchCriteria>{tags}"
    assert await names(f"{everyone}<skip>2</skip><first>2</first>") == [
        cluster.node(SUB1).fqdn,
        cluster.node("cucm-sub2").fqdn,
    ]
    assert len(await names(f"{everyone}<skip>2</skip>")) == 5
    # A tag the lab has no value for (mac) is left out, not replaced by the others.
    assert await names(everyone.replace("<name/><nodeUsage/>", "<mac/>")) == []


@pytest.mark.parametrize("mode", [0, 1])
async def test_cluster_security_mode(make_lab: Any, mode: int) -> None:
    async with make_lab(security_mode=mode) as running, axl(LabHandle(running)) as client:
        assert await client.cluster_security_mode() == mode
        rows = await client.execute_sql(
            "select paramname,paramvalue from processconfig where paramname='ClusterSecurityMode'"
        )
    assert rows == [{"paramname": "ClusterSecurityMode", "paramvalue": str(mode)}]


async def test_sql_processnode_roles(lab: LabHandle) -> None:
    async with axl(lab) as client:
        rows = await client.execute_sql(
            "SELECT name, nodeid, tkprocessnoderole FROM processnode WHERE nodeid > 1"
        )
        imp = await client.execute_sql(
            "select name from processnode where tkprocessnoderole = 2 and nodeid > 1"
        )
        ewd = await client.execute_sql("select name, description from processnode where nodeid = 1")
        none = await client.execute_sql("select name from processnode where name = 'nope'")
    cluster = lab.lab.cluster
    assert [r["name"] for r in rows] == [n.fqdn for n in cluster.nodes]
    assert {r["name"]: r["tkprocessnoderole"] for r in rows} == {
        n.fqdn: "1" if n.product == "cucm" else "2" for n in cluster.nodes
    }
    assert list(rows[0]) == ["name", "nodeid", "tkprocessnoderole"]
    assert imp == [{"name": cluster.node("imp-pub").fqdn}]
    assert ewd == [{"name": "EnterpriseWideData", "description": ""}]
    assert none == []


async def test_sql_joins(lab: LabHandle) -> None:
    cluster = lab.lab.cluster
    fqdn = {n.hostname: n.fqdn for n in cluster.nodes}
    async with axl(lab) as client:
        inner = await client.execute_sql(
            "select p.name, c.name as entity from processnode p "
            "join callmanager c on c.fkprocessnode = p.pkid"
        )
        outer = await client.execute_sql(
            "SELECT N.Name, c.name entity FROM processnode n "
            "LEFT OUTER JOIN callmanager c ON c.fkprocessnode = n.pkid WHERE n.nodeid > 1"
        )
        members = await client.execute_sql(
            "select g.name as grp, m.priority from callmanagergroup g "
            "inner join callmanagergroupmember m on m.fkcallmanagergroup = g.pkid "
            "where g.name = 'CMG-2' and m.priority > 0"
        )
    assert inner == [
        {"name": fqdn[h], "entity": f"CM_{h}"} for h in ("cucm-pub", "cucm-sub1", "cucm-sub2")
    ]
    # A left outer join keeps the IM&P node, with NULL (empty) CallManager columns.
    assert outer[-1] == {"name": fqdn["imp-pub"], "entity": ""}
    assert [r["name"] for r in outer] == [n.fqdn for n in cluster.nodes]
    assert members == [{"grp": "CMG-2", "priority": "1"}, {"grp": "CMG-2", "priority": "2"}]


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        (
            "select name from processnode p join callmanager c on c.fkprocessnode = p.pkid",
            "Ambiguous column (name).",
        ),
        ("select x.name from processnode p", "Column (x.name) not found"),
        ("select p.name from processnode p join callmanager c", "A syntax error has occurred."),
        ("select name from device", "The specified table (device) is not in the database."),
        ("select colour from processnode", "Column (colour) not found"),
        ("select name processnode", "A syntax error has occurred."),
        ("update processnode set name = 'x'", "A syntax error has occurred."),
        ("select name from processnode where nodeid >", "A syntax error has occurred."),
    ],
)
async def test_bad_sql_is_a_fault(lab: LabHandle, sql: str, expected: str) -> None:
    async with axl(lab) as client:
        with pytest.raises(CucmSoapFault, match=r"axlcode -\d{3}\)") as info:
            await client.execute_sql(sql)
    assert expected in str(info.value)
    assert info.value.faultcode == facts.AXL_FAULT_CODE


async def test_axl_version_negotiation(lab: LabHandle) -> None:
    async with HttpsClient(
        lab.endpoint("cucm-pub"), lab.endpoint("cucm-pub").https_port, lab.app_user
    ) as http:
        raw = await http.request(
            "POST",
            "/axl/",
            content=(
                '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
                'xmlns:ns="http://www.cisco.com/AXL/API/11.5"><soapenv:Body>'
                "<ns:getCCMVersion/></soapenv:Body></soapenv:Envelope>"
            ),
            headers={"SOAPAction": '"CUCM:DB ver=11.5 getCCMVersion"'},
        )
    assert raw.status_code == 599
    assert "Incorrect axl version. Supported axl versions are 12.5, 14.0 and 15.0" in raw.text
    async with axl(lab, version="11.5") as client:
        assert await client.get_ccm_version() == lab.lab.spec.version
        assert client.version == "15.0"
        # The negotiated version sticks.
        assert len(await client.list_process_nodes()) == 4
        assert client.version == "15.0"


async def test_axl_version_error_when_none_listed(
    lab: LabHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(facts, "AXL_VERSION_ERROR", "<html><body>Incorrect axl version.</body>")
    async with axl(lab, version="11.5") as client:
        with pytest.raises(CucmAxlVersionError):
            await client.get_ccm_version()


def test_supported_versions_parsing() -> None:
    page = "Incorrect axl version. Supported axl versions are 12.x, 14.0 and 15.0"
    assert supported_versions(page) == ("15.0", "14.0")
    assert supported_versions("Supported axl versions are 12.x") == ("12.0",)
    assert supported_versions("nothing here") == ()


async def test_axl_answers_on_every_cucm_node_from_11(lab: LabHandle, make_lab: Any) -> None:
    # The AXL developer guide for 11.0: "AXL service is now enabled by default on all nodes
    # (Publisher and Subscribers.)". IM&P nodes have no CUCM AXL.
    async with axl(lab, SUB1) as client:
        assert await client.get_ccm_version() == lab.lab.spec.version
        assert len(await client.list_process_nodes()) == 4
    subscriber = lab.lab.cluster.node(SUB1)
    assert "Cisco AXL Web Service" in subscriber.services
    async with axl(lab, "imp-pub") as client:
        with pytest.raises(CucmHttpError) as info:
            await client.get_ccm_version()
    assert info.value.status == 404 and not info.value.retryable
    async with make_lab(version="10.5.2.10000-5") as older:
        handle = LabHandle(older)
        async with axl(handle) as client:
            assert await client.get_ccm_version() == "10.5.2.10000-5"
        async with axl(handle, SUB1) as client:
            with pytest.raises(CucmHttpError) as info:
                await client.get_ccm_version()
        assert info.value.status == 404


async def test_axl_wrong_password(lab: LabHandle) -> None:
    bad = BasicAuth(lab.app_user.username, "wrong")
    async with AxlClient(lab.endpoint("cucm-pub"), bad) as client:
        with pytest.raises(CucmAuthError):
            await client.get_ccm_version()


async def test_axl_os_admin_refused(lab: LabHandle) -> None:
    async with AxlClient(lab.endpoint("cucm-pub"), lab.os_admin) as client:
        with pytest.raises(CucmAuthError):
            await client.get_ccm_version()


async def test_a_request_the_schema_refuses_is_not_retried(lab: LabHandle) -> None:
    def members(req: etree._Element) -> None:
        etree.SubElement(etree.SubElement(req, "searchCriteria"), "name").text = "%"
        etree.SubElement(etree.SubElement(req, "returnedTags"), "members")

    async with axl(lab) as client:
        with pytest.raises(CucmAxlSchemaError) as info:
            await client._call("listCallManagerGroup", members)
    assert not info.value.retryable and info.value.axlcode is None
    assert "element 'members'" in str(info.value) and "report it" in str(info.value)


async def test_a_reset_answered_false_is_an_error(
    lab: LabHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    # DoDeviceResetRes is a StandardResponse: true, false or a GUID.
    phone = lab.lab.phones.phones[0].name
    monkeypatch.setattr(axl_devices, "RESET_DONE", "{0A1B2C3D-0000-0000-0000-000000000000}")
    async with axl(lab) as client:
        await client.reset_device(phone)
        monkeypatch.setattr(axl_devices, "RESET_DONE", "false")
        with pytest.raises(CucmError, match="answered false"):
            await client.reset_device(phone)


async def test_axl_injected_503_and_soap_fault(lab: LabHandle) -> None:
    await lab.lab.add_fault(Fault(kind="http-error", node="cucm-pub", target="axl", count=1))
    await lab.lab.add_fault(Fault(kind="soap-fault", node="cucm-pub", target="axl", count=1))
    async with axl(lab) as client:
        with pytest.raises(CucmThrottled):
            await client.get_ccm_version()
        with pytest.raises(CucmSoapFault) as info:
            await client.get_ccm_version()
        assert info.value.faultcode == facts.SOAP_FAULT_CODE
        assert await client.get_ccm_version() == lab.lab.spec.version
