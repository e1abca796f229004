"""What the crash matrix and the chaos bench share: real renewals on the lab, driven as an
operator would, judged against the lab's journal.

:mod:`bench.bench_crash_matrix` runs one renewal per lab and worker; :mod:`bench.bench_chaos`
runs many at once on a multi-cluster lab with one supervised worker. Both start worker
*processes* (``python -m workers``) so that a SIGKILL is a real crash, play the operator on the
gates the bench expects (approval, SSO confirmation) and judge a finished change with the
journal oracle of :mod:`bench.crash_journal`.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle

from bench.crash_journal import duplicated_effects, false_audit_entries, restart_claims
from lab.faults import Fault
from lab.journal import Journal, JournalEntry
from lab.server import Lab
from workflows.models import ApprovalInput, RenewalOptions, RenewalStatus, SsoConfirmation
from workflows.renewal import CertRenewalWorkflow

Scenario = Literal["tomcat", "callmanager"]
Handle = WorkflowHandle[CertRenewalWorkflow, RenewalStatus]

#: The purpose a scenario renews, as a renewal input names it.
PURPOSE: dict[Scenario, str] = {"tomcat": "tomcat", "callmanager": "CallManager"}

#: A CallManager renewal needs a release before 14 in mixed mode with phones (the CTL update
#: and the phone resets), and SSO off (no SSO step in that change).
CALLMANAGER_TOPOLOGY: dict[str, Any] = {
    "version": "12.5.1.14900-63",
    "security_mode": 1,
    "sso_enabled": False,
    "phones": {"count": 40, "secure_fraction": 0.25},
}

#: Transient faults a real cluster shows, injected at a rate on every node.
FAULT_KINDS: dict[str, str] = {
    "http-error": "HTTP 503 with Retry-After: 1 on every HTTPS interface",
    "soap-fault": "a SOAP fault (AxisFault) from Control Center, RisPort and AXL",
    "latency": "--latency seconds (1.5) added to HTTPS requests",
    "response-lost": "the operation is applied, the connection drops before the answer",
    "throttle": "the Control Center / RisPort realtime throttle fault",
    "ssh-auth-fail": "an SSH login refused (the whole connection)",
    "unreachable-flap": "a subscriber's HTTPS and SSH ports gone for 1 s every 3 s",
}


def topology_data(base: dict[str, Any], scenario: Scenario) -> dict[str, Any]:
    """A topology's data (``TopologySpec.model_dump()``) made fit for ``scenario``."""
    data = dict(base)
    if scenario == "callmanager":
        data.update(CALLMANAGER_TOPOLOGY)
    return data


def renewal_options(scenario: Scenario, restart_heartbeat: float) -> RenewalOptions:
    """Options of a bench renewal: the fast lab's polls, and ``restart_heartbeat`` seconds
    before a restart cut short by a kill resumes."""
    opts: dict[str, Any] = {
        "restart_poll_seconds": 0.1,
        "verify_timeout_seconds": 60,
        "restart_heartbeat_seconds": restart_heartbeat,
    }
    if scenario == "callmanager":
        opts["health_poll_seconds"] = 0.05
    return RenewalOptions(**opts)


def open_window() -> dict[str, str]:
    """A change window open now and for the next four hours."""
    now = datetime.now(UTC)
    return {
        "start": (now - timedelta(hours=1)).isoformat(),
        "end": (now + timedelta(hours=4)).isoformat(),
    }


def fault_rule(kind: str, rate: float, latency: float, node: str | None = None) -> Fault:
    """The rule injecting fault ``kind`` (one of :data:`FAULT_KINDS` but ``unreachable-flap``,
    which is a task toggling ``unreachable``) at ``rate`` on ``node`` (None: every node)."""
    params: dict[str, Any] = {}
    if kind == "http-error":
        params = {"status": 503, "retry_after": 1}
    elif kind == "latency":
        params = {"seconds": latency}
    return Fault.model_validate({"kind": kind, "node": node, "rate": rate, "params": params})


def start_worker(
    state: Path, inventory: Path, address: str, queue: str, log: Path
) -> subprocess.Popen[bytes]:
    """A worker process (``python -m workers``) of ``queue``, its output appended to ``log``."""
    env = dict(os.environ)
    env.update(
        UCRENEW_STATE_DIR=str(state),
        UCRENEW_INVENTORY=str(inventory),
        UCRENEW_TEMPORAL_ADDRESS=address,
        UCRENEW_TASK_QUEUE=queue,
    )
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "workers"], env=env, stdout=out, stderr=subprocess.STDOUT
        )


class WatchedJournal(Journal):
    """The lab's journal, calling ``watch`` synchronously on every entry it records."""

    def __init__(self) -> None:
        super().__init__()
        self.watch: Callable[[JournalEntry], None] | None = None

    def record(self, kind: str, node: str | None = None, /, **data: Any) -> JournalEntry:
        """Append an entry, then hand it to the watcher."""
        entry = super().record(kind, node, **data)
        if self.watch is not None:
            self.watch(entry)
        return entry


async def completed_activity(handle: Handle, activity: str) -> bool:
    """Whether the change's history shows ``activity`` completed (no worker needed)."""
    scheduled: set[int] = set()
    async for event in handle.fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            attrs = event.activity_task_scheduled_event_attributes
            if attrs.activity_type.name == activity:
                scheduled.add(event.event_id)
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            done = event.activity_task_completed_event_attributes
            if done.scheduled_event_id in scheduled:
                return True
    return False


async def operate(handle: Handle, lab: Lab, status: RenewalStatus, comment: str) -> None:
    """Answer the gates an operator is expected to: approve the plan shown, and confirm SSO
    after turning it back on in the lab. Errors (a worker just killed) are left to the next
    poll."""
    with contextlib.suppress(Exception):
        if status.awaiting == "sso-confirm":
            if not lab.cluster.sso_enabled:
                lab.cluster.sso_enable(origin="bench operator")
            await handle.execute_update(
                CertRenewalWorkflow.confirm_sso, SsoConfirmation(principal="bench-operator")
            )
        elif status.awaiting == "approval":
            await handle.execute_update(
                CertRenewalWorkflow.approve,
                ApprovalInput(
                    principal="bench-cab",
                    comment=comment,
                    plan_hash=status.plan.plan_hash if status.plan else None,
                ),
            )


@dataclass
class Verdict:
    """What the journal and the change's last status say of one renewal."""

    completed: bool = False
    phase: str = ""
    duplicated: list[str] = field(default_factory=list)
    false_audit: list[str] = field(default_factory=list)
    operator: str = ""


def judge(status: RenewalStatus | str, entries: Sequence[JournalEntry]) -> Verdict:
    """The verdict on a change from its journal and its last status (or, as a string, why
    there is none): a change that did not end ``done`` with nothing outstanding needed an
    operator, and ``operator`` says why."""
    verdict = Verdict(duplicated=duplicated_effects(entries))
    if isinstance(status, str):
        verdict.operator = status
        return verdict
    verdict.phase = status.phase
    verdict.false_audit = false_audit_entries(entries, status.audit, restart_claims(status))
    if status.phase != "done":
        verdict.operator = f"{status.phase}: {status.error or status.question or ''}"
        if status.awaiting == "operator":
            verdict.operator = f"asked: {status.question}"
    elif status.outstanding:
        verdict.operator = f"done, outstanding: {status.outstanding[0]}"
    verdict.completed = status.phase == "done"
    return verdict
