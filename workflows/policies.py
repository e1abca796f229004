"""Timeouts and retry policies of every activity the renewal runs, in one place."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from temporalio.common import RetryPolicy

#: Errors that retrying cannot fix: the activity raises them as non-retryable too, and the
#: list here protects against a client error type forgetting to say so.
NON_RETRYABLE = [
    "CucmAuthError",
    "CucmBadRequest",
    "CucmIssuerNotTrusted",
    "CucmStaleCsr",
    "CucmTrustDuplicate",
    "CucmAxlVersionError",
    "InventoryError",
    "SecretRefError",
    "UploadIncomplete",
    "CsrExportIncomplete",
    "CertificateRefused",
    "CaRequestDenied",
    "CaConfigurationError",
    "CaRequestNotFound",
]


@dataclass(frozen=True)
class ActivityPolicy:
    """Keyword arguments for ``workflow.execute_activity_method``."""

    start_to_close: timedelta
    retry: RetryPolicy
    heartbeat: timedelta | None = None
    schedule_to_close: timedelta | None = None

    def kwargs(self) -> dict[str, Any]:
        """As keyword arguments."""
        kw: dict[str, Any] = {
            "start_to_close_timeout": self.start_to_close,
            "retry_policy": self.retry,
        }
        if self.heartbeat is not None:
            kw["heartbeat_timeout"] = self.heartbeat
        if self.schedule_to_close is not None:
            kw["schedule_to_close_timeout"] = self.schedule_to_close
        return kw


def _retry(attempts: int, initial: float = 2.0, maximum: float = 60.0) -> RetryPolicy:
    return RetryPolicy(
        initial_interval=timedelta(seconds=initial),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(seconds=maximum),
        maximum_attempts=attempts,
        non_retryable_error_types=NON_RETRYABLE,
    )


DISCOVER = ActivityPolicy(timedelta(minutes=5), _retry(3), heartbeat=timedelta(seconds=60))
REGISTRY = ActivityPolicy(timedelta(seconds=30), _retry(5))
#: ``ucrenew plan`` waits for its answer: a dry run fails fast rather than retrying for minutes.
PLAN_DISCOVER = ActivityPolicy(
    timedelta(seconds=45), _retry(2, initial=1.0), heartbeat=timedelta(seconds=30)
)
#: The fleet scan reads every cluster on a schedule: a cluster that does not answer is shown as
#: failed in this scan rather than holding the others back.
FLEET_DISCOVER = ActivityPolicy(
    timedelta(minutes=3), _retry(2, initial=5.0), heartbeat=timedelta(seconds=60)
)
FLEET_LOOKUP = ActivityPolicy(timedelta(seconds=60), _retry(3, initial=1.0))
#: A start of a due renewal: a visibility list and a start; an answer either way, no retry
#: storm (the next scan tries again).
FLEET_START = ActivityPolicy(timedelta(seconds=60), _retry(3, initial=2.0))
PLAN_REGISTRY = ActivityPolicy(timedelta(seconds=10), _retry(2, initial=0.5))
SSO = ActivityPolicy(timedelta(minutes=3), _retry(5))
CSR = ActivityPolicy(timedelta(minutes=3), _retry(4))
REGENERATE = ActivityPolicy(timedelta(minutes=3), _retry(4))
#: One poll of a CA an operator asked for ("check now"): pending is an answer, not a retry.
CA_CHECK_NOW = ActivityPolicy(timedelta(minutes=2), RetryPolicy(maximum_attempts=1))
CA_SUBMIT = ActivityPolicy(timedelta(minutes=2), _retry(10, initial=5.0, maximum=300.0))
VALIDATE = ActivityPolicy(timedelta(seconds=30), _retry(3))
UPLOAD = ActivityPolicy(timedelta(minutes=3), _retry(6))
ASSESS = ActivityPolicy(timedelta(minutes=2), _retry(2))
#: The change-record check in preflight: a few quick tries, then a preflight problem.
ITSM_CHECK = ActivityPolicy(timedelta(seconds=60), _retry(4, initial=2.0, maximum=30.0))
PHONE_LIST = ActivityPolicy(timedelta(minutes=2), _retry(5))
#: A reset batch resumes after its heartbeated prefix, so a retry never reboots a phone twice.
PHONE_RESET = ActivityPolicy(timedelta(minutes=15), _retry(4), heartbeat=timedelta(seconds=60))


def restart_policy(timeout_seconds: float, heartbeat_seconds: float = 30.0) -> ActivityPolicy:
    """A restart waits up to ``timeout_seconds`` for the service and HTTPS to come back.

    The heartbeat timeout decides how soon a restart whose worker died is retried elsewhere.
    """
    return ActivityPolicy(
        start_to_close=timedelta(seconds=timeout_seconds + 60),
        retry=_retry(3, initial=min(5.0, heartbeat_seconds)),
        heartbeat=timedelta(seconds=heartbeat_seconds),
    )


def verify_policy(timeout_seconds: float) -> ActivityPolicy:
    """Verification retries (the node may still be settling) until ``timeout_seconds``."""
    return ActivityPolicy(
        start_to_close=timedelta(seconds=60),
        retry=RetryPolicy(
            initial_interval=timedelta(seconds=1),
            backoff_coefficient=2.0,
            maximum_interval=timedelta(seconds=30),
            non_retryable_error_types=NON_RETRYABLE,
        ),
        schedule_to_close=timedelta(seconds=timeout_seconds),
    )


def ca_wait_policy(poll_seconds: float, max_wait_days: float) -> ActivityPolicy:
    """Poll a CA by retrying ``await_certificate`` at a constant interval, for up to
    ``max_wait_days``. Retries are not written to history, so a month costs a few events."""
    return ActivityPolicy(
        start_to_close=timedelta(minutes=2),
        retry=RetryPolicy(
            initial_interval=timedelta(seconds=poll_seconds),
            backoff_coefficient=1.0,
            maximum_interval=timedelta(seconds=poll_seconds),
            non_retryable_error_types=NON_RETRYABLE,
        ),
        schedule_to_close=timedelta(days=max_wait_days),
    )


def health_gate_policy(timeout_seconds: float) -> ActivityPolicy:
    """Waiting for phones to re-register: one heartbeating attempt of up to the gate's
    timeout (a worker that dies is noticed by the heartbeat and the wait resumes elsewhere)."""
    return ActivityPolicy(
        start_to_close=timedelta(seconds=timeout_seconds + 120),
        retry=_retry(3, initial=5.0),
        heartbeat=timedelta(seconds=60),
    )


#: Looking up a cluster's notification channels (the inventory, read locally).
NOTIFY_ROUTES = ActivityPolicy(timedelta(seconds=30), _retry(5))


def notify_delivery_policy(retry_for_seconds: float) -> ActivityPolicy:
    """One notification to one channel: retried with backoff (5 s doubling to 10 min) for up
    to ``retry_for_seconds``, then given up (the renewal never waits for it)."""
    return ActivityPolicy(
        start_to_close=timedelta(minutes=2),
        retry=RetryPolicy(
            initial_interval=timedelta(seconds=5),
            backoff_coefficient=2.0,
            maximum_interval=timedelta(minutes=10),
            non_retryable_error_types=[
                "NotificationRefused",
                "InventoryError",
                "SecretRefError",
            ],
        ),
        schedule_to_close=timedelta(seconds=retry_for_seconds),
    )
