"""The fleet view of one cluster from its discovery snapshot: certificates by purpose, days to
expiry and drift. Pure functions that take ``now`` (the scan workflow passes
``workflow.now()``, tests fixed times).

Drift, per purpose:

- ``differs-between-nodes``: the purpose has a multi-server (SAN) certificate (one naming two
  or more of its nodes) but some nodes of its SAN set serve another one;
- ``not-from-last-change``: a node serves a certificate other than the one the last completed
  ucrenew change of the purpose installed (someone replaced it by hand, or a restore);
- ``served-not-installed``: a node serves a certificate other than the one installed (the
  activating restart has not happened);
- ``expiring`` / ``expired``: the earliest expiry is within ``warning_days`` / past;
- ``unreadable``: a node's certificate could not be read (the error says why);
- ``node-not-in-san``: the purpose's multi-server certificate does not name a node of its SAN
  set (a node added after it was issued);
- ``self-signed``: a node serves a self-signed certificate where a CA-signed one was issued
  (by the last ucrenew change, or on the purpose's other nodes): a node restored without
  backup, or rebuilt;
- ``name-mismatch``: the certificate a node serves names neither its FQDN in its SANs nor in
  its CN (a host or domain renamed);
- ``ca-expiring``: a CA of the chain (one ucrenew installed) expires within
  ``ca_warning_days``;
- ``renewal-due``: the certificate has passed its renewal threshold (``threshold_days`` left,
  default a third of its lifetime) and has not expired yet.

The auto-renew decision (:func:`auto_renew_due`), the change id of a renewal the scan starts
(:func:`auto_change_id`) and the per-cluster jitter (:func:`jitter_seconds`) are here too.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from datetime import datetime, timedelta

from activities import catalog
from activities.cluster_models import ClusterSnapshot, NodeSnapshot
from activities.fleet_models import AutoRenewPolicy, FleetTarget, KnownCa, LastRenewals
from activities.models import CertificateInfo
from workflows.fleet_models import (
    DriftFinding,
    FleetCertificate,
    FleetCluster,
    FleetNode,
    FleetPurpose,
    days_between,
)

__all__ = [
    "ALWAYS_DUE",
    "auto_change_id",
    "auto_renew_due",
    "fleet_cluster",
    "fleet_purposes",
    "jitter_seconds",
    "normal_serial",
]

#: Drift kinds that make a purpose due whatever the policy's ``on_drift`` says.
ALWAYS_DUE = ("renewal-due", "expired")


def fleet_purposes(target: FleetTarget) -> list[catalog.Purpose]:
    """The purposes a cluster has: those whose SAN covers one of its products, available on
    its release (the ECDSA ones from 14; left out when the inventory gives no version)."""
    return [
        name
        for name, spec in catalog.PURPOSES.items()
        if set(spec.san_products) & set(target.products) and spec.available_on(target.version or "")
    ]


def normal_serial(serial: str) -> str:
    """A serial in one spelling: lower-case hex without separators or leading zeros."""
    return serial.lower().replace(":", "").lstrip("0") or "0"


def _cert(info: CertificateInfo | None, now: datetime) -> FleetCertificate | None:
    if info is None:
        return None
    return FleetCertificate(
        subject=info.subject,
        subject_cn=info.subject_cn,
        sans=[*info.san_dns, *info.san_ip],
        serial=info.serial_hex,
        fingerprint=info.sha256_fingerprint,
        issuer=info.issuer,
        self_signed=info.self_signed,
        not_before=info.not_before,
        not_after=info.not_after,
        days_to_expiry=days_between(now, info.not_after),
    )


def _node(snap: NodeSnapshot, purpose: str, now: datetime) -> FleetNode:
    served = snap.certificates.get(purpose)
    installed = snap.installed.get(purpose)
    error = snap.certificate_errors.get(purpose)
    if served is None and installed is None and error is None:
        error = snap.https_error or snap.ssh_error or "not read"
    same = (
        served is not None
        and installed is not None
        and served.sha256_fingerprint == installed.sha256_fingerprint
    )
    return FleetNode(
        node=snap.fqdn,
        role=snap.role,
        product=snap.product,
        served=_cert(served, now),
        installed=None if same else _cert(installed, now),
        installed_same=same,
        error=error,
    )


def _current(node: FleetNode) -> FleetCertificate | None:
    """What the node presents: the served certificate, else the installed one."""
    return node.served or node.installed


def _drift(
    purpose: str,
    nodes: list[FleetNode],
    last: LastRenewals | None,
    days: int | None,
    warning_days: int,
    now: datetime,
    policy: AutoRenewPolicy,
) -> list[DriftFinding]:
    findings: list[DriftFinding] = []
    unreadable = [n.node for n in nodes if n.error]
    if unreadable:
        findings.append(
            DriftFinding(
                kind="unreadable",
                nodes=unreadable,
                message="; ".join(f"{n.node}: {n.error}" for n in nodes if n.error),
            )
        )
    current = {n.node: c for n in nodes if (c := _current(n)) is not None}
    names = {n.node.lower() for n in nodes}
    multi = any(len(names & {s.lower() for s in c.sans}) >= 2 for c in current.values())
    fingerprints = Counter(c.fingerprint for c in current.values())
    if multi and len(fingerprints) > 1:
        # The most common certificate is the set's; ties go to the latest expiry.
        common = max(
            fingerprints,
            key=lambda fp: (
                fingerprints[fp],
                max(c.not_after for c in current.values() if c.fingerprint == fp),
            ),
        )
        odd = sorted(node for node, c in current.items() if c.fingerprint != common)
        findings.append(
            DriftFinding(
                kind="differs-between-nodes",
                nodes=odd,
                message=f"{purpose} is a multi-server certificate but "
                f"{', '.join(odd)} serve{'s' if len(odd) == 1 else ''} another one",
            )
        )
    if multi:
        findings.extend(_not_in_san(purpose, nodes, current, fingerprints))
    findings.extend(_self_signed(purpose, current, last))
    findings.extend(_name_mismatch(purpose, nodes, current))
    findings.extend(_ca_expiring(purpose, current, last.cas if last else [], now, policy))
    installed_by_us = last.by_purpose.get(purpose) if last is not None else None
    if installed_by_us is not None:
        want = normal_serial(installed_by_us.serial)
        other = sorted(n for n, c in current.items() if normal_serial(c.serial) != want)
        if other:
            findings.append(
                DriftFinding(
                    kind="not-from-last-change",
                    nodes=other,
                    message=f"{', '.join(other)} serve{'s' if len(other) == 1 else ''} a "
                    f"certificate other than serial {installed_by_us.serial} that "
                    f"{installed_by_us.change_id} installed",
                )
            )
    pending = sorted(
        n.node
        for n in nodes
        if n.served is not None
        and n.installed is not None
        and n.served.fingerprint != n.installed.fingerprint
    )
    if pending:
        findings.append(
            DriftFinding(
                kind="served-not-installed",
                nodes=pending,
                message=f"{', '.join(pending)} serve{'s' if len(pending) == 1 else ''} a "
                f"certificate other than the installed {purpose} one: restart what activates "
                "it",
            )
        )
    if days is not None and days < 0:
        expired = sorted(n for n, c in current.items() if c.days_to_expiry < 0)
        findings.append(
            DriftFinding(
                kind="expired",
                nodes=expired,
                message=f"{purpose} expired {-days} day(s) ago on {', '.join(expired)}",
            )
        )
    elif days is not None and days < warning_days:
        soon = sorted(n for n, c in current.items() if c.days_to_expiry < warning_days)
        findings.append(
            DriftFinding(
                kind="expiring",
                nodes=soon,
                message=f"{purpose} expires in {days} day(s) (warning at {warning_days})",
            )
        )
    if days is None or days >= 0:
        findings.extend(_renewal_due(purpose, current, now, policy))
    return findings


def _plural(nodes: list[str], one: str, many: str) -> str:
    return f"{', '.join(nodes)} {one if len(nodes) == 1 else many}"


def _names(cert: FleetCertificate) -> set[str]:
    names = {s.lower().rstrip(".") for s in cert.sans}
    if cert.subject_cn:
        names.add(cert.subject_cn.lower().rstrip("."))
    return names


def _names_node(cert: FleetCertificate, fqdn: str) -> bool:
    """Whether ``cert`` names ``fqdn`` in a SAN or its CN (a wildcard covers one label)."""
    want = fqdn.lower().rstrip(".")
    names = _names(cert)
    if want in names:
        return True
    _, _, parent = want.partition(".")
    return bool(parent) and f"*.{parent}" in names


def _not_in_san(
    purpose: str,
    nodes: list[FleetNode],
    current: dict[str, FleetCertificate],
    fingerprints: Counter[str],
) -> list[DriftFinding]:
    # The set's certificate is the one naming the most nodes, then the most served.
    best = max(
        current.values(),
        key=lambda c: (sum(_names_node(c, n.node) for n in nodes), fingerprints[c.fingerprint]),
    )
    missing = sorted(n.node for n in nodes if not _names_node(best, n.node))
    if not missing:
        return []
    return [
        DriftFinding(
            kind="node-not-in-san",
            nodes=missing,
            message=f"the {purpose} multi-server certificate (serial {best.serial}) does not "
            f"name {', '.join(missing)}: renew it to add "
            f"{'that node' if len(missing) == 1 else 'those nodes'}",
        )
    ]


def _self_signed(
    purpose: str, current: dict[str, FleetCertificate], last: LastRenewals | None
) -> list[DriftFinding]:
    selfish = sorted(n for n, c in current.items() if c.self_signed)
    if not selfish:
        return []
    by_us = last.by_purpose.get(purpose) if last is not None else None
    ca_signed = [n for n, c in current.items() if not c.self_signed]
    if by_us is None and not ca_signed:
        return []
    source = (
        f"{by_us.change_id} installed a CA-signed one"
        if by_us is not None
        else f"{', '.join(sorted(ca_signed))} serve a CA-signed one"
    )
    return [
        DriftFinding(
            kind="self-signed",
            nodes=selfish,
            message=f"{_plural(selfish, 'serves', 'serve')} a self-signed {purpose} "
            f"certificate where {source} (restored without backup, or rebuilt?)",
        )
    ]


def _name_mismatch(
    purpose: str, nodes: list[FleetNode], current: dict[str, FleetCertificate]
) -> list[DriftFinding]:
    wrong = sorted(
        n.node for n in nodes if n.node in current and not _names_node(current[n.node], n.node)
    )
    if not wrong:
        return []
    shown = ", ".join(sorted(_names(current[wrong[0]]))) or "no name"
    return [
        DriftFinding(
            kind="name-mismatch",
            nodes=wrong,
            message=f"the {purpose} certificate {_plural(wrong, 'serves', 'serve')} does not "
            f"name {'its' if len(wrong) == 1 else 'their'} FQDN (it names {shown}): host or "
            "domain renamed?",
        )
    ]


def _ca_expiring(
    purpose: str,
    current: dict[str, FleetCertificate],
    cas: list[KnownCa],
    now: datetime,
    policy: AutoRenewPolicy,
) -> list[DriftFinding]:
    by_subject = {ca.subject: ca for ca in cas}
    soon: dict[str, tuple[KnownCa, set[str]]] = {}
    for node, cert in current.items():
        if cert.self_signed:
            continue
        issuer, seen = cert.issuer, set()
        while issuer in by_subject and issuer not in seen:
            seen.add(issuer)
            ca = by_subject[issuer]
            if days_between(now, ca.not_after) < policy.ca_warning_days:
                soon.setdefault(ca.subject, (ca, set()))[1].add(node)
            if ca.issuer == ca.subject:
                break
            issuer = ca.issuer
    findings = []
    for subject, (ca, on) in sorted(soon.items()):
        left = days_between(now, ca.not_after)
        when = f"expired {-left} day(s) ago" if left < 0 else f"expires in {left} day(s)"
        findings.append(
            DriftFinding(
                kind="ca-expiring",
                nodes=sorted(on),
                message=f"CA {subject} of the {purpose} chain {when} (warning at "
                f"{policy.ca_warning_days}): renew with a CA that outlives the certificate",
            )
        )
    return findings


def _threshold(cert: FleetCertificate, policy: AutoRenewPolicy) -> timedelta | None:
    if policy.threshold_days is not None:
        return timedelta(days=policy.threshold_days)
    if cert.not_before is None:
        return None
    return (cert.not_after - cert.not_before) / 3


def _renewal_due(
    purpose: str, current: dict[str, FleetCertificate], now: datetime, policy: AutoRenewPolicy
) -> list[DriftFinding]:
    due: list[str] = []
    limit: timedelta | None = None
    for node, cert in sorted(current.items()):
        threshold = _threshold(cert, policy)
        if threshold is not None and now <= cert.not_after and cert.not_after - now < threshold:
            due.append(node)
            limit = threshold if limit is None else max(limit, threshold)
    if not due or limit is None:
        return []
    left = min(days_between(now, current[n].not_after) for n in due)
    rule = (
        f"threshold {policy.threshold_days} day(s)"
        if policy.threshold_days is not None
        else f"a third of its lifetime, {limit // timedelta(days=1)} day(s)"
    )
    return [
        DriftFinding(
            kind="renewal-due",
            nodes=due,
            message=f"{purpose} has {left} day(s) left on {', '.join(due)}: renewal due ({rule})",
        )
    ]


def auto_renew_due(cluster: FleetCluster, policy: AutoRenewPolicy) -> dict[str, list[str]]:
    """The purposes a scan renews on the cluster, each with the kinds of the findings that
    make it due (their messages are in the cluster's view): a purpose the policy watches (all
    when it names none) with a ``renewal-due`` or ``expired`` finding, or drift of a kind in
    its ``on_drift``. Empty when nothing is due."""
    triggers = {*ALWAYS_DUE, *policy.on_drift}
    due: dict[str, list[str]] = {}
    for p in cluster.purposes:
        if policy.purposes and p.purpose not in policy.purposes:
            continue
        reasons: list[str] = list(dict.fromkeys(d.kind for d in p.drift if d.kind in triggers))
        if reasons:
            due[p.purpose] = reasons
    return due


_ID_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def auto_change_id(cluster: str, now: datetime) -> str:
    """``AUTO-<cluster>-<yyyymmdd>``: the change id (and workflow id) of the renewal a scan
    starts on ``now``'s UTC day; at most one a day per cluster."""
    return f"AUTO-{_ID_UNSAFE.sub('-', cluster)}-{now:%Y%m%d}"


