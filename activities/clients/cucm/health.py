"""Pre-change health over the VOS CLI: each node's clock, disks and core files, the DRS backups.

The commands administrators run before a change (``utils ntp status``, ``show status``,
``utils core active list``, ``utils disaster_recovery history backup``), read and parsed.
Parsing is tolerant of layout and strict about meaning: output that does not say what the
check needs becomes a "could not read" text in the snapshot, never an exception, so preflight
decides what it means and the operator sees the raw reason. Format assumptions live in
:mod:`activities.clients.cucm.inferred`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from activities.clients.cucm import inferred
from activities.clients.cucm.backoff import Backoff, Retrying, tried
from activities.clients.cucm.cli import CucmCli
from activities.clients.cucm.errors import CucmError
from activities.clients.cucm.transport import BasicAuth, NodeEndpoint
from activities.cluster_models import (
    BackupHealth,
    BackupRun,
    CoreFile,
    DiskPartition,
    NodeHealth,
    NtpState,
)

NTP = "utils ntp status"
STATUS = "show status"
CORES = "utils core active list"
DRS_HISTORY = "utils disaster_recovery history backup"


class UnreadableOutput(ValueError):
    """A command's output does not say what the check needs."""


def _summary(output: str) -> str:
    lines = [line.strip() for line in output.strip().splitlines() if line.strip()]
    return " / ".join(lines[-3:]) if lines else "no output"


def parse_ntp(output: str) -> NtpState:
    """``utils ntp status``: synchronised (server, stratum) or not.

    Raises:
        UnreadableOutput: Neither "synchronised to …" nor "unsynchronised" is in the output.
    """
    synced = inferred.NTP_SYNCHRONISED_RE.search(output)
    if synced is not None:
        server = synced["server"] or (synced["other"] or "").strip() or None
        return NtpState(synchronised=True, stratum=int(synced["stratum"]), server=server)
    if inferred.NTP_UNSYNCHRONISED_RE.search(output):
        return NtpState(synchronised=False)
    raise UnreadableOutput(f"neither synchronised nor unsynchronised: {_summary(output)}")


def parse_status(output: str) -> tuple[list[DiskPartition], str | None, str | None]:
    """``show status``: the partitions, the product version and the uptime.

    Raises:
        UnreadableOutput: No ``Disk/…`` row.
    """
    partitions = [
        DiskPartition(
            name=m["name"].lower(),
            total_kb=int(m["total"]),
            free_kb=int(m["free"]),
            used_kb=int(m["used"]),
            used_percent=int(m["percent"]),
        )
        for m in inferred.SHOW_STATUS_DISK_RE.finditer(output)
    ]
    if not partitions:
        raise UnreadableOutput(f"no Disk/ usage rows: {_summary(output)}")
    version = inferred.SHOW_STATUS_VERSION_RE.search(output)
    uptime = inferred.SHOW_STATUS_UPTIME_RE.search(output)
    return (
        partitions,
        version["version"] if version else None,
        uptime["uptime"].strip() if uptime else None,
    )


def parse_cores(output: str) -> list[CoreFile]:
    """``utils core active list``: the core files (empty: "No core files found").

    Raises:
        UnreadableOutput: Neither "No core files found" nor the list's header.
    """
    if inferred.CORES_NONE_RE.search(output):
        return []
    if not inferred.CORES_HEADER_RE.search(output):
        raise UnreadableOutput(f"no core file list: {_summary(output)}")
    cores = []
    for m in inferred.CORE_ROW_RE.finditer(output):
        created = datetime.strptime(" ".join(m["date"].split()), "%Y-%m-%d %H:%M:%S")
        cores.append(
            CoreFile(
                name=m["name"],
                created=created.replace(tzinfo=UTC),
                size_kb=int(m["size"]) if m["size"] else None,
            )
        )
    return cores


def parse_backups(output: str) -> BackupHealth:
    """``utils disaster_recovery history backup``: the latest backup and the last success.

    Raises:
        UnreadableOutput: Neither "No backup history available" nor a dated row.
    """
    if inferred.DRS_NO_HISTORY_RE.search(output):
        return BackupHealth()
    runs = []
    for m in inferred.DRS_ROW_RE.finditer(output):
        try:
            completed = datetime.strptime(f"{m['date']} {m['year']}", "%a %b %d %H:%M:%S %Y")
        except ValueError:
            continue
        tar = m["tar"] if m["tar"].lower().endswith(".tar") else ""
        runs.append(BackupRun(completed=completed.replace(tzinfo=UTC), result=m["result"], tar=tar))
    if not runs:
        raise UnreadableOutput(f"no backup rows: {_summary(output)}")
    runs.sort(key=lambda r: r.completed)
    successes = [r.completed for r in runs if r.succeeded]
    return BackupHealth(
        latest=runs[-1], last_success=successes[-1] if successes else None, runs=len(runs)
    )


def _why(command: str, exc: Exception) -> str:
    if isinstance(exc, CucmError):
        return f"{command}: {tried(exc)}"
    return f"{command}: {exc}" if str(exc) else f"{command}: {exc.__class__.__name__}"


async def read_node_health(
    shell: CucmCli, status_seen: Callable[[str], object] | None = None
) -> NodeHealth:
    """Clock, disks and core files of the node ``shell`` is logged in to.

    Never raises for the node's answers: each reading that fails (a CLI error, a timeout that
    closed the session, output that does not parse) is recorded as its ``*_error``.

    Args:
        shell: The node's CLI session.
        status_seen: Given the output of ``show status`` once it is read (its first line
            names the node: discovery checks who answered from it).
    """
    health = NodeHealth()
    try:
        health.ntp = parse_ntp(await shell.run(NTP, timeout=inferred.HEALTH_COMMAND_TIMEOUT))
    except (CucmError, UnreadableOutput) as exc:
        health.ntp_error = _why(NTP, exc)
    try:
        output = await shell.run(STATUS, timeout=inferred.HEALTH_COMMAND_TIMEOUT)
        if status_seen is not None:
            status_seen(output)
        health.partitions, health.product_version, health.uptime = parse_status(output)
    except (CucmError, UnreadableOutput) as exc:
        health.disk_error = _why(STATUS, exc)
    try:
        output = await shell.run(CORES, timeout=inferred.CORES_COMMAND_TIMEOUT)
        health.core_files = parse_cores(output)
    except (CucmError, UnreadableOutput) as exc:
        health.cores_error = _why(CORES, exc)
    return health


async def read_backup_health(
    endpoint: NodeEndpoint, auth: BasicAuth, retrying: Retrying | None = None
) -> tuple[BackupHealth | None, str | None]:
    """The DRS backups, read on the CUCM publisher (where the DRF Master Agent runs).

    Args:
        endpoint: The CUCM publisher.
        auth: The OS administrator.
        retrying: How a transient fault of the CLI is retried (default: not at all).

    Returns:
        The backups, or None and why they could not be read.
    """

    async def history() -> str:
        async with CucmCli(endpoint, auth) as shell:
            return await shell.run(DRS_HISTORY, timeout=inferred.HEALTH_COMMAND_TIMEOUT)

    try:
        output = await (retrying or Retrying(Backoff(attempts=1)))(history)
        return parse_backups(output), None
    except (CucmError, UnreadableOutput) as exc:
        return None, f"{_why(DRS_HISTORY, exc)} (on {endpoint.fqdn})"
