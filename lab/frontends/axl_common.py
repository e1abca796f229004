"""What the AXL operations of the twin share: faults, search criteria, paging, elements.

AXL children are unqualified; list operations take ``searchCriteria`` with ``%`` wildcards,
``returnedTags``, and optional ``skip`` and ``first`` (cucm-interfaces.md §6).
"""

from __future__ import annotations

import re
import uuid
from typing import TypeVar

from lxml import etree

from lab import facts
from lab.frontends.soapenv import SoapFault

T = TypeVar("T")


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


def search_criteria(operation: str, req: etree._Element) -> dict[str, str]:
    """The criteria of a (schema-valid) list request's ``searchCriteria``, by field.

    Raises:
        SoapFault: None is given: the XSD's annotation says "At least one element under
            searchCriteria has to be mentioned".
    """
    criteria = req.find("searchCriteria")
    children = criteria if criteria is not None else ()
    given = {c.tag: (c.text or "").strip() for c in children if isinstance(c.tag, str)}
    if not given:
        raise axl_fault(
            operation, facts.AXL_REQUEST_ERROR_CODE, "searchCriteria must name at least one field"
        )
    return given


def matches(criteria: dict[str, str], values: dict[str, str]) -> bool:
    """Whether an item's ``values`` match every search criterion (``%`` wildcards)."""
    return all(like(pattern, values.get(name, "")) for name, pattern in criteria.items())


def page(req: etree._Element, items: list[T]) -> list[T]:
    """The items a list request's ``first`` and ``skip`` select; skip counts only with first
    (the XSD: "It will be used only when first tag is specified")."""
    first = req.findtext("first")
    if first is None:
        return items
    skip = int(req.findtext("skip") or 0)
    return items[skip : skip + int(first)]


def returned_tags(req: etree._Element, known: tuple[str, ...]) -> list[str]:
    """The ``returnedTags`` of a request that the lab can answer, in ``known`` (schema) order;
    all of them when none is named (a tag the lab has no value for is left out)."""
    returned = req.find("returnedTags")
    if returned is None or len(returned) == 0:
        return list(known)
    asked = {t.tag for t in returned}
    return [t for t in known if t in asked]
