"""RisPort70 (``/realtimeservice2/services/RISService70``) of a twin CUCM node (§5).

selectCmDevice and selectCmDeviceExt over the phones of :mod:`lab.phones`: one CmNodes item
per CUCM node, devices filtered by status, protocol, node and name (``*`` wildcard), paged in
device-name order with StateInfo, and the realtime throttle fault shared with Control Center.
selectCmDevice lists a device under every node that still holds a record of it (UnRegistered on
the old node, Registered on the new during failover); selectCmDeviceExt only its latest record.
"""

from __future__ import annotations

import fnmatch
import re
from collections import defaultdict
from xml.sax.saxutils import quoteattr

from aiohttp import web
from lxml import etree

from lab import facts
from lab.frontends import sql
from lab.frontends.base import LAB_KEY, NODE_KEY, Twin
from lab.frontends.soapenv import (
    AST_NS,
    XSI_NS,
    SoapFault,
    ast_element,
    ast_name,
    body_element,
    check_realtime_rate,
    fault_response,
    injected_fault,
    xml_response,
)
from lab.frontends.wsdl import wsdl_route
from lab.nodes import Node
from lab.phone_model import REGISTERED, Phone

RIS_PATH = "/realtimeservice2/services/RISService70"
OPERATIONS = ("selectCmDevice", "selectCmDeviceExt")
STATUSES = ("Any", "Registered", "UnRegistered", "Rejected", "PartiallyRegistered", "Unknown")
PROTOCOLS = ("Any", "SCCP", "SIP", "Unknown")
SELECT_BY = ("Name", "DirNumber", "IPV4Address", "Description")

_CURSOR = re.compile(r'After="([^"]*)"')
#: H323Trunk of a phone: every field present and nil, as the schema requires them.
_H323_TRUNK_FIELDS = (
    "ConfigName",
    "TechPrefix",
    "Zone",
    "RemoteCmServer1",
    "RemoteCmServer2",
    "RemoteCmServer3",
    "AltGkList",
    "ActiveGk",
    "CallSignalAddr",
    "RasAddr",
)

Record = tuple[Phone, str, str, float, int]


def _text(parent: etree._Element | None, name: str, default: str = "") -> str:
    if parent is None:
        return default
    return (parent.findtext(ast_name(name)) or "").strip() or default


class Criteria:
    """CmSelectionCriteria of a request."""

    def __init__(self, req: etree._Element) -> None:
        crit = req.find(ast_name("CmSelectionCriteria"))
        try:
            self.max_returned = int(_text(crit, "MaxReturnedDevices", "1000"))
        except ValueError:
            raise SoapFault("soapenv:Client", "MaxReturnedDevices must be a number") from None
        self.max_returned = max(1, min(self.max_returned, facts.RIS_MAX_RETURNED_DEVICES))
        self.device_class = _text(crit, "DeviceClass", "Any")
        self.model = _text(crit, "Model", "255")
        self.status = _text(crit, "Status", "Any")
        self.node_name = _text(crit, "NodeName")
        self.select_by = _text(crit, "SelectBy", "Name")
        self.protocol = _text(crit, "Protocol", "Any")
        items = crit.find(ast_name("SelectItems")) if crit is not None else None
        self.items = [
            (el.text or "").strip()
            for el in (
                items.iterfind(f"{ast_name('item')}/{ast_name('Item')}")
                if items is not None
                else []
            )
            if (el.text or "").strip()
        ]
        if self.status not in STATUSES:
            raise SoapFault("soapenv:Client", f"Invalid Status {self.status!r}")
        if self.protocol not in PROTOCOLS:
            raise SoapFault("soapenv:Client", f"Invalid Protocol {self.protocol!r}")
        if self.select_by not in SELECT_BY:
            raise SoapFault("soapenv:Client", f"Unsupported SelectBy {self.select_by!r}")

    def device_matches(self, phone: Phone) -> bool:
        """Whether the device passes the class, model, protocol and item filters."""
        if self.device_class not in ("Any", "Phone"):
            return False
        if self.model not in ("", "255") and self.model != str(
            facts.PHONE_MODELS[phone.protocol][1]
        ):
            return False
        if self.protocol not in ("Any", phone.protocol):
            return False
        if not self.items:
            return True
        value = {
            "Name": phone.name,
            "DirNumber": phone.dn,
            "IPV4Address": phone.ip,
            "Description": _description(phone),
        }[self.select_by]
        return any(fnmatch.fnmatchcase(value.upper(), item.upper()) for item in self.items)

    def record_matches(self, node: Node, status: str) -> bool:
        """Whether a record passes the node and status filters."""
        if self.node_name and self.node_name not in (
            node.hostname,
            node.fqdn,
            node.address,
        ):
            return False
        return self.status in ("Any", status)


