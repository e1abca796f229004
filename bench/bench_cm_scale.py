"""History size of a CallManager renewal as the cluster grows: events, bytes, largest payload.

A CallManager multi-server renewal runs through the real workflow (Temporal dev server, worker,
lab over sockets) on a fresh lab cluster per size: CUCM 12.5, four CUCM nodes, two CallManager
groups, N phones (half SCCP, half SIP), ucrenew resetting the phones in gated batches of 200.
Each size runs in one or both modes:

- ``inline``: every batch inside the renewal's own history (the shape of main before the
  ``phone-resets-child`` patch; forced with ``phone_resets_child_above`` above N);
- ``child``: the batches in phone-reset child workflows, chosen on the worker by cursor, each
  child continuing as new every ``--per-run`` batches (the default above 5,000 phones).

For every workflow run of the change (the renewal, its cluster lock, each phone-reset run) the
bench reads the history and prints its events and bytes (the serialized history), the largest
payload, and whether that run continued as new; then the renewal's largest single run, which is
what Temporal's limits apply to (10,240 events suggested, 51,200 hard; 2 MB per payload, 50 MB
per history). It also checks the lab's journal: phones reset more than once (must be 0).

Run: ``.venv/bin/python -m bench.bench_cm_scale [--phones 2000,10000,40000] [--modes
inline,child] [--scale 0.01] [--per-run 100]``. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from google.protobuf.message import Message
from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from bench.crash_journal import AXL_RESET
from lab import topology
from lab.server import Lab
from lab.timing import REALISTIC
from workers.devserver import DevServer, free_loopback_port
from workers.settings import UcrenewSettings
from workers.wiring import build_worker
from workflows import search_attributes as sa
from workflows.models import ApprovalInput, RenewalInput, RenewalOptions
from workflows.renewal import CertRenewalWorkflow

#: The realistic profile at 1/100 of real time: 40,000 phones (200 gated batches) in minutes.
SCALE = 0.01
MODES = ("inline", "child")
SUGGESTED_EVENTS = 10_240
HARD_EVENTS = 51_200


def spec(network: str, phones: int) -> topology.TopologySpec:
    """Four CUCM nodes, two groups sharing their secondary, ``phones`` phones."""
    quarter = phones // 4
    return topology.TopologySpec.model_validate(
        {
            "cluster": "lab",
            "version": "12.5.1.14900-63",
            "network": network,
            "sso_enabled": False,
            "security_mode": 0,
            "phones": {"secure_fraction": 0.0},
            "nodes": [
                {"hostname": "cucm-pub", "publisher": True},
                {"hostname": "cucm-sub1"},
                {"hostname": "cucm-sub2"},
                {"hostname": "cucm-sub3"},
            ],
            "cm_groups": [
                {"name": "G1", "members": ["cucm-sub1", "cucm-sub3", "cucm-pub"]},
                {"name": "G2", "members": ["cucm-sub2", "cucm-sub3", "cucm-pub"]},
            ],
            "device_pools": [
                {"name": "DP-HQ", "cm_group": "G1", "sccp": quarter, "sip": quarter},
                {"name": "DP-BR", "cm_group": "G2", "sccp": quarter, "sip": phones - 3 * quarter},
            ],
            "adcs": {"enabled": False},
        }
    )


@dataclass
class RunFigures:
    """One workflow run's history."""

    workflow_id: str
    events: int
    size: int
    largest_payload: int
    continued_as_new: bool


@dataclass
class SizeFigures:
    """One change at one size and mode."""

    phones: int
    mode: str
    runs: list[RunFigures] = field(default_factory=list)
    phones_reset: int = 0
    reset_twice: int = 0
    phase: str = ""
    wall: float = 0.0


def largest_payload(message: Message) -> int:
    """The largest ``Payload`` anywhere inside ``message`` (serialized bytes)."""
    best = 0
    stack: list[Message] = [message]
    while stack:
        m = stack.pop()
        if isinstance(m, Payload):
            best = max(best, m.ByteSize())
            continue
        for fd, value in m.ListFields():
            if fd.message_type is None:
                continue
            if isinstance(value, Message):
                stack.append(value)
            elif hasattr(value, "values"):  # a map
                stack.extend(v for v in value.values() if isinstance(v, Message))
            else:
                stack.extend(v for v in value if isinstance(v, Message))
    return best


async def run_histories(client: Client, workflow_id: str, run_id: str | None) -> list[RunFigures]:
    """Every run of ``workflow_id`` from ``run_id`` on (following continue-as-new), and then
    every run of the children those runs started."""
    out: list[RunFigures] = []
    children: list[tuple[str, str]] = []
    while True:
        history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        events = list(history.events)
        nxt: str | None = None
        for e in events:
            if e.event_type == EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_STARTED:
                attrs = e.child_workflow_execution_started_event_attributes
                children.append(
                    (attrs.workflow_execution.workflow_id, attrs.workflow_execution.run_id)
                )
            if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW:
                nxt = e.workflow_execution_continued_as_new_event_attributes.new_execution_run_id
        proto = history.to_proto() if hasattr(history, "to_proto") else None
        size = proto.ByteSize() if proto is not None else sum(e.ByteSize() for e in events)
        out.append(
            RunFigures(
                workflow_id=workflow_id,
                events=len(events),
                size=size,
                largest_payload=max((largest_payload(e) for e in events), default=0),
                continued_as_new=nxt is not None,
            )
        )
        if nxt is None:
            break
        run_id = nxt
    for child, child_run in children:
        out += await run_histories(client, child, child_run)
    return out


