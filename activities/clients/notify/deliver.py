"""Sending one message to one channel: HTTP for the webhooks, SMTP for e-mail.

:func:`deliver` returns a short description of the far end's answer, or raises
:class:`NotifyError` saying whether retrying can help (a 5xx, 429, timeout or refused
connection can; a 4xx or a configuration mistake cannot). No message here names a URL or
a secret: Teams and Slack URLs are secrets themselves.
"""

from __future__ import annotations

import asyncio
import contextlib
import smtplib
import ssl
import time
from collections.abc import Callable
from email.message import EmailMessage
from typing import Any

import httpx

from activities.clients.notify.config import (
    Channel,
    EmailChannel,
    SlackChannel,
    TeamsChannel,
    WebexChannel,
    WebhookChannel,
)
from activities.clients.notify.render import (
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    Message,
    email_message,
    encode,
    sign,
    slack_payload,
    teams_payload,
    webex_payload,
    webhook_body,
)
from activities.clients.secrets import SecretRef

__all__ = ["NotifyError", "deliver"]

Resolve = Callable[[SecretRef], str]
"""Turns a secret reference into its value (the inventory's resolver)."""

_RETRYABLE_STATUS = {408, 425, 429, 500, 502, 503, 504}


class NotifyError(Exception):
    """A delivery did not arrive.

    Attributes:
        channel: The channel's name.
        permanent: Retrying cannot help (4xx, bad configuration).
        retry_after: Seconds the far end asked to wait (``Retry-After``), if it did.
    """

    def __init__(
        self, channel: str, reason: str, *, permanent: bool, retry_after: float | None = None
    ) -> None:
        """Build the error; ``reason`` must not contain a URL or secret."""
        super().__init__(f"channel {channel}: {reason}")
        self.channel = channel
        self.permanent = permanent
        self.retry_after = retry_after


async def deliver(
    channel: Channel,
    msg: Message,
    resolve: Resolve,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
) -> str:
    """Send ``msg`` to ``channel``; returns what the far end answered (e.g. ``HTTP 200``).

    Args:
        channel: The channel's settings (secrets as references).
        msg: The message.
        resolve: Resolves the channel's secret references.
        transport: An httpx transport (tests); the default one otherwise.

    Raises:
        NotifyError: It did not arrive (``permanent`` says whether to retry).
    """
    if isinstance(channel, EmailChannel):
        return await _send_email(channel, msg, resolve)
    url, body, headers = _http_request(channel, msg, resolve)
    return await _post(channel, url, body, headers, transport)


def _secret(channel: Channel, ref: SecretRef, what: str, resolve: Resolve) -> str:
    try:
        value = resolve(ref)
    except ValueError as exc:  # SecretRefError and InventoryError name the reference only
        raise NotifyError(channel.name, f"{what}: {exc}", permanent=True) from None
    if not value.strip():
        raise NotifyError(channel.name, f"{what}: {ref} is empty", permanent=True)
    return value.strip()


def _http_request(
    channel: Channel, msg: Message, resolve: Resolve
) -> tuple[str, bytes, dict[str, str]]:
    headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": "ucrenew"}
    payload: dict[str, Any]
    if isinstance(channel, WebhookChannel):
        body = encode(webhook_body(msg))
        timestamp = str(int(time.time()))
        key = _secret(channel, channel.secret, "the HMAC secret", resolve)
        headers.update(
            {
                TIMESTAMP_HEADER: timestamp,
                SIGNATURE_HEADER: sign(key, timestamp, body),
                DELIVERY_HEADER: msg.event.id,
            }
        )
        return channel.url, body, headers
    if isinstance(channel, TeamsChannel):
        payload = teams_payload(msg)
        url = _secret(channel, channel.url, "the Teams webhook URL", resolve)
    elif isinstance(channel, SlackChannel):
        payload = slack_payload(msg)
        url = _secret(channel, channel.url, "the Slack webhook URL", resolve)
    elif isinstance(channel, WebexChannel):
        if channel.url is not None:
            payload = webex_payload(msg)
            url = _secret(channel, channel.url, "the Webex webhook URL", resolve)
        else:
            assert channel.token is not None
            payload = webex_payload(msg, channel.room_id, channel.to_person_email)
            url = channel.api_url.rstrip("/") + "/messages"
            token = _secret(channel, channel.token, "the Webex bot token", resolve)
            headers["Authorization"] = f"Bearer {token}"
    else:
        raise NotifyError(channel.name, "unknown channel kind", permanent=True)
    if not url.startswith(("https://", "http://")):
        raise NotifyError(
            channel.name, "the webhook URL reference does not hold an http(s) URL", permanent=True
        )
    return url, encode(payload), headers