def jitter_seconds(cluster: str, window_seconds: int) -> int:
    """The cluster's start offset in ``[0, window_seconds)``: the same every scan (a hash of
    its name), so hundreds of clusters due together start spread over the window. In whole
    minutes once the window is a minute or more: clusters of one minute share the scan's timer
    (fewer history events at fleet size)."""
    if window_seconds <= 0:
        return 0
    value = int.from_bytes(hashlib.sha256(cluster.encode("utf-8")).digest()[:8], "big")
    if window_seconds < 60:
        return value % window_seconds
    return (value % (window_seconds // 60)) * 60


def fleet_cluster(
    target: FleetTarget,
    snapshot: ClusterSnapshot,
    last: LastRenewals | None,
    now: datetime,
    warning_days: int,
    policy: AutoRenewPolicy | None = None,
) -> FleetCluster:
    """One cluster of the fleet view: per purpose of the cluster, its nodes' certificates,
    the earliest expiry and the drift findings (thresholds from ``policy``, defaults without
    one). A cluster none of whose certificates could be read is ``failed``, with the nodes'
    errors."""
    rules = policy or AutoRenewPolicy()
    purposes: list[FleetPurpose] = []
    for purpose in fleet_purposes(target):
        spec = catalog.purpose(purpose)
        nodes = [_node(n, purpose, now) for n in snapshot.nodes if n.product in spec.san_products]
        expiries = [c.not_after for n in nodes if (c := _current(n)) is not None]
        not_after = min(expiries, default=None)
        days = None if not_after is None else days_between(now, not_after)
        by_us = last.by_purpose.get(purpose) if last is not None else None
        purposes.append(
            FleetPurpose(
                purpose=purpose,
                nodes=nodes,
                not_after=not_after,
                days_to_expiry=days,
                last_change_id=by_us.change_id if by_us else None,
                last_change_serial=by_us.serial if by_us else None,
                drift=_drift(purpose, nodes, last, days, warning_days, now, rules),
            )
        )
    read_any = any(_current(n) is not None for p in purposes for n in p.nodes)
    if purposes and not read_any:
        errors = sorted({n.error for p in purposes for n in p.nodes if n.error})
        return FleetCluster(
            cluster=target.cluster,
            status="failed",
            error="no certificate could be read: " + "; ".join(errors),
            error_type="Unreachable",
            version=snapshot.version or target.version,
            read_at=snapshot.taken_at,
            purposes=purposes,
        )
    return FleetCluster(
        cluster=target.cluster,
        version=snapshot.version or target.version,
        read_at=snapshot.taken_at,
        purposes=purposes,
    )
