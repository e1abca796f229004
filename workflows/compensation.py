"""What an operator must still do when a change stops after an upload (pure).

An uploaded certificate is installed on every node of its SAN but served only once the
services that activate it restart there (catalog ``activation``: Cisco Tomcat for tomcat;
for CallManager Cisco CallManager, CTIManager, TVS and TFTP up to 12.5, Cisco HAProxy on 14
and later; Cisco XCP Router for IM&P). A reboot does the same. A change that stops between
the upload and the last restart leaves those nodes with a certificate that goes live at the
next restart or reboot, whenever that happens: for CallManager that resets the phones, so it
belongs in a maintenance window.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from activities import catalog
from activities.catalog import Purpose
from activities.cluster_models import NodeCertState
from workflows.models import RenewalPlan, RenewalStatus


def pending_activation(
    purpose: Purpose,
    plan: RenewalPlan,
    restarted: Mapping[str, Sequence[str]],
    version: str,
    rolled_back: Mapping[str, Sequence[str]] | None = None,
    to_restart: dict[str, list[str]] | None = None,
) -> list[str]:
    """Nodes of ``purpose``'s SAN that do not serve the uploaded certificate yet.

    A node serves it once every service of the plan that activates the purpose there has
    restarted (all the release's activating services when the plan restarts none there).
    A node where a rollback regenerated the purpose no longer has it at all.

    Args:
        purpose: an uploaded purpose.
        plan: the change's plan (SAN and restart waves).
        restarted: node FQDN -> services this change restarted there.
        version: the cluster's version (the activating services depend on it).
        rolled_back: node FQDN -> purposes a rollback regenerated self-signed there.
        to_restart: filled in, when given, with the services still to restart per node.
    """
    spec = catalog.purpose(purpose)
    planned: dict[str, set[str]] = {}
    products: dict[str, str] = {}
    for wave in plan.restarts.waves if plan.restarts else []:
        for nr in wave.nodes:
            planned.setdefault(nr.node, set()).update(nr.services)
            products[nr.node] = nr.product
    waiting = []
    for fqdn in plan.san_by_purpose.get(purpose, []):
        if rolled_back and purpose in rolled_back.get(fqdn, ()):
            continue
        product = products.get(fqdn, spec.san_products[0])
        activating = set(spec.restart_services(product, version))
        needed = (planned.get(fqdn, set()) & activating) or activating
        if not needed <= set(restarted.get(fqdn, ())):
            waiting.append(fqdn)
            if to_restart is not None:
                to_restart[fqdn] = sorted(needed - set(restarted.get(fqdn, ())))
    return waiting


def _commands(to_restart: Mapping[str, Sequence[str]]) -> str:
    """Per node, the exact CLI commands that make the certificate live there."""
    return "; ".join(
        f"on {fqdn}: " + ", ".join(f"`utils service restart {s}`" for s in services)
        for fqdn, services in to_restart.items()
    )


def activation_outstanding(
    purposes: Sequence[Purpose],
    plan: RenewalPlan,
    restarted: Mapping[str, Sequence[str]],
    version: str,
    mixed_mode_ctl_pending: bool = False,
    rolled_back: Mapping[str, Sequence[str]] | None = None,
) -> list[str]:
    """One line per uploaded purpose whose certificate some nodes do not serve yet: which
    nodes, what makes it go live there (services of the release, or a reboot), and the
    exact command per node."""
    lines: list[str] = []
    for purpose in dict.fromkeys(purposes):
        to_restart: dict[str, list[str]] = {}
        waiting = pending_activation(purpose, plan, restarted, version, rolled_back, to_restart)
        if not waiting:
            continue
        spec = catalog.purpose(purpose)
        services = spec.restart_services(spec.san_products[0], version)
        nodes = ", ".join(waiting)
        if purpose == "tomcat":
            lines.append(
                f"the new tomcat certificate is installed but not yet served on {nodes}: "
                "restart Cisco Tomcat there (utils service restart Cisco Tomcat) or reboot them; "
                + _commands(to_restart)
            )
            continue
        line = (
            f"the new {purpose} certificate is installed but not yet served on {nodes}: it "
            f"goes live at the next restart of {', '.join(services)} "
            f"(release {version or 'unknown'}) or reboot of each of them"
        )
        if spec.phone_impact and spec.listener == "sip_tls":  # CallManager, RSA or ECDSA
            line += "; phones then reset to fetch the new ITL, so do it in a maintenance window" + (
                ", after `utils ctl update CTLFile` on the publisher (mixed mode)"
                if mixed_mode_ctl_pending
                else ""
            )
        elif spec.phone_impact:
            line += "; IM clients reconnect then, so do it in a maintenance window"
        lines.append(f"{line}; {_commands(to_restart)}")
    return lines


def record_assessment(status: RenewalStatus, state: NodeCertState) -> None:
    """What a node in scope serves now, per purpose of the change (nodes out of scope are
    not shown)."""
    progress = next((n for n in status.nodes if n.node == state.node), None)
    if progress is None:
        return
    served = {"tomcat": state.served_serial} | state.served_by_purpose
    errors = {"tomcat": state.error} | state.errors_by_purpose
    parts = []
    for purpose, entry in progress.certificates.items():
        serial = served.get(purpose)
        entry.served_serial = serial or entry.served_serial
        part = f"{purpose} serial {serial or 'unknown'}"
        if serial is None and errors.get(purpose):
            part += f" ({errors[purpose]})"
        parts.append(part)
    if parts:
        progress.detail = "serving " + "; ".join(parts)


def outstanding_tags(
    sso_disabled: bool,
    uploaded: Sequence[Purpose],
    plan: RenewalPlan | None,
    restarted: Mapping[str, Sequence[str]],
    version: str,
) -> list[str]:
    """Short tags of what a stopped change left behind, for the ``RenewalOutstanding``
    search attribute: ``sso-disabled``, and ``<purpose>@<node>`` per node that does not
    serve an uploaded certificate yet (``<purpose>@?`` when the plan is unknown).

    Args:
        sso_disabled: the change disabled SAML SSO and did not see it re-enabled.
        uploaded: purposes whose certificate the change uploaded.
        plan: the change's plan.
        restarted: node FQDN -> services the change restarted there.
        version: the cluster's version.
    """
    tags = ["sso-disabled"] if sso_disabled else []
    for purpose in dict.fromkeys(uploaded):
        if plan is None:
            tags.append(f"{purpose}@?")
            continue
        tags += [f"{purpose}@{n}" for n in pending_activation(purpose, plan, restarted, version)]
    return tags
