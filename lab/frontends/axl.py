"""AXL SOAP (``/axl/``) of the twin's CUCM publisher (cucm-interfaces.md §6).

SOAP 1.1 in ``http://www.cisco.com/AXL/API/<ver>`` with unqualified children; the schema
version comes from ``SOAPAction: "CUCM:DB ver=<ver> <operation>"``. Unsupported versions get
the HTTP 599 HTML page real CUCM sends. Operations: getCCMVersion, listProcessNode,
executeSQLQuery over :mod:`lab.frontends.sql`, listCallManagerGroup and listDevicePool
(:mod:`lab.frontends.axl_cmgroups`) and doDeviceReset (:mod:`lab.frontends.axl_devices`).
"""

from __future__ import annotations

import re
import uuid

from aiohttp import web
from lxml import etree

from lab import facts
from lab.cluster import Cluster
from lab.frontends import sql
from lab.frontends.soap import SoapFault, body_element, fault_response, injected_fault, xml_response
from lab.nodes import Node
from lab.server import LAB_KEY, NODE_KEY

AXL_NS_PREFIX = "http://www.cisco.com/AXL/API/"
AXL_PATH = "/axl/"

_SOAPACTION = re.compile(r'^"?CUCM:DB ver=(?P<ver>[0-9.]+)(?:\s+(?P<op>\w+))?"?$')


def _version_list() -> str:
    *head, last = facts.AXL_SUPPORTED_VERSIONS
    return f"{', '.join(head)} and {last}" if head else last


def _axl_fault(operation: str, code: int, message: str) -> SoapFault:
    detail = etree.Element("axlError")
    etree.SubElement(detail, "axlcode").text = str(code)
    etree.SubElement(detail, "axlmessage").text = message
    etree.SubElement(detail, "request").text = operation
    return SoapFault(facts.AXL_FAULT_CODE, message, detail)


def _sub(parent: etree._Element, name: str, text: str | None = None) -> etree._Element:
    el = etree.SubElement(parent, name)
    if text is not None:
        el.text = text
    return el


def _get_ccm_version(cluster: Cluster, ns: str) -> etree._Element:
    resp = etree.Element(f"{{{ns}}}getCCMVersionResponse", nsmap={"ns": ns})
    version = _sub(_sub(_sub(resp, "return"), "componentVersion"), "version")
    version.text = cluster.spec.version
    return resp


def _like(pattern: str, value: str) -> bool:
    regex = ".*".join(re.escape(part) for part in pattern.split("%"))
    flags = re.IGNORECASE if facts.AXL_SEARCH_CASE_INSENSITIVE else 0
    return re.fullmatch(regex, value, flags) is not None


def _list_process_node(cluster: Cluster, ns: str, req: etree._Element) -> etree._Element:
    criteria = req.find("searchCriteria")
    if criteria is None or len(criteria) == 0:
        raise _axl_fault(
            "listProcessNode",
            facts.AXL_REQUEST_ERROR_CODE,
            "searchCriteria must name at least one field",
        )
    unknown = [c.tag for c in criteria if c.tag != "name"]
    if unknown:
        raise _axl_fault(
            "listProcessNode",
            facts.AXL_REQUEST_ERROR_CODE,
            f"Unsupported search criteria: {unknown[0]}",
        )
    pattern = (criteria.findtext("name") or "").strip()
    tags_el = req.find("returnedTags")
    all_tags = ("name", "description", "nodeUsage", "processNodeRole")
    tags = [t.tag for t in tags_el if t.tag in all_tags] if tags_el is not None else []
    if not tags:
        tags = list(all_tags)
    ewd_name, ewd_description, ewd_usage, _role = facts.ENTERPRISE_WIDE_DATA
    entries = [
        (
            sql.enterprise_pkid(cluster),
            ewd_name,
            ewd_description,
            ewd_usage,
            facts.PROCESS_NODE_ROLE["cucm"],
        )
    ]
    for node in cluster.nodes:
        usage = node.role
        if node.product == "imp" and node.publisher:
            usage = facts.IMP_PUBLISHER_NODE_USAGE
        entries.append(
            (
                sql.node_pkid(cluster, node.hostname),
                sql.processnode_name(node, cluster.spec.server_names),
                facts.PROCESSNODE_DESCRIPTION[node.product].format(role=node.role),
                usage,
                facts.PROCESS_NODE_ROLE[node.product],
            )
        )
    resp = etree.Element(f"{{{ns}}}listProcessNodeResponse", nsmap={"ns": ns})
    ret = _sub(resp, "return")
    for pkid, name, description, usage, role in entries:
        if not _like(pattern, name):
            continue
        pn = _sub(ret, "processNode")
        pn.set("uuid", "{" + str(uuid.UUID(pkid)).upper() + "}")
        values = {
            "name": name,
            "description": description,
            "nodeUsage": usage,
            "processNodeRole": role,
        }
        for tag in tags:
            _sub(pn, tag, values[tag])
    return resp


def _execute_sql(cluster: Cluster, ns: str, req: etree._Element) -> etree._Element:
    query = (req.findtext("sql") or "").strip()
    try:
        rows = sql.execute(cluster, query)
    except sql.SqlError as exc:
        raise _axl_fault("executeSQLQuery", exc.code, exc.message) from None
    resp = etree.Element(f"{{{ns}}}executeSQLQueryResponse", nsmap={"ns": ns})
    ret = _sub(resp, "return")
    for row in rows:
        row_el = _sub(ret, "row")
        for column, value in row.items():
            _sub(row_el, column, value or None)
    return resp


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
        match qname.localname:
            case "getCCMVersion":
                payload = _get_ccm_version(lab.cluster, namespace)
            case "listProcessNode":
                payload = _list_process_node(lab.cluster, namespace, req)
            case "executeSQLQuery":
                payload = _execute_sql(lab.cluster, namespace, req)
            case "listCallManagerGroup" | "listDevicePool":
                from lab.frontends import axl_cmgroups

                payload = axl_cmgroups.list_operation(lab.cluster, namespace, req)
            case "doDeviceReset":
                from lab.frontends import axl_devices

                payload = axl_devices.do_device_reset(lab.phones, namespace, req)
                lab.lose_response(node, "device-reset")
            case other:
                raise _axl_fault(
                    other,
                    facts.AXL_REQUEST_ERROR_CODE,
                    f"Operation {other} is not supported by the lab",
                )
    except SoapFault as fault:
        return fault_response(fault)
    return xml_response(payload)


def add_routes(app: web.Application) -> None:
    """Register AXL on the publisher's application."""
    app.router.add_post(AXL_PATH, axl)
