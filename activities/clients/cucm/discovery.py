"""Discovery: one picture of a cluster from AXL, Control Center, the CLI and TLS handshakes.

The CLI session that proves SSH on a node also reads its pre-change health (clock, disks,
core files; see health.py) and who answered (the host name ``show status`` reports and the SSH
host key: identity.py); the DRS backups are read on the CUCM publisher.

Shared by the discover activity and ``ucrenew plan`` (a dry run that starts nothing). Every
probe is a read, retried on a transient fault (an HTTP 5xx, a SOAP fault, a throttle, a node
that did not answer) as :class:`~activities.clients.cucm.backoff.Backoff` says, within the
caller's deadline; a fault that persists is recorded in the snapshot, with how often it was
tried, rather than raised: preflight decides what is fatal, and the operator sees every
problem at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime

from activities.catalog import WATCHED_SERVICES, Purpose
from activities.cert_paths import readback_interface
from activities.clients import pki
from activities.clients.cucm.axl import (
    CUCM_PROCESS_NODE_ROLE,
    PUBLISHER_NODE_USAGE,
    AxlClient,
    CmGroup,
    DevicePool,
    ProcessNode,
)
from activities.clients.cucm.backoff import Retrying, reads_backoff, tried
from activities.clients.cucm.cli import CucmCli
from activities.clients.cucm.controlcenter import ControlCenterClient, ServiceStatus
from activities.clients.cucm.errors import CucmError, CucmSoapFault, CucmWrongNode
from activities.clients.cucm.health import read_backup_health, read_node_health
from activities.clients.cucm.identity import check_identity, identity_of
from activities.clients.cucm.purpose_certs import read_purpose_certificates
from activities.clients.cucm.risport import RegistrationSummary, RisPortClient
from activities.clients.cucm.tls import probe_tls
from activities.clients.cucm.transport import NodeEndpoint, credentials
from activities.clients.inventory import ClusterEntry, Inventory, NodeEntry
from activities.clients.trust_store import TrustFile
from activities.cluster_models import (
    ClusterIdentity,
    ClusterSnapshot,
    CmGroupInfo,
    NodeHealth,
    NodeIdentity,
    NodeSnapshot,
    RegistrationSnapshot,
    ServiceState,
)

#: Unregistered phone names a registration snapshot keeps (a summary, not a dump).
UNREGISTERED_SAMPLE = 50


def endpoint(
    cluster: ClusterEntry,
    node: NodeEntry,
    roots: Sequence[str] = (),
    files: Sequence[TrustFile] = (),
) -> NodeEndpoint:
    """Connection details of a node, trusting ``roots`` (PEM) and ``files`` (the cluster's
    trust store, the local CA root) besides the inventory's CA file."""
    return NodeEndpoint.from_inventory(cluster, node, tuple(roots), tuple(files))


def cluster_identity(nodes: Sequence[ProcessNode]) -> ClusterIdentity | None:
    """The cluster's identity from its process nodes: the CUCM publisher's name and pkid
    (``inferred.CLUSTER_IDENTITY_FROM_PUBLISHER_PROCESSNODE``), as the cluster reports them.

    None when no CUCM publisher is listed (the IM&P publisher is a "Publisher" too, with the
    IM and Presence role; a reply without roles counts as CUCM).
    """
    for node in nodes:
        if node.node_usage.lower() != PUBLISHER_NODE_USAGE.lower():
            continue
        if node.role and node.role != CUCM_PROCESS_NODE_ROLE:
            continue
        return ClusterIdentity(publisher=node.name, publisher_uuid=node.uuid)
    return None


def _why(exc: Exception) -> str:
    return tried(exc) if isinstance(exc, CucmError) else str(exc) or exc.__class__.__name__


def registration_snapshot(
    summary: RegistrationSummary, cluster: ClusterEntry
) -> RegistrationSnapshot:
    """The payload view of a RisPort registration summary, nodes keyed by inventory FQDN."""
    per_node: dict[str, int] = {}
    for name, count in summary.registered.items():
        fqdn = cluster.canonical(name)
        per_node[fqdn] = per_node.get(fqdn, 0) + count
    return RegistrationSnapshot(
        taken_at=datetime.now(UTC),
        total=summary.total,
        registered=summary.registered_total,
        per_node=per_node,
        unregistered_sample=summary.unregistered[:UNREGISTERED_SAMPLE],
    )


def member_fqdn(cluster: ClusterEntry, server: str, callmanager: str) -> str:
    """The inventory FQDN of a CM group member.

    ``server`` is the processnode name (FQDN, host name or address, as configured);
    ``callmanager`` the entity name, ``CM_<host>`` by default, used when the server is unknown.
    Unknown members keep their name as AXL gives it.
    """
    node = cluster.find_node(server) or cluster.find_node(callmanager.removeprefix("CM_"))
    return node.fqdn if node is not None else server or callmanager


