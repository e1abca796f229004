"""Pre-change health of the twin: each node's clock, disks and core files, the DRS backups.

What ``show status``, ``utils ntp status``, ``utils core active list`` and
``utils disaster_recovery`` report (lab/frontends/cli_health.py prints it), derived from the
topology's ``health`` block, each node's ``core_files`` and the faults in force
(``ntp-unsynchronised``, ``disk-full``, ``core-dump``, ``drs-backup-failed``,
``drs-backup-old``). Nothing here is stored: every view is computed when a command runs, so a
fault acts at once and clearing it undoes it.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import time
import zlib
from dataclasses import dataclass

from lab import facts
from lab.cluster import Cluster
from lab.faults import Fault
from lab.nodes import Node

#: Partition sizes (KB) of a 110 GB virtual machine, as ``show status`` shows them in Cisco
#: tech note 221038; ``logging`` is the common partition (/common).
PARTITION_TOTAL_KB = {"active": 19805412, "inactive": 19805412, "logging": 69234984}
PARTITIONS = ("active", "inactive", "logging")
#: The OS booted this long before the services were last started.
_BOOT_LEAD_SECONDS = 300.0


@dataclass(frozen=True)
class Partition:
    """One disk partition of ``show status``."""

    name: str
    total_kb: int
    used_kb: int

    @property
    def free_kb(self) -> int:
        """Free space."""
        return self.total_kb - self.used_kb

    @property
    def used_percent(self) -> int:
        """Used share, whole percent rounded up as ``df`` does."""
        return -(-self.used_kb * 100 // self.total_kb) if self.total_kb else 0


@dataclass(frozen=True)
class NtpState:
    """What ``utils ntp status`` shows of a node's clock.

    Attributes:
        synchronised: The node follows its server.
        server: The address it polls (the publisher polls the topology's NTP server, every
            other node the CUCM publisher).
        stratum: The node's own stratum once synchronised (its server's plus one).
        server_stratum: The stratum the server announces; 16 when it has no time itself.
    """

    synchronised: bool
    server: str
    stratum: int
    server_stratum: int


@dataclass(frozen=True)
class CoreFile:
    """A core file of ``utils core active list``."""

    name: str
    size_kb: int
    created: dt.datetime


@dataclass(frozen=True)
class BackupRun:
    """One DRS backup of ``utils disaster_recovery history backup``."""

    started: dt.datetime
    completed: dt.datetime
    result: str

    @property
    def tar(self) -> str:
        """The backup's file name: its start time."""
        return self.started.strftime("%Y-%m-%d-%H-%M-%S") + ".tar"


def lab_started(cluster: Cluster) -> float:
    """When the twin started (epoch seconds)."""
    started = cluster.journal.entries("lab.started")
    return started[0].at if started else time.time()


def booted_at(cluster: Cluster, node: Node) -> dt.datetime:
    """When the node's OS booted: shortly before its services first started."""
    at = lab_started(cluster) - facts.INITIAL_UPTIME_SECONDS - 3600 * node.index
    return dt.datetime.fromtimestamp(at - _BOOT_LEAD_SECONDS, dt.UTC)


def ntp_server(cluster: Cluster) -> str:
    """The publisher's NTP server: the topology's, else the lab network's first address."""
    spec = cluster.spec.health
    if spec.ntp_server:
        return spec.ntp_server
    return str(ipaddress.ip_network(cluster.spec.network).network_address + 1)


def ntp_state(cluster: Cluster, node: Node) -> NtpState:
    """The node's clock. Subscribers and IM&P nodes follow the CUCM publisher (Cisco's NTP
    note: an unsynchronised or unreachable publisher leaves them unsynchronised too)."""
    spec = cluster.spec.health
    pub = cluster.publisher
    pub_synced = spec.ntp_synchronised and not cluster.faults.has(
        "ntp-unsynchronised", pub.hostname
    )
    if node is pub:
        stratum = spec.ntp_stratum + 1
        return NtpState(pub_synced, ntp_server(cluster), stratum, spec.ntp_stratum)
    synced = (
        pub_synced
        and cluster.reachable(pub)
        and not cluster.faults.has("ntp-unsynchronised", node.hostname)
    )
    pub_stratum = spec.ntp_stratum + 1 if pub_synced else 16
    return NtpState(synced, pub.address, pub_stratum + 1, pub_stratum)


