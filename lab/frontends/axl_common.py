"""What the AXL operations of the twin's publisher share: faults, search criteria, elements.

AXL children are unqualified; list operations take ``searchCriteria`` with ``%`` wildcards
and an optional ``returnedTags`` (cucm-interfaces.md §6).
"""

from __future__ import annotations

import re
import uuid

from lxml import etree

from lab import facts
from lab.frontends.soapenv import SoapFault


def axl_fault(operation: str, code: int, message: str) -> SoapFault:
    """The SOAP fault AXL answers with, its ``axlError`` detail naming the operation."""
    detail = etree.Element("axlError")
    etree.SubElement(detail, "axlcode").text = str(code)
    etree.SubElement(detail, "axlmessage").text = message
    etree.SubElement(detail, "request").text = operation
    return SoapFault(facts.AXL_FAULT_CODE, message, detail)


def element(parent: etree._Element, name: str, text: str | None = None) -> etree._Element:
    """Append an unqualified child, with ``text`` unless None."""
    el = etree.SubElement(parent, name)
    if text is not None:
        el.text = text
    return el


def braced_uuid(pkid: str) -> str:
    """A pkid as AXL shows it in ``uuid`` attributes: upper case, in braces."""
    return "{" + str(uuid.UUID(pkid)).upper() + "}"


def like(pattern: str, value: str) -> bool:
    """Whether ``value`` matches an AXL search pattern (``%`` matches any run)."""
    regex = ".*".join(re.escape(part) for part in pattern.split("%"))
    flags = re.IGNORECASE if facts.AXL_SEARCH_CASE_INSENSITIVE else 0
    return re.fullmatch(regex, value, flags) is not None


def name_pattern(operation: str, req: etree._Element) -> str:
    """The ``name`` pattern of a list request's ``searchCriteria``, the only criterion known.

    Raises:
        SoapFault: The criteria are missing, empty, or name another field.
    """
    criteria = req.find("searchCriteria")
    if criteria is None or len(criteria) == 0:
        raise axl_fault(
            operation, facts.AXL_REQUEST_ERROR_CODE, "searchCriteria must name at least one field"
        )
    unknown = [c.tag for c in criteria if c.tag != "name"]
    if unknown:
        raise axl_fault(
            operation, facts.AXL_REQUEST_ERROR_CODE, f"Unsupported search criteria: {unknown[0]}"
        )
    return (criteria.findtext("name") or "").strip()


def returned_tags(req: etree._Element, known: tuple[str, ...]) -> list[str]:
    """The ``returnedTags`` of a list request that are ``known``; all of them when none is."""
    returned = req.find("returnedTags")
    tags = [t.tag for t in returned if t.tag in known] if returned is not None else []
    return tags or list(known)
