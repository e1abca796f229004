"""Secret references (``env:NAME``, ``file:PATH``, ``vault:PATH#KEY``): the one type, and
turning them into values.

Secrets travel through ucrenew by reference only. :data:`SecretRef` is the field type for
every reference in configuration (inventory, settings), :func:`check_secret_ref` the one
test of what counts as a reference, :func:`rebase_secret_ref` anchors a relative ``file:``
path to the file that named it, and :func:`resolve_secret_ref` is the one place a reference
becomes a value. Error messages name the reference, never the value, and text that is not a
reference (it may be a secret pasted by mistake) is never repeated. This module never
imports temporalio.

Kubernetes secrets are read as ``file:`` references to a Secret mounted as a volume (e.g.
``file:/var/run/secrets/ucrenew/axl_password``), not through the Kubernetes API: the kubelet
keeps a mounted Secret current, the worker's service account needs no ``get secrets``
permission (a credential that would read every Secret of the namespace), and it works under
the restricted pod security standard with a read-only root file system. A ``k8s:`` reference
is refused with that advice.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Final

from pydantic import BeforeValidator, PlainValidator
from pydantic_core import PydanticCustomError

__all__ = [
    "SecretRef",
    "SecretRefError",
    "check_secret_ref",
    "rebase_secret_ref",
    "resolve_secret_ref",
]

_NOT_A_REFERENCE: Final = (
    "expected 'env:NAME', 'file:PATH' or 'vault:MOUNT/data/PATH#KEY'; put the secret in an "
    "environment variable, a file or Vault and give its reference, never the secret itself"
)
_SCHEMES: Final = ("env", "file", "vault")
#: A KV v2 API path and a key, with an optional pinned version; anything else after "vault:"
#: may be a pasted secret, so it is refused like any non-reference, without being repeated.
_VAULT_TARGET: Final = re.compile(r"^[^#?\s]+/data/[^#?\s]+#[^#?\s]+(\?version=\d+)?$")
_K8S_ADVICE: Final = (
    "k8s: references are not supported: mount the Kubernetes Secret as a volume and give "
    "file:/<mount path>/<key> (the kubelet keeps it current and the worker needs no API "
    "access to Secrets)"
)


class SecretRefError(ValueError):
    """A secret reference is malformed or cannot be resolved.

    Attributes:
        ref: The reference that failed, or ``None`` when the text was not a reference at all
            (it may be a literal secret pasted by mistake, so it is not repeated).
    """

    def __init__(self, ref: str | None, reason: str) -> None:
        """Build the error.

        Args:
            ref: The well-formed reference that failed, or ``None`` for malformed text.
            reason: Why it failed, without any secret material.
        """
        subject = "not a secret reference" if ref is None else f"secret reference {ref!r}"
        super().__init__(f"{subject}: {reason}")
        self.ref = ref


def check_secret_ref(text: str) -> str:
    """Return ``text`` if it is a secret reference, else refuse it without repeating it.

    Args:
        text: ``env:NAME`` or ``file:PATH`` with a non-blank name or path.

    Returns:
        ``text`` unchanged.

    Raises:
        SecretRefError: ``text`` is not a reference (its ``ref`` is ``None``).
    """
    scheme, sep, target = text.partition(":")
    if sep and scheme in ("k8s", "kubernetes") and target.strip():
        raise SecretRefError(text, _K8S_ADVICE)
    if not sep or scheme not in _SCHEMES or not target.strip():
        raise SecretRefError(None, _NOT_A_REFERENCE)
    if scheme == "vault" and not _VAULT_TARGET.match(target):
        raise SecretRefError(None, _NOT_A_REFERENCE)
    return text


class _Withheld:
    """Stands in for refused input so that validation errors cannot show it."""

    def __repr__(self) -> str:
        return "<withheld>"


_WITHHELD: Final = _Withheld()


def _withhold_non_reference(value: object) -> object:
    # Runs first, so that pydantic's error (which quotes its input) sees the stand-in.
    if isinstance(value, str):
        try:
            return check_secret_ref(value)
        except SecretRefError:
            pass
    return _WITHHELD


def _refuse_withheld(value: object) -> str:
    if isinstance(value, str):
        return value
    raise PydanticCustomError("secret_ref", "not a secret reference: " + _NOT_A_REFERENCE)


SecretRef = Annotated[
    str,
    PlainValidator(_refuse_withheld, json_schema_input_type=str),
    BeforeValidator(_withhold_non_reference),
]
"""A secret reference as a pydantic field type: ``env:NAME``, ``file:PATH`` or
``vault:PATH#KEY``, never a literal.

