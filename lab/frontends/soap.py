"""Control Center Services SOAP of a twin node, shared SOAP plumbing, and the AXL route.

Control Center (cucm-interfaces.md §4) is served on every node at
``/controlcenterservice2/services/ControlCenterServices``; AXL (§6) lives in
:mod:`lab.frontends.axl` and is registered here. Envelopes are built with lxml in the exact
namespaces real clients expect; requests are parsed without entity resolution or network access.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterable

from aiohttp import web
from lxml import etree

from lab import facts
from lab.catalog import TOMCAT
from lab.errors import LabError
from lab.nodes import Action, Node, ServiceState
from lab.server import LAB_KEY, NODE_KEY, Lab

SOAPENV_NS = "http://schemas.xmlsoap.org/soap/envelope/"
AST_NS = "http://schemas.cisco.com/ast/soap"
XSD_NS = "http://www.w3.org/2001/XMLSchema"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
CONTROL_CENTER_PATH = "/controlcenterservice2/services/ControlCenterServices"

THROTTLE_MESSAGE = (
    "AxisFault: Exceeded allowed rate for Reatime information. Current allowed rate for "
    "realtime information is {rate} requests per minute."
)

_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, remove_blank_text=True)

_ACTIONS: dict[str, Action] = {"start": "start", "stop": "stop", "restart": "restart"}

#: Control Center reason for each refusal code of :meth:`Cluster.control`.
_REFUSALS = {
    "not-activated": (-1068, "Service Not Activated"),
    "pending": (-1029, "Operation is pending"),
    "already-started": (-1039, "Component already started"),
    "already-stopped": (-1040, "Component already stopped"),
    "no-such-service": facts.CONTROL_CENTER_NO_SUCH_SERVICE_REASON,
}


class SoapFault(Exception):
    """A fault to answer with HTTP 500."""

    def __init__(self, faultcode: str, faultstring: str, detail: etree._Element | None = None):
        super().__init__(faultstring)
        self.faultcode = faultcode
        self.faultstring = faultstring
        self.detail = detail


# -- envelopes --------------------------------------------------------------------------


def envelope(payload: etree._Element) -> bytes:
    """Wrap one body element in a SOAP 1.1 envelope."""
    env = etree.Element(
        f"{{{SOAPENV_NS}}}Envelope",
        nsmap={"soapenv": SOAPENV_NS, "xsd": XSD_NS, "xsi": XSI_NS},
    )
    etree.SubElement(env, f"{{{SOAPENV_NS}}}Body").append(payload)
    return bytes(etree.tostring(env, xml_declaration=True, encoding="UTF-8"))


def xml_response(payload: etree._Element, status: int = 200) -> web.Response:
    """An HTTP response carrying one body element."""
    return web.Response(
        body=envelope(payload), status=status, content_type="text/xml", charset="utf-8"
    )


def fault_response(fault: SoapFault) -> web.Response:
    """HTTP 500 with a SOAP 1.1 fault."""
    el = etree.Element(f"{{{SOAPENV_NS}}}Fault", nsmap={"soapenv": SOAPENV_NS})
    etree.SubElement(el, "faultcode").text = fault.faultcode
    etree.SubElement(el, "faultstring").text = fault.faultstring
    if fault.detail is not None:
        etree.SubElement(el, "detail").append(fault.detail)
    return xml_response(el, status=500)


def body_element(raw: bytes) -> etree._Element:
    """The first element of the SOAP Body; SoapFault(Client) when there is none."""
    try:
        root = etree.fromstring(raw, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise SoapFault("soapenv:Client", f"Unable to parse the request: {exc}") from None
    body = root.find(f"{{{SOAPENV_NS}}}Body")
    if root.tag != f"{{{SOAPENV_NS}}}Envelope" or body is None or len(body) == 0:
        raise SoapFault("soapenv:Client", "The request is not a SOAP 1.1 envelope with a Body")
    return body[0]


def injected_fault(lab: Lab, node: Node, interface: str) -> SoapFault | None:
    """The generic fault of a ``soap-fault`` fault that fires now, if any."""
    if lab.faults.take("soap-fault", node.hostname, interface) is None:
        return None
    lab.journal.record("fault.fired", node.hostname, kind="soap-fault", interface=interface)
    return SoapFault(facts.SOAP_FAULT_CODE, facts.SOAP_FAULT_STRING)


# -- Control Center ---------------------------------------------------------------------


def _q(name: str) -> str:
    return f"{{{AST_NS}}}{name}"


def _sub(parent: etree._Element, name: str, text: object = None) -> etree._Element:
    el = etree.SubElement(parent, _q(name))
    if text is not None:
        el.text = str(text)
    return el


def _texts(parent: etree._Element | None, path: str) -> list[str]:
    if parent is None:
        return []
    return [(el.text or "").strip() for el in parent.iterfind(path, {"s": AST_NS})]


def _start_time(svc: ServiceState) -> str:
    if svc.status != "Started" or svc.start_time is None:
        return ""
    return dt.datetime.fromtimestamp(svc.start_time, dt.UTC).strftime(
        facts.CONTROL_CENTER_START_TIME_FORMAT
    )


def _item(
    parent: etree._Element,
    name: str,
    status: str,
    reason: tuple[int, str] = (-1, ""),
    start_time: str = "",
    uptime: int = -1,
) -> None:
    item = _sub(parent, "item")
    _sub(item, "ServiceName", name)
    _sub(item, "ServiceStatus", status)
    _sub(item, "ReasonCode", reason[0])
    _sub(item, "ReasonCodeString", reason[1])
    _sub(item, "StartTime", start_time)
    _sub(item, "UpTime", uptime)


def _state_item(
    parent: etree._Element, svc: ServiceState, now: float, reason: tuple[int, str] | None = None
) -> None:
    if reason is None:
        if not svc.activated:
            reason = _REFUSALS["not-activated"]
        elif svc.failed:
            reason = facts.CONTROL_CENTER_FAILED_REASON
        elif svc.status == "Stopped" and svc.commanded_out:
            reason = (-1069, "Commanded Out of Service")
        else:
            reason = (-1, "")
    _item(parent, svc.name, svc.status, reason, _start_time(svc), svc.uptime(now))


def _information_response(
    operation: str,
    fill: Callable[[etree._Element], None],
    return_code: str = facts.CONTROL_CENTER_RETURN_OK,
    reason: tuple[int, str] = (-1, ""),
) -> etree._Element:
    wrapper = etree.Element(_q(f"{operation}Response"), nsmap={"ns": AST_NS})
    ret = _sub(wrapper, f"{operation}Return")
    _sub(ret, "ReturnCode", return_code)
    _sub(ret, "ReasonCode", reason[0])
    _sub(ret, "ReasonString", reason[1])
    fill(_sub(ret, "ServiceInfoList"))
    return wrapper


def _get_service_status(node: Node, request: etree._Element) -> etree._Element:
    wanted = [n for n in _texts(request, "s:ServiceStatus") if n]
    now = time.time()

    def fill(lst: etree._Element) -> None:
        if not wanted:
            for svc in node.services.values():
                _state_item(lst, svc, now)
            return
        for name in wanted:
            found = node.services.get(name)
            if found is None:
                _item(lst, name, "Unknown", facts.CONTROL_CENTER_NO_SUCH_SERVICE_REASON)
            else:
                _state_item(lst, found, now)

    return _information_response("soapGetServiceStatus", fill)


def _transitional(svc: ServiceState, action: Action) -> str:
    # The transition task has not run yet when control() returns: report where it goes first.
    if action != "start" and (svc.status != "Stopped" or svc.failed):
        return "Stopping"
    return "Starting"


def _do_control_services(lab: Lab, node: Node, request: etree._Element) -> etree._Element:
    operation = "soapDoControlServices"
    req = request.find(_q("ControlServiceRequest"))
    node_name = "".join(_texts(req, "s:NodeName"))
    control_type = "".join(_texts(req, "s:ControlType"))
    names = [n for n in _texts(req, "s:ServiceList/s:item") if n]
    action = _ACTIONS.get(control_type.lower())
    if action is None or not names:
        raise SoapFault("soapenv:Client", f"Bad arguments: ControlType {control_type!r}")
    if node_name and node_name not in (node.hostname, node.fqdn, node.address):
        return _information_response(
            operation,
            lambda _lst: None,
            facts.CONTROL_CENTER_RETURN_REFUSED,
            (
                facts.CONTROL_CENTER_OTHER_NODE_REASON,
                facts.CONTROL_CENTER_OTHER_NODE_MESSAGE.format(name=node_name),
            ),
        )
    now = time.time()
    outcomes: list[tuple[str, ServiceState | None, tuple[int, str] | None, str]] = []
    for name in names:
        svc = node.services.get(name)
        if svc is None:
            outcomes.append((name, None, facts.CONTROL_CENTER_NO_SUCH_SERVICE_REASON, "Unknown"))
            continue
        if name == TOMCAT:
            reason = (facts.CONTROL_CENTER_TOMCAT_REASON, "Operation not supported")
            outcomes.append((name, svc, reason, svc.status))
            continue
        try:
            lab.cluster.control(node, name, action, origin="controlcenter")
        except LabError as exc:
            outcomes.append((name, svc, _REFUSALS.get(exc.code, (-1007, exc.message)), ""))
            continue
        outcomes.append((name, svc, None, _transitional(svc, action)))

    def fill(lst: etree._Element) -> None:
        for name, svc, reason, status in outcomes:
            if svc is None:
                _item(lst, name, status, reason or (-1, ""))
            elif reason is None:
                _item(lst, name, status)
            else:
                _state_item(lst, svc, now, reason)

    reply = _information_response(operation, fill)
    # A lost response means the change was applied and only the answer vanished.
    lab.lose_response(node, "service-control")
    return reply


def _static_service_list(node: Node) -> etree._Element:
    wrapper = etree.Element(_q("soapGetStaticServiceListResponse"), nsmap={"ns": AST_NS})
    ret = _sub(wrapper, "soapGetStaticServiceListReturn")
    services = _sub(ret, "Services")
    _service_defs(services, node.services.values(), with_product=None)
    return wrapper


def _service_defs(
    parent: etree._Element, services: Iterable[ServiceState], with_product: str | None
) -> None:
    for svc in services:
        item = _sub(parent, "item")
        _sub(item, "ServiceName", svc.name)
        _sub(item, "ServiceType", svc.service_type)
        _sub(item, "Deployable", "true" if svc.deployable else "false")
        _sub(item, "GroupName", svc.group)
        if with_product is not None:
            _sub(item, "ProductID", with_product)
        _sub(item, "DependentServices")


def _product_information(lab: Lab, node: Node) -> etree._Element:
    name, product_id, short = facts.PRODUCT_INFO[node.product]
    wrapper = etree.Element(_q("getProductInformationListResponse"), nsmap={"ns": AST_NS})
    ret = _sub(wrapper, "getProductInformationListReturn")
    _sub(ret, "ActiveServerVersion", lab.spec.version)
    _sub(ret, "PrimaryNode", lab.cluster.product_publisher(node.product).fqdn)
    _sub(ret, "SecondaryNode", "")
    products = _sub(ret, "Products")
    item = _sub(products, "item")
    _sub(item, "ProductName", name)
    _sub(item, "ProductVersion", lab.spec.version)
    _sub(item, "ProductDescription", name)
    _sub(item, "ProductID", product_id)
    _sub(item, "ShortName", short)
    _service_defs(_sub(ret, "Services"), node.services.values(), with_product=product_id)
    return wrapper


async def control_center(request: web.Request) -> web.StreamResponse:
    """POST handler of Control Center Services."""
    lab = request.app[LAB_KEY]
    node = request.app[NODE_KEY]
    lab.check_auth(request, "app_user", facts.CONTROL_CENTER_REALM)
    try:
        req = body_element(await request.read())
        if etree.QName(req).namespace != AST_NS:
            raise SoapFault("soapenv:Client", f"No such operation {req.tag!r}")
        operation = etree.QName(req).localname
        fault = injected_fault(lab, node, "soap")
        if fault is not None:
            raise fault
        if operation in facts.CONTROL_CENTER_THROTTLED_OPERATIONS and lab.realtime_throttled(node):
            rate = lab.timing.realtime_rate_per_minute
            lab.journal.record("fault.fired", node.hostname, kind="throttle", operation=operation)
            raise SoapFault(facts.THROTTLE_FAULTCODE, THROTTLE_MESSAGE.format(rate=rate))
        match operation:
            case "soapGetServiceStatus":
                payload = _get_service_status(node, req)
            case "soapDoControlServices":
                payload = _do_control_services(lab, node, req)
            case "soapGetStaticServiceList":
                payload = _static_service_list(node)
            case "getProductInformationList":
                payload = _product_information(lab, node)
            case _:
                raise SoapFault("soapenv:Client", f"No such operation '{operation}'")
    except SoapFault as fault:
        return fault_response(fault)
    return xml_response(payload)


async def control_center_wsdl(request: web.Request) -> web.StreamResponse:
    """GET: the lab serves no WSDL (clients build envelopes themselves)."""
    return web.Response(status=404, text="The lab does not serve the ControlCenterServices WSDL.\n")


def add_routes(app: web.Application) -> None:
    """Register the SOAP routes on a node's application (AXL on the CUCM publisher only)."""
    from lab.frontends import axl

    app.router.add_post(CONTROL_CENTER_PATH, control_center)
    app.router.add_get(CONTROL_CENTER_PATH, control_center_wsdl)
    node = app[NODE_KEY]
    if node.product == "cucm" and node.publisher:
        axl.add_routes(app)
