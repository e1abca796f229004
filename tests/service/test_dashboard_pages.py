"""The dashboard's pages before the service reaches Temporal: signing in first, pages that
say what is missing instead of failing, its static files, and the read API's error shape."""

from __future__ import annotations

import httpx
import pytest

from service.dashboard.router import NOT_CONNECTED
from tests.service.conftest import sign_in


async def test_pages_need_a_signed_in_person(web: httpx.AsyncClient) -> None:
    web.cookies.clear()
    for path in ("/", "/renewals/CHG1", "/fleet"):
        response = await web.get(path, follow_redirects=False)
        assert response.status_code in (302, 303, 307), path
        assert response.headers["location"].startswith("/login?next="), path
    refused = await web.get("/api/v1/events")
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "not-signed-in"


async def test_pages_say_the_service_is_not_connected_yet(web: httpx.AsyncClient) -> None:
    web.cookies.clear()
    await sign_in(web, "requester")
    listing = await web.get("/")
    assert listing.status_code == 200
    assert NOT_CONNECTED in listing.text
    assert '<meta name="csrf-token" content="' in listing.text
    assert '<label for="f-waiting_on">Waiting on</label>' in listing.text
    assert '<th scope="col">Deadline</th>' in listing.text
    page = await web.get("/renewals/CHG0031337")
    assert page.status_code == 503 and NOT_CONNECTED in page.text
    fleet = await web.get("/fleet")
    assert fleet.status_code == 200 and NOT_CONNECTED in fleet.text
    api = await web.get("/api/v1/renewals", params={"cluster": "lab"})
    assert api.status_code == 503
    assert api.json()["error"]["code"] == "temporal-unavailable"


async def test_the_static_files_are_served_from_the_package(web: httpx.AsyncClient) -> None:
    script = await web.get("/static/dashboard/dashboard.js")
    assert script.status_code == 200
    assert script.headers["content-type"].startswith("text/javascript")
    assert "X-CSRF-Token" in script.text
    style = await web.get("/static/dashboard/dashboard.css")
    assert style.status_code == 200 and style.headers["content-type"].startswith("text/css")
    missing = await web.get("/static/dashboard/../app.py")
    assert missing.status_code == 404


async def test_a_bad_setting_is_named(
    web: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UCRENEW_DASHBOARD_REFRESH_SECONDS", "-1")
    web.cookies.clear()
    await sign_in(web, "requester")
    response = await web.get("/")
    assert response.status_code == 503
    error = response.json()["error"]
    assert error["code"] == "dashboard-settings"
    assert "UCRENEW_DASHBOARD_REFRESH_SECONDS" in error["message"]
