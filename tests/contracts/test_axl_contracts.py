"""AXL contracts: what ucrenew's AxlClient sends and what the lab's AXL answers, judged by
Cisco's AXLSoap.xsd (S28) of the release in use (see :mod:`tests.contracts.axl_xsd`).

Every exchange of a run of the real client against the lab is recorded off the wire and
validated; the lab refuses exactly the requests the schema refuses.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Awaitable

import httpx
import pytest
from lxml import etree

from activities.clients.cucm import axl as axl_client
from activities.clients.cucm.axl import AxlClient
from activities.clients.cucm.errors import CucmDeviceNotFound, CucmSoapFault
from lab import facts
from tests.contracts.axl_xsd import (
    body_element,
    reply_element,
    version_of,
    violations,
)
from tests.lab.conftest import LabHandle

Exchange = tuple[etree._Element, etree._Element]


def record(client: AxlClient) -> list[Exchange]:
    """Record every (request, reply) element the client exchanges from now on."""
    exchanges: list[Exchange] = []

    async def on_response(response: httpx.Response) -> None:
        await response.aread()
        if "xml" in response.headers.get("content-type", ""):
            exchanges.append(
                (body_element(response.request.content), reply_element(response.content))
            )

    client._http._client.event_hooks = {"response": [on_response]}
    return exchanges


def judged(exchanges: list[Exchange]) -> list[str]:
    """Every schema violation of the exchanges, named by operation and direction."""
    found: list[str] = []
    for request, reply in exchanges:
        operation = etree.QName(request).localname
        version = version_of(request)
        found += [f"{operation} request: {v}" for v in violations(request, version)]
        found += [f"{operation} reply: {v}" for v in violations(reply, version)]
    return found


def client_operations() -> set[str]:
    """The AXL operations AxlClient's code calls."""
    return set(re.findall(r'_call\(\s*"(\w+)"', inspect.getsource(axl_client)))


async def expect(error: type[Exception], call: Awaitable[object]) -> None:
    with pytest.raises(error):
        await call


@pytest.mark.parametrize("version", ["12.5", "14.0"])
async def test_every_client_request_and_lab_reply_validates(lab: LabHandle, version: str) -> None:
    phone = lab.lab.phones.phones[0].name
    async with AxlClient(lab.endpoint("cucm-pub"), lab.app_user, version=version) as client:
        exchanges = record(client)
        await client.get_ccm_version()
        await client.list_process_nodes()
        await client.list_process_nodes("CUCM-SUB%")
        await client.cluster_security_mode()
        await client.list_cm_groups()
        await client.list_device_pools()
        await expect(CucmSoapFault, client.phones_per_device_pool())  # the lab has no device
        await client.reset_device(phone)
        await client.reset_device(phone, hard=False)
        await expect(CucmDeviceNotFound, client.reset_device("SEP000000000000"))
    sent = {etree.QName(request).localname for request, _ in exchanges}
    assert client_operations() == sent, "every AxlClient operation is exercised here"
    assert {version_of(request) for request, _ in exchanges} == {version}
    found = judged(exchanges)
    assert not found, "\n".join(found)


async def raw(handle: LabHandle, operation: str, inner: str, attrs: str = "") -> Exchange:
    """One hand-written request to the publisher's AXL (14.0) and its reply."""
    ns = "http://www.cisco.com/AXL/API/14.0"
    body = (
        f'<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
        f'xmlns:ns="{ns}"><soapenv:Body><ns:{operation}{attrs}>{inner}</ns:{operation}>'
        "</soapenv:Body></soapenv:Envelope>"
    )
    endpoint = handle.endpoint("cucm-pub")
    auth = handle.app_user
    async with httpx.AsyncClient(verify=endpoint.ssl_context()) as http:
        resp = await http.post(
            f"https://{endpoint.host}:{endpoint.https_port}/axl/",
            content=body.encode(),
            headers={
                "SOAPAction": f'"CUCM:DB ver=14.0 {operation}"',
                "Content-Type": "text/xml; charset=utf-8",
                "Host": endpoint.fqdn,
            },
            auth=(auth.username, auth.password),
            extensions={"sni_hostname": endpoint.fqdn},
        )
    return body_element(body.encode()), body_element(resp.content)


