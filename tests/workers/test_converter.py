"""The shared data converter, the AES-GCM payload codec, secret references and settings."""

from __future__ import annotations

import base64
import os
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio import activity, workflow
from temporalio.api.common.v1 import Payload
from temporalio.api.failure.v1 import Failure
from temporalio.api.workflowservice.v1 import GetWorkflowExecutionHistoryRequest
from temporalio.client import Client, WorkflowFailureError
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

# The sandbox re-imports this module for every workflow run; cryptography (via the converter)
# cannot be imported twice, so everything that is not the workflows' own code passes through.
with workflow.unsafe.imports_passed_through():
    from pydantic import BaseModel, ValidationError

    from activities.clients.secrets import SecretRefError, resolve_secret_ref
    from workers.converter import (
        ENCRYPTED_ENCODING,
        KEY_ID_METADATA,
        CodecKeyError,
        EncryptionCodec,
        KeyMaterialGuard,
        codec_from_settings,
        make_data_converter,
        parse_key,
    )
    from workers.settings import UcrenewSettings

SENTINEL = "s3ntinel-Hunter2-do-not-leak"
KEY_A = bytes(range(32))
KEY_B = bytes(range(32, 64))


class EchoInput(BaseModel):
    """Input of :class:`EchoWorkflow`; ``note`` carries the sentinel."""

    note: str
    fail: bool = False


class EchoResult(BaseModel):
    """Result of :class:`EchoWorkflow`."""

    note: str


@activity.defn
async def echo_note(data: EchoInput) -> EchoResult:
    """Echo the note, or fail with it in the message (as a careless CUCM error might)."""
    if data.fail:
        raise ApplicationError(f"CUCM said: bad password {data.note}", non_retryable=True)
    return EchoResult(note=data.note)


@workflow.defn
class EchoWorkflow:
    """Passes its input through one activity."""

    @workflow.run
    async def run(self, data: EchoInput) -> EchoResult:
        """Run the workflow."""
        return await workflow.execute_activity(
            echo_note,
            data,
            start_to_close_timeout=timedelta(seconds=10),
            retry_policy=RetryPolicy(maximum_attempts=1),
        )


# --- codec ---------------------------------------------------------------------------------


async def test_codec_round_trip_with_fresh_nonces() -> None:
    converter = make_data_converter(codec=EncryptionCodec({"k1": KEY_A}, "k1"))
    value = EchoInput(note=SENTINEL)
    first = await converter.encode([value])
    second = await converter.encode([value])

    assert first[0].metadata["encoding"] == ENCRYPTED_ENCODING
    assert first[0].metadata[KEY_ID_METADATA] == b"k1"
    assert first[0].data[:12] != second[0].data[:12]
    assert await converter.decode(first, [EchoInput]) == [value]


async def test_unknown_key_id_is_a_hard_error() -> None:
    encoded = await EncryptionCodec({"k1": KEY_A}, "k1").encode([Payload(data=b"x")])
    with pytest.raises(CodecKeyError, match="unknown codec key id 'k1'"):
        await EncryptionCodec({"k2": KEY_B}, "k2").decode(encoded)


async def test_wrong_key_or_relabelled_key_id_fails_authentication() -> None:
    encoded = await EncryptionCodec({"k1": KEY_A}, "k1").encode([Payload(data=b"x")])
    with pytest.raises(CodecKeyError, match="does not decrypt"):
        await EncryptionCodec({"k1": KEY_B}, "k1").decode(encoded)

    encoded[0].metadata[KEY_ID_METADATA] = b"k2"
    with pytest.raises(CodecKeyError, match="does not decrypt"):
        await EncryptionCodec({"k1": KEY_A, "k2": KEY_A}, "k1").decode(encoded)


async def test_rotated_codec_reads_old_payloads_and_writes_with_new_key() -> None:
    old = await EncryptionCodec({"k1": KEY_A}, "k1").encode([Payload(data=b"old")])
    rotated = EncryptionCodec({"k1": KEY_A, "k2": KEY_B}, "k2")
    assert (await rotated.decode(old))[0].data == b"old"
    assert (await rotated.encode([Payload(data=b"new")]))[0].metadata[KEY_ID_METADATA] == b"k2"


