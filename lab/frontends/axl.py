"""AXL SOAP (``/axl/``) of the twin's CUCM nodes (cucm-interfaces.md §6).

SOAP 1.1 in ``http://www.cisco.com/AXL/API/<ver>`` with unqualified children; the schema
version comes from ``SOAPAction: "CUCM:DB ver=<ver> <operation>"``. Unsupported versions get
the HTTP 599 HTML page real CUCM sends. Every request is first checked against its operation's
type in AXLSoap.xsd (:mod:`lab.frontends.axl_schema`) and refused as AXL refuses it when it
does not validate. Operations: getCCMVersion, listProcessNode, executeSQLQuery over
:mod:`lab.frontends.sql`, listCallManagerGroup, getCallManagerGroup and listDevicePool
(:mod:`lab.frontends.axl_cmgroups`) and doDeviceReset (:mod:`lab.frontends.axl_devices`).
A GET of ``/axl/?wsdl`` answers with lab/wsdl/AXLAPI.wsdl, which names exactly these.

AXL answers on the publisher and, from 11.0, on every CUCM node: the AXL developer guide for
11.0 says "AXL service is now enabled by default on all nodes (Publisher and Subscribers.)".
"""

from __future__ import annotations

import re
from collections.abc import Callable

from aiohttp import web
from lxml import etree

from lab import facts
from lab.cluster import Cluster
from lab.frontends import axl_cmgroups, axl_devices, axl_schema, sql
from lab.frontends.axl_common import (
    axl_fault,
    braced_uuid,
    element,
    matches,
    page,
    returned_tags,
    search_criteria,
)
from lab.frontends.base import LAB_KEY, NODE_KEY, Twin
from lab.frontends.soapenv import (
    SoapFault,
    body_element,
    fault_response,
    injected_fault,
    xml_response,
)
from lab.frontends.wsdl import wsdl_route
from lab.nodes import Node

AXL_NS_PREFIX = "http://www.cisco.com/AXL/API/"
AXL_PATH = "/axl/"
#: From this release AXL answers on every CUCM node, not only the publisher.
AXL_ON_EVERY_NODE_SINCE = 11.0
#: The service address in Cisco's AXLAPI.wsdl; the served copy names the node asked.
WSDL_PUBLISHED_HOST = "https://CCMSERVERNAME:8443"
#: The tags of LProcessNode the lab can answer, in the schema's order.
_PROCESS_NODE_TAGS = ("name", "description", "nodeUsage", "processNodeRole")

_SOAPACTION = re.compile(r'^"?CUCM:DB ver=(?P<ver>[0-9.]+)(?:\s+(?P<op>\w+))?"?$')


def _version_list() -> str:
    *head, last = facts.AXL_SUPPORTED_VERSIONS
    return f"{', '.join(head)} and {last}" if head else last


def _get_ccm_version(cluster: Cluster, ns: str) -> etree._Element:
    resp = etree.Element(f"{{{ns}}}getCCMVersionResponse", nsmap={"ns": ns})
    version = element(element(element(resp, "return"), "componentVersion"), "version")
    version.text = cluster.spec.version
    return resp


def _list_process_node(cluster: Cluster, ns: str, req: etree._Element) -> etree._Element:
    criteria = search_criteria("listProcessNode", req)
    tags = returned_tags(req, _PROCESS_NODE_TAGS)
    ewd_name, ewd_description, ewd_usage, _role = facts.ENTERPRISE_WIDE_DATA
    entries = [
        (
            sql.enterprise_pkid(cluster),
            {
                "name": ewd_name,
                "description": ewd_description,
                "nodeUsage": ewd_usage,
                "processNodeRole": facts.PROCESS_NODE_ROLE["cucm"],
            },
        )
    ]
    for node in cluster.nodes:
        usage = node.role
        if node.product == "imp" and node.publisher:
            usage = facts.IMP_PUBLISHER_NODE_USAGE
        values = {
            "name": sql.processnode_name(node, cluster.spec.server_names),
            "description": facts.PROCESSNODE_DESCRIPTION[node.product].format(role=node.role),
            "nodeUsage": usage,
            "processNodeRole": facts.PROCESS_NODE_ROLE[node.product],
        }
        entries.append((sql.node_pkid(cluster, node.hostname), values))
    resp = etree.Element(f"{{{ns}}}listProcessNodeResponse", nsmap={"ns": ns})
    ret = element(resp, "return")
    for pkid, values in page(req, [e for e in entries if matches(criteria, e[1])]):
        pn = element(ret, "processNode")
        pn.set("uuid", braced_uuid(pkid))
        for tag in tags:
            element(pn, tag, values[tag])
    return resp


def _execute_sql(cluster: Cluster, ns: str, req: etree._Element) -> etree._Element:
    query = (req.findtext("sql") or "").strip()
    try:
        rows = sql.execute(cluster, query)
    except sql.SqlError as exc:
        raise axl_fault("executeSQLQuery", exc.code, exc.message) from None
    resp = etree.Element(f"{{{ns}}}executeSQLQueryResponse", nsmap={"ns": ns})
    ret = element(resp, "return")
    for row in rows:
        row_el = element(ret, "row")
        for column, value in row.items():
            element(row_el, column, value or None)
    return resp


