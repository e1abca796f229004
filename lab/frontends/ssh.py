"""SSH admin CLI of a twin node (asyncssh), with banner and ``admin:`` prompt.

The transport half of the CLI: password authentication of the OS platform admin, an
interactive PTY shell whose raw input goes through the node's own line discipline
(:mod:`lab.frontends.cli_terminal`: echo, typed-ahead lines, CR LF as one Enter), the VOS
login banner and prompt, and fault effects on the session (refused password, dropped
session). Commands themselves are interpreted by :mod:`lab.frontends.cli_commands`.
"""

from __future__ import annotations

import asyncio

import asyncssh

from lab import facts
from lab.frontends.base import ResponseLost, Twin
from lab.frontends.cli_commands import CliInterpreter
from lab.frontends.cli_session import SessionClosed
from lab.frontends.cli_terminal import LineTerminal
from lab.nodes import Node

BANNER_START = "Command Line Interface is starting up, please wait ..."
BANNER_WELCOME = "   Welcome to the Platform Command Line Interface"
PROMPT = "admin:"


class _NodeAcceptor(asyncssh.SSHAcceptor):
    """The node's SSH listener; closing it also drops open sessions, as an outage would."""

    def __init__(
        self, inner: asyncssh.SSHAcceptor, connections: set[asyncssh.SSHServerConnection]
    ) -> None:
        # Reuse the listening server of the acceptor asyncssh built.
        super().__init__(inner._server, inner._options)
        self._connections = connections

    def close(self) -> None:
        super().close()
        for conn in list(self._connections):
            conn.abort()
        self._connections.clear()


async def start_ssh_server(
    lab: Twin, node: Node, port: int, host_key: asyncssh.SSHKey
) -> asyncssh.SSHAcceptor:
    """Listen for SSH on the node's address.

    Args:
        lab: The running lab (credentials, faults, journal, cluster).
        node: The node this listener belongs to; commands act on it.
        port: TCP port to bind on the node's loopback address.
        host_key: The node's SSH host key (lab/inventory.py writes it to known_hosts).

    Returns:
        The listener; closing it also aborts the node's open sessions.
    """
    connections: set[asyncssh.SSHServerConnection] = set()

    class _Server(asyncssh.SSHServer):
        def __init__(self) -> None:
            self._refused = False
            self._conn: asyncssh.SSHServerConnection | None = None

        def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
            self._conn = conn
            connections.add(conn)

        def connection_lost(self, exc: Exception | None) -> None:
            if self._conn is not None:
                connections.discard(self._conn)

        def begin_auth(self, username: str) -> bool:
            return True

        def password_auth_supported(self) -> bool:
            return True

        def validate_password(self, username: str, password: str) -> bool:
            # Once the fault fires, the whole connection stays refused (every method retried).
            if self._refused or lab.faults.take("ssh-auth-fail", node.hostname):
                if not self._refused:
                    lab.journal.record("fault.fired", node.hostname, kind="ssh-auth-fail")
                self._refused = True
                return False
            return lab.check_ssh_password(username, password)

    async def _process(process: asyncssh.SSHServerProcess[str]) -> None:
        try:
            await _session(lab, node, process)
        except (BrokenPipeError, ConnectionError, asyncssh.Error):
            pass
        finally:
            if not process.is_closing():
                process.exit(0)

    inner = await asyncssh.create_server(
        _Server,
        node.address,
        port,
        server_host_keys=[host_key],
        process_factory=_process,
        encoding="utf-8",
        line_editor=False,
        server_version=facts.SSH_SERVER_VERSION,
        keepalive_interval=0,
    )
    return _NodeAcceptor(inner, connections)


async def _session(lab: Twin, node: Node, process: asyncssh.SSHServerProcess[str]) -> None:
    if process.command is not None or process.subsystem is not None:
        process.stdout.write(facts.CLI_EXEC_NOT_SUPPORTED + "\n")
        process.exit(facts.CLI_EXEC_EXIT_STATUS)
        return
    lab.journal.record("cli.login", node.hostname, user=process.get_extra_info("username"))
    term = LineTerminal(process.stdout.write)
    reader = asyncio.create_task(_pump_input(process, term))
    try:
        await _shell(lab, node, process, term)
    finally:
        reader.cancel()


async def _pump_input(process: asyncssh.SSHServerProcess[str], term: LineTerminal) -> None:
    """Hand what the client types to the terminal as it arrives, whatever the CLI is doing."""
    while True:
        try:
            data: str = await process.stdin.read(4096)
        except (asyncssh.BreakReceived, asyncssh.SignalReceived):
            term.interrupt()
            continue
        except asyncssh.TerminalSizeChanged:
            continue
        except (OSError, asyncssh.Error):
            data = ""
        if not data:
            term.close()
            return
        term.feed(data)


async def _shell(
    lab: Twin, node: Node, process: asyncssh.SSHServerProcess[str], term: LineTerminal
) -> None:
    term.write(BANNER_START + "\n")
    await asyncio.sleep(lab.timing.cli_banner_delay)
    term.write("\n" + BANNER_WELCOME + "\n\n" + "\n".join(facts.CLI_BANNER_HARDWARE) + "\n\n")
    interpreter = CliInterpreter(lab, node, term)
    while True:
        term.start_line()
        term.write(PROMPT)
        line = await term.readline()
        if line is None:
            break
        try:
            keep = await interpreter.execute(line)
        except ResponseLost:
            conn = process.channel.get_extra_info("connection")
            conn.abort()
            return
        except SessionClosed:
            break
        if not keep:
            break
    process.exit(0)
