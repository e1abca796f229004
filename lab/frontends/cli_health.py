"""VOS CLI commands administrators run before a change: status, versions, clock, cores, DRS.

``show status``, ``show version active|inactive``, ``show hardware``, ``utils ntp status``,
``utils core active list``, ``utils disaster_recovery status|history``. Each is a function of
the :class:`~lab.frontends.cli_session.CliSession` it runs in and its arguments;
:data:`COMMANDS` is what :mod:`lab.frontends.cli_commands` adds to its table. What they report
comes from :mod:`lab.health`; formats follow Cisco tech notes 221038 and 200581 and Cisco's NTP
troubleshooting note, and what those leave open comes from :mod:`lab.facts`.
"""

from __future__ import annotations

import datetime as dt
import zlib
from collections.abc import Awaitable, Callable

from lab import facts, health
from lab.frontends.cli_session import CliSession, cli_date
from lab.nodes import Node

#: ``show status`` memory of an 8 GB virtual machine (KB), as in tech note 221038.
MEMORY_TOTAL_KB = 7990056
#: ``show hardware`` of the VMware virtual machine the login banner describes.
HARDWARE = (
    ("HW Platform", "VMware Virtual Machine"),
    ("Processors", "2"),
    ("Type", "Intel(R) Xeon(R) Gold 6248 CPU @ 2.50GHz"),
    ("CPU Speed", "2500"),
    ("Memory", "8192 MBytes"),
    ("Object ID", "1.3.6.1.4.1.9.1.1348"),
)
#: The partition table of a 110 GB disk (tech note 221038): sda1/sda2 the two version
#: partitions, sda3 /grub (boot), sda5 swap, sda6 /common.
PARTITION_TABLE = (
    "   Device Boot    Start       End   #sectors  Id  System",
    "/dev/sda1   *      2048  40511487   40509440  83  Linux",
    "/dev/sda2      40511488  81020927   40509440  83  Linux",
    "/dev/sda3      81020928  81545215     524288  83  Linux",
    "/dev/sda4      81545216 230686719  149141504   5  Extended",
    "/dev/sda5      81547264  89739263    8192000  82  Linux swap / Solaris",
    "/dev/sda6      89741312 230686719  140945408  83  Linux",
)
_RULE = "-" * 71
_CORE_RULE = "=" * 65
_NTP_RULE = "=" * 78


def _now(cli: CliSession) -> dt.datetime:
    return cli.cluster.now().replace(microsecond=0)


def _spread(node: Node, what: str, span: float) -> float:
    """A stable per-node variation in ``[0, span)`` so nodes do not print identical figures."""
    return (zlib.crc32(f"{node.hostname}/{what}".encode()) % 1000) / 1000 * span


def _uptime(now: dt.datetime, booted: dt.datetime) -> str:
    """``up 5 days,  1:05`` as the ``uptime`` line shows it."""
    seconds = max(int((now - booted).total_seconds()), 0)
    days, rest = divmod(seconds, 86400)
    hours, minutes = rest // 3600, rest % 3600 // 60
    head = f"{days} day{'s' if days != 1 else ''}, " if days else ""
    clock = f"{hours:2d}:{minutes:02d}" if hours else f"{minutes} min"
    return f"up {head}{clock}"


def _unified_os(cli: CliSession) -> str:
    major = cli.cluster.spec.major_version
    known = [v for v in facts.UNIFIED_OS_VERSION if v <= major] or [min(facts.UNIFIED_OS_VERSION)]
    return facts.UNIFIED_OS_VERSION[max(known)]


