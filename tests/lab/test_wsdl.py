"""``?wsdl`` of Control Center, RisPort70 and AXL: valid WSDLs of what the lab answers.

The documents follow the structure of Cisco's published WSDLs (cucm-interfaces.md §4, §5,
S10). Each test reads the WSDL from a running node, compiles the XML schema inside it, and
validates what the node answers to every operation the WSDL lists. AXL's leaves the types to
AXLSoap.xsd (tests/contracts judges the lab's AXL by it); its operation names and soapActions
are compared with Cisco's AXLAPI.wsdl as the ``ciscoaxl`` test dependency ships it.
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

import httpx
import pytest
from lxml import etree

from lab import facts
from lab.frontends import axl_schema
from lab.frontends.axl import AXL_NS_PREFIX, OPERATIONS, wsdl_version
from lab.frontends.wsdl import VERSION_PLACEHOLDER, document
from tests.lab.conftest import LabHandle

WSDL = "http://schemas.xmlsoap.org/wsdl/"
WSDL_SOAP = "http://schemas.xmlsoap.org/wsdl/soap/"
XSD = "http://www.w3.org/2001/XMLSchema"
SOAPENV = "http://schemas.xmlsoap.org/soap/envelope/"
AST = "http://schemas.cisco.com/ast/soap"
CONTROL_CENTER = "/controlcenterservice2/services/ControlCenterServices"
RIS = "/realtimeservice2/services/RISService70"

_RIS_CRITERIA = (
    "<soap:StateInfo></soap:StateInfo><soap:CmSelectionCriteria>"
    "<soap:MaxReturnedDevices>1000</soap:MaxReturnedDevices>"
    "<soap:DeviceClass>Phone</soap:DeviceClass><soap:Model>255</soap:Model>"
    "<soap:Status>Any</soap:Status><soap:NodeName></soap:NodeName>"
    "<soap:SelectBy>Name</soap:SelectBy><soap:SelectItems><soap:item><soap:Item>*"
    "</soap:Item></soap:item></soap:SelectItems><soap:Protocol>Any</soap:Protocol>"
    "<soap:DownloadStatus>Any</soap:DownloadStatus></soap:CmSelectionCriteria>"
)
#: A request body for each operation the lab implements.
REQUESTS = {
    "soapGetServiceStatus": "<soap:ServiceStatus></soap:ServiceStatus>",
    "soapDoControlServices": (
        "<soap:ControlServiceRequest><soap:NodeName></soap:NodeName>"
        "<soap:ControlType>Restart</soap:ControlType><soap:ServiceList>"
        "<soap:item>Cisco CDR Agent</soap:item></soap:ServiceList></soap:ControlServiceRequest>"
    ),
    "soapGetStaticServiceList": "<soap:ServiceInformationResponse/>",
    "getProductInformationList": "<soap:ServiceInfo/>",
    "selectCmDevice": _RIS_CRITERIA,
    "selectCmDeviceExt": _RIS_CRITERIA,
}


def client(lab: LabHandle, host: str, auth: bool = True) -> httpx.AsyncClient:
    ep = lab.endpoint(host)
    return httpx.AsyncClient(
        base_url=f"https://{ep.host}:{ep.https_port}",
        verify=ep.ssl_context(),
        headers={"Host": f"{ep.fqdn}:{ep.https_port}"},
        auth=(lab.app_user.username, lab.app_user.password) if auth else None,
    )


async def get(lab: LabHandle, host: str, url: str, auth: bool = True) -> httpx.Response:
    async with client(lab, host, auth) as http:
        return await http.get(url, extensions={"sni_hostname": lab.endpoint(host).fqdn})


async def call(lab: LabHandle, host: str, path: str, operation: str) -> etree._Element:
    body = (
        f'<soapenv:Envelope xmlns:soapenv="{SOAPENV}" xmlns:soap="{AST}"><soapenv:Body>'
        f"<soap:{operation}>{REQUESTS[operation]}</soap:{operation}>"
        "</soapenv:Body></soapenv:Envelope>"
    )
    async with client(lab, host) as http:
        resp = await http.post(
            path,
            content=body.encode(),
            headers={"SOAPAction": operation},
            extensions={"sni_hostname": lab.endpoint(host).fqdn},
        )
    assert resp.status_code == 200, resp.text
    return etree.fromstring(resp.content).find(f"{{{SOAPENV}}}Body")[0]


def schema_of(wsdl: etree._Element) -> etree.XMLSchema:
    """The XML schema inside ``wsdl:types``, compiled."""
    inline = wsdl.find(f"{{{WSDL}}}types/{{{XSD}}}schema")
    assert inline is not None
    # The schema's QName attributes (type="tns:...") need the WSDL's prefixes in scope.
    doc = etree.Element(inline.tag, dict(inline.attrib), nsmap=wsdl.nsmap)
    doc.extend(child.__copy__() for child in inline)
    return etree.XMLSchema(doc)


def operations(wsdl: etree._Element) -> list[str]:
    return [op.get("name", "") for op in wsdl.iterfind(f"{{{WSDL}}}portType/{{{WSDL}}}operation")]


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (
            CONTROL_CENTER,
            [
                "soapGetServiceStatus",
                "soapDoControlServices",
                "soapGetStaticServiceList",
                "getProductInformationList",
            ],
        ),
        (RIS, ["selectCmDevice", "selectCmDeviceExt"]),
    ],
)
async def test_wsdl_describes_what_the_node_answers(
    lab: LabHandle, path: str, expected: list[str]
) -> None:
    resp = await get(lab, "cucm-pub", f"{path}?wsdl")
    assert resp.status_code == 200
    assert resp.headers["Content-Type"].startswith("text/xml")
    wsdl = etree.fromstring(resp.content)
    assert wsdl.tag == f"{{{WSDL}}}definitions"
    assert wsdl.get("targetNamespace") == AST
    assert operations(wsdl) == expected
    actions = [
        op.get("soapAction")
        for op in wsdl.iterfind(f"{{{WSDL}}}binding/{{{WSDL}}}operation/{{{WSDL_SOAP}}}operation")
    ]
    assert actions == expected
    ep = lab.endpoint("cucm-pub")
    address = wsdl.find(f"{{{WSDL}}}service/{{{WSDL}}}port/{{{WSDL_SOAP}}}address")
    assert address is not None
    assert address.get("location") == f"https://{ep.fqdn}:{ep.https_port}{path}"
    schema = schema_of(wsdl)
    for operation in expected:
        reply = await call(lab, "cucm-pub", path, operation)
        schema.assertValid(reply)
        if path == RIS:  # phones are listed, so every device field is checked
            assert reply.findall(f".//{{{AST}}}CmDevices/{{{AST}}}item")


async def test_wsdl_query_is_case_blind_and_needs_credentials(lab: LabHandle) -> None:
    upper = await get(lab, "cucm-sub1", f"{CONTROL_CENTER}?WSDL")
    assert upper.status_code == 200
    assert operations(etree.fromstring(upper.content))[0] == "soapGetServiceStatus"
    anonymous = await get(lab, "cucm-sub1", f"{RIS}?wsdl", auth=False)
    assert anonymous.status_code == 401
    assert facts.CONTROL_CENTER_REALM in anonymous.headers["WWW-Authenticate"]


async def test_service_url_without_wsdl_shows_the_service_page(lab: LabHandle) -> None:
    page = await get(lab, "imp-pub", CONTROL_CENTER)
    assert page.status_code == 200
    assert page.headers["Content-Type"].startswith("text/html")
    assert "<h1>ControlCenterServices</h1>" in page.text
    # IM&P nodes have no RisPort70.
    assert (await get(lab, "imp-pub", f"{RIS}?wsdl")).status_code == 404


def test_schema_catches_a_reply_outside_the_contract() -> None:
    wsdl = etree.fromstring(document("RISService70.wsdl").encode())
    schema = schema_of(wsdl)
    reply = etree.fromstring(
        f'<ns1:selectCmDeviceResponse xmlns:ns1="{AST}"><ns1:selectCmDeviceReturn>'
        "<ns1:SelectCmDeviceResult><ns1:TotalDevicesFound>0</ns1:TotalDevicesFound>"
        "<ns1:CmNodes><ns1:item><ns1:ReturnCode>Fine</ns1:ReturnCode><ns1:Name>n</ns1:Name>"
        "<ns1:NoChange>false</ns1:NoChange><ns1:CmDevices/></ns1:item></ns1:CmNodes>"
        "</ns1:SelectCmDeviceResult><ns1:StateInfo/></ns1:selectCmDeviceReturn>"
        "</ns1:selectCmDeviceResponse>"
    )
    assert not schema.validate(reply)
    reply.find(f".//{{{AST}}}ReturnCode").text = "NotFound"
    assert schema.validate(reply)


# -- AXL ------------------------------------------------------------------------------------
AXL_PATH = "/axl/"
AXLAPI_SERVICE = "http://www.cisco.com/AXLAPIService/"
#: A minimal schema-valid request body for each AXL operation the lab implements.
AXL_REQUESTS = {
    "getCCMVersion": "",
    "listProcessNode": "<searchCriteria><name>%</name></searchCriteria><returnedTags><name/>"
    "</returnedTags>",
    "executeSQLQuery": "<sql>select name from processnode</sql>",
    "listCallManagerGroup": "<searchCriteria><name>%</name></searchCriteria><returnedTags>"
    "<name/></returnedTags>",
    "getCallManagerGroup": "<name>{group}</name>",
    "listDevicePool": "<searchCriteria><name>%</name></searchCriteria><returnedTags><name/>"
    "</returnedTags>",
    "doDeviceReset": "<deviceName>{phone}</deviceName><isHardReset>false</isHardReset>",
}


def soap_actions(wsdl: etree._Element) -> dict[str, str]:
    """soapAction of each operation of the WSDL's binding."""
    return {
        op.get("name", ""): op.find(f"{{{WSDL_SOAP}}}operation").get("soapAction", "")
        for op in wsdl.iterfind(f"{{{WSDL}}}binding/{{{WSDL}}}operation")
    }


