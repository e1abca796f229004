"""Pure decisions of a renewal: preflight checks and the ordered plan.

No I/O, no clock: everything comes in as arguments (the snapshot discovery took), so the
workflow, ``ucrenew plan`` and the tests all get the same answer from the same facts.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import datetime

from activities import catalog
from activities.catalog import PAWS, TOMCAT, Purpose
from activities.cert_paths import CertificatePath, PathError, choose_path
from activities.cluster_models import (
    ChangePolicy,
    ClusterSnapshot,
    HealthPolicy,
    LeftoverChange,
    NodeSnapshot,
    OtherRenewalsResult,
)
from workflows.caveats import certificate_notes, reissue_findings
from workflows.health_checks import health_problems, severity
from workflows.models import PlanReport, PlanRequest, PlanStep, Problem, RenewalOptions, RenewalPlan
from workflows.reset_order import describe as describe_resets
from workflows.restart_models import RestartPlan, RestartWave
from workflows.restarts import restart_plan_for
from workflows.unverified import unverified_behaviours
from workflows.windows import WindowSpec, next_window, parse_windows


def san_nodes(snapshot: ClusterSnapshot, name: Purpose) -> list[NodeSnapshot]:
    """Nodes a multi-server certificate of ``name`` must name, publisher first."""
    products = catalog.purpose(name).san_products
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
    *,
    health: HealthPolicy | None = None,
    now: datetime | None = None,
) -> list[Problem]:
    """Everything that must be fixed before a renewal may write anything, and what an operator
    should know before it does (``severity="warning"``: the change goes on).

    Checks: every purpose exists on the cluster's release (the ECDSA ones from 14 on),
    every node reachable over HTTPS and SSH, Platform Administrative Web Service and
    Cisco Tomcat started on every node, DB replication good (state 2) everywhere, AXL agrees
    with the inventory about the nodes, the cluster's SSO state is known, no other renewal of
    the cluster is running; and the pre-change health (health_checks.py): NTP synchronised, a
    recent DRS backup, room on the common partition, no core files.

    Args:
        snapshot: what discovery saw.
        purposes: the purposes of the change (their SAN nodes are checked).
        other_renewals: change ids of other running renewals of the cluster.
        health: the cluster's health policy (which failed checks stop the change, which
            warn); the defaults when None.
        now: the time the backup's age is measured at; the snapshot's time when None.
    """
    policy = health or HealthPolicy()
    replication_severity = severity(policy.replication)
    problems: list[Problem] = []
    for wanted in dict.fromkeys(purposes):
        why = catalog.release_problem(wanted, snapshot.version)
        if why is not None:
            problems.append(Problem(code="purpose-not-on-release", message=why))
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
    if snapshot.db_replication_error and replication_severity is not None:
        problems.append(
            Problem(
                code="dbreplication-unknown",
                message=snapshot.db_replication_error,
                severity=replication_severity,
            )
        )
    problems += identity_problems(snapshot)
    relevant = {n.fqdn for p in purposes for n in san_nodes(snapshot, p)}
    for node in snapshot.nodes:
        if node.fqdn not in relevant:
            continue
        if node.identity_error:
            continue  # another node answers there: its identity problem says so
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
        replication = snapshot.replication_state(node)
        if (
            not snapshot.db_replication_error
            and replication != 2
            and replication_severity is not None
        ):
            problems.append(
                Problem(
                    code="dbreplication-bad",
                    node=node.fqdn,
                    message=(
                        f"DB replication state of {node.fqdn} is {replication} (2 = good): trust "
                        "certificates would not reach it; repair replication first"
                    ),
                    severity=replication_severity,
                )
            )
    nodes = [n for n in snapshot.nodes if n.fqdn in relevant]
    problems += health_problems(snapshot, nodes, policy, now or snapshot.taken_at)
    return problems


def identity_problems(snapshot: ClusterSnapshot) -> list[Problem]:
    """Nodes whose inventory address reaches another node: every node of the cluster, since
    a wrong address misleads every step (the CSR's node list, restarts, verification).

    Two nodes that present one SSH host key are one machine answering for both, even when
    neither host name could be read. Snapshots taken before identities were read have none:
    they pass (older changes replay as they ran).
    """
    problems = [
        Problem(code="node-identity-mismatch", node=n.fqdn, message=n.identity_error)
        for n in snapshot.nodes
        if n.identity_error
    ]
    by_key: dict[str, list[NodeSnapshot]] = {}
    for n in snapshot.nodes:
        if n.identity is not None and n.identity.ssh_host_key and not n.identity_error:
            by_key.setdefault(n.identity.ssh_host_key, []).append(n)
    for key, nodes in by_key.items():
        if len(nodes) > 1:
            names = ", ".join(
                f"{n.fqdn} (address {n.identity.address})" for n in nodes if n.identity
            )
            problems.append(
                Problem(
                    code="node-identity-shared",
                    node=nodes[-1].fqdn,
                    message=(
                        f"inventory nodes {names} answered with one SSH host key ({key}): one "
                        "node answers for several, so an address in the inventory reaches "
                        "another node; fix the addresses"
                    ),
                )
            )
    return problems


def purpose_publisher(snapshot: ClusterSnapshot, name: Purpose) -> str:
    """The node a purpose's multi-server CSR is generated and uploaded on."""
    product = catalog.purpose(name).csr_product
    for n in snapshot.nodes:
        if n.product == product and n.role == "publisher":
            return n.fqdn
    return snapshot.publisher


def certificate_path_for(snapshot: ClusterSnapshot, options: RenewalOptions) -> CertificatePath:
    """The interfaces the change's certificate steps use: the cluster's release decides,
    the inventory's ``certificates:`` block and ``options.distribution`` may override.

    Raises:
        PathError: the inventory insists on an interface the release does not offer.
    """
    block = snapshot.certificates
    distribution = options.distribution or block.distribution
    return choose_path(snapshot.version, distribution, block.interface)


def path_problems(snapshot: ClusterSnapshot, options: RenewalOptions) -> list[Problem]:
    """A path the release cannot take, as a blocking problem (nothing written yet)."""
    try:
        certificate_path_for(snapshot, options)
    except PathError as exc:
        return [Problem(code="certificate-path-unavailable", message=str(exc))]
    return []


def compose_plan(
    snapshot: ClusterSnapshot,
    purposes: Sequence[Purpose],
    options: RenewalOptions,
    *,
    staged_phone_resets: bool | None = None,
    resets_by_primary: bool | None = None,
    legacy_labels: bool = False,
    path: CertificatePath | None = None,
    csr_detail: bool = True,
    tomcat_parallel: int = 1,
) -> RenewalPlan:
    """The plan of a change: the one composition the workflow and ``ucrenew plan`` share.

    Args:
        snapshot: what discovery saw.
        purposes: the purposes of the change.
        options: the change's options (restart strategy, phone-fraction cap, phone resets,
            the opt-in cleanup step that removes CSCur97909 leftovers).
        staged_phone_resets: overrides ``options.reset_phones`` (the workflow keeps the plan
            that changes started before staged resets existed were approved with).
        resets_by_primary: overrides ``options.phone_resets_by_primary`` (likewise, for
            changes started before resets went wave by wave).
        legacy_labels: name trust stores as plans did before cup-xmpp-s2s's was corrected, so
            a change approved then keeps its plan hash.
        path: the interfaces of the certificate steps (:func:`certificate_path_for`); None
            for changes started before paths existed, whose plans named none.
        csr_detail: name the CSR's key, hash and other domains and the validity asked of
            the certificate in the steps; False for changes started before the plan named
            them, so that they keep their plan hash.
        tomcat_parallel: nodes restarting Cisco Tomcat at once after the publisher in a
            change without phone impact (:func:`tomcat_parallel`); 1 keeps one at a time.

    Returns:
        The plan, with its restart plan and rollout stages, and its hash.
    """
    staged = options.reset_phones if staged_phone_resets is None else staged_phone_resets
    restarts = restart_plan_for(
        snapshot,
        purposes,
        options.restart_strategy,
        options.max_phone_fraction_per_wave,
        staged_phone_resets=staged,
        tomcat_parallel=tomcat_parallel,
        resets_by_primary=(
            options.phone_resets_by_primary if resets_by_primary is None else resets_by_primary
        ),
        by_primary_max_phones=options.phone_resets_child_above,
    )
    csr = options if csr_detail else None
    plan = build_plan(snapshot, purposes, restarts, legacy_labels=legacy_labels, path=path, csr=csr)
    if options.remove_leftover_certificates:
        plan.steps.append(
            PlanStep(
                phase="cleanup",
                action="remove the former self-signed certificates left in the trust stores "
                "(CSCur97909): set cert delete trust <store>/<file>",
                detail="only those listed after the uploads, after approval at the cleanup "
                "gate (bound to the listed certificates); cluster-wide in "
                + ", ".join(sorted(catalog.CLUSTER_WIDE_TRUST_DELETE)),
            )
        )
        plan = plan.model_copy(update={"plan_hash": plan_hash(plan)})
    # Advice from the current certificates; not part of what the plan does (nor its hash).
    plan.findings = reissue_findings(snapshot, purposes, options.other_domains)
    # Likewise what the plan assumes of CUCM without a source to confirm it.
    plan.unverified = unverified_behaviours(restarts, snapshot.version or "", purposes)
    return plan


def tomcat_parallel(options: RenewalOptions, policy: ChangePolicy) -> int:
    """Nodes restarting Cisco Tomcat at once after the publisher: the change's
    ``restart_parallel`` (``--restart-parallel``), else the cluster's ``change_policy.restarts``.

    A policy read before the setting existed has the default, one at a time, so changes
    started then keep the plan they were approved with.
    """
    if options.restart_parallel is not None:
        return options.restart_parallel
    return policy.tomcat_parallel


def build_plan(
    snapshot: ClusterSnapshot,
    purposes: Sequence[Purpose],
    restarts: RestartPlan,
    *,
    legacy_labels: bool = False,
    path: CertificatePath | None = None,
    csr: RenewalOptions | None = None,
) -> RenewalPlan:
    """The ordered steps of a renewal of ``purposes`` on the cluster of ``snapshot``.

    ``restarts`` is the restart planner's answer; its rollout stages become the steps after
    the uploads, in the order the workflow runs them. ``legacy_labels`` and ``path``: see
    :func:`compose_plan`; ``csr``: the options whose CSR key, hash, other domains and
    minimum validity the steps name (none named when None).
    """
    purposes = list(dict.fromkeys(purposes))
    steps: list[PlanStep] = []
    notes: list[str] = []
    sso = bool(snapshot.sso_enabled) and any(catalog.purpose(p).disables_sso for p in purposes)
    sso_step_added = False
    san_by_purpose: dict[str, list[str]] = {}
    publisher_by_purpose: dict[str, str] = {}
    all_san: list[str] = []
    for name in purposes:
        san = [n.fqdn for n in san_nodes(snapshot, name)]
        publisher = purpose_publisher(snapshot, name)
        san_by_purpose[name] = san
        publisher_by_purpose[name] = publisher
        all_san.extend(s for s in san if s not in all_san)
        steps += _acquire_steps(name, publisher, san, path, csr)
        if sso and not sso_step_added and catalog.purpose(name).disables_sso:
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
        via_trust = f" via {path.label('trust')}" if path else ""
        steps.append(
            PlanStep(
                phase="upload-trust",
                action="upload root then intermediates as "
                f"{_trust_label(name, legacy_labels)}{via_trust}",
                node=publisher,
                detail="skipping CA certificates already present",
            )
        )
        steps += _upload_steps(name, publisher, san, path)
    impact = catalog.phone_impact(purposes)
    if impact:
        steps.append(
            PlanStep(
                phase="approve-impact",
                action="approval of the phone-impacting restarts",
                detail="by the cluster's approval policy, bound to this plan",
            )
        )
        steps.append(PlanStep(phase="window", action="wait for the maintenance window"))
    restart_order: list[str] = []
    for stage in restarts.stages:
        if stage.kind == "ctl-update":
            steps.append(
                PlanStep(
                    phase="ctl-update",
                    action="utils ctl update CTLFile",
                    node=snapshot.publisher,
                    detail="mixed mode: the CTL must name the new CallManager certificate first",
                )
            )
        elif stage.kind == "phone-resets" and (stage.nodes or stage.sweep):
            steps.append(
                PlanStep(
                    phase="phone-resets",
                    action=describe_resets(stage),
                    node=snapshot.publisher,
                    detail="AXL doDeviceReset, the phones listed in RisPort at the time",
                )
            )
        elif stage.kind == "phone-resets":
            steps.append(
                PlanStep(
                    phase="phone-resets",
                    action="reset the registered phones (AXL doDeviceReset) in batches",
                    node=snapshot.publisher,
                    detail="taken from each node in turn; each batch re-registers before "
                    "the next; phones fetch the new ITL and CTL",
                )
            )
        else:
            wave = restarts.wave(stage.wave)
            restart_order.extend(nr.node for nr in wave.nodes if nr.node not in restart_order)
            steps += _wave_steps(snapshot, wave)
    notes += restarts.notes
    for u in restarts.unavoidable_impact:
        notes.append(f"UNAVOIDABLE: {u.reason}")
    for name in purposes:
        for fqdn in san_by_purpose[name]:
            steps.append(
                PlanStep(
                    phase="verify",
                    action=f"TLS handshake on {catalog.purpose(name).verify_label}",
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
    notes += certificate_notes(snapshot, purposes)
    if any(catalog.purpose(p).listener == "https" for p in purposes):
        notes.append(
            "Cisco Tomcat restarts do not drop phone registrations; web, AXL and UDS on a "
            "node are unavailable while its Tomcat restarts"
        )
    if path is not None:
        notes.insert(0, f"Certificate path: {path.reason}")
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
        certificate_path=path,
        restarts=restarts,
        phone_impact=impact,
    )
    return plan.model_copy(update={"plan_hash": plan_hash(plan)})


def _wave_steps(snapshot: ClusterSnapshot, wave: RestartWave) -> list[PlanStep]:
    """One step per node of a wave, naming where its phones go meanwhile."""
    failover = "; ".join(
        f"{f.group}: {f.phones} phones {_host(snapshot, f.from_node)} -> "
        + (_host(snapshot, f.to_node) if f.to_node else "NOWHERE")
        for f in wave.failovers
    )
    return [
        PlanStep(
            phase="restarts",
            action="restart " + ", ".join(nr.services),
            node=nr.node,
            detail=f"wave {wave.index}"
            + (f" ({failover})" if failover else "")
            + ("; then phones must re-register" if wave.phones_affected else ""),
        )
        for nr in wave.nodes
    ]


def _key_note(name: Purpose) -> str:
    """What an ECDSA purpose's CSR asks for; nothing for RSA (its plans keep their hash)."""
    spec = catalog.purpose(name)
    return "" if spec.key_type == "RSA" else f"; {spec.key_type} (EC) key"


def _host(snapshot: ClusterSnapshot, fqdn: str) -> str:
    try:
        return snapshot.node(fqdn).hostname
    except KeyError:
        return fqdn


def _csr_note(name: Purpose, csr: RenewalOptions | None) -> str:
    """The key, hash and other domains a CSR asks for (the ECDSA note alone without ``csr``)."""
    if csr is None:
        return _key_note(name)
    ec = catalog.purpose(name).key_type == "ECDSA"
    key = f"EC {csr.ec_key_length}" if ec else f"RSA {csr.key_length}"
    note = f"; key {key}, hash {csr.hash_algorithm.upper()}"
    if csr.other_domains:
        note += "; other domains: " + ", ".join(csr.other_domains)
    return note


def _acquire_steps(
    name: Purpose,
    publisher: str,
    san: list[str],
    path: CertificatePath | None,
    csr: RenewalOptions | None = None,
) -> list[PlanStep]:
    """CSR, CA and validation: once on the publisher, or once per node on a per-node path."""
    validity = f" (at least {csr.min_remaining_days} days left)" if csr else ""
    validate = PlanStep(
        phase="validate",
        action="validate the signed certificate and chain",
        detail="key matches the CSR, SANs cover every node, chain, EKU, validity" + validity,
    )
    if path is None or not path.per_node:
        # Plans made before paths existed name no interface (their hash stays).
        via = f" via {path.label('csr')}" if path else ""
        return [
            PlanStep(
                phase="csr",
                action=f"generate multi-server {name} CSR{via}",
                node=publisher,
                detail="SAN: " + ", ".join(san) + _csr_note(name, csr),
            ),
            PlanStep(phase="ca-wait", action=f"have the {name} CSR signed by the CA"),
            validate,
        ]
    via = path.label("csr")
    steps: list[PlanStep] = []
    for fqdn in san:
        steps += [
            PlanStep(
                phase="csr",
                action=f"generate single-server {name} CSR via {via}",
                node=fqdn,
                detail=f"SAN: {fqdn}" + _csr_note(name, csr),
            ),
            PlanStep(phase="ca-wait", action=f"have {fqdn}'s {name} CSR signed by the CA"),
            validate.model_copy(
                update={
                    "node": fqdn,
                    "detail": "key matches the CSR, SAN names the node, chain, EKU, validity"
                    + validity,
                }
            ),
        ]
    return steps


def _upload_steps(
    name: Purpose, publisher: str, san: list[str], path: CertificatePath | None
) -> list[PlanStep]:
    """The signed certificate's upload: on the publisher for every SAN node, or per node."""
    if path is None or not path.per_node:
        via = f" via {path.label('identity')}" if path else ""
        return [
            PlanStep(
                phase="upload-cert",
                action=f"upload the signed {name} certificate{via}",
                node=publisher,
                detail="every SAN node must be in the upload result",
            )
        ]
    return [
        PlanStep(
            phase="upload-cert",
            action=f"upload {fqdn}'s signed {name} certificate via {path.label('identity')}",
            node=fqdn,
            detail=f"read back via {path.label('readback')}",
        )
        for fqdn in san
    ]


def _trust_label(name: Purpose, legacy: bool) -> str:
    return f"{name}-trust" if legacy else catalog.purpose(name).trust_store


def window_problems(
    purposes: Sequence[Purpose], windows: Sequence[WindowSpec], now: datetime
) -> list[Problem]:
    """A phone-impacting change needs a maintenance window that is still to come (or open).

    Args:
        purposes: the purposes of the change.
        windows: the change's windows (``--window``), else the inventory's.
        now: the current time (the workflow's clock, or the caller's).
    """
    if not catalog.phone_impact(purposes):
        return []
    if not windows:
        return [
            Problem(
                code="no-maintenance-window",
                message=(
                    "this change restarts phone-impacting services: give a maintenance "
                    "window (inventory change_policy.windows, or `ucrenew start --window`)"
                ),
            )
        ]
    if next_window(windows, now) is None:
        return [
            Problem(
                code="no-maintenance-window",
                message="every maintenance window given is in the past",
            )
        ]
    return []


def leftover_problems(leftovers: Sequence[LeftoverChange]) -> list[Problem]:
    """Warnings for earlier changes of the cluster that left work to an operator.

    They do not stop the change (the operator may be about to fix exactly that), but they
    name each change, what it left and where the exact commands are.
    """
    return [
        Problem(
            code="earlier-change-outstanding",
            severity="warning",
            message=(
                f"change {c.change_id} ({c.status}) left work outstanding: "
                f"{', '.join(c.outstanding)}; `ucrenew show {c.change_id}` lists each item "
                "with the command that finishes it"
            ),
        )
        for c in leftovers
    ]


def change_problems(
    snapshot: ClusterSnapshot,
    purposes: Sequence[Purpose],
    options: RenewalOptions,
    windows: Sequence[WindowSpec],
    now: datetime,
    *,
    other_renewals: Sequence[str] = (),
    leftovers: Sequence[LeftoverChange] = (),
    health: HealthPolicy | None = None,
    paths: bool = True,
) -> list[Problem]:
    """Every check a change passes before it writes: the one list ``start`` (the renewal's
    preflight) and ``plan`` (PlanWorkflow) make.

    Args:
        snapshot: what discovery saw.
        purposes: the purposes of the change.
        options: the change's options (its certificate distribution).
        windows: the change's maintenance windows, else the inventory's.
        now: the workflow's clock.
        other_renewals: change ids of other running renewals of the cluster.
        leftovers: earlier changes of the cluster that left work behind (warnings).
        health: the cluster's health policy; the defaults when None.
        paths: check the certificate path (changes started before paths existed did not).
    """
    problems = preflight_problems(snapshot, purposes, other_renewals, health=health, now=now)
    problems += window_problems(purposes, windows, now)
    if paths:
        problems += path_problems(snapshot, options)
    return problems + leftover_problems(leftovers)


def dry_run(
    req: PlanRequest,
    snapshot: ClusterSnapshot,
    policy: ChangePolicy,
    others: OtherRenewalsResult,
    now: datetime,
) -> PlanReport:
    """A change's dry run from what the renewal reads before its first write: the checks
    of its preflight and its plan (PlanWorkflow, i.e. ``ucrenew plan``).

    Args:
        req: the change (cluster, purposes, options, windows).
        snapshot: what discovery saw.
        policy: the cluster's change policy (windows, health policy).
        others: other renewals of the cluster, and earlier changes that left work behind.
        now: the time the checks are made for.
    """
    problems = change_problems(
        snapshot,
        req.purposes,
        req.options,
        parse_windows(req.windows or policy.windows),
        now,
        other_renewals=others.change_ids,
        leftovers=others.leftovers,
        health=policy.health,
    )
    path = (
        None
        if path_problems(snapshot, req.options)
        else certificate_path_for(snapshot, req.options)
    )
    plan = compose_plan(
        snapshot,
        req.purposes,
        req.options,
        path=path,
        tomcat_parallel=tomcat_parallel(req.options, policy),
    )
    return PlanReport(plan=plan, problems=problems, snapshot=snapshot, now=now)


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