async def test_unencrypted_payloads_pass_through_decode() -> None:
    plain = Payload(metadata={"encoding": b"json/plain"}, data=b'"hi"')
    assert await EncryptionCodec({"k1": KEY_A}, "k1").decode([plain]) == [plain]


async def test_sentinel_absent_from_encoded_payloads_and_failures() -> None:
    converter = make_data_converter(codec=EncryptionCodec({"k1": KEY_A}, "k1"))
    payloads = await converter.encode([EchoInput(note=SENTINEL)])
    assert SENTINEL.encode() not in b"".join(p.SerializeToString() for p in payloads)

    failure = Failure()
    await converter.encode_failure(ApplicationError(f"boom {SENTINEL}"), failure)
    assert SENTINEL.encode() not in failure.SerializeToString()
    decoded = await converter.decode_failure(failure)
    assert SENTINEL in str(decoded)


async def test_sentinel_absent_from_history_when_codec_is_on(
    time_skipping_env: WorkflowEnvironment, task_queue: str
) -> None:
    env_client = time_skipping_env.client
    client = Client(
        env_client.service_client,
        namespace=env_client.namespace,
        data_converter=make_data_converter(codec=EncryptionCodec({"k1": KEY_A}, "k1")),
    )
    ok_id, failing_id = f"echo-{uuid.uuid4()}", f"echo-{uuid.uuid4()}"
    async with Worker(
        client, task_queue=task_queue, workflows=[EchoWorkflow], activities=[echo_note]
    ):
        result = await client.execute_workflow(
            EchoWorkflow.run, EchoInput(note=SENTINEL), id=ok_id, task_queue=task_queue
        )
        assert result.note == SENTINEL
        with pytest.raises(WorkflowFailureError) as failed:
            await client.execute_workflow(
                EchoWorkflow.run,
                EchoInput(note=SENTINEL, fail=True),
                id=failing_id,
                task_queue=task_queue,
            )
    assert SENTINEL in str(failed.value.cause.cause)

    for workflow_id in (ok_id, failing_id):
        raw = await env_client.workflow_service.get_workflow_execution_history(
            GetWorkflowExecutionHistoryRequest(
                namespace=env_client.namespace,
                execution={"workflow_id": workflow_id},
            )
        )
        history = raw.SerializeToString()
        assert ENCRYPTED_ENCODING in history
        assert SENTINEL.encode() not in history


# --- keys and settings ------------------------------------------------------------------------


def test_parse_key_accepts_hex_and_base64_and_never_echoes_the_text() -> None:
    assert parse_key(KEY_A.hex()) == KEY_A
    assert parse_key(base64.b64encode(KEY_A).decode()) == KEY_A
    assert parse_key(base64.urlsafe_b64encode(KEY_B).decode() + "\n") == KEY_B
    with pytest.raises(CodecKeyError) as short:
        parse_key(base64.b64encode(SENTINEL.encode()).decode())
    assert SENTINEL not in str(short.value)
    with pytest.raises(CodecKeyError) as garbage:
        parse_key(SENTINEL)
    assert SENTINEL not in str(garbage.value)


