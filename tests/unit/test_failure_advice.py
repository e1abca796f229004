"""Advice for a failed node step comes from what failed: its service, node and step."""

from __future__ import annotations

import pytest
from rich.console import Console

from activities import catalog
from console.render import awaiting_hint, status_view
from workflows.failure_advice import advice_for, legacy_activation_line, step_failure
from workflows.models import FailedStep, RenewalStatus, WaveProgress

NODE = "cucm-sub1.lab.example.com"


@pytest.mark.parametrize(
    "service",
    [catalog.CALLMANAGER, catalog.CTIMANAGER, catalog.TFTP, catalog.TVS, catalog.XCP_ROUTER],
)
def test_a_service_other_than_tomcat_gets_its_own_advice(service: str) -> None:
    """`utils service start <name>` starts a stopped VOS service (cucm-interfaces.md §7.2,
    "also start/stop"); Tomcat is neither named nor to be restarted."""
    advice = advice_for(
        FailedStep(node=NODE, step="restart", service=service, reason="failed to start")
    )
    text = " ".join(advice)
    assert advice[0].startswith(f"{service} did not start on {NODE}")
    assert f"run on {NODE}: `utils service start {service}`" in text
    assert "Tomcat" not in text


def test_tomcat_gets_the_tomcat_restart() -> None:
    advice = advice_for(
        FailedStep(node=NODE, step="restart", service=catalog.TOMCAT, reason="no HTTPS")
    )
    assert f"run on {NODE}: `utils service restart Cisco Tomcat`" in " ".join(advice)


def test_a_callmanager_outage_says_where_its_phones_went() -> None:
    advice = advice_for(
        FailedStep(node=NODE, step="restart", service=catalog.CALLMANAGER, reason="x")
    )
    assert "failed over to the next member of their CallManager group" in advice[0]


def test_a_failed_verification_names_the_purpose_not_a_service() -> None:
    failure = step_failure(
        FailedStep(node=NODE, step="verify", purpose="CallManager", reason="old serial served")
    )
    assert failure.wave is None and failure.service == ""
    assert failure.advice[0] == (
        f"{NODE} does not serve the new CallManager certificate: old serial served"
    )
    assert "Tomcat" not in " ".join(failure.advice)


def _status(**kw: object) -> RenewalStatus:
    return RenewalStatus.model_validate(
        {
            "change_id": "CHG-1",
            "cluster": "lab",
            "purposes": ["CallManager"],
            "ca": "local",
            "requested_by": "alice",
            **kw,
        }
    )


def test_the_hint_and_the_view_name_the_failed_service_and_each_wave() -> None:
    failed = FailedStep(node=NODE, step="restart", service=catalog.CALLMANAGER, reason="down")
    status = _status(
        phase="restarts",
        awaiting="operator",
        failed_step=failed,
        failures=[step_failure(failed, wave=2)],
        waves=[
            WaveProgress(index=1, state="done", services={NODE: {catalog.TFTP: "done"}}),
            WaveProgress(
                index=2, state="running", services={NODE: {catalog.CALLMANAGER: "failed"}}
            ),
        ],
    )
    hint = awaiting_hint(status)
    assert hint is not None and f"{catalog.CALLMANAGER} failed on {NODE}" in hint
    console = Console(width=200, record=True)
    console.print(status_view(status))
    text = console.export_text()
    assert f"failed: restart of {catalog.CALLMANAGER} on {NODE} in wave 2" in text
    assert "restart waves" in text and "Cisco Tftp ✓" in text and "Tomcat" not in text


def test_a_stopped_change_leaves_nothing_running() -> None:
    status = _status(
        nodes=[{"node": NODE, "steps": {"restart": "running", "verify": "pending"}}],
        waves=[
            WaveProgress(
                index=1,
                state="running",
                services={NODE: {catalog.CALLMANAGER: "failed", catalog.CTIMANAGER: "running"}},
            )
        ],
    )
    status.settle_unfinished()
    assert status.nodes[0].steps == {"restart": "interrupted", "verify": "pending"}
    assert status.waves[0].state == "failed"
    assert status.waves[0].services[NODE][catalog.CTIMANAGER] == "interrupted"


def test_a_legacy_change_left_to_do_names_its_own_services() -> None:
    """A change started before per-purpose tracking and stopped after its CallManager upload
    used to be told to restart Cisco Tomcat; it is told the services that activate a
    CallManager certificate on its release (12.5: CallManager, CTIManager, TVS, TFTP)."""
    line = legacy_activation_line(["CallManager"], "12.5.1.14900-63")
    assert "Tomcat" not in line
    assert "`utils service restart Cisco CallManager`" in line
    assert "`utils service restart Cisco Tftp`" in line
    tomcat = legacy_activation_line(["tomcat"], "12.5.1.14900-63")
    assert "`utils service restart Cisco Tomcat`" in tomcat
