"""The login pages of a lab node's web applications on 8443 (the procedure's last step).

Cisco's tech note 118731 ends with browsing ``https://<fqdn>:8443/ccmadmin`` on each node. The
lab serves the applications' login pages (``/cmplatform`` posts ``j_username``/``j_password``
to ``j_security_check`` like the public scripts that log in to it), closed with the rest of
8443 while Cisco Tomcat restarts.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from lab.faults import Fault
from lab.server import Lab
from lab.timing import FAST, ServiceTiming
from tests.lab.conftest import LabHandle, lab_spec

TOMCAT = "Cisco Tomcat"


def web(lab: LabHandle, host: str) -> httpx.AsyncClient:
    """An HTTPS client of a node's 8443 that trusts the lab's certificates."""
    ep = lab.endpoint(host)
    return httpx.AsyncClient(
        base_url=f"https://{ep.host}:{ep.https_port}",
        verify=ep.ssl_context(),
        headers={"Host": f"{ep.fqdn}:{ep.https_port}"},
        timeout=5,
    )


async def get(client: httpx.AsyncClient, host: str, path: str) -> httpx.Response:
    return await client.get(path, extensions={"sni_hostname": f"{host}.lab.example.com"})


@pytest.mark.parametrize(
    ("host", "apps", "absent"),
    [
        ("cucm-sub1", ("ccmadmin", "cmplatform", "ccmservice"), "cupadmin"),
        ("imp-pub", ("cupadmin", "cmplatform", "ccmservice"), "ccmadmin"),
    ],
)
async def test_each_application_redirects_to_its_login_page(
    lab: LabHandle, host: str, apps: tuple[str, ...], absent: str
) -> None:
    texts = {}
    async with web(lab, host) as client:
        for app in apps:
            first = await get(client, host, f"/{app}")
            assert first.status_code == 302 and first.headers["location"] == f"/{app}/"
            second = await get(client, host, f"/{app}/")
            assert second.status_code == 302
            assert second.headers["location"] == f"/{app}/showHome.do"
            page = await get(client, host, second.headers["location"])
            assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
            text = page.text
            assert "<title>" in text
            assert f'action="/{app}/j_security_check"' in text
            assert 'name="j_username"' in text and 'name="j_password"' in text
            assert f'name="appNav" value="{app}"' in text
            texts[app] = text
        assert (await get(client, host, f"/{absent}/")).status_code == 404
    admin = "Cisco Unified CM Console" if host.startswith("cucm") else "IM and Presence"
    assert admin in texts[apps[0]]


async def test_a_webapp_down_fault_makes_tomcat_answer_404(lab: LabHandle) -> None:
    await lab.lab.add_fault(Fault(kind="webapp-down", node="cucm-sub2", target="ccmadmin"))
    async with web(lab, "cucm-sub2") as client:
        gone = await get(client, "cucm-sub2", "/ccmadmin/")
        others = await get(client, "cucm-sub2", "/cmplatform/showHome.do")
    async with web(lab, "cucm-sub1") as client:
        elsewhere = await get(client, "cucm-sub1", "/ccmadmin/showHome.do")
    assert gone.status_code == 404 and "HTTP Status 404" in gone.text
    assert others.status_code == 200 and elsewhere.status_code == 200


@pytest.fixture
async def slow_tomcat_lab(tmp_path: Path) -> AsyncIterator[LabHandle]:
    timing = FAST.model_copy(
        update={"services": {TOMCAT: ServiceTiming(stopping=0.3, starting=0.3)}}
    )
    async with Lab(lab_spec(), tmp_path / "lab", timing) as running:
        yield LabHandle(running)


async def test_the_login_page_is_gone_while_tomcat_restarts(slow_tomcat_lab: LabHandle) -> None:
    lab = slow_tomcat_lab
    node = lab.lab.cluster.node("cucm-sub1")
    svc = lab.lab.cluster.control(node, TOMCAT, "restart", "test")
    deadline = time.monotonic() + 5
    while svc.status not in ("Stopped", "Starting"):
        assert time.monotonic() < deadline
        await asyncio.sleep(0.005)
    async with web(lab, "cucm-sub1") as client:
        with pytest.raises(httpx.ConnectError):
            await get(client, "cucm-sub1", "/ccmadmin/showHome.do")
    assert svc.task is not None
    await svc.task
    async with web(lab, "cucm-sub1") as client:
        back = await get(client, "cucm-sub1", "/ccmadmin/showHome.do")
    assert back.status_code == 200 and "j_security_check" in back.text
