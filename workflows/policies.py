"""Timeouts and retry policies of every activity the renewal runs, in one place."""

from __future__ import annotations

import dataclasses
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
    "ServiceFailedToStart",
    "ServiceHung",
    "ServiceNotServing",
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


#: How soon a step whose worker died is noticed and retried on another worker. Every step that
#: talks to a node heartbeats (``activities.heartbeats.heartbeating``, every third of this), so
#: a crash shows as a HEARTBEAT timeout after this long instead of the step's whole
#: start-to-close. 30 s is six times the Control Center poll interval (5 s, cucm-interfaces.md
#: §13) and short against every step below; a renewal may shorten it
#: (``RenewalOptions.step_heartbeat_seconds``).
STEP_HEARTBEAT = timedelta(seconds=30)

#: How long one service restart may take before it is reported as hung (the default of
#: ``RenewalOptions.restart_timeout_seconds``): ``utils service restart Cisco Tomcat`` returns
#: in 1-4 min and the web applications answer 30-120 s after ``[STARTED]``; Cisco's own
#: clients budget 240-300 s, 600 s for Unity Connection (cucm-interfaces.md §13). CallManager
#: restarts in 1-3 min.
RESTART_TIMEOUT = timedelta(seconds=600)

#: Discovery: SSH to every node (5-20 s each to the prompt, 60+ s on slow nodes), ``utils
#: dbreplication runtimestate`` (30-120 s), certificates and health: minutes on a big cluster.
#: It only reads, and every worker that dies (a deploy, a crash) costs each discovery in
#: flight an attempt: six attempts outlast a few worker restarts and a transient failure (the
#: chaos bench lost renewals of 20 to three kills within a slow discovery with three).
DISCOVER = ActivityPolicy(timedelta(minutes=5), _retry(6), heartbeat=STEP_HEARTBEAT)
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
#: ``utils sso disable`` / ``utils sso status`` on the publisher: the SSH prompt (up to 90-120 s
#: on a slow node) and one command that answers within a minute.
SSO = ActivityPolicy(timedelta(minutes=4), _retry(5), heartbeat=STEP_HEARTBEAT)
#: A multi-server CSR: key generation on the publisher (seconds at 4096 bits) and its export to
#: every node of the SAN, each over the cluster's own replication, behind an SSH or HTTPS login:
#: a minute or two on a large cluster, five minutes leave room for a slow node.
CSR = ActivityPolicy(timedelta(minutes=5), _retry(4), heartbeat=STEP_HEARTBEAT)
#: ``set cert regen`` on one node: one CLI command after the prompt, like the CSR's key.
REGENERATE = ActivityPolicy(timedelta(minutes=4), _retry(4), heartbeat=STEP_HEARTBEAT)
#: One poll of a CA an operator asked for ("check now"): pending is an answer, not a retry.
CA_CHECK_NOW = ActivityPolicy(timedelta(minutes=2), RetryPolicy(maximum_attempts=1))
CA_SUBMIT = ActivityPolicy(timedelta(minutes=2), _retry(10, initial=5.0, maximum=300.0))
VALIDATE = ActivityPolicy(timedelta(seconds=30), _retry(3))
#: Trust and certificate uploads: the read-back of every node of the SAN before and after (one
#: HTTPS login each), the upload on the publisher and its distribution to every node ("upload
#: operation successful for the nodes ..."): minutes on a large cluster.
UPLOAD = ActivityPolicy(timedelta(minutes=6), _retry(6), heartbeat=STEP_HEARTBEAT)
#: ``utils ctl update CTLFile`` on the publisher: the prompt and a CTL rebuild from the current
#: certificates of every node, a minute or two.
CTL_UPDATE = ActivityPolicy(timedelta(minutes=5), _retry(5), heartbeat=STEP_HEARTBEAT)
ASSESS = ActivityPolicy(timedelta(minutes=2), _retry(2))
#: The change-record check in preflight: a few quick tries, then a preflight problem.
ITSM_CHECK = ActivityPolicy(timedelta(seconds=60), _retry(4, initial=2.0, maximum=30.0))
PHONE_LIST = ActivityPolicy(timedelta(minutes=2), _retry(5))
#: A reset batch resumes after its heartbeated prefix, so a retry never reboots a phone twice.
#: A batch of 200 phones at AXL's pace and their re-registration (SIP: within 120 s) fit in 15
#: minutes.
PHONE_RESET = ActivityPolicy(timedelta(minutes=15), _retry(4), heartbeat=STEP_HEARTBEAT)


