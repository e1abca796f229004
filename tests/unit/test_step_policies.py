"""Every step that works on a node heartbeats, with timeouts that fit what it waits for
(workflows/policies.py; durations from cucm-interfaces.md §13)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from workflows import policies

NODE_STEPS = {
    "discover": policies.DISCOVER,
    "sso": policies.SSO,
    "csr": policies.CSR,
    "regenerate": policies.REGENERATE,
    "upload": policies.UPLOAD,
    "ctl-update": policies.CTL_UPDATE,
    "phone-reset": policies.PHONE_RESET,
    "restart": policies.restart_policy(600.0),
    "health-gate": policies.health_gate_policy(900.0),
    "verify": policies.verify_policy(300.0),
}


@pytest.mark.parametrize("name", sorted(NODE_STEPS))
def test_a_worker_that_dies_during_a_step_is_noticed_in_tens_of_seconds(name: str) -> None:
    policy = NODE_STEPS[name]
    assert policy.heartbeat is not None
    assert policy.heartbeat <= timedelta(seconds=60)
    # The whole step may take several heartbeat intervals: a crash is noticed long before it.
    assert policy.start_to_close >= 4 * policy.heartbeat
    assert policy.kwargs()["heartbeat_timeout"] == policy.heartbeat


def test_a_renewal_sets_its_own_heartbeat() -> None:
    quick = policies.with_heartbeat(policies.CSR, 2.0)
    assert quick.heartbeat == timedelta(seconds=2)
    assert quick.start_to_close == policies.CSR.start_to_close
    assert policies.health_gate_policy(900.0, 5.0).heartbeat == timedelta(seconds=5)


def test_a_restart_covers_a_tomcat_restart_and_its_web_applications() -> None:
    """Tomcat restarts in 1-4 min and serves 30-120 s later: the default 600 s budget plus a
    minute of slack, and a service that failed or hung is not retried."""
    policy = policies.restart_policy(600.0)
    assert policy.start_to_close == timedelta(seconds=660)
    retry = policy.retry.non_retryable_error_types or []
    assert {"ServiceFailedToStart", "ServiceHung", "ServiceNotServing"} <= set(retry)


def test_a_verification_attempt_fits_a_slow_node_within_the_verify_timeout() -> None:
    """One verification asks the node who it is over SSH (up to 90-120 s to the prompt on a
    slow node, cucm-interfaces.md §13) before its handshake: an attempt gets minutes, not the
    60 s that cut a slow node off, and the renewal's own heartbeat applies."""
    policy = policies.verify_policy(300.0, 5.0)
    assert policy.start_to_close >= timedelta(seconds=150)
    assert policy.heartbeat == timedelta(seconds=5)
    assert policy.schedule_to_close == timedelta(seconds=300)
