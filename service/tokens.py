"""API tokens for the CLI and integrations: expiring, HMAC-signed, carrying the principal.

A token is ``ucrenew1.<payload>.<signature>``: the payload is base64url JSON with the name,
groups, display name, how the person originally signed in, and issue and expiry times; the
signature is HMAC-SHA256 under a key derived from the session key (so a token and a session
cookie can never stand in for each other). Rotating the session key revokes every token.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass

from service.principal import Principal

__all__ = ["PREFIX", "IssuedToken", "TokenError", "issue_token", "verify_token"]

PREFIX = "ucrenew1"
_CONTEXT = b"ucrenew api token v1"


class TokenError(ValueError):
    """A token that is malformed, not signed with the current key, or expired."""


@dataclass(frozen=True)
class IssuedToken:
    """A new token and when it expires (Unix seconds)."""

    token: str
    expires_at: int


def _key(session_key: str) -> bytes:
    return hmac.new(session_key.encode(), _CONTEXT, hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def issue_token(
    session_key: str, principal: Principal, ttl_seconds: int, now: float | None = None
) -> IssuedToken:
    """Sign a token for ``principal`` valid for ``ttl_seconds``."""
    issued = int(time.time() if now is None else now)
    claims = {
        "sub": principal.name,
        "groups": principal.groups,
        "name": principal.display_name,
        "via": principal.via,
        "iat": issued,
        "exp": issued + ttl_seconds,
    }
    payload = _b64(json.dumps(claims, separators=(",", ":"), sort_keys=True).encode())
    signed = f"{PREFIX}.{payload}"
    sig = _b64(hmac.new(_key(session_key), signed.encode(), hashlib.sha256).digest())
    return IssuedToken(token=f"{signed}.{sig}", expires_at=issued + ttl_seconds)


def verify_token(session_key: str, token: str, now: float | None = None) -> Principal:
    """The principal a valid token carries (``via="token"``).

    Raises:
        TokenError: Malformed, bad signature (tampered, or signed with a rotated key), or
            expired; the message says which, never the token.
    """
    parts = token.strip().split(".")
    if len(parts) != 3 or parts[0] != PREFIX:
        raise TokenError("not a ucrenew API token (expected ucrenew1.<payload>.<signature>)")
    signed = f"{parts[0]}.{parts[1]}"
    want = hmac.new(_key(session_key), signed.encode(), hashlib.sha256).digest()
    try:
        got = _unb64(parts[2])
        claims = json.loads(_unb64(parts[1]))
    except (ValueError, UnicodeDecodeError):
        raise TokenError("the API token is malformed") from None
    if not hmac.compare_digest(want, got):
        raise TokenError(
            "the API token's signature does not match (altered, or issued before the service's "
            "key was rotated): get a new token with `ucrenew login`"
        )
    if not isinstance(claims, dict) or not isinstance(claims.get("exp"), int):
        raise TokenError("the API token is malformed")
    if claims["exp"] <= int(time.time() if now is None else now):
        raise TokenError("the API token has expired: get a new one with `ucrenew login`")
    try:
        return Principal(
            name=str(claims["sub"]),
            groups=[str(g) for g in claims.get("groups", [])],
            display_name=str(claims.get("name", "")),
            via="token",
        )
    except (KeyError, ValueError, TypeError):
        raise TokenError("the API token is malformed") from None
