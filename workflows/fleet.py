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
- ``unreadable``: a node's certificate could not be read (the error says why).
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from activities import catalog
from activities.cluster_models import ClusterSnapshot, NodeSnapshot
from activities.fleet_models import FleetTarget, LastRenewals
from activities.models import CertificateInfo
from workflows.fleet_models import (
    DriftFinding,
    FleetCertificate,
    FleetCluster,
    FleetNode,
    FleetPurpose,
    days_between,
)

__all__ = ["fleet_cluster", "fleet_purposes", "normal_serial"]


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
    return findings


def fleet_cluster(
    target: FleetTarget,
    snapshot: ClusterSnapshot,
    last: LastRenewals | None,
    now: datetime,
    warning_days: int,
) -> FleetCluster:
    """One cluster of the fleet view: per purpose of the cluster, its nodes' certificates,
    the earliest expiry and the drift findings. A cluster none of whose certificates could be
    read is ``failed``, with the nodes' errors."""
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
                drift=_drift(purpose, nodes, last, days, warning_days),
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