Validation refuses anything else with an actionable message, and the refused text never
appears in the error (pydantic quotes a stand-in instead).
"""


def _file_path(target: str, base_dir: Path | str | None) -> Path:
    path = Path(target).expanduser()
    if path.is_absolute():
        return path
    return Path(base_dir if base_dir is not None else Path.cwd()) / path


def rebase_secret_ref(ref: str, base_dir: Path | str) -> str:
    """Anchor a relative ``file:`` reference to ``base_dir``; other references are unchanged.

    Args:
        ref: The reference, typically as written in a configuration file.
        base_dir: Directory that relative paths are relative to (that file's directory).

    Returns:
        The reference, with an absolute path when it is a ``file:`` reference.

    Raises:
        SecretRefError: ``ref`` is not a reference (the text is not echoed).
    """
    scheme, _, target = check_secret_ref(ref).partition(":")
    return f"file:{_file_path(target, base_dir)}" if scheme == "file" else ref


def resolve_secret_ref(ref: str, base_dir: Path | str | None = None) -> str:
    """Return the secret a reference points to.

    Supported forms:

    * ``env:NAME``: the value of environment variable ``NAME``.
    * ``file:PATH``: the content of a file, with one trailing newline removed. A relative
      ``PATH`` is taken relative to ``base_dir`` (the current directory when omitted).
    * ``vault:MOUNT/data/PATH#KEY``: key ``KEY`` of a HashiCorp Vault KV v2 secret
      (:mod:`activities.clients.vault_secrets`: address and sign-in from ``VAULT_ADDR`` and
      ``UCRENEW_VAULT_TOKEN_REF`` or ``UCRENEW_VAULT_K8S_ROLE``).

    Args:
        ref: The reference.
        base_dir: Directory that relative ``file:`` paths are relative to, typically the
            directory of the configuration file that contains the reference.

    Returns:
        The secret value.

    Raises:
        SecretRefError: Not a reference (unknown scheme, empty name; the text is not echoed),
            unset or empty variable, missing, unreadable or empty file, or a Vault secret
            that cannot be read (the reason names the path and the server, never a value).
    """
    scheme, _, target = check_secret_ref(ref).partition(":")
    if scheme == "env":
        return _from_env(ref, target)
    if scheme == "vault":
        return _from_vault(ref, target)
    return _from_file(ref, _file_path(target, base_dir))


def _from_env(ref: str, name: str) -> str:
    value = os.environ.get(name)
    if value is None:
        raise SecretRefError(ref, f"environment variable {name} is not set")
    if not value:
        raise SecretRefError(ref, f"environment variable {name} is empty")
    return value


def _from_vault(ref: str, target: str) -> str:
    # Imported on use: hvac (and requests) load only in processes that use Vault.
    from activities.clients.vault_secrets import VaultSecretError, read_vault_secret

    try:
        return read_vault_secret(target)
    except VaultSecretError as exc:
        raise SecretRefError(ref, str(exc)) from None


def _from_file(ref: str, path: Path) -> str:
    try:
        content = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SecretRefError(ref, f"file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as err:
        # Only the exception class: messages of decode errors can quote file bytes.
        raise SecretRefError(ref, f"file {path} is unreadable ({type(err).__name__})") from None
    value = content.removesuffix("\n").removesuffix("\r")
    if not value:
        raise SecretRefError(ref, f"file {path} is empty")
    return value
