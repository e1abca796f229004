"""OpenID Connect sign-in (authorization code with PKCE) through authlib."""

from __future__ import annotations

from typing import Any

from authlib.integrations.starlette_client import OAuth

from activities.clients.secrets import SecretRefError, resolve_secret_ref
from service.principal import Principal
from service.settings import ServiceSettings

__all__ = ["OidcError", "build_oauth", "principal_from_claims"]


class OidcError(ValueError):
    """The identity provider's answer cannot sign anyone in."""


def build_oauth(settings: ServiceSettings) -> OAuth:
    """An authlib registry with the ``oidc`` client of the configured issuer.

    Raises:
        ValueError: The client secret reference cannot be resolved (message names the
            reference only).
    """
    assert settings.oidc_issuer and settings.oidc_client_id
    secret: str | None = None
    if settings.oidc_client_secret_ref:
        try:
            secret = resolve_secret_ref(settings.oidc_client_secret_ref)
        except SecretRefError as err:
            from service.app import ServiceConfigError

            raise ServiceConfigError(f"OIDC client secret: {err}") from None
    oauth = OAuth()
    issuer = settings.oidc_issuer.rstrip("/")
    oauth.register(
        name="oidc",
        client_id=settings.oidc_client_id,
        client_secret=secret,
        server_metadata_url=f"{issuer}/.well-known/openid-configuration",
        code_challenge_method="S256",
        client_kwargs={"scope": settings.oidc_scopes},
    )
    return oauth


def principal_from_claims(claims: dict[str, Any], settings: ServiceSettings) -> Principal:
    """The person the ID token (and userinfo) names, with groups from the configured claim.

    Raises:
        OidcError: No usable name in the claims.
    """
    name = claims.get(settings.oidc_name_claim) or claims.get("sub")
    if not isinstance(name, str) or not name.strip():
        raise OidcError("the identity provider's answer names nobody (no sub claim)")
    raw = claims.get(settings.oidc_groups_claim, [])
    if isinstance(raw, str):
        groups = [g.strip() for g in raw.split(",") if g.strip()]
    elif isinstance(raw, list):
        groups = [str(g) for g in raw]
    else:
        groups = []
    display = claims.get("name") or claims.get("email") or ""
    return Principal(name=name.strip(), groups=groups, display_name=str(display), via="oidc")