def cisco_axlapi_wsdl() -> etree._Element:
    """Cisco's AXLAPI.wsdl of 12.5, read from the installed ciscoaxl (a test-only dependency)."""
    resource = resources.files("ciscoaxl") / "schema" / "12.5" / "AXLAPI.wsdl"
    parser = etree.XMLParser(no_network=True, resolve_entities=False, huge_tree=True)
    return etree.fromstring(resource.read_bytes(), parser)


async def post_axl(
    lab: LabHandle, host: str, namespace: str, action: str, operation: str, inner: str
) -> etree._Element:
    body = (
        f'<soapenv:Envelope xmlns:soapenv="{SOAPENV}" xmlns:ns="{namespace}"><soapenv:Body>'
        f"<ns:{operation}>{inner}</ns:{operation}></soapenv:Body></soapenv:Envelope>"
    )
    async with client(lab, host) as http:
        resp = await http.post(
            AXL_PATH,
            content=body.encode(),
            headers={"SOAPAction": f'"{action}"', "Content-Type": "text/xml; charset=utf-8"},
            extensions={"sni_hostname": lab.endpoint(host).fqdn},
        )
    assert resp.status_code == 200, resp.text
    return etree.fromstring(resp.content).find(f"{{{SOAPENV}}}Body")[0]


