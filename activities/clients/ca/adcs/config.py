"""The ADCS entry of the inventory's ``cas:`` list, and the client it describes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

from activities.clients.ca.adcs.auth import (
    AdcsAuth,
    AdcsBasicAuth,
    AdcsClientCertAuth,
    AdcsKerberosAuth,
    AdcsNtlmAuth,
)
from activities.clients.ca.adcs.client import AdcsCa
from activities.clients.ca.errors import CaConfigurationError
from activities.clients.secrets import SecretRef

__all__ = ["AdcsAuthConfig", "AdcsCaConfig", "adcs_ca_from_config"]


class AdcsAuthConfig(BaseModel):
    """The ``auth:`` block of an ADCS entry in the inventory's ``cas:`` list.

    Attributes:
        method: ``basic``, ``client_cert``, ``ntlm`` or ``kerberos``.
        username: Account for basic and ntlm.
        password: Secret reference (``env:NAME`` or ``file:PATH``) for basic and ntlm.
        client_cert: PEM client certificate for ``client_cert``.
        client_key: PEM private key file for ``client_cert``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    method: Literal["basic", "client_cert", "ntlm", "kerberos"] = "basic"
    username: str | None = None
    password: SecretRef | None = None
    client_cert: str | None = None
    client_key: str | None = None


class AdcsCaConfig(BaseModel):
    """An ADCS entry of the inventory's ``cas:`` list.

    Attributes:
        name: Name of this CA in the inventory.
        type: Always ``adcs``.
        url: Base URL of the web enrollment pages (``https://ca.example.com/certsrv/``).
        address: Connect here instead of resolving the URL's host (TLS still checks the host).
        template: Template used when the request's profile names none.
        templates: Templates this CA offers (informational).
        ca_file: PEM bundle that the CA's HTTPS certificate chains to; system trust if None.
        timeout: Seconds for each HTTP exchange.
        auth: How to authenticate.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    type: Literal["adcs"] = "adcs"
    url: str
    address: str | None = None
    template: str | None = None
    templates: list[str] = []
    ca_file: str | None = None
    timeout: float = 30.0
    auth: AdcsAuthConfig = AdcsAuthConfig()


def adcs_ca_from_config(
    config: AdcsCaConfig,
    resolve_secret: Callable[[str], str],
    *,
    base_dir: Path | str | None = None,
    method: Literal["basic", "client_cert", "ntlm", "kerberos"] | None = None,
) -> AdcsCa:
    """Build an :class:`AdcsCa` from its inventory entry.

    Args:
        config: The entry.
        resolve_secret: Turns a secret reference into its value (the worker's resolver).
        base_dir: Directory that relative file paths are relative to (the inventory's).
        method: Override of ``config.auth.method``.

    Returns:
        The client.

    Raises:
        CaConfigurationError: The entry lacks what its authentication method needs.
    """

    def path(value: str | None, what: str) -> str:
        if not value:
            raise CaConfigurationError(f"ADCS {config.name}: auth needs {what}", ca=config.name)
        p = Path(value).expanduser()
        if not p.is_absolute() and base_dir is not None:
            p = Path(base_dir) / p
        return str(p)

    chosen = method or config.auth.method
    a = config.auth
    auth: AdcsAuth
    if chosen in ("basic", "ntlm"):
        if not a.username or not a.password:
            raise CaConfigurationError(
                f"ADCS {config.name}: {chosen} auth needs username and password", ca=config.name
            )
        secret = resolve_secret(a.password)
        auth = (
            AdcsBasicAuth(a.username, secret)
            if chosen == "basic"
            else AdcsNtlmAuth(a.username, secret)
        )
    elif chosen == "client_cert":
        auth = AdcsClientCertAuth(
            path(a.client_cert, "client_cert"), path(a.client_key, "client_key")
        )
    else:
        auth = AdcsKerberosAuth()
    return AdcsCa(
        config.url,
        auth,
        config.template,
        ca_file=path(config.ca_file, "ca_file") if config.ca_file else None,
        address=config.address,
        name=config.name,
        timeout=config.timeout,
    )
