"""Pre-change health checks of preflight: NTP, the DRS backup, the common partition, core files.

Pure: the snapshot discovery took, the cluster's :class:`HealthPolicy` and ``now`` come in,
:class:`Problem` s come out, each an error (it stops the change) or a warning (shown, the
change goes on) as the policy says. A reading the snapshot does not carry at all (taken before
ucrenew read health) passes silently, so changes started before these checks run as they did;
a reading that could not be taken is a warning, unless its check is off.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Literal

from activities.cluster_models import ClusterSnapshot, HealthLevel, HealthPolicy, NodeSnapshot
from workflows.models import Problem

Severity = Literal["error", "warning"]
_SEVERITY: dict[HealthLevel, Severity | None] = {"stop": "error", "warn": "warning", "off": None}
COMMON_PARTITION = "logging"


def severity(level: HealthLevel) -> Severity | None:
    """The severity a failed check of ``level`` has: None when the check is off."""
    return _SEVERITY[level]


def age_text(delta: timedelta) -> str:
    """``3 days 4 h`` / ``20 h`` / ``35 min``, for operators."""
    minutes = max(int(delta.total_seconds() // 60), 0)
    days, rest = divmod(minutes, 24 * 60)
    hours = rest // 60
    if days:
        return f"{days} day{'s' if days != 1 else ''} {hours} h"
    if hours:
        return f"{hours} h"
    return f"{minutes} min"


def health_problems(
    snapshot: ClusterSnapshot,
    nodes: Sequence[NodeSnapshot],
    policy: HealthPolicy,
    now: datetime,
) -> list[Problem]:
    """The pre-change health problems of ``nodes`` and of the cluster's DRS backups."""
    problems = backup_problems(snapshot, policy, now)
    for node in nodes:
        problems += node_health_problems(node, policy)
    return problems


def node_health_problems(node: NodeSnapshot, policy: HealthPolicy) -> list[Problem]:
    """NTP, common partition and core files of one node."""
    health = node.health
    if health is None:
        return []
    out: list[Problem] = []

    def add(code: str, level: HealthLevel, message: str, unknown: bool = False) -> None:
        sev = severity(level)
        if sev is not None:
            out.append(
                Problem(
                    code=code,
                    node=node.fqdn,
                    message=message,
                    severity="warning" if unknown else sev,
                )
            )

    fqdn = node.fqdn
    if health.ntp is None:
        add("ntp-unknown", policy.ntp, f"could not read NTP on {fqdn}: {health.ntp_error}", True)
    elif not health.ntp.synchronised:
        add(
            "ntp-unsynchronised",
            policy.ntp,
            f"NTP is not synchronised on {fqdn} (utils ntp status: unsynchronised): certificate "
            "validity and DB replication depend on the clock; fix the NTP server or its "
            "reachability (subscribers follow the publisher's clock) until utils ntp status "
            "says synchronised",
        )
    common = health.partition(COMMON_PARTITION)
    if common is None:
        why = health.disk_error or "show status has no Disk/logging row"
        add("disk-unknown", policy.disk, f"could not read disk usage on {fqdn}: {why}", True)
    else:
        free_gb = common.free_kb / 1024 / 1024
        usage = (
            f"the common partition of {fqdn} is {common.used_percent}% full (Disk/logging, "
            f"{free_gb:.1f} GB free)"
        )
        if common.used_percent >= policy.disk_max_percent:
            add(
                "disk-full",
                policy.disk,
                f"{usage}, the limit is {policy.disk_max_percent}%: free space (RTMT log "
                "partition watermarks, Cisco's Free Common Space COP file) before the change",
            )
        elif common.used_percent >= policy.disk_warn_percent and policy.disk != "off":
            add(
                "disk-high",
                "warn",
                f"{usage}, warning from {policy.disk_warn_percent}%: logs may stop and commands "
                "fail when it fills up",
            )
    if health.cores_error is not None:
        add(
            "cores-unknown",
            policy.core_files,
            f"could not read core files on {fqdn}: {health.cores_error}",
            True,
        )
    elif health.core_files:
        newest = max(health.core_files, key=lambda c: c.created.timestamp() if c.created else 0.0)
        when = f" of {newest.created:%Y-%m-%d %H:%M} UTC" if newest.created else ""
        count = len(health.core_files)
        add(
            "core-files",
            policy.core_files,
            f"{count} core file{'s' if count != 1 else ''} on {fqdn}, newest {newest.name}{when}: "
            "a service crashed; have it analysed (utils core active list) before the change",
        )
    return out


def backup_problems(
    snapshot: ClusterSnapshot, policy: HealthPolicy, now: datetime
) -> list[Problem]:
    """A successful DRS backup within ``backup_max_age_days`` of ``now``."""
    sev = severity(policy.backup)
    if sev is None:
        return []
    cluster = snapshot.cluster
    if snapshot.backup is None:
        if snapshot.backup_error is None:
            return []  # a snapshot taken before ucrenew read the backups
        return [
            Problem(
                code="backup-unknown",
                message=f"could not read the DRS backups of cluster {cluster}: "
                f"{snapshot.backup_error}",
                severity="warning",
            )
        ]
    backup = snapshot.backup
    take = (
        "take one (Disaster Recovery System > Backup > Manual Backup, or utils "
        "disaster_recovery backup network) before the change"
    )
    limit = timedelta(days=policy.backup_max_age_days)
    if backup.last_success is None:
        return [
            Problem(
                code="backup-missing",
                message=f"cluster {cluster} has no successful DRS backup: {take}",
                severity=sev,
            )
        ]
    age = now - backup.last_success
    problems = []
    if age > limit:
        problems.append(
            Problem(
                code="backup-too-old",
                message=(
                    f"the last successful DRS backup of cluster {cluster} is {age_text(age)} "
                    f"old (completed {backup.last_success:%Y-%m-%d %H:%M} UTC; the limit is "
                    f"{policy.backup_max_age_days:g} days): {take}"
                ),
                severity=sev,
            )
        )
    latest = backup.latest
    if latest is not None and not latest.succeeded:
        problems.append(
            Problem(
                code="backup-failed",
                message=(
                    f"the latest DRS backup of cluster {cluster} "
                    f"({latest.tar or 'no file'}, {latest.completed:%Y-%m-%d %H:%M} UTC) ended "
                    f"{latest.result}; the last successful one is {age_text(age)} old"
                ),
                severity="warning",
            )
        )
    return problems
