"""The node a step acted on is the node it meant: pins from discovery, checks of results.

Discovery records who answered at each inventory address (host name, SSH host key); preflight
refuses an address that reaches another node (``workflows.plan.identity_problems``). Later,
each restart and verification carries the host key discovery pinned for its node, the
activity refuses another node, and its result names who answered: :func:`check_answered`
makes sure a result is never counted for a node other than the one that gave it.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.cluster_models import ClusterSnapshot, answered_as_other
    from workflows.steps import RenewalStopped

#: The error type of a step whose node answered as another (as the activity names it).
WRONG_NODE = "CucmWrongNode"


def pinned_host_keys(snapshot: ClusterSnapshot) -> dict[str, str]:
    """Each node's SSH host key as discovery saw it (inventory FQDN -> ``SHA256:…``).

    Nodes whose key was not read, or whose identity preflight refuses, have no pin.
    """
    return {
        n.fqdn: n.identity.ssh_host_key
        for n in snapshot.nodes
        if n.identity is not None and n.identity.ssh_host_key and not n.identity_error
    }


def check_answered(node: str, answered_by: str, step: str) -> None:
    """Refuse a step's result that another node gave.

    Args:
        node: The inventory FQDN the step was for.
        answered_by: The host name the node reported in the result; empty (older workers, or
            a host name that could not be read) is not checked, nor is a node the inventory
            names by IP address.
        step: What the result is of (``restart of Cisco Tomcat``, ``verification``).

    Raises:
        RenewalStopped: ``answered_by`` is another node's name.
    """
    if answered_as_other(node, answered_by):
        raise RenewalStopped(
            WRONG_NODE,
            f"the {step} of {node} was answered by {answered_by}: it does not count for "
            f"{node}; fix the address of {node} in the inventory",
        )
