"""What the twin's AXL checks before it runs a request: Cisco's AXLSoap.xsd, hand-coded.

Real AXL validates each request against its release's schema, and a request that does not
validate is refused with a SOAP fault before anything runs. The lab carries no schema file:
each operation it serves is described here with the XSD's own names (``ListProcessNodeReq``,
``LProcessNode``, ``DoDeviceResetReq``... of the 12.5 schema, which 14 and 15 keep for these
operations), enough to refuse what the schema refuses. tests/contracts checks these
descriptions, and every request and reply, against the real schema.

``returnedTags`` only name the tags a list or get should return, and clients send them empty
(as the AXL developer guide's examples do), so their names and order are checked, not their
values.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lxml import etree

from lab import facts
from lab.frontends.soapenv import XSI_NS, SoapFault


@dataclass(frozen=True)
class Simple:
    """An XSD simple type: its name and the facets the lab checks."""

    name: str
    pattern: str | None = None
    max_length: int | None = None
    unsigned: bool = False

    def problem(self, value: str) -> str | None:
        """Why ``value`` is not of this type, in the validator's words; None when it is."""
        messages = facts.AXL_SCHEMA_MESSAGES
        if self.unsigned and not value.isdigit():
            return messages["datatype"].format(value=value, type=self.name)
        if self.pattern is not None and re.fullmatch(self.pattern, value) is None:
            return messages["pattern"].format(value=value, pattern=self.pattern, type=self.name)
        if self.max_length is not None and len(value) > self.max_length:
            return messages["max_length"].format(
                value=value, length=len(value), max=self.max_length, type=self.name
            )
        return None


@dataclass(frozen=True)
class Element:
    """A local element declaration: name, type, ``minOccurs="0"`` and unbounded maxOccurs."""

    name: str
    type: Simple | Complex
    optional: bool = False
    repeated: bool = False


@dataclass(frozen=True)
class Choice:
    """An ``xsd:choice`` of exactly one of its elements."""

    options: tuple[Element, ...]


@dataclass(frozen=True)
class Complex:
    """A complex type: a sequence of elements and choices, attributes, or simple content.

    Attributes:
        tags: A ``returnedTags`` type: children's values are not checked.
    """

    name: str
    content: tuple[Element | Choice, ...] = ()
    attributes: tuple[tuple[str, Simple], ...] = ()
    text: Simple | None = None
    tags: bool = False


STRING = Simple("string")
UNSIGNED_LONG = Simple("unsignedLong", unsigned=True)
STRING100 = Simple("String100", max_length=100)
STRING255 = Simple("String255", max_length=255)
XUUID = Simple("XUUID", pattern=r"\{........-....-....-....-............\}")
BOOLEAN = Simple("boolean", pattern="(t)|(f)|(true)|(false)|(0)|(1)")
#: AXLSoap.xsd's enumerations are unions with any string: Reset, Restart, Apply Configuration
#: are the values it names, and AXL itself refuses others.
XRESET = Simple("XReset")
#: Any text: the (unchecked) value of a returnedTags child.
TAG = Simple("tag")
XFKTYPE = Complex("XFkType", text=STRING, attributes=(("uuid", XUUID),))
#: APIRequest, which most requests extend: ``sequence`` only.
SEQUENCE = (("sequence", UNSIGNED_LONG),)


def tags(name: str, *children: str | Element, uuid: bool = True) -> Complex:
    """A returnedTags type (``L<Item>``, ``R<Item>``): every child optional, in this order."""
    content = tuple(
        child if isinstance(child, Element) else Element(child, TAG, optional=True)
        for child in children
    )
    return Complex(name, content, (("uuid", XUUID),) if uuid else (), tags=True)


def search_criteria(*names: str) -> Element:
    """The anonymous ``searchCriteria`` of a list request: each criterion an optional string."""
    return Element("searchCriteria", Complex("", tuple(Element(n, STRING, True) for n in names)))


