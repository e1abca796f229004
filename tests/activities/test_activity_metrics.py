"""Domain metrics recorded by activities (``activities/metrics.py``), read back from a Temporal
runtime's metric buffer."""

from __future__ import annotations

from collections.abc import Callable

from temporalio.runtime import MetricBuffer, Runtime, TelemetryConfig
from temporalio.testing import ActivityEnvironment

from activities import metrics as activity_metrics
from activities.cluster_models import RegistrationGateRequest
from activities.cucm import CucmActivities
from lab.server import Lab
from tests.activities.test_phone_activities import CM, unregistered
from tests.lab.conftest import solo_and_pair
from tests.lab.test_axl_reset import all_registered
from tests.lab.test_phones import until


async def test_the_phone_gauge_follows_a_wave_and_drops_to_zero_after_it(
    make_lab: Callable[..., Lab],
) -> None:
    """``ucrenew_phones_unregistered{cluster}``: set at each RisPort look of the registration
    gate to the phones still missing (a CallManager stopped under a solo group), and 0 once
    ucrenew stops watching."""
    buffer = MetricBuffer(1000)
    runtime = Runtime(telemetry=TelemetryConfig(metrics=buffer))
    async with make_lab(**solo_and_pair((6, 4), (5, 5))) as running:
        await all_registered(running)
        node = running.cluster.node("cucm-sub1")
        running.cluster.control(node, CM, "stop", origin="test")
        await until(lambda: len(unregistered(running)) == 10, what="Solo's phones dropped")
        env = ActivityEnvironment()
        env.metric_meter = runtime.metric_meter
        acts = CucmActivities(inventory_loader=lambda: running.state_dir / "inventory.yaml")
        result = await env.run(
            acts.wait_for_registrations,
            RegistrationGateRequest(
                cluster="lab", baseline_registered=20, timeout_seconds=0.3, poll_seconds=0.1
            ),
        )
    assert not result.ok
    values = [
        (u.value, u.attributes["cluster"])
        for u in buffer.retrieve_updates()
        if u.metric.name == activity_metrics.PHONES_UNREGISTERED
    ]
    assert values[0] == (10, "lab")
    assert values[-1] == (0, "lab")