async def _post(
    channel: Channel,
    url: str,
    body: bytes,
    headers: dict[str, str],
    transport: httpx.AsyncBaseTransport | None,
) -> str:
    try:
        async with httpx.AsyncClient(
            timeout=channel.timeout_seconds, transport=transport, follow_redirects=False
        ) as client:
            response = await client.post(url, content=body, headers=headers)
    except httpx.TimeoutException:
        raise NotifyError(
            channel.name, f"no answer within {channel.timeout_seconds:g} s", permanent=False
        ) from None
    except httpx.HTTPError as exc:
        # The exception's text may carry the URL (a secret for Teams and Slack): its type only.
        raise NotifyError(
            channel.name, f"could not reach the receiver ({type(exc).__name__})", permanent=False
        ) from None
    status = response.status_code
    if 200 <= status < 300:
        return f"HTTP {status}"
    retry_after = _retry_after(response.headers.get("Retry-After"))
    raise NotifyError(
        channel.name,
        f"the receiver answered HTTP {status} {response.reason_phrase}".rstrip(),
        permanent=status not in _RETRYABLE_STATUS,
        retry_after=retry_after,
    )


def _retry_after(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


async def _send_email(channel: EmailChannel, msg: Message, resolve: Resolve) -> str:
    mail = email_message(msg, channel.sender, channel.recipients)
    password = (
        _secret(channel, channel.password, "the SMTP password", resolve)
        if channel.password is not None
        else None
    )
    try:
        return await asyncio.to_thread(_smtp_send, channel, mail, password)
    except smtplib.SMTPRecipientsRefused:
        raise NotifyError(
            channel.name, "the SMTP server refused every recipient", permanent=True
        ) from None
    except smtplib.SMTPAuthenticationError as exc:
        raise NotifyError(
            channel.name, f"SMTP authentication failed ({exc.smtp_code})", permanent=True
        ) from None
    except smtplib.SMTPNotSupportedError:
        raise NotifyError(
            channel.name, "the SMTP server does not offer STARTTLS or AUTH", permanent=True
        ) from None
    except smtplib.SMTPResponseException as exc:
        raise NotifyError(
            channel.name,
            f"the SMTP server answered {exc.smtp_code}",
            permanent=500 <= exc.smtp_code < 600,
        ) from None
    except ssl.SSLCertVerificationError as exc:
        raise NotifyError(
            channel.name,
            f"the SMTP server's certificate is not trusted ({exc.verify_message}): set ca_file",
            permanent=True,
        ) from None
    except (OSError, smtplib.SMTPException) as exc:
        raise NotifyError(
            channel.name,
            f"could not reach the SMTP server {channel.host}:{channel.effective_port} "
            f"({type(exc).__name__})",
            permanent=False,
        ) from None


def _smtp_send(channel: EmailChannel, mail: EmailMessage, password: str | None) -> str:
    context = ssl.create_default_context(cafile=channel.ca_file)
    port = channel.effective_port
    timeout = channel.timeout_seconds
    smtp: smtplib.SMTP
    if channel.security == "tls":
        smtp = smtplib.SMTP_SSL(channel.host, port, timeout=timeout, context=context)
    else:
        smtp = smtplib.SMTP(channel.host, port, timeout=timeout)
    # Not `with smtp`: its QUIT on the way out would hide why a session failed.
    try:
        smtp.ehlo()
        if channel.security == "starttls":
            smtp.starttls(context=context)
            smtp.ehlo()
        if channel.username is not None and password is not None:
            smtp.login(channel.username, password)
        refused = smtp.send_message(mail)
        with contextlib.suppress(smtplib.SMTPException, OSError):
            smtp.quit()
    finally:
        smtp.close()
    accepted = len(channel.recipients) - len(refused)
    return f"SMTP accepted for {accepted} of {len(channel.recipients)} recipient(s)"