def list_request(name: str, criteria: Element, returned: Complex) -> Complex:
    """A ``List<Item>Req``: searchCriteria, returnedTags, then optional skip and first."""
    return Complex(
        name,
        (
            criteria,
            Element("returnedTags", returned),
            Element("skip", UNSIGNED_LONG, optional=True),
            Element("first", UNSIGNED_LONG, optional=True),
        ),
        SEQUENCE,
    )


L_PROCESS_NODE = tags(
    "LProcessNode",
    "name",
    "description",
    "mac",
    "ipv6Name",
    "nodeUsage",
    "lbmHubGroup",
    "processNodeRole",
)
L_CALL_MANAGER_GROUP = tags("LCallManagerGroup", "name", "tftpDefault")
R_CALL_MANAGER_GROUP = tags(
    "RCallManagerGroup",
    "name",
    "tftpDefault",
    Element(
        "members",
        tags(
            "",
            Element(
                "member",
                tags("RCallManagerMember", "callManagerName", "priority"),
                optional=True,
                repeated=True,
            ),
            uuid=False,
        ),
        optional=True,
    ),
)
#: The (flat) tags of LDevicePool before localRouteGroup, in the schema's order.
_DEVICE_POOL_TAGS = (
    "name autoSearchSpaceName dateTimeSettingName callManagerGroupName mediaResourceListName "
    "regionName networkLocale srstName connectionMonitorDuration "
    "automatedAlternateRoutingCssName aarNeighborhoodName locationName mobilityCssName "
    "physicalLocationName deviceMobilityGroupName revertPriority singleButtonBarge "
    "joinAcrossLines cgpnTransformationCssName cdpnTransformationCssName "
    "localRouteGroupName geoLocationName geoLocationFilterName callingPartyNationalPrefix "
    "callingPartyInternationalPrefix callingPartyUnknownPrefix callingPartySubscriberPrefix "
    "adjunctCallingSearchSpace callingPartyNationalStripDigits "
    "callingPartyInternationalStripDigits callingPartyUnknownStripDigits "
    "callingPartySubscriberStripDigits callingPartyNationalTransformationCssName "
    "callingPartyInternationalTransformationCssName "
    "callingPartyUnknownTransformationCssName callingPartySubscriberTransformationCssName "
    "calledPartyNationalPrefix calledPartyInternationalPrefix calledPartyUnknownPrefix "
    "calledPartySubscriberPrefix calledPartyNationalStripDigits "
    "calledPartyInternationalStripDigits calledPartyUnknownStripDigits "
    "calledPartySubscriberStripDigits calledPartyNationalTransformationCssName "
    "calledPartyInternationalTransformationCssName calledPartyUnknownTransformationCssName "
    "calledPartySubscriberTransformationCssName imeEnrolledPatternGroupName"
)
L_DEVICE_POOL = tags(
    "LDevicePool",
    *_DEVICE_POOL_TAGS.split(),
    Element("localRouteGroup", tags("", "name", "value", uuid=False), optional=True, repeated=True),
    "mraServiceDomain",
)

#: The request type of each operation the lab serves, by request element name.
REQUESTS: dict[str, Complex] = {
    "getCCMVersion": Complex(
        "GetCCMVersionReq", (Element("processNodeName", STRING255, optional=True),)
    ),
    "listProcessNode": list_request(
        "ListProcessNodeReq",
        search_criteria("name", "description", "processNodeRole"),
        L_PROCESS_NODE,
    ),
    "executeSQLQuery": Complex("ExecuteSQLQueryReq", (Element("sql", STRING),), SEQUENCE),
    "listCallManagerGroup": list_request(
        "ListCallManagerGroupReq", search_criteria("name"), L_CALL_MANAGER_GROUP
    ),
    "getCallManagerGroup": Complex(
        "GetCallManagerGroupReq",
        (
            Choice((Element("name", STRING100), Element("uuid", XUUID))),
            Element("returnedTags", R_CALL_MANAGER_GROUP, optional=True),
        ),
        SEQUENCE,
    ),
    "listDevicePool": list_request(
        "ListDevicePoolReq",
        search_criteria("name", "callManagerGroupName", "regionName"),
        L_DEVICE_POOL,
    ),
    "doDeviceReset": Complex(
        "DoDeviceResetReq",
        (
            Element("deviceName", XFKTYPE),
            Choice((Element("isHardReset", BOOLEAN), Element("deviceResetType", XRESET))),
        ),
        (*SEQUENCE, ("isMGCP", BOOLEAN)),
    ),
}