@pytest.mark.parametrize("host", ["cucm-pub", "cucm-sub1"])
async def test_axl_wsdl_names_what_the_node_answers(lab: LabHandle, host: str) -> None:
    resp = await get(lab, host, f"{AXL_PATH}?wsdl")
    assert resp.status_code == 200
    assert resp.headers["Content-Type"].startswith("text/xml")
    wsdl = etree.fromstring(resp.content)
    assert wsdl.tag == f"{{{WSDL}}}definitions"
    assert wsdl.get("targetNamespace") == AXLAPI_SERVICE
    # The default topology is 14.0.1...: its AXL schema version is 14.0.
    version = wsdl_version(lab.lab.spec.major_version)
    assert version == "14.0"
    namespace = f"{AXL_NS_PREFIX}{version}"
    schema_el = wsdl.find(f"{{{WSDL}}}types/{{{XSD}}}schema")
    assert schema_el is not None
    assert schema_el.get("targetNamespace") == namespace
    assert set(operations(wsdl)) == set(OPERATIONS) == set(axl_schema.REQUESTS)
    declared = {el.get("name") for el in schema_el.iterfind(f"{{{XSD}}}element")}
    assert declared == {"axlError"} | set(OPERATIONS) | {f"{op}Response" for op in OPERATIONS}
    actions = soap_actions(wsdl)
    assert actions == {op: f"CUCM:DB ver={version} {op}" for op in OPERATIONS}
    ep = lab.endpoint(host)
    address = wsdl.find(f"{{{WSDL}}}service/{{{WSDL}}}port/{{{WSDL_SOAP}}}address")
    assert address is not None
    assert address.get("location") == f"https://{ep.fqdn}:{ep.https_port}{AXL_PATH}"
    # Each operation, sent with the WSDL's soapAction, is answered with its response element.
    values = {
        "group": lab.lab.spec.resolved_cm_groups()[0].name,
        "phone": lab.lab.phones.phones[0].name,
    }
    for operation, action in actions.items():
        inner = AXL_REQUESTS[operation].format(**values)
        reply = await post_axl(lab, host, namespace, action, operation, inner)
        assert etree.QName(reply) == etree.QName(namespace, f"{operation}Response")


