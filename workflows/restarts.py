"""Pure restart planner: which services to restart, on which nodes, in which waves.

After the certificates of a change are uploaded, some services must restart before the new
certificate is served (cucm-interfaces.md §10). Restarting Cisco CallManager on a node drops
the phones registered there; they fail over to the next member of their CallManager group and
fall back when the node returns (operations-facts.md B1). This module turns the topology into
waves that keep every group with a running member, and says what each wave will do to phones.

Rules, in order of precedence:

(a) Every CallManager group keeps at least one running member in every wave. A group whose
    only CallManager member restarts cannot: it is reported in ``unavoidable_impact``.
(b) Within a node, services restart in ``SERVICE_ORDER`` (see its docstring for why).
(c) Several purposes in one change merge: a service restarts at most once per node, after all
    uploads (the planner runs once, on the union).
(d) Cisco Tomcat restarts on the CUCM publisher before any other node, and on the IM&P
    publisher before the IM&P subscribers (Cisco's "publisher first, then subscribers").
(e) As few waves as (a) and (d) allow; among those, the plan in which each group's home node
    restarts after (or with) its other members. Phones then leave their home once, to a
    member that has already restarted and will not restart again, and come back once. The
    other way round (home first, secondary in a later wave) the secondary's restart can catch
    phones that have not yet fallen back — a second outage for them. Cisco sequences upgrades
    the same way: backup subscribers before primaries (operations-facts.md B2).
(f) Tomcat-only changes (no phone impact) restart one node at a time by default. With
    ``tomcat_max_parallel`` N > 1 (the inventory's ``change_policy.restarts``) the CUCM
    publisher restarts alone first, then the other nodes in waves of at most N, at most one
    IM&P node per wave (``inferred.IMP_NODES_PER_TOMCAT_WAVE``: every presence redundancy
    group keeps a node up whatever its pairing), the IM&P publisher before the IM&P
    subscribers. After the first wave the publisher serves web administration, AXL and UDS
    while subscribers restart. Each wave says what its nodes' users lose meanwhile.
(g) Deterministic: nodes sort as CUCM publisher, CUCM subscribers, IM&P publisher, IM&P
    subscribers, then by FQDN; groups by name; ties go to the lexicographically first
    assignment in that order.

No I/O and no clock: the workflow, ``ucrenew plan`` and the benchmark all get the same plan from
the same input.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Literal

from activities.catalog import (
    CALLMANAGER,
    CTIMANAGER,
    CUCM_PUBLISHER_SERVICES,
    HAPROXY,
    NETWORK_SERVICES,
    TFTP,
    TOMCAT,
    TVS,
    XCP_ROUTER,
    Purpose,
    phone_impact,
    purpose,
    tomcat_restart_losses,
)
from activities.clients.cucm import inferred
from activities.cluster_models import ClusterSnapshot
from workflows.reset_order import PRIMARY_WAVE_PHONE_SHARE, describe, stages_by_primary
from workflows.restart_models import (
    CmGroup,
    Failover,
    NodeRestart,
    RestartNode,
    RestartPlan,
    RestartPlanInput,
    RestartWave,
    RolloutStage,
    Strategy,
    UnavoidableImpact,
)
from workflows.wave_search import Facts, assign_waves

SERVICE_ORDER: tuple[str, ...] = (TOMCAT, CALLMANAGER, CTIMANAGER, TVS, XCP_ROUTER, HAPROXY, TFTP)
"""Order of restarts within one node.

