"""Comparing who answered with the inventory node (issue 16: "the node ucrenew talks to is
the node it means"): host names as nodes report them, SSH host key pins, the preflight's
identity problems and the workflow's check of a step's result."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from activities.clients.cucm.errors import CucmWrongNode
from activities.clients.cucm.identity import check_identity, parse_hostname
from activities.cluster_models import (
    ClusterSnapshot,
    NodeIdentity,
    NodeSnapshot,
    hostname_matches,
)
from workflows.identity import check_answered, pinned_host_keys
from workflows.plan import identity_problems
from workflows.steps import RenewalStopped

SUB1 = "cucm-sub1.lab.example.com"


@pytest.mark.parametrize(
    "reported",
    [
        "cucm-sub1",
        "CUCM-SUB1",
        "cucm-sub1.lab.example.com",
        "CUCM-Sub1.LAB.example.com",
        "cucm-sub1.lab.example.com.",
        " cucm-sub1 ",
    ],
)
def test_the_nodes_own_name_matches_short_or_fqdn_in_any_case(reported: str) -> None:
    assert hostname_matches(SUB1, reported)


@pytest.mark.parametrize(
    "reported",
    [
        "cucm-sub2",
        "cucm-sub2.lab.example.com",
        "cucm-sub1.other.example.com",  # same short name, another domain: another server
        "cucm-sub",
        "cucm-sub1x",
        "",
        "lab.example.com",
    ],
)
def test_another_name_does_not_match(reported: str) -> None:
    assert not hostname_matches(SUB1, reported)


def test_a_node_named_by_address_in_the_inventory_is_known_by_its_host_key_alone() -> None:
    assert not hostname_matches("10.0.0.2", "cucm-sub1")
    assert hostname_matches("10.0.0.2", "10.0.0.2")
    answered = NodeIdentity(node="10.0.0.2", address="10.0.0.2", hostname="cucm-sub1")
    assert check_identity(answered) is answered  # no host name to compare with
    check_answered("10.0.0.2", "cucm-sub1", "verification")
    with pytest.raises(CucmWrongNode):
        check_identity(answered.model_copy(update={"ssh_host_key": "SHA256:a"}), "SHA256:b")


def test_show_status_names_the_node() -> None:
    # Layout of the lab's show status (lab/frontends/cli_health.py) and of the [INF] rule.
    output = "\nHost Name          : cucm-sub2\nDate               : Mon Nov 30, 2026\n"
    assert parse_hostname(output) == "cucm-sub2"
    assert parse_hostname("Product Ver        : 14.0.1\n") == ""


def test_a_mismatch_names_the_inventory_node_the_address_and_who_answered() -> None:
    answered = NodeIdentity(node=SUB1, address="127.0.1.3", hostname="cucm-sub2")
    with pytest.raises(CucmWrongNode) as refused:
        check_identity(answered)
    message = str(refused.value)
    assert SUB1 in message and "127.0.1.3" in message and "cucm-sub2" in message
    assert refused.value.answered_by == "cucm-sub2" and not refused.value.retryable


def test_a_host_key_other_than_the_pinned_one_is_refused() -> None:
    answered = NodeIdentity(node=SUB1, address="a", hostname="cucm-sub1", ssh_host_key="SHA256:x")
    assert check_identity(answered, "SHA256:x") is answered
    with pytest.raises(CucmWrongNode) as refused:
        check_identity(answered, "SHA256:y")
    assert "SHA256:x" in str(refused.value) and "SHA256:y" in str(refused.value)


def test_an_unread_host_name_is_not_a_mismatch_but_the_key_still_is_checked() -> None:
    unread = NodeIdentity(node=SUB1, address="a", ssh_host_key="SHA256:x")
    assert check_identity(unread) is unread
    with pytest.raises(CucmWrongNode):
        check_identity(unread, "SHA256:y")


def _snapshot(*nodes: NodeSnapshot) -> ClusterSnapshot:
    return ClusterSnapshot(cluster="lab", taken_at=datetime(2026, 1, 1, tzinfo=UTC), nodes=nodes)


def _node(fqdn: str, key: str, error: str | None = None) -> NodeSnapshot:
    identity = NodeIdentity(node=fqdn, address=f"addr-{fqdn[:9]}", ssh_host_key=key)
    return NodeSnapshot(fqdn=fqdn, identity=identity, identity_error=error)


def test_preflight_refuses_a_node_another_one_answers_for() -> None:
    snap = _snapshot(
        _node("cucm-pub.lab.example.com", "SHA256:p"),
        _node(SUB1, "SHA256:s2", error="inventory node cucm-sub1 answered as cucm-sub2"),
    )
    [problem] = identity_problems(snap)
    assert (problem.code, problem.node, problem.blocking) == ("node-identity-mismatch", SUB1, True)
    assert "cucm-sub2" in problem.message


def test_preflight_refuses_two_nodes_with_one_host_key() -> None:
    snap = _snapshot(_node(SUB1, "SHA256:same"), _node("cucm-sub2.lab.example.com", "SHA256:same"))
    [problem] = identity_problems(snap)
    assert problem.code == "node-identity-shared" and problem.blocking
    assert SUB1 in problem.message and "cucm-sub2.lab.example.com" in problem.message


def test_snapshots_without_identities_pass_and_pin_nothing() -> None:
    snap = _snapshot(NodeSnapshot(fqdn=SUB1), NodeSnapshot(fqdn="cucm-sub2.lab.example.com"))
    assert identity_problems(snap) == []
    assert pinned_host_keys(snap) == {}


def test_only_confirmed_nodes_are_pinned() -> None:
    snap = _snapshot(
        _node("cucm-pub.lab.example.com", "SHA256:p"),
        _node(SUB1, "SHA256:s2", error="answered as cucm-sub2"),
    )
    assert pinned_host_keys(snap) == {"cucm-pub.lab.example.com": "SHA256:p"}


def test_a_result_is_counted_only_for_the_node_that_gave_it() -> None:
    check_answered(SUB1, "CUCM-SUB1", "verification")
    check_answered(SUB1, "", "verification")  # older workers report no name
    with pytest.raises(RenewalStopped) as refused:
        check_answered(SUB1, "cucm-sub2", "restart of Cisco Tomcat")
    assert refused.value.error_type == "CucmWrongNode"
    assert SUB1 in refused.value.message and "cucm-sub2" in refused.value.message
