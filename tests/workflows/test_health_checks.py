"""Pre-change health in preflight: pure checks on snapshots, under the cluster's policy."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import yaml
from pydantic import ValidationError

from activities.clients.inventory import ChangePolicyEntry, InventoryError, load_inventory
from activities.cluster_models import (
    BackupHealth,
    BackupRun,
    ChangePolicy,
    ClusterSnapshot,
    CoreFile,
    DiskPartition,
    HealthPolicy,
    NodeHealth,
    NodeSnapshot,
    NtpState,
    ServiceState,
)
from workflows.health_checks import age_text
from workflows.models import Problem
from workflows.plan import preflight_problems

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
NODES = [
    ("cucm-pub.lab.example.com", "cucm", "publisher"),
    ("cucm-sub1.lab.example.com", "cucm", "subscriber"),
    ("imp-pub.lab.example.com", "imp", "publisher"),
]
PUB, SUB, IMP = (n[0] for n in NODES)


def partition(name: str, percent: int) -> DiskPartition:
    total = 69234984
    used = total * percent // 100
    return DiskPartition(
        name=name, total_kb=total, used_kb=used, free_kb=total - used, used_percent=percent
    )


def healthy() -> NodeHealth:
    return NodeHealth(
        ntp=NtpState(synchronised=True, stratum=3, server="ntp.example.com"),
        partitions=[partition("active", 60), partition("inactive", 60), partition("logging", 40)],
    )


def snapshot(
    health: dict[str, NodeHealth | None] | None = None,
    backup: BackupHealth | None = None,
    backup_error: str | None = None,
    replication: int = 2,
) -> ClusterSnapshot:
    """A cluster that passes every other preflight check."""
    given = health if health is not None else {fqdn: healthy() for fqdn, _, _ in NODES}
    nodes = [
        NodeSnapshot(
            fqdn=fqdn,
            product=product,  # type: ignore[arg-type]
            role=role,  # type: ignore[arg-type]
            https_ok=True,
            ssh_ok=True,
            services=[
                ServiceState(name="Cisco Tomcat", status="Started"),
                ServiceState(name="Platform Administrative Web Service", status="Started"),
            ],
            health=given.get(fqdn),
        )
        for fqdn, product, role in NODES
    ]
    return ClusterSnapshot(
        cluster="lab",
        taken_at=NOW - timedelta(minutes=5),
        publisher=PUB,
        nodes=nodes,
        sso_enabled=False,
        db_replication={fqdn: replication for fqdn, _, _ in NODES},
        backup=backup,
        backup_error=backup_error,
    )


def recent_backup(hours: float = 20.0, latest: str = "SUCCESS") -> BackupHealth:
    done = NOW - timedelta(hours=hours)
    return BackupHealth(
        latest=BackupRun(completed=done, result=latest, tar="2026-11-26-16-00-00.tar"),
        last_success=done if latest == "SUCCESS" else done - timedelta(days=1),
        runs=10,
    )


def check(snap: ClusterSnapshot, policy: HealthPolicy | None = None) -> list[Problem]:
    return preflight_problems(snap, ["tomcat"], health=policy, now=NOW)


def codes(problems: list[Problem]) -> list[tuple[str, str | None, str]]:
    return [(p.code, p.node, p.severity) for p in problems]


def test_a_healthy_cluster_with_a_recent_backup_has_nothing_to_say() -> None:
    assert check(snapshot(backup=recent_backup())) == []


def test_old_snapshots_without_health_readings_pass_silently() -> None:
    # What changes started before health was read carry: no health, no backup, no error.
    old = snapshot(health={}, backup=None)
    assert check(old) == []
    assert check(old, HealthPolicy(ntp="stop", backup="stop", disk="stop", core_files="stop")) == []


def test_an_unsynchronised_clock_stops_the_change() -> None:
    sick = healthy()
    sick.ntp = NtpState(synchronised=False)
    problems = check(snapshot({PUB: healthy(), SUB: sick, IMP: healthy()}, recent_backup()))
    assert codes(problems) == [("ntp-unsynchronised", SUB, "error")]
    assert "utils ntp status" in problems[0].message and problems[0].blocking
    relaxed = check(snapshot({SUB: sick}, recent_backup()), HealthPolicy(ntp="warn"))
    assert codes(relaxed) == [("ntp-unsynchronised", SUB, "warning")]
    assert check(snapshot({SUB: sick}, recent_backup()), HealthPolicy(ntp="off")) == []


def test_no_backup_or_an_old_one_stops_the_change_and_says_its_age() -> None:
    none = check(snapshot(backup=BackupHealth()))
    assert codes(none) == [("backup-missing", None, "error")]
    old = check(snapshot(backup=recent_backup(hours=24 * 9 + 5)))
    assert codes(old) == [("backup-too-old", None, "error")]
    assert "9 days 5 h old" in old[0].message and "limit is 7 days" in old[0].message
    # The limit is the policy's; the age is measured at `now`, not at discovery.
    assert (
        check(snapshot(backup=recent_backup(hours=24 * 9)), HealthPolicy(backup_max_age_days=10))
        == []
    )
    assert codes(
        check(snapshot(backup=recent_backup(hours=30)), HealthPolicy(backup_max_age_days=1))
    ) == [("backup-too-old", None, "error")]
    assert codes(check(snapshot(backup=BackupHealth()), HealthPolicy(backup="warn"))) == [
        ("backup-missing", None, "warning")
    ]


def test_a_failed_latest_backup_warns_when_an_earlier_one_is_recent() -> None:
    problems = check(snapshot(backup=recent_backup(hours=2, latest="ERROR")))
    assert codes(problems) == [("backup-failed", None, "warning")]
    assert "ended ERROR" in problems[0].message and "1 day 2 h old" in problems[0].message


def test_unreadable_readings_warn_unless_their_check_is_off() -> None:
    unread = NodeHealth(
        ntp_error="utils ntp status: no prompt within 60 s",
        disk_error="show status: no Disk/ usage rows: Executed command unsuccessfully",
        cores_error="utils core active list: the CLI session is closed",
    )
    problems = check(snapshot({PUB: unread}, backup_error="utils disaster_recovery: refused"))
    assert codes(problems) == [
        ("backup-unknown", None, "warning"),
        ("ntp-unknown", PUB, "warning"),
        ("disk-unknown", PUB, "warning"),
        ("cores-unknown", PUB, "warning"),
    ]
    assert all(p.message.startswith("could not read") for p in problems)
    assert "no prompt within 60 s" in problems[1].message
    off = HealthPolicy(ntp="off", backup="off", disk="off", core_files="off")
    assert check(snapshot({PUB: unread}, backup_error="refused"), off) == []


def test_a_full_common_partition_stops_and_a_filling_one_warns() -> None:
    full, high = healthy(), healthy()
    full.partitions[2] = partition("logging", 96)
    high.partitions[2] = partition("logging", 91)
    problems = check(snapshot({PUB: full, SUB: high}, recent_backup()))
    assert codes(problems) == [("disk-full", PUB, "error"), ("disk-high", SUB, "warning")]
    assert "96% full" in problems[0].message and "limit is 95%" in problems[0].message
    # Only the common partition counts; thresholds come from the policy.
    busy = healthy()
    busy.partitions[0] = partition("active", 99)
    assert check(snapshot({PUB: busy}, recent_backup())) == []
    policy = HealthPolicy(disk="warn", disk_max_percent=98)
    assert codes(check(snapshot({PUB: full}, recent_backup()), policy)) == [
        ("disk-high", PUB, "warning")
    ]


def test_core_files_warn_by_default() -> None:
    crashed = healthy()
    crashed.core_files = [
        CoreFile(name="core.100.6.ccm.1", created=NOW - timedelta(days=3)),
        CoreFile(name="core.200.6.cti.2", created=NOW - timedelta(hours=1)),
    ]
    problems = check(snapshot({SUB: crashed}, recent_backup()))
    assert codes(problems) == [("core-files", SUB, "warning")]
    assert "2 core files" in problems[0].message and "core.200.6.cti.2" in problems[0].message
    stopping = check(snapshot({SUB: crashed}, recent_backup()), HealthPolicy(core_files="stop"))
    assert codes(stopping) == [("core-files", SUB, "error")]


def test_replication_follows_the_policy_and_stops_by_default() -> None:
    broken = snapshot(backup=recent_backup(), replication=4)
    assert {(p.code, p.severity) for p in check(broken)} == {("dbreplication-bad", "error")}
    warned = check(broken, HealthPolicy(replication="warn"))
    assert {(p.code, p.severity) for p in warned} == {("dbreplication-bad", "warning")}
    unknown = snapshot(backup=recent_backup())
    unknown.db_replication_error = "utils dbreplication runtimestate: timed out"
    assert codes(check(unknown)) == [("dbreplication-unknown", None, "error")]


def test_nodes_outside_the_change_are_not_checked() -> None:
    sick = healthy()
    sick.ntp = NtpState(synchronised=False)
    snap = snapshot({IMP: sick}, recent_backup())
    assert preflight_problems(snap, ["CallManager"], now=NOW) == []
    assert codes(preflight_problems(snap, ["tomcat"], now=NOW)) == [
        ("ntp-unsynchronised", IMP, "error")
    ]


def test_without_now_the_backup_age_is_measured_at_discovery() -> None:
    snap = snapshot(backup=recent_backup(hours=24 * 7 - 1))
    assert preflight_problems(snap, ["tomcat"]) == []  # 7 days less 55 min at discovery


@pytest.mark.parametrize(
    ("delta", "text"),
    [
        (timedelta(minutes=35), "35 min"),
        (timedelta(hours=20, minutes=10), "20 h"),
        (timedelta(days=1, hours=2), "1 day 2 h"),
        (timedelta(days=30), "30 days 0 h"),
    ],
)
def test_ages_read_well(delta: timedelta, text: str) -> None:
    assert age_text(delta) == text


def test_the_inventory_policy_sets_the_levels_and_refuses_typos(tmp_path) -> None:  # type: ignore[no-untyped-def]
    entry = ChangePolicyEntry.model_validate(
        {"health": {"ntp": "warn", "backup_max_age_days": 2, "disk_max_percent": 85}}
    )
    assert entry.health is not None
    cluster = {
        "name": "lab",
        "domain": "lab.example.com",
        "publisher": PUB,
        "nodes": [{"fqdn": PUB, "role": "publisher"}],
        "credentials": {
            "os_admin": {"username": "admin", "password": "env:X"},
            "app_user": {"username": "app", "password": "env:Y"},
        },
        "change_policy": {
            "health": {"ntp": "warn", "backup_max_age_days": 2, "disk_max_percent": 85}
        },
    }
    path = tmp_path / "clusters.yaml"
    path.write_text(yaml.safe_dump({"clusters": [cluster]}))
    policy = ChangePolicy.of(load_inventory(path).cluster("lab")).health
    assert (policy.ntp, policy.backup, policy.backup_max_age_days) == ("warn", "stop", 2)
    # A maximum below the default warning threshold leaves no warning band.
    assert (policy.disk_warn_percent, policy.disk_max_percent) == (85, 85)
    assert ChangePolicy.of(load_inventory(path).cluster("lab")).health.core_files == "warn"
    cluster["change_policy"] = {"health": {"ntp": "ignore"}}
    path.write_text(yaml.safe_dump({"clusters": [cluster]}))
    with pytest.raises(InventoryError, match="ntp"):
        load_inventory(path)
    cluster["change_policy"] = {"health": {"backups": "warn"}}
    path.write_text(yaml.safe_dump({"clusters": [cluster]}))
    with pytest.raises(InventoryError, match="backups"):
        load_inventory(path)
    with pytest.raises(ValidationError):
        ChangePolicyEntry.model_validate(
            {"health": {"disk_warn_percent": 97, "disk_max_percent": 90}}
        )