def test_codec_from_settings_resolves_key_references(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "old.key").write_text(KEY_A.hex() + "\n")
    monkeypatch.setenv("UCRENEW_TEST_KEY", base64.b64encode(KEY_B).decode())
    settings = UcrenewSettings(
        codec_key_ref="env:UCRENEW_TEST_KEY",
        codec_key_id="k2",
        codec_previous_key_refs={"k1": f"file:{tmp_path / 'old.key'}"},
    )
    codec = codec_from_settings(settings)
    assert codec is not None
    assert codec.active_key_id == "k2"
    assert codec_from_settings(UcrenewSettings()) is None
    guarded = make_data_converter(settings).payload_codec
    assert isinstance(guarded, KeyMaterialGuard) and isinstance(guarded.inner, EncryptionCodec)
    plain = make_data_converter(UcrenewSettings()).payload_codec
    assert isinstance(plain, KeyMaterialGuard) and plain.inner is None


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("UCRENEW_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("UCRENEW_TEMPORAL_ADDRESS", "127.0.0.1:17233")
    monkeypatch.setenv("UCRENEW_TASK_QUEUE", "ucrenew-test")
    settings = UcrenewSettings()
    assert settings.inventory_path == tmp_path / "clusters.yaml"
    assert settings.temporal_host_port == ("127.0.0.1", 17233)
    assert settings.task_queue == "ucrenew-test"
    assert settings.namespace == "default"
    assert UcrenewSettings(inventory=tmp_path / "x.yaml").inventory_path == tmp_path / "x.yaml"


def test_settings_reject_literal_key_without_echoing_it() -> None:
    with pytest.raises(ValidationError) as err:
        UcrenewSettings(codec_key_ref=SENTINEL)
    assert SENTINEL not in str(err.value)


# --- secret references ------------------------------------------------------------------------


def test_env_reference(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UCRENEW_TEST_SECRET", SENTINEL)
    assert resolve_secret_ref("env:UCRENEW_TEST_SECRET") == SENTINEL


def test_file_reference_relative_to_base_dir(tmp_path: Path) -> None:
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "axl.txt").write_text(SENTINEL + "\n")
    assert resolve_secret_ref("file:secrets/axl.txt", base_dir=tmp_path) == SENTINEL
    absolute = f"file:{tmp_path / 'secrets' / 'axl.txt'}"
    assert resolve_secret_ref(absolute, base_dir=Path("/nonexistent")) == SENTINEL


@pytest.mark.parametrize(
    ("ref", "reason"),
    [
        ("env:UCRENEW_SURELY_UNSET", "is not set"),
        ("file:missing.txt", "does not exist"),
    ],
)
def test_unresolvable_reference_names_the_reference(
    ref: str, reason: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("UCRENEW_SURELY_UNSET", raising=False)
    with pytest.raises(SecretRefError, match=reason) as err:
        resolve_secret_ref(ref, base_dir=tmp_path)
    assert err.value.ref == ref
    assert repr(ref) in str(err.value)


@pytest.mark.parametrize("text", [SENTINEL, f"vault:{SENTINEL}", "env:", f"pw:{SENTINEL}"])
def test_text_that_is_not_a_reference_is_not_echoed(text: str) -> None:
    with pytest.raises(SecretRefError, match="not a secret reference") as err:
        resolve_secret_ref(text)
    assert err.value.ref is None
    assert SENTINEL not in str(err.value)


def test_errors_never_contain_the_secret_value(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UCRENEW_TEST_EMPTY", "")
    unreadable = tmp_path / "binary.key"
    unreadable.write_bytes(b"\xff\xfe" + SENTINEL.encode())
    for ref in ("env:UCRENEW_TEST_EMPTY", f"file:{unreadable}"):
        with pytest.raises(SecretRefError) as err:
            resolve_secret_ref(ref)
        assert SENTINEL not in str(err.value)
        assert err.value.__cause__ is None
    assert os.environ["UCRENEW_TEST_EMPTY"] == ""


# --- the key-material guard ----------------------------------------------------------------


def _key_pem() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.BestAvailableEncryption(b"pw"),
    ).decode()


@pytest.mark.parametrize("encrypted", [False, True])
async def test_the_converter_refuses_to_encode_private_key_material(encrypted: bool) -> None:
    """Every ucrenew client's converter refuses a payload with a key, before any bytes leave:
    an update, a signal or a start alike (the guard sits before the encryption)."""
    from activities.clients.key_material import KeyMaterialError

    codec = EncryptionCodec({"k1": KEY_A}, "k1") if encrypted else None
    converter = make_data_converter(codec=codec)
    key = _key_pem()
    with pytest.raises(KeyMaterialError) as refused:
        await converter.encode([EchoInput(note="cert\n" + key)])
    assert "'RSA PRIVATE KEY'" in str(refused.value)
    assert key.splitlines()[-2] not in str(refused.value)
    # Public material passes, and decodes as it was.
    ok = await converter.encode([EchoInput(note="-----BEGIN CERTIFICATE-----\nMIIB\n")])
    assert await converter.decode(ok, [EchoInput]) == [
        EchoInput(note="-----BEGIN CERTIFICATE-----\nMIIB\n")
    ]
