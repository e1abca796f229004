"""Sign-in and tokens: ``/login``, ``/logout``, OIDC, ``/account``, ``/api/v1/me`` and
``/api/v1/tokens``."""

from __future__ import annotations

import asyncio
import logging
import math
import secrets
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, Field

from service.deps import (
    api_principal,
    check_csrf,
    page_principal,
    service_settings,
    session_key,
    sign_in,
    sign_out,
)
from service.errors import ApiError
from service.principal import Principal
from service.templating import templates
from service.tokens import IssuedToken, issue_token
from service.users import UsersFileError, load_users

__all__ = ["MeResponse", "TokenRequest", "TokenResponse", "check_password", "router", "safe_next"]

log = logging.getLogger("ucrenew.service.auth")

router = APIRouter()

_NEXT_KEY = "oidc_next"


def safe_next(target: str | None) -> str:
    """A local path to go to after sign-in; anything else (another site) goes home."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def _client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _login_page(request: Request, next_path: str, error: str = "", status: int = 200) -> Response:
    settings = service_settings(request)
    return templates.TemplateResponse(
        request,
        "auth/login.html",
        {
            "next": safe_next(next_path),
            "error": error,
            "password_enabled": settings.users_file is not None,
            "oidc_enabled": settings.oidc_enabled,
        },
        status_code=status,
    )


async def check_password(request: Request, username: str, password: str) -> Principal:
    """Sign a local user in by password, throttled per user name and client address.

    Raises:
        ApiError: 401 ``bad-credentials`` (the same for an unknown user and a wrong password),
            429 ``too-many-attempts``, 503 when no users file is configured or it is broken.
    """
    settings = service_settings(request)
    if settings.users_file is None:
        raise ApiError(
            401, "password-sign-in-off", "password sign-in is not configured on this service"
        )
    throttle = request.app.state.throttle
    client = _client_address(request)
    wait = throttle.retry_after(username, client)
    if wait > 0:
        raise ApiError(
            429,
            "too-many-attempts",
            f"too many failed sign-ins: try again in {math.ceil(wait)} seconds",
        )
    try:
        users = load_users(settings.users_file)
    except UsersFileError as err:
        log.error("%s", err)
        raise ApiError(
            503, "users-file", "the service's users file is broken; see its log"
        ) from None
    # Counted before the check, so that guesses sent at once are all counted; a success
    # clears the count. argon2id takes a good part of a second on purpose: off the loop.
    throttle.failed(username, client)
    principal = await asyncio.to_thread(users.authenticate, username, password)
    if principal is None:
        log.warning("failed sign-in for %r from %s", username, client)
        raise ApiError(401, "bad-credentials", "unknown user name or wrong password")
    throttle.succeeded(username, client)
    return principal


@router.get("/login", response_class=HTMLResponse, include_in_schema=False)
async def login_page(request: Request, next: str = "/") -> Response:
    """The sign-in page (password form and/or the company's identity provider)."""
    return _login_page(request, next)


@router.post("/login", include_in_schema=False)
async def login_submit(
    request: Request,
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    csrf: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
) -> Response:
    """Check the password form; on success start the session and go to ``next``."""
    want = request.session.get("csrf")
    if not want or not secrets.compare_digest(str(want), csrf):
        return _login_page(request, next, "The form expired: sign in again.", 403)
    try:
        principal = await check_password(request, username, password)
    except ApiError as err:
        return _login_page(request, next, err.message, err.status)
    sign_in(request, principal)
    log.info("%s signed in (password)", principal.name)
    return RedirectResponse(safe_next(next), status_code=303)


@router.api_route("/logout", methods=["GET", "POST"], include_in_schema=False)
async def logout(request: Request) -> Response:
    """End the session."""
    sign_out(request)
    return RedirectResponse("/login", status_code=303)


@router.get("/auth/oidc/login", include_in_schema=False)
async def oidc_login(request: Request, next: str = "/") -> Response:
    """Send the browser to the identity provider (authorization code with PKCE)."""
    oauth = request.app.state.oauth
    if oauth is None:
        return _login_page(request, next, "OpenID Connect sign-in is not configured.", 404)
    request.session[_NEXT_KEY] = safe_next(next)
    redirect_uri = f"{service_settings(request).base_url}/auth/oidc/callback"
    try:
        response: Response = await oauth.oidc.authorize_redirect(request, redirect_uri)
    except Exception as err:  # discovery: network or provider errors of any kind
        log.error("OIDC discovery failed: %s", err)
        return _login_page(
            request, next, "The identity provider does not answer; try again later.", 502
        )
    return response


@router.get("/auth/oidc/callback", include_in_schema=False)
async def oidc_callback(request: Request) -> Response:
    """The identity provider's answer: check it, read name and groups, start the session."""
    from authlib.integrations.base_client.errors import OAuthError

    from service.oidc import OidcError, principal_from_claims

    oauth = request.app.state.oauth
    next_path = safe_next(request.session.pop(_NEXT_KEY, "/"))
    if oauth is None:
        return _login_page(request, next_path, "OpenID Connect sign-in is not configured.", 404)
    settings = service_settings(request)
    try:
        token: dict[str, Any] = await oauth.oidc.authorize_access_token(request)
        claims: dict[str, Any] = dict(token.get("userinfo") or {})
        if settings.oidc_groups_claim not in claims:
            claims.update(await oauth.oidc.userinfo(token=token))
        principal = principal_from_claims(claims, settings)
    except (OAuthError, OidcError) as err:
        log.warning("OIDC sign-in refused: %s", err)
        return _login_page(request, next_path, f"Sign-in refused: {err}", 401)
    sign_in(request, principal)
    log.info("%s signed in (oidc)", principal.name)
    return RedirectResponse(next_path, status_code=303)


def _account_page(request: Request, principal: Principal, **extra: object) -> Response:
    settings = service_settings(request)
    return templates.TemplateResponse(
        request,
        "auth/account.html",
        {
            "principal": principal,
            "base_url": settings.base_url,
            "default_days": max(1, settings.token_ttl_seconds // 86400),
            "max_days": max(1, settings.token_max_ttl_seconds // 86400),
            "token": None,
            **extra,
        },
    )


@router.get("/account", response_class=HTMLResponse, include_in_schema=False)
async def account(
    request: Request, principal: Annotated[Principal, Depends(page_principal)]
) -> Response:
    """Who you are signed in as, and an API token for the CLI."""
    return _account_page(request, principal)


@router.post("/account/token", response_class=HTMLResponse, include_in_schema=False)
async def account_token(
    request: Request,
    principal: Annotated[Principal, Depends(page_principal)],
    csrf: Annotated[str, Form()] = "",
    days: Annotated[int, Form()] = 7,
) -> Response:
    """Make an API token for the signed-in person and show it once."""
    check_csrf(request, csrf)
    issued = _issue(request, principal, days * 86400)
    expires = datetime.fromtimestamp(issued.expires_at, UTC).isoformat(timespec="minutes")
    return _account_page(request, principal, token=issued.token, expires=expires)


class MeResponse(BaseModel):
    """The signed-in person."""

    name: str
    display_name: str
    groups: list[str]
    via: str


@router.get("/api/v1/me")
async def me(principal: Annotated[Principal, Depends(api_principal)]) -> MeResponse:
    """Who this request is signed in as."""
    return MeResponse(
        name=principal.name,
        display_name=principal.display_name,
        groups=principal.groups,
        via=principal.via,
    )


class TokenRequest(BaseModel):
    """Ask for an API token: signed in already, or with a local user's credentials."""

    username: str | None = None
    password: str | None = Field(default=None, repr=False)
    ttl_seconds: int | None = Field(default=None, gt=0)


class TokenResponse(BaseModel):
    """A new API token (``Authorization: Bearer <token>``)."""

    token: str
    expires_at: datetime
    name: str
    groups: list[str]


def _issue(request: Request, principal: Principal, ttl: int | None) -> IssuedToken:
    settings = service_settings(request)
    lifetime = min(ttl or settings.token_ttl_seconds, settings.token_max_ttl_seconds)
    issued = issue_token(session_key(request), principal, lifetime)
    log.info("API token issued to %s until %s", principal.name, issued.expires_at)
    return issued


@router.post("/api/v1/tokens")
async def create_token(request: Request, body: TokenRequest | None = None) -> TokenResponse:
    """An expiring API token for the signed-in person, or for a local user whose name and
    password the body carries (``ucrenew login``)."""
    body = body or TokenRequest()
    if body.username is not None or body.password is not None:
        principal = await check_password(request, body.username or "", body.password or "")
    else:
        principal = api_principal(request)
        if principal.via == "token":
            raise ApiError(
                403,
                "token-from-token",
                "a token cannot make another token: sign in (or give a local user's password)",
            )
    issued = _issue(request, principal, body.ttl_seconds)
    return TokenResponse(
        token=issued.token,
        expires_at=datetime.fromtimestamp(issued.expires_at, UTC),
        name=principal.name,
        groups=principal.groups,
    )
