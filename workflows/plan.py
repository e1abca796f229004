"""Pure decisions of a renewal: preflight checks and the ordered plan.

No I/O, no clock: everything comes in as arguments (the snapshot discovery took), so the
workflow, ``ucrenew plan`` and the tests all get the same answer from the same facts.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence

from activities.cluster_models import ClusterSnapshot, NodeSnapshot, Purpose
from workflows.models import PlanStep, Problem, RenewalPlan
from workflows.restart_models import RestartPlan

TOMCAT = "Cisco Tomcat"
PAWS = "Platform Administrative Web Service"

#: Nodes whose certificate a multi-server CSR of each purpose covers (cucm-interfaces.md §1.3).
SAN_PRODUCTS: dict[str, tuple[str, ...]] = {
    "tomcat": ("cucm", "imp"),
    "CallManager": ("cucm",),
    "cup-xmpp": ("imp",),
    "cup-xmpp-s2s": ("imp",),
}

#: Services that make each purpose's new certificate active (this issue: tomcat).
ACTIVATING_SERVICES: dict[str, tuple[str, ...]] = {
    "tomcat": (TOMCAT,),
}


def san_nodes(snapshot: ClusterSnapshot, purpose: Purpose) -> list[NodeSnapshot]:
    """Nodes a multi-server certificate of ``purpose`` must name, publisher first."""
    products = SAN_PRODUCTS[purpose]
    nodes = [n for n in snapshot.nodes if n.product in products]
    return order_for_restart(nodes)


def order_for_restart(nodes: Sequence[NodeSnapshot]) -> list[NodeSnapshot]:
    """CUCM publisher, CUCM subscribers, then IM&P publisher and subscribers (stable)."""

    def key(n: NodeSnapshot) -> tuple[int, int]:
        return (0 if n.product == "cucm" else 1, 0 if n.role == "publisher" else 1)

    return sorted(nodes, key=key)


def preflight_problems(
    snapshot: ClusterSnapshot,
    purposes: Sequence[Purpose],
    other_renewals: Sequence[str] = (),
) -> list[Problem]:
    """Everything that must be fixed before a renewal may write anything.

    Checks: every node reachable over HTTPS and SSH, Platform Administrative Web Service and
    Cisco Tomcat started on every node, DB replication good (state 2) everywhere, AXL agrees
    with the inventory about the nodes, the cluster's SSO state is known, and no other renewal
    of the cluster is running.
    """
    problems: list[Problem] = []
    if other_renewals:
        problems.append(
            Problem(
                code="other-renewal-running",
                message=(
                    f"another renewal of cluster {snapshot.cluster} is running: "
                    f"{', '.join(other_renewals)}; finish or cancel it first"
                ),
            )
        )
    if snapshot.axl_error:
        problems.append(Problem(code="axl-unavailable", message=snapshot.axl_error))
    elif snapshot.axl_nodes:
        known = {n.fqdn.lower() for n in snapshot.nodes} | {
            n.hostname.lower() for n in snapshot.nodes
        }
        for name in snapshot.axl_nodes:
            if name.lower() not in known:
                problems.append(
                    Problem(
                        code="node-not-in-inventory",
                        message=(
                            f"CUCM knows node {name} but the inventory does not: add it to "
                            "clusters.yaml so the certificate covers it"
                        ),
                    )
                )
    if snapshot.sso_enabled is None:
        problems.append(
            Problem(
                code="sso-unknown",
                message=f"could not read the SSO state on the publisher: {snapshot.sso_error}",
            )
        )
    if snapshot.db_replication_error:
        problems.append(
            Problem(code="dbreplication-unknown", message=snapshot.db_replication_error)
        )
    relevant = {n.fqdn for p in purposes for n in san_nodes(snapshot, p)}
    for node in snapshot.nodes:
        if node.fqdn not in relevant:
            continue
        if not node.https_ok:
            problems.append(
                Problem(
                    code="https-unreachable",
                    node=node.fqdn,
                    message=f"{node.fqdn} does not answer HTTPS: {node.https_error}",
                )
            )
        if not node.ssh_ok:
            problems.append(
                Problem(
                    code="ssh-unreachable",
                    node=node.fqdn,
                    message=f"{node.fqdn} does not answer SSH: {node.ssh_error}",
                )
            )
        if node.services_error:
            problems.append(
                Problem(code="services-unknown", node=node.fqdn, message=node.services_error)
            )
        else:
            for name in (PAWS, TOMCAT):
                svc = node.service(name)
                if svc is None or not svc.activated or svc.status != "Started":
                    state = (
                        "not reported"
                        if svc is None
                        else ("not activated" if not svc.activated else svc.status)
                    )
                    problems.append(
                        Problem(
                            code="service-not-started",
                            node=node.fqdn,
                            message=(
                                f"{name} is {state} on {node.fqdn}; it must be Started on every "
                                "node for the CSR and certificate to reach it"
                            ),
                        )
                    )
        replication = snapshot.db_replication.get(node.hostname)
        if not snapshot.db_replication_error and replication != 2:
            problems.append(
                Problem(
                    code="dbreplication-bad",
                    node=node.fqdn,
                    message=(
                        f"DB replication state of {node.fqdn} is {replication} (2 = good): trust "
                        "certificates would not reach it; repair replication first"
                    ),
                )
            )
    return problems


#: Ports the purposes' certificates are served on, for verification.
VERIFY_PORT: dict[str, str] = {
    "tomcat": "HTTPS 8443",
    "CallManager": "SIP TLS 5061",
    "cup-xmpp": "XMPP 5222 (STARTTLS)",
    "cup-xmpp-s2s": "XMPP 5269 (STARTTLS)",
}

#: Purposes whose activation restarts services phones or IM users depend on.
PHONE_IMPACT_PURPOSES = ("CallManager", "cup-xmpp", "cup-xmpp-s2s")


def purpose_publisher(snapshot: ClusterSnapshot, purpose: Purpose) -> str:
    """The node a purpose's multi-server CSR is generated and uploaded on."""
    product = SAN_PRODUCTS[purpose][0] if purpose != "tomcat" else "cucm"
    for n in snapshot.nodes:
        if n.product == product and n.role == "publisher":
            return n.fqdn
    return snapshot.publisher


