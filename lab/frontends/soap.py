"""Control Center Services SOAP of a twin node (cucm-interfaces.md §4).

Served on every node at ``/controlcenterservice2/services/ControlCenterServices``; the SOAP
plumbing it shares with RisPort70 and AXL is :mod:`lab.frontends.soapenv`.
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
from lab.frontends.base import LAB_KEY, NODE_KEY, Twin
from lab.frontends.soapenv import (
    AST_NS,
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
from lab.nodes import Action, Node, ServiceState

CONTROL_CENTER_PATH = "/controlcenterservice2/services/ControlCenterServices"

_ACTIONS: dict[str, Action] = {"start": "start", "stop": "stop", "restart": "restart"}

#: Control Center reason for each refusal code of :meth:`Cluster.control`.
_REFUSALS = {
    "not-activated": (-1068, "Service Not Activated"),
    "pending": (-1029, "Operation is pending"),
    "already-started": (-1039, "Component already started"),
    "already-stopped": (-1040, "Component already stopped"),
    "no-such-service": facts.CONTROL_CENTER_NO_SUCH_SERVICE_REASON,
}


# -- Control Center ---------------------------------------------------------------------


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
    item = ast_element(parent, "item")
    ast_element(item, "ServiceName", name)
    ast_element(item, "ServiceStatus", status)
    ast_element(item, "ReasonCode", reason[0])
    ast_element(item, "ReasonCodeString", reason[1])
    ast_element(item, "StartTime", start_time)
    ast_element(item, "UpTime", uptime)


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
    wrapper = etree.Element(ast_name(f"{operation}Response"), nsmap={"ns": AST_NS})
    ret = ast_element(wrapper, f"{operation}Return")
    ast_element(ret, "ReturnCode", return_code)
    ast_element(ret, "ReasonCode", reason[0])
    ast_element(ret, "ReasonString", reason[1])
    fill(ast_element(ret, "ServiceInfoList"))
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


def _do_control_services(lab: Twin, node: Node, request: etree._Element) -> etree._Element:
    operation = "soapDoControlServices"
    req = request.find(ast_name("ControlServiceRequest"))
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
    wrapper = etree.Element(ast_name("soapGetStaticServiceListResponse"), nsmap={"ns": AST_NS})
    ret = ast_element(wrapper, "soapGetStaticServiceListReturn")
    services = ast_element(ret, "Services")
    _service_defs(services, node.services.values(), with_product=None)
    return wrapper


def _service_defs(
    parent: etree._Element, services: Iterable[ServiceState], with_product: str | None
) -> None:
    for svc in services:
        item = ast_element(parent, "item")
        ast_element(item, "ServiceName", svc.name)
        ast_element(item, "ServiceType", svc.service_type)
        ast_element(item, "Deployable", "true" if svc.deployable else "false")
        ast_element(item, "GroupName", svc.group)
        if with_product is not None:
            ast_element(item, "ProductID", with_product)
        ast_element(item, "DependentServices")


def _product_information(lab: Twin, node: Node) -> etree._Element:
    name, product_id, short = facts.PRODUCT_INFO[node.product]
    wrapper = etree.Element(ast_name("getProductInformationListResponse"), nsmap={"ns": AST_NS})
    ret = ast_element(wrapper, "getProductInformationListReturn")
    ast_element(ret, "ActiveServerVersion", lab.spec.version)
    ast_element(ret, "PrimaryNode", lab.cluster.product_publisher(node.product).fqdn)
    ast_element(ret, "SecondaryNode", "")
    products = ast_element(ret, "Products")
    item = ast_element(products, "item")
    ast_element(item, "ProductName", name)
    ast_element(item, "ProductVersion", lab.spec.version)
    ast_element(item, "ProductDescription", name)
    ast_element(item, "ProductID", product_id)
    ast_element(item, "ShortName", short)
    _service_defs(ast_element(ret, "Services"), node.services.values(), with_product=product_id)
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
        if operation in facts.CONTROL_CENTER_THROTTLED_OPERATIONS:
            check_realtime_rate(lab, node, operation)
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


def add_routes(app: web.Application) -> None:
    """Register Control Center Services on a node's application."""
    app.router.add_post(CONTROL_CENTER_PATH, control_center)
    app.router.add_get(
        CONTROL_CENTER_PATH, wsdl_route("ControlCenterServices.wsdl", "ControlCenterServices")
    )