def with_heartbeat(policy: ActivityPolicy, heartbeat_seconds: float) -> ActivityPolicy:
    """``policy`` with the renewal's heartbeat timeout (``step_heartbeat_seconds``).

    Changing an activity's timeouts changes no command a recorded history replays against, so
    a renewal started before this option existed replays unchanged.
    """
    return dataclasses.replace(policy, heartbeat=timedelta(seconds=heartbeat_seconds))


def restart_policy(
    timeout_seconds: float, heartbeat_seconds: float = STEP_HEARTBEAT.total_seconds()
) -> ActivityPolicy:
    """A restart waits up to ``timeout_seconds`` for the service and HTTPS to come back.

    ``timeout_seconds`` (``RenewalOptions.restart_timeout_seconds``, 600 s by default) fits
    ``utils service restart Cisco Tomcat`` (1-4 min) plus the web applications deploying after
    ``[STARTED]`` (30-120 s), the budget Cisco's own clients give it (240-300 s, 600 s for
    Unity Connection; cucm-interfaces.md §13); CallManager restarts in 1-3 min. A service
    still starting then is reported as hung (``ServiceHung``), one that failed to start
    (``ServiceFailedToStart``) at once: neither is retried, since another restart would only
    wait as long again or fail the same way. Retries are for errors on the way (a lost
    session) and for a worker that died, which the heartbeat timeout notices.
    """
    return ActivityPolicy(
        start_to_close=timedelta(seconds=timeout_seconds + 60),
        retry=_retry(3, initial=min(5.0, heartbeat_seconds)),
        heartbeat=timedelta(seconds=heartbeat_seconds),
    )


def verify_policy(
    timeout_seconds: float, heartbeat_seconds: float = STEP_HEARTBEAT.total_seconds()
) -> ActivityPolicy:
    """Verification retries (the node may still be settling) until ``timeout_seconds``.

    One attempt asks the node who it is over SSH (the prompt: 5-20 s, up to 90-120 s on a slow
    node), then does one TLS handshake and, for tomcat, reads the login page
    (cucm-interfaces.md §13): three minutes fit a slow node. It heartbeats like every other
    step on a node, so a worker that dies during it is noticed after ``heartbeat_seconds``.
    """
    return ActivityPolicy(
        start_to_close=timedelta(minutes=3),
        retry=RetryPolicy(
            initial_interval=timedelta(seconds=1),
            backoff_coefficient=2.0,
            maximum_interval=timedelta(seconds=30),
            non_retryable_error_types=NON_RETRYABLE,
        ),
        heartbeat=timedelta(seconds=heartbeat_seconds),
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


def health_gate_policy(
    timeout_seconds: float, heartbeat_seconds: float = STEP_HEARTBEAT.total_seconds()
) -> ActivityPolicy:
    """Waiting for phones to re-register: one heartbeating attempt of up to the gate's
    timeout (a worker that dies is noticed by the heartbeat and the wait resumes elsewhere).

    SIP phones re-register within 120 s of losing their node (cucm-interfaces.md §13): the
    attempt may take the gate's timeout and two more minutes for its last look.
    """
    return ActivityPolicy(
        start_to_close=timedelta(seconds=timeout_seconds + 120),
        retry=_retry(3, initial=5.0),
        heartbeat=timedelta(seconds=heartbeat_seconds),
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