async def show_status(cli: CliSession, args: list[str]) -> None:
    """``show status``: host, date, uptime, CPU, memory and the partitions' usage."""
    if args:
        cli.say(facts.CLI_INVALID_COMMAND)
        return
    node, now = cli.node, _now(cli)
    idle = 92.0 + _spread(node, "idle", 6.0)
    system = (100.0 - idle) * 0.4
    used = int(MEMORY_TOTAL_KB * (0.48 + _spread(node, "mem", 0.1)))
    cached = int(MEMORY_TOTAL_KB * 0.4)
    load = 0.1 + _spread(node, "load", 0.3)
    cli.say(
        "",
        f"Host Name          : {node.hostname}",
        f"Date               : {now:%a %b} {now.day}, {now:%Y %H:%M:%S}",
        f"Time Zone          : {facts.SHOW_STATUS_TIME_ZONE}",
        "Locale             : en_US.UTF-8",
        f"Product Ver        : {cli.cluster.spec.version}",
        f"Unified OS Version : {_unified_os(cli)}",
        "",
        "Uptime:",
        f" {now:%H:%M:%S} {_uptime(now, health.booted_at(cli.cluster, node))},  1 user,  "
        f"load average: {load:.2f}, {load * 0.8:.2f}, {load * 0.6:.2f}",
        "",
        f"CPU Idle:   {idle:05.2f}%  System:   {system:05.2f}%    User:   "
        f"{100.0 - idle - system - 0.25:05.2f}%",
        "  IOWAIT:   00.25%     IRQ:   00.00%    Soft:   00.00%",
        "",
        f"Memory Total:        {MEMORY_TOTAL_KB}K",
        f"        Free:        {MEMORY_TOTAL_KB - used - cached:>8}K",
        f"        Used:        {used:>8}K",
        f"      Cached:        {cached:>8}K",
        f"      Shared:        {484376:>8}K",
        f"     Buffers:        {int(MEMORY_TOTAL_KB * 0.3):>8}K",
        "",
        "                        Total            Free            Used",
    )
    for p in health.partitions(cli.cluster, node):
        cli.say(
            f"{'Disk/' + p.name:<14}{p.total_kb:>14}K{p.free_kb:>15}K{p.used_kb:>15}K "
            f"({p.used_percent}%)"
        )
    cli.say("")


async def show_version_active(cli: CliSession, args: list[str]) -> None:
    """``show version active``: the running version and its COP files."""
    cli.say(
        f"Active Master Version: {cli.cluster.spec.version}",
        "Active Version Installed Software Options:",
        facts.SHOW_VERSION_NO_OPTIONS,
    )


async def show_version_inactive(cli: CliSession, args: list[str]) -> None:
    """``show version inactive``: the version on the other partition, if any."""
    inactive = cli.cluster.spec.health.inactive_version
    if inactive is None:
        cli.say(facts.SHOW_VERSION_NO_INACTIVE)
        return
    cli.say(
        f"Inactive Master Version: {inactive}",
        "Inactive Version Installed Software Options:",
        facts.SHOW_VERSION_NO_OPTIONS,
    )


async def show_hardware(cli: CliSession, args: list[str]) -> None:
    """``show hardware``: the virtual machine, its disk and the partition table."""
    node = cli.node
    serial = f"{zlib.crc32(node.fqdn.encode()):08x}{zlib.crc32(node.address.encode()):08x}"
    pairs = " ".join(serial[i : i + 2] for i in range(0, 16, 2))
    cli.say(
        *(f"{k:<18}: {v}" for k, v in HARDWARE),
        f"{'OS Version':<18}: UCOS {_unified_os(cli)}.i386",
        f"{'Serial Number':<18}: VMware-42 16 9b c5 f6 08 da f9-{pairs}",
        f"{'RAID Version':<18}:",
        "No RAID controller information is available",
        f"{'BIOS Information':<18}:",
        "PhoenixTechnologiesLTD 6.00 11/12/2020",
        f"{'RAID Details':<18}:",
        "No RAID information is available",
        _RULE,
        "Physical device information",
        _RULE,
        f"{'Number of Disks':<18}: 1",
        "Hard Disk #1",
        f"{'Size (in GB)':<18}: 110",
        f"{'Partition Details':<18}:",
        "",
        "Disk /dev/sda: 14359 cylinders, 255 heads, 63 sectors/track",
        "Units: sectors of 512 bytes, counting from 0",
        "",
        *PARTITION_TABLE,
    )


async def ntp_status(cli: CliSession, args: list[str]) -> None:
    """``utils ntp status``: the peer table, then synchronised (server, stratum) or not."""
    state = health.ntp_state(cli.cluster, cli.node)
    now = _now(cli)
    poll_unsynced, poll_synced = facts.NTP_POLL_SECONDS
    pid = 20000 + zlib.crc32(cli.node.hostname.encode()) % 9000
    cli.say(
        f"ntpd (pid {pid}) is running...",
        "",
        "     remote           refid      st t when poll reach   delay   offset  jitter",
        _NTP_RULE,
    )
    if state.synchronised:
        # The publisher's server takes its time from upstream; the others' server is the
        # publisher, whose own server is its reference.
        if cli.node is not cli.cluster.publisher:
            refid = health.ntp_server(cli.cluster)
        else:
            refid = ".GPS." if state.server_stratum == 1 else ".LOCL."
        cli.say(
            f"*{state.server:<15} {refid:<16} {state.server_stratum:>2} u   45 {poll_synced:>4}  "
            "377    0.374    0.242   0.115",
            "",
            f"synchronised to NTP server ({state.server}) at stratum {state.stratum}",
            "   time correct to within 36 ms",
            f"   polling server every {poll_synced} s",
        )
    else:
        cli.say(
            f" {state.server:<15} {'.INIT.':<16} 16 u   45 {poll_unsynced:>4}    0    0.000"
            "    0.000   0.000",
            "",
            "unsynchronised",
            "  time server re-starting",
            f"   polling server every {poll_unsynced} s",
        )
    cli.say(
        "",
        f"Current time in UTC is : {cli_date(now)}",
        f"Current time in Etc/UTC is : {cli_date(now)}",
    )


