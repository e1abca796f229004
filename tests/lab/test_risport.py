"""RisPort70 on the twin through the real client: filters, paging, failover duplicates, throttle."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from lxml import etree

from activities.clients.cucm.errors import CucmAuthError, CucmThrottled
from activities.clients.cucm.risport import PATH, RisPortClient
from activities.clients.cucm.transport import BasicAuth
from lab import facts
from lab.faults import Fault
from lab.server import Lab
from lab.timing import FAST
from tests.lab.conftest import LabHandle, lab_spec
from tests.lab.test_phones import CM, placement, until

AST = "http://schemas.cisco.com/ast/soap"


def ris(handle: LabHandle, hostname: str = "cucm-pub", **kw: object) -> RisPortClient:
    return RisPortClient(handle.endpoint(hostname), handle.app_user, **kw)  # type: ignore[arg-type]


async def raw_select(
    handle: LabHandle, max_returned: int, state_info: str = "", hostname: str = "cucm-pub"
) -> etree._Element:
    """One selectCmDevice call without the client's paging."""
    body = (
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
        f'xmlns:soap="{AST}"><soapenv:Body><soap:selectCmDevice>'
        f"<soap:StateInfo>{state_info}</soap:StateInfo><soap:CmSelectionCriteria>"
        f"<soap:MaxReturnedDevices>{max_returned}</soap:MaxReturnedDevices>"
        "<soap:DeviceClass>Phone</soap:DeviceClass><soap:Model>255</soap:Model>"
        "<soap:Status>Any</soap:Status><soap:NodeName></soap:NodeName>"
        "<soap:SelectBy>Name</soap:SelectBy><soap:SelectItems><soap:item><soap:Item>*"
        "</soap:Item></soap:item></soap:SelectItems><soap:Protocol>Any</soap:Protocol>"
        "</soap:CmSelectionCriteria></soap:selectCmDevice></soapenv:Body></soapenv:Envelope>"
    )
    endpoint = handle.endpoint(hostname)
    auth = handle.app_user
    async with httpx.AsyncClient(verify=endpoint.ssl_context()) as client:
        resp = await client.post(
            f"https://{endpoint.host}:{endpoint.https_port}{PATH}",
            content=body.encode(),
            headers={"SOAPAction": "selectCmDevice", "Host": endpoint.fqdn},
            auth=(auth.username, auth.password),
            extensions={"sni_hostname": endpoint.fqdn},
        )
    assert resp.status_code == 200, resp.text
    return etree.fromstring(resp.content)


def _names(root: etree._Element) -> list[str]:
    return [
        el.text or "" for el in root.iterfind(f".//{{{AST}}}CmDevices/{{{AST}}}item/{{{AST}}}Name")
    ]


async def test_registration_summary_matches_the_twin(lab: LabHandle) -> None:
    async with ris(lab, "cucm-sub1") as client:
        summary = await client.registration_summary()
        records = await client.select_cm_devices()
    assert summary.total == 40
    # RisPort names a node by its processnode name (the lab's servers are named by FQDN).
    assert summary.registered == {
        "cucm-sub1.lab.example.com": 20,
        "cucm-sub2.lab.example.com": 20,
    }
    assert summary.unregistered == []
    twin = placement(lab.lab)
    assert {r.name: r.node for r in records} == {
        name: f"{node}.lab.example.com" for name, node in twin.items()
    }
    first = next(r for r in records if r.name == "SEP0C1100000000")
    assert first.protocol == "SCCP" and first.dir_number == "1001" and first.status == "Registered"
    assert first.model == facts.PHONE_MODELS["SCCP"][1]


async def test_filters_by_status_protocol_node_and_name(lab: LabHandle) -> None:
    async with ris(lab) as client:
        sip = await client.select_cm_devices(protocol="SIP")
        on_sub2 = await client.select_cm_devices(node="cucm-sub2.lab.example.com")
        named = await client.select_cm_devices(names=["sep0c110000000*"])
        exact = await client.select_cm_devices(names=["SEP0C1100000013", "SEP0C1100000014"])
        unregistered = await client.select_cm_devices(status="UnRegistered")
    phones = {p.name: p for p in lab.lab.phones.phones}
    assert {r.name for r in sip} == {n for n, p in phones.items() if p.protocol == "SIP"}
    assert {r.name for r in on_sub2} == {n for n, p in phones.items() if p.node == "cucm-sub2"}
    assert {r.node for r in on_sub2} == {"cucm-sub2.lab.example.com"}
    assert sorted(r.name for r in named) == [f"SEP0C110000000{i:X}" for i in range(16)]
    assert sorted(r.name for r in exact) == ["SEP0C1100000013", "SEP0C1100000014"]
    assert unregistered == []