def schema_fault(message: str) -> SoapFault:
    """The fault of a request that does not validate against the schema."""
    return SoapFault(facts.AXL_SCHEMA_FAULT_CODE, message)


def validate(req: etree._Element) -> None:
    """Refuse ``req`` the way AXL does when it does not validate against its operation's type.

    Operations the lab does not describe are left to the caller.

    Raises:
        SoapFault: The first violation, worded as the schema validator words it.
    """
    ctype = REQUESTS.get(etree.QName(req).localname)
    if ctype is not None:
        _check(req, ctype)


def _name(el: etree._Element) -> str:
    return etree.QName(el).localname


def _check(el: etree._Element, ctype: Simple | Complex, tag_value: bool = False) -> None:
    messages = facts.AXL_SCHEMA_MESSAGES
    children = [c for c in el if isinstance(c.tag, str)]
    if isinstance(ctype, Simple):
        if children:
            raise schema_fault(messages["simple"].format(element=_name(el)))
        problem = None if tag_value else ctype.problem(el.text or "")
        if problem is not None:
            raise schema_fault(problem)
        return
    allowed = dict(ctype.attributes)
    for attr, value in el.attrib.items():
        qname = etree.QName(attr)
        if qname.namespace == XSI_NS:
            continue
        if qname.namespace is not None or qname.localname not in allowed:
            raise schema_fault(
                messages["attribute"].format(attribute=qname.localname, element=_name(el))
            )
        problem = allowed[qname.localname].problem(value)
        if problem is not None:
            raise schema_fault(problem)
    if ctype.text is not None:
        _check(el, ctype.text)
        return
    if (el.text or "").strip():
        raise schema_fault(messages["element_only"].format(element=_name(el)))
    _check_content(el, ctype, children)


def _check_content(el: etree._Element, ctype: Complex, children: list[etree._Element]) -> None:
    messages = facts.AXL_SCHEMA_MESSAGES
    pos = 0
    expected: list[str] = []  # what may come next, as the validator lists it
    for particle in ctype.content:
        options = particle.options if isinstance(particle, Choice) else (particle,)
        by_name = {o.name: o for o in options}
        optional = isinstance(particle, Element) and particle.optional
        repeated = isinstance(particle, Element) and particle.repeated
        matched = 0
        while pos < len(children) and _name(children[pos]) in by_name:
            if matched and not repeated:
                break
            child = children[pos]
            option = by_name[_name(child)]
            _check(child, option.type, tag_value=ctype.tags and isinstance(option.type, Simple))
            pos += 1
            matched += 1
        if matched:
            expected = list(by_name) if repeated else []
            continue
        expected.extend(by_name)
        if not optional:
            names = ", ".join(expected)
            if pos < len(children):
                element = _name(children[pos])
                raise schema_fault(messages["unexpected"].format(element=element, expected=names))
            raise schema_fault(messages["incomplete"].format(element=_name(el), expected=names))
    if pos < len(children):
        element = _name(children[pos])
        if expected:
            names = ", ".join(expected)
            raise schema_fault(messages["unexpected"].format(element=element, expected=names))
        raise schema_fault(messages["unexpected_end"].format(element=element))
