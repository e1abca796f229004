"""What a renewal shows in the Temporal UI: its summary, its details and its current details.

Temporal's workflow metadata (SDK "user metadata"): the *static* summary and details are set
once when the renewal starts (``workers.starting.start_renewal``); the *current* details are
kept up to date by the workflow (``workflow.set_current_details``) as it moves through its
phases, and answer the ``__temporal_workflow_metadata`` query the UI makes. Timers, waits and
activities get a one-line summary each.

Pure functions of the models (no clock, no I/O): workflows import this module through the
sandbox. Nothing here may carry a secret: the inputs hold references only, and the texts are
built from names, phases and counts.
"""

from __future__ import annotations

from typing import Any

from activities.clients.links import renewal_link
from workflows.models import RenewalInput, RenewalStatus

__all__ = [
    "activity_summary",
    "current_details",
    "static_details",
    "static_summary",
]

_WAITING_ON = {
    "approval": "an approver",
    "ca": "the CA",
    "window": "the maintenance window",
    "sso-confirm": "an operator to re-enable SSO and confirm it",
    "operator": "an operator's decision",
}

_PHONE_PURPOSES = frozenset({"CallManager", "CallManager-ECDSA", "cup-xmpp", "cup-xmpp-s2s"})


def static_summary(inp: RenewalInput) -> str:
    """One line: change id, cluster and purposes (the UI's list column)."""
    return f"{inp.change_id} · {inp.cluster} · {', '.join(inp.purposes)}"


def static_details(inp: RenewalInput, base_url: str | None = None) -> str:
    """Who asked, which CA, which approval gates the change passes, and its page."""
    ca = inp.ca + (f" ({inp.ca_name})" if inp.ca_name else "")
    if inp.ca_template:
        ca += f", template {inp.ca_template}"
    gates = ["plan approval" if inp.require_plan_approval else "plan approval per cluster policy"]
    if _PHONE_PURPOSES.intersection(inp.purposes):
        gates.append("impact approval and maintenance window before phone-impacting restarts")
    if inp.options.remove_leftover_certificates:
        gates.append("cleanup approval before leftover certificates are deleted")
    lines = [
        f"**Change** {inp.change_id} on cluster {inp.cluster}",
        f"**Purposes** {', '.join(inp.purposes)}",
        f"**Requested by** {inp.requested_by}",
        f"**CA** {ca}",
        f"**Gates** {'; '.join(gates)}",
    ]
    link = renewal_link(base_url, inp.change_id)
    if link:
        lines.append(f"**Renewal page** [{link}]({link})")
    return "\n\n".join(lines)


def _waiting_on(status: RenewalStatus) -> str:
    if not status.awaiting:
        return "nobody (working)"
    who = _WAITING_ON.get(status.awaiting, status.awaiting)
    if status.awaiting == "approval" and status.gate:
        action = "approved" if status.gate == "plan" else f"approved-{status.gate}"
        given = sum(1 for a in status.approvals if a.action == action)
        who += f" (gate {status.gate}, {given} approval(s) so far)"
    elif status.awaiting == "ca" and status.ca_request_ref:
        who += f" (request {status.ca_request_ref})"
    elif status.awaiting == "operator" and status.question:
        who += f": {status.question}"
    return who


def _progress(status: RenewalStatus) -> str:
    parts: list[str] = []
    plan = status.plan
    if plan is not None and plan.restarts is not None and plan.restarts.waves:
        parts.append(f"restart waves {status.waves_done}/{len(plan.restarts.waves)}")
    if status.nodes:
        verified = sum(1 for n in status.nodes if n.verified)
        parts.append(f"nodes verified {verified}/{len(status.nodes)}")
    if status.new_certificates:
        parts.append(f"purposes renewed {len(status.new_certificates)}/{len(status.purposes)}")
    if status.phones_reset:
        parts.append(f"phones reset {status.phones_reset}")
    if status.skipped_nodes:
        parts.append(f"nodes skipped {len(status.skipped_nodes)}")
    return ", ".join(parts) or "not started"


def current_details(status: RenewalStatus) -> str:
    """Phase, whom the change waits on, and progress, as the UI's current details."""
    lines = [
        f"**Phase** {status.phase}",
        f"**Waiting on** {_waiting_on(status)}",
        f"**Progress** {_progress(status)}",
    ]
    lines.extend(
        f"**On a node** {w.node}: {w.what()} since {w.since:%Y-%m-%d %H:%M:%S} UTC"
        for w in status.waiting
    )
    if status.error:
        lines.append(f"**Error** {status.error}")
    if status.outstanding:
        lines.append(f"**Left to an operator** {'; '.join(status.outstanding)}")
    return "\n\n".join(lines)


_ARG_FIELDS = ("purpose", "node", "service", "services")


def activity_summary(name: str, arg: Any) -> str:
    """One line for an activity: its name and the purpose, node and service it acts on."""
    parts = [name.replace("_", " ")]
    for field in _ARG_FIELDS:
        value = getattr(arg, field, None)
        if isinstance(value, str) and value:
            parts.append(value)
        elif isinstance(value, list | tuple) and value and all(isinstance(v, str) for v in value):
            parts.append(", ".join(value))
    cluster = getattr(arg, "cluster", None)
    if isinstance(cluster, str) and cluster:
        parts.append(f"({cluster})")
    return " ".join(parts)