def schema_refusal(reply: etree._Element) -> str | None:
    """The faultstring of a fault without axlError (the lab's schema refusal), else None."""
    if etree.QName(reply).localname != "Fault" or reply.find("detail") is not None:
        return None
    return reply.findtext("faultstring")


UNKNOWN = "<deviceName>SEP000000000000</deviceName>"
ALL = "<name>%</name>"


def listing(operation: str, criteria: str, tags: str, tail: str = "") -> tuple[str, str, str]:
    """A list request: searchCriteria, returnedTags, then ``tail``."""
    inner = f"<searchCriteria>{criteria}</searchCriteria><returnedTags>{tags}</returnedTags>"
    return (operation, "", inner + tail)


#: Requests around the operations the lab serves: (operation, attributes, inner XML).
CORPUS: list[tuple[str, str, str]] = [
    ("getCCMVersion", "", ""),
    ("getCCMVersion", "", "<processNodeName>cucm-pub</processNodeName>"),
    ("getCCMVersion", ' sequence="1"', ""),
    listing("listProcessNode", ALL, "<name/><nodeUsage/><processNodeRole/>"),
    listing(
        "listProcessNode",
        "<processNodeRole>CUCM Voice/Video</processNodeRole>",
        "<name/>",
        "<skip>1</skip><first>2</first>",
    ),
    listing("listProcessNode", "<nodeUsage>Publisher</nodeUsage>", "<name/>"),
    listing("listProcessNode", ALL, "<name/>", "<first>two</first>"),
    listing("listProcessNode", ALL, "<processNodeRole/><name/>"),
    ("listProcessNode", "", f"<searchCriteria>{ALL}</searchCriteria>"),
    ("executeSQLQuery", ' sequence="7"', "<sql>select name from processnode</sql>"),
    ("executeSQLQuery", "", ""),
    ("executeSQLQuery", "", "<sql><select/></sql>"),
    listing("listCallManagerGroup", ALL, "<name/><tftpDefault/>"),
    listing("listCallManagerGroup", ALL, "<name/><members/>"),
    listing("listCallManagerGroup", ALL, "<tftpDefault/><name/>"),
    ("getCallManagerGroup", "", "<name>CMG-1</name>"),
    (
        "getCallManagerGroup",
        "",
        "<name>CMG-2</name><returnedTags><name/><members><member><callManagerName/>"
        "<priority/></member></members></returnedTags>",
    ),
    (
        "getCallManagerGroup",
        "",
        "<name>CMG-1</name><uuid>{00000000-0000-0000-0000-000000000000}</uuid>",
    ),
    ("getCallManagerGroup", "", "<uuid>CMG-1</uuid>"),
    listing(
        "listDevicePool",
        "<callManagerGroupName>CMG-1</callManagerGroupName>",
        "<name/><callManagerGroupName/><regionName/>",
    ),
    listing("listDevicePool", ALL, "<name/><cmGroup/>"),
    # ucrenew's doDeviceReset before it followed the schema: isMGCP is an attribute, and
    # isHardReset and deviceResetType are alternatives.
    (
        "doDeviceReset",
        "",
        f"{UNKNOWN}<isHardReset>true</isHardReset><isMGCP>false</isMGCP>"
        "<deviceResetType>Reset</deviceResetType>",
    ),
    ("doDeviceReset", "", f"{UNKNOWN}<isHardReset>true</isHardReset>"),
    ("doDeviceReset", "", f"{UNKNOWN}<isHardReset>t</isHardReset>"),
    ("doDeviceReset", ' isMGCP="true"', f"{UNKNOWN}<deviceResetType>Restart</deviceResetType>"),
    ("doDeviceReset", "", f"{UNKNOWN}<deviceResetType>Apply Configuration</deviceResetType>"),
    (
        "doDeviceReset",
        "",
        f"{UNKNOWN}<isHardReset>true</isHardReset><deviceResetType>Reset</deviceResetType>",
    ),
    ("doDeviceReset", "", UNKNOWN),
    ("doDeviceReset", "", f"{UNKNOWN}<deviceResetType>Reboot</deviceResetType>"),
    ("doDeviceReset", "", f"{UNKNOWN}<isHardReset>maybe</isHardReset>"),
    ("doDeviceReset", ' isMGCP="no"', f"{UNKNOWN}<isHardReset>true</isHardReset>"),
    ("doDeviceReset", ' force="true"', f"{UNKNOWN}<isHardReset>true</isHardReset>"),
    ("doDeviceReset", "", "<uuid>{00000000-0000-0000-0000-000000000000}</uuid>"),
    (
        "doDeviceReset",
        "",
        '<deviceName uuid="{00000000-0000-0000-0000-000000000000}"/>'
        "<isHardReset>false</isHardReset>",
    ),
]


