"""One VOS CLI session on a twin node: the terminal it talks through and what commands share.

:class:`CliSession` writes lines, asks questions and knows the node logged in to; the
commands (:mod:`lab.frontends.cli_services`, :mod:`lab.frontends.cli_certs`,
:mod:`lab.frontends.cli_cluster`) are functions of a session, and
:class:`~lab.frontends.cli_commands.CliInterpreter` dispatches command lines to them.
"""

from __future__ import annotations

import datetime as dt
from typing import Protocol

from lab import facts
from lab.frontends.base import Twin
from lab.nodes import Node


class SessionClosed(Exception):
    """The terminal went away while a command was reading input."""


class Terminal(Protocol):
    """What the interpreter needs from a session: write text, read a line."""

    def write(self, text: str) -> None:
        """Write text; ``\\n`` ends a line."""

    async def readline(self) -> str | None:
        """The next input line without its end, or None at end of input."""


def cli_date(when: dt.datetime) -> str:
    """A date as the CLI prints it (``Mon Jan 06 10:00:00 UTC 2025``)."""
    return when.astimezone(dt.UTC).strftime("%a %b %d %H:%M:%S UTC %Y")


class CliSession:
    """The state of one CLI session on one node.

    Attributes:
        lab: The twin the node belongs to.
        cluster: The twin's cluster.
        node: The node logged in to; commands act on it.
        term: Where output goes and input comes from.
        pagination: Whether ``set cli pagination`` left paging on.
    """

    def __init__(self, lab: Twin, node: Node, term: Terminal) -> None:
        """Start a session.

        Args:
            lab: The twin the node belongs to.
            node: The node logged in to.
            term: The session's terminal.
        """
        self.lab = lab
        self.cluster = lab.cluster
        self.node = node
        self.term = term
        self.pagination = True

    def say(self, *lines: str) -> None:
        """Write whole lines."""
        for line in lines:
            self.term.write(line + "\n")

    async def ask(self, prompt: str) -> str:
        """Print a prompt (no line end) and read the answer."""
        self.term.write(prompt)
        answer = await self.term.readline()
        if answer is None:
            raise SessionClosed
        return answer

    def fail(self, *lines: str) -> None:
        """Print an error and the generic failure line."""
        self.say(*lines, facts.CLI_FAILED_LINE)

    @property
    def version(self) -> tuple[int, ...]:
        """The cluster version as a comparable tuple."""
        return self.cluster.spec.build