async def core_active_list(cli: CliSession, args: list[str]) -> None:
    """``utils core active list``: core files with size and date, or none."""
    cores = health.core_files(cli.cluster, cli.node)
    if not cores:
        cli.say("No core files found")
        return
    cli.say("Size         Date            Core File Name", _CORE_RULE)
    for core in cores:
        cli.say(f"{core.size_kb} KB   {core.created:%Y-%m-%d %H:%M:%S}   {core.name}")


def _drs_refused(cli: CliSession) -> bool:
    """The DRS CLI answers on the CUCM publisher only."""
    node = cli.node
    if facts.DRS_CLI_PUBLISHER_ONLY and not (node.publisher and node.product == "cucm"):
        cli.fail(facts.DRS_NOT_PUBLISHER)
        return True
    return False


def _runs(
    cli: CliSession, args: list[str], default: str | None, nothing: str
) -> list[health.BackupRun]:
    """The DRS jobs of the operation ``args`` names, or nothing once the answer is printed
    (a bad operation, a node other than the publisher, no job: ``nothing``)."""
    op = args[0].lower() if len(args) == 1 else (default if not args else None)
    if op not in ("backup", "restore"):
        cli.say(facts.CLI_INVALID_COMMAND)
        return []
    if _drs_refused(cli):
        return []
    runs = health.backups(cli.cluster, cli.cluster.now()) if op == "backup" else []
    if not runs:
        cli.say(nothing.format(operation=op))
    return runs


async def drs_history(cli: CliSession, args: list[str]) -> None:
    """``utils disaster_recovery history backup|restore``: the last backups with their result."""
    runs = _runs(cli, args, None, facts.DRS_NO_HISTORY)
    if not runs:
        return
    widths = (25, 16, 32, 9, 14)
    head = facts.DRS_HISTORY_HEADER
    cli.say("".join(h.ljust(w) for h, w in zip(head, widths, strict=False)) + head[-1])
    for run in runs:
        cells = (run.tar, facts.DRS_DEVICE, cli_date(run.completed), run.result)
        cli.say(
            "".join(c.ljust(w) for c, w in zip(cells, widths, strict=False))
            + facts.DRS_BACKUP_TYPE.ljust(widths[-1])
            + ",".join(facts.DRS_FEATURES)
        )


async def drs_status(cli: CliSession, args: list[str]) -> None:
    """``utils disaster_recovery status [backup|restore]``: the latest job, per component."""
    runs = _runs(cli, args, "backup", facts.DRS_NO_STATUS)
    if not runs:
        return
    run = runs[-1]
    cli.say(
        facts.DRS_STATUS_LINE.get(run.result, f"Status: {run.result}"),
        f"Tar Filename: {run.tar}",
        f"Storage Location: {facts.DRS_DEVICE}",
        "Operation: backup",
        "Percentage Complete: 100",
    )
    stem = run.tar.removesuffix(".tar")
    rows = [
        (n, component) for n in cli.cluster.nodes for component in facts.DRS_COMPONENTS[n.product]
    ]
    for i, (n, component) in enumerate(rows):
        result = run.result if i == len(rows) - 1 else "SUCCESS"
        feature = "UCM" if n.product == "cucm" else "CUP"
        log = (
            "activelog/platform/drf/log/"
            f"{stem}_b_{n.hostname}_{feature.lower()}_{component.lower()}.log"
        )
        cli.say(f"{feature} {n.hostname} {component} {result} {cli_date(run.started)} {log}")


Handler = Callable[[CliSession, list[str]], Awaitable[None]]

#: Command words (lower case) and their handlers, for the interpreter's table.
COMMANDS: tuple[tuple[tuple[str, ...], Handler], ...] = (
    (("show", "status"), show_status),
    (("show", "version", "active"), show_version_active),
    (("show", "version", "inactive"), show_version_inactive),
    (("show", "hardware"), show_hardware),
    (("utils", "ntp", "status"), ntp_status),
    (("utils", "core", "active", "list"), core_active_list),
    (("utils", "disaster_recovery", "history"), drs_history),
    (("utils", "disaster_recovery", "status"), drs_status),
)
