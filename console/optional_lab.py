"""The lab is an optional part of ucrenew: the ``ucrenew-lab`` distribution, extra ``lab``.

The production worker image does not carry it. The commands that run it (``ucrenew lab …``,
``ucrenew dev up``, ``ucrenew demo``) call :func:`require` first: where the lab is missing
they say so and how to install it, and exit 2. Everything else works without it.
"""

from __future__ import annotations

import importlib.util

import typer

from console.common import err_console

#: Exit code of a command that needs the lab where it is not installed (a usage error).
EXIT_NOT_INSTALLED = 2


def installed() -> bool:
    """Whether the lab can be imported here."""
    return importlib.util.find_spec("lab") is not None


def require(command: str) -> None:
    """Stop ``command`` with a clear message when the lab is not installed.

    Args:
        command: The command that needs the lab, as the user typed it (``ucrenew dev up``).

    Raises:
        typer.Exit: With :data:`EXIT_NOT_INSTALLED`, after printing how to install the lab.
    """
    if installed():
        return
    err_console.print(
        f"error: {command} needs the lab, which is not installed here. Install it with "
        "`pip install 'ucrenew[lab]'` (from a source checkout: `pip install -e ./lab`).",
        markup=False,
        highlight=False,
    )
    raise typer.Exit(EXIT_NOT_INSTALLED)