async def test_paging_with_state_info(lab: LabHandle) -> None:
    first = await raw_select(lab, 7)
    page = _names(first)
    assert len(page) == 7
    assert first.findtext(f".//{{{AST}}}TotalDevicesFound") == "40"
    state = first.findtext(f".//{{{AST}}}StateInfo") or ""
    second = _names(await raw_select(lab, 7, _escape(state)))
    assert len(second) == 7 and not set(second) & set(page)
    assert second[0] > page[-1]
    async with ris(lab, max_returned=7) as client:
        records = await client.select_cm_devices(ext=False)
    assert len(records) == 40
    assert len({r.name for r in records}) == 40


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


async def test_max_returned_devices_is_capped(make_lab: Callable[..., Lab]) -> None:
    async with make_lab(phones={"count": facts.RIS_MAX_RETURNED_DEVICES + 50}) as running:
        handle = LabHandle(running)
        root = await raw_select(handle, 5000)
        assert len(_names(root)) == facts.RIS_MAX_RETURNED_DEVICES
        async with ris(handle, max_returned=5000) as client:
            summary = await client.registration_summary()
        assert summary.total == facts.RIS_MAX_RETURNED_DEVICES + 50
        assert summary.unregistered == []


async def test_failover_shows_a_device_under_both_nodes(tmp_path: Path) -> None:
    timing = FAST.model_copy(
        update={"phones": FAST.phones.model_copy(update={"fallback_delay": 5.0})}
    )
    async with Lab(lab_spec(), tmp_path / "lab", timing) as running:
        handle = LabHandle(running)
        group1 = {p.name for p in running.phones.phones if p.group == "CMG-1"}
        running.cluster.control(running.cluster.node("cucm-sub1"), CM, "stop", origin="test")
        await until(
            lambda: all(placement(running)[n] == "cucm-sub2" for n in group1), what="failover"
        )
        async with ris(handle) as client:
            every = await client.select_cm_devices(ext=False)
            latest = await client.select_cm_devices(ext=True)
            registered = await client.select_cm_devices(ext=False, status="Registered")
            summary = await client.registration_summary()
    moved = {(r.node, r.status) for r in every if r.name in group1}
    assert moved == {
        ("cucm-sub1.lab.example.com", "UnRegistered"),
        ("cucm-sub2.lab.example.com", "Registered"),
    }
    assert sum(1 for r in every if r.name in group1) == 2 * len(group1)
    assert {(r.node, r.status) for r in latest if r.name in group1} == {
        ("cucm-sub2.lab.example.com", "Registered")
    }
    assert len(latest) == 40
    assert {r.name for r in registered} == set(placement(running))
    assert summary.registered == {"cucm-sub2.lab.example.com": 40}


async def test_throttle_fault_and_realtime_rate(make_lab: Callable[..., Lab]) -> None:
    async with make_lab() as running:
        handle = LabHandle(running)
        await running.add_fault(Fault(kind="throttle", node="cucm-pub", count=1))
        async with ris(handle, throttle_retries=0, retry_after=7.0) as client:
            with pytest.raises(CucmThrottled) as info:
                await client.select_cm_devices()
        assert info.value.retry_after == 7.0
        slept: list[float] = []

        async def fake_sleep(seconds: float) -> None:
            slept.append(seconds)

        await running.add_fault(Fault(kind="throttle", node="cucm-pub", count=1))
        async with ris(handle, throttle_retries=1, retry_after=0.5, sleep=fake_sleep) as client:
            assert len(await client.select_cm_devices()) == 40
        assert slept == [0.5]
        # The realistic rate: a per-node budget of calls per minute, then the fault.
        running.timing = running.timing.model_copy(update={"realtime_rate_per_minute": 3})
        async with ris(handle, "cucm-sub2", throttle_retries=0) as client:
            for _ in range(3):
                await client.select_cm_devices()
            with pytest.raises(CucmThrottled):
                await client.select_cm_devices()
        async with ris(handle, "cucm-sub1", throttle_retries=0) as client:
            await client.select_cm_devices()  # another node has its own budget


async def test_app_user_basic_auth_is_required(lab: LabHandle) -> None:
    wrong = BasicAuth(lab.app_user.username, "not-the-password")
    async with RisPortClient(lab.endpoint("cucm-pub"), wrong) as client:
        with pytest.raises(CucmAuthError):
            await client.select_cm_devices()
