"""``?wsdl`` of Control Center and RisPort70: a valid WSDL the lab's own replies conform to.

The documents follow the structure of Cisco's published WSDLs (cucm-interfaces.md §4, §5,
S10). Each test reads the WSDL from a running node, compiles the XML schema inside it, and
validates what the node answers to every operation the WSDL lists.
"""

from __future__ import annotations

import httpx
import pytest
from lxml import etree

from lab import facts
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
    from lab.frontends.wsdl import document

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
