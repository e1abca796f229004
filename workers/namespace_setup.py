"""``ucrenew admin init``: make a Temporal namespace ready for ucrenew.

What a namespace needs before the first renewal is ucrenew's custom search attributes (the
renewal list, the fleet view and the scan's duplicate check search by them). Registering them
goes through the operator service with the same function the embedded dev server uses at
start (:func:`workers.devserver.ensure_search_attributes`), so every deployment path (the
dev stack, a self-hosted cluster, Temporal Cloud) registers the same list the same way:
already present with the right type is fine, present with another type is an error, and a
refusal names what to run instead.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import Client
from temporalio.common import SearchAttributeKey
from temporalio.service import RPCError, RPCStatusCode

from workers.devserver import (
    CLI_TYPE_NAMES,
    SearchAttributeConflictError,
    ensure_search_attributes,
)
from workflows.search_attributes import ALL_SEARCH_ATTRIBUTES

__all__ = ["NamespaceInit", "NamespaceInitError", "init_namespace"]


class NamespaceInitError(RuntimeError):
    """The namespace cannot be made ready; the message says what to do instead."""


@dataclasses.dataclass(frozen=True)
class NamespaceInit:
    """What :func:`init_namespace` did.

    Attributes:
        namespace: The namespace.
        added: Search attributes this run registered, ``name`` → type name.
        present: Those that were already registered with the right type.
    """

    namespace: str
    added: dict[str, str]
    present: dict[str, str]

    def as_json(self) -> dict[str, Any]:
        """The outcome as a JSON-ready mapping."""
        return {"namespace": self.namespace, "added": self.added, "present": self.present}


def _type_name(key: SearchAttributeKey[Any]) -> str:
    return CLI_TYPE_NAMES[key.indexed_value_type]


def manual_commands(namespace: str, keys: Sequence[SearchAttributeKey[Any]]) -> str:
    """The commands that register ``keys`` by hand: ``temporal`` for a self-hosted cluster,
    ``tcld`` for Temporal Cloud."""
    pairs = " ".join(f"--search-attribute {k.name}={_type_name(k)}" for k in keys)
    oss = " ".join(f"--name {k.name} --type {_type_name(k)}" for k in keys[:1])
    return (
        f"`temporal operator search-attribute create --namespace {namespace} {oss}` for each "
        f"of {', '.join(f'{k.name}={_type_name(k)}' for k in keys)} on a self-hosted cluster, "
        f"or `tcld namespace search-attributes add --namespace {namespace} {pairs}` on "
        "Temporal Cloud"
    )


async def init_namespace(
    client: Client,
    namespace: str,
    keys: Sequence[SearchAttributeKey[Any]] = ALL_SEARCH_ATTRIBUTES,
) -> NamespaceInit:
    """Register ucrenew's search attributes in a namespace; safe to run again and again.

    Args:
        client: A client of the cluster (any namespace).
        namespace: The namespace to prepare.
        keys: The attributes; all of ucrenew's by default.

    Returns:
        What was added and what was already there.

    Raises:
        NamespaceInitError: The namespace does not exist, an attribute exists with another
            type, or the cluster refused the registration (the message gives the commands to
            run with an identity that may).
    """
    try:
        await client.workflow_service.describe_namespace(
            DescribeNamespaceRequest(namespace=namespace)
        )
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            raise NamespaceInitError(
                f"namespace {namespace} does not exist: create it first (`temporal operator "
                f"namespace create --namespace {namespace}` on a self-hosted cluster, the "
                "Cloud UI or `tcld namespace create` on Temporal Cloud), or give --namespace"
            ) from None
        raise
    try:
        added = await ensure_search_attributes(client, namespace, keys)
    except SearchAttributeConflictError as err:
        raise NamespaceInitError(
            f"{err}: remove or rename that attribute in namespace {namespace} (it is not "
            "ucrenew's), or run ucrenew in a namespace of its own"
        ) from None
    except RPCError as err:
        if err.status in (
            RPCStatusCode.PERMISSION_DENIED,
            RPCStatusCode.UNAUTHENTICATED,
            RPCStatusCode.UNIMPLEMENTED,
        ):
            raise NamespaceInitError(
                f"Temporal refused to register search attributes in namespace {namespace} "
                f"({err.status.name}: {' '.join(err.message.split())}): run "
                f"{manual_commands(namespace, keys)}, with an identity allowed to"
            ) from None
        raise
    names = set(added)
    return NamespaceInit(
        namespace=namespace,
        added={k.name: _type_name(k) for k in keys if k.name in names},
        present={k.name: _type_name(k) for k in keys if k.name not in names},
    )
