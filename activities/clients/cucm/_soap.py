"""SOAP 1.1 plumbing shared by the Control Center and AXL clients (lxml, no WSDL)."""

from __future__ import annotations

from dataclasses import dataclass

from lxml import etree

from activities.clients.cucm.errors import CucmError

SOAPENV_NS = "http://schemas.xmlsoap.org/soap/envelope/"

_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, remove_blank_text=True)


@dataclass(frozen=True)
class Fault:
    """A parsed SOAP fault."""

    faultcode: str
    faultstring: str
    detail: etree._Element | None


def envelope(payload: etree._Element) -> bytes:
    """Serialize one body element inside a SOAP 1.1 envelope."""
    env = etree.Element(f"{{{SOAPENV_NS}}}Envelope", nsmap={"soapenv": SOAPENV_NS})
    etree.SubElement(env, f"{{{SOAPENV_NS}}}Header")
    etree.SubElement(env, f"{{{SOAPENV_NS}}}Body").append(payload)
    return bytes(etree.tostring(env, xml_declaration=True, encoding="UTF-8"))


def parse_body(raw: bytes, node: str) -> etree._Element:
    """The SOAP Body of a reply; CucmError when the reply is not a SOAP envelope."""
    try:
        root = etree.fromstring(raw, _PARSER)
    except etree.XMLSyntaxError:
        raise CucmError("reply is not XML", node=node) from None
    body = root.find(f"{{{SOAPENV_NS}}}Body")
    if body is None:
        raise CucmError("reply is not a SOAP envelope", node=node)
    return body


def find_fault(body: etree._Element) -> Fault | None:
    """The fault carried by a Body, if any (faultcode/faultstring are unqualified)."""
    el = body.find(f"{{{SOAPENV_NS}}}Fault")
    if el is None:
        return None
    return Fault(
        faultcode=(el.findtext("faultcode") or "").strip(),
        faultstring=(el.findtext("faultstring") or "").strip(),
        detail=el.find("detail"),
    )
