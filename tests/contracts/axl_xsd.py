"""Cisco's AXL schema (AXLSoap.xsd, S28) as the judge of AXL requests and replies.

The schema ships in the ``ciscoaxl`` package (a test-only dependency), one folder per release
from 10.0 to 12.5; it is read from the installed package, never copied here. 14.0 and 15.0
keep the operations ucrenew uses unchanged, so their requests and replies are judged by 12.5.

Two adaptations, both because the wire is not what the XSD's global elements say:
- The operation (or ``axlError``) element is moved into the namespace of the schema that judges
  it: requests in a 14.0 namespace are judged by 12.5, and AXL sends ``axlError`` unqualified.
- ``returnedTags`` only name the tags wanted; clients send them empty, as the AXL developer
  guide's examples do, so an empty tag failing its type's facets (``<nodeUsage/>`` is not
  Publisher or Subscriber) is not a violation. Unknown or misplaced tags still are.
"""

from __future__ import annotations

import copy
import functools
import importlib.resources

from lxml import etree

AXL_NS_PREFIX = "http://www.cisco.com/AXL/API/"
SOAPENV_NS = "http://schemas.xmlsoap.org/soap/envelope/"
XSD_NS = "http://www.w3.org/2001/XMLSchema"
#: Releases whose schema ciscoaxl ships.
RELEASES = ("10.0", "10.5", "11.0", "11.5", "12.0", "12.5")
#: Facet and datatype errors an empty returnedTags child may raise.
_TAG_VALUE_ERRORS = frozenset(
    {
        "SCHEMAV_CVC_ENUMERATION_VALID",
        "SCHEMAV_CVC_PATTERN_VALID",
        "SCHEMAV_CVC_DATATYPE_VALID_1_2_1",
        "SCHEMAV_CVC_MINLENGTH_VALID",
        "SCHEMAV_CVC_LENGTH_VALID",
    }
)


def release_of(version: str) -> str:
    """The schema release that judges AXL ``version`` (12.5 for 14.0 and 15.0)."""
    return version if version in RELEASES else "12.5"


def xsd_document(release: str) -> etree._ElementTree:
    """AXLSoap.xsd of ``release``, parsed without network access."""
    resource = importlib.resources.files("ciscoaxl") / "schema" / release / "AXLSoap.xsd"
    parser = etree.XMLParser(no_network=True, resolve_entities=False, huge_tree=True)
    with importlib.resources.as_file(resource) as path:
        return etree.parse(str(path), parser)


@functools.cache
def _cached_document(release: str) -> etree._ElementTree:
    return xsd_document(release)


@functools.cache
def schema(release: str) -> etree.XMLSchema:
    """The compiled schema of ``release`` (imports, if any, resolve beside the file)."""
    return etree.XMLSchema(_cached_document(release))


def complex_type(release: str, name: str) -> etree._Element:
    """The ``xsd:complexType`` named ``name`` in the release's schema."""
    found = _cached_document(release).find(f"{{{XSD_NS}}}complexType[@name='{name}']")
    assert found is not None, f"{name} is not in AXLSoap.xsd {release}"
    return found


def version_of(el: etree._Element) -> str:
    """The AXL version of an element's namespace (``14.0`` for ``.../AXL/API/14.0``)."""
    return (etree.QName(el).namespace or "").removeprefix(AXL_NS_PREFIX)


def violations(el: etree._Element, version: str) -> list[str]:
    """How ``el`` (an operation request or response, or an axlError) breaks AXL ``version``'s
    schema; empty when it validates."""
    release = release_of(version)
    target = AXL_NS_PREFIX + release
    judged = etree.Element(
        f"{{{target}}}{etree.QName(el).localname}", attrib=dict(el.attrib), nsmap={"ns": target}
    )
    judged.text = el.text
    for child in el:
        judged.append(copy.deepcopy(child))
    doc = etree.ElementTree(judged)
    xsd = schema(release)
    if xsd.validate(doc):
        return []
    return [f"{e.path}: {e.message}" for e in xsd.error_log if not _empty_tag_value(doc, e, target)]


def _empty_tag_value(doc: etree._ElementTree, error: etree._LogEntry, ns: str) -> bool:
    if error.type_name not in _TAG_VALUE_ERRORS or "/returnedTags/" not in (error.path or ""):
        return False
    found = doc.xpath(error.path, namespaces={"ns": ns})
    return (
        isinstance(found, list)
        and len(found) == 1
        and isinstance(found[0], etree._Element)
        and len(found[0]) == 0
        and not (found[0].text or "").strip()
    )


def body_element(raw: bytes) -> etree._Element:
    """The first element of a SOAP 1.1 Body."""
    root = etree.fromstring(raw, etree.XMLParser(no_network=True, resolve_entities=False))
    body = root.find(f"{{{SOAPENV_NS}}}Body")
    assert body is not None and len(body), raw[:200]
    return body[0]


def reply_element(raw: bytes) -> etree._Element:
    """What a reply's schema check judges: the operation response, or a fault's axlError."""
    el = body_element(raw)
    if etree.QName(el).localname != "Fault":
        return el
    detail = el.find("detail/axlError")
    assert detail is not None, f"fault without axlError: {etree.tostring(el)[:300]!r}"
    return detail
