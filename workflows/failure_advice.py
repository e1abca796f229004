"""Advice for a node step that failed, derived from what failed: the service, the node, the
step (pure).

The advice names the service that failed on the node where it failed, and only that
service's commands: a Cisco CallManager that does not start is not a Tomcat problem. The
commands are the VOS CLI's (``utils service list``, ``utils service start <name>``) and
Cisco Unified Serviceability's Control Center, which show and start any service; what each
service's outage means to users follows the activating services of each purpose
(``activities.catalog``).
"""

from __future__ import annotations

from collections.abc import Sequence

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities import catalog
    from workflows.models import FailedStep, StepFailure

#: What users lose while a service is down on a node, per service the rollout restarts.
_LOSS = {
    catalog.TOMCAT: "the node's web pages, AXL and UDS do not answer",
    catalog.CALLMANAGER: (
        "phones registered to the node have failed over to the next member of their "
        "CallManager group; phones whose group has no other member are unregistered"
    ),
    catalog.CTIMANAGER: "CTI applications (Jabber desk-phone control, contact centre) use "
    "their backup CTIManager",
    catalog.TFTP: "phones cannot download their configuration, ITL or CTL from the node",
    catalog.TVS: "phones cannot verify certificates that are not in their ITL through the node",
    catalog.HAPROXY: "SIP TLS and the web pages behind HAProxy do not answer on the node",
    catalog.XCP_ROUTER: "IM&P clients on the node cannot sign in or exchange messages",
}


def _service_steps(service: str, node: str) -> list[str]:
    """What to do about ``service`` that failed to (re)start on ``node``."""
    steps = [
        f"{service} did not start on {node}" + (f": {_LOSS[service]}" if service in _LOSS else ""),
        f"on {node}, `utils service list` shows the state of {service}; Cisco Unified "
        "Serviceability > Tools > Control Center shows why it stopped",
    ]
    if service == catalog.TOMCAT:
        steps.append(
            f"once the cause is fixed, run on {node}: `utils service restart {service}` "
            "(the node's web pages and AXL answer again when it has started)"
        )
    else:
        steps.append(
            f"once the cause is fixed, run on {node}: `utils service start {service}` "
            f"(or start it in Control Center), and check that it stays started"
        )
    return steps


def advice_for(failed: FailedStep) -> list[str]:
    """What an operator should do about ``failed``, naming its service (or purpose) and node."""
    if failed.step == "restart" and failed.service:
        return _service_steps(failed.service, failed.node)
    purpose = failed.purpose or "the change's"
    return [
        f"{failed.node} does not serve the new {purpose} certificate: {failed.reason}",
        f"on {failed.node}, `utils service list` shows whether the services that serve the "
        f"{purpose} certificate started after the upload; a service that did not start is "
        "the one to start there",
    ]


def step_failure(failed: FailedStep, wave: int | None = None) -> StepFailure:
    """The status entry of ``failed`` (in restart wave ``wave``), with its advice."""
    return StepFailure(
        node=failed.node,
        step=failed.step,
        service=failed.service,
        purpose=failed.purpose,
        wave=wave,
        reason=failed.reason,
        advice=advice_for(failed),
    )


def legacy_activation_line(purposes: Sequence[str], version: str) -> str:
    """What a change started before per-purpose tracking left to do after its upload: the
    services that activate *its* purposes (Cisco Tomcat only for tomcat), not Tomcat's."""
    services: list[str] = []
    for name in purposes:
        spec = catalog.purpose(name)
        for service in spec.activation(version, "ECDSA" if spec.key_type == "ECDSA" else "RSA"):
            if service not in services:
                services.append(service)
    commands = ", ".join(f"`utils service restart {s}`" for s in services) or "a reboot"
    return (
        f"the new {', '.join(purposes)} certificate is installed; nodes where "
        f"{', '.join(services) or 'its services'} did not restart still serve the old one: "
        f"restart them there ({commands}) or reboot them"
    )
