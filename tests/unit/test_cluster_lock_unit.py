"""The cluster lock's pure parts: which server is the cluster's identity, the lock's id, and
what a refused change says."""

from __future__ import annotations

from activities.clients.cucm.axl import ProcessNode
from activities.clients.cucm.discovery import cluster_identity
from activities.cluster_models import ClusterIdentity, LockHolder
from workflows.cluster_lock import busy_message, lock_id

PKID = "6f1c1f0e-3a1b-5c1d-9e2f-0a1b2c3d4e5f"


def test_the_cucm_publisher_is_the_identity_not_the_imp_publisher() -> None:
    nodes = [
        ProcessNode(
            name="imp-pub.x", node_usage="Publisher", role="CUCM IM and Presence", uuid="aaaa"
        ),
        ProcessNode(name="cucm-sub1.x", node_usage="Subscriber", role="CUCM Voice/Video"),
        ProcessNode(name="CUCM-PUB.x", node_usage="Publisher", role="CUCM Voice/Video", uuid=PKID),
    ]
    assert cluster_identity(nodes) == ClusterIdentity(publisher="CUCM-PUB.x", publisher_uuid=PKID)


def test_no_cucm_publisher_no_identity() -> None:
    assert cluster_identity([ProcessNode(name="s", node_usage="Subscriber")]) is None


def test_the_lock_id_ignores_the_case_of_the_server_name_and_the_braces() -> None:
    one = lock_id(ClusterIdentity(publisher="CUCM-PUB.example.com", publisher_uuid=PKID))
    two = lock_id(
        ClusterIdentity(publisher="cucm-pub.example.com", publisher_uuid="{" + PKID.upper() + "}")
    )
    assert one == two == f"cluster-lock/cucm-pub.example.com/{PKID}"


def test_equal_names_of_two_installs_are_two_locks() -> None:
    one = lock_id(ClusterIdentity(publisher="10.1.1.10", publisher_uuid=PKID))
    other = lock_id(ClusterIdentity(publisher="10.1.1.10", publisher_uuid=PKID[::-1]))
    assert one != other


def test_a_refusal_names_the_holder_its_cluster_and_what_to_do() -> None:
    message = busy_message(
        "CHG2",
        "lab-by-address",
        "cucm-pub.x",
        LockHolder(change_id="CHG1", cluster="lab", phase="upload-cert"),
    )
    assert "change CHG1 is running on cluster lab" in message
    assert "phase upload-cert" in message
    assert "nothing was changed on lab-by-address" in message
    assert "Start CHG2 again once CHG1 has ended" in message


def test_a_holder_that_just_ended_is_said_so() -> None:
    message = busy_message("CHG2", "lab", "cucm-pub.x", LockHolder())
    assert "just ended" in message and "start CHG2 again" in message
