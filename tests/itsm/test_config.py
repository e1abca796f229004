"""The inventory's itsm: blocks: top-level, per cluster, and what is refused."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from activities.clients.inventory import InventoryError, load_inventory

CLUSTER = {
    "name": "c1",
    "domain": "example.com",
    "publisher": "pub.example.com",
    "nodes": [{"fqdn": "pub.example.com", "role": "publisher"}],
    "credentials": {
        "os_admin": {"username": "a", "password": "env:A"},
        "app_user": {"username": "b", "password": "env:B"},
    },
}
TOP = {
    "kind": "servicenow",
    "url": "https://example.service-now.com",
    "credentials": {"username": "svc", "password": "file:sn-password"},
}


def write(tmp_path: Path, data: dict[str, object]) -> Path:
    path = tmp_path / "clusters.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_cluster_fields_replace_top_level_ones(tmp_path: Path) -> None:
    c2 = {**CLUSTER, "name": "c2", "itsm": {"match": {"ci": "cucm-c2"}, "block": False}}
    c3 = {**CLUSTER, "name": "c3", "itsm": {"enabled": False}}
    inv = load_inventory(write(tmp_path, {"clusters": [CLUSTER, c2, c3], "itsm": TOP}))
    base, own = inv.itsm_for("c1"), inv.itsm_for("c2")
    assert base is not None and own is not None
    assert base.match.ci is None and base.block
    assert own.match.ci == "cucm-c2" and not own.block and own.url == TOP["url"]
    assert inv.itsm_for("c3") is None


def test_no_itsm_anywhere(tmp_path: Path) -> None:
    assert load_inventory(write(tmp_path, {"clusters": [CLUSTER]})).itsm_for("c1") is None


@pytest.mark.parametrize(
    ("itsm", "expected"),
    [
        ({**TOP, "credentials": None}, "exactly one of credentials"),
        ({**TOP, "token": "env:T"}, "exactly one of credentials"),
        ({"kind": "webhook", "url": "https://hooks.example.com"}, "needs secret"),
        ({**TOP, "credentials": {"username": "svc", "password": "hunter2-sentinel"}}, "env:NAME"),
        ({**TOP, "kind": "jira"}, "kind"),
        ({**TOP, "url": "http://corp.service-now.com"}, "url must be https"),
    ],
)
def test_invalid_blocks_are_refused_with_the_field(
    tmp_path: Path, itsm: dict[str, object], expected: str
) -> None:
    with pytest.raises(InventoryError) as caught:
        load_inventory(write(tmp_path, {"clusters": [CLUSTER], "itsm": itsm}))
    assert expected in str(caught.value)
    assert "hunter2-sentinel" not in str(caught.value)


def test_cluster_block_without_kind_needs_a_top_level_one(tmp_path: Path) -> None:
    c1 = {**CLUSTER, "itsm": {"match": {"ci": "x"}}}
    with pytest.raises(InventoryError, match="cluster c1: its itsm block"):
        load_inventory(write(tmp_path, {"clusters": [c1]}))


def test_plain_http_is_accepted_on_loopback(tmp_path: Path) -> None:
    inv = load_inventory(
        write(tmp_path, {"clusters": [CLUSTER], "itsm": {**TOP, "url": "http://127.0.0.1:8080"}})
    )
    itsm = inv.itsm_for("c1")
    assert itsm is not None and itsm.url == "http://127.0.0.1:8080"
