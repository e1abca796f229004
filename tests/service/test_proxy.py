"""Trusted reverse-proxy sign-in: the user and groups headers are believed only from the
configured proxies; from anywhere else the request is refused."""

from __future__ import annotations

from collections.abc import Callable

from service.app import create_app
from service.settings import ServiceSettings
from tests.service.conftest import asgi_client

HEADERS = {"X-Forwarded-User": "dana", "X-Forwarded-Groups": "change-board, voice-cab"}


async def test_a_trusted_proxy_signs_the_person_in(
    make_settings: Callable[..., ServiceSettings],
) -> None:
    app = create_app(
        make_settings(proxy_user_header="X-Forwarded-User", trusted_proxies=["10.20.0.0/16"])
    )
    async with asgi_client(app, "10.20.3.4") as client:
        r = await client.get("/api/v1/me", headers=HEADERS)
    assert r.status_code == 200
    assert r.json() == {
        "name": "dana",
        "display_name": "",
        "groups": ["change-board", "voice-cab"],
        "via": "proxy",
    }


async def test_the_header_from_an_untrusted_address_is_refused_not_ignored(
    make_settings: Callable[..., ServiceSettings],
) -> None:
    app = create_app(
        make_settings(proxy_user_header="X-Forwarded-User", trusted_proxies=["10.20.0.0/16"])
    )
    async with asgi_client(app, "192.0.2.7") as client:
        r = await client.get("/api/v1/me", headers=HEADERS)
        assert r.status_code == 403 and r.json()["error"]["code"] == "untrusted-proxy"
        page = await client.get("/account", headers=HEADERS)
        assert page.status_code == 403
        # Without the header, the same address simply is not signed in.
        assert (await client.get("/api/v1/me")).status_code == 401


async def test_proxy_mode_off_never_believes_the_header(
    make_settings: Callable[..., ServiceSettings],
) -> None:
    app = create_app(make_settings())
    async with asgi_client(app, "10.20.3.4") as client:
        r = await client.get("/api/v1/me", headers=HEADERS)
    assert r.status_code == 401


async def test_proxy_sessions_still_need_the_csrf_header_to_act(
    make_settings: Callable[..., ServiceSettings],
) -> None:
    app = create_app(
        make_settings(proxy_user_header="X-Forwarded-User", trusted_proxies=["10.20.3.4"])
    )
    async with asgi_client(app, "10.20.3.4") as client:
        r = await client.post("/api/v1/tokens", json={}, headers=HEADERS)
    assert r.status_code == 403 and r.json()["error"]["code"] == "csrf"