async def test_the_lab_refuses_exactly_what_the_schema_refuses(lab: LabHandle) -> None:
    verdicts: list[str] = []
    for operation, attrs, inner in CORPUS:
        request, reply = await raw(lab, operation, inner, attrs)
        xsd = violations(request, "14.0")
        refusal = schema_refusal(reply)
        if bool(xsd) != (refusal is not None):
            verdicts.append(f"{operation}{attrs} {inner}: schema {xsd or 'valid'}, lab {refusal}")
        elif refusal is None and etree.QName(reply).localname != "Fault":
            verdicts += [f"{operation} reply: {v}" for v in violations(reply, "14.0")]
        elif refusal is None:
            detail = reply.find("detail/axlError")
            assert detail is not None
            verdicts += [f"{operation} fault: {v}" for v in violations(detail, "14.0")]
    assert not verdicts, "\n".join(verdicts)


async def test_a_schema_refusal_is_a_client_fault_naming_the_offending_element(
    lab: LabHandle,
) -> None:
    operation, _, inner = listing("listCallManagerGroup", ALL, "<name/><members/>")
    _, reply = await raw(lab, operation, inner)
    assert reply.findtext("faultcode") == facts.AXL_SCHEMA_FAULT_CODE
    assert schema_refusal(reply) == (
        "cvc-complex-type.2.4.a: Invalid content was found starting with element 'members'. "
        "One of '{tftpDefault}' is expected."
    )
    _, reply = await raw(
        lab,
        "doDeviceReset",
        f"{UNKNOWN}<isHardReset>true</isHardReset><deviceResetType>Reset</deviceResetType>",
    )
    assert schema_refusal(reply) == (
        "cvc-complex-type.2.4.d: Invalid content was found starting with element "
        "'deviceResetType'. No child element is expected at this point."
    )


async def test_get_call_manager_group_lists_members_in_priority_order(lab: LabHandle) -> None:
    _, reply = await raw(lab, "getCallManagerGroup", "<name>CMG-2</name>")
    group = reply.find("return/callManagerGroup")
    assert group is not None
    assert [
        (m.findtext("callManagerName"), m.findtext("priority"))
        for m in group.iterfind("members/member")
    ] == [
        (f"CM_{host}", str(rank + facts.AXL_CM_GROUP_PRIORITY_BASE))
        for rank, host in enumerate(("cucm-sub2", "cucm-sub1", "cucm-pub"))
    ]
    assert violations(reply, "14.0") == []
    _, missing = await raw(lab, "getCallManagerGroup", "<name>nope</name>")
    assert missing.findtext("detail/axlError/axlcode") == "5007"


def test_the_judge_lets_empty_returned_tags_through_and_nothing_else() -> None:
    def request(tags: str) -> etree._Element:
        ns = "http://www.cisco.com/AXL/API/14.0"
        return etree.fromstring(
            f'<ns:listCallManagerGroup xmlns:ns="{ns}"><searchCriteria>{ALL}</searchCriteria>'
            f"<returnedTags>{tags}</returnedTags></ns:listCallManagerGroup>"
        )

    assert violations(request("<name/><tftpDefault/>"), "14.0") == []
    assert violations(request("<name/><tftpDefault>maybe</tftpDefault>"), "14.0") != []
    assert violations(request("<name/><members/>"), "14.0") != []
    assert violations(request("<tftpDefault/><name/>"), "15.0") != []
