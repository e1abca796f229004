"""The generic webhook adapter against a local receiver that checks every signature."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web

from activities.clients.itsm.errors import ItsmAuthError, ItsmProtocolError, ItsmUnavailable
from activities.clients.itsm.factory import itsm_client
from activities.clients.itsm.models import ItsmConfig, WriteBack
from activities.clients.itsm.webhook import sign, verify_signature

SECRET = "webhook-hmac-key-sentinel"
NOW = datetime.now(UTC).replace(microsecond=0)


@dataclass
class Receiver:
    """A change system behind the webhook contract of docs/itsm.md."""

    url: str = ""
    records: dict[str, dict[str, Any]] = field(default_factory=dict)
    received: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)
    status: int | None = None


@pytest_asyncio.fixture(loop_scope="session")
async def receiver() -> AsyncIterator[Receiver]:
    rec = Receiver()
    rec.records["CHG1"] = {
        "state": "implement",
        "approval": "approved",
        "planned_start": (NOW - timedelta(hours=1)).isoformat(),
        "planned_end": (NOW + timedelta(hours=3)).isoformat(),
        "ci": "cucm-lab",
    }

    async def handle(request: web.Request) -> web.Response:
        body = await request.read()
        rec.received.append((request.match_info["event"], dict(request.headers), body))
        if not verify_signature(SECRET, dict(request.headers), body):
            return web.json_response({"error": {"message": "bad signature"}}, status=401)
        if rec.status is not None:
            return web.json_response(
                {"error": {"message": "down"}}, status=rec.status, headers={"Retry-After": "7"}
            )
        payload = json.loads(body)
        if request.match_info["event"] == "check":
            found = rec.records.get(payload["change_id"])
            return web.json_response(
                {"found": True, "record": found} if found else {"found": False}
            )
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/itsm/{event}", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    rec.url = f"http://127.0.0.1:{runner.addresses[0][1]}/itsm"
    try:
        yield rec
    finally:
        await runner.cleanup()


def webhook(url: str, monkeypatch: pytest.MonkeyPatch, secret: str = SECRET, **extra: Any) -> Any:
    monkeypatch.setenv("ITSM_HOOK_SECRET", secret)
    cfg = ItsmConfig.model_validate(
        {"kind": "webhook", "url": url, "secret": "env:ITSM_HOOK_SECRET", **extra}
    )
    return itsm_client(cfg)


async def test_check_sends_a_signed_request_and_judges_the_record(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    check = await webhook(receiver.url, monkeypatch, implement_states=["implement"]).check(
        "CHG1", "cucm-lab", NOW
    )
    assert check.allowed, check.reasons
    event, headers, body = receiver.received[-1]
    assert event == "check" and headers["X-Ucrenew-Event"] == "check"
    assert json.loads(body) == {
        "change_id": "CHG1",
        "cluster": "cucm-lab",
        "now": NOW.isoformat(),
        "windows": [],
    }
    assert headers["X-Ucrenew-Signature"] == sign(SECRET, headers["X-Ucrenew-Timestamp"], body)
    assert SECRET.encode() not in body


async def test_default_states_refuse_a_record_not_in_implement(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    receiver.records["CHG2"] = {**receiver.records["CHG1"], "state": "assess"}
    check = await webhook(receiver.url, monkeypatch).check("CHG2", "cucm-lab", NOW)
    assert [r.code for r in check.reasons] == ["change-record-not-approved"]


async def test_unknown_change(receiver: Receiver, monkeypatch: pytest.MonkeyPatch) -> None:
    check = await webhook(receiver.url, monkeypatch).check("CHG404", "cucm-lab", NOW)
    assert not check.found
    assert [r.code for r in check.reasons] == ["change-record-not-found"]


async def test_wrong_secret_is_refused_by_the_receiver(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ItsmAuthError) as caught:
        await webhook(receiver.url, monkeypatch, secret="another-key").check("CHG1", "x", NOW)
    assert "bad signature" in str(caught.value) and "another-key" not in str(caught.value)


async def test_outcome_is_posted_with_link_and_idempotency_key(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    outcome = WriteBack(
        change_id="CHG1",
        outcome="cancelled",
        summary="cancelled by alice: window moved",
        link="http://127.0.0.1:8080/renewals/CHG1",
        work_notes=["SAML SSO was disabled by this change and is still disabled"],
    )
    detail = await webhook(receiver.url, monkeypatch).write_back("CHG1", outcome)
    assert detail == "outcome cancelled posted for CHG1"
    event, headers, body = receiver.received[-1]
    payload = json.loads(body)
    assert event == "outcome" and headers["Idempotency-Key"] == "CHG1:cancelled"
    assert payload["outcome"] == "cancelled"
    assert payload["link"] == "http://127.0.0.1:8080/renewals/CHG1"
    assert payload["work_notes"] == outcome.work_notes
    assert payload["note"].startswith("ucrenew: cancelled by alice")


async def test_receiver_errors(receiver: Receiver, monkeypatch: pytest.MonkeyPatch) -> None:
    client = webhook(receiver.url, monkeypatch)
    outcome = WriteBack(change_id="CHG1", outcome="done", summary="done")
    receiver.status = 503
    with pytest.raises(ItsmUnavailable) as down:
        await client.write_back("CHG1", outcome)
    receiver.status = 422
    with pytest.raises(ItsmProtocolError) as refused:
        await client.write_back("CHG1", outcome)
    receiver.status = None
    assert down.value.retryable and not refused.value.retryable
    assert down.value.retry_after == 7


def test_signature_checks_time_and_body() -> None:
    body = b'{"a":1}'
    headers = {"x-ucrenew-timestamp": "1000", "x-ucrenew-signature": sign("k", "1000", body)}
    assert verify_signature("k", headers, body, now=1100)
    assert not verify_signature("k", headers, body + b" ", now=1100)
    assert not verify_signature("k", headers, body, now=2000)
    assert not verify_signature("other", headers, body, now=1100)


def test_unreadable_secret_names_the_reference(monkeypatch: pytest.MonkeyPatch) -> None:
    from activities.clients.itsm.errors import ItsmConfigError

    monkeypatch.delenv("ITSM_MISSING", raising=False)
    cfg = ItsmConfig.model_validate(
        {"kind": "webhook", "url": "http://127.0.0.1:9", "secret": "env:ITSM_MISSING"}
    )
    with pytest.raises(ItsmConfigError, match="env:ITSM_MISSING"):
        itsm_client(cfg, Path("."))
