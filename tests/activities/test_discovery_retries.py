"""Discovery retries a transient fault of each probe; only a persistent one is reported.

One HTTP 500, one SOAP fault or one realtime throttle (cucm-interfaces.md §4.4: a SOAP fault
"AxisFault: Exceeded allowed rate for Reatime information", for which clients back off) is
not a problem of the cluster: the snapshot that preflight reads must not carry it. A fault
that persists is recorded, with how often it was tried. The waits are recorded, not slept.
"""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest
from temporalio.testing import ActivityEnvironment

from activities.clients.cucm.backoff import Backoff
from activities.cluster_models import ClusterSnapshot, DiscoverRequest
from activities.cucm import CucmActivities
from lab.faults import Fault
from tests.lab.conftest import LabHandle

SUB = "cucm-sub1"


class Waits:
    """A sleep that records its waits and returns at once."""

    def __init__(self) -> None:
        self.seconds: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.seconds.append(seconds)


async def discover(
    lab: LabHandle, waits: Waits, *, attempts: int = 3, purposes: tuple[str, ...] = ()
) -> ClusterSnapshot:
    backoff = Backoff(attempts=attempts, initial=0.5, throttle_initial=20.0, sleep=waits)
    activities = CucmActivities(
        inventory_loader=lambda: lab.lab.state_dir / "inventory.yaml", backoff=backoff
    )
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, start_to_close_timeout=timedelta(minutes=5))
    return await env.run(
        activities.discover_cluster,
        DiscoverRequest.model_validate({"cluster": "lab", "purposes": list(purposes)}),
    )


def errors(snap: ClusterSnapshot) -> list[str]:
    """Every error a snapshot carries (preflight turns these into problems)."""
    found = [
        e
        for e in (
            snap.axl_error,
            snap.sso_error,
            snap.db_replication_error,
            snap.cm_groups_error,
            snap.registrations_error,
            snap.backup_error,
        )
        if e
    ]
    for node in snap.nodes:
        found += [e for e in (node.https_error, node.services_error, node.ssh_error) if e]
        found += list(node.certificate_errors.values())
    return found


@pytest.mark.parametrize(
    ("fault", "wait"),
    [
        (Fault(kind="http-error", node=SUB, target="soap", params={"status": 500}), 0.5),
        (Fault(kind="soap-fault", node=SUB, target="soap"), 0.5),
        (Fault(kind="throttle", node=SUB), 20.0),
        (Fault(kind="http-error", node="cucm-pub", target="axl", params={"status": 500}), 0.5),
        (Fault(kind="soap-fault", node="cucm-pub", target="axl"), 0.5),
        (Fault(kind="http-error", node=SUB, target="rest", params={"status": 500}), 0.5),
    ],
    ids=lambda v: f"{v.kind}-{v.target}" if isinstance(v, Fault) else None,
)
async def test_one_transient_fault_is_not_a_problem(
    lab: LabHandle, fault: Fault, wait: float
) -> None:
    lab.lab.faults.add(fault.model_copy(update={"count": 1}))
    waits = Waits()
    snap = await discover(lab, waits, purposes=("tomcat",))
    assert lab.lab.faults.active() == []  # the fault fired
    assert errors(snap) == []
    assert waits.seconds == [wait]
    assert snap.node(f"{SUB}.lab.example.com").services


async def test_the_wait_is_what_the_node_asked(lab: LabHandle) -> None:
    lab.lab.faults.add(
        Fault(
            kind="http-error",
            node=SUB,
            target="soap",
            count=1,
            params={"status": 503, "retry_after": 9},
        )
    )
    waits = Waits()
    snap = await discover(lab, waits)
    assert errors(snap) == [] and waits.seconds == [9.0]


async def test_a_persistent_fault_is_reported_with_its_attempts(lab: LabHandle) -> None:
    lab.lab.faults.add(Fault(kind="throttle", node=SUB))
    waits = Waits()
    snap = await discover(lab, waits, attempts=3)
    error = snap.node(f"{SUB}.lab.example.com").services_error
    assert error is not None
    assert "Exceeded allowed rate for Reatime information" in error
    assert error.endswith("(failed 3 times)")
    assert waits.seconds == [20.0, 40.0]
    assert [e for e in errors(snap) if e != error] == []
