"""Resolve secret references (``env:NAME``, ``file:PATH``) to their values.

Secrets travel through ucrenew by reference only; this is the one place a reference becomes a
value. Error messages name the reference, never the value. This module never imports
temporalio.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["SecretRefError", "resolve_secret_ref"]


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
    scheme, sep, target = ref.partition(":")
    if not sep or scheme not in ("env", "file") or not target.strip():
        raise SecretRefError(None, "expected 'env:NAME' or 'file:PATH'")
    if scheme == "env":
        return _from_env(ref, target)
    return _from_file(ref, target, base_dir)


def _from_env(ref: str, name: str) -> str:
    value = os.environ.get(name)
    if value is None:
        raise SecretRefError(ref, f"environment variable {name} is not set")
    if not value:
        raise SecretRefError(ref, f"environment variable {name} is empty")
    return value


def _from_file(ref: str, target: str, base_dir: Path | str | None) -> str:
    path = Path(target).expanduser()
    if not path.is_absolute():
        path = Path(base_dir if base_dir is not None else Path.cwd()) / path
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
