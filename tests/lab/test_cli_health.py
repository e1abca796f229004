"""The commands administrators run before a change, on the lab's CLI over real SSH.

Formats: ``show status``, ``show hardware`` and ``utils core active list`` as Cisco tech note
221038 ("Troubleshoot Full Common Partition in CUCM") and 200581 ("Adjust WaterMark in RTMT")
print them; ``utils ntp status`` as Cisco's NTP troubleshooting note does (subscribers follow
the publisher: an unsynchronised publisher leaves them unsynchronised). The lab's state and
faults decide what they say.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from activities.clients.cucm import health
from activities.clients.cucm.errors import CucmCliError
from lab import facts
from lab.faults import Fault
from tests.lab.cli_helpers import LabCli
from tests.lab.conftest import LabHandle

#: A partition row of ``show status`` (tech note 221038).
DISK_ROW = re.compile(r"^Disk/(active|inactive|logging)\s+(\d+)K\s+(\d+)K\s+(\d+)K \((\d+)%\)$")


def cli(lab: LabHandle, host: str = "cucm-pub") -> LabCli:
    return LabCli(lab.endpoint(host), lab.os_admin)


async def run(lab: LabHandle, command: str, host: str = "cucm-pub") -> str:
    async with cli(lab, host) as shell:
        return await shell.run(command)


def disk_rows(output: str) -> dict[str, tuple[int, int, int, int]]:
    rows = {}
    for line in output.splitlines():
        m = DISK_ROW.match(line.strip())
        if m:
            rows[m[1]] = (int(m[2]), int(m[3]), int(m[4]), int(m[5]))
    return rows


async def test_show_status_prints_host_uptime_cpu_memory_and_partitions(lab: LabHandle) -> None:
    out = await run(lab, "show status", "cucm-sub1")
    # Tech note 221038: header fields, Uptime, CPU, Memory, then Total/Free/Used per partition.
    for label in ("Host Name", "Date", "Time Zone", "Locale", "Product Ver", "Unified OS Version"):
        assert re.search(rf"^{label}\s+: \S", out, re.M), label
    assert re.search(r"^Host Name\s+: cucm-sub1$", out, re.M)
    assert re.search(r"^Product Ver\s+: 14\.0\.1\.13900-155$", out, re.M)
    assert re.search(r"up 5 days, +\d+:\d\d,  1 user,  load average: [\d.]+, [\d.]+, [\d.]+", out)
    assert re.search(r"^CPU Idle:\s+[\d.]+%\s+System:\s+[\d.]+%\s+User:\s+[\d.]+%$", out, re.M)
    assert re.search(r"^Memory Total:\s+\d+K$", out, re.M)
    assert re.search(r"^\s+Total\s+Free\s+Used$", out, re.M)
    rows = disk_rows(out)
    assert list(rows) == ["active", "inactive", "logging"]
    for total, free, used, percent in rows.values():
        assert free + used == total
        assert percent == -(-used * 100 // total)
    assert rows["logging"][3] < 90  # a healthy lab


async def test_a_full_common_partition_shows_in_show_status_until_cleared(
    lab: LabHandle,
) -> None:
    fault = await lab.lab.add_fault(Fault(kind="disk-full", node="cucm-sub2"))
    full = disk_rows(await run(lab, "show status", "cucm-sub2"))
    other = disk_rows(await run(lab, "show status", "cucm-sub1"))
    await lab.lab.clear_faults(fault.id)
    cleared = disk_rows(await run(lab, "show status", "cucm-sub2"))
    assert full["logging"][3] >= 97 and full["active"] == cleared["active"]
    assert other["logging"][3] < 90 and cleared["logging"][3] < 90
    # Another partition and share on request.
    await lab.lab.add_fault(
        Fault(kind="disk-full", node="cucm-pub", params={"partition": "active", "percent": 91})
    )
    assert disk_rows(await run(lab, "show status"))["active"][3] in (91, 92)


async def test_show_version_active_and_inactive(make_lab) -> None:  # type: ignore[no-untyped-def]
    async with make_lab() as running:
        lab = LabHandle(running)
        active = await run(lab, "show version active")
        inactive = await run(lab, "show version inactive")
    assert active.split("\n")[:3] == [
        "Active Master Version: 14.0.1.13900-155",
        "Active Version Installed Software Options:",
        "No Installed Software Options Found.",
    ]
    assert inactive.startswith("Inactive Master Version: 12.5.1.16900-48\n")
    async with make_lab(health={"inactive_version": None}) as running:
        lab = LabHandle(running)
        fresh = await run(lab, "show version inactive")
        status = disk_rows(await run(lab, "show status"))
    assert fresh.strip() == facts.SHOW_VERSION_NO_INACTIVE
    assert status["inactive"][3] <= 2


async def test_show_hardware_shows_the_vm_and_its_partition_table(lab: LabHandle) -> None:
    out = await run(lab, "show hardware")
    # Tech note 221038: the platform, the disk, and a partition table with /grub (sda3) and swap.
    assert re.search(r"^HW Platform\s+: VMware Virtual Machine$", out, re.M)
    assert re.search(r"^Memory\s+: 8192 MBytes$", out, re.M)
    assert re.search(r"^Size \(in GB\)\s+: 110$", out, re.M)
    assert re.search(r"^/dev/sda5 .* 82  Linux swap / Solaris$", out, re.M)
    assert re.search(r"^/dev/sda3 .* 83  Linux$", out, re.M)


async def test_ntp_is_synchronised_and_subscribers_follow_the_publisher(lab: LabHandle) -> None:
    pub = health.parse_ntp(await run(lab, "utils ntp status"))
    sub = health.parse_ntp(await run(lab, "utils ntp status", "cucm-sub1"))
    imp = health.parse_ntp(await run(lab, "utils ntp status", "imp-pub"))
    stratum = lab.lab.spec.health.ntp_stratum
    assert pub.synchronised and pub.stratum == stratum + 1
    assert pub.server == str(lab.lab.spec.network).rsplit(".", 1)[0] + ".1"
    publisher = lab.lab.cluster.node("cucm-pub").address
    assert sub.synchronised and sub.server == publisher and sub.stratum == stratum + 2
    assert imp.synchronised and imp.server == publisher


async def test_an_unsynchronised_publisher_leaves_every_node_unsynchronised(
    lab: LabHandle,
) -> None:
    await lab.lab.add_fault(Fault(kind="ntp-unsynchronised", node="cucm-sub2"))
    out = await run(lab, "utils ntp status", "cucm-sub2")
    # Cisco's NTP note: ".INIT." peer, then "unsynchronised / time server re-starting".
    assert re.search(r"^\s*\S+\s+\.INIT\.\s+16 u", out, re.M)
    assert "\nunsynchronised\n  time server re-starting\n" in out
    assert health.parse_ntp(await run(lab, "utils ntp status", "cucm-sub1")).synchronised
    await lab.lab.clear_faults()
    await lab.lab.add_fault(Fault(kind="ntp-unsynchronised", node="cucm-pub"))
    for host in ("cucm-pub", "cucm-sub1", "imp-pub"):
        assert not health.parse_ntp(await run(lab, "utils ntp status", host)).synchronised


async def test_core_files_from_the_topology_and_from_a_crash(make_lab) -> None:  # type: ignore[no-untyped-def]
    nodes = [
        {"hostname": "cucm-pub", "publisher": True},
        {"hostname": "cucm-sub1", "core_files": ["ccm"]},
        {"hostname": "imp-pub", "product": "imp", "publisher": True},
    ]
    async with make_lab(nodes=nodes) as running:
        lab = LabHandle(running)
        none = await run(lab, "utils core active list")
        listed = await run(lab, "utils core active list", "cucm-sub1")
        before = datetime.now(UTC).replace(microsecond=0)
        await running.add_fault(Fault(kind="core-dump", node="cucm-pub", params={"process": "cti"}))
        crashed = await run(lab, "utils core active list")
    assert none.strip() == "No core files found"
    # Tech note 221038: header, rule, then "<size> KB   <date>   core.<pid>.<sig>.<proc>.<epoch>".
    lines = listed.strip().splitlines()
    assert lines[0].split() == ["Size", "Date", "Core", "File", "Name"]
    assert set(lines[1]) == {"="}
    assert re.fullmatch(
        r"\d+ KB {3}\d{4}-\d\d-\d\d \d\d:\d\d:\d\d {3}core\.\d+\.6\.ccm\.\d+", lines[2]
    )
    (core,) = health.parse_cores(crashed)
    assert ".cti." in core.name and core.created is not None and core.created >= before


async def test_drs_history_lists_the_scheduled_backups(lab: LabHandle) -> None:
    now = datetime.now(UTC)
    out = await run(lab, "utils disaster_recovery history backup")
    header, *rows = out.strip().splitlines()
    assert header.split(":")[0] == "Tar Filename"
    assert len(rows) == lab.lab.spec.health.backups_kept
    backup = health.parse_backups(out)
    assert backup.latest is not None and backup.latest.succeeded
    assert backup.last_success is not None
    age = now - backup.last_success
    assert timedelta(hours=19) < age < timedelta(hours=21)
    assert backup.latest.tar == rows[-1].split()[0] and backup.latest.tar.endswith(".tar")
    status = await run(lab, "utils disaster_recovery status backup")
    assert status.startswith("Status: SUCCESS")
    assert f"Tar Filename: {backup.latest.tar}" in status


async def test_failed_and_old_backups(lab: LabHandle) -> None:
    failed = await lab.lab.add_fault(Fault(kind="drs-backup-failed", params={"runs": 2}))
    history = health.parse_backups(await run(lab, "utils disaster_recovery history backup"))
    status = await run(lab, "utils disaster_recovery status backup")
    await lab.lab.clear_faults(failed.id)
    assert history.latest is not None and history.latest.result == "ERROR"
    assert history.last_success is not None
    assert history.latest.completed - history.last_success == timedelta(hours=48)
    assert status.startswith("Status: ERROR")
    await lab.lab.add_fault(Fault(kind="drs-backup-old", params={"days": 12}))
    old = health.parse_backups(await run(lab, "utils disaster_recovery history backup"))
    assert old.last_success is not None
    assert abs(datetime.now(UTC) - old.last_success - timedelta(days=12)) < timedelta(minutes=1)


async def test_drs_answers_on_the_publisher_only_and_without_history(make_lab) -> None:  # type: ignore[no-untyped-def]
    async with make_lab(health={"last_backup_hours_ago": None}) as running:
        lab = LabHandle(running)
        none = await run(lab, "utils disaster_recovery history backup")
        status = await run(lab, "utils disaster_recovery status backup")
        sub = await run(lab, "utils disaster_recovery history backup", "cucm-sub1")
        restore = await run(lab, "utils disaster_recovery history restore")
        async with cli(lab) as shell:
            with pytest.raises(CucmCliError, match="Invalid command"):
                await shell.run("utils disaster_recovery history everything")
    assert none.strip() == "No backup history available"
    assert health.parse_backups(none).last_success is None
    assert status.strip() == "No backup status available"
    assert restore.strip() == "No restore history available"
    assert facts.DRS_NOT_PUBLISHER in sub and facts.CLI_FAILED_LINE in sub
