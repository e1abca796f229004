"""ACME protocol plumbing: sessions on certbot's ``acme`` client, Retry-After, error mapping.

The ``acme`` library is blocking (``requests``), so everything here runs in worker threads.
:func:`translate_errors` is the one place where library and transport errors become the
:class:`~activities.clients.ca.errors.CaError` tree.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import josepy as jose
import requests
from acme import client, messages
from acme import errors as acme_errors

from activities.clients.ca.errors import (
    CaConfigurationError,
    CaError,
    CaProtocolError,
    CaRequestDenied,
    CaRequestNotFound,
    CaUnavailable,
)

__all__ = [
    "Exchange",
    "Network",
    "Session",
    "challenge_type",
    "parse_retry_after",
    "problem_text",
    "translate_errors",
]

logger = logging.getLogger(__name__)

# acme retries a badNonce once; pebble rejects 5% of good nonces, and an issuance for a
# 4-node cluster makes dozens of POSTs, so one retry still loses a run now and then.
_BAD_NONCE_ROUNDS = 4

# Problem codes that are the CA's answer about this request: reported as ``denied``.
_DENIAL_CODES = frozenset({"rejectedIdentifier", "badCSR", "caa", "unsupportedIdentifier"})
# Problem codes that say the account or client configuration is wrong.
_CONFIG_CODES = frozenset(
    {
        "unauthorized",
        "accountDoesNotExist",
        "externalAccountRequired",
        "userActionRequired",
        "badPublicKey",
        "badSignatureAlgorithm",
        "invalidContact",
        "invalidEmail",
        "unsupportedContact",
    }
)
_TRANSIENT_CODES = frozenset({"rateLimited", "serverInternal", "badNonce"})


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Turn a ``Retry-After`` header into seconds from ``now``.

    Args:
        value: The header value: delay-seconds or an HTTP-date; ``None`` when absent.
        now: The current time (timezone-aware), for HTTP-dates.

    Returns:
        Seconds to wait (0 for a date in the past), or ``None`` when absent or unparseable.
    """
    if value is None or not value.strip():
        return None
    text = value.strip()
    if text.isdigit():
        return float(int(text))
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


