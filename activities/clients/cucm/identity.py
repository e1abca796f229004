"""Who answers at a node's address: the node's own word, checked before ucrenew acts on it.

An inventory address that reaches another node (a typo, a stale DNS record) would otherwise go
unnoticed once every node serves the one multi-server certificate: TLS verifies for every
node's name on every node. So the node is asked over SSH: the host name it reports
(``show status``) must be the inventory node's, and the SSH host key it presents must be the
one pinned for the node (known_hosts lines that name the node, checked by
:class:`~activities.clients.cucm.cli.CucmCli`; the key discovery saw, checked here).
"""

from __future__ import annotations

from activities.clients.cucm import inferred
from activities.clients.cucm.cli import CucmCli
from activities.clients.cucm.errors import CucmWrongNode
from activities.clients.cucm.transport import BasicAuth, NodeEndpoint
from activities.cluster_models import NodeIdentity, answered_as_other, identity_mismatch

#: The command whose first line names the node (also read for the pre-change health).
STATUS = "show status"


def parse_hostname(output: str) -> str:
    """The host name ``show status`` reports, empty when the output names none."""
    found = inferred.SHOW_STATUS_HOSTNAME_RE.search(output)
    return found["host"] if found else ""


def identity_of(shell: CucmCli, status_output: str) -> NodeIdentity:
    """What the node ``shell`` is logged in to says about itself, from its ``show status``."""
    return NodeIdentity(
        node=shell.endpoint.fqdn,
        address=shell.endpoint.host,
        hostname=parse_hostname(status_output),
        ssh_host_key=shell.host_key,
    )


def check_identity(identity: NodeIdentity, expected_host_key: str = "") -> NodeIdentity:
    """Refuse an identity that is not the inventory node's.

    Args:
        identity: Who answered at the node's address.
        expected_host_key: The node's SSH host key pinned earlier in the change; empty: none.

    Returns:
        ``identity``, when it is the node's (a host name that could not be read, or any host
        name of a node the inventory names by IP address, is not a mismatch: the host key
        still is checked).

    Raises:
        CucmWrongNode: The node reported another host name, or presented another host key.
    """
    if answered_as_other(identity.node, identity.hostname):
        raise CucmWrongNode(
            identity_mismatch(identity.node, identity.address, identity.hostname),
            node=identity.node,
            address=identity.address,
            answered_by=identity.hostname,
        )
    if expected_host_key and identity.ssh_host_key != expected_host_key:
        raise CucmWrongNode(
            f"inventory node {identity.node} (address {identity.address}) presented SSH host "
            f"key {identity.ssh_host_key or 'none'}, not {expected_host_key} it presented when "
            "this change discovered the cluster: another node answers at the address, or the "
            "node was reinstalled meanwhile; check the node and its address in the inventory",
            node=identity.node,
            address=identity.address,
            answered_by=identity.hostname or f"a node with SSH host key {identity.ssh_host_key}",
        )
    return identity


async def confirm_in_session(shell: CucmCli, expected_host_key: str = "") -> NodeIdentity:
    """Ask the node ``shell`` is logged in to who it is, before the session changes anything.

    Raises:
        CucmWrongNode: Another node answered (host name or SSH host key).
        CucmError: The CLI failed.
    """
    output = await shell.run(STATUS, timeout=inferred.HEALTH_COMMAND_TIMEOUT)
    return check_identity(identity_of(shell, output), expected_host_key)


async def confirm_identity(
    endpoint: NodeEndpoint, auth: BasicAuth, expected_host_key: str = ""
) -> NodeIdentity:
    """Ask the node at ``endpoint`` who it is and refuse it unless it is the inventory node.

    Raises:
        CucmWrongNode: Another node answered (host name or SSH host key).
        CucmError: SSH or the CLI failed (as for any CLI step).
    """
    async with CucmCli(endpoint, auth) as shell:
        return await confirm_in_session(shell, expected_host_key)