def _description(phone: Phone) -> str:
    return f"{phone.protocol} phone {phone.dn} ({phone.pool})"


def _records(lab: Twin, crit: Criteria, ext: bool) -> dict[str, list[Record]]:
    by_phone: dict[str, list[Record]] = defaultdict(list)
    for record in lab.phones.ris_records():
        by_phone[record[0].name].append(record)
    selected: dict[str, list[Record]] = {}
    for name, records in by_phone.items():
        phone = records[0][0]
        if not crit.device_matches(phone):
            continue
        if ext and facts.RIS_EXT_LATEST_ONLY:
            records = [max(records, key=lambda r: (r[3], r[2] == REGISTERED))]
        kept = [r for r in records if crit.record_matches(lab.cluster.node(r[1]), r[2])]
        if kept:
            selected[name] = kept
    return selected


def _state_info(lab: Twin, node: Node, after: str, found: int, returned: int) -> str:
    collector = node.services.get("Cisco RIS Data Collector")
    start = int(collector.start_time or 0) if collector else 0
    return (
        f'<StateInfo><Node Name={quoteattr(node.hostname)} SubsystemStartTime="{start}" '
        f'StateId="{lab.journal.last_seq}" TotalItemsFound="{found}" '
        f'TotalItemsReturned="{returned}"/><Cursor After={quoteattr(after)}/></StateInfo>'
    )


def _device(parent: etree._Element, record: Record) -> None:
    phone, _node, status, stamp, reason = record
    _, model, product = facts.PHONE_MODELS[phone.protocol]
    item = ast_element(parent, "item")
    ast_element(item, "Name", phone.name)
    ast_element(item, "DirNumber", f"{phone.dn}-{status}")
    ast_element(item, "DeviceClass", "Phone")
    ast_element(item, "Model", model)
    ast_element(item, "Product", product)
    ast_element(item, "BoxProduct", 0)
    ast_element(item, "Httpd", "Yes")
    ast_element(item, "RegistrationAttempts", phone.attempts)
    ast_element(item, "IsCtiControllable", "true")
    ast_element(item, "LoginUserId", "")
    ast_element(item, "Status", status)
    ast_element(item, "StatusReason", reason)
    ast_element(item, "PerfMonObject", 2)
    ast_element(item, "DChannel", 0)
    ast_element(item, "Description", _description(phone))
    trunk = ast_element(item, "H323Trunk")
    for name in _H323_TRUNK_FIELDS:
        ast_element(trunk, name).set(f"{{{XSI_NS}}}nil", "true")
    ast_element(item, "TimeStamp", int(stamp))
    ast_element(item, "Protocol", phone.protocol)
    ast_element(item, "NumOfLines", 1)
    lines = ast_element(ast_element(item, "LinesStatus"), "item")
    ast_element(lines, "DirectoryNumber", phone.dn)
    ast_element(lines, "Status", "Registered" if status == REGISTERED else "UnRegistered")
    ast_element(item, "ActiveLoadID", facts.RIS_ACTIVE_LOAD[phone.protocol])
    ast_element(item, "InactiveLoadID", "")
    ast_element(item, "DownloadStatus", "Unknown")
    ast_element(item, "DownloadFailureReason", "")
    ast_element(item, "DownloadServer", "")
    address = ast_element(ast_element(item, "IPAddress"), "item")
    ast_element(address, "IP", phone.ip)
    ast_element(address, "IPAddrType", "ipv4")
    ast_element(address, "Attribute", "Unknown")


