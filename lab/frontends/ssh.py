"""SSH admin CLI of a twin node (asyncssh), with banner and ``admin:`` prompt."""

from __future__ import annotations

from typing import TYPE_CHECKING

import asyncssh

from lab.cluster import Node

if TYPE_CHECKING:
    from lab.server import Lab


async def start_ssh_server(
    lab: Lab, node: Node, port: int, host_key: asyncssh.SSHKey
) -> asyncssh.SSHAcceptor:
    """Listen for SSH on the node's address."""

    class _Server(asyncssh.SSHServer):
        def begin_auth(self, username: str) -> bool:
            return True

        def password_auth_supported(self) -> bool:
            return True

        def validate_password(self, username: str, password: str) -> bool:
            return lab.check_ssh_password(username, password)

    async def _process(process: asyncssh.SSHServerProcess[str]) -> None:
        process.stdout.write("admin:")
        process.exit(0)

    return await asyncssh.create_server(
        _Server, node.address, port, server_host_keys=[host_key], process_factory=_process
    )
