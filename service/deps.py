"""FastAPI dependencies: who is signed in (session cookie, bearer token, trusted proxy), the
CSRF token of a browser session, and the Temporal client."""

from __future__ import annotations

import ipaddress
import secrets
from typing import TYPE_CHECKING

from fastapi import Request

from service.errors import ApiError, LoginRequired
from service.principal import Principal
from service.tokens import TokenError, verify_token

if TYPE_CHECKING:
    from temporalio.client import Client

    from service.settings import ServiceSettings

__all__ = [
    "CSRF_HEADER",
    "api_principal",
    "check_csrf",
    "csrf_token",
    "optional_principal",
    "page_principal",
    "service_settings",
    "session_key",
    "sign_in",
    "sign_out",
    "temporal_client",
]

CSRF_HEADER = "X-CSRF-Token"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_SESSION_PRINCIPAL = "principal"
_SESSION_CSRF = "csrf"


def service_settings(request: Request) -> ServiceSettings:
    """The service's settings."""
    settings: ServiceSettings = request.app.state.settings
    return settings


def session_key(request: Request) -> str:
    """The resolved key that signs sessions and tokens."""
    key: str = request.app.state.session_key
    return key


def temporal_client(request: Request) -> Client:
    """The Temporal client the service connected with.

    Raises:
        ApiError: 503 while the service is not connected to Temporal.
    """
    client: Client | None = getattr(request.app.state, "client", None)
    if client is None:
        raise ApiError(503, "temporal-unavailable", "the service is not connected to Temporal")
    return client


def csrf_token(request: Request) -> str:
    """The browser session's CSRF token (made on first use); pages put it in
    ``<meta name="csrf-token">`` and send it back as the ``X-CSRF-Token`` header."""
    token = request.session.get(_SESSION_CSRF)
    if not isinstance(token, str) or not token:
        token = secrets.token_urlsafe(32)
        request.session[_SESSION_CSRF] = token
    return token


def check_csrf(request: Request, given: str | None) -> None:
    """Refuse a state-changing browser request whose CSRF token is missing or wrong.

    Raises:
        ApiError: 403 ``csrf``.
    """
    want = request.session.get(_SESSION_CSRF)
    if not want or not given or not secrets.compare_digest(str(want), given):
        raise ApiError(
            403,
            "csrf",
            f"missing or wrong {CSRF_HEADER} header: reload the page and try again",
        )


def sign_in(request: Request, principal: Principal) -> None:
    """Start a browser session for ``principal`` (a fresh CSRF token with it)."""
    request.session.clear()
    request.session[_SESSION_PRINCIPAL] = principal.model_dump(mode="json")
    request.session[_SESSION_CSRF] = secrets.token_urlsafe(32)


def sign_out(request: Request) -> None:
    """End the browser session."""
    request.session.clear()


def _from_proxy(request: Request, settings: ServiceSettings) -> Principal | None:
    header = settings.proxy_user_header
    if not header:
        return None
    user = request.headers.get(header, "").strip()
    if not user:
        return None
    host = request.client.host if request.client else ""
    try:
        address = ipaddress.ip_address(host)
        trusted = any(
            address in ipaddress.ip_network(net, strict=False) for net in settings.trusted_proxies
        )
    except ValueError:
        trusted = False
    if not trusted:
        raise ApiError(
            403,
            "untrusted-proxy",
            f"the {header} header is only believed from the configured proxies "
            "(UCRENEW_SERVICE_TRUSTED_PROXIES); this request did not come from one",
        )
    raw_groups = request.headers.get(settings.proxy_groups_header, "")
    groups = [g.strip() for g in raw_groups.split(",") if g.strip()]
    return Principal(name=user, groups=groups, via="proxy")


def _from_bearer(request: Request) -> Principal | None:
    auth = request.headers.get("Authorization", "")
    scheme, _, value = auth.partition(" ")
    if not auth:
        return None
    if scheme.lower() != "bearer" or not value.strip():
        raise ApiError(401, "bad-token", "the Authorization header must be 'Bearer <token>'")
    try:
        return verify_token(session_key(request), value.strip())
    except TokenError as err:
        raise ApiError(401, "bad-token", str(err)) from None


def _from_session(request: Request) -> Principal | None:
    raw = request.session.get(_SESSION_PRINCIPAL)
    if not isinstance(raw, dict):
        return None
    try:
        return Principal.model_validate(raw)
    except ValueError:
        request.session.clear()
        return None


def optional_principal(request: Request) -> Principal | None:
    """Who is signed in, if anyone: a bearer token first, then a trusted proxy's header,
    then the session cookie.

    Raises:
        ApiError: 401 for a bad token, 403 for a user header from an untrusted address.
    """
    return (
        _from_bearer(request)
        or _from_proxy(request, service_settings(request))
        or _from_session(request)
    )


def api_principal(request: Request) -> Principal:
    """The signed-in person of an API request; browser requests that change state must carry
    the session's CSRF token (bearer-token requests need none).

    Raises:
        ApiError: 401 when nobody is signed in or the token is bad, 403 on a CSRF mismatch
            or an untrusted proxy header.
    """
    principal = optional_principal(request)
    if principal is None:
        raise ApiError(
            401,
            "not-signed-in",
            "sign in first: a session from /login, or 'Authorization: Bearer <token>' "
            "(`ucrenew login --server URL`)",
        )
    if request.method not in _SAFE_METHODS and principal.via != "token":
        check_csrf(request, request.headers.get(CSRF_HEADER))
    return principal


def page_principal(request: Request) -> Principal:
    """The signed-in person of a page; redirects to ``/login?next=...`` otherwise.

    Raises:
        LoginRequired: Nobody is signed in (answered with the redirect).
        ApiError: 403 for a user header from an untrusted address.
    """
    try:
        principal = optional_principal(request)
    except ApiError as err:
        if err.status == 401:
            principal = None
        else:
            raise
    if principal is None:
        path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise LoginRequired(path)
    return principal
