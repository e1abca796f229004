"""Domain metrics a workflow records: phase durations, CA wait, days to expiry.

They go through ``workflow.metric_meter()``, Temporal's replay-safe meter: a workflow that
replays its history (after a worker restart or a cache eviction) records nothing again, and
recording issues no command, so it changes no history and needs no patch. The meter feeds the
worker runtime's Prometheus endpoint (``UCRENEW_METRICS_LISTEN``, ``workers/telemetry.py``);
without one it is a no-op. Each series also carries the SDK's labels (namespace, task queue,
workflow type).

Names are fixed (the deployment's dashboards and alerts use them): see
docs/operator-guide.md, "Traces and metrics".
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Final

from temporalio import workflow

__all__ = [
    "CA_WAIT",
    "DAYS_TO_EXPIRY",
    "PHASE_DURATION",
    "ca_waited",
    "days_to_expiry",
    "phase_ended",
    "purpose_label",
]

PHASE_DURATION: Final = "ucrenew_phase_duration_seconds"
CA_WAIT: Final = "ucrenew_ca_wait_seconds"
DAYS_TO_EXPIRY: Final = "ucrenew_cert_days_to_expiry"


def purpose_label(purposes: Iterable[str]) -> str:
    """The ``purpose`` label of a change: its purposes sorted, joined by ``+``
    (``callmanager+tomcat``), so one change is one series whatever it renews."""
    return "+".join(sorted({p.lower() for p in purposes})) or "none"


def phase_ended(phase: str, purposes: Iterable[str], since: datetime) -> None:
    """Record how long the change spent in ``phase``, from ``since`` to now (workflow time)."""
    seconds = max((workflow.now() - since).total_seconds(), 0.0)
    workflow.metric_meter().create_histogram_float(
        PHASE_DURATION, "Time a renewal spent in a phase", "s"
    ).record(seconds, {"phase": phase, "purpose": purpose_label(purposes)})


def ca_waited(ca_kind: str, since: datetime) -> None:
    """Record the time from a CSR's submission (``since``) to its certificate, now."""
    seconds = max((workflow.now() - since).total_seconds(), 0.0)
    workflow.metric_meter().create_histogram_float(
        CA_WAIT, "Time from CSR submission to the signed certificate", "s"
    ).record(seconds, {"ca_kind": ca_kind})


def days_to_expiry(cluster: str, purpose: str, days: int) -> None:
    """Set the days left before ``purpose``'s earliest certificate on ``cluster`` expires;
    0 for one expired already (Temporal's gauges hold no negative value)."""
    workflow.metric_meter().create_gauge(
        DAYS_TO_EXPIRY, "Days until the earliest certificate of a purpose expires", "d"
    ).set(max(days, 0), {"cluster": cluster, "purpose": purpose})
