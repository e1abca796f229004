"""Owner-only state: the directories and files ucrenew writes under its state dir.

The state dir holds the dev server's SQLite database (every workflow history: plans,
certificates, audit trails), the service's session key and users file, credentials of the
lab, pid and log files. Nothing there is for other local users, so directories are created
0700 and files 0600 whatever the umask, and a file written by an earlier, laxer version is
tightened when ucrenew touches it again. POSIX modes only: elsewhere the calls create the
files and leave permissions to the platform.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import BinaryIO, Final

__all__ = [
    "DIR_MODE",
    "FILE_MODE",
    "append_private",
    "private_dir",
    "tighten",
    "write_private_text",
]

DIR_MODE: Final = 0o700
"""Mode of every directory ucrenew creates for its state."""

FILE_MODE: Final = 0o600
"""Mode of every state or credential file ucrenew writes."""


def private_dir(path: Path) -> Path:
    """Create ``path`` (and missing parents) as 0700 directories; tighten ``path`` itself.

    Parents that already exist are left alone (the state dir may live in a shared place);
    ``path`` is ucrenew's own and is made 0700 even if it existed.

    Args:
        path: The directory.

    Returns:
        ``path``.
    """
    missing = []
    here = path
    while not here.exists() and here.parent != here:
        missing.append(here)
        here = here.parent
    for directory in reversed(missing):
        directory.mkdir(mode=DIR_MODE, exist_ok=True)
        os.chmod(directory, DIR_MODE)
    if stat.S_IMODE(path.stat().st_mode) != DIR_MODE:
        os.chmod(path, DIR_MODE)
    return path


def tighten(*paths: Path) -> None:
    """Make existing files 0600 (a database or log from an earlier version); skip missing.

    Args:
        *paths: The files.
    """
    for path in paths:
        try:
            if stat.S_IMODE(path.stat().st_mode) & ~FILE_MODE:
                os.chmod(path, FILE_MODE)
        except FileNotFoundError:
            continue


def _open(path: Path, flags: int) -> int:
    fd = os.open(path, flags | os.O_CREAT, FILE_MODE)
    if hasattr(os, "fchmod"):
        os.fchmod(fd, FILE_MODE)  # the file may predate us, or the umask be odd
    return fd


def write_private_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path``, mode 0600 (replacing its content).

    Args:
        path: The file.
        text: Its new content (UTF-8).
    """
    with os.fdopen(_open(path, os.O_WRONLY | os.O_TRUNC), "w", encoding="utf-8") as out:
        out.write(text)


def append_private(path: Path) -> BinaryIO:
    """Open ``path`` for appending bytes, mode 0600 (a log a subprocess writes to).

    Args:
        path: The file.

    Returns:
        The open binary file; close it (``with``) once the child has it.
    """
    return os.fdopen(_open(path, os.O_WRONLY | os.O_APPEND), "ab")