def attribute_registrations(
    groups: Sequence[CmGroupInfo], per_node: dict[str, int]
) -> dict[str, int]:
    """Registered phones per CM group, from where they are registered.

    A node's phones count for the group in which it ranks highest (a node is usually the
    primary of one group); a node that ranks equally high in several groups, or in none, is
    left out, since RisPort does not say which device pool its phones belong to. Both the
    members and ``per_node`` are keyed by inventory FQDN.
    """
    counts = {g.name: 0 for g in groups}
    for fqdn, registered in per_node.items():
        ranks = {g.name: g.members.index(fqdn) for g in groups if fqdn in g.members}
        if not ranks:
            continue
        best = min(ranks.values())
        top = [name for name, rank in ranks.items() if rank == best]
        if len(top) == 1:
            counts[top[0]] += registered
    return counts


def cm_group_infos(
    cluster: ClusterEntry,
    groups: Sequence[CmGroup],
    pools: Sequence[DevicePool],
    phones_per_pool: dict[str, int] | None,
    per_node: dict[str, int] | None,
) -> list[CmGroupInfo]:
    """CM groups with inventory FQDNs and their phone counts.

    The counts come from ``phones_per_pool`` (AXL SQL, configured phones) when given, else
    from RisPort registrations (``per_node``) attributed to groups; else they stay 0.
    """
    infos = [
        CmGroupInfo(
            name=g.name,
            members=[member_fqdn(cluster, m.server, m.callmanager) for m in g.members],
        )
        for g in groups
    ]
    if phones_per_pool is not None:
        for info in infos:
            info.phones = sum(
                phones_per_pool.get(p.name, 0) for p in pools if p.cm_group == info.name
            )
            info.phones_source = "axl-sql"
    elif per_node is not None:
        counts = attribute_registrations(infos, per_node)
        for info in infos:
            info.phones = counts[info.name]
            info.phones_source = "risport"
    return infos


async def _inspect_node(
    inventory: Inventory,
    cluster: ClusterEntry,
    node: NodeEntry,
    roots: Sequence[str],
    files: Sequence[TrustFile],
    retrying: Retrying,
) -> NodeSnapshot:
    ep = endpoint(cluster, node, roots, files)
    snap = NodeSnapshot(fqdn=node.fqdn, product=node.product, role=node.role)
    try:
        probe = await retrying(lambda: probe_tls(ep, ep.https_port))
    except CucmError as exc:
        snap.https_error = _why(exc)
    else:
        snap.https_ok = True
        snap.certificates["tomcat"] = pki.certificate_info(probe.leaf_pem)
        snap.certificate_verified = probe.verified
        if not probe.verified:
            error = ep.untrusted(ep.https_port, probe.verify_code or 0, probe.verify_error or "")
            snap.certificate_error = str(error)

    async def services() -> list[ServiceStatus]:
        async with ControlCenterClient(ep, credentials(inventory, cluster, "app_user")) as cc:
            return await cc.get_service_status(list(WATCHED_SERVICES))

    async def health() -> NodeHealth:
        async with CucmCli(ep, credentials(inventory, cluster, "os_admin")) as shell:
            snap.identity = NodeIdentity(
                node=node.fqdn, address=ep.host, ssh_host_key=shell.host_key
            )

            def seen(output: str) -> None:
                snap.identity = identity_of(shell, output)

            return await read_node_health(shell, status_seen=seen)

    try:
        statuses = await retrying(services)
        snap.services = [
            ServiceState(name=s.name, status=s.status, activated=s.activated, uptime=s.uptime)
            for s in statuses
        ]
    except CucmError as exc:
        snap.services_error = f"Control Center on {node.fqdn}: {_why(exc)}"
    try:
        snap.health = await retrying(health)
        snap.ssh_ok = True
        if snap.identity is not None:
            try:
                check_identity(snap.identity)
            except CucmWrongNode as exc:
                snap.identity_error = str(exc)
        if snap.health.ntp is not None and snap.health.ntp.server:
            # Subscribers follow the publisher: name it as the inventory does.
            snap.health.ntp.server = cluster.canonical(snap.health.ntp.server)
    except CucmWrongNode as exc:
        snap.ssh_error = snap.identity_error = _why(exc)
    except CucmError as exc:
        snap.ssh_error = _why(exc)
    return snap


async def discover(
    inventory: Inventory,
    cluster_name: str,
    roots: Sequence[str] = (),
    files: Sequence[TrustFile] = (),
    purposes: Sequence[Purpose] = (),
    retrying: Retrying | None = None,
) -> ClusterSnapshot:
    """Discover a cluster of the inventory, trusting ``roots`` and ``files`` besides the
    inventory's CA file (see :func:`endpoint`).

    ``purposes``: the certificates of these purposes are read on every node of their SAN,
    served on their listener and installed (certmgr); tomcat's served one always is.
    ``retrying``: how a probe's transient fault is retried (default: the default
    :class:`~activities.clients.cucm.backoff.Backoff`, no deadline); each request of a probe
    is first repeated with the same back-off (a probe of three AXL reads would otherwise
    fail three times as often as one read).
    """
    with reads_backoff((retrying or Retrying()).backoff):
        return await _discover(inventory, cluster_name, roots, files, purposes, retrying)