async def one_change(
    client: Client, root: Path, phones: int, mode: str, network: str, scale: float, per_run: int
) -> SizeFigures:
    state = root / f"{mode}-{phones}"
    async with Lab(spec(network, phones), state / "lab", REALISTIC.scaled(scale)) as lab:
        # Every phone registered before the change (polled: the lab has no such event).
        while lab.phones.metrics().phones < phones or lab.phones.peak_unregistered_fraction(  # noqa: ASYNC110
            since=time.time() - 0.2
        ):
            await asyncio.sleep(0.1)
        settings = UcrenewSettings(state_dir=state, inventory=state / "lab" / "inventory.yaml")
        queue = f"bench-{uuid.uuid4()}"
        now = datetime.now(UTC)
        change = f"BENCH-SCALE-{phones}-{mode}-{uuid.uuid4().hex[:6]}"
        inp = RenewalInput(
            change_id=change,
            cluster="lab",
            purposes=["CallManager"],
            requested_by="bench-requester",
            windows=[
                {
                    "start": (now - timedelta(hours=1)).isoformat(),
                    "end": (now + timedelta(hours=12)).isoformat(),
                }
            ],
            options=RenewalOptions(
                restart_poll_seconds=0.05,
                # A RisPort look reads every phone (40 pages at 40,000): poll less often.
                health_poll_seconds=max(0.05, phones / 40_000),
                phone_resets_child_above=phones + 1 if mode == "inline" else 0,
                phone_reset_batches_per_run=per_run,
            ),
        )
        began = time.time()
        async with build_worker(client, settings, queue):
            handle = await client.start_workflow(
                CertRenewalWorkflow.run,
                inp,
                id=change,
                task_queue=queue,
                search_attributes=sa.start_attributes("lab", change, ["CallManager"]),
            )
            while (  # noqa: ASYNC110
                waiting := await handle.query(CertRenewalWorkflow.get_status)
            ).awaiting != "approval":
                await asyncio.sleep(0.05)
            assert waiting.plan is not None
            await handle.execute_update(
                CertRenewalWorkflow.approve,
                ApprovalInput(
                    principal="bench-approver",
                    comment="benchmark",
                    plan_hash=waiting.plan.plan_hash,
                ),
            )
            status = await handle.result()
        wall = time.time() - began
        # The crash matrix's oracle: a phone taken off its node by an AXL reset, per reset.
        resets = collections.Counter(
            str(name)
            for e in lab.journal.entries("phone.unregistered")
            if e.data.get("reason") == AXL_RESET
            for name in e.data.get("phones", [])
        )
    figures = SizeFigures(
        phones=phones,
        mode=mode,
        runs=await run_histories(client, change, None),
        phones_reset=status.phones_reset,
        reset_twice=sum(1 for n in resets.values() if n > 1),
        phase=status.phase,
        wall=wall,
    )
    return figures


def report(f: SizeFigures) -> None:
    """Print one change's figures."""
    parent = f.runs[0]
    children = [r for r in f.runs[1:] if "/phone-resets/" in r.workflow_id]
    biggest = max(f.runs, key=lambda r: r.events)
    can = sum(1 for r in children if r.continued_as_new)
    print(
        f"{f.phones:>6} phones {f.mode:6}: renewal {parent.events:>6} events "
        f"{parent.size / 1024:>8,.0f} KiB, largest payload "
        f"{parent.largest_payload / 1024:>6,.1f} KiB"
        f"; {len(children)} phone-reset run(s), {can} continued as new, largest run "
        f"{max((r.events for r in children), default=0)} events "
        f"{max((r.size for r in children), default=0) / 1024:,.0f} KiB; largest single run "
        f"{biggest.events} events ({biggest.events / SUGGESTED_EVENTS:.1%} of the suggested "
        f"limit); all runs {sum(r.events for r in f.runs)} events "
        f"{sum(r.size for r in f.runs) / 1024:,.0f} KiB; phones reset {f.phones_reset}, "
        f"reset twice {f.reset_twice}; ended {f.phase}; {f.wall:,.0f} s wall"
    )


async def main(sizes: list[int], modes: list[str], scale: float, per_run: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        async with DevServer(root / "temporal", port=free_loopback_port()) as server:
            client = await server.connect()
            n = 0
            for phones in sizes:
                for mode in modes:
                    n += 1
                    network = f"127.{57 - MODES.index(mode)}.{n}.0/24"
                    f = await one_change(client, root, phones, mode, network, scale, per_run)
                    report(f)
    print(
        f"realistic timing at 1/{1 / scale:.0f} speed, batches of 200, child runs continue as "
        f"new every {per_run} batches; Temporal's limits: {SUGGESTED_EVENTS:,} events "
        f"suggested, {HARD_EVENTS:,} hard, 2 MiB per payload, 50 MiB per history"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--phones", default="2000,10000,40000")
    parser.add_argument("--modes", default="inline,child")
    parser.add_argument("--scale", type=float, default=SCALE)
    parser.add_argument("--per-run", type=int, default=100)
    args = parser.parse_args()
    asyncio.run(
        main(
            [int(p) for p in args.phones.split(",")],
            args.modes.split(","),
            args.scale,
            args.per_run,
        )
    )