Cisco Tomcat first: it carries no phone registrations, and with several purposes the web
certificate is then live before anything phone-facing restarts. Then Cisco CallManager,
Cisco CTIManager and Cisco Trust Verification Service, the order of Cisco's CallManager
regeneration procedure (operations-facts.md B3). Cisco Tftp last: once TFTP serves the new
certificate in the ITL/config files, phones reset to fetch them (cucm-interfaces.md §9), so
every service those phones then contact — CallManager for SIP/SCCP TLS, TVS that vouches for
certificates on the phone's behalf — must already present the new certificate, or phones
would reset into a node whose certificate the new ITL does not name. It also follows §9's
"do TFTP (CallManager) last" and §1.2's TFTP restart after a tomcat change (stale cache).
Cisco HAProxy (14+) fronts the web and TFTP-over-HTTPS listeners, so it goes after the
services it fronts, like TFTP.

With staged phone resets (``RestartPlanInput.staged_phone_resets``) ucrenew, not CUCM, decides
when phones reset, so TVS and TFTP move to a first wave instead: phones it resets then fetch
an ITL that names the new certificate (and, in mixed mode, the updated CTL) before any node
serves it, and fail over freely afterwards.
"""

SplitAt = Literal["first", "last"] | None
"""Where the wave of split-off services (TFTP, or TVS and TFTP) goes, if there is one."""

# --------------------------------------------------------------------------------------------
# Restarts per node (the catalog's activation services, cucm-interfaces.md §10)
# --------------------------------------------------------------------------------------------


def purpose_services(name: Purpose, node: RestartNode, key: str = "RSA") -> list[str]:
    """Services to restart on ``node`` for ``purpose``, where they run, in ``SERVICE_ORDER``.

    Args:
        name: the certificate purpose renewed.
        node: the node.
        key: the CallManager key type (``RSA`` or ``ECDSA``).

    Returns:
        Empty when the node is not in the purpose's SAN or runs none of the services.
    """
    wanted = purpose(name).restart_services(node.product, node.version, key)
    return list(_in_order(s for s in wanted if _runs(s, node)))


def _runs(service: str, node: RestartNode) -> bool:
    if service in CUCM_PUBLISHER_SERVICES:
        return node.product == "cucm" and node.role == "publisher"
    return service in NETWORK_SERVICES or service in node.services


def node_services(node: RestartNode, purposes: Iterable[Purpose], key: str = "RSA") -> list[str]:
    """The merged, de-duplicated restarts of one node for all ``purposes``, in order."""
    return list(_in_order({s for p in purposes for s in purpose_services(p, node, key)}))


def _in_order(services: Iterable[str]) -> tuple[str, ...]:
    rank = {s: i for i, s in enumerate(SERVICE_ORDER)}
    return tuple(sorted(set(services), key=lambda s: (rank.get(s, len(rank)), s)))


def _node_key(node: RestartNode) -> tuple[int, int, str]:
    return (
        0 if node.product == "cucm" else 1,
        0 if node.role == "publisher" else 1,
        node.fqdn.lower(),
    )


# --------------------------------------------------------------------------------------------
# Facts the search works from
# --------------------------------------------------------------------------------------------


def _facts(inp: RestartPlanInput, *, split: frozenset[str] = frozenset()) -> Facts:
    nodes = sorted(inp.nodes, key=_node_key)
    purposes = list(dict.fromkeys(inp.purposes))
    work: dict[str, tuple[str, ...]] = {}
    split_work: dict[str, tuple[str, ...]] = {}
    for n in nodes:
        services = node_services(n, purposes, inp.callmanager_key)
        if split & set(services):
            split_work[n.fqdn] = tuple(s for s in services if s in split)
            services = [s for s in services if s not in split]
        if services:
            work[n.fqdn] = tuple(services)
    down = [n.fqdn for n in nodes if CALLMANAGER in work.get(n.fqdn, ())]
    runs_cm = {n.fqdn for n in nodes if n.product == "cucm" and CALLMANAGER in n.services}
    groups = sorted(inp.groups, key=lambda g: g.name)
    live = {g.name: [m for m in g.members if m in runs_cm] for g in groups}
    notes: list[str] = []
    known = {n.fqdn for n in nodes}
    for g in groups:
        unknown = [m for m in g.members if m not in known]
        if unknown:
            notes.append(f"group {g.name}: members {', '.join(unknown)} are not cluster nodes")
        if not live[g.name] and g.phones:
            notes.append(
                f"group {g.name}: no member runs Cisco CallManager, so its {g.phones} phones "
                "cannot register now, with or without this change"
            )
    preds: dict[str, list[str]] = {}
    tomcat_nodes = [n for n in nodes if TOMCAT in work.get(n.fqdn, ())]
    cucm_pub = next(
        (n.fqdn for n in tomcat_nodes if n.product == "cucm" and n.role == "publisher"), None
    )
    imp_pub = next(
        (n.fqdn for n in tomcat_nodes if n.product == "imp" and n.role == "publisher"), None
    )
    for n in tomcat_nodes:
        before = [p for p in (cucm_pub,) if p is not None and p != n.fqdn]
        if n.product == "imp" and imp_pub is not None and n.fqdn != imp_pub:
            before.append(imp_pub)
        if before:
            preds[n.fqdn] = before
    return Facts(
        nodes=nodes,
        work=work,
        split_work=split_work,
        down=down,
        groups=groups,
        live=live,
        preds=preds,
        total_phones=sum(g.phones for g in groups),
        notes=notes,
    )


# --------------------------------------------------------------------------------------------
# Plans
# --------------------------------------------------------------------------------------------


def plan_restarts(inp: RestartPlanInput) -> RestartPlan:
    """The rolling restart plan: phone-safe waves, fewest first.

    Args:
        inp: topology, purposes and limits.

    Returns:
        Waves in execution order; the workflow runs a wave's nodes in parallel and each node's
        services in order, and waits for phones to come back before the next wave.
    """
    staged = _staged_resets_apply(inp)
    by_primary = staged and inp.resets_by_primary
    if by_primary and inp.max_phone_fraction_per_wave is None:
        inp = inp.model_copy(update={"max_phone_fraction_per_wave": PRIMARY_WAVE_PHONE_SHARE})
    split = frozenset({TVS, TFTP}) if staged else frozenset({TFTP})
    if not staged and not inp.tftp_last_cluster_wide:
        split = frozenset()
    facts = _facts(inp, split=split)
    notes = list(facts.notes)
    if inp.tomcat_max_parallel > 1 and not phone_impact(inp.purposes) and facts.work:
        layers = capped_tomcat_layers(facts, inp.tomcat_max_parallel)
        notes.append(
            f"Cisco Tomcat restarts in capped waves: the CUCM publisher alone first, then up "
            f"to {inp.tomcat_max_parallel} nodes at once, at most "
            f"{inferred.IMP_NODES_PER_TOMCAT_WAVE} IM&P node per wave (every presence "
            "redundancy group keeps a node up) and the IM&P publisher before its subscribers"
        )
        return _build(inp, facts, layers, "rolling", True, notes, split_at=None)
    assignment, optimal = assign_waves(inp, facts) if facts.work else ({}, True)
    layers = []
    for w in sorted(set(assignment.values())):
        layers.append([n.fqdn for n in facts.nodes if assignment.get(n.fqdn) == w])
    split_layer = [n.fqdn for n in facts.nodes if n.fqdn in facts.split_work]
    split_at: SplitAt = None
    if split_layer and by_primary:
        layers.insert(0, split_layer)
        split_at = "first"
        notes.append(
            "Cisco Trust Verification Service and Cisco Tftp restart first, on every node at "
            "once (no registration moves): TFTP then serves the new ITL. Before each wave "
            "that stops a CallManager holding phones, ucrenew resets that node's phones: the "
            "SCCP ones in batches, each back before the next, then the SIP ones just before "
            "the stop, so they boot onto their secondary instead of waiting out the SIP "
            "keepalive; phones no stage reached are reset in a last sweep. No wave fails "
            f"over more than {100 * (inp.max_phone_fraction_per_wave or 1):.0f}% of the phones "
            "unless one node alone holds more"
        )
    elif split_layer and staged:
        layers.insert(0, split_layer)
        split_at = "first"
        notes.append(
            "Cisco Trust Verification Service and Cisco Tftp restart first, on every node at "
            "once (no registration moves): TFTP then serves the new ITL. ucrenew resets the "
            "registered phones in batches, each re-registered before the next, before the "
            "first CallManager wave: every phone holds the new ITL (and CTL) before any node "
            "serves the new certificate, so none is reset again by CUCM or refused by a node"
        )
    elif split_layer:
        layers.append(split_layer)
        split_at = "last"
        notes.append(
            "Cisco Tftp restarts last, on every TFTP node at once, after every CallManager, "
            "CTIManager and TVS serves the new certificate: phones reset for the new ITL then"
        )
    if not optimal:
        notes.append("search budget reached: the plan is safe but may not have the fewest waves")
    return _build(
        inp, facts, layers, "rolling", optimal, notes, split_at=split_at, by_primary=by_primary
    )


def capped_tomcat_layers(facts: Facts, cap: int) -> list[list[str]]:
    """Waves of a change without phone impact whose nodes restart up to ``cap`` at once.

    The CUCM publisher goes alone first; then each wave takes the next IM&P node (publisher
    first, at most ``inferred.IMP_NODES_PER_TOMCAT_WAVE``) and fills up with CUCM subscribers
    to ``cap``. That is the fewest waves the rules allow: every wave but the last is full, or
    holds an IM&P node that could go nowhere earlier.

    Args:
        facts: the planner's facts (nodes in planner order, their work).
        cap: the most nodes in one wave, at least 1.

    Returns:
        FQDNs per wave, in execution order; each node in planner order within its wave.
    """
    order = {n.fqdn: i for i, n in enumerate(facts.nodes)}
    nodes = [n for n in facts.nodes if n.fqdn in facts.work]
    first = [n.fqdn for n in nodes if n.product == "cucm" and n.role == "publisher"]
    cucm = [n.fqdn for n in nodes if n.product == "cucm" and n.fqdn not in first]
    imp = [n.fqdn for n in nodes if n.product == "imp"]
    imp_pub = {n.fqdn for n in nodes if n.product == "imp" and n.role == "publisher"}
    per_wave = max(1, min(cap, inferred.IMP_NODES_PER_TOMCAT_WAVE))
    layers = [first] if first else []
    while cucm or imp:
        # The IM&P publisher's wave holds no IM&P subscriber: they come after it.
        take = 1 if imp and imp[0] in imp_pub else per_wave
        wave, imp = imp[:take], imp[take:]
        room = cap - len(wave)
        wave += cucm[:room]
        cucm = cucm[room:]
        layers.append(sorted(wave, key=order.__getitem__))
    return layers


def _staged_resets_apply(inp: RestartPlanInput) -> bool:
    """Staged resets need a CallManager change that restarts TFTP, and phones to reset.

    With tomcat in the same change TFTP keeps its place after the web restarts (§1.2: it
    caches the tomcat certificate), so the reset is left to CUCM as before.
    """
    if not inp.staged_phone_resets or "CallManager" not in inp.purposes:
        return False
    if "tomcat" in inp.purposes or not any(g.phones for g in inp.groups):
        return False
    return any(TFTP in node_services(n, ["CallManager"], inp.callmanager_key) for n in inp.nodes)


def naive_plan(inp: RestartPlanInput) -> RestartPlan:
    """The seed procedure: every affected service on every node, all in one wave.

    It is the baseline the phone-impact benchmark compares the rolling plan with; it ignores
    CallManager groups, so phones of every group whose members all restart have nowhere to go.
    """
    facts = _facts(inp)
    layers = [[n.fqdn for n in facts.nodes if n.fqdn in facts.work]] if facts.work else []
    return _build(inp, facts, layers, "naive", True, list(facts.notes), split_at=None)


def _build(
    inp: RestartPlanInput,
    facts: Facts,
    layers: list[list[str]],
    strategy: Strategy,
    optimal: bool,
    notes: list[str],
    *,
    split_at: SplitAt,
    by_primary: bool = False,
) -> RestartPlan:
    by_fqdn = {n.fqdn: n for n in facts.nodes}
    waves: list[RestartWave] = []
    wave_of: dict[str, int] = {}
    split_index = {"first": 1, "last": len(layers), None: 0}[split_at]
    for i, layer in enumerate(layers, start=1):
        restarts = []
        for fqdn in layer:
            node = by_fqdn[fqdn]
            work = facts.split_work if i == split_index else facts.work
            services = list(work[fqdn])
            lost = (
                list(tomcat_restart_losses(node.product, node.role, node.version))
                if TOMCAT in services
                else []
            )
            restarts.append(
                NodeRestart(
                    node=fqdn,
                    product=node.product,
                    role=node.role,
                    services=services,
                    unavailable=lost,
                )
            )
            if CALLMANAGER in services:
                wave_of[fqdn] = i
        down = {r.node for r in restarts if CALLMANAGER in r.services}
        failovers = _failovers(facts, down)
        web_down = {r.node for r in restarts if TOMCAT in r.services}
        tomcat_up = [n.fqdn for n in facts.nodes if n.fqdn not in web_down] if web_down else []
        waves.append(
            RestartWave(
                index=i,
                nodes=restarts,
                failovers=failovers,
                phones_affected=sum(f.phones for f in failovers),
                phones_stranded=sum(f.phones for f in failovers if f.to_node is None),
                tomcat_up=tomcat_up,
            )
        )
    unavoidable = []
    for g in facts.groups:
        live = facts.live[g.name]
        if len(live) == 1 and live[0] in wave_of:
            unavoidable.append(
                UnavoidableImpact(
                    group=g.name,
                    phones=g.phones,
                    node=live[0],
                    wave=wave_of[live[0]],
                    reason=(
                        f"{live[0]} is the only member of group {g.name} running Cisco "
                        f"CallManager: its {g.phones} phones have no alternative while it "
                        "restarts; add a second member to the group to avoid this"
                    ),
                )
            )
    # [INF] The CTL lists the CallManager-ECDSA certificates too: mixed mode updates it first.
    mixed_cm = inp.security_mode == 1 and bool(
        {"CallManager", "CallManager-ECDSA"} & set(inp.purposes)
    )
    reset_phones = split_at == "first"
    if any(CTIMANAGER in r.services for w in waves for r in w.nodes):
        notes.append(
            "Cisco CTIManager restarts move CTI applications (Jabber desk-phone control, "
            "contact-centre PGs) to their backup CTIManager for the length of the restart"
        )
    return RestartPlan(
        cluster=inp.cluster,
        purposes=list(dict.fromkeys(inp.purposes)),
        strategy=strategy,
        ctl_update_first=mixed_cm,
        reset_phones=reset_phones,
        waves=waves,
        stages=rollout_stages(
            waves,
            ctl_update_first=mixed_cm,
            reset_phones=reset_phones,
            by_primary=by_primary and reset_phones,
        ),
        unavoidable_impact=unavoidable,
        total_phones=facts.total_phones,
        optimal=optimal,
        notes=notes,
    )


def _callmanager_stops(wave: RestartWave) -> list[str]:
    return [r.node for r in wave.nodes if CALLMANAGER in r.services]


def rollout_stages(
    waves: Sequence[RestartWave],
    *,
    ctl_update_first: bool,
    reset_phones: bool,
    by_primary: bool = False,
) -> list[RolloutStage]:
    """The rollout in execution order: the one place that orders CTL, waves and resets.

    The CTL update comes before any restart (mixed mode: the CTL must name the new
    CallManager certificate before phones see it). Staged phone resets come right before the
    first wave that stops Cisco CallManager, after TFTP serves the new ITL. A wave that moves
    phones is followed by a health gate that also waits until the nodes the next wave stops
    hold no more phones than at home. With ``by_primary`` the resets go wave by wave instead
    (:func:`workflows.reset_order.stages_by_primary`).
    """
    if by_primary:
        return stages_by_primary(waves, ctl_update_first=ctl_update_first)
    stages: list[RolloutStage] = []
    if ctl_update_first:
        stages.append(RolloutStage(kind="ctl-update"))
    resets_pending = reset_phones
    for position, wave in enumerate(waves):
        if resets_pending and _callmanager_stops(wave):
            resets_pending = False
            stages.append(RolloutStage(kind="phone-resets"))
        gate = wave.phones_affected > 0
        following = waves[position + 1 : position + 2] if gate else []
        stages.append(
            RolloutStage(
                kind="wave",
                wave=wave.index,
                health_gate=gate,
                drain=[n for w in following for n in _callmanager_stops(w)],
            )
        )
    return stages


def _failovers(facts: Facts, down: set[str]) -> list[Failover]:
    """Groups whose home node is down in a wave, and where their phones go meanwhile."""
    out = []
    for g in facts.groups:
        live = facts.live[g.name]
        if not live or live[0] not in down:
            continue
        target = next((m for m in live if m not in down), None)
        out.append(Failover(group=g.name, phones=g.phones, from_node=live[0], to_node=target))
    return out


# --------------------------------------------------------------------------------------------
# Checks and presentation
# --------------------------------------------------------------------------------------------


def explain(plan: RestartPlan) -> list[str]:
    """Human lines for ``ucrenew plan``: nodes, services and expected phone impact per wave.

    Args:
        plan: a restart plan.

    Returns:
        One line per fact, indented under its wave.
    """
    purposes = ", ".join(plan.purposes)
    lines = [
        f"restarts for {purposes} on {plan.cluster}: {plan.strategy}, "
        f"{len(plan.waves)} wave(s), {plan.total_phones} phones in CallManager groups"
    ]
    for stage in plan.stages:
        if stage.kind == "ctl-update":
            lines.append("before any restart: utils ctl update CTLFile (cluster is in mixed mode)")
            continue
        if stage.kind == "phone-resets":
            lines.append(describe(stage))
            continue
        if stage.kind != "wave":
            continue
        wave = plan.wave(stage.wave)
        lines.append(f"wave {wave.index}:")
        for r in wave.nodes:
            lines.append(f"  {r.node} ({r.role}): restart {', '.join(r.services)}")
            if r.unavailable:
                lines.append(f"    users lose meanwhile: {'; '.join(r.unavailable)}")
        if wave.tomcat_up:
            lines.append(f"  still serving the web, AXL and UDS: {', '.join(wave.tomcat_up)}")
        if not wave.failovers:
            lines.append("  phones: no registrations move")
            continue
        share = (
            f" ({100 * wave.phones_affected / plan.total_phones:.0f}% of all)"
            if plan.total_phones
            else ""
        )
        lines.append(f"  phones: {wave.phones_affected} re-register{share}")
        for f in wave.failovers:
            if f.to_node:
                lines.append(
                    f"    group {f.group}: {f.phones} phones fail over {f.from_node} -> "
                    f"{f.to_node}, then fall back when {f.from_node} returns"
                )
            else:
                lines.append(
                    f"    group {f.group}: {f.phones} phones on {f.from_node} have NO running "
                    "member: unregistered until it returns"
                )
        if stage.health_gate:
            lines.append(
                "  then: wait until the phones are back"
                + (f" and have fallen back from {', '.join(stage.drain)}" if stage.drain else "")
            )
    for u in plan.unavoidable_impact:
        lines.append(f"unavoidable (wave {u.wave}): {u.reason}")
    lines.extend(f"note: {n}" for n in plan.notes)
    return lines


def restart_input_from_snapshot(
    snapshot: ClusterSnapshot,
    groups: Sequence[CmGroup],
    purposes: Sequence[Purpose],
    **options: object,
) -> RestartPlanInput:
    """Build the planner's input from what discovery saw plus the CallManager groups.

    Args:
        snapshot: discovery's snapshot (cluster version, nodes, activated services, mode).
        groups: CallManager groups with phone counts (AXL device pools + RisPort70).
        purposes: the purposes of the change.
        **options: further ``RestartPlanInput`` fields (caps, TFTP policy, key type).

    Returns:
        The input; a node without a cluster version fails validation.
    """
    return RestartPlanInput.model_validate(
        {
            "cluster": snapshot.cluster,
            "nodes": [
                {
                    "fqdn": n.fqdn,
                    "product": n.product,
                    "role": n.role,
                    "version": snapshot.version or "",
                    "services": [s.name for s in n.services if s.activated],
                }
                for n in snapshot.nodes
            ],
            "groups": [g.model_dump() for g in groups],
            "purposes": list(purposes),
            "security_mode": snapshot.security_mode or 0,
            **options,
        }
    )


def restart_plan_for(
    snapshot: ClusterSnapshot,
    purposes: Sequence[Purpose],
    strategy: Strategy = "rolling",
    max_phone_fraction_per_wave: float | None = None,
    staged_phone_resets: bool = False,
    tomcat_parallel: int = 1,
    resets_by_primary: bool = False,
    by_primary_max_phones: int | None = None,
) -> RestartPlan:
    """The restart plan of a change, as the renewal workflow and ``ucrenew plan`` both use it.

    Tomcat alone restarts one node at a time, publisher first, or with ``tomcat_parallel``
    above 1 the publisher alone and then up to that many nodes at once (the cluster's
    ``change_policy.restarts``, or ``--restart-parallel``); phone-impacting purposes get
    waves that keep every CallManager group running, optionally capped by the share of phones
    moving at once, and with ``staged_phone_resets`` ucrenew resets the phones itself
    (``RestartPlanInput.staged_phone_resets``). ``naive`` is the all-at-once plan of the manual
    procedure, which leaves the phone resets to CUCM.

    Above ``by_primary_max_phones`` phones the resets do not go by primary: a cluster that
    large has its phones reset by the phone-reset child workflows (``workflows.phone_resets``),
    which pick batches in name order on the worker to keep the change's history bounded.
    """
    groups = [
        CmGroup(name=g.name, members=g.members[:3], phones=g.phones)
        for g in snapshot.cm_groups
        if g.members
    ]
    total = sum(g.phones for g in groups)
    too_large = (
        staged_phone_resets
        and resets_by_primary
        and by_primary_max_phones is not None
        and total > by_primary_max_phones
    )
    if too_large:
        resets_by_primary = False
    options: dict[str, object] = {
        "staged_phone_resets": staged_phone_resets,
        "resets_by_primary": resets_by_primary,
    }
    if not phone_impact(purposes) and tomcat_parallel > 1:  # tomcat (RSA and ECDSA) only
        options["tomcat_max_parallel"] = tomcat_parallel
    elif not phone_impact(purposes):
        options["max_nodes_per_wave"] = 1
    elif max_phone_fraction_per_wave is not None:
        options["max_phone_fraction_per_wave"] = max_phone_fraction_per_wave
    planner_input = restart_input_from_snapshot(snapshot, groups, purposes, **options)
    if strategy == "naive":
        return naive_plan(planner_input)
    plan = plan_restarts(planner_input)
    if too_large:
        plan.notes.append(
            f"{total} phones, more than {by_primary_max_phones} (phone_resets_child_above): "
            "every phone is reset in name order before the first CallManager wave, by child "
            "workflows that keep the change's history bounded, not node by node just before "
            "each wave; SIP phones then fail over when their primary stops"
        )
    return plan