def build_plan(
    snapshot: ClusterSnapshot, purposes: Sequence[Purpose], restarts: RestartPlan | None = None
) -> RenewalPlan:
    """The ordered steps of a renewal of ``purposes`` on the cluster of ``snapshot``.

    ``restarts`` is the restart planner's answer (waves); without it, activating services
    restart node by node in restart order (the tomcat case).
    """
    purposes = list(dict.fromkeys(purposes))
    steps: list[PlanStep] = []
    notes: list[str] = []
    sso = bool(snapshot.sso_enabled) and any(p.startswith("tomcat") for p in purposes)
    sso_step_added = False
    san_by_purpose: dict[str, list[str]] = {}
    publisher_by_purpose: dict[str, str] = {}
    all_san: list[str] = []
    for purpose in purposes:
        san = [n.fqdn for n in san_nodes(snapshot, purpose)]
        publisher = purpose_publisher(snapshot, purpose)
        san_by_purpose[purpose] = san
        publisher_by_purpose[purpose] = publisher
        all_san.extend(s for s in san if s not in all_san)
        steps += [
            PlanStep(
                phase="csr",
                action=f"generate multi-server {purpose} CSR",
                node=publisher,
                detail="SAN: " + ", ".join(san),
            ),
            PlanStep(phase="ca-wait", action=f"have the {purpose} CSR signed by the CA"),
            PlanStep(
                phase="validate",
                action="validate the signed certificate and chain",
                detail="key matches the CSR, SANs cover every node, chain, EKU, validity",
            ),
        ]
        if sso and not sso_step_added and purpose.startswith("tomcat"):
            # As late as possible: SSO stays on while the CA takes its days.
            steps.append(
                PlanStep(
                    phase="sso-disable",
                    action="utils sso disable",
                    node=snapshot.publisher,
                    detail="SAML SSO is on; a tomcat change with SSO on locks admins out",
                )
            )
            sso_step_added = True
        steps += [
            PlanStep(
                phase="upload-trust",
                action=f"upload root then intermediates as {purpose}-trust",
                node=publisher,
                detail="skipping CA certificates already present",
            ),
            PlanStep(
                phase="upload-cert",
                action=f"upload the signed {purpose} certificate",
                node=publisher,
                detail="every SAN node must be in the upload result",
            ),
        ]
    impact = any(p in PHONE_IMPACT_PURPOSES for p in purposes)
    if impact:
        steps.append(
            PlanStep(
                phase="approve-impact",
                action="approval of the phone-impacting restarts",
                detail="by the cluster's approval policy, bound to this plan",
            )
        )
        steps.append(PlanStep(phase="window", action="wait for the maintenance window"))
    if restarts is not None and restarts.ctl_update_first:
        steps.append(
            PlanStep(
                phase="ctl-update",
                action="utils ctl update CTLFile",
                node=snapshot.publisher,
                detail="mixed mode: the CTL must name the new CallManager certificate first",
            )
        )
    restart_order: list[str] = []
    if restarts is not None:
        resets_pending = restarts.reset_phones
        for wave in restarts.waves:
            if resets_pending and any("Cisco CallManager" in nr.services for nr in wave.nodes):
                resets_pending = False
                steps.append(
                    PlanStep(
                        phase="phone-resets",
                        action="reset the registered phones (AXL doDeviceReset) in batches",
                        node=snapshot.publisher,
                        detail="taken from each node in turn; each batch re-registers before "
                        "the next; phones fetch the new ITL and CTL",
                    )
                )
            failover = "; ".join(
                f"{f.group}: {f.phones} phones {f.from_node.split('.')[0]} -> "
                + (f.to_node.split(".")[0] if f.to_node else "NOWHERE")
                for f in wave.failovers
            )
            for nr in wave.nodes:
                if nr.node not in restart_order:
                    restart_order.append(nr.node)
                steps.append(
                    PlanStep(
                        phase="restarts",
                        action="restart " + ", ".join(nr.services),
                        node=nr.node,
                        detail=f"wave {wave.index}"
                        + (f" ({failover})" if failover else "")
                        + ("; then phones must re-register" if wave.phones_affected else ""),
                    )
                )
        notes += restarts.notes
        for u in restarts.unavoidable_impact:
            notes.append(f"UNAVOIDABLE: {u.reason}")
    else:
        for n in order_for_restart([n for n in snapshot.nodes if n.fqdn in all_san]):
            restart_order.append(n.fqdn)
            for purpose in purposes:
                for service in ACTIVATING_SERVICES.get(purpose, ()):
                    steps.append(
                        PlanStep(
                            phase="restarts",
                            action=f"restart {service}",
                            node=n.fqdn,
                            detail="then wait for [STARTED] and HTTPS to answer",
                        )
                    )
    for purpose in purposes:
        for fqdn in san_by_purpose[purpose]:
            steps.append(
                PlanStep(
                    phase="verify",
                    action=f"TLS handshake on {VERIFY_PORT[purpose]}",
                    node=fqdn,
                    detail="served leaf is the uploaded one, FQDN in SANs, chain validates",
                )
            )
    if sso:
        steps.append(
            PlanStep(
                phase="sso-reenable",
                action="operator re-enables SSO in the GUI",
                node=snapshot.publisher,
                detail="then ucrenew checks utils sso status",
            )
        )
    for n in snapshot.nodes:
        cert = n.certificates.get("tomcat")
        if cert is not None:
            notes.append(
                f"{n.fqdn}: current tomcat serial {cert.serial_hex}, expires "
                f"{cert.not_after:%Y-%m-%d}"
            )
    if "tomcat" in purposes:
        notes.append(
            "Cisco Tomcat restarts do not drop phone registrations; web, AXL and UDS on a "
            "node are unavailable while its Tomcat restarts"
        )
    plan = RenewalPlan(
        cluster=snapshot.cluster,
        purposes=purposes,
        publisher=snapshot.publisher,
        san=all_san,
        restart_order=restart_order,
        sso_disable=sso,
        steps=steps,
        notes=notes,
        san_by_purpose=san_by_purpose,
        publisher_by_purpose=publisher_by_purpose,
        restarts=restarts,
        phone_impact=impact,
    )
    return plan.model_copy(update={"plan_hash": plan_hash(plan)})


def plan_hash(plan: RenewalPlan) -> str:
    """A short stable hash of what the plan will do (not of the notes)."""
    material = plan.model_dump(
        mode="json",
        include={
            "cluster",
            "purposes",
            "publisher",
            "san",
            "restart_order",
            "sso_disable",
            "steps",
            "san_by_purpose",
        },
    )
    digest = hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()
    return digest[:12]
