"""The certificate path by release, and how plans show it.

Sources (../shared/reference/cucm-interfaces.md): the Certificate Management REST API exists
from CUCM 14 only (§2, §11, [DOC S8]); multi-server CSRs before 14 are generated in OS
Administration (§3, [DOC S1]); from 14SU2 multi-SAN certificates are uploaded in the GUI only
(§1.2, [DOC S3]); the CLI generates single-server CSRs only (§7.2, [DOC S5]).
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from activities.cert_paths import LEGACY_PATH, PathError, choose_path
from activities.clients.inventory import CertificatesEntry
from activities.cluster_models import ClusterSnapshot, NodeSnapshot
from workflows.models import RenewalOptions
from workflows.plan import certificate_path_for, compose_plan, path_problems

RELEASES = {
    "10.5.2.15900-8": ("os-admin", "os-admin", "os-admin", "os-admin"),
    "11.5.1.21900-40": ("os-admin", "os-admin", "os-admin", "os-admin"),
    "12.5.1.16900-48": ("os-admin", "os-admin", "os-admin", "os-admin"),
    # 14 and 14SU1: REST throughout.
    "14.0.1.10000-20": ("rest", "rest", "rest", "rest"),
    "14.0.1.11900-132": ("rest", "rest", "rest", "rest"),
    # 14SU2, 14SU3 and 15: the multi-server upload in OS Administration, the rest over REST.
    "14.0.1.12900-161": ("rest", "rest", "os-admin", "rest"),
    "14.0.1.13900-155": ("rest", "rest", "os-admin", "rest"),
    "15.0.1.10000-32": ("rest", "rest", "os-admin", "rest"),
}


@pytest.mark.parametrize("version", sorted(RELEASES))
def test_multi_server_path_follows_what_the_release_offers(version: str) -> None:
    path = choose_path(version)
    assert (path.csr, path.trust, path.identity, path.readback) == RELEASES[version]
    assert path.distribution == "multi-server"
    assert path.release == version
    assert version in path.reason


@pytest.mark.parametrize(
    ("version", "csr", "identity", "readback"),
    [
        ("11.5.1.21900-40", "cli", "cli", "os-admin"),
        ("12.5.1.16900-48", "cli", "cli", "os-admin"),
        ("14.0.1.13900-155", "rest", "rest", "rest"),
        ("15.0.1.10000-32", "rest", "rest", "rest"),
    ],
)
def test_per_node_path_uses_single_server_interfaces(
    version: str, csr: str, identity: str, readback: str
) -> None:
    path = choose_path(version, "per-node")
    assert path.per_node
    assert (path.csr, path.identity, path.readback) == (csr, identity, readback)


def test_unknown_release_takes_the_interface_every_release_has() -> None:
    path = choose_path(None)
    assert (path.csr, path.identity, path.readback) == ("os-admin", "os-admin", "os-admin")
    assert "unknown release" in path.reason


def test_inventory_overrides_are_refused_where_the_release_lacks_them() -> None:
    with pytest.raises(PathError, match="does not have"):
        choose_path("12.5.1.16900-48", interface="rest")
    with pytest.raises(PathError, match="OS Administration only"):
        choose_path("15.0.1.10000-32", interface="rest")
    with pytest.raises(PathError, match="single-server CSRs only"):
        choose_path("14.0.1.13900-155", interface="cli")
    # What the release does offer is taken as asked.
    assert choose_path("15.0.1.10000-32", "per-node", "rest").identity == "rest"
    assert choose_path("14.0.1.13900-155", interface="os-admin").csr == "os-admin"
    cli = choose_path("12.5.1.16900-48", "per-node", "cli")
    assert (cli.csr, cli.trust, cli.identity, cli.readback) == ("cli", "cli", "cli", "os-admin")


def _snapshot(version: str, block: CertificatesEntry | None = None) -> ClusterSnapshot:
    return ClusterSnapshot(
        cluster="lab",
        taken_at=datetime(2026, 11, 30, tzinfo=UTC),
        version=version,
        publisher="cucm-pub.example.com",
        nodes=[
            NodeSnapshot(fqdn="cucm-pub.example.com", product="cucm", role="publisher"),
            NodeSnapshot(fqdn="cucm-sub1.example.com", product="cucm", role="subscriber"),
        ],
        certificates=block or CertificatesEntry(),
    )


def test_plan_names_the_interface_of_each_certificate_step() -> None:
    snapshot = _snapshot("12.5.1.16900-48")
    path = certificate_path_for(snapshot, RenewalOptions())
    plan = compose_plan(snapshot, ["tomcat"], RenewalOptions(), path=path)
    assert plan.certificate_path == path
    actions = {s.phase: s.action for s in plan.steps}
    assert actions["csr"] == "generate multi-server tomcat CSR via OS Administration"
    assert actions["upload-cert"] == "upload the signed tomcat certificate via OS Administration"
    assert actions["upload-trust"].endswith("via OS Administration")
    assert plan.notes[0].startswith("Certificate path: CUCM 12.5.1.16900-48 has no")
    # Plans of changes started before paths existed keep their steps and hash.
    legacy = compose_plan(snapshot, ["tomcat"], RenewalOptions())
    assert legacy.certificate_path is None
    assert "via" not in " ".join(s.action for s in legacy.steps)
    assert legacy.plan_hash != plan.plan_hash


def test_per_node_plan_has_a_csr_and_an_upload_on_every_node() -> None:
    snapshot = _snapshot("12.5.1.16900-48", CertificatesEntry(distribution="per-node"))
    path = certificate_path_for(snapshot, RenewalOptions())
    assert path.per_node
    plan = compose_plan(snapshot, ["tomcat"], RenewalOptions(), path=path)
    csrs = [(s.node, s.action) for s in plan.steps if s.phase == "csr"]
    uploads = [s.node for s in plan.steps if s.phase == "upload-cert"]
    assert csrs == [
        ("cucm-pub.example.com", "generate single-server tomcat CSR via platform CLI"),
        ("cucm-sub1.example.com", "generate single-server tomcat CSR via platform CLI"),
    ]
    assert uploads == ["cucm-pub.example.com", "cucm-sub1.example.com"]
    # The change's option overrides the inventory.
    multi = certificate_path_for(snapshot, RenewalOptions(distribution="multi-server"))
    assert not multi.per_node


def test_a_path_the_release_lacks_is_a_blocking_problem() -> None:
    snapshot = _snapshot("11.5.1.21900-40", CertificatesEntry(interface="rest"))
    problems = path_problems(snapshot, RenewalOptions())
    assert [p.code for p in problems] == ["certificate-path-unavailable"]
    assert problems[0].blocking
    assert path_problems(_snapshot("14.0.1.11900-132"), RenewalOptions()) == []


def test_requests_of_changes_started_before_paths_use_rest() -> None:
    assert (LEGACY_PATH.csr, LEGACY_PATH.identity, LEGACY_PATH.readback) == (
        "rest",
        "rest",
        "rest",
    )
