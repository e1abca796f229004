"""The certificate of each purpose on a node: served on its listener, installed in certmgr.

A purpose's certificate is served by its own listener (catalog ``listener``): tomcat on HTTPS
8443, CallManager on SIP TLS 5061, cup-xmpp on XMPP 5222 and cup-xmpp-s2s on 5269, both after
STARTTLS. What the Certificate Management REST API returns is the *installed* identity, which
a node serves only after the purpose's services restart. Discovery reads both for the purposes
of a change; :func:`leftover_self_signed` looks for what a multi-server upload leaves behind
(CSCur97909: the nodes' former self-signed certificates stay in the trust stores).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Sequence

from activities import catalog
from activities.catalog import Purpose
from activities.cert_paths import Interface
from activities.clients import pki
from activities.clients.cucm.backoff import Backoff, Retrying, tried
from activities.clients.cucm.errors import CucmError
from activities.clients.cucm.node_certs import open_node
from activities.clients.cucm.tls import TlsProbeResult, probe_tls
from activities.clients.cucm.transport import BasicAuth, NodeEndpoint, credentials
from activities.clients.cucm.xmpp import probe_sip_tls, starttls
from activities.clients.inventory import ClusterEntry, Inventory, NodeEntry
from activities.clients.trust_store import TrustFile
from activities.cluster_models import (
    LeftoverCertificate,
    LeftoverResult,
    NodeSnapshot,
)
from activities.models import CertificateInfo


def _why(exc: Exception) -> str:
    return tried(exc) if isinstance(exc, CucmError) else str(exc) or exc.__class__.__name__


async def probe_purpose(
    cluster: ClusterEntry, node: NodeEntry, ep: NodeEndpoint, purpose: Purpose, port: int = 0
) -> tuple[int, TlsProbeResult]:
    """Handshake with the listener that serves ``purpose`` on ``node``: (port, what it served).

    The caller makes sure the node's product serves the purpose. ``port`` 0 means the
    purpose's port from the inventory. An ECDSA purpose is read through a handshake that
    offers ECDSA only (its listener serves the RSA twin to everyone else).

    Raises:
        CucmUnreachable: Nothing listens (its service is stopped) or the node is down.
        CucmTlsError: The handshake (or XMPP STARTTLS) failed.
    """
    spec = catalog.purpose(purpose)
    listener, ecdsa_only = spec.listener, spec.key_type == "ECDSA"
    port = port or node.port_of(listener)
    if listener == "https":
        return port, await probe_tls(ep, port, ecdsa_only=ecdsa_only)
    if listener == "sip_tls":
        return port, await probe_sip_tls(ep, port, ecdsa_only=ecdsa_only)
    prelude = functools.partial(
        starttls, node=node.fqdn, domain=cluster.domain, server_to_server=listener == "xmpp_s2s"
    )
    return port, await probe_tls(ep, port, prelude=prelude, ecdsa_only=ecdsa_only)


def san_entries(cluster: ClusterEntry, purpose: Purpose) -> list[NodeEntry]:
    """The inventory nodes a multi-server certificate of ``purpose`` names."""
    products = catalog.purpose(purpose).san_products
    return [n for n in cluster.nodes if n.product in products]


async def read_purpose_certificates(
    inventory: Inventory,
    cluster: ClusterEntry,
    nodes: Sequence[NodeSnapshot],
    purposes: Sequence[Purpose],
    roots: Sequence[str] = (),
    files: Sequence[TrustFile] = (),
    interface: Interface = "rest",
    retrying: Retrying | None = None,
) -> None:
    """Record in ``nodes`` the served and installed certificate of each purpose.

    ``interface`` reads the installed ones: REST from 14, OS Administration before.
    ``retrying`` retries each read on a transient fault (default: once, no retry).

    Only the nodes of each purpose's SAN are read. tomcat's served certificate is the one the
    node inspection already read on HTTPS. Failures are recorded per purpose in
    ``certificate_errors``, never raised: preflight and the plan decide what matters.
    """
    wanted = list(dict.fromkeys(purposes))
    auth = credentials(inventory, cluster, "os_admin")
    retry = retrying or Retrying(Backoff(attempts=1))

    async def one(snap: NodeSnapshot) -> None:
        entry = cluster.node(snap.fqdn)
        mine = [p for p in wanted if entry.product in catalog.purpose(p).san_products]
        if not mine:
            return
        ep = NodeEndpoint.from_inventory(cluster, entry, tuple(roots), tuple(files))
        errors: dict[str, list[str]] = {}
        for purpose in mine:
            if purpose == "tomcat":
                if snap.https_error and "tomcat" not in snap.certificates:
                    errors.setdefault(purpose, []).append(f"HTTPS: {snap.https_error}")
                continue
            label = catalog.purpose(purpose).verify_label
            try:
                _, probe = await retry(
                    functools.partial(probe_purpose, cluster, entry, ep, purpose)
                )
            except CucmError as exc:
                errors.setdefault(purpose, []).append(f"{label}: {_why(exc)}")
            else:
                snap.certificates[purpose] = pki.certificate_info(probe.leaf_pem)
        where = "certmgr" if interface == "rest" else interface

        async def installed() -> dict[Purpose, str | CucmError]:
            found: dict[Purpose, str | CucmError] = {}
            async with open_node(interface, ep, auth) as reader:
                for purpose in mine:
                    try:
                        found[purpose] = await retry(
                            functools.partial(reader.get_identity, purpose)
                        )
                    except CucmError as exc:
                        found[purpose] = exc
            return found

        try:
            for purpose, pem in (await retry(installed)).items():
                if isinstance(pem, CucmError):
                    errors.setdefault(purpose, []).append(f"{where}: {_why(pem)}")
                else:
                    snap.installed[purpose] = pki.certificate_info(pem)
        except CucmError as exc:
            for purpose in mine:
                errors.setdefault(purpose, []).append(f"{where}: {_why(exc)}")
        for name, why in errors.items():
            snap.certificate_errors[name] = "; ".join(why)

    await asyncio.gather(*(one(n) for n in nodes))


async def leftover_self_signed(
    inventory: Inventory,
    cluster: ClusterEntry,
    purposes: Sequence[Purpose],
    roots: Sequence[str] = (),
    files: Sequence[TrustFile] = (),
    interface: Interface = "rest",
) -> LeftoverResult:
    """Self-signed certificates of cluster nodes still in a purpose's trust store, unused.

    After a multi-server upload CUCM keeps each node's former self-signed certificate in the
    purpose's trust store (CSCur97909). A trust entry is reported when it is self-signed, its
    CN names a node of the cluster, and no node has it installed as an identity of any purpose
    (a trust store may be shared: cup-xmpp and cup-xmpp-s2s both pair with cup-xmpp-trust).
    The identities are read from every node involved, and an entry whose owner could not be
    read is not reported, so a certificate in use is never called a leftover. Each is listed
    once, with the nodes whose store holds it. ``interface`` reads the nodes (REST from 14,
    OS Administration before).
    """
    auth = credentials(inventory, cluster, "os_admin")
    wanted = list(dict.fromkeys(purposes))
    nodes = [n for n in cluster.nodes if any(n in san_entries(cluster, p) for p in wanted)]
    reads = await asyncio.gather(
        *(_read_node(cluster, n, wanted, auth, roots, files, interface) for n in nodes)
    )
    result = LeftoverResult()
    in_use: set[str] = set()
    readable: set[str] = set()
    listed: list[tuple[NodeEntry, Purpose, str, str, CertificateInfo]] = []
    for node, read in zip(nodes, reads, strict=True):
        if isinstance(read, str):
            result.errors[node.fqdn] = read
            continue
        identities, entries = read
        in_use.update(identities)
        readable.add(node.fqdn)
        listed += [(node, *entry) for entry in entries]
    found: dict[str, LeftoverCertificate] = {}
    for node, purpose, store, file_name, info in listed:
        owner = cluster.find_node(info.subject_cn) if info.subject_cn else None
        if not info.self_signed or owner is None or info.sha256_fingerprint in in_use:
            continue
        if owner.fqdn not in readable:
            continue  # its owner's identities are unknown: not provably unused
        entry = found.get(info.sha256_fingerprint)
        if entry is None:
            entry = found[info.sha256_fingerprint] = LeftoverCertificate(
                purpose=purpose,
                store=store,
                file_name=file_name or f"{info.subject_cn}_{info.serial_hex}.pem",
                subject_cn=info.subject_cn or "",
                owner=owner.fqdn,
                serial=info.serial_hex,
                not_after=info.not_after,
                fingerprint=info.sha256_fingerprint,
            )
        if node.fqdn not in entry.nodes:
            entry.nodes.append(node.fqdn)
    result.leftovers = list(found.values())
    return result


async def _read_node(
    cluster: ClusterEntry,
    node: NodeEntry,
    purposes: Sequence[Purpose],
    auth: BasicAuth,
    roots: Sequence[str],
    files: Sequence[TrustFile],
    interface: Interface,
) -> tuple[set[str], list[tuple[Purpose, str, str, CertificateInfo]]] | str:
    """A node's installed identities (fingerprints, every purpose of its product) and the
    trust stores of ``purposes`` (purpose, store, file, certificate); the error text when
    something cannot be read."""
    ep = NodeEndpoint.from_inventory(cluster, node, tuple(roots), tuple(files))
    carried = [p for p, spec in catalog.PURPOSES.items() if node.product in spec.san_products]
    mine = [p for p in purposes if p in carried]
    identities: set[str] = set()
    entries: list[tuple[Purpose, str, str, CertificateInfo]] = []
    try:
        async with open_node(interface, ep, auth) as certmgr:
            for purpose in carried:
                try:
                    pem = await certmgr.get_identity(purpose)
                except CucmError:
                    if not catalog.purpose(purpose).min_release:
                        raise
                    continue  # a release without the purpose (ECDSA before 14)
                identities.add(pki.certificate_info(pem).sha256_fingerprint)
            for purpose in mine:
                default_store = catalog.purpose(purpose).trust_store
                entries += [
                    (
                        purpose,
                        t.store or default_store,
                        t.file_name,
                        pki.certificate_info(t.certificate_pem),
                    )
                    for t in await certmgr.list_trust(catalog.purpose(purpose).trust_service)
                    if "BEGIN CERTIFICATE" in t.certificate_pem
                ]
    except CucmError as exc:
        return _why(exc)
    return identities, entries