class Exchange:
    """Status and Retry-After of the last HTTP response of one session (for error mapping)."""

    def __init__(self) -> None:
        self.status: int | None = None
        self.retry_after: str | None = None

    def record(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        """Remember ``response``'s status and Retry-After (a ``requests`` response hook)."""
        self.status = response.status_code
        self.retry_after = response.headers.get("Retry-After")


class Network(client.ClientNetwork):
    """acme's ClientNetwork, retrying a badNonce answer more often than the library does."""

    def post(self, *args: Any, **kwargs: Any) -> requests.Response:
        """POST as ``ClientNetwork.post``, repeated up to four times while it gets badNonce."""
        for round_ in range(_BAD_NONCE_ROUNDS):
            try:
                return super().post(*args, **kwargs)
            except messages.Error as exc:
                if exc.code != "badNonce" or round_ == _BAD_NONCE_ROUNDS - 1:
                    raise
                logger.debug("ACME badNonce twice in a row; retrying with a fresh nonce")
        raise AssertionError("unreachable")


@dataclass
class Session:
    """One thread's use of the ACME server: a ClientV2 and its response recorder."""

    acme: client.ClientV2
    exchange: Exchange

    def post_as_get(self, url: str) -> requests.Response:
        """Fetch ``url`` with an authenticated POST-as-GET (RFC 8555 section 6.3)."""
        return self.acme.net.post(url, None, new_nonce_url=self.acme.directory["newNonce"])

    def fetch_order(self, url: str) -> tuple[messages.Order, float | None]:
        """The order at ``url`` and the seconds its Retry-After asks for, if any."""
        response = self.post_as_get(url)
        body = messages.Order.from_json(response.json())
        return body, parse_retry_after(response.headers.get("Retry-After"), datetime.now(UTC))


def problem_text(problem: messages.Error) -> str:
    """An ACME problem and its subproblems as one line: ``[identifier: ]code: detail; ...``."""
    head = problem.code or problem.typ
    text = f"{head}: {problem.detail}" if problem.detail else str(head)
    if problem.identifier is not None:
        text = f"{problem.identifier.value}: {text}"
    for sub in problem.subproblems or ():
        text += f"; {problem_text(sub)}"
    return text


def challenge_type(challb: messages.ChallengeBody) -> str:
    """The type name of an offered challenge (``dns-01``), including ones acme cannot parse."""
    typ = challb.chall.typ
    if isinstance(typ, str):
        return typ
    # acme decodes challenge types it does not implement as UnrecognizedChallenge.
    raw = getattr(challb.chall, "jobj", {})
    return str(raw.get("type", "unknown")) if isinstance(raw, Mapping) else "unknown"


@contextmanager
def translate_errors(
    ca: str, directory_url: str, exchange: Exchange, request_ref: str | None
) -> Iterator[None]:
    """Map library and transport errors onto the CaError tree (the one place it happens).

    Args:
        ca: Name of the backend, for messages and the errors' ``ca``.
        directory_url: The ACME directory URL; its host is named in messages.
        exchange: The session's record of the last response (status, Retry-After).
        request_ref: The order URL concerned, if any.

    Yields:
        Nothing; errors raised in the block leave it as CaError subclasses.
    """
    host = urlsplit(directory_url).netloc

    def failure(kind: type[CaError], what: str, exc: BaseException) -> CaError:
        return kind(f"{ca}: {what} ({type(exc).__name__})", ca=ca, request_ref=request_ref)

    try:
        yield
    except CaError:
        raise
    except requests.exceptions.SSLError as exc:
        raise CaConfigurationError(
            f"{ca}: TLS verification of {host} failed (check ca_bundle)",
            ca=ca,
            request_ref=request_ref,
        ) from exc
    except (requests.ConnectionError, requests.Timeout) as exc:
        raise failure(CaUnavailable, f"cannot reach {host}", exc) from exc
    except messages.Error as exc:
        raise _map_problem(ca, exc, exchange, request_ref) from exc
    except acme_errors.ClientError as exc:
        raise _map_status(ca, exchange, request_ref, "non-ACME error answer") from exc
    except (acme_errors.Error, jose.DeserializationError, ValueError, KeyError) as exc:
        raise failure(CaProtocolError, f"unexpected answer from {host}", exc) from exc
    except requests.RequestException as exc:
        raise failure(CaUnavailable, f"request to {host} failed", exc) from exc


def _map_problem(
    ca: str, problem: messages.Error, exchange: Exchange, request_ref: str | None
) -> CaError:
    text = problem_text(problem)
    code = problem.code
    status = exchange.status
    if code in _DENIAL_CODES:
        return CaRequestDenied(f"{ca}: {text}", ca=ca, request_ref=request_ref, reason=text)
    if code in _TRANSIENT_CODES or (status is not None and status >= 500):
        return CaUnavailable(
            f"{ca}: {text}",
            ca=ca,
            request_ref=request_ref,
            http_status=status,
            retry_after=parse_retry_after(exchange.retry_after, datetime.now(UTC)),
        )
    if status == 404:
        return CaRequestNotFound(f"{ca}: {text}", ca=ca, request_ref=request_ref)
    if code in _CONFIG_CODES:
        return CaConfigurationError(f"{ca}: {text}", ca=ca, request_ref=request_ref)
    return CaProtocolError(f"{ca}: {text}", ca=ca, request_ref=request_ref)


def _map_status(ca: str, exchange: Exchange, request_ref: str | None, what: str) -> CaError:
    status = exchange.status
    message = f"{ca}: {what} (HTTP {status})"
    if status is not None and (status >= 500 or status == 429):
        return CaUnavailable(
            message,
            ca=ca,
            request_ref=request_ref,
            http_status=status,
            retry_after=parse_retry_after(exchange.retry_after, datetime.now(UTC)),
        )
    if status == 404:
        return CaRequestNotFound(message, ca=ca, request_ref=request_ref)
    return CaProtocolError(message, ca=ca, request_ref=request_ref)
