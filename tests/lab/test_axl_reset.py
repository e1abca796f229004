"""AXL doDeviceReset on the twin through the real AXL client: resets, unknown and unreachable
phones, CUCM's own ITL reset queue, request validation and injected faults."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from lxml import etree

from activities.clients.cucm.axl import PATH, AxlClient
from activities.clients.cucm.errors import (
    CucmDeviceNotFound,
    CucmSoapFault,
    CucmThrottled,
)
from lab import facts
from lab.faults import Fault
from lab.phone_model import Phone
from lab.server import Lab
from tests.lab.conftest import LabHandle, lab_spec, solo_and_pair
from tests.lab.test_phones import CM, install_callmanager_cert, restart, settled, timing, until

AXL_NS = "http://www.cisco.com/AXL/API/14.0"
SOAPENV = "http://schemas.xmlsoap.org/soap/envelope/"


def axl(handle: LabHandle) -> AxlClient:
    return AxlClient(handle.endpoint("cucm-pub"), handle.app_user)


def resets(lab: Lab, since: int, reason: str = "reset:axl") -> list[str]:
    """Phones journalled as unregistered by a reset with ``reason`` after ``since``."""
    return [
        name
        for e in lab.journal.entries("phone.unregistered", since=since)
        if e.data["reason"] == reason
        for name in e.data["phones"]
    ]


def registered_again(lab: Lab, since: int) -> list[tuple[float, str]]:
    return [
        (e.at, name)
        for e in lab.journal.entries("phone.registered", since=since)
        for name in e.data["phones"]
    ]


async def all_registered(lab: Lab) -> None:
    await until(lambda: all(p.node is not None for p in lab.phones.phones), what="all registered")


async def raw_reset(handle: LabHandle, inner: str, attrs: str = "") -> httpx.Response:
    """One doDeviceReset with a hand-written body (the client always sends deviceName)."""
    body = (
        f'<soapenv:Envelope xmlns:soapenv="{SOAPENV}" xmlns:ns="{AXL_NS}"><soapenv:Body>'
        f"<ns:doDeviceReset{attrs}>{inner}</ns:doDeviceReset></soapenv:Body></soapenv:Envelope>"
    )
    endpoint = handle.endpoint("cucm-pub")
    auth = handle.app_user
    async with httpx.AsyncClient(verify=endpoint.ssl_context()) as client:
        return await client.post(
            f"https://{endpoint.host}:{endpoint.https_port}{PATH}",
            content=body.encode(),
            headers={
                "SOAPAction": '"CUCM:DB ver=14.0 doDeviceReset"',
                "Content-Type": "text/xml; charset=utf-8",
                "Host": endpoint.fqdn,
            },
            auth=(auth.username, auth.password),
            extensions={"sni_hostname": endpoint.fqdn},
        )


def axl_error(resp: httpx.Response) -> tuple[str, str]:
    """(axlcode, axlmessage) of a fault reply."""
    assert resp.status_code == 500, resp.text
    root = etree.fromstring(resp.content)
    return (
        root.findtext(".//axlError/axlcode") or "",
        root.findtext(".//axlError/axlmessage") or "",
    )


def schema_refusal(resp: httpx.Response) -> str:
    """The faultstring of a request refused by the schema (a client fault with no detail)."""
    assert resp.status_code == 500, resp.text
    root = etree.fromstring(resp.content)
    assert root.findtext(".//faultcode") == facts.AXL_SCHEMA_FAULT_CODE
    assert root.find(".//detail") is None
    return root.findtext(".//faultstring") or ""


async def test_a_registered_phone_resets_and_registers_with_the_served_itl(
    tmp_path: Path,
) -> None:
    duration = 0.3
    async with Lab(lab_spec(), tmp_path / "lab", timing(reset_duration=duration)) as lab:
        handle = LabHandle(lab)
        await all_registered(lab)
        phone = lab.phones.phones[3]
        other = lab.phones.phones[4]
        home = phone.node
        # The phone holds an older ITL than TFTP serves: only a reset brings it the new one.
        phone.itl = frozenset({"stale"})
        assert phone.itl != lab.phones.served_itl
        mark = lab.journal.last_seq
        async with axl(handle) as client:
            await client.reset_device(phone.name)
        assert phone.node is None and phone.resetting
        assert resets(lab, mark) == [phone.name]
        dropped = lab.journal.entries("phone.unregistered", since=mark)[0]
        assert dropped.node == home
        await until(lambda: phone.node is not None, timeout=5.0, what="registered again")
        back = [at for at, name in registered_again(lab, mark) if name == phone.name]
        assert len(back) == 1
        # Journal times are wall-clock stamps while the reboot runs on the event loop's clock:
        # allow 10 ms between the two clocks.
        assert duration - 0.01 <= back[0] - dropped.at < duration + 1.0
        assert phone.node == home and not phone.resetting
        assert phone.itl == lab.phones.served_itl
        # Nobody else was touched.
        assert other.node is not None
        assert {n for _, n in registered_again(lab, mark)} == {phone.name}


async def test_a_restart_is_handled_like_a_reset(lab: LabHandle) -> None:
    running = lab.lab
    await all_registered(running)
    phone = running.phones.phones[0]
    mark = running.journal.last_seq
    async with axl(lab) as client:
        await client.reset_device(phone.name.lower(), hard=False)
    assert facts.AXL_RESTART_IS_RESET and facts.AXL_DEVICE_NAME_CASE_INSENSITIVE
    assert resets(running, mark) == [phone.name]
    await until(lambda: phone.node is not None, what="registered again")


async def test_an_unknown_device_is_the_5007_fault(lab: LabHandle) -> None:
    running = lab.lab
    mark = running.journal.last_seq
    async with axl(lab) as client:
        with pytest.raises(CucmSoapFault, match="5007") as info:
            await client.reset_device("SEP000000000000")
    err = info.value
    assert isinstance(err, CucmDeviceNotFound)
    assert err.axlcode == facts.AXL_ITEM_NOT_FOUND_CODE and not err.retryable
    assert err.device == "SEP000000000000"
    assert facts.AXL_DEVICE_NOT_FOUND_MESSAGE in str(err)
    assert running.journal.entries("phone", since=mark) == []


async def test_an_unregistered_phone_accepts_the_reset_and_nothing_happens(
    make_lab: Callable[..., Lab],
) -> None:
    async with make_lab(**solo_and_pair((3, 2), (3, 2))) as running:
        handle = LabHandle(running)
        await all_registered(running)
        running.cluster.control(running.cluster.node("cucm-sub1"), CM, "stop", origin="test")
        await settled(running, "cucm-sub1", CM)
        stranded = next(p for p in running.phones.phones if p.group == "Solo")
        await until(lambda: stranded.node is None and stranded.waiting, what="Solo dropped")
        records = dict(stranded.records)
        mark = running.journal.last_seq
        async with axl(handle) as client:
            await client.reset_device(stranded.name)
        undelivered = running.journal.entries("phone.reset-undelivered", since=mark)
        assert [(e.data["phones"], e.data["reason"]) for e in undelivered] == [
            ([stranded.name], "reset:axl")
        ]
        assert not stranded.resetting and stranded.node is None
        await asyncio.sleep(0.1)
        assert resets(running, mark) == []
        assert registered_again(running, mark) == []
        assert stranded.records == records


async def test_a_phone_already_resetting_is_left_alone(tmp_path: Path) -> None:
    async with Lab(lab_spec(), tmp_path / "lab", timing(reset_duration=0.3)) as lab:
        handle = LabHandle(lab)
        await all_registered(lab)
        phone = lab.phones.phones[1]
        mark = lab.journal.last_seq
        async with axl(handle) as client:
            await client.reset_device(phone.name)
            epoch = phone.epoch
            await client.reset_device(phone.name)
        assert phone.epoch == epoch
        assert resets(lab, mark) == [phone.name]
        await until(lambda: phone.node is not None, what="registered again")
        assert len(registered_again(lab, mark)) == 1


async def test_a_phone_queued_for_the_itl_reset_is_not_reset_twice(tmp_path: Path) -> None:
    # One phone per CUCM batch and long pauses: most phones wait in CUCM's reset queue.
    slow = timing(reset_batch=1, reset_interval=0.5, reset_duration=0.05)
    async with Lab(lab_spec(), tmp_path / "lab", slow) as lab:
        handle = LabHandle(lab)
        await all_registered(lab)
        mark = lab.journal.last_seq
        install_callmanager_cert(lab)
        await restart(lab, "cucm-pub", "Cisco Tftp")
        for host in ("cucm-pub", "cucm-sub1", "cucm-sub2"):
            await restart(lab, host, "Cisco HAProxy")
        await until(lambda: bool(resets(lab, mark, "reset:itl")), what="the ITL resets start")
        queued: list[Phone] = [p for p in lab.phones.phones if p.reset_queued][-3:]
        assert len(queued) == 3
        async with axl(handle) as client:
            for phone in queued:
                await client.reset_device(phone.name)
        assert all(not p.reset_queued for p in queued)
        names = {p.name for p in queued}
        await until(
            lambda: all(p.node is not None and not p.resetting for p in queued),
            what="the controlled resets done",
        )
        await asyncio.sleep(1.2)  # at least two more CUCM batches
        assert sorted(resets(lab, mark, "reset:axl")) == sorted(names)
        assert names.isdisjoint(resets(lab, mark, "reset:itl"))
        assert all(p.itl == lab.phones.served_itl for p in queued)


async def test_request_validation(lab: LabHandle) -> None:
    # DoDeviceResetReq (AXLSoap.xsd): deviceName, then isHardReset *or* deviceResetType; isMGCP
    # is an attribute. A request that breaks it is refused before anything runs.
    running = lab.lab
    await all_registered(running)
    name = running.phones.phones[0].name
    device = f"<deviceName>{name}</deviceName>"
    mark = running.journal.last_seq
    refused = {
        "<isHardReset>true</isHardReset>": "One of '{deviceName}' is expected",
        "<uuid>{00000000-0000-0000-0000-000000000000}</uuid>": "element 'uuid'",
        device: "One of '{isHardReset, deviceResetType}' is expected",
        f"{device}<isHardReset>maybe</isHardReset>": "Value 'maybe' is not facet-valid",
        f"{device}<isHardReset>true</isHardReset><deviceResetType>Reset</deviceResetType>": (
            "element 'deviceResetType'. No child element is expected"
        ),
        f"{device}<isMGCP>false</isMGCP><isHardReset>true</isHardReset>": "element 'isMGCP'",
    }
    for inner, why in refused.items():
        assert why in schema_refusal(await raw_reset(lab, inner)), inner
    assert "Attribute 'hard'" in schema_refusal(
        await raw_reset(lab, f"{device}<isHardReset>t</isHardReset>", ' hard="true"')
    )
    # Valid, but no such device: with isMGCP the name is looked up among MGCP gateways.
    code, _ = axl_error(
        await raw_reset(lab, f"{device}<isHardReset>true</isHardReset>", ' isMGCP="true"')
    )
    assert code == str(facts.AXL_ITEM_NOT_FOUND_CODE)
    code, _ = axl_error(
        await raw_reset(lab, f"{device}<deviceResetType>Reboot</deviceResetType>")
    )  # the schema's XReset takes any string; AXL knows three
    assert code == str(facts.AXL_REQUEST_ERROR_CODE)
    assert running.journal.entries("phone", since=mark) == []
    # Apply Configuration has nothing to apply: no phone is touched, and the reset is done.
    resp = await raw_reset(lab, f"{device}<deviceResetType>Apply Configuration</deviceResetType>")
    assert resp.status_code == 200, resp.text
    assert running.journal.entries("phone", since=mark) == []
    # isHardReset "t" (the schema's boolean) is a hard reset; the reply's return is "true".
    resp = await raw_reset(lab, f"{device}<isHardReset>t</isHardReset>")
    assert resp.status_code == 200, resp.text
    ret = etree.fromstring(resp.content).find(f".//{{{AXL_NS}}}doDeviceResetResponse/return")
    assert ret is not None and ret.text == "true"
    assert resets(running, mark) == [name]


async def test_injected_faults_apply_to_device_resets(lab: LabHandle) -> None:
    running = lab.lab
    await all_registered(running)
    name = running.phones.phones[0].name
    mark = running.journal.last_seq
    await running.add_fault(Fault(kind="soap-fault", node="cucm-pub", target="axl", count=1))
    await running.add_fault(
        Fault(
            kind="http-error",
            node="cucm-pub",
            target="axl",
            count=1,
            params={"retry_after": 7},
        )
    )
    async with axl(lab) as client:
        with pytest.raises(CucmThrottled) as throttled:
            await client.reset_device(name)
        assert throttled.value.retry_after == 7.0
        with pytest.raises(CucmSoapFault) as fault:
            await client.reset_device(name)
        assert not isinstance(fault.value, CucmDeviceNotFound)
        assert resets(running, mark) == []
        t0 = time.monotonic()
        await client.reset_device(name)
    assert time.monotonic() - t0 < 5.0
    assert resets(running, mark) == [name]
