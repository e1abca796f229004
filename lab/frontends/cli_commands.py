"""The VOS platform CLI command interpreter of a twin node, independent of the SSH transport.

:class:`CliInterpreter` reads one command line at a time from a
:class:`~lab.frontends.cli_session.Terminal` and writes what the real CLI prints
(cucm-interfaces.md §7.2), acting on the node logged in to through the
:class:`~lab.cluster.Cluster` API. Everything the reference marks [INF] comes from
:mod:`lab.facts`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from lab import facts
from lab.frontends import cli_certs, cli_cluster, cli_health, cli_services
from lab.frontends.base import Twin
from lab.frontends.cli_session import CliSession, Terminal
from lab.nodes import Node

Handler = Callable[[CliSession, list[str]], Awaitable[None]]


class CliInterpreter(CliSession):
    """Runs VOS CLI commands on one node for one session."""

    def __init__(self, lab: Twin, node: Node, term: Terminal) -> None:
        """Start a session and its command table.

        Args:
            lab: The twin the node belongs to.
            node: The node logged in to.
            term: The session's terminal.
        """
        super().__init__(lab, node, term)
        self._commands: list[tuple[tuple[str, ...], Handler]] = [
            (("utils", "service", "list"), cli_services.service_list),
            (("utils", "service", "restart"), cli_services.service_restart),
            (("utils", "service", "start"), cli_services.service_start),
            (("utils", "service", "stop"), cli_services.service_stop),
            (("utils", "sso", "status"), cli_services.sso_status),
            (("utils", "sso", "disable"), cli_services.sso_disable),
            (("utils", "sso", "enable"), cli_services.sso_enable),
            (("utils", "ctl", "update", "ctlfile"), cli_certs.ctl_update),
            (("utils", "dbreplication", "runtimestate"), cli_cluster.dbreplication),
            (("show", "cert", "list"), cli_certs.cert_list),
            (("show", "cert", "own"), cli_certs.cert_show_own),
            (("show", "cert", "trust"), cli_certs.cert_show_trust),
            (("show", "csr", "own"), cli_certs.csr_show),
            (("set", "csr", "gen"), cli_certs.csr_gen),
            (("set", "cert", "import"), cli_certs.cert_import),
            (("set", "cert", "delete"), cli_certs.cert_delete),
            (("set", "cert", "regen"), cli_certs.cert_regen),
            (("show", "ctl"), cli_certs.show_ctl),
            (("show", "network", "cluster"), cli_cluster.network_cluster),
            (("run", "sql"), cli_cluster.run_sql),
            (("set", "cli", "pagination"), cli_services.pagination),
            *cli_health.COMMANDS,
        ]
        self._commands.sort(key=lambda c: -len(c[0]))

    async def execute(self, line: str) -> bool:
        """Run one command line; False when the session should end.

        Raises:
            lab.frontends.base.ResponseLost: A ``response-lost`` fault fired after the change
                was applied; the transport must drop the session without writing more.
            SessionClosed: Input ended while the command was asking a question.
        """
        tokens = line.split()
        if not tokens:
            return True
        lowered = [t.lower() for t in tokens]
        if lowered in (["exit"], ["quit"]):
            return False
        self.lab.journal.record("cli.command", self.node.hostname, command=" ".join(tokens))
        for words, handler in self._commands:
            if tuple(lowered[: len(words)]) == words:
                await handler(self, tokens[len(words) :])
                return True
        self.say(facts.CLI_INVALID_COMMAND)
        return True
