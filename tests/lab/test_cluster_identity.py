"""The cluster's identity as discovery reads it from the lab (the one-change-per-cluster key).

AXL listProcessNode returns each server with its pkid in the ``uuid`` attribute and the
publisher as ``nodeUsage`` Publisher (cucm-interfaces.md §6, [CODE S15] fixture; the
``ciscoaxl`` schema's LProcessNode, S28). The IM&P DB publisher is a "Publisher" too, with the
IM and Presence role, and is not the cluster's identity.
"""

from __future__ import annotations

from pathlib import Path

from activities.clients.cucm.axl import AxlClient
from activities.clients.cucm.discovery import cluster_identity
from activities.cluster_models import ClusterIdentity
from lab.server import Lab
from lab.timing import FAST
from tests.lab.conftest import LabHandle, lab_spec


async def read_identity(lab: LabHandle) -> ClusterIdentity | None:
    async with AxlClient(lab.endpoint("cucm-pub"), lab.app_user) as axl:
        return cluster_identity(await axl.list_process_nodes())


async def test_the_identity_is_the_cucm_publishers_processnode(lab: LabHandle) -> None:
    identity = await read_identity(lab)
    assert identity is not None
    assert identity.publisher == lab.lab.cluster.node("cucm-pub").fqdn
    assert len(identity.publisher_uuid) == 36 and identity.publisher_uuid.islower()
    # Asked of a subscriber (AXL answers on every node from 11.0), the cluster is the same.
    async with AxlClient(lab.endpoint("cucm-sub1"), lab.app_user) as axl:
        assert cluster_identity(await axl.list_process_nodes()) == identity


async def test_two_installs_with_equal_names_have_different_identities(tmp_path: Path) -> None:
    """Two twins of one topology (same cluster and server names, other networks) are two
    installs: their publishers' pkids differ (lab/facts.py PROCESSNODE_PKID_PER_INSTALL)."""
    async with (
        Lab(lab_spec(), tmp_path / "a", FAST) as one,
        Lab(lab_spec(), tmp_path / "b", FAST) as two,
    ):
        first, second = await read_identity(LabHandle(one)), await read_identity(LabHandle(two))
    assert first is not None and second is not None
    assert first.publisher == second.publisher
    assert first.publisher_uuid != second.publisher_uuid
