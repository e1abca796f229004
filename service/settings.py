"""Settings of the ucrenew service, read from ``UCRENEW_SERVICE_*`` variables."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Self
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from activities.clients.links import renewal_link
from activities.clients.secrets import SecretRef
from workers.settings import UcrenewSettings

__all__ = ["ServiceSettings", "parse_listen"]


def parse_listen(listen: str) -> tuple[str, int]:
    """Split ``host:port`` (IPv6 in brackets) into host and port.

    Raises:
        ValueError: No numeric port in range.
    """
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"listen address {listen!r} is not host:port (e.g. 127.0.0.1:8480)")
    return host.strip("[]") or "127.0.0.1", int(port)


def _origin(entry: str) -> str:
    """A browser origin (``scheme://host[:port]``), as the ``Origin`` header spells it."""
    parts = urlsplit(entry.strip())
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
        or parts.username
    ):
        raise ValueError(
            f"codec CORS origin {entry!r} is not an origin: give scheme://host[:port] of the "
            "Temporal UI, e.g. https://temporal.example.net (no path, no wildcard)"
        )
    return f"{parts.scheme}://{parts.netloc}".lower()


class ServiceSettings(BaseSettings):
    """How the service listens, who may sign in, and how it reaches Temporal.

    Every field can be set through ``UCRENEW_SERVICE_<FIELD>``; Temporal's address, namespace
    and the codec keys come from the ``UCRENEW_*`` settings shared with the workers and the
    CLI (``ucrenew``). Secrets are references only (``env:NAME`` / ``file:PATH``).

    Attributes:
        listen: ``host:port`` the service binds.
        base_url: Public URL of the service, used in links (notifications, CLI output); by
            default ``http://<listen>``.
        users_file: The local users file (YAML; ``ucrenew users add``); no password sign-in
            when unset.
        oidc_issuer: OpenID Connect issuer URL; no OIDC sign-in when unset.
        oidc_client_id: The service's client id at the issuer.
        oidc_client_secret_ref: Reference to the client secret (confidential client).
        oidc_groups_claim: The ID token / userinfo claim that lists the person's groups.
        oidc_name_claim: The claim that names the person (falls back to ``sub``).
        oidc_scopes: Scopes requested at sign-in.
        proxy_user_header: Trusted reverse-proxy mode: the header carrying the user name
            (e.g. ``X-Forwarded-User``); off when unset.
        proxy_groups_header: The header carrying the groups, comma separated.
        trusted_proxies: Addresses or networks (CIDR) of the proxies whose headers are
            believed; a request carrying the user header from anywhere else is refused.
        session_key: Reference to the key that signs session cookies and API tokens; rotating
            it signs everyone out and revokes every token.
        session_max_age_seconds: How long a browser session lasts.
        token_ttl_seconds: Default lifetime of an API token.
        token_max_ttl_seconds: The longest lifetime a token may be issued with.
        login_max_failures: Failed password sign-ins per user and client address before
            further attempts are refused for ``login_lockout_seconds``.
        login_lockout_seconds: How long those attempts are refused.
        codec_readers: Groups whose members may use the codec endpoint (``/codec/decode``
            and ``/codec/encode``): read the renewals' encrypted payloads in the Temporal UI.
            Nobody may when empty.
        codec_cors_origins: Origins of the Temporal UI (e.g. ``https://temporal.example.net``)
            allowed to call the codec endpoint from the browser, with credentials; no other
            origin gets CORS headers.
        ucrenew: Temporal address, namespace, inventory and codec keys (``UCRENEW_*``).
    """

    # hide_input_in_errors: a literal pasted where a reference belongs must not be echoed.
    model_config = SettingsConfigDict(
        env_prefix="UCRENEW_SERVICE_", frozen=True, extra="forbid", hide_input_in_errors=True
    )

    listen: str = "127.0.0.1:8480"
    base_url: str = ""
    users_file: Path | None = None
    oidc_issuer: str | None = None
    oidc_client_id: str | None = None
    oidc_client_secret_ref: SecretRef | None = None
    oidc_groups_claim: str = "groups"
    oidc_name_claim: str = "preferred_username"
    oidc_scopes: str = "openid profile email"
    proxy_user_header: str | None = None
    proxy_groups_header: str = "X-Forwarded-Groups"
    trusted_proxies: list[str] = Field(default_factory=list)
    session_key: SecretRef | None = None
    session_max_age_seconds: int = Field(default=8 * 3600, gt=0)
    token_ttl_seconds: int = Field(default=7 * 86400, gt=0)
    token_max_ttl_seconds: int = Field(default=90 * 86400, gt=0)
    login_max_failures: int = Field(default=5, ge=1)
    login_lockout_seconds: float = Field(default=300.0, gt=0)
    codec_readers: list[str] = Field(default_factory=list)
    codec_cors_origins: list[str] = Field(default_factory=list)
    ucrenew: UcrenewSettings = Field(default_factory=UcrenewSettings)

    @field_validator("listen")
    @classmethod
    def _check_listen(cls, value: str) -> str:
        parse_listen(value)
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _check_proxies(cls, value: list[str]) -> list[str]:
        for entry in value:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(
                    f"trusted proxy {entry!r} is not an address or network (CIDR)"
                ) from None
        return value

    @field_validator("codec_cors_origins")
    @classmethod
    def _check_origins(cls, value: list[str]) -> list[str]:
        return [_origin(entry) for entry in value]

    @model_validator(mode="after")
    def _defaults(self) -> Self:
        if not self.base_url:
            host, port = parse_listen(self.listen)
            shown = f"[{host}]" if ":" in host else host
            # frozen model: set the derived default without going through __setattr__
            object.__setattr__(self, "base_url", f"http://{shown}:{port}")
        object.__setattr__(self, "base_url", self.base_url.rstrip("/"))
        if self.oidc_issuer and not self.oidc_client_id:
            raise ValueError("oidc_issuer is set but oidc_client_id is not")
        return self

    @property
    def oidc_enabled(self) -> bool:
        """Whether OpenID Connect sign-in is configured."""
        return bool(self.oidc_issuer and self.oidc_client_id)

    @property
    def secure_cookies(self) -> bool:
        """Cookies only over HTTPS when the public URL is HTTPS."""
        return self.base_url.startswith("https://")

    def renewal_url(self, change_id: str) -> str:
        """The renewal page's link, for notifications and CLI output."""
        return renewal_link(self.base_url, change_id)
