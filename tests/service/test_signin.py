"""Signing in with the local users file: sessions, the same answer for every failure,
throttling, CSRF, and pages that need a signed-in person."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from service.app import create_app
from service.settings import ServiceSettings
from tests.service.conftest import asgi_client, page_csrf, sign_in


async def test_a_local_user_signs_in_and_the_session_cookie_is_httponly_and_lax(
    web: httpx.AsyncClient,
) -> None:
    form = await web.get("/login")
    response = await web.post(
        "/login",
        data={
            "username": "approver1",
            "password": "approver1-password-1",
            "csrf": page_csrf(form.text),
            "next": "/account",
        },
    )
    assert response.status_code == 303 and response.headers["location"] == "/account"
    cookie = response.headers["set-cookie"].lower()
    assert "ucrenew_session=" in cookie and "httponly" in cookie and "samesite=lax" in cookie
    me = (await web.get("/api/v1/me")).json()
    assert me == {
        "name": "approver1",
        "display_name": "Approver1",
        "groups": ["change-board"],
        "via": "password",
    }


async def test_wrong_user_and_wrong_password_get_the_same_answer(web: httpx.AsyncClient) -> None:
    csrf = page_csrf((await web.get("/login")).text)
    answers = []
    for user, password in (("approver1", "not-the-password"), ("nobody", "approver1-password-1")):
        r = await web.post(
            "/login", data={"username": user, "password": password, "csrf": csrf, "next": "/"}
        )
        answers.append((r.status_code, "unknown user name or wrong password" in r.text))
    assert answers == [(401, True), (401, True)]
    assert (await web.get("/api/v1/me")).status_code == 401


async def test_repeated_failures_are_throttled_even_with_the_right_password(
    make_settings: Callable[..., ServiceSettings],
) -> None:
    app = create_app(make_settings(login_max_failures=3))
    async with asgi_client(app) as client:
        for _ in range(3):
            r = await client.post(
                "/api/v1/tokens", json={"username": "outsider", "password": "wrong-password-x"}
            )
            assert r.status_code == 401
        r = await client.post(
            "/api/v1/tokens", json={"username": "outsider", "password": "outsider-password-1"}
        )
        assert r.status_code == 429 and r.json()["error"]["code"] == "too-many-attempts"
    # Another client address is not locked out by these failures.
    async with asgi_client(app, "127.0.0.9") as other:
        r = await other.post(
            "/api/v1/tokens", json={"username": "outsider", "password": "outsider-password-1"}
        )
        assert r.status_code == 200


async def test_a_login_form_without_its_csrf_token_is_refused(web: httpx.AsyncClient) -> None:
    await web.get("/login")
    r = await web.post(
        "/login",
        data={"username": "approver1", "password": "approver1-password-1", "csrf": "forged"},
    )
    assert r.status_code == 403
    assert (await web.get("/api/v1/me")).status_code == 401


async def test_state_changing_api_calls_from_a_session_need_the_csrf_header(
    web: httpx.AsyncClient,
) -> None:
    csrf = await sign_in(web, "approver1")
    refused = await web.post("/api/v1/tokens", json={})
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "csrf"
    accepted = await web.post("/api/v1/tokens", json={}, headers={"X-CSRF-Token": csrf})
    assert accepted.status_code == 200 and accepted.json()["name"] == "approver1"


async def test_pages_send_strangers_to_the_login_page_and_only_back_to_local_paths(
    web: httpx.AsyncClient,
) -> None:
    r = await web.get("/account")
    assert r.status_code == 303 and r.headers["location"] == "/login?next=/account"
    api = await web.get("/api/v1/me")
    assert api.status_code == 401 and api.json()["error"]["code"] == "not-signed-in"
    csrf = page_csrf((await web.get("/login")).text)
    r = await web.post(
        "/login",
        data={
            "username": "requester",
            "password": "requester-password-1",
            "csrf": csrf,
            "next": "//evil.example.com/",
        },
    )
    assert r.status_code == 303 and r.headers["location"] == "/"


async def test_signing_out_ends_the_session(web: httpx.AsyncClient) -> None:
    await sign_in(web, "requester")
    assert (await web.get("/api/v1/me")).status_code == 200
    await web.post("/logout")
    assert (await web.get("/api/v1/me")).status_code == 401


async def test_the_account_page_makes_a_token_shown_once(web: httpx.AsyncClient) -> None:
    csrf = await sign_in(web, "pki-admin")
    page = await web.post("/account/token", data={"csrf": csrf, "days": "3"})
    assert page.status_code == 200 and 'id="api-token"' in page.text
    token = page.text.split('id="api-token">', 1)[1].split("<", 1)[0]
    async with asgi_client(web._transport.app) as cli:  # type: ignore[attr-defined]
        me = await cli.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.json()["name"] == "pki-admin" and me.json()["via"] == "token"
    assert 'id="api-token"' not in (await web.get("/account")).text
