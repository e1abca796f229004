"""The inventory a running lab writes for clients: the ``clusters.yaml`` contract of ucrenew.

Hostnames map to the lab's loopback addresses, ports are the ones actually bound, credentials
are references to files under the lab's state dir (never literal passwords), and TLS/SSH trust
points at the certificates and host keys the nodes present.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from lab import pki
from lab.adcs import AdcsTwin
from lab.frontends.base import Twin
from lab.listeners import NodeServers


def write_inventory(
    lab: Twin,
    state_dir: Path,
    servers: Mapping[str, NodeServers],
    control_url: str,
    adcs: AdcsTwin | None,
) -> Path:
    """Write secrets, trust files and ``inventory.yaml`` under the lab's state dir.

    Args:
        lab: The running twin (topology, cluster, accounts).
        state_dir: The lab's state dir.
        servers: Each node's listeners, by hostname (the ports actually bound, host keys).
        control_url: Where the control API answers.
        adcs: The ADCS twin, when the lab runs one.

    Returns:
        The path of ``inventory.yaml``.
    """
    entry = cluster_entry(lab, state_dir, servers, control_url)
    return write_document(state_dir, [entry], adcs)


def write_document(state_dir: Path, clusters: list[dict[str, Any]], adcs: AdcsTwin | None) -> Path:
    """Write ``inventory.yaml`` with these cluster entries (and the ADCS twin's CA entry)."""
    document: dict[str, Any] = {"clusters": clusters}
    if adcs is not None:
        document["cas"] = [_adcs_entry(adcs)]
    path = state_dir.resolve() / "inventory.yaml"
    path.write_text(
        "# Written by the ucrenew lab; regenerated at every `lab up`.\n"
        + yaml.safe_dump(document, sort_keys=False)
    )
    return path


def cluster_entry(
    lab: Twin, state_dir: Path, servers: Mapping[str, NodeServers], control_url: str
) -> dict[str, Any]:
    """One cluster's inventory entry; writes its secrets and trust files under ``state_dir``.

    Args:
        lab: The running twin (topology, cluster, accounts).
        state_dir: The twin's state dir.
        servers: Each node's listeners, by hostname (the ports actually bound, host keys).
        control_url: Where this twin's control API answers.
    """
    state = state_dir.resolve()
    refs: dict[str, dict[str, str]] = {}
    for account, (user, password) in lab.credentials.items():
        secret = state / "secrets" / account
        secret.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        pki.write_private(secret, password.encode())
        refs[account] = {"username": user, "password": f"file:{secret}"}
    trust = state / "https-trust.pem"
    trust.write_text("".join(n.active["tomcat"].pem for n in lab.cluster.nodes))
    known_hosts = state / "known_hosts"
    lines = []
    for node in lab.cluster.nodes:
        node_servers = servers[node.hostname]
        pub = node_servers.host_key.export_public_key().decode().strip()
        port = node_servers.ssh_port
        names = (
            [node.fqdn, node.address]
            if port == 22
            else [f"[{node.fqdn}]:{port}", f"[{node.address}]:{port}"]
        )
        lines.append(f"{','.join(names)} {pub}")
    known_hosts.write_text("\n".join(lines) + "\n")
    spec = lab.spec
    cluster: dict[str, Any] = {
        "name": spec.cluster,
        "version": spec.version,
        "domain": spec.domain,
        "publisher": lab.cluster.publisher.fqdn,
        "nodes": [
            {
                "fqdn": n.fqdn,
                "product": n.product,
                "role": "publisher" if n.publisher else "subscriber",
                "address": n.address,
                "https_port": servers[n.hostname].https_ports[0],
                "rest_port": servers[n.hostname].https_ports[1],
                "ssh_port": servers[n.hostname].ssh_port,
                **(
                    {"sip_tls_port": spec.ports.sip_tls}
                    if n.product == "cucm"
                    else {
                        "xmpp_c2s_port": spec.ports.xmpp_c2s,
                        "xmpp_s2s_port": spec.ports.xmpp_s2s,
                    }
                ),
            }
            for n in lab.cluster.nodes
        ],
        "credentials": refs,
        "tls": {"ca_file": str(trust), "ssh_known_hosts": str(known_hosts)},
        "lab": {"control_url": control_url},
    }
    return cluster


def _adcs_entry(adcs: AdcsTwin) -> dict[str, Any]:
    """The ``cas:`` entry of the ADCS twin, in the shape of ``ca.adcs.AdcsCaConfig``."""
    offered = list(adcs.templates)
    return {
        "name": "lab-adcs",
        "type": "adcs",
        "url": adcs.url,
        "address": adcs.address,
        "template": "WebServer" if "WebServer" in offered else next(iter(offered), None),
        "templates": offered,
        "ca_file": str(adcs.ca_file.resolve()),
        "auth": {
            "method": "basic",
            "username": adcs.username,
            "password": f"file:{adcs.password_file.resolve()}",
            "client_cert": str(adcs.client_cert_file.resolve()),
            "client_key": str(adcs.client_key_file.resolve()),
        },
    }
