"""AXL listCallManagerGroup and listDevicePool of the twin's publisher (cucm-interfaces.md §6.1).

Groups list their members in priority order (``callManagerName`` is the node's CallManager
entity, ``CM_<host>`` by default, and ``priority`` starts at 1); device pools name their group.
Search criteria take ``name`` with ``%`` wildcards as listProcessNode does.
"""

from __future__ import annotations

from lxml import etree

from lab import facts
from lab.cluster import Cluster
from lab.frontends import sql
from lab.frontends.axl_common import (
    braced_uuid,
    element,
    like,
    name_pattern,
    returned_tags,
)

_GROUP_TAGS = ("name", "tftpDefault", "members")
_POOL_TAGS = ("name", "callManagerGroupName")


def list_operation(cluster: Cluster, ns: str, req: etree._Element) -> etree._Element:
    """Answer listCallManagerGroup or listDevicePool."""
    operation = etree.QName(req).localname
    pattern = name_pattern(operation, req)
    resp = etree.Element(f"{{{ns}}}{operation}Response", nsmap={"ns": ns})
    ret = element(resp, "return")
    if operation == "listCallManagerGroup":
        tags = returned_tags(req, _GROUP_TAGS)
        for i, group in enumerate(cluster.spec.resolved_cm_groups()):
            if not like(pattern, group.name):
                continue
            el = element(ret, "callManagerGroup")
            el.set("uuid", braced_uuid(sql.cm_group_pkid(cluster, group.name)))
            if "name" in tags:
                element(el, "name", group.name)
            if "tftpDefault" in tags:
                element(el, "tftpDefault", "true" if i == 0 else "false")
            if "members" in tags:
                members = element(el, "members")
                for priority, host in enumerate(group.members):
                    member = element(members, "member")
                    member.set(
                        "uuid", braced_uuid(sql.cm_group_member_pkid(cluster, group.name, host))
                    )
                    name = element(
                        member, "callManagerName", facts.CALLMANAGER_NAME.format(hostname=host)
                    )
                    name.set("uuid", braced_uuid(sql.callmanager_pkid(cluster, host)))
                    element(member, "priority", str(priority + facts.AXL_CM_GROUP_PRIORITY_BASE))
        return resp
    tags = returned_tags(req, _POOL_TAGS)
    for pool in cluster.spec.resolved_device_pools():
        if not like(pattern, pool.name):
            continue
        el = element(ret, "devicePool")
        el.set("uuid", braced_uuid(sql.device_pool_pkid(cluster, pool.name)))
        if "name" in tags:
            element(el, "name", pool.name)
        if "callManagerGroupName" in tags:
            group_el = element(el, "callManagerGroupName", pool.cm_group)
            group_el.set("uuid", braced_uuid(sql.cm_group_pkid(cluster, pool.cm_group)))
    return resp
