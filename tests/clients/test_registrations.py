"""The registration engines against the lab, without Temporal: the health gate and lingering."""

from __future__ import annotations

from pathlib import Path

from activities.clients.cucm.discovery import registration_snapshot
from activities.clients.cucm.registrations import lingering, wait_for_registrations
from activities.clients.cucm.risport import RisPortClient
from activities.cluster_models import RegistrationGateResult, RegistrationSnapshot
from lab.server import Lab
from tests.lab.conftest import LabHandle, lab_spec
from tests.lab.test_axl_reset import all_registered
from tests.lab.test_phones import CM, timing, until


async def snapshot(lab: LabHandle) -> RegistrationSnapshot:
    async with RisPortClient(lab.endpoint("cucm-pub"), lab.app_user) as ris:
        return registration_snapshot(await ris.registration_summary(), lab.cluster_entry)


async def gate(
    lab: LabHandle,
    home: RegistrationSnapshot,
    drain: list[str],
    timeout: float,
    lines: list[str] | None = None,
) -> RegistrationGateResult:
    """The gate on the lab's publisher: every phone back, none left on ``drain``."""
    return await wait_for_registrations(
        lab.endpoint("cucm-pub"),
        lab.app_user,
        lab.cluster_entry,
        baseline=home.registered,
        tolerance=0.0,
        timeout=timeout,
        poll_interval=0.02,
        drain_nodes=drain,
        home_per_node=home.per_node,
        progress=(lines if lines is not None else []).append,
    )


def test_lingering_counts_phones_above_home_beyond_the_slack() -> None:
    now = {"a": 10, "b": 7, "c": 3}
    home = {"a": 4, "b": 6, "d": 2}
    assert lingering(now, home, ["a", "b", "c", "d"], slack=0) == {"a": 6, "b": 1, "c": 3}
    assert lingering(now, home, ["a", "b", "c", "d"], slack=3) == {"a": 6}
    assert lingering(now, home, [], slack=0) == {}


async def test_gate_reports_phones_lingering_on_a_drain_node_and_passes_once_they_fell_back(
    tmp_path: Path,
) -> None:
    # Phones fall back 0.4 s after their primary returns: long enough to see the gate wait.
    async with Lab(lab_spec(), tmp_path / "lab", timing(fallback_delay=0.4)) as running:
        lab = LabHandle(running)
        await all_registered(running)
        home = await snapshot(lab)
        group1 = [p for p in running.phones.phones if p.group == "CMG-1"]
        sub1 = running.cluster.node("cucm-sub1")
        running.cluster.control(sub1, CM, "stop", origin="test")
        await until(lambda: all(p.node == "cucm-sub2" for p in group1), what="failover")
        # The node CMG-1 failed over to, named as the snapshot names nodes.
        failed_over = await snapshot(lab)
        drain = [n for n, c in failed_over.per_node.items() if c > home.per_node.get(n, 0)]
        assert len(drain) == 1

        lines: list[str] = []
        stuck = await gate(lab, home, drain, timeout=0.3, lines=lines)
        assert not stuck.ok and stuck.registered == home.registered
        assert stuck.lingering == {drain[0]: len(group1)}
        assert lines[0] == f"waiting for {home.registered} registered phones"
        assert f"waiting for fallback from {drain}" in lines[-1]

        running.cluster.control(sub1, CM, "start", origin="test")
        done = await gate(lab, home, drain, timeout=20)
        assert done.ok and done.lingering == {}
        assert all(p.node == "cucm-sub1" for p in group1)  # fallen back before it passed
