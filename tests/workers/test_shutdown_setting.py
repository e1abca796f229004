"""``UCRENEW_WORKER_SHUTDOWN_SECONDS``: its default lets every activity that does not heartbeat
finish after SIGTERM (those that heartbeat are cancelled and retried elsewhere)."""

from __future__ import annotations

import pytest

from workers.settings import SettingsError, UcrenewSettings, load_settings
from workflows import policies


def non_heartbeating() -> dict[str, policies.ActivityPolicy]:
    found = {
        name: value
        for name, value in vars(policies).items()
        if isinstance(value, policies.ActivityPolicy) and value.heartbeat is None
    }
    found["ca_wait_policy"] = policies.ca_wait_policy(300, 30)
    found["notify_delivery_policy"] = policies.notify_delivery_policy(3600)
    return found


def test_the_default_outlasts_every_activity_that_does_not_heartbeat() -> None:
    default = UcrenewSettings().worker_shutdown_seconds
    slowest = max(non_heartbeating().items(), key=lambda kv: kv[1].start_to_close)
    assert len(non_heartbeating()) > 5
    assert default > slowest[1].start_to_close.total_seconds(), slowest[0]


def test_the_setting_is_read_and_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UCRENEW_WORKER_SHUTDOWN_SECONDS", "45")
    assert load_settings().worker_shutdown_seconds == 45
    monkeypatch.setenv("UCRENEW_WORKER_SHUTDOWN_SECONDS", "-1")
    with pytest.raises(SettingsError, match="UCRENEW_WORKER_SHUTDOWN_SECONDS"):
        load_settings()
