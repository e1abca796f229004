"""Who answers at a node's address, asked of the lab's nodes over SSH (issue 16: "the node
ucrenew talks to is the node it means").

``show status`` opens with the node's host name on every VOS node (cucm-interfaces.md §7,
S29 lists it among the commands every node has; its ``Host Name`` line is the [INF] rule
``inferred.SHOW_STATUS_HOSTNAME_RE``). A known_hosts line names the host it is for (OpenSSH
sshd(8) "SSH_KNOWN_HOSTS FILE FORMAT": comma-separated host names and addresses, ``[host]:port``
for a non-standard port), so a key listed for a node's name is that node's.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import asyncssh
import pytest
import yaml

from activities.clients.cucm.discovery import discover
from activities.clients.cucm.errors import CucmWrongNode
from activities.clients.cucm.identity import confirm_identity
from activities.clients.cucm.transport import NodeEndpoint
from activities.clients.inventory import load_inventory
from lab.listeners import HOST_KEY_FILE
from lab.server import Lab
from lab.timing import FAST
from tests.lab.conftest import LabHandle, lab_spec
from workflows.plan import preflight_problems


def key_of(lab: LabHandle, hostname: str) -> str:
    key = lab.lab.servers[hostname].host_key
    return str(key.get_fingerprint("sha256"))


def swapped(lab: LabHandle, hostname: str, to: str) -> NodeEndpoint:
    """``hostname``'s endpoint with the address of ``to`` (a typo, a stale DNS record)."""
    return dataclasses.replace(lab.endpoint(hostname), host=lab.endpoint(to).host)


def addresses_only(lab: LabHandle, tmp_path: Path) -> Path:
    """A known_hosts like ``ssh-keyscan <address>`` writes: no node names."""
    source = Path(lab.endpoint("cucm-pub").known_hosts or "")
    lines = []
    for line in source.read_text().splitlines():
        names, rest = line.split(" ", 1)
        kept = [n for n in names.split(",") if n.removeprefix("[")[:1].isdigit()]
        lines.append(f"{','.join(kept)} {rest}")
    path = tmp_path / "known_hosts_by_address"
    path.write_text("\n".join(lines) + "\n")
    return path


async def test_every_node_answers_with_its_own_host_name_and_key(lab: LabHandle) -> None:
    for node in lab.lab.cluster.nodes:
        identity = await confirm_identity(lab.endpoint(node.hostname), lab.os_admin)
        assert identity.hostname == node.hostname
        assert identity.ssh_host_key == key_of(lab, node.hostname)
        assert identity.confirmed


async def test_an_address_of_another_node_is_refused_by_the_key_known_for_the_name(
    lab: LabHandle,
) -> None:
    with pytest.raises(CucmWrongNode) as refused:
        await confirm_identity(swapped(lab, "cucm-sub1", "cucm-sub2"), lab.os_admin)
    message = str(refused.value)
    assert "inventory node cucm-sub1.lab.example.com" in message
    assert lab.endpoint("cucm-sub2").host in message
    assert "cucm-sub2.lab.example.com" in message
    assert refused.value.answered_by == "cucm-sub2.lab.example.com"


async def test_without_names_in_known_hosts_the_host_name_refuses_it(
    lab: LabHandle, tmp_path: Path
) -> None:
    by_address = addresses_only(lab, tmp_path)
    ep = dataclasses.replace(swapped(lab, "cucm-sub1", "cucm-sub2"), known_hosts=str(by_address))
    with pytest.raises(CucmWrongNode) as refused:
        await confirm_identity(ep, lab.os_admin)
    message = str(refused.value)
    assert "inventory node cucm-sub1.lab.example.com" in message
    assert f"address {ep.host}" in message and "answered as cucm-sub2" in message
    # The right address still passes with the same known_hosts.
    good = dataclasses.replace(lab.endpoint("cucm-sub1"), known_hosts=str(by_address))
    assert (await confirm_identity(good, lab.os_admin)).hostname == "cucm-sub1"


async def test_a_host_key_other_than_the_pinned_one_is_refused(lab: LabHandle) -> None:
    ep = lab.endpoint("cucm-sub1")
    pinned = key_of(lab, "cucm-sub1")
    assert (await confirm_identity(ep, lab.os_admin, pinned)).ssh_host_key == pinned
    with pytest.raises(CucmWrongNode) as refused:
        await confirm_identity(ep, lab.os_admin, key_of(lab, "cucm-sub2"))
    assert pinned in str(refused.value) and key_of(lab, "cucm-sub2") in str(refused.value)


async def test_a_key_not_known_for_the_name_is_refused_even_if_known_for_the_address(
    lab: LabHandle, tmp_path: Path
) -> None:
    """A reinstalled node (or another machine) at the address: its key is listed for the
    address only, never for the node's name."""
    ep = lab.endpoint("cucm-sub1")
    other = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode().strip()
    real = lab.lab.servers["cucm-sub1"].host_key.export_public_key().decode().strip()

    def pattern(host: str) -> str:
        return host if ep.ssh_port == 22 else f"[{host}]:{ep.ssh_port}"

    known = tmp_path / "known_hosts"
    known.write_text(f"{pattern(ep.fqdn)} {other}\n{pattern(ep.host)} {real}\n")
    with pytest.raises(CucmWrongNode) as refused:
        await confirm_identity(dataclasses.replace(ep, known_hosts=str(known)), lab.os_admin)
    assert "not the one" in str(refused.value) and str(known) in str(refused.value)


async def test_discovery_and_preflight_name_both_nodes_of_a_swapped_address(
    lab: LabHandle, tmp_path: Path
) -> None:
    data = yaml.safe_load((lab.lab.state_dir / "inventory.yaml").read_text())
    [cluster] = data["clusters"]
    nodes = {n["fqdn"].split(".")[0]: n for n in cluster["nodes"]}
    nodes["cucm-sub1"]["address"] = nodes["cucm-sub2"]["address"]
    path = tmp_path / "inventory.yaml"
    path.write_text(yaml.safe_dump(data))
    snap = await discover(load_inventory(path), cluster["name"])
    sub1 = snap.node("cucm-sub1.lab.example.com")
    assert sub1.identity_error and "cucm-sub2" in sub1.identity_error
    assert all(n.identity_error is None for n in snap.nodes if n is not sub1)
    problems = [p for p in preflight_problems(snap, ["tomcat"]) if p.blocking]
    [identity] = [p for p in problems if p.code == "node-identity-mismatch"]
    assert identity.node == "cucm-sub1.lab.example.com"
    assert "cucm-sub2.lab.example.com" in identity.message
    assert nodes["cucm-sub2"]["address"] in identity.message
    # The node's own check says it once: no "does not answer SSH" beside it.
    assert not [p for p in problems if p.node == identity.node and p.code == "ssh-unreachable"]


async def test_the_lab_keeps_each_nodes_host_key_across_restarts(tmp_path: Path) -> None:
    spec = lab_spec()
    async with Lab(spec, tmp_path / "lab", FAST) as first:
        keys = {h: s.host_key.export_public_key() for h, s in first.servers.items()}
    assert len(set(keys.values())) == len(keys)  # one key per node
    key_file = tmp_path / "lab" / "nodes" / "cucm-pub" / HOST_KEY_FILE
    assert key_file.stat().st_mode & 0o077 == 0
    async with Lab(spec, tmp_path / "lab", FAST) as again:
        assert {h: s.host_key.export_public_key() for h, s in again.servers.items()} == keys
