"""Reading pre-change health over the CLI: the parsers, and discovery against the lab.

The parsers are checked on outputs laid out as Cisco's tech notes print them (221038 for
``show status`` and ``utils core active list``, the NTP troubleshooting note for
``utils ntp status``) with values of our own, and on the DRS history rows public health-check
scripts parse; anything else is "could not read", never an exception.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

import pytest

from activities.clients.cucm import health
from activities.clients.cucm.cli import CucmCli
from activities.clients.cucm.discovery import discover
from activities.clients.cucm.errors import CucmCliError
from lab.faults import Fault
from tests.lab.conftest import LabHandle

SHOW_STATUS = """
Host Name          : cucm-east-2
Date               : Tue Mar 3, 2026 09:12:44
Time Zone          : Central European Time (Europe/Berlin)
Locale             : en_US.UTF-8
Product Ver        : 14.0.1.12900-161
Unified OS Version : 7.0.0.0-4

Uptime:
 09:12:45 up 212 days,  3:07,  1 user,  load average: 0.41, 0.52, 0.48

CPU Idle:   88.12%  System:   04.07%    User:   07.31%
  IOWAIT:   00.50%     IRQ:   00.00%    Soft:   00.00%

Memory Total:        7990056K
        Free:         201144K
        Used:        4011820K
      Cached:        3102211K
      Shared:         498100K
     Buffers:        3777092K

                        Total            Free            Used
Disk/active         19805412K        5940536K       13645948K (70%)
Disk/inactive       19805412K       19601928K         184556K (1%)
Disk/logging        69234984K        3115340K       62579628K (96%)
"""

NTP_SYNCED = """ntpd (pid 4411) is running...

     remote           refid      st t when poll reach   delay   offset  jitter
==============================================================================
*10.20.30.40     192.0.2.7        2 u  101  256  377    1.201   -0.311   0.090

synchronized to NTP server (10.20.30.40) at stratum 3
   time correct to within 41 ms
   polling server every 256 s
"""

NTP_UNSYNCED = """ntpd (pid 4411) is running...

     remote           refid      st t when poll reach   delay   offset  jitter
==============================================================================
 10.20.30.40     .INIT.           2 u   12   64  377    0.501  612.400  20.110

unsynchronised
  time server re-starting
   polling server every 64 s