def _do_device_reset(lab: Twin, node: Node, ns: str, req: etree._Element) -> etree._Element:
    payload = axl_devices.do_device_reset(lab.phones, ns, req)
    lab.lose_response(node, "device-reset")
    return payload


#: What runs each operation the lab serves (the twin, the node asked, namespace, request);
#: lab/wsdl/AXLAPI.wsdl names exactly these.
OPERATIONS: dict[str, Callable[[Twin, Node, str, etree._Element], etree._Element]] = {
    "getCCMVersion": lambda lab, _node, ns, _req: _get_ccm_version(lab.cluster, ns),
    "listProcessNode": lambda lab, _node, ns, req: _list_process_node(lab.cluster, ns, req),
    "executeSQLQuery": lambda lab, _node, ns, req: _execute_sql(lab.cluster, ns, req),
    "listCallManagerGroup": lambda lab, _node, ns, req: axl_cmgroups.list_call_manager_group(
        lab.cluster, ns, req
    ),
    "getCallManagerGroup": lambda lab, _node, ns, req: axl_cmgroups.get_call_manager_group(
        lab.cluster, ns, req
    ),
    "listDevicePool": lambda lab, _node, ns, req: axl_cmgroups.list_device_pool(
        lab.cluster, ns, req
    ),
    "doDeviceReset": _do_device_reset,
}


def _not_ready(node: Node) -> str | None:
    for name in facts.AXL_REQUIRED_SERVICES:
        if name in node.services and not node.started(name):
            return name
    return None


async def axl(request: web.Request) -> web.StreamResponse:
    """POST handler of AXL."""
    lab = request.app[LAB_KEY]
    node = request.app[NODE_KEY]
    lab.check_auth(request, "app_user", facts.AXL_REALM)
    down = _not_ready(node)
    if down is not None:
        return web.Response(status=503, text=f"503 Service Unavailable: {down} is not running")
    try:
        req = body_element(await request.read())
        qname = etree.QName(req)
        namespace = qname.namespace or ""
        if not namespace.startswith(AXL_NS_PREFIX):
            raise SoapFault("soapenv:Client", f"Unknown namespace {namespace!r}")
        version = namespace.removeprefix(AXL_NS_PREFIX)
        m = _SOAPACTION.match(request.headers.get("SOAPAction", "").strip())
        if m and facts.AXL_VERSION_FROM_SOAPACTION:
            version = m.group("ver")
        if version not in facts.AXL_SUPPORTED_VERSIONS:
            return web.Response(
                status=599,
                text=facts.AXL_VERSION_ERROR.format(versions=_version_list()),
                content_type="text/html",
            )
        fault = injected_fault(lab, node, "axl")
        if fault is not None:
            raise fault
        axl_schema.validate(req)
        operation = OPERATIONS.get(qname.localname)
        if operation is None:
            raise axl_fault(
                qname.localname,
                facts.AXL_REQUEST_ERROR_CODE,
                f"Operation {qname.localname} is not supported by the lab",
            )
        payload = operation(lab, node, namespace, req)
    except SoapFault as fault:
        return fault_response(fault)
    return xml_response(payload)


def serves_axl(node: Node, version: float) -> bool:
    """Whether AXL answers on ``node`` of a cluster of release ``version`` (major.minor)."""
    return node.product == "cucm" and (node.publisher or version >= AXL_ON_EVERY_NODE_SINCE)


def wsdl_version(release: float) -> str:
    """The AXL schema version ``/axl/?wsdl`` names on a node of ``release`` (major.minor).

    The release's own version when AXL supports it, else the newest supported one below it
    (the oldest supported for an older release).
    """
    supported = [v for v in facts.AXL_SUPPORTED_VERSIONS if float(v) <= release]
    return supported[-1] if supported else facts.AXL_SUPPORTED_VERSIONS[0]


async def _wsdl_page(request: web.Request) -> web.StreamResponse:
    # As for the calls: the credentials first, then whether AXL runs.
    if facts.WSDL_REQUIRES_AUTH:
        request.app[LAB_KEY].check_auth(request, "app_user", facts.AXL_REALM)
    down = _not_ready(request.app[NODE_KEY])
    if down is not None:
        return web.Response(status=503, text=f"503 Service Unavailable: {down} is not running")
    return await _wsdl(request)


_wsdl = wsdl_route(
    "AXLAPI.wsdl",
    "AXLAPIService",
    realm=facts.AXL_REALM,
    page=facts.AXL_SERVICE_PAGE,
    published_host=WSDL_PUBLISHED_HOST,
    version=lambda request: wsdl_version(request.app[LAB_KEY].cluster.spec.major_version),
)


def add_routes(app: web.Application) -> None:
    """Register AXL on a node's application: POST for the calls, GET for ``?wsdl``."""
    app.router.add_post(AXL_PATH, axl)
    if facts.AXL_SERVES_WSDL:
        app.router.add_get(AXL_PATH, _wsdl_page)
