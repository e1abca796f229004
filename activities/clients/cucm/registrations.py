"""Phone registrations as the renewal needs them, from RisPort70.

:func:`registered_phones` lists which phones each node holds. :func:`wait_for_registrations` is
the health gate after a restart wave: it polls until enough phones are registered again and
the nodes the next wave restarts hold no more phones than at home (:func:`lingering`), or until
its time is up, and reports how the wait ended rather than raising.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Literal

from activities.clients.cucm.discovery import registration_snapshot
from activities.clients.cucm.errors import CucmThrottled
from activities.clients.cucm.risport import RisPortClient
from activities.clients.cucm.transport import BasicAuth, NodeEndpoint
from activities.clients.inventory import ClusterEntry
from activities.cluster_models import (
    RegisteredPhones,
    RegistrationGateResult,
    RegistrationSnapshot,
)


async def registered_phones(
    endpoint: NodeEndpoint,
    auth: BasicAuth,
    cluster: ClusterEntry,
    *,
    nodes: Sequence[str] = (),
    protocol: Literal["Any", "SCCP", "SIP"] = "Any",
) -> RegisteredPhones:
    """Which phones each node of ``cluster`` holds now.

    Only ``Registered`` records count, under the inventory FQDN of the node RisPort names.
    Every node of ``nodes`` is listed, even with no phone; without ``nodes`` every CUCM node of
    the inventory is, and any other node RisPort reports.

    Args:
        endpoint: A CUCM node to ask (the publisher).
        auth: The serviceability application user.
        cluster: The cluster's inventory entry.
        nodes: Names of the nodes to list (FQDN or host name); empty: every node.
        protocol: Only phones of this protocol.

    Raises:
        InventoryError: A name of ``nodes`` is not a node of ``cluster``.
        CucmError: RisPort errors.
    """
    wanted = [cluster.node(n).fqdn for n in nodes] or [
        n.fqdn for n in cluster.nodes if n.product == "cucm"
    ]
    taken_at = datetime.now(UTC)
    async with RisPortClient(endpoint, auth) as ris:
        records = await ris.select_cm_devices(protocol=protocol, ext=True)
    by_node: dict[str, list[str]] = {fqdn: [] for fqdn in wanted}
    for record in records:
        if record.status != "Registered":
            continue
        fqdn = cluster.canonical(record.node)
        if nodes and fqdn not in by_node:
            continue
        by_node.setdefault(fqdn, []).append(record.name)
    return RegisteredPhones(
        taken_at=taken_at, by_node={fqdn: sorted(names) for fqdn, names in by_node.items()}
    )


def lingering(
    per_node: Mapping[str, int],
    home_per_node: Mapping[str, int],
    drain_nodes: Iterable[str],
    slack: float,
) -> dict[str, int]:
    """The drain nodes holding more than ``slack`` phones above their home count.

    Those extra phones failed over to the node and have not fallen back yet. The three
    arguments name nodes the same way (their keys are compared as they are).

    Args:
        per_node: Node -> phones registered with it now.
        home_per_node: Node -> phones registered with it before any restart.
        drain_nodes: The nodes to check.
        slack: Extra phones a node may keep.

    Returns:
        Node -> extra phones, for each drain node over the slack.
    """
    extra = {n: per_node.get(n, 0) - home_per_node.get(n, 0) for n in drain_nodes}
    return {n: e for n, e in extra.items() if e > slack}


async def wait_for_registrations(
    endpoint: NodeEndpoint,
    auth: BasicAuth,
    cluster: ClusterEntry,
    *,
    baseline: int,
    tolerance: float,
    timeout: float,  # noqa: ASYNC109 - a polling budget, reported in the result
    poll_interval: float,
    drain_nodes: Iterable[str] = (),
    home_per_node: Mapping[str, int] | None = None,
    progress: Callable[[str], object] = lambda _: None,
    looked: Callable[[RegistrationSnapshot], object] = lambda _: None,
) -> RegistrationGateResult:
    """Poll RisPort until at least ``baseline * (1 - tolerance)`` phones are registered, and
    ``drain_nodes`` hold no more phones than at home.

    The second condition waits for fallback: phones that failed over to a node of the next
    wave would otherwise drop a second time when it stops. Both allow the same tolerance. A
    throttled RisPort is waited out inside the loop; the last look is taken at the deadline.

    Args:
        endpoint: A CUCM node to ask (the publisher).
        auth: The serviceability application user.
        cluster: The cluster's inventory entry (node names are compared as its FQDNs).
        baseline: Phones registered before the restarts.
        tolerance: Fraction of ``baseline`` that may stay missing (and extra per drain node).
        timeout: Seconds to wait at most.
        poll_interval: Seconds between looks.
        drain_nodes: Nodes that must hold no more than ``home_per_node``.
        home_per_node: Phones per node before any restart.
        progress: Called with a line about each look.
        looked: Called with each look's snapshot (the worker's phone metric).

    Returns:
        ``ok=False`` when the time ran out before both conditions held.

    Raises:
        CucmError: A RisPort error other than throttling.
    """
    # Changes started before node names were canonical send short host names.
    drain = [cluster.canonical(n) for n in drain_nodes]
    home = {cluster.canonical(n): count for n, count in (home_per_node or {}).items()}
    needed = baseline * (1.0 - tolerance)
    slack = baseline * tolerance
    expected = max(0, math.ceil(needed - 1e-9))

    def waiting_on(snap: RegistrationSnapshot) -> dict[str, int]:
        return lingering(snap.per_node, home, drain, slack)

    def settled(snap: RegistrationSnapshot) -> bool:
        return snap.registered >= needed and not waiting_on(snap)

    t0 = time.monotonic()
    deadline = t0 + timeout
    progress(f"waiting for {expected} registered phones")
    last: RegistrationSnapshot | None = None
    async with RisPortClient(endpoint, auth, throttle_retries=0) as ris:
        while True:
            pause = poll_interval
            try:
                last = registration_snapshot(await ris.registration_summary(), cluster)
            except CucmThrottled as exc:
                progress(f"RisPort throttled; retrying in {exc.retry_after:.0f}s")
                pause = exc.retry_after
            else:
                looked(last)
                waiting = waiting_on(last)
                progress(
                    f"{last.registered}/{expected} phones registered"
                    + (f"; waiting for fallback from {sorted(waiting)}" if waiting else "")
                )
                if settled(last):
                    break
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            await asyncio.sleep(min(pause, remaining))
    return RegistrationGateResult(
        ok=last is not None and settled(last),
        registered=last.registered if last else 0,
        expected=expected,
        waited_seconds=time.monotonic() - t0,
        unregistered_sample=last.unregistered_sample if last else [],
        lingering=waiting_on(last) if last else {},
    )
