"""remove_leftover_certificates against the lab: re-read first, remove only what was approved."""

from __future__ import annotations

from temporalio.testing import ActivityEnvironment

from activities.cleanup_models import LeftoverRemovalRequest
from activities.cluster_models import LeftoverRequest
from activities.leftovers import LeftoverActivities
from tests.lab.conftest import LabHandle
from tests.lab.test_phones import install_cert


async def test_removal_rereads_and_removes_only_the_approved_leftovers(lab: LabHandle) -> None:
    cluster = lab.lab.cluster
    _, root = install_cert(lab.lab, "CallManager")
    path = lab.lab.state_dir / "inventory.yaml"
    acts = LeftoverActivities(inventory_loader=lambda: path)
    env = ActivityEnvironment()
    ref = {"cluster": "lab", "purposes": ["CallManager"], "extra_roots_pem": [root]}
    found = await env.run(acts.find_leftover_certificates, LeftoverRequest(**ref))
    assert len(found.leftovers) == 3 and all(x.fingerprint for x in found.leftovers)
    first, second, third = found.leftovers
    # One is deleted by hand meanwhile; one is approved with another fingerprint; one stays.
    cluster.delete_trust(cluster.publisher, second.store, second.file_name)
    forged = third.model_copy(update={"fingerprint": "00" * 32})
    result = await env.run(
        acts.remove_leftover_certificates,
        LeftoverRemovalRequest(**ref, approved=[first, second, forged]),
    )
    assert result.removed == [first]
    assert result.already_gone == [second, forged]
    assert not result.still_present and not result.errors
    assert not any(first.file_name in n.trust[first.store] for n in cluster.nodes)
    assert any(third.file_name in n.trust[third.store] for n in cluster.nodes)
    deleted = lab.lab.journal.entries("trust.deleted")
    assert [e.data["file_name"] for e in deleted] == [second.file_name, first.file_name]
    # Again: the approved one is already gone, nothing is deleted twice.
    again = await env.run(
        acts.remove_leftover_certificates, LeftoverRemovalRequest(**ref, approved=[first])
    )
    assert (again.removed, again.already_gone) == ([], [first])
    assert len(lab.lab.journal.entries("trust.deleted")) == 2
