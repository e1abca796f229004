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


def build_plan(snapshot: ClusterSnapshot, purposes: Sequence[Purpose]) -> RenewalPlan:
    """The ordered steps of a renewal of ``purposes`` on the cluster of ``snapshot``."""
    purposes = list(dict.fromkeys(purposes))
    steps: list[PlanStep] = []
    notes: list[str] = []
    publisher = snapshot.publisher
    sso = bool(snapshot.sso_enabled) and any(p.startswith("tomcat") for p in purposes)
    sso_step_added = False
    restart_nodes: list[NodeSnapshot] = []
    all_san: list[str] = []
    for purpose in purposes:
        nodes = san_nodes(snapshot, purpose)
        san = [n.fqdn for n in nodes]
        all_san.extend(s for s in san if s not in all_san)
        steps += [
            PlanStep(
                phase="csr",
                action=f"generate multi-server {purpose} CSR",
                node=publisher,
                detail="SAN: " + ", ".join(san),
            ),
            PlanStep(phase="ca-wait", action="have the CSR signed by the CA"),
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
                    node=publisher,
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
        for n in nodes:
            if n not in restart_nodes:
                restart_nodes.append(n)
    restart_nodes = order_for_restart(restart_nodes)
    for purpose in purposes:
        for service in ACTIVATING_SERVICES.get(purpose, ()):
            for n in restart_nodes:
                steps.append(
                    PlanStep(
                        phase="restarts",
                        action=f"utils service restart {service}",
                        node=n.fqdn,
                        detail="then wait for [STARTED] and HTTPS to answer",
                    )
                )
    for n in restart_nodes:
        steps.append(
            PlanStep(
                phase="verify",
                action="TLS handshake on 8443",
                node=n.fqdn,
                detail="served leaf is the uploaded one, FQDN in SANs, chain validates",
            )
        )
    if sso:
        steps.append(
            PlanStep(
                phase="sso-reenable",
                action="operator re-enables SSO in the GUI",
                node=publisher,
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
    notes.append(
        "Cisco Tomcat restarts do not drop phone registrations; web, AXL and UDS on a "
        "node are unavailable while its Tomcat restarts"
    )
    plan = RenewalPlan(
        cluster=snapshot.cluster,
        purposes=purposes,
        publisher=publisher,
        san=all_san,
        restart_order=[n.fqdn for n in restart_nodes],
        sso_disable=sso,
        steps=steps,
        notes=notes,
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
        },
    )
    digest = hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()
    return digest[:12]
