"""How :class:`~activities.clients.ca.adcs.client.AdcsCa` authenticates to certsrv.

HTTP Basic and TLS client certificates are tested against the lab's ADCS twin. NTLM (through
``httpx-ntlm``) and Kerberos/SPNEGO (through the optional ``httpx-gssapi``, which needs the
system's GSSAPI library) are wired but **untested against the twin**, which has no NTLM or
Kerberos acceptor. Resolved passwords live only in activity memory and are never printed.
"""

from __future__ import annotations

import importlib
import ssl
from dataclasses import dataclass, field
from typing import Any

import httpx

from activities.clients.ca.errors import CaConfigurationError

__all__ = [
    "AdcsAuth",
    "AdcsBasicAuth",
    "AdcsClientCertAuth",
    "AdcsKerberosAuth",
    "AdcsNtlmAuth",
    "httpx_auth",
    "ssl_context",
]


@dataclass(frozen=True)
class AdcsBasicAuth:
    """HTTP Basic with a resolved password (lives only in activity memory).

    Attributes:
        username: Account name, ``DOMAIN\\user`` or ``user@domain`` as IIS expects.
        password: The resolved password; never printed.
    """

    username: str
    password: str = field(repr=False)


@dataclass(frozen=True)
class AdcsClientCertAuth:
    """A TLS client certificate that IIS maps to an account.

    Attributes:
        cert_file: PEM file with the client certificate (and its intermediates).
        key_file: PEM file with its private key.
    """

    cert_file: str
    key_file: str


@dataclass(frozen=True)
class AdcsNtlmAuth:
    """NTLM through ``httpx-ntlm`` (untested against the lab twin, which has no NTLM acceptor).

    Attributes:
        username: ``DOMAIN\\user``.
        password: The resolved password; never printed.
    """

    username: str
    password: str = field(repr=False)


@dataclass(frozen=True)
class AdcsKerberosAuth:
    """Kerberos/SPNEGO through the optional ``httpx-gssapi`` and the process's ticket cache.

    Untested against the lab twin, which has no Kerberos acceptor; ``httpx-gssapi`` needs the
    system's GSSAPI library to install, so it is not a dependency of ucrenew.
    """


AdcsAuth = AdcsBasicAuth | AdcsClientCertAuth | AdcsNtlmAuth | AdcsKerberosAuth
"""How :class:`~activities.clients.ca.adcs.client.AdcsCa` authenticates to certsrv."""


def ssl_context(auth: AdcsAuth, ca_file: str | None, ca: str) -> ssl.SSLContext:
    """The TLS context for certsrv, presenting the client certificate when ``auth`` is one.

    Args:
        auth: How the client authenticates.
        ca_file: PEM bundle the CA's HTTPS certificate chains to; system trust if None.
        ca: Name of the CA, for messages.

    Raises:
        CaConfigurationError: A TLS file cannot be loaded (named without its content).
    """
    try:
        ctx = ssl.create_default_context(cafile=ca_file)
        if isinstance(auth, AdcsClientCertAuth):
            ctx.load_cert_chain(auth.cert_file, auth.key_file)
    except (OSError, ssl.SSLError) as exc:
        raise CaConfigurationError(
            f"ADCS {ca}: cannot load TLS files ({type(exc).__name__}: "
            f"{getattr(exc, 'strerror', None) or 'unreadable'})",
            ca=ca,
        ) from None
    return ctx


def httpx_auth(auth: AdcsAuth, ca: str) -> httpx.Auth | None:
    """The httpx authentication for ``auth``; None when TLS does the authenticating.

    Args:
        auth: How the client authenticates.
        ca: Name of the CA, for messages.

    Raises:
        CaConfigurationError: Kerberos is asked for without ``httpx-gssapi`` installed.
    """
    if isinstance(auth, AdcsBasicAuth):
        return httpx.BasicAuth(auth.username, auth.password)
    if isinstance(auth, AdcsNtlmAuth):
        ntlm: Any = importlib.import_module("httpx_ntlm")
        result: httpx.Auth = ntlm.HttpNtlmAuth(auth.username, auth.password)
        return result
    if isinstance(auth, AdcsKerberosAuth):
        try:
            gssapi: Any = importlib.import_module("httpx_gssapi")
        except ImportError:
            raise CaConfigurationError(
                f"ADCS {ca}: Kerberos needs the optional package httpx-gssapi "
                "(and the system's GSSAPI library)",
                ca=ca,
            ) from None
        spnego: httpx.Auth = gssapi.HTTPSPNEGOAuth()
        return spnego
    return None
