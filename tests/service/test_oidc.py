"""OpenID Connect sign-in (authorization code + PKCE) against a local provider
(oidc-provider-mock on loopback, in a thread); groups from the configured claim."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from oidc_provider_mock import User
from oidc_provider_mock import app as provider_app
from werkzeug.serving import make_server

from service.app import create_app
from service.settings import ServiceSettings
from tests.service.conftest import asgi_client

OLIVIA = User(
    sub="olivia-sub-1",
    claims={
        "preferred_username": "olivia",
        "name": "Olivia Oidc",
        "email": "olivia@example.com",
        "roles": ["change-board", "voice-engineers"],
    },
)


@pytest.fixture(scope="module")
def issuer() -> Iterator[str]:
    # On 127.0.0.1 explicitly (the package's own helper binds whatever "localhost" is).
    server = make_server("127.0.0.1", 0, provider_app(user_claims=[OLIVIA]), threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join()
        server.server_close()


@pytest.fixture
def oidc_settings(
    issuer: str, make_settings: Callable[..., ServiceSettings], monkeypatch: pytest.MonkeyPatch
) -> ServiceSettings:
    monkeypatch.setenv("UCRENEW_TEST_OIDC_SECRET", "client-secret-from-a-reference")
    return make_settings(
        users_file=None,
        oidc_issuer=issuer,
        oidc_client_id="ucrenew-dashboard",
        oidc_client_secret_ref="env:UCRENEW_TEST_OIDC_SECRET",
        oidc_groups_claim="roles",
    )


async def _authorize(issuer: str, location: str, sub: str) -> str:
    """Play the person at the provider: pick ``sub``; returns the redirect to the service."""
    assert location.startswith(issuer + "/oauth2/authorize")
    query = parse_qs(urlsplit(location).query)
    assert query["code_challenge_method"] == ["S256"] and query["code_challenge"]
    async with httpx.AsyncClient() as browser:
        answer = await browser.post(location, data={"sub": sub})
    assert answer.status_code == 302, answer.text
    return answer.headers["location"]


async def test_oidc_sign_in_with_pkce_and_groups_from_the_claim(
    issuer: str, oidc_settings: ServiceSettings
) -> None:
    app = create_app(oidc_settings)
    async with asgi_client(app) as web:
        page = await web.get("/login")
        assert 'id="oidc-sign-in"' in page.text and 'name="password"' not in page.text
        start = await web.get("/auth/oidc/login", params={"next": "/account"})
        assert start.status_code == 302
        back = await _authorize(issuer, start.headers["location"], "olivia-sub-1")
        callback = urlsplit(back)
        assert callback.path == "/auth/oidc/callback"
        done = await web.get(f"{callback.path}?{callback.query}")
        assert done.status_code == 303 and done.headers["location"] == "/account"
        me = (await web.get("/api/v1/me")).json()
    assert me == {
        "name": "olivia",
        "display_name": "Olivia Oidc",
        "groups": ["change-board", "voice-engineers"],
        "via": "oidc",
    }


async def test_a_forged_callback_does_not_sign_anyone_in(
    issuer: str, oidc_settings: ServiceSettings
) -> None:
    app = create_app(oidc_settings)
    async with asgi_client(app) as web:
        await web.get("/auth/oidc/login")
        r = await web.get("/auth/oidc/callback", params={"code": "made-up", "state": "nope"})
        assert r.status_code == 401 and "Sign-in refused" in r.text
        assert (await web.get("/api/v1/me")).status_code == 401


async def test_a_missing_client_secret_is_a_clear_configuration_error(
    issuer: str, make_settings: Callable[..., ServiceSettings]
) -> None:
    from service.app import ServiceConfigError

    settings = make_settings(
        oidc_issuer=issuer,
        oidc_client_id="ucrenew-dashboard",
        oidc_client_secret_ref="env:UCRENEW_TEST_NO_SUCH_SECRET",
    )
    with pytest.raises(ServiceConfigError, match="UCRENEW_TEST_NO_SUCH_SECRET is not set"):
        create_app(settings)
