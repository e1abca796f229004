"""SOAP 1.1 plumbing shared by Control Center, RisPort70 and AXL.

Envelopes are built with lxml in the exact namespaces real clients expect; requests are parsed
without entity resolution or network access. Faults a request can meet on any SOAP interface
(an injected ``soap-fault``, the realtime rate limit) are raised here too.
"""

from __future__ import annotations

from aiohttp import web
from lxml import etree

from lab import facts
from lab.frontends.base import Twin
from lab.nodes import Node

SOAPENV_NS = "http://schemas.xmlsoap.org/soap/envelope/"
AST_NS = "http://schemas.cisco.com/ast/soap"
XSD_NS = "http://www.w3.org/2001/XMLSchema"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"

THROTTLE_MESSAGE = (
    "AxisFault: Exceeded allowed rate for Reatime information. Current allowed rate for "
    "realtime information is {rate} requests per minute."
)

_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, remove_blank_text=True)


class SoapFault(Exception):
    """A fault to answer with HTTP 500."""

    def __init__(self, faultcode: str, faultstring: str, detail: etree._Element | None = None):
        """Build the fault.

        Args:
            faultcode: ``soapenv:Client``, ``soapenv:Server``...
            faultstring: The human text.
            detail: The element to put in ``<detail>``, if any.
        """
        super().__init__(faultstring)
        self.faultcode = faultcode
        self.faultstring = faultstring
        self.detail = detail


def envelope(payload: etree._Element) -> bytes:
    """Wrap one body element in a SOAP 1.1 envelope."""
    env = etree.Element(
        f"{{{SOAPENV_NS}}}Envelope",
        nsmap={"soapenv": SOAPENV_NS, "xsd": XSD_NS, "xsi": XSI_NS},
    )
    etree.SubElement(env, f"{{{SOAPENV_NS}}}Body").append(payload)
    return bytes(etree.tostring(env, xml_declaration=True, encoding="UTF-8"))


def xml_response(payload: etree._Element, status: int = 200) -> web.Response:
    """An HTTP response carrying one body element."""
    return web.Response(
        body=envelope(payload), status=status, content_type="text/xml", charset="utf-8"
    )


def fault_response(fault: SoapFault) -> web.Response:
    """HTTP 500 with a SOAP 1.1 fault."""
    el = etree.Element(f"{{{SOAPENV_NS}}}Fault", nsmap={"soapenv": SOAPENV_NS})
    etree.SubElement(el, "faultcode").text = fault.faultcode
    etree.SubElement(el, "faultstring").text = fault.faultstring
    if fault.detail is not None:
        etree.SubElement(el, "detail").append(fault.detail)
    return xml_response(el, status=500)


def body_element(raw: bytes) -> etree._Element:
    """The first element of the SOAP Body; SoapFault(Client) when there is none."""
    try:
        root = etree.fromstring(raw, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise SoapFault("soapenv:Client", f"Unable to parse the request: {exc}") from None
    body = root.find(f"{{{SOAPENV_NS}}}Body")
    if root.tag != f"{{{SOAPENV_NS}}}Envelope" or body is None or len(body) == 0:
        raise SoapFault("soapenv:Client", "The request is not a SOAP 1.1 envelope with a Body")
    return body[0]


def ast_name(name: str) -> str:
    """``name`` in the Cisco AST namespace (Control Center and RisPort70)."""
    return f"{{{AST_NS}}}{name}"


def ast_element(parent: etree._Element, name: str, text: object = None) -> etree._Element:
    """Append an AST-namespace child, with ``str(text)`` as its text unless None."""
    el = etree.SubElement(parent, ast_name(name))
    if text is not None:
        el.text = str(text)
    return el


def injected_fault(twin: Twin, node: Node, interface: str) -> SoapFault | None:
    """The generic fault of a ``soap-fault`` fault that fires now, if any."""
    if twin.faults.take("soap-fault", node.hostname, interface) is None:
        return None
    twin.journal.record("fault.fired", node.hostname, kind="soap-fault", interface=interface)
    return SoapFault(facts.SOAP_FAULT_CODE, facts.SOAP_FAULT_STRING)


def check_realtime_rate(twin: Twin, node: Node, operation: str) -> None:
    """Raise the AxisFault real CUCM answers when ``operation`` exceeds the realtime rate."""
    if twin.realtime_throttled(node):
        rate = twin.timing.realtime_rate_per_minute
        twin.journal.record("fault.fired", node.hostname, kind="throttle", operation=operation)
        raise SoapFault(facts.THROTTLE_FAULTCODE, THROTTLE_MESSAGE.format(rate=rate))
