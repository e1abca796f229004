"""Domain metrics an activity records, through the activity's metric meter.

``activity.metric_meter()`` is the worker runtime's meter: its series appear on the worker's
Prometheus endpoint (``UCRENEW_METRICS_LISTEN``, ``workers/telemetry.py``) with the SDK's own
labels; without an endpoint it is a no-op. Names are fixed (docs/operator-guide.md, "Traces
and metrics").
"""

from __future__ import annotations

from typing import Final

from temporalio import activity

__all__ = ["ACTIVITY_RETRIES", "PHONES_UNREGISTERED", "activity_retried", "phones_unregistered"]

PHONES_UNREGISTERED: Final = "ucrenew_phones_unregistered"
ACTIVITY_RETRIES: Final = "ucrenew_activity_retries_total"

#: Activities whose retries are their polling, not a failure: ``await_certificate`` asks the
#: CA again by failing with ``CaPending`` until the certificate is issued.
POLLING_ACTIVITIES: Final = frozenset({"await_certificate"})


def phones_unregistered(cluster: str, count: int) -> None:
    """Set how many phones of ``cluster`` a CallManager wave keeps unregistered now (the
    baseline less those registered at the last look; 0 once the wait is over)."""
    activity.metric_meter().create_gauge(
        PHONES_UNREGISTERED, "Phones not registered back during a CallManager wave"
    ).set(max(count, 0), {"cluster": cluster})


def activity_retried(activity_type: str) -> None:
    """Count one retry (an attempt after the first) of ``activity_type``."""
    activity.metric_meter().create_counter(
        ACTIVITY_RETRIES, "Activity attempts after the first (polls excluded)"
    ).add(1, {"activity": activity_type})
