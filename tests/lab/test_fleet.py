"""A lab of several clusters in one process: each on its own loopback network, faults
addressed per cluster through the one control API, one inventory listing every cluster."""

from __future__ import annotations

import ipaddress
import json
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
import yaml
from cryptography.hazmat.primitives import serialization
from pydantic import ValidationError

from activities.clients.cucm.errors import CucmUnreachable
from activities.clients.cucm.tls import probe_tls
from activities.clients.cucm.transport import NodeEndpoint
from activities.clients.inventory import ClusterEntry, load_inventory
from lab import pki, topology
from lab.cluster import Cluster
from lab.control import LabControl
from lab.errors import LabError
from lab.faults import Fault
from lab.fleet import LabFleet, fleet_specs
from lab.timing import FAST
from tests.lab.conftest import lab_spec


def test_clusters_get_their_own_name_network_domain_and_release() -> None:
    base = topology.load()
    specs = fleet_specs(base, 3, releases=["14.0.1.13900-155", "12.5.1.16900-48"])
    assert [s.cluster for s in specs] == ["lab", "lab-002", "lab-003"]
    assert [s.network for s in specs] == ["127.0.1.0/24", "127.0.2.0/24", "127.0.3.0/24"]
    assert [s.domain for s in specs] == [
        "lab.example.com",
        "lab-002.example.com",
        "lab-003.example.com",
    ]
    assert [s.version for s in specs] == [
        "14.0.1.13900-155",
        "12.5.1.16900-48",
        "14.0.1.13900-155",
    ]
    assert [s.adcs.enabled for s in specs] == [True, False, False]
    addresses = [s.address_of(i) for s in specs for i in range(len(s.nodes))]
    assert len(set(addresses)) == len(addresses)
    assert [s.cluster for s in fleet_specs(base, 2, prefix="emea")] == ["emea", "emea-002"]
    assert fleet_specs(base, 1) == [base]


def test_impossible_fleets_are_refused_with_the_reason() -> None:
    base = topology.load()
    with pytest.raises(LabError, match="at least one cluster"):
        fleet_specs(base, 0)
    with pytest.raises(LabError, match=r"would leave 127\.0\.0\.0/8"):
        fleet_specs(base.model_copy(update={"network": "127.255.200.0/24"}), 100)
    pinned = base.model_copy(
        update={"nodes": [n.model_copy(update={"address": "127.0.9.9"}) for n in base.nodes]}
    )
    with pytest.raises(LabError, match="fixed addresses"):
        fleet_specs(pinned, 2)
    with pytest.raises(ValidationError, match=r"10\.5 through 15"):
        fleet_specs(base, 2, releases=["9.1.2.10000-28"])


@pytest_asyncio.fixture(loop_scope="session")
async def fleet(tmp_path: Path) -> AsyncIterator[LabFleet]:
    async with LabFleet(fleet_specs(lab_spec(), 2), tmp_path / "lab", FAST) as running:
        yield running


def _endpoints(cluster: ClusterEntry) -> list[NodeEndpoint]:
    return [NodeEndpoint.from_inventory(cluster, n) for n in cluster.nodes]


async def test_two_clusters_answer_on_their_own_addresses(fleet: LabFleet) -> None:
    inventory = load_inventory(fleet.inventory_path)
    assert [c.name for c in inventory.clusters] == ["lab", "lab-002"]
    first, second = inventory.clusters
    networks = [ipaddress.ip_network(lab.spec.network) for lab in fleet.labs]
    assert networks[0] != networks[1]
    for cluster, network in zip(inventory.clusters, networks, strict=True):
        for node, ep in zip(cluster.nodes, _endpoints(cluster), strict=True):
            assert ipaddress.ip_address(node.address) in network
            served = await probe_tls(ep, node.https_port)
            # trusted through that cluster's own trust file, for that cluster's FQDN
            assert served.subject_cn == node.fqdn
    assert first.publisher_node.fqdn != second.publisher_node.fqdn
    assert [c.name for c in inventory.cas] == ["lab-adcs"]


