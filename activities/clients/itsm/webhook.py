"""Generic webhook adapter: ucrenew asks your endpoint, signed, and judges the answer itself.

The contract is docs/itsm.md: ``POST {url}/check`` returns the change record (or
``{"found": false}``), ``POST {url}/outcome`` takes the outcome. Every request carries
``X-Ucrenew-Timestamp`` (Unix seconds) and ``X-Ucrenew-Signature: sha256=<hex>``, the
HMAC-SHA256 of ``<timestamp>.<body>`` keyed with the shared secret (by reference in the
inventory), so a receiver can refuse forged or replayed calls (:func:`verify_signature`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import httpx
from pydantic import ValidationError

from activities.clients.itsm.base import error_message, json_body, send, tls_verify
from activities.clients.itsm.errors import ItsmProtocolError, ItsmRecordNotFound
from activities.clients.itsm.models import (
    ChangeRecord,
    ChangeRecordCheck,
    ItsmConfig,
    ItsmReason,
    TimeRange,
    WriteBack,
    evaluate,
)

SYSTEM = "webhook"
SIGNATURE_HEADER = "X-Ucrenew-Signature"
TIMESTAMP_HEADER = "X-Ucrenew-Timestamp"
EVENT_HEADER = "X-Ucrenew-Event"
#: A receiver refuses signatures older than this (seconds), against replays.
DEFAULT_TOLERANCE_SECONDS = 300


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The signature header value: ``sha256=`` + HMAC-SHA256(secret, ``timestamp.body``)."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify_signature(
    secret: str,
    headers: dict[str, str],
    body: bytes,
    *,
    now: float | None = None,
    tolerance_seconds: float = DEFAULT_TOLERANCE_SECONDS,
) -> bool:
    """Whether a request's signature is valid and recent (for receivers written in Python).

    Args:
        secret: The shared key.
        headers: The request headers (case-insensitive names).
        body: The raw request body.
        now: Current Unix time (default: the clock).
        tolerance_seconds: How old a timestamp may be.
    """
    lower = {k.lower(): v for k, v in headers.items()}
    stamp = lower.get(TIMESTAMP_HEADER.lower(), "")
    given = lower.get(SIGNATURE_HEADER.lower(), "")
    try:
        age = abs((time.time() if now is None else now) - int(stamp))
    except ValueError:
        return False
    return age <= tolerance_seconds and hmac.compare_digest(sign(secret, stamp, body), given)


class WebhookItsm:
    """The generic webhook adapter (an :class:`~activities.clients.itsm.base.ItsmClient`).

    Args:
        config: The cluster's ``itsm:`` settings (kind ``webhook``).
        secret: The HMAC key, resolved from its reference by the caller.
        transport: An httpx transport (tests); the network otherwise.
        clock: Unix time for the timestamp header (tests).
    """

    kind = SYSTEM

    def __init__(
        self,
        config: ItsmConfig,
        *,
        secret: str,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """Build the adapter; nothing is sent until a call."""
        self._config = config
        self._base = config.url.rstrip("/")
        self._secret = secret
        self._verify = tls_verify(SYSTEM, config.ca_file)
        self._transport = transport
        self._clock = clock

    async def _post(self, event: str, payload: dict[str, Any]) -> httpx.Response:
        body = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
        stamp = str(int(self._clock()))
        headers = {
            "Content-Type": "application/json",
            "Accept": "application/json",
            TIMESTAMP_HEADER: stamp,
            SIGNATURE_HEADER: sign(self._secret, stamp, body),
            EVENT_HEADER: event,
        }
        if event == "outcome":
            headers["Idempotency-Key"] = f"{payload['change_id']}:{payload['outcome']}"
        async with httpx.AsyncClient(
            verify=self._verify,
            timeout=self._config.timeout_seconds,
            transport=self._transport,
            follow_redirects=False,
        ) as client:
            request = client.build_request(
                "POST", f"{self._base}/{event}", content=body, headers=headers
            )
            return await send(SYSTEM, client, request)

    async def check(
        self, change_id: str, cluster: str, now: datetime, windows: Sequence[TimeRange] = ()
    ) -> ChangeRecordCheck:
        """Ask the endpoint for the record, then judge it with the inventory's rules."""
        response = await self._post(
            "check",
            {
                "change_id": change_id,
                "cluster": cluster,
                "now": now.isoformat(),
                "windows": [w.model_dump(mode="json") for w in windows],
            },
        )
        found = response.status_code == 200
        body = json_body(SYSTEM, response) if found else None
        if response.status_code == 404 or (isinstance(body, dict) and body.get("found") is False):
            return ChangeRecordCheck(
                system=SYSTEM,
                change_id=change_id,
                found=False,
                blocking=self._config.block,
                reasons=[
                    ItsmReason(
                        code="change-record-not-found",
                        message=f"the change system has no change record {change_id}",
                    )
                ],
            )
        if not found:
            raise ItsmProtocolError(
                SYSTEM,
                f"{SYSTEM}: check answered {response.status_code} ({error_message(response)})",
                http_status=response.status_code,
            )
        raw = body.get("record") if isinstance(body, dict) else None
        if not isinstance(raw, dict):
            raise ItsmProtocolError(
                SYSTEM, f"{SYSTEM}: check answered without a record object (docs/itsm.md)"
            )
        try:
            record = ChangeRecord.model_validate({"number": change_id, **raw})
        except ValidationError as exc:
            fields = ", ".join(".".join(str(p) for p in e["loc"]) for e in exc.errors())
            raise ItsmProtocolError(
                SYSTEM, f"{SYSTEM}: the record's fields are invalid: {fields} (docs/itsm.md)"
            ) from None
        return ChangeRecordCheck(
            system=SYSTEM,
            change_id=change_id,
            found=True,
            blocking=self._config.block,
            record=record,
            reasons=evaluate(self._config, record, now, windows),
        )

    async def write_back(self, change_id: str, outcome: WriteBack) -> str:
        """POST the outcome; any 2xx is success."""
        payload = {**outcome.model_dump(mode="json"), "change_id": change_id}
        payload["note"] = outcome.note_text()
        response = await self._post("outcome", payload)
        if response.status_code == 404:
            raise ItsmRecordNotFound(
                SYSTEM,
                f"{SYSTEM}: the change system has no change record {change_id}",
                http_status=404,
            )
        if not 200 <= response.status_code < 300:
            raise ItsmProtocolError(
                SYSTEM,
                f"{SYSTEM}: outcome answered {response.status_code} ({error_message(response)})",
                http_status=response.status_code,
            )
        return f"outcome {outcome.outcome} posted for {change_id}"
