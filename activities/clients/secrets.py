"""Secret references (``env:NAME``, ``file:PATH``): the one type, and turning them into values.

Secrets travel through ucrenew by reference only. :data:`SecretRef` is the field type for
every reference in configuration (inventory, settings), :func:`check_secret_ref` the one
test of what counts as a reference, :func:`rebase_secret_ref` anchors a relative ``file:``
path to the file that named it, and :func:`resolve_secret_ref` is the one place a reference
becomes a value. Error messages name the reference, never the value, and text that is not a
reference (it may be a secret pasted by mistake) is never repeated. This module never
imports temporalio.
"""

from __future__ import annotations

import os
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
    "expected 'env:NAME' or 'file:PATH'; put the secret in an environment variable or a "
    "file and give its reference, never the secret itself"
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
    if not sep or scheme not in ("env", "file") or not target.strip():
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
"""A secret reference as a pydantic field type: ``env:NAME`` or ``file:PATH``, never a literal.

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

    Args:
        ref: The reference.
        base_dir: Directory that relative ``file:`` paths are relative to, typically the
            directory of the configuration file that contains the reference.

    Returns:
        The secret value.

    Raises:
        SecretRefError: Not a reference (unknown scheme, empty name; the text is not echoed),
            unset or empty variable, missing, unreadable or empty file.
    """
    scheme, _, target = check_secret_ref(ref).partition(":")
    if scheme == "env":
        return _from_env(ref, target)
    return _from_file(ref, _file_path(target, base_dir))


def _from_env(ref: str, name: str) -> str:
    value = os.environ.get(name)
    if value is None:
        raise SecretRefError(ref, f"environment variable {name} is not set")
    if not value:
        raise SecretRefError(ref, f"environment variable {name} is empty")
    return value


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