async def test_a_fault_on_one_cluster_leaves_the_other_alone(fleet: LabFleet) -> None:
    inventory = load_inventory(fleet.inventory_path)
    first, second = inventory.clusters
    async with LabControl(fleet.lab("lab-002").control_url) as ctl:
        await ctl.add_fault(Fault(kind="unreachable", node="cucm-sub1"))
    async with LabControl(fleet.control_url) as root:
        assert await root.faults() == []  # the root is the first cluster's API
    async with LabControl(fleet.lab("lab").control_url) as ctl:
        assert await ctl.faults() == []
    assert fleet.labs[0].journal.entries("fault.injected") == []
    assert len(fleet.labs[1].journal.entries("fault.injected")) == 1

    sub1 = first.node("cucm-sub1")
    served = await probe_tls(NodeEndpoint.from_inventory(first, sub1), sub1.https_port)
    assert served.subject_cn == sub1.fqdn
    sub1 = second.node("cucm-sub1")
    with pytest.raises(CucmUnreachable):
        await probe_tls(NodeEndpoint.from_inventory(second, sub1), sub1.https_port)


async def test_the_shared_control_api_lists_and_describes_every_cluster(
    fleet: LabFleet,
) -> None:
    async with httpx.AsyncClient(base_url=fleet.control_url) as http:
        listed = (await http.get("/clusters")).json()
        described = (await http.get("/describe")).json()
    assert [c["name"] for c in listed] == ["lab", "lab-002"]
    assert [c["cluster"] for c in described["clusters"]] == ["lab", "lab-002"]
    assert described["inventory"] == str(fleet.inventory_path)
    assert described["cluster"] == "lab"
    with pytest.raises(LabError, match="no cluster 'nope'"):
        fleet.lab("nope")


def _public(kc: pki.KeyedCert) -> bytes:
    return kc.key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def test_shared_install_keys_stay_distinct_in_a_cluster_and_regen_makes_a_new_one() -> None:
    keys = pki.InstallKeys()
    first, second = (
        Cluster(spec, FAST, install_keys=keys) for spec in fleet_specs(topology.load(), 2)
    )
    installed = [_public(kc) for n in first.nodes for kc in n.own.values()]
    assert len(set(installed)) == len(installed)
    assert [_public(kc) for n in second.nodes for kc in n.own.values()] == installed
    assert first.nodes[0].own["tomcat"].cert != second.nodes[0].own["tomcat"].cert
    regenerated = second.regenerate_self_signed(second.nodes[0], "tomcat")
    assert _public(regenerated) not in installed


def _lab_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lab", *args], capture_output=True, text=True, timeout=120
    )


def test_lab_up_with_clusters_runs_them_in_one_background_process(tmp_path: Path) -> None:
    topology_file = tmp_path / "topology.yaml"
    topology_file.write_text(yaml.safe_dump(lab_spec().model_dump(mode="json")))
    state = str(tmp_path / "state")
    try:
        up = _lab_cli(
            "up",
            "--state-dir",
            state,
            "--topology",
            str(topology_file),
            "--clusters",
            "3",
            "--prefix",
            "emea",
            "--release",
            "12.5.1.16900-48,14.0.1.13900-155",
            "--json",
        )
        assert up.returncode == 0, up.stdout + up.stderr
        desc = json.loads(up.stdout)
        assert [c["cluster"] for c in desc["clusters"]] == ["emea", "emea-002", "emea-003"]
        assert [c["version"] for c in desc["clusters"]] == [
            "12.5.1.16900-48",
            "14.0.1.13900-155",
            "12.5.1.16900-48",
        ]
        assert len({c["pid"] for c in desc["clusters"]}) == 1
        inventory = load_inventory(desc["inventory"])
        assert [c.name for c in inventory.clusters] == ["emea", "emea-002", "emea-003"]
        again = _lab_cli("up", "--state-dir", state, "--json")
        assert json.loads(again.stdout)["control_url"] == desc["control_url"]
        assert "a lab of 3 cluster(s) was already running" in again.stderr
        fault = _lab_cli("fault", "list", "--cluster", "nope", "--state-dir", state)
        assert fault.returncode == 2 and "known: emea, emea-002, emea-003" in fault.stdout
    finally:
        down = _lab_cli("down", "--state-dir", state)
    assert "lab stopped" in down.stdout


def test_impossible_lab_up_says_why_without_starting(tmp_path: Path) -> None:
    state = tmp_path / "state"
    high = tmp_path / "high.yaml"
    data = topology.load().model_dump(mode="json")
    high.write_text(yaml.safe_dump({**data, "network": "127.255.250.0/24"}))
    for args, reason in [
        (["--release", "9.1.2.1-1"], "10.5 through 15"),
        (["--topology", str(high)], "would leave 127.0.0.0/8"),
    ]:
        out = _lab_cli("up", "--state-dir", str(state), "--clusters", "10", *args)
        assert out.returncode == 2 and reason in " ".join(out.stdout.split())
        assert "Traceback" not in out.stdout + out.stderr
    assert not (state / "lab" / "lab.json").exists()