"""

CORES = """Size         Date            Core File Name
=================================================================
180224 KB   2026-02-11 04:16:09   core.31337.6.ccm.1770783369
2026-02-14 22:40:51   core.jvm.core
"""

DRS_HISTORY = "\n".join(
    [
        "Tar Filename:            Backup Device:  Completed On:                   Result:  "
        "Backup Type:  Features Backed Up:",
        "2026-02-27-01-00-02.tar  SFTP1           Fri Feb 27 01:14:40 CET 2026    SUCCESS  "
        "SCHEDULED     UCM,CDR_CAR",
        "2026-02-28-01-00-01.tar  SFTP1           Sat Feb 28 01:15:02 CET 2026    SUCCESS  "
        "SCHEDULED     UCM,CDR_CAR",
        "2026-03-01-01-00-03.tar  SFTP1           Sun Mar 1 01:02:10 CET 2026     ERROR    "
        "SCHEDULED",
    ]
)


def test_ntp_synchronised_and_not() -> None:
    synced = health.parse_ntp(NTP_SYNCED)
    assert (synced.synchronised, synced.server, synced.stratum) == (True, "10.20.30.40", 3)
    assert health.parse_ntp(NTP_UNSYNCED).synchronised is False


def test_show_status_partitions_version_and_uptime() -> None:
    partitions, version, uptime = health.parse_status(SHOW_STATUS)
    assert [(p.name, p.used_percent) for p in partitions] == [
        ("active", 70),
        ("inactive", 1),
        ("logging", 96),
    ]
    assert partitions[2].free_kb == 3115340 and partitions[2].total_kb == 69234984
    assert (version, uptime) == ("14.0.1.12900-161", "212 days,  3:07")


def test_core_lists_with_and_without_size() -> None:
    cores = health.parse_cores(CORES)
    assert [(c.name, c.size_kb) for c in cores] == [
        ("core.31337.6.ccm.1770783369", 180224),
        ("core.jvm.core", None),
    ]
    assert cores[0].created == datetime(2026, 2, 11, 4, 16, 9, tzinfo=UTC)
    assert health.parse_cores("No core files found\n") == []


def test_drs_history_latest_and_last_success() -> None:
    backup = health.parse_backups(DRS_HISTORY)
    assert backup.runs == 3
    assert backup.latest is not None and backup.latest.result == "ERROR"
    assert backup.latest.tar == "2026-03-01-01-00-03.tar"
    # The zone abbreviation is ignored: the time is read as UTC.
    assert backup.last_success == datetime(2026, 2, 28, 1, 15, 2, tzinfo=UTC)
    assert health.parse_backups("No backup history available").latest is None


@pytest.mark.parametrize(
    ("parse", "output"),
    [
        (health.parse_ntp, "ntpd is not running\n"),
        (health.parse_ntp, ""),
        (health.parse_status, "Host Name : x\nsomething went wrong\n"),
        (health.parse_cores, "core dump directory unavailable\n"),
        (health.parse_backups, "Master Agent is down, try again later\n"),
    ],
)
def test_unexpected_output_is_unreadable_with_the_reason(parse, output: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(health.UnreadableOutput) as err:
        parse(output)
    assert str(err.value)


class ScriptedShell:
    """What read_node_health needs of a CLI session, answering from a script."""

    def __init__(self, answers: Mapping[str, str | Exception]) -> None:
        self.answers = answers

    async def run(self, command: str, timeout: float | None = None) -> str:
        answer = self.answers[command]
        if isinstance(answer, Exception):
            raise answer
        return answer


async def test_a_failing_command_becomes_a_could_not_read_text() -> None:
    shell = ScriptedShell(
        {
            health.NTP: CucmCliError("'utils ntp status': no prompt within 60 s", node="n1"),
            health.STATUS: "Executed command unsuccessfully\n",
            health.CORES: CORES,
        }
    )
    got = await health.read_node_health(shell)  # type: ignore[arg-type]
    assert got.ntp is None and got.ntp_error is not None and "no prompt" in got.ntp_error
    assert got.partitions == [] and got.disk_error is not None
    assert got.disk_error.startswith("show status: no Disk/ usage rows")
    assert len(got.core_files) == 2 and got.cores_error is None


# -- discovery against the lab --------------------------------------------------------------


async def test_discovery_reads_each_nodes_health_and_the_backups(lab: LabHandle) -> None:
    for fault in (
        Fault(kind="ntp-unsynchronised", node="cucm-sub2"),
        Fault(kind="core-dump", node="cucm-sub1"),
        Fault(kind="disk-full", node="imp-pub"),
        Fault(kind="drs-backup-failed"),
    ):
        await lab.lab.add_fault(fault)
    snap = await discover(lab.inventory, "lab")
    by_host = {n.hostname: n.health for n in snap.nodes}
    assert all(h is not None for h in by_host.values())
    pub, sub1, sub2, imp = (by_host[h] for h in ("cucm-pub", "cucm-sub1", "cucm-sub2", "imp-pub"))
    assert pub and sub1 and sub2 and imp
    assert pub.ntp and pub.ntp.synchronised and sub1.ntp and sub1.ntp.synchronised
    # A subscriber follows the publisher, named as the inventory names it.
    assert sub1.ntp.server == "cucm-pub.lab.example.com"
    assert sub2.ntp is not None and not sub2.ntp.synchronised
    assert [c.name.split(".")[3] for c in sub1.core_files] == ["ccm"] and pub.core_files == []
    logging = imp.partition("logging")
    assert logging is not None and logging.used_percent >= 97
    assert pub.product_version == "14.0.1.13900-155"
    backup = snap.backup
    assert snap.backup_error is None and backup is not None and backup.latest is not None
    assert backup.latest.result == "ERROR" and backup.last_success is not None
    age = datetime.now(UTC) - backup.last_success
    assert timedelta(hours=43) < age < timedelta(hours=45)


async def test_discovery_records_why_health_could_not_be_read(lab: LabHandle) -> None:
    await lab.lab.add_fault(Fault(kind="ssh-auth-fail", node="cucm-pub"))
    snap = await discover(lab.inventory, "lab")
    pub = snap.node("cucm-pub")
    # No session, no readings: SSH itself is the preflight problem.
    assert not pub.ssh_ok and pub.health is None
    assert snap.backup is None and snap.backup_error is not None
    assert "utils disaster_recovery history backup" in snap.backup_error
    assert snap.node("cucm-sub1").health is not None


async def test_backups_read_on_a_subscriber_are_refused_as_unreadable(lab: LabHandle) -> None:
    ep = lab.endpoint("cucm-sub1")
    backup, why = await health.read_backup_health(ep, lab.os_admin)
    assert backup is None and why is not None
    assert "only on the publisher" in why and "cucm-sub1" in why
    async with CucmCli(lab.endpoint("cucm-pub"), lab.os_admin) as shell:
        read = await health.read_node_health(shell)
    assert read.ntp_error is None and read.disk_error is None and read.cores_error is None
