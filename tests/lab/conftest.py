"""Fixtures that run a lab in-process on a loopback network of its own."""

from __future__ import annotations

import itertools
import os
from collections.abc import AsyncIterator
from pathlib import Path

import asyncssh
import pytest
import pytest_asyncio

from activities.clients.cucm.transport import BasicAuth, NodeEndpoint, credentials
from activities.clients.inventory import ClusterEntry, Inventory, load_inventory
from lab import topology
from lab.server import Lab
from lab.timing import FAST

_subnets = itertools.count(0)
# Second octets of the test labs' loopback networks; benchmarks keep out of them, so a bench
# run beside the tests never takes a test lab's address (tests/unit/test_bench_networks.py).
TEST_LAB_OCTETS = range(100, 250)


def lab_spec(**overrides: object) -> topology.TopologySpec:
    """The default topology on a loopback /24 no other lab of this test run uses."""
    n = next(_subnets)
    third = TEST_LAB_OCTETS.start + (os.getpid() + n * 7) % len(TEST_LAB_OCTETS)
    data = topology.load().model_dump()
    data.update({"network": f"127.{third}.{n % 250}.0/24"})
    data.update(overrides)
    return topology.TopologySpec.model_validate(data)


def solo_and_pair(solo: tuple[int, int], pair: tuple[int, int]) -> dict[str, object]:
    """Topology overrides: group Solo has cucm-sub1 alone, group Pair cucm-sub2 then cucm-pub.

    Args:
        solo: (SCCP, SIP) phones of Solo's device pool.
        pair: (SCCP, SIP) phones of Pair's device pool.
    """
    return {
        "cm_groups": [
            {"name": "Solo", "members": ["cucm-sub1"]},
            {"name": "Pair", "members": ["cucm-sub2", "cucm-pub"]},
        ],
        "device_pools": [
            {"name": "DP-Solo", "cm_group": "Solo", "sccp": solo[0], "sip": solo[1]},
            {"name": "DP-Pair", "cm_group": "Pair", "sccp": pair[0], "sip": pair[1]},
        ],
    }


class LabHandle:
    """A running lab plus what a client needs to reach it."""

    def __init__(self, lab: Lab, inventory: Path | None = None) -> None:
        """``inventory``: the file that lists ``lab`` (default: the one it wrote itself)."""
        self.lab = lab
        self.inventory: Inventory = load_inventory(inventory or lab.state_dir / "inventory.yaml")
        self.cluster_entry: ClusterEntry = self.inventory.cluster(lab.spec.cluster)

    def endpoint(self, hostname: str, extra_ca_pem: tuple[str, ...] = ()) -> NodeEndpoint:
        """Endpoint of a node by short name."""
        return NodeEndpoint.from_inventory(
            self.cluster_entry, self.cluster_entry.node(hostname), extra_ca_pem
        )

    def ssh(self, hostname: str):  # type: ignore[no-untyped-def]
        """``async with lab.ssh(host) as conn``: a plain SSH connection as the OS admin."""
        ep = self.endpoint(hostname)
        return asyncssh.connect(
            ep.host,
            ep.ssh_port,
            username=self.os_admin.username,
            password=self.os_admin.password,
            known_hosts=ep.known_hosts,
            client_keys=None,
            agent_path=None,
            config=None,
        )

    @property
    def os_admin(self) -> BasicAuth:
        """The OS platform admin account."""
        return credentials(self.inventory, self.cluster_entry, "os_admin")

    @property
    def app_user(self) -> BasicAuth:
        """The AXL / serviceability application user."""
        return credentials(self.inventory, self.cluster_entry, "app_user")


@pytest_asyncio.fixture(loop_scope="session")
async def lab(tmp_path: Path) -> AsyncIterator[LabHandle]:
    """A fresh default lab (fast timing) for one test."""
    async with Lab(lab_spec(), tmp_path / "lab", FAST) as running:
        yield LabHandle(running)


@pytest.fixture
def make_lab(tmp_path: Path):  # type: ignore[no-untyped-def]
    """Factory for a lab with topology overrides: ``async with make_lab(sso_enabled=False)``."""
    counter = itertools.count()

    def factory(**overrides: object) -> Lab:
        return Lab(lab_spec(**overrides), tmp_path / f"lab{next(counter)}", FAST)

    return factory