def partitions(cluster: Cluster, node: Node) -> list[Partition]:
    """The node's active, inactive and common (``logging``) partitions."""
    spec = cluster.spec.health
    used: dict[str, float] = {str(k): v for k, v in spec.disk_used_percent.items()}
    if spec.inactive_version is None:
        used["inactive"] = 1.0
    for fault in cluster.faults.active():
        if fault.kind == "disk-full" and fault.node in (None, node.hostname):
            name = str(fault.params.get("partition", "logging"))
            used[name] = float(fault.params.get("percent", 97))
    out = []
    for name in PARTITIONS:
        total = PARTITION_TOTAL_KB[name]
        share = min(max(used.get(name, 1.0), 0.0), 100.0)
        # A small per-node spread, as no two nodes' logs are the same size.
        spread = (zlib.crc32(f"{node.hostname}/{name}".encode()) % 1000) / 1000 * 0.8
        out.append(Partition(name, total, int(total * min(share + spread, 100.0) / 100)))
    return out


def core_files(cluster: Cluster, node: Node) -> list[CoreFile]:
    """Core files on the node's active partition: the topology's, then those of faults."""
    out: list[CoreFile] = []
    booted = booted_at(cluster, node)
    for i, process in enumerate(_topology_cores(cluster, node)):
        out.append(_core(process, booted + dt.timedelta(days=1 + i, hours=3 + i)))
    for fault in cluster.faults.active():
        if fault.kind == "core-dump" and fault.node in (None, node.hostname):
            at = dt.datetime.fromtimestamp(fault.added_at or time.time(), dt.UTC)
            out.append(_core(str(fault.params.get("process", "ccm")), at))
    return out


def _topology_cores(cluster: Cluster, node: Node) -> list[str]:
    spec = next(n for n in cluster.spec.nodes if n.hostname == node.hostname)
    return list(spec.core_files)


def _core(process: str, at: dt.datetime) -> CoreFile:
    """A core file named as Cisco's tech note shows them: core.<pid>.<signal>.<process>.<epoch>."""
    epoch = int(at.timestamp())
    pid = 1000 + zlib.crc32(f"{process}{epoch}".encode()) % 60000
    size = 150000 + zlib.crc32(process.encode()) % 400000
    return CoreFile(f"core.{pid}.6.{process}.{epoch}", size, at.replace(microsecond=0))


def backups(cluster: Cluster, now: dt.datetime) -> list[BackupRun]:
    """The DRS backups the Master Agent remembers, oldest first (empty: none ever ran).

    Scheduled backups run every ``backup_interval_hours``, the latest
    ``last_backup_hours_ago`` before the lab came up, then one per interval up to ``now``
    (``drs-backup-old``: ``days`` before the lab came up, none since); the
    latest ends with ``last_backup_result``, and with ERROR while ``drs-backup-failed`` is in
    force (its ``runs`` latest ones).
    """
    spec = cluster.spec.health
    if spec.last_backup_hours_ago is None or spec.backups_kept == 0:
        return []
    ago = dt.timedelta(hours=spec.last_backup_hours_ago)
    old = _cluster_fault(cluster, "drs-backup-old")
    if old is not None:
        ago = dt.timedelta(days=float(old.params.get("days", 30)))
    failed = _cluster_fault(cluster, "drs-backup-failed")
    failing = int(failed.params.get("runs", 1)) if failed is not None else 0
    if spec.last_backup_result == "ERROR":
        failing = max(failing, 1)
    interval = dt.timedelta(hours=spec.backup_interval_hours)
    minutes = dt.timedelta(minutes=facts.DRS_BACKUP_MINUTES)
    # The schedule is fixed when the twin comes up, so two reads a second apart agree; it
    # advances one run per interval while the lab runs (not while backups are too old).
    latest = cluster.built_at - ago - minutes
    if old is None and now > cluster.built_at:
        latest += interval * ((now - cluster.built_at) // interval)
    runs = []
    for i in reversed(range(spec.backups_kept)):
        started = latest - interval * i
        result = facts.DRS_FAILED_RESULT if i < failing else "SUCCESS"
        runs.append(BackupRun(started, started + minutes, result))
    return runs


def _cluster_fault(cluster: Cluster, kind: str) -> Fault | None:
    """A fault of the cluster as a whole (DRS): whatever node it names."""
    return next((f for f in cluster.faults.active() if f.kind == kind), None)
