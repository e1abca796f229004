"""API tokens: issued to a signed-in person or for a local user's password, expiring,
tamper-evident, revoked by rotating the session key."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable

import httpx
import pytest

from service.app import create_app
from service.principal import Principal
from service.settings import ServiceSettings
from service.tokens import TokenError, issue_token, verify_token
from tests.service.conftest import SESSION_KEY, asgi_client

ALICE = Principal(name="alice", groups=["change-board"], display_name="Alice", via="password")


def test_a_token_carries_the_principal_and_groups() -> None:
    issued = issue_token(SESSION_KEY, ALICE, 60)
    back = verify_token(SESSION_KEY, issued.token)
    assert (back.name, back.groups, back.display_name, back.via) == (
        "alice",
        ["change-board"],
        "Alice",
        "token",
    )


def test_an_expired_token_is_refused() -> None:
    issued = issue_token(SESSION_KEY, ALICE, 60, now=time.time() - 120)
    with pytest.raises(TokenError, match="expired"):
        verify_token(SESSION_KEY, issued.token)


def test_a_tampered_token_is_refused() -> None:
    prefix, payload, sig = issue_token(SESSION_KEY, ALICE, 60).token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["groups"] = ["pki-admins", "change-board"]
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    with pytest.raises(TokenError, match="signature"):
        verify_token(SESSION_KEY, f"{prefix}.{forged}.{sig}")
    with pytest.raises(TokenError, match="not a ucrenew API token"):
        verify_token(SESSION_KEY, "eyJhbGciOi.not.ours")


def test_rotating_the_key_revokes_every_token() -> None:
    issued = issue_token(SESSION_KEY, ALICE, 60)
    with pytest.raises(TokenError, match="rotated"):
        verify_token("another key of the service, after rotation", issued.token)


async def test_the_api_issues_a_token_for_a_local_users_password_and_refuses_bad_ones(
    web: httpx.AsyncClient,
) -> None:
    r = await web.post(
        "/api/v1/tokens",
        json={"username": "approver2", "password": "approver2-password-1", "ttl_seconds": 600},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["name"] == "approver2" and body["groups"] == ["change-board"]
    me = await web.get("/api/v1/me", headers={"Authorization": f"Bearer {body['token']}"})
    assert me.json()["via"] == "token"
    # A token cannot mint another one (it would outlive a revocation by expiry).
    again = await web.post(
        "/api/v1/tokens", json={}, headers={"Authorization": f"Bearer {body['token']}"}
    )
    assert again.status_code == 403 and again.json()["error"]["code"] == "token-from-token"
    wrong = await web.post(
        "/api/v1/tokens", json={"username": "approver2", "password": "approver2-password-2"}
    )
    assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "bad-credentials"
    assert "password" not in wrong.text.replace("wrong password", "")


async def test_expired_and_tampered_bearer_tokens_get_401_with_the_reason(
    web: httpx.AsyncClient,
) -> None:
    expired = issue_token(SESSION_KEY, ALICE, 60, now=time.time() - 3600).token
    r = await web.get("/api/v1/me", headers={"Authorization": f"Bearer {expired}"})
    assert r.status_code == 401 and "expired" in r.json()["error"]["message"]
    assert r.headers["www-authenticate"] == "Bearer"
    good = issue_token(SESSION_KEY, ALICE, 60).token
    r = await web.get("/api/v1/me", headers={"Authorization": f"Bearer {good[:-2]}xx"})
    assert r.status_code == 401 and r.json()["error"]["code"] == "bad-token"
    r = await web.get("/api/v1/me", headers={"Authorization": "Basic YWxpY2U6eA=="})
    assert r.status_code == 401


async def test_token_lifetimes_are_capped(make_settings: Callable[..., ServiceSettings]) -> None:
    app = create_app(make_settings(token_max_ttl_seconds=3600))
    async with asgi_client(app) as client:
        r = await client.post(
            "/api/v1/tokens",
            json={
                "username": "requester",
                "password": "requester-password-1",
                "ttl_seconds": 10**7,
            },
        )
    expires = r.json()["expires_at"]
    from datetime import UTC, datetime

    left = datetime.fromisoformat(expires) - datetime.now(UTC)
    assert left.total_seconds() <= 3600


async def test_actions_answer_503_while_temporal_is_not_connected(web: httpx.AsyncClient) -> None:
    token = issue_token(SESSION_KEY, ALICE, 60).token
    r = await web.post(
        "/api/v1/renewals/CHG1/approve",
        json={"plan_hash": "abc"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert r.status_code == 503 and r.json()["error"]["code"] == "temporal-unavailable"
    # Not signed in comes first: nothing about the renewal is said to a stranger.
    r = await web.post("/api/v1/renewals/CHG1/approve", json={"plan_hash": "abc"})
    assert r.status_code == 401