async def _discover(
    inventory: Inventory,
    cluster_name: str,
    roots: Sequence[str],
    files: Sequence[TrustFile],
    purposes: Sequence[Purpose],
    retrying: Retrying | None,
) -> ClusterSnapshot:
    retrying = retrying or Retrying()
    cluster = inventory.cluster(cluster_name)
    pub = cluster.publisher_node
    pub_ep = endpoint(cluster, pub, roots, files)
    snapshot = ClusterSnapshot(
        cluster=cluster.name,
        taken_at=datetime.now(UTC),
        version=cluster.version,
        domain=cluster.domain,
        publisher=pub.fqdn,
        certificates=cluster.certificates,
    )

    async def read_axl() -> tuple[str, list[ProcessNode], int]:
        async with AxlClient(pub_ep, credentials(inventory, cluster, "app_user")) as client:
            version = await client.get_ccm_version()
            nodes = await client.list_process_nodes()
            return version, nodes, await client.cluster_security_mode()

    async def axl() -> None:
        try:
            (
                snapshot.version,
                process_nodes,
                snapshot.security_mode,
            ) = await retrying(read_axl)
            snapshot.axl_nodes = [cluster.canonical(n.name) for n in process_nodes]
            snapshot.identity = cluster_identity(process_nodes)
        except CucmError as exc:
            snapshot.axl_error = f"AXL on {pub.fqdn}: {_why(exc)}"

    async def read_sso() -> bool:
        async with CucmCli(pub_ep, credentials(inventory, cluster, "os_admin")) as shell:
            return (await shell.sso_status()).enabled

    async def sso() -> None:
        try:
            snapshot.sso_enabled = await retrying(read_sso)
        except CucmError as exc:
            snapshot.sso_error = _why(exc)

    async def replication(publisher: NodeEntry) -> None:
        # CUCM and IM&P replicate separate databases: each publisher reports its own nodes.
        ep = endpoint(cluster, publisher, roots, files)

        async def read() -> dict[str, int]:
            async with CucmCli(ep, credentials(inventory, cluster, "os_admin")) as shell:
                return await shell.dbreplication_states()

        try:
            states = await retrying(read)
        except CucmError as exc:
            snapshot.db_replication_error = (
                f"utils dbreplication runtimestate on {publisher.fqdn}: {_why(exc)}"
            )
            return
        snapshot.db_replication.update({cluster.canonical(h): s for h, s in states.items()})

    async def backups() -> None:
        snapshot.backup, snapshot.backup_error = await read_backup_health(
            pub_ep, credentials(inventory, cluster, "os_admin"), retrying
        )

    publishers = [n for n in cluster.nodes if n.role == "publisher"]

    groups: list[CmGroup] = []
    pools: list[DevicePool] = []
    phones_per_pool: dict[str, int] | None = None

    async def read_cm_groups() -> tuple[list[CmGroup], list[DevicePool], dict[str, int] | None]:
        async with AxlClient(pub_ep, credentials(inventory, cluster, "app_user")) as client:
            read_groups = await client.list_cm_groups()
            read_pools = await client.list_device_pools()
            try:
                per_pool: dict[str, int] | None = await client.phones_per_device_pool()
            except CucmSoapFault:
                per_pool = None  # no device table to count: RisPort will tell
            return read_groups, read_pools, per_pool

    async def cm_groups() -> None:
        nonlocal groups, pools, phones_per_pool
        try:
            groups, pools, phones_per_pool = await retrying(read_cm_groups)
        except CucmError as exc:
            snapshot.cm_groups_error = f"AXL CM groups on {pub.fqdn}: {_why(exc)}"

    async def read_registrations() -> RegistrationSummary:
        # The retry is ``retrying``'s, bounded by the discovery's deadline.
        async with RisPortClient(
            pub_ep, credentials(inventory, cluster, "app_user"), throttle_retries=0
        ) as ris:
            return await ris.registration_summary()

    async def registrations() -> None:
        try:
            snapshot.registrations = registration_snapshot(
                await retrying(read_registrations), cluster
            )
        except CucmError as exc:
            snapshot.registrations_error = f"RisPort on {pub.fqdn}: {_why(exc)}"

    inspections = asyncio.gather(
        *(_inspect_node(inventory, cluster, n, roots, files, retrying) for n in cluster.nodes)
    )
    await asyncio.gather(
        inspections,
        axl(),
        sso(),
        cm_groups(),
        registrations(),
        backups(),
        *(replication(p) for p in publishers),
    )
    snapshot.nodes = list(inspections.result())
    if purposes:
        await read_purpose_certificates(
            inventory,
            cluster,
            snapshot.nodes,
            purposes,
            roots,
            files,
            interface=readback_interface(snapshot.version),
            retrying=retrying,
        )
    if snapshot.cm_groups_error is None:
        per_node = snapshot.registrations.per_node if snapshot.registrations else None
        snapshot.cm_groups = cm_group_infos(cluster, groups, pools, phones_per_pool, per_node)
    return snapshot
