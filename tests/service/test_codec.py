"""The codec endpoint: Temporal's codec server protocol over the workers' own codec, for codec
readers only, and CORS for the configured Temporal UI origin only."""

from __future__ import annotations

import base64
import json
import logging
import secrets
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio
from temporalio.api.common.v1 import Payload

from activities.clients.secrets import SecretRef
from service.app import create_app
from service.principal import Principal
from service.settings import ServiceSettings
from service.tokens import issue_token
from workers.converter import ENCRYPTED_ENCODING, make_data_converter
from workers.settings import UcrenewSettings
from workflows.models import RenewalInput

UI = "http://127.0.0.1:8233"
SECRET_CN = "sentinel-do-not-log.example.com"


@pytest.fixture
def keys(monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    session, codec = secrets.token_urlsafe(48), secrets.token_hex(32)
    monkeypatch.setenv("TEST_SESSION_KEY", session)
    monkeypatch.setenv("TEST_CODEC_KEY", codec)
    return session, codec


def settings(encrypted: bool = True, readers: list[str] | None = None) -> ServiceSettings:
    ucrenew = UcrenewSettings(
        codec_key_ref=SecretRef("env:TEST_CODEC_KEY") if encrypted else None,
        namespace="ucrenew-ns",
    )
    return ServiceSettings(
        session_key=SecretRef("env:TEST_SESSION_KEY"),
        codec_readers=["voice-admins"] if readers is None else readers,
        codec_cors_origins=[UI],
        ucrenew=ucrenew,
    )


def bearer(session_key: str, *groups: str, name: str = "dana") -> dict[str, str]:
    principal = Principal(name=name, groups=list(groups), via="password")
    return {"Authorization": f"Bearer {issue_token(session_key, principal, 600).token}"}


@pytest_asyncio.fixture(loop_scope="session")
async def http(keys: tuple[str, str]) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://ucrenew.test") as c:
        yield c


def as_json(payloads: list[Payload]) -> dict[str, Any]:
    return {
        "payloads": [
            {
                "metadata": {k: base64.b64encode(v).decode() for k, v in p.metadata.items()},
                "data": base64.b64encode(p.data).decode(),
            }
            for p in payloads
        ]
    }


def from_json(body: dict[str, Any]) -> list[Payload]:
    return [
        Payload(
            metadata={k: base64.b64decode(v) for k, v in p.get("metadata", {}).items()},
            data=base64.b64decode(p.get("data", "")),
        )
        for p in body["payloads"]
    ]


def renewal_input() -> RenewalInput:
    return RenewalInput(change_id="CHG-CODEC", cluster=SECRET_CN, requested_by="alice")


async def workers_payloads() -> list[Payload]:
    """What a worker with the codec key writes to history for a renewal's input."""
    converter = make_data_converter(UcrenewSettings(codec_key_ref=SecretRef("env:TEST_CODEC_KEY")))
    return await converter.encode([renewal_input()])


HEADERS = {"Content-Type": "application/json", "X-Namespace": "ucrenew-ns"}


async def test_a_codec_reader_decodes_what_the_workers_encrypted(
    http: httpx.AsyncClient, keys: tuple[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    encrypted = await workers_payloads()
    assert encrypted[0].metadata["encoding"] == ENCRYPTED_ENCODING
    assert SECRET_CN.encode() not in encrypted[0].data

    caplog.set_level(logging.DEBUG)
    r = await http.post(
        "/codec/decode",
        json=as_json(encrypted),
        headers={**HEADERS, **bearer(keys[0], "voice-admins")},
    )
    assert r.status_code == 200, r.text
    (plain,) = from_json(r.json())
    assert plain.metadata["encoding"] == b"json/plain"
    assert json.loads(plain.data)["cluster"] == SECRET_CN
    # Who decoded how many is logged; the payloads are not.
    assert "codec decode by dana: 1 payload(s)" in caplog.text
    assert SECRET_CN not in caplog.text


async def test_encode_then_decode_round_trips_and_encrypts(
    http: httpx.AsyncClient, keys: tuple[str, str]
) -> None:
    plain = Payload(metadata={"encoding": b"json/plain"}, data=b'{"comment": "ok"}')
    auth = {**HEADERS, **bearer(keys[0], "staff", "voice-admins")}
    enc = await http.post("/codec/encode", json=as_json([plain]), headers=auth)
    assert enc.status_code == 200, enc.text
    (sealed,) = from_json(enc.json())
    assert sealed.metadata["encoding"] == ENCRYPTED_ENCODING and b"ok" not in sealed.data
    dec = await http.post("/codec/decode", json=enc.json(), headers=auth)
    assert from_json(dec.json()) == [plain]
    # The workers' converter reads what the endpoint encrypted: one codec.
    converter = make_data_converter(UcrenewSettings(codec_key_ref=SecretRef("env:TEST_CODEC_KEY")))
    assert await converter.decode([sealed], [dict]) == [{"comment": "ok"}]


async def test_only_codec_readers_may_decode(
    http: httpx.AsyncClient, keys: tuple[str, str]
) -> None:
    body = as_json(await workers_payloads())
    nobody = await http.post("/codec/decode", json=body, headers=HEADERS)
    assert nobody.status_code == 401
    assert nobody.json()["error"]["code"] == "not-signed-in"

    outsider = await http.post(
        "/codec/decode", json=body, headers={**HEADERS, **bearer(keys[0], "requesters")}
    )
    assert outsider.status_code == 403
    error = outsider.json()["error"]
    assert error["code"] == "not-a-codec-reader" and "voice-admins" in error["message"]
    assert SECRET_CN not in outsider.text

    encode = await http.post(
        "/codec/encode", json=body, headers={**HEADERS, **bearer(keys[0], "requesters")}
    )
    assert encode.status_code == 403

    other_ns = await http.post(
        "/codec/decode",
        json=body,
        headers={**HEADERS, "X-Namespace": "other", **bearer(keys[0], "voice-admins")},
    )
    assert other_ns.status_code == 403 and other_ns.json()["error"]["code"] == "wrong-namespace"


async def test_without_readers_configured_nobody_may(keys: tuple[str, str]) -> None:
    app = create_app(settings(readers=[]))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://ucrenew.test"
    ) as c:
        r = await c.post(
            "/codec/decode",
            json=as_json(await workers_payloads()),
            headers={**HEADERS, **bearer(keys[0], "voice-admins")},
        )
    assert r.status_code == 403
    assert "UCRENEW_SERVICE_CODEC_READERS" in r.json()["error"]["message"]


async def test_malformed_bodies_are_refused_without_echoing_them(
    http: httpx.AsyncClient, keys: tuple[str, str]
) -> None:
    auth = {**HEADERS, **bearer(keys[0], "voice-admins")}
    r = await http.post(
        "/codec/decode", content=b'{"payloads": [{"metadata": "secret-value"}]}', headers=auth
    )
    assert r.status_code == 422 and "secret" not in r.text
    r = await http.post(
        "/codec/decode",
        content=b"payloads",
        headers={**auth, "Content-Type": "text/plain"},
    )
    assert r.status_code == 415


async def test_cors_preflight_from_the_temporal_ui_and_from_a_foreign_origin(
    http: httpx.AsyncClient, keys: tuple[str, str]
) -> None:
    ask = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type,x-namespace",
    }
    ok = await http.options("/codec/decode", headers={"Origin": UI, **ask})
    assert ok.status_code == 204
    assert ok.headers["access-control-allow-origin"] == UI
    assert ok.headers["access-control-allow-credentials"] == "true"
    assert "X-Namespace" in ok.headers["access-control-allow-headers"]
    assert "POST" in ok.headers["access-control-allow-methods"]

    foreign = await http.options(
        "/codec/decode", headers={"Origin": "https://evil.example.net", **ask}
    )
    assert foreign.status_code == 403
    assert "access-control-allow-origin" not in foreign.headers

    # The actual calls: the UI's is answered with CORS headers (errors too, so it can show
    # them); a foreign origin's is refused before anything is decoded.
    body = as_json(await workers_payloads())
    from_ui = await http.post(
        "/codec/decode",
        json=body,
        headers={**HEADERS, "Origin": UI, **bearer(keys[0], "voice-admins")},
    )
    assert from_ui.status_code == 200 and from_ui.headers["access-control-allow-origin"] == UI
    refused = await http.post("/codec/decode", json=body, headers={**HEADERS, "Origin": UI})
    assert refused.status_code == 401 and refused.headers["access-control-allow-origin"] == UI
    evil = await http.post(
        "/codec/decode",
        json=body,
        headers={
            **HEADERS,
            "Origin": "https://evil.example.net",
            **bearer(keys[0], "voice-admins"),
        },
    )
    assert evil.status_code == 403 and "access-control-allow-origin" not in evil.headers
    assert SECRET_CN not in evil.text


async def test_without_a_codec_key_payloads_pass_through(keys: tuple[str, str]) -> None:
    app = create_app(settings(encrypted=False))
    plain = Payload(metadata={"encoding": b"json/plain"}, data=b"{}")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://ucrenew.test"
    ) as c:
        r = await c.post(
            "/codec/encode",
            json=as_json([plain]),
            headers={**HEADERS, **bearer(keys[0], "voice-admins")},
        )
    assert r.status_code == 200 and from_json(r.json()) == [plain]


async def test_the_codec_endpoint_never_encodes_private_key_material(
    http: httpx.AsyncClient, keys: tuple[str, str]
) -> None:
    """What the Temporal UI has encoded here it sends to Temporal (a signal's input): a key
    in it is refused (422), named but never echoed."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key_pem = (
        ec.generate_private_key(ec.SECP256R1())
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )
    body_line = key_pem.splitlines()[1]
    plain = Payload(
        metadata={"encoding": b"json/plain"}, data=json.dumps({"comment": key_pem}).encode()
    )
    auth = {**HEADERS, **bearer(keys[0], "voice-admins")}
    r = await http.post("/codec/encode", json=as_json([plain]), headers=auth)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "private-key"
    assert "PRIVATE KEY" in r.json()["error"]["message"] and body_line not in r.text
