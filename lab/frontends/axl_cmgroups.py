"""AXL listCallManagerGroup and listDevicePool of the twin's publisher (cucm-interfaces.md §6.1).

Groups list their members in priority order (``callManagerName`` is the node's CallManager
entity, ``CM_<host>`` by default, and ``priority`` starts at 1); device pools name their group.
Search criteria take ``name`` with ``%`` wildcards as listProcessNode does.
"""

from __future__ import annotations

import uuid

from lxml import etree

from lab import facts
from lab.cluster import Cluster
from lab.frontends import sql
from lab.frontends.axl import _axl_fault, _like, _sub

_GROUP_TAGS = ("name", "tftpDefault", "members")
_POOL_TAGS = ("name", "callManagerGroupName")


def _uuid(pkid: str) -> str:
    return "{" + str(uuid.UUID(pkid)).upper() + "}"


def _criteria(operation: str, req: etree._Element) -> str:
    criteria = req.find("searchCriteria")
    if criteria is None or len(criteria) == 0:
        raise _axl_fault(
            operation, facts.AXL_REQUEST_ERROR_CODE, "searchCriteria must name at least one field"
        )
    unknown = [c.tag for c in criteria if c.tag != "name"]
    if unknown:
        raise _axl_fault(
            operation, facts.AXL_REQUEST_ERROR_CODE, f"Unsupported search criteria: {unknown[0]}"
        )
    return (criteria.findtext("name") or "").strip()


def _tags(req: etree._Element, known: tuple[str, ...]) -> list[str]:
    returned = req.find("returnedTags")
    tags = [t.tag for t in returned if t.tag in known] if returned is not None else []
    return tags or list(known)


def list_operation(cluster: Cluster, ns: str, req: etree._Element) -> etree._Element:
    """Answer listCallManagerGroup or listDevicePool."""
    operation = etree.QName(req).localname
    pattern = _criteria(operation, req)
    resp = etree.Element(f"{{{ns}}}{operation}Response", nsmap={"ns": ns})
    ret = _sub(resp, "return")
    if operation == "listCallManagerGroup":
        tags = _tags(req, _GROUP_TAGS)
        for i, group in enumerate(cluster.spec.resolved_cm_groups()):
            if not _like(pattern, group.name):
                continue
            el = _sub(ret, "callManagerGroup")
            el.set("uuid", _uuid(sql.cm_group_pkid(cluster, group.name)))
            if "name" in tags:
                _sub(el, "name", group.name)
            if "tftpDefault" in tags:
                _sub(el, "tftpDefault", "true" if i == 0 else "false")
            if "members" in tags:
                members = _sub(el, "members")
                for priority, host in enumerate(group.members):
                    member = _sub(members, "member")
                    member.set(
                        "uuid",
                        _uuid(
                            sql._pkid(
                                cluster.spec.cluster, "callmanagergroupmember", group.name, host
                            )
                        ),
                    )
                    name = _sub(
                        member, "callManagerName", facts.CALLMANAGER_NAME.format(hostname=host)
                    )
                    name.set("uuid", _uuid(sql.callmanager_pkid(cluster, host)))
                    _sub(member, "priority", str(priority + facts.AXL_CM_GROUP_PRIORITY_BASE))
        return resp
    tags = _tags(req, _POOL_TAGS)
    for pool in cluster.spec.resolved_device_pools():
        if not _like(pattern, pool.name):
            continue
        el = _sub(ret, "devicePool")
        el.set("uuid", _uuid(sql.device_pool_pkid(cluster, pool.name)))
        if "name" in tags:
            _sub(el, "name", pool.name)
        if "callManagerGroupName" in tags:
            group_el = _sub(el, "callManagerGroupName", pool.cm_group)
            group_el.set("uuid", _uuid(sql.cm_group_pkid(cluster, pool.cm_group)))
    return resp
