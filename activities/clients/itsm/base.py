"""The contract every ITSM adapter meets, and what the adapters share (HTTP, TLS, errors)."""

from __future__ import annotations

import ssl
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Protocol, runtime_checkable

import httpx

from activities.clients.itsm.errors import (
    ItsmAuthError,
    ItsmConfigError,
    ItsmProtocolError,
    ItsmUnavailable,
)
from activities.clients.itsm.models import ChangeRecordCheck, TimeRange, WriteBack


@runtime_checkable
class ItsmClient(Protocol):
    """A change system ucrenew checks change records in and writes outcomes to."""

    kind: str

    async def check(
        self, change_id: str, cluster: str, now: datetime, windows: Sequence[TimeRange] = ()
    ) -> ChangeRecordCheck:
        """Whether the change record of ``change_id`` allows the work on ``cluster`` now.

        A missing record is an answer (``found=False``), not an error.

        Raises:
            activities.clients.itsm.errors.ItsmError: The system could not be asked
                (unreachable, refused the credentials, answered outside its contract).
        """
        ...

    async def write_back(self, change_id: str, outcome: WriteBack) -> str:
        """Record ``outcome`` on the change record; returns what was done, in one line.

        Raises:
            activities.clients.itsm.errors.ItsmError: The outcome could not be written
                (retry when ``retryable``).
        """
        ...


def tls_verify(system: str, ca_file: str | None) -> ssl.SSLContext | bool:
    """The ``verify`` argument for httpx: the CA bundle's context, else the system's trust."""
    if ca_file is None:
        return True
    path = Path(ca_file)
    try:
        return ssl.create_default_context(cafile=str(path))
    except (OSError, ssl.SSLError) as err:
        raise ItsmConfigError(
            system, f"itsm ca_file {path} cannot be used as a CA bundle ({type(err).__name__})"
        ) from None


async def send(system: str, client: httpx.AsyncClient, request: httpx.Request) -> httpx.Response:
    """Send ``request``; transport failures, 5xx and 429 become :class:`ItsmUnavailable`,
    401/403 :class:`ItsmAuthError`. Other statuses are the caller's to read."""
    where = f"{request.method} {request.url.copy_with(query=None)}"
    try:
        response = await client.send(request)
    except httpx.TimeoutException:
        raise ItsmUnavailable(system, f"{system}: {where} timed out") from None
    except httpx.HTTPError as err:
        raise ItsmUnavailable(
            system, f"{system}: {where} failed: {type(err).__name__}: {err}"
        ) from None
    status = response.status_code
    if status in (401, 403):
        raise ItsmAuthError(
            system,
            f"{system}: {where} answered {status} ({error_message(response)}): check the "
            "account's credentials and roles in the itsm: configuration",
            http_status=status,
        )
    if status == 429 or status >= 500:
        raise ItsmUnavailable(
            system,
            f"{system}: {where} answered {status} ({error_message(response)})",
            http_status=status,
            retry_after=_retry_after(response.headers.get("Retry-After")),
        )
    return response


def _retry_after(value: str | None) -> float | None:
    """``Retry-After`` in seconds (the delta form; an HTTP date is left to the backoff)."""
    try:
        seconds = float(value) if value is not None else None
    except ValueError:
        return None
    return seconds if seconds is not None and 0 <= seconds <= 3600 else None


def error_message(response: httpx.Response) -> str:
    """The message of an error body (``{"error": {"message", "detail"}}``), else the reason."""
    try:
        body = response.json()
    except ValueError:
        return response.reason_phrase or "no detail"
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        err = body["error"]
        parts = [str(err.get(k)) for k in ("message", "detail") if err.get(k)]
        if parts:
            return ": ".join(parts)
    return response.reason_phrase or "no detail"


def json_body(system: str, response: httpx.Response) -> object:
    """The response's JSON, or an :class:`ItsmError` naming what came instead."""
    try:
        return response.json()
    except ValueError:
        raise ItsmProtocolError(
            system,
            f"{system}: {response.request.method} answered {response.status_code} without JSON",
            http_status=response.status_code,
        ) from None
