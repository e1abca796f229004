"""The one data converter every ucrenew Temporal client uses (workers, CLI, dashboard, tests).

Pydantic payloads, failure messages and stack traces moved into encoded attributes (so the
codec covers them too), a guard that refuses to encode any payload holding private key
material (so no ucrenew process can put a key into a workflow history, whatever the message:
update, signal, start, activity input or result), and optional AES-256-GCM payload
encryption. Every process that talks to the same namespace must build its converter here,
with the same keys, or it cannot read the others' payloads.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import os
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import (
    DataConverter,
    DefaultFailureConverterWithEncodedAttributes,
    PayloadCodec,
)

from activities.clients.key_material import KeyMaterialError, find_key_material
from activities.clients.secrets import resolve_secret_ref
from workers.settings import UcrenewSettings

__all__ = [
    "ENCRYPTED_ENCODING",
    "KEY_ID_METADATA",
    "CodecKeyError",
    "EncryptionCodec",
    "KeyMaterialGuard",
    "codec_from_settings",
    "make_data_converter",
    "parse_key",
    "payload_key_material",
]

ENCRYPTED_ENCODING = b"binary/encrypted"
"""``encoding`` metadata value of an encrypted payload."""

KEY_ID_METADATA = "encryption-key-id"
"""Metadata entry naming the key that encrypted a payload."""

_NONCE_SIZE = 12
# No private key encodes in fewer characters (an EC P-256 SEC1 key is 121 bytes of DER, 164
# of base64): shorter strings (names, serials, phases) are not worth a look.
_SMALLEST_KEY = 100
_KEY_SIZE = 32


class CodecKeyError(ValueError):
    """A payload cannot be decrypted: unknown key id, wrong key, or corrupt data."""


def parse_key(text: str) -> bytes:
    """Decode a 256-bit key written as 64 hex digits or base64 (standard or URL-safe).

    Args:
        text: The key material as stored in the secret.

    Returns:
        The 32 key bytes.

    Raises:
        CodecKeyError: The text is not a 32-byte key in either form (the message does not
            include the text).
    """
    text = text.strip()
    if len(text) == 2 * _KEY_SIZE:
        try:
            return bytes.fromhex(text)
        except ValueError:
            pass
    try:
        key = base64.b64decode(text.replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError):
        raise CodecKeyError("codec key is neither 64 hex digits nor base64") from None
    if len(key) != _KEY_SIZE:
        raise CodecKeyError(f"codec key must be {_KEY_SIZE} bytes, got {len(key)}")
    return key


class EncryptionCodec(PayloadCodec):
    """AES-256-GCM payload codec with key ids for rotation.

    Each payload is serialized, encrypted with the active key under a random 12-byte nonce
    and stored as ``nonce || ciphertext+tag`` with ``encoding=binary/encrypted`` and the key
    id in metadata. The key id is also the AEAD associated data, so a payload relabelled with
    another key id fails authentication. Payloads without the encrypted encoding (written
    before encryption was turned on) pass through decode unchanged.
    """

    def __init__(self, keys: Mapping[str, bytes], active_key_id: str) -> None:
        """Build the codec.

        Args:
            keys: Key id to 32-byte key, for every key that may still be needed to decrypt.
            active_key_id: Id of the key that encrypts new payloads; must be in ``keys``.

        Raises:
            CodecKeyError: The active key is missing or a key has the wrong length.
        """
        super().__init__()
        if active_key_id not in keys:
            raise CodecKeyError(f"active codec key id {active_key_id!r} has no key")
        for key_id, key in keys.items():
            if len(key) != _KEY_SIZE:
                raise CodecKeyError(f"codec key {key_id!r} must be {_KEY_SIZE} bytes")
        self._ciphers = {key_id: AESGCM(key) for key_id, key in keys.items()}
        self._active_key_id = active_key_id

    @property
    def active_key_id(self) -> str:
        """Id of the key that encrypts new payloads."""
        return self._active_key_id

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        """Encrypt payloads with the active key.

        Args:
            payloads: Plain payloads.

        Returns:
            Encrypted payloads, one per input.
        """
        key_id = self._active_key_id.encode()
        cipher = self._ciphers[self._active_key_id]
        encoded = []
        for payload in payloads:
            nonce = os.urandom(_NONCE_SIZE)
            data = nonce + cipher.encrypt(nonce, payload.SerializeToString(), key_id)
            encoded.append(
                Payload(
                    metadata={"encoding": ENCRYPTED_ENCODING, KEY_ID_METADATA: key_id},
                    data=data,
                )
            )
        return encoded

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        """Decrypt payloads written by any known key.

        Args:
            payloads: Payloads as stored by Temporal.

        Returns:
            Plain payloads, one per input.

        Raises:
            CodecKeyError: A payload names an unknown key id or fails authentication.
        """
        decoded = []
        for payload in payloads:
            if payload.metadata.get("encoding") != ENCRYPTED_ENCODING:
                decoded.append(payload)
                continue
            raw_id = payload.metadata.get(KEY_ID_METADATA, b"")
            key_id = raw_id.decode("utf-8", errors="replace")
            cipher = self._ciphers.get(key_id)
            if cipher is None:
                raise CodecKeyError(f"payload encrypted with unknown codec key id {key_id!r}")
            nonce, ciphertext = payload.data[:_NONCE_SIZE], payload.data[_NONCE_SIZE:]
            try:
                plain = cipher.decrypt(nonce, ciphertext, raw_id)
            except InvalidTag:
                raise CodecKeyError(
                    f"payload does not decrypt with codec key {key_id!r} (wrong key or corrupt)"
                ) from None
            decoded.append(Payload.FromString(plain))
        return decoded


def _strings(value: object) -> list[str]:
    """Every string of a decoded JSON value (keys too: a dict may be keyed by anything)."""
    found: list[str] = []
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            found.append(item)
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


# Strings found clean lately (a CSR, the new certificates: the status carries them in every
# answer), so a long renewal's repeated payloads are scanned once. Only clean strings.
_CLEAN: OrderedDict[str, None] = OrderedDict()
_CLEAN_MAX = 256


def _remember_clean(text: str) -> None:
    _CLEAN[text] = None
    if len(_CLEAN) > _CLEAN_MAX:
        _CLEAN.popitem(last=False)


def payload_key_material(payload: Payload) -> str | None:
    """Say what private key material a plain (not yet encrypted) payload holds, if any.

    JSON payloads are read string by string (a PEM block's line breaks are escaped in the
    JSON text); binary ones as a whole file would be.

    Args:
        payload: A payload as the pydantic converter made it.

    Returns:
        A description of the key material (no key bytes), or ``None``.
    """
    data = payload.data
    if len(data) < _SMALLEST_KEY:
        return None
    if payload.metadata.get("encoding") == b"json/plain":
        try:
            decoded = json.loads(data)
        except ValueError:
            return find_key_material(data)
        for text in _strings(decoded):
            if len(text) < _SMALLEST_KEY or text in _CLEAN:
                continue
            kind = find_key_material(text)
            if kind is not None:
                return kind
            _remember_clean(text)
        return None
    return find_key_material(data)


class KeyMaterialGuard(PayloadCodec):
    """The first codec of every ucrenew converter: refuses to encode private key material.

    Whatever a Temporal client encodes is sent to the server and kept in history (and its
    database) for the retention period; a validator that refuses an update, or a signal
    handler that ignores one, comes too late for the bytes. This codec raises
    :class:`~activities.clients.key_material.KeyMaterialError` before anything leaves the
    process, then hands the payloads to ``inner`` (the encryption codec), if any. A client
    that does not use ucrenew's converter (the ``temporal`` CLI, another SDK) bypasses it:
    the renewal's update validators refuse those, and signals from such clients are the one
    path the guard cannot cover (docs/operator-guide.md, "Private keys and the state dir").
    """

    def __init__(self, inner: PayloadCodec | None = None) -> None:
        """Wrap ``inner``.

        Args:
            inner: The codec that encodes after the check (encryption), or ``None``.
        """
        super().__init__()
        self.inner = inner

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        """Check every payload, then encode them with the inner codec.

        Args:
            payloads: Plain payloads.

        Returns:
            The payloads as the inner codec encodes them (unchanged without one).

        Raises:
            KeyMaterialError: A payload holds private key material; nothing was encoded.
        """
        for payload in payloads:
            kind = payload_key_material(payload)
            if kind is not None:
                raise KeyMaterialError("a message to Temporal", kind)
        if self.inner is None:
            return list(payloads)
        return await self.inner.encode(payloads)

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        """Decode with the inner codec (history written before the guard reads as it was).

        Args:
            payloads: Payloads as stored by Temporal.

        Returns:
            Plain payloads, one per input.
        """
        if self.inner is None:
            return list(payloads)
        return await self.inner.decode(payloads)


def codec_from_settings(
    settings: UcrenewSettings, base_dir: Path | None = None
) -> EncryptionCodec | None:
    """Build the payload codec that the settings configure.

    Args:
        settings: Settings with ``codec_key_ref`` and friends.
        base_dir: Directory for relative ``file:`` key references; the current directory
            when omitted.

    Returns:
        The codec, or ``None`` when no key is configured.

    Raises:
        activities.clients.secrets.SecretRefError: A key reference does not resolve.
        CodecKeyError: A resolved key is malformed.
    """
    if settings.codec_key_ref is None:
        return None
    keys = {
        key_id: parse_key(resolve_secret_ref(ref, base_dir))
        for key_id, ref in settings.codec_previous_key_refs.items()
    }
    keys[settings.codec_key_id] = parse_key(resolve_secret_ref(settings.codec_key_ref, base_dir))
    return EncryptionCodec(keys, settings.codec_key_id)


def make_data_converter(
    settings: UcrenewSettings | None = None, *, codec: PayloadCodec | None = None
) -> DataConverter:
    """Build the ucrenew data converter.

    Args:
        settings: Settings whose codec key (if any) enables encryption.
        codec: An explicit payload codec, taking precedence over ``settings``; for tests and
            tools that hold the key themselves.

    Returns:
        A pydantic data converter with encoded failure attributes, the key-material guard,
        and the codec, if any, behind it.
    """
    if codec is None and settings is not None:
        codec = codec_from_settings(settings)
    return dataclasses.replace(
        pydantic_data_converter,
        payload_codec=KeyMaterialGuard(codec),
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )
