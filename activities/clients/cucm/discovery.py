"""Discovery: one picture of a cluster from AXL, Control Center, the CLI and TLS handshakes.

Shared by the discover activity and ``ucrenew plan`` (a dry run that starts nothing). Every
probe's failure is recorded in the snapshot rather than raised: preflight decides what is
fatal, and the operator sees every problem at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime

from activities.clients import pki
from activities.clients.cucm.axl import AxlClient
from activities.clients.cucm.cli import CucmCli
from activities.clients.cucm.controlcenter import ControlCenterClient
from activities.clients.cucm.errors import CucmError
from activities.clients.cucm.tls import probe_tls
from activities.clients.cucm.transport import NodeEndpoint, credentials
from activities.clients.inventory import ClusterEntry, Inventory, NodeEntry
from activities.cluster_models import ClusterSnapshot, NodeSnapshot, ServiceState

#: Services whose state discovery reports (preflight needs the first two).
WATCHED_SERVICES = (
    "Platform Administrative Web Service",
    "Cisco Tomcat",
    "Cisco CallManager",
    "Cisco Tftp",
    "Cisco XCP Router",
)


def endpoint(cluster: ClusterEntry, node: NodeEntry, roots: Sequence[str] = ()) -> NodeEndpoint:
    """Connection details of a node, trusting ``roots`` besides the inventory's CA file."""
    return NodeEndpoint.from_inventory(cluster, node, tuple(roots))


def _why(exc: Exception) -> str:
    return str(exc) or exc.__class__.__name__


async def _inspect_node(
    inventory: Inventory, cluster: ClusterEntry, node: NodeEntry, roots: Sequence[str]
) -> NodeSnapshot:
    ep = endpoint(cluster, node, roots)
    snap = NodeSnapshot(fqdn=node.fqdn, product=node.product, role=node.role)
    try:
        probe = await probe_tls(ep, ep.https_port)
    except CucmError as exc:
        snap.https_error = _why(exc)
    else:
        snap.https_ok = True
        snap.certificates["tomcat"] = pki.certificate_info(probe.leaf_pem)
        snap.certificate_verified = probe.verified
        snap.certificate_error = probe.verify_error
    try:
        async with ControlCenterClient(ep, credentials(inventory, cluster, "app_user")) as cc:
            statuses = await cc.get_service_status(list(WATCHED_SERVICES))
        snap.services = [
            ServiceState(name=s.name, status=s.status, activated=s.activated, uptime=s.uptime)
            for s in statuses
        ]
    except CucmError as exc:
        snap.services_error = f"Control Center on {node.fqdn}: {_why(exc)}"
    try:
        async with CucmCli(ep, credentials(inventory, cluster, "os_admin")):
            snap.ssh_ok = True
    except CucmError as exc:
        snap.ssh_error = _why(exc)
    return snap


async def discover(
    inventory: Inventory, cluster_name: str, roots: Sequence[str] = ()
) -> ClusterSnapshot:
    """Discover a cluster of the inventory."""
    cluster = inventory.cluster(cluster_name)
    pub = cluster.publisher_node
    pub_ep = endpoint(cluster, pub, roots)
    snapshot = ClusterSnapshot(
        cluster=cluster.name,
        taken_at=datetime.now(UTC),
        version=cluster.version,
        domain=cluster.domain,
        publisher=pub.fqdn,
    )

    async def axl() -> None:
        try:
            async with AxlClient(pub_ep, credentials(inventory, cluster, "app_user")) as client:
                snapshot.version = await client.get_ccm_version()
                snapshot.axl_nodes = [n.name for n in await client.list_process_nodes()]
                snapshot.security_mode = await client.cluster_security_mode()
        except CucmError as exc:
            snapshot.axl_error = f"AXL on {pub.fqdn}: {_why(exc)}"

    async def sso() -> None:
        try:
            async with CucmCli(pub_ep, credentials(inventory, cluster, "os_admin")) as shell:
                snapshot.sso_enabled = (await shell.sso_status()).enabled
        except CucmError as exc:
            snapshot.sso_error = _why(exc)

    async def replication(publisher: NodeEntry) -> None:
        # CUCM and IM&P replicate separate databases: each publisher reports its own nodes.
        ep = endpoint(cluster, publisher, roots)
        try:
            async with CucmCli(ep, credentials(inventory, cluster, "os_admin")) as shell:
                states = await shell.dbreplication_states()
        except CucmError as exc:
            snapshot.db_replication_error = (
                f"utils dbreplication runtimestate on {publisher.fqdn}: {_why(exc)}"
            )
            return
        snapshot.db_replication.update({h.split(".", 1)[0]: s for h, s in states.items()})

    publishers = [n for n in cluster.nodes if n.role == "publisher"]

    inspections = asyncio.gather(
        *(_inspect_node(inventory, cluster, n, roots) for n in cluster.nodes)
    )
    await asyncio.gather(inspections, axl(), sso(), *(replication(p) for p in publishers))
    snapshot.nodes = list(inspections.result())
    return snapshot
