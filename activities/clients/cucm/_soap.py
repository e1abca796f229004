"""SOAP 1.1 plumbing shared by the Control Center, RisPort and AXL clients (lxml, no WSDL)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from lxml import etree

from activities.clients.cucm import inferred
from activities.clients.cucm.backoff import Backoff, retry_after_of
from activities.clients.cucm.errors import (
    CucmError,
    CucmHttpError,
    CucmSoapFault,
    CucmThrottled,
)

if TYPE_CHECKING:
    from activities.clients.cucm.transport import HttpsClient

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


async def call_serviceability(
    http: HttpsClient,
    path: str,
    operation: str,
    payload: etree._Element,
    return_tag: str,
    retry_after: float,
    reads: Backoff | None = None,
) -> etree._Element:
    """POST a serviceability operation (Control Center, RisPort) and return its Return element.

    The realtime throttle fault (and HTTP 429) becomes CucmThrottled, other faults
    CucmSoapFault, any other non-200 status CucmHttpError; each carries the reply's
    ``Retry-After`` when there is one (``retry_after`` is the back-off without it). With
    ``reads`` the operation is a query, sent again as it says after a busy answer (429,
    502-504) or none; without, it is sent once.
    """
    node = http.endpoint.fqdn
    resp = await http.request(
        "POST",
        path,
        retry=reads,
        read=reads is not None,
        content=envelope(payload),
        headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": operation},
    )
    asked = retry_after_of(resp)
    if resp.status_code == 500 and "xml" in resp.headers.get("content-type", ""):
        fault = find_fault(parse_body(resp.content, node))
        if fault is not None:
            if inferred.THROTTLE_FAULT_RE.search(fault.faultstring):
                raise CucmThrottled(
                    fault.faultstring, node=node, retry_after=retry_after, asked_wait=asked
                )
            raise CucmSoapFault(fault.faultstring, node=node, faultcode=fault.faultcode)
    if resp.status_code == 429:
        raise CucmThrottled(
            f"{operation}: HTTP 429", node=node, retry_after=retry_after, asked_wait=asked
        )
    if resp.status_code != 200:
        raise CucmHttpError(
            f"{operation}: HTTP {resp.status_code}",
            node=node,
            status=resp.status_code,
            asked_wait=asked,
        )
    ret = parse_body(resp.content, node).find(f".//{return_tag}")
    if ret is None:
        raise CucmError(f"{operation}: reply has no {etree.QName(return_tag).localname}", node=node)
    return ret