def test_axl_wsdl_matches_ciscos_names_and_soap_actions() -> None:
    ours = etree.fromstring(document("AXLAPI.wsdl").encode())
    cisco = cisco_axlapi_wsdl()
    assert ours.get("targetNamespace") == cisco.get("targetNamespace") == AXLAPI_SERVICE
    # Port type, binding, service and port are named as Cisco names them.
    for path in ("portType", "binding", "service", "service/port"):
        xpath = "/".join(f"{{{WSDL}}}{step}" for step in path.split("/"))
        assert ours.find(xpath).get("name") == cisco.find(xpath).get("name"), path
    theirs = soap_actions(cisco)
    pattern = re.compile(r"CUCM:DB ver=(?P<ver>[0-9.]+) (?P<op>\w+)")
    for operation, action in soap_actions(ours).items():
        assert operation in theirs, operation
        cisco_match = pattern.fullmatch(theirs[operation])
        assert cisco_match is not None and cisco_match["op"] == operation
        ours_filled = action.replace(VERSION_PLACEHOLDER, "12.5")
        assert ours_filled == theirs[operation]
    # Messages and their parts carry Cisco's names too.
    cisco_messages = {m.get("name"): m for m in cisco.iterfind(f"{{{WSDL}}}message")}
    for message in ours.iterfind(f"{{{WSDL}}}message"):
        name = message.get("name")
        assert name in cisco_messages, name
        part = message.find(f"{{{WSDL}}}part")
        cisco_part = cisco_messages[name].find(f"{{{WSDL}}}part")
        assert part.get("name") == cisco_part.get("name"), name
        # Each part's element has Cisco's local name (the prefixes are each document's own).
        assert part.get("element").partition(":")[2] == cisco_part.get("element").partition(":")[2]


def test_a_wsdl_client_reads_the_axl_wsdl(tmp_path: Path) -> None:
    # zeep comes with ciscoaxl (test-only); it resolves every message, port type and binding.
    import zeep

    path = tmp_path / "AXLAPI.wsdl"
    path.write_text(document("AXLAPI.wsdl").replace(VERSION_PLACEHOLDER, "14.0"))
    service = zeep.Client(str(path)).bind("AXLAPIService", "AXLPort")
    bound = service._binding._operations
    assert {name: op.soapaction for name, op in bound.items()} == {
        op: f"CUCM:DB ver=14.0 {op}" for op in OPERATIONS
    }


async def test_axl_wsdl_needs_axl_credentials_and_axl_itself(lab: LabHandle) -> None:
    anonymous = await get(lab, "cucm-sub1", f"{AXL_PATH}?wsdl", auth=False)
    assert anonymous.status_code == 401
    assert facts.AXL_REALM in anonymous.headers["WWW-Authenticate"]
    page = await get(lab, "cucm-pub", AXL_PATH)
    assert page.status_code == 200
    assert page.text == facts.AXL_SERVICE_PAGE
    # IM&P nodes have no AXL.
    assert (await get(lab, "imp-pub", f"{AXL_PATH}?wsdl")).status_code == 404
    # While the AXL web service is stopped its WSDL is unavailable, as its calls are.
    lab.lab.cluster.node("cucm-sub1").services["Cisco AXL Web Service"].status = "Stopped"
    assert (await get(lab, "cucm-sub1", f"{AXL_PATH}?wsdl")).status_code == 503
    assert (await get(lab, "cucm-pub", f"{AXL_PATH}?wsdl")).status_code == 200


@pytest.mark.parametrize(
    ("release", "expected"), [(14.0, "14.0"), (12.5, "12.5"), (15.0, "15.0"), (14.5, "14.0")]
)
def test_axl_wsdl_version_follows_the_release(release: float, expected: str) -> None:
    assert wsdl_version(release) == expected
