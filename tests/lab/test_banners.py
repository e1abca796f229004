"""What a node tells about its software on the wire: a CUCM node's banners, not the lab's.

The HTTP ``Server`` header and the SSH identification string are [INF] constants of
lab/facts.py (``HTTP_SERVER_HEADER``, ``SSH_SERVER_VERSION``); the SSH string follows
RFC 4253 §4.2 (``SSH-2.0-softwareversion`` then CR LF).
"""

from __future__ import annotations

import asyncio
import base64

import pytest

from lab import facts
from tests.lab.conftest import LabHandle

PATHS = (
    "/platformcom/api/v1/certmgr/config/identity/certificates",  # REST
    "/controlcenterservice2/services/ControlCenterServices?wsdl",  # SOAP
    "/nosuchapp/",  # the web server's own 404
)


async def raw_http(lab: LabHandle, host: str, path: str, authorization: str = "") -> bytes:
    """The status line and headers of a GET, exactly as they came over TLS."""
    ep = lab.endpoint(host)
    reader, writer = await asyncio.open_connection(
        ep.host, ep.https_port, ssl=ep.ssl_context(), server_hostname=ep.fqdn
    )
    try:
        auth = f"Authorization: {authorization}\r\n" if authorization else ""
        writer.write(
            f"GET {path} HTTP/1.1\r\nHost: {ep.fqdn}\r\n{auth}Connection: close\r\n\r\n".encode()
        )
        await writer.drain()
        return await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    finally:
        writer.close()


def basic(lab: LabHandle, account: str) -> str:
    auth = getattr(lab, account)
    return "Basic " + base64.b64encode(f"{auth.username}:{auth.password}".encode()).decode()


@pytest.mark.parametrize("path", PATHS)
async def test_http_replies_carry_no_library_server_header(lab: LabHandle, path: str) -> None:
    for authorization in ("", basic(lab, "os_admin"), basic(lab, "app_user")):
        head = (await raw_http(lab, "cucm-sub1", path, authorization)).decode("latin-1")
        headers = [line.lower() for line in head.split("\r\n")[1:] if line]
        server = [h for h in headers if h.startswith("server:")]
        if facts.HTTP_SERVER_HEADER is None:
            assert server == [], head
        else:
            assert server == [f"server: {facts.HTTP_SERVER_HEADER.lower()}"]
        assert "aiohttp" not in head.lower() and "python" not in head.lower()


async def test_ssh_identification_is_openssh(lab: LabHandle) -> None:
    ep = lab.endpoint("imp-pub")
    reader, writer = await asyncio.open_connection(ep.host, ep.ssh_port)
    try:
        line = await asyncio.wait_for(reader.readuntil(b"\r\n"), 5)
    finally:
        writer.close()
    assert line == f"SSH-2.0-{facts.SSH_SERVER_VERSION}\r\n".encode()
    assert facts.SSH_SERVER_VERSION.startswith("OpenSSH_")
    async with lab.ssh("imp-pub") as conn:
        assert conn.get_extra_info("server_version") == f"SSH-2.0-{facts.SSH_SERVER_VERSION}"
