"""``?wsdl`` of the SOAP services a lab node serves (Control Center, RisPort70, AXL).

The documents in ``lab/wsdl/`` are hand-written: they describe the operations the lab
implements, with the element and type names of Cisco's published WSDLs (cucm-interfaces.md
§4, §5, S10), so a WSDL-driven client (zeep, SoapUI) builds the requests the lab answers and
reads its replies. AXL's follows the AXL toolkit's AXLAPI.wsdl but leaves the types to
Cisco's AXLSoap.xsd. A GET without ``?wsdl`` gets the service's page.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import cache
from importlib import resources

from aiohttp import web

from lab import facts
from lab.frontends.base import LAB_KEY

#: The address Cisco's published copies carry; the served one names the node asked.
_PUBLISHED_HOST = "https://localhost:8443"
#: Where a document names its schema version (AXL), filled in per request.
VERSION_PLACEHOLDER = "@VERSION@"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@cache
def document(file_name: str) -> str:
    """The WSDL shipped with the lab, as written (``ControlCenterServices.wsdl`` ...)."""
    return resources.files("lab").joinpath("wsdl", file_name).read_text(encoding="utf-8")


def wants_wsdl(request: web.Request) -> bool:
    """Whether the query asks for the WSDL (``?wsdl``, any case)."""
    return any(key.lower() == "wsdl" for key in request.query)


def wsdl_route(
    file_name: str,
    service: str,
    *,
    realm: str = facts.CONTROL_CENTER_REALM,
    page: str = facts.SOAP_SERVICE_PAGE,
    published_host: str = _PUBLISHED_HOST,
    version: Callable[[web.Request], str] | None = None,
) -> Handler:
    """A GET handler serving ``file_name`` for ``?wsdl`` and the service page otherwise.

    Args:
        file_name: The document in ``lab/wsdl/``.
        service: The service name the SOAP engine shows on its page.
        realm: The HTTP Basic realm of the service's calls.
        page: The page of a GET without ``?wsdl`` (``{service}`` is filled in).
        published_host: The scheme, host and port of the document's ``soap:address``.
        version: The schema version to write for ``@VERSION@``, from the request.
    """

    async def handler(request: web.Request) -> web.StreamResponse:
        lab = request.app[LAB_KEY]
        if facts.WSDL_REQUIRES_AUTH:
            lab.check_auth(request, "app_user", realm)
        if not wants_wsdl(request):
            return web.Response(text=page.format(service=service), content_type="text/html")
        text = document(file_name)
        if version is not None:
            text = text.replace(VERSION_PLACEHOLDER, version(request))
        if facts.WSDL_ADDRESS_FROM_REQUEST:
            text = text.replace(published_host, f"{request.scheme}://{request.host}")
        return web.Response(text=text, content_type="text/xml", charset="utf-8")

    return handler
