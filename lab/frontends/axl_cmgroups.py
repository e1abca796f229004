"""AXL CM group and device pool operations of the twin (cucm-interfaces.md §6.1).

Shapes follow AXLSoap.xsd: listCallManagerGroup returns ``LCallManagerGroup`` (``name`` and
``tftpDefault`` only: members are not listable); getCallManagerGroup returns
``RCallManagerGroup``, whose ``members/member`` carry ``callManagerName`` (the node's
CallManager entity, ``CM_<host>`` by default) and ``priority``; listDevicePool returns
``LDevicePool``, of which the lab knows ``name`` and ``callManagerGroupName``.
"""

from __future__ import annotations

from lxml import etree

from lab import facts
from lab.cluster import Cluster
from lab.frontends import sql
from lab.frontends.axl_common import (
    axl_fault,
    braced_uuid,
    element,
    matches,
    page,
    returned_tags,
    search_criteria,
)
from lab.topology import CmGroupSpec

#: The tags of LCallManagerGroup, RCallManagerGroup and LDevicePool the lab can answer.
_LIST_GROUP_TAGS = ("name", "tftpDefault")
_GET_GROUP_TAGS = ("name", "tftpDefault", "members")
_POOL_TAGS = ("name", "callManagerGroupName")
#: What the "Item not valid" fault calls a CM group.
_GROUP_ITEM = "CallManager Group"


def _response(operation: str, ns: str) -> tuple[etree._Element, etree._Element]:
    resp = etree.Element(f"{{{ns}}}{operation}Response", nsmap={"ns": ns})
    return resp, element(resp, "return")


def _group(
    cluster: Cluster, parent: etree._Element, group: CmGroupSpec, tags: list[str]
) -> etree._Element:
    el = element(parent, "callManagerGroup")
    el.set("uuid", braced_uuid(sql.cm_group_pkid(cluster, group.name)))
    default = cluster.spec.resolved_cm_groups()[0].name
    if "name" in tags:
        element(el, "name", group.name)
    if "tftpDefault" in tags:
        element(el, "tftpDefault", "true" if group.name == default else "false")
    if "members" in tags:
        members = element(el, "members")
        for priority, host in enumerate(group.members):
            member = element(members, "member")
            member.set("uuid", braced_uuid(sql.cm_group_member_pkid(cluster, group.name, host)))
            name = element(member, "callManagerName", facts.CALLMANAGER_NAME.format(hostname=host))
            name.set("uuid", braced_uuid(sql.callmanager_pkid(cluster, host)))
            element(member, "priority", str(priority + facts.AXL_CM_GROUP_PRIORITY_BASE))
    return el


def list_call_manager_group(cluster: Cluster, ns: str, req: etree._Element) -> etree._Element:
    """Answer listCallManagerGroup (``searchCriteria/name``)."""
    criteria = search_criteria("listCallManagerGroup", req)
    tags = returned_tags(req, _LIST_GROUP_TAGS)
    resp, ret = _response("listCallManagerGroup", ns)
    found = [g for g in cluster.spec.resolved_cm_groups() if matches(criteria, {"name": g.name})]
    for group in page(req, found):
        _group(cluster, ret, group, tags)
    return resp


def get_call_manager_group(cluster: Cluster, ns: str, req: etree._Element) -> etree._Element:
    """Answer getCallManagerGroup (by ``name`` or ``uuid``).

    Raises:
        SoapFault: No such group (axlcode 5007, "Item not valid").
    """
    name, uuid = req.findtext("name"), req.findtext("uuid")
    for group in cluster.spec.resolved_cm_groups():
        pkid = braced_uuid(sql.cm_group_pkid(cluster, group.name))
        if group.name == name or (uuid is not None and pkid == uuid.upper()):
            resp, ret = _response("getCallManagerGroup", ns)
            _group(cluster, ret, group, returned_tags(req, _GET_GROUP_TAGS))
            return resp
    raise axl_fault(
        "getCallManagerGroup",
        facts.AXL_ITEM_NOT_FOUND_CODE,
        facts.AXL_ITEM_NOT_FOUND_MESSAGE.format(item=_GROUP_ITEM),
    )


def list_device_pool(cluster: Cluster, ns: str, req: etree._Element) -> etree._Element:
    """Answer listDevicePool (``name`` and ``callManagerGroupName`` criteria; the lab's pools
    have no region)."""
    criteria = search_criteria("listDevicePool", req)
    tags = returned_tags(req, _POOL_TAGS)
    resp, ret = _response("listDevicePool", ns)
    found = [
        p
        for p in cluster.spec.resolved_device_pools()
        if matches(criteria, {"name": p.name, "callManagerGroupName": p.cm_group})
    ]
    for pool in page(req, found):
        el = element(ret, "devicePool")
        el.set("uuid", braced_uuid(sql.device_pool_pkid(cluster, pool.name)))
        if "name" in tags:
            element(el, "name", pool.name)
        if "callManagerGroupName" in tags:
            group_el = element(el, "callManagerGroupName", pool.cm_group)
            group_el.set("uuid", braced_uuid(sql.cm_group_pkid(cluster, pool.cm_group)))
    return resp
