"""Each notification channel sends to a local receiver (HTTP on 127.0.0.1, aiosmtpd), and a
receiver that fails is told apart: retry (5xx, 429, not listening) or give up (4xx)."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime
from pathlib import Path

import pytest

from activities.clients.notify.config import (
    EmailChannel,
    SlackChannel,
    TeamsChannel,
    WebexChannel,
    WebhookChannel,
)
from activities.clients.notify.deliver import NotifyError, deliver
from activities.clients.notify.models import NotificationEvent
from activities.clients.notify.render import compose
from activities.clients.secrets import resolve_secret_ref
from tests.clients.notify_receivers import SmtpReceiver, WebhookReceiver
from workers.devserver import free_loopback_port

EVENT = NotificationEvent(
    id="CHG-1.notify.run.001.done",
    kind="done",
    change_id="CHG-1",
    cluster="lab",
    purposes=["tomcat"],
    phase="done",
    occurred_at=datetime(2026, 11, 30, 21, 0, tzinfo=UTC),
    summary="tomcat renewed on lab; every node in scope verified.",
)
MSG = compose(EVENT, "http://127.0.0.1:9/ui")
SECRET_PATH = "/hook/T0000/B0000/XXXXsecretXXXX"


def resolve(ref: str) -> str:
    return resolve_secret_ref(ref)


async def test_generic_webhook_is_signed_with_the_referenced_secret(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("UCRENEW_TEST_HMAC", "k3y")
    async with WebhookReceiver() as rx:
        channel = WebhookChannel(
            name="board", kind="webhook", url=rx.url(), secret="env:UCRENEW_TEST_HMAC"
        )
        assert await deliver(channel, MSG, resolve) == "HTTP 200"
    (req,) = rx.requests
    assert req.method == "POST" and req.path == "/hook"
    assert req.headers["x-ucrenew-delivery"] == EVENT.id
    timestamp = req.headers["x-ucrenew-timestamp"]
    mac = hmac.new(b"k3y", timestamp.encode() + b"." + req.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(req.headers["x-ucrenew-signature"], f"sha256={mac}")
    body = req.json()
    assert body["url"] == "http://127.0.0.1:9/ui/renewals/CHG-1"
    assert body["event"] == "done" and body["cluster"] == "lab"
    assert b"k3y" not in req.body


@pytest.mark.parametrize("kind", ["teams", "slack", "webex-hook"])
async def test_webhook_urls_come_from_references(
    kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with WebhookReceiver() as rx:
        monkeypatch.setenv("UCRENEW_TEST_URL", rx.url(SECRET_PATH))
        channel: TeamsChannel | SlackChannel | WebexChannel
        if kind == "teams":
            channel = TeamsChannel(name="t", kind="teams", url="env:UCRENEW_TEST_URL")
        elif kind == "slack":
            channel = SlackChannel(name="s", kind="slack", url="env:UCRENEW_TEST_URL")
        else:
            channel = WebexChannel(name="w", kind="webex", url="env:UCRENEW_TEST_URL")
        await deliver(channel, MSG, resolve)
    (req,) = rx.requests
    assert req.path == SECRET_PATH
    body = req.json()
    if kind == "teams":
        assert body["attachments"][0]["contentType"] == "application/vnd.microsoft.card.adaptive"
    elif kind == "slack":
        assert body["blocks"][0]["type"] == "header"
    else:
        assert "renewals/CHG-1" in body["markdown"]


async def test_webex_messages_api_with_a_bot_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UCRENEW_TEST_WEBEX_TOKEN", "bot-token-123")
    async with WebhookReceiver() as rx:
        channel = WebexChannel(
            name="space",
            kind="webex",
            token="env:UCRENEW_TEST_WEBEX_TOKEN",
            room_id="ROOM1",
            api_url=rx.url("/v1"),
        )
        await deliver(channel, MSG, resolve)
    (req,) = rx.requests
    assert req.path == "/v1/messages"
    assert req.headers["authorization"] == "Bearer bot-token-123"
    body = req.json()
    assert body["roomId"] == "ROOM1" and "CHG-1" in body["text"]


async def test_a_5xx_is_retryable_and_says_nothing_of_the_url(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with WebhookReceiver(status=503, retry_after="7") as rx:
        monkeypatch.setenv("UCRENEW_TEST_URL", rx.url(SECRET_PATH))
        with pytest.raises(NotifyError) as failed:
            await deliver(
                SlackChannel(name="s", kind="slack", url="env:UCRENEW_TEST_URL"), MSG, resolve
            )
    assert not failed.value.permanent and failed.value.retry_after == 7.0
    assert "HTTP 503" in str(failed.value)
    assert "secret" not in str(failed.value) and "127.0.0.1" not in str(failed.value)


async def test_a_4xx_is_given_up(monkeypatch: pytest.MonkeyPatch) -> None:
    async with WebhookReceiver(status=404) as rx:
        monkeypatch.setenv("UCRENEW_TEST_URL", rx.url(SECRET_PATH))
        with pytest.raises(NotifyError) as failed:
            await deliver(
                TeamsChannel(name="t", kind="teams", url="env:UCRENEW_TEST_URL"), MSG, resolve
            )
    assert failed.value.permanent


async def test_a_receiver_not_listening_is_retryable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UCRENEW_TEST_URL", f"http://127.0.0.1:{free_loopback_port()}{SECRET_PATH}")
    with pytest.raises(NotifyError) as failed:
        await deliver(
            SlackChannel(name="s", kind="slack", url="env:UCRENEW_TEST_URL"), MSG, resolve
        )
    assert not failed.value.permanent
    assert "ConnectError" in str(failed.value) and "secret" not in str(failed.value)


async def test_an_unset_reference_is_a_configuration_error_naming_the_reference() -> None:
    with pytest.raises(NotifyError) as failed:
        await deliver(
            TeamsChannel(name="t", kind="teams", url="env:UCRENEW_TEST_UNSET_URL"), MSG, resolve
        )
    assert failed.value.permanent and "UCRENEW_TEST_UNSET_URL" in str(failed.value)


async def test_email_over_plain_smtp_to_a_relay() -> None:
    with SmtpReceiver() as smtp:
        channel = EmailChannel(
            name="mail",
            kind="email",
            host="127.0.0.1",
            port=smtp.port,
            security="none",
            sender="ucrenew@example.com",
            recipients=["voice@example.com", "cab@example.com"],
        )
        detail = await deliver(channel, MSG, resolve)
    assert detail == "SMTP accepted for 2 of 2 recipient(s)"
    ((envelope, mail),) = smtp.messages
    assert envelope.rcpt_tos == ["voice@example.com", "cab@example.com"]
    assert mail["Subject"] == "[ucrenew] lab CHG-1: renewal done"
    assert "http://127.0.0.1:9/ui/renewals/CHG-1" in mail.get_payload()


async def test_email_with_starttls_and_a_login_by_reference(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UCRENEW_TEST_SMTP_PASSWORD", "mail-pass")
    with SmtpReceiver(tls_dir=tmp_path, login=("ucrenew", "mail-pass")) as smtp:
        assert smtp.cert_file is not None
        channel = EmailChannel(
            name="mail",
            kind="email",
            host="127.0.0.1",
            port=smtp.port,
            security="starttls",
            ca_file=str(smtp.cert_file),
            username="ucrenew",
            password="env:UCRENEW_TEST_SMTP_PASSWORD",
            sender="ucrenew@example.com",
            recipients=["voice@example.com"],
        )
        await deliver(channel, MSG, resolve)
        monkeypatch.setenv("UCRENEW_TEST_SMTP_PASSWORD", "wrong")
        with pytest.raises(NotifyError) as refused:
            await deliver(channel, MSG, resolve)
        untrusted = channel.model_copy(update={"ca_file": None})
        with pytest.raises(NotifyError) as not_trusted:
            await deliver(untrusted, MSG, resolve)
    assert len(smtp.messages) == 1
    assert refused.value.permanent and "authentication failed" in str(refused.value)
    assert not_trusted.value.permanent and "ca_file" in str(not_trusted.value)
    assert "mail-pass" not in str(refused.value)
