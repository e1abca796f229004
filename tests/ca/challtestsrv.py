"""dns-01 hooks that answer through pebble-challtestsrv's management API.

Test doubles for the DNS provider an operator's hook would drive: the ACME tests hand them
to :class:`~activities.clients.ca.acme.backend.AcmeCa` directly, and :func:`dns_hook_argv`
gives the end-to-end tests a ``command`` hook for the inventory.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path

import httpx

from activities.clients.ca.errors import CaConfigurationError, CaUnavailable

_HOOK_SCRIPT = Path(__file__).with_name("challtestsrv_dns_hook.py")


def dns_hook_argv(challtestsrv_url: str, log: Path) -> list[str]:
    """The argv of a dns-01 command hook that sets records in challtestsrv.

    Args:
        challtestsrv_url: Base URL of challtestsrv's management interface.
        log: File the script appends ``ACTION DOMAIN`` to, once per run.

    Returns:
        The command and its fixed leading arguments.
    """
    return [sys.executable, str(_HOOK_SCRIPT), challtestsrv_url, str(log)]


class _ManagementApi:
    def __init__(self, management_url: str, timeout: float) -> None:
        self._base = management_url.rstrip("/")
        self._timeout = timeout

    async def post(self, path: str, payload: Mapping[str, str]) -> None:
        try:
            async with httpx.AsyncClient(timeout=self._timeout) as http:
                response = await http.post(self._base + path, json=dict(payload))
        except httpx.HTTPError as exc:
            raise CaUnavailable(
                f"pebble-challtestsrv at {self._base} cannot be reached ({type(exc).__name__})"
            ) from exc
        if response.status_code >= 300:
            raise CaConfigurationError(
                f"pebble-challtestsrv at {self._base} answered HTTP {response.status_code} "
                f"to {path}"
            )


class ChallTestSrvDnsHook:
    """dns-01: sets and clears ``_acme-challenge`` TXT records in challtestsrv."""

    def __init__(self, management_url: str, *, timeout: float = 10.0) -> None:
        self._api = _ManagementApi(management_url, timeout)

    async def present(self, domain: str, validation: str) -> None:
        """Set the TXT record (``POST /set-txt``)."""
        await self._api.post("/set-txt", {"host": _txt_host(domain), "value": validation})

    async def cleanup(self, domain: str, validation: str) -> None:
        """Clear the TXT record (``POST /clear-txt``); challtestsrv clears every value."""
        await self._api.post("/clear-txt", {"host": _txt_host(domain)})


def _txt_host(domain: str) -> str:
    return f"_acme-challenge.{domain.rstrip('.')}."