def select_cm_device(lab: Twin, node: Node, req: etree._Element, ext: bool) -> etree._Element:
    """Answer selectCmDevice / selectCmDeviceExt."""
    crit = Criteria(req)
    cursor_match = _CURSOR.search(_text(req, "StateInfo"))
    after = cursor_match.group(1) if cursor_match else ""
    selected = _records(lab, crit, ext)
    names = sorted(selected)
    remaining = [n for n in names if n > after]
    page = remaining[: crit.max_returned]
    cucm = [n for n in lab.cluster.nodes if n.product == "cucm"]
    # Both operations answer with selectCmDeviceResponse (Cisco's WSDL, lab/wsdl/).
    wrapper = etree.Element(ast_name("selectCmDeviceResponse"), nsmap={"ns1": AST_NS})
    ret = ast_element(wrapper, facts.RIS_RETURN_ELEMENT)
    result = ast_element(ret, "SelectCmDeviceResult")
    ast_element(result, "TotalDevicesFound", len(names))
    cm_nodes = ast_element(result, "CmNodes")
    per_node: dict[str, list[Record]] = defaultdict(list)
    for name in page:
        for record in selected[name]:
            per_node[record[1]].append(record)
    targets = [t for t in cucm if not crit.node_name or crit.record_matches(t, "Any")]
    if not targets:
        item = ast_element(cm_nodes, "item")
        ast_element(item, "ReturnCode", "InvalidNodeName")
        ast_element(item, "Name", crit.node_name)
        ast_element(item, "NoChange", "false")
        ast_element(item, "CmDevices")
    for target in targets:
        item = ast_element(cm_nodes, "item")
        reachable = lab.cluster.reachable(target)
        records = per_node.get(target.hostname, []) if reachable else []
        if not reachable:
            code = facts.RIS_RETURN_NOT_RESPONDING
        else:
            code = "Ok" if records else facts.RIS_RETURN_NOT_FOUND
        ast_element(item, "ReturnCode", code)
        ast_element(item, "Name", sql.processnode_name(target, lab.cluster.spec.server_names))
        ast_element(item, "NoChange", "false")
        devices = ast_element(item, "CmDevices")
        for record in records:
            _device(devices, record)
    last = page[-1] if page else after
    ast_element(ret, "StateInfo", _state_info(lab, node, last, len(names), len(page)))
    return wrapper


async def risport(request: web.Request) -> web.StreamResponse:
    """POST handler of RISService70."""
    lab = request.app[LAB_KEY]
    node = request.app[NODE_KEY]
    lab.check_auth(request, "app_user", facts.CONTROL_CENTER_REALM)
    try:
        req = body_element(await request.read())
        qname = etree.QName(req)
        if qname.namespace != AST_NS or qname.localname not in OPERATIONS:
            raise SoapFault("soapenv:Client", f"No such operation '{qname.localname}'")
        fault = injected_fault(lab, node, "soap")
        if fault is not None:
            raise fault
        if qname.localname in facts.RIS_THROTTLED_OPERATIONS:
            check_realtime_rate(lab, node, qname.localname)
        payload = select_cm_device(lab, node, req, ext=qname.localname == "selectCmDeviceExt")
    except SoapFault as fault:
        return fault_response(fault)
    return xml_response(payload)


def add_routes(app: web.Application) -> None:
    """Register RisPort70 on a CUCM node's application."""
    app.router.add_post(RIS_PATH, risport)
    app.router.add_get(RIS_PATH, wsdl_route("RISService70.wsdl", "RISService70"))
