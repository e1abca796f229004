"""The lab's hand-coded AXL request types (lab/frontends/axl_schema.py) are Cisco's: each
operation's element names, order, occurrences, choices, attributes and simple types match
AXLSoap.xsd 12.5 (S28), so the lab refuses what the schema refuses without carrying it."""

from __future__ import annotations

from typing import Any

import pytest
from lxml import etree

from lab.frontends import axl_schema
from tests.contracts.axl_xsd import XSD_NS, complex_type, xsd_document

RELEASE = "12.5"
XS = f"{{{XSD_NS}}}"
#: What a returnedTags child's value is to the lab: unchecked.
TAG = axl_schema.TAG.name

Shape = dict[str, Any]


def _local(qname: str) -> str:
    return qname.rpartition(":")[2]


def _complex_types() -> set[str]:
    doc = xsd_document(RELEASE).getroot()
    return {t.get("name", "") for t in doc.iterfind(f"{XS}complexType")}


COMPLEX = _complex_types()


def xsd_shape(ctype: etree._Element, tags: bool = False) -> Shape:
    """A complexType of the schema as names, occurrences, choices, attributes and types."""
    shape: Shape = {"attributes": {}, "text": None, "content": []}

    def walk(node: etree._Element) -> None:
        for child in node:
            if child.tag == f"{XS}sequence":
                walk(child)
            elif child.tag == f"{XS}choice":
                options = tuple(xsd_element(e, tags) for e in child.iterfind(f"{XS}element"))
                shape["content"].append(("choice", options))
            elif child.tag == f"{XS}element":
                shape["content"].append(xsd_element(child, tags))
            elif child.tag == f"{XS}attribute":
                shape["attributes"][child.get("name")] = _local(child.get("type", ""))
            elif child.tag in (f"{XS}complexContent", f"{XS}simpleContent"):
                extension = child.find(f"{XS}extension")
                assert extension is not None
                base = _local(extension.get("base", ""))
                if child.tag == f"{XS}simpleContent":
                    shape["text"] = base
                else:
                    inherited = xsd_shape(complex_type(RELEASE, base), tags)
                    shape["attributes"].update(inherited["attributes"])
                    shape["content"].extend(inherited["content"])
                walk(extension)

    walk(ctype)
    return shape


def xsd_element(el: etree._Element, tags: bool) -> tuple[str, bool, bool, object]:
    """(name, optional, repeated, type) of a local element declaration."""
    name = el.get("name", "")
    tags = tags or name == "returnedTags"
    inline = el.find(f"{XS}complexType")
    type_name = _local(el.get("type", ""))
    kind: object
    if inline is not None:
        kind = xsd_shape(inline, tags)
    elif type_name in COMPLEX:
        kind = xsd_shape(complex_type(RELEASE, type_name), tags)
    else:
        kind = type_name
    if tags and (not isinstance(kind, dict) or not kind["content"]):
        kind = TAG  # a tag's value (simple, or simple content) is not checked
    return (name, el.get("minOccurs") == "0", el.get("maxOccurs") == "unbounded", kind)


def lab_shape(ctype: axl_schema.Complex) -> Shape:
    """The same view of one of the lab's request types."""
    content: list[object] = []
    for particle in ctype.content:
        if isinstance(particle, axl_schema.Choice):
            content.append(("choice", tuple(lab_element(o) for o in particle.options)))
        else:
            content.append(lab_element(particle))
    return {
        "attributes": {name: simple.name for name, simple in ctype.attributes},
        "text": ctype.text.name if ctype.text is not None else None,
        "content": content,
    }


def lab_element(el: axl_schema.Element) -> tuple[str, bool, bool, object]:
    kind = lab_shape(el.type) if isinstance(el.type, axl_schema.Complex) else el.type.name
    return (el.name, el.optional, el.repeated, kind)


@pytest.mark.parametrize("operation", sorted(axl_schema.REQUESTS))
def test_the_lab_describes_each_request_as_the_schema_does(operation: str) -> None:
    declared = xsd_document(RELEASE).find(f"{XS}element[@name='{operation}']")
    assert declared is not None
    type_name = _local(declared.get("type", ""))
    lab = axl_schema.REQUESTS[operation]
    assert lab.name == type_name
    assert lab_shape(lab) == xsd_shape(complex_type(RELEASE, type_name))
