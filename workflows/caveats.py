"""What a change's certificates say: the current ones per purpose, when a multi-server
certificate must be re-issued, and the known caveats of Cisco's procedure.

Cisco's tech note 118731 ends with three caveats and three reasons to re-issue:

- CSCur97909: a multi-server upload leaves the nodes' self-signed certificates in the
  database (:func:`leftover_findings`, from what ``find_leftover_certificates`` read);
- CSCus47235: a 10.5(2) CSR lacks its CN among the SANs (:func:`csr_cn_finding`);
- CSCup28852: phones reset every 7 minutes with a multi-server CallManager certificate
  (:func:`cscup28852_check`, from two RisPort looks a reset period apart);
- re-issue when a node was added, a subscriber restored without a backup, or a host name or
  domain changed (:func:`reissue_findings`, from discovery).

Each returns :class:`~workflows.models.Problem` findings: advice an operator reads in ``ucrenew
plan``/``show``/``report``, never a reason to stop. Pure functions: no I/O, no clock.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

from pydantic import BaseModel

from activities import catalog
from activities.catalog import Purpose
from activities.clients.cucm import inferred
from activities.cluster_models import ClusterSnapshot, LeftoverResult, NodeSnapshot
from activities.models import CertificateInfo, CsrInfo
from workflows.models import Problem


def scope(snapshot: ClusterSnapshot, purpose: Purpose) -> list[NodeSnapshot]:
    """The nodes a multi-server certificate of ``purpose`` names (snapshot order)."""
    products = catalog.purpose(purpose).san_products
    return [n for n in snapshot.nodes if n.product in products]


def certificate_notes(snapshot: ClusterSnapshot, purposes: Sequence[Purpose]) -> list[str]:
    """One line per purpose and node of its SAN: the certificate the change replaces.

    The served certificate is what clients see; an installed one that differs is not active
    yet (its services have not restarted since it was uploaded).
    """
    notes: list[str] = []
    for purpose in dict.fromkeys(purposes):
        label = catalog.purpose(purpose).verify_label
        for n in scope(snapshot, purpose):
            served = n.certificates.get(purpose)
            installed = n.installed.get(purpose)
            shown = served or installed
            if shown is None:
                why = n.certificate_errors.get(purpose) or "not read"
                notes.append(f"{n.fqdn}: current {purpose} certificate unknown ({why})")
                continue
            where = f"served on {label}" if served is not None else "installed"
            line = (
                f"{n.fqdn}: current {purpose} serial {shown.serial_hex} ({where}"
                f"{', self-signed' if shown.self_signed else ''}), expires "
                f"{shown.not_after:%Y-%m-%d}"
            )
            if served is not None and installed is not None and installed != served:
                line += f"; installed {installed.serial_hex} is not active yet"
            notes.append(line)
    return notes


def earliest_expiry(
    snapshot: ClusterSnapshot, purposes: Sequence[Purpose]
) -> CertificateInfo | None:
    """The current certificate that expires first among the purposes and their SAN nodes."""
    current = [
        cert
        for purpose in dict.fromkeys(purposes)
        for n in scope(snapshot, purpose)
        if (cert := n.current(purpose)) is not None
    ]
    return min(current, key=lambda c: c.not_after, default=None)


def reissue_findings(
    snapshot: ClusterSnapshot, purposes: Sequence[Purpose], other_domains: Sequence[str] = ()
) -> list[Problem]:
    """When the current multi-server certificate of a purpose must be re-issued.

    The current multi-server certificate is the CA-signed one most nodes of the purpose's SAN
    have installed (or serve, when the installed one could not be read), provided it names or
    is held by two nodes. Then (tech note 118731):

    - a node of the SAN it does not name was added since (``reissue-node-added``), and so
      was, for tomcat, a node AXL knows that it does not name;
    - a node it names that has a self-signed certificate again was rebuilt or restored
      without a backup (``reissue-node-restored``, CSCuv75957);
    - names in it that are no node of the cluster (nor the CN, the domain or an other
      domain of the change) are host names or domains that changed (``reissue-hosts-gone``).
    """
    findings: list[Problem] = []
    nodes = {n.fqdn.lower() for n in snapshot.nodes}
    known = nodes | {n.hostname.lower() for n in snapshot.nodes}
    extra = {d.lower() for d in other_domains} | {snapshot.domain.lower()}
    for purpose in dict.fromkeys(purposes):
        san = scope(snapshot, purpose)
        current = {n.fqdn: n.installed.get(purpose) or n.certificates.get(purpose) for n in san}
        multi = _multi_server(purpose, current)
        if multi is None:
            continue
        names = {d.lower() for d in multi.san_dns}
        what = f"the current multi-server {purpose} certificate (serial {multi.serial_hex})"
        for n in san:
            cert = current[n.fqdn]
            if cert is None or cert.sha256_fingerprint == multi.sha256_fingerprint:
                continue
            if n.fqdn.lower() not in names:
                findings.append(_added(purpose, n.fqdn, what))
            elif cert.self_signed:
                findings.append(
                    Problem(
                        code="reissue-node-restored",
                        node=n.fqdn,
                        message=(
                            f"{n.fqdn} has a self-signed {purpose} certificate (serial "
                            f"{cert.serial_hex}) although {what} names it: a node rebuilt or "
                            "restored without a backup (CSCuv75957). The multi-server "
                            "certificate must be re-issued for the whole cluster; this "
                            "renewal does it"
                        ),
                    )
                )
        if purpose == "tomcat":
            findings += [
                _added(purpose, name, what, axl=True)
                for name in snapshot.axl_nodes
                if name.lower() not in known and name.lower() not in names
            ]
        gone = [
            d
            for d in multi.san_dns
            if d.lower() not in nodes
            and d.lower() not in extra
            and d.lower() != (multi.subject_cn or "").lower()
        ]
        if gone:
            findings.append(
                Problem(
                    code="reissue-hosts-gone",
                    message=(
                        f"{what} names {', '.join(gone)}, no node of the cluster: a host name "
                        "or domain that changed (CUCM then regenerates self-signed "
                        "certificates). It must be re-issued; this renewal leaves those names "
                        "out unless they are given as other domains"
                    ),
                )
            )
    return findings


def _multi_server(
    purpose: Purpose, current: Mapping[str, CertificateInfo | None]
) -> CertificateInfo | None:
    ca_signed = [c for c in current.values() if c is not None and not c.self_signed]
    if not ca_signed:
        return None
    counts = Counter(c.sha256_fingerprint for c in ca_signed)
    fingerprint, holders = counts.most_common(1)[0]
    multi = next(c for c in ca_signed if c.sha256_fingerprint == fingerprint)
    named = {d.lower() for d in multi.san_dns} & {f.lower() for f in current}
    return multi if holders >= 2 or len(named) >= 2 else None


def _added(purpose: Purpose, node: str, what: str, axl: bool = False) -> Problem:
    where = "CUCM (AXL) knows node" if axl else "node"
    return Problem(
        code="reissue-node-added",
        node=node,
        message=(
            f"{where} {node} is not in the SANs of {what}: added since it was issued. The "
            "multi-server certificate must be re-issued to cover it"
            + (
                "; add the node to the inventory so this renewal does"
                if axl
                else "; this renewal does it"
            )
        ),
    )


def csr_cn_finding(info: CsrInfo, purpose: Purpose) -> Problem | None:
    """CSCus47235: the CSR's CN is not among its SANs (CUCM 10.5(2) left it out).

    Not a reason to stop: the CA is asked to add the CN as a SAN when it signs, since clients
    that check names read the SANs only.
    """
    cn = info.subject_cn
    if not cn or cn.lower() in {d.lower() for d in info.san_dns}:
        return None
    return Problem(
        code="cscus47235-cn-not-in-san",
        message=(
            f"the {purpose} CSR's common name {cn} is not among its SANs (CSCus47235, CUCM "
            f"10.5(2)): have the CA add {cn} as a SAN (DNS name) when it signs the "
            "certificate, since clients that check names read the SANs only"
        ),
    )


def leftover_findings(
    result: LeftoverResult, publisher_by_purpose: Mapping[str, str]
) -> list[Problem]:
    """CSCur97909: the former self-signed certificates a multi-server upload left behind, each
    with the CLI command that removes it (where and whether it applies cluster-wide)."""
    findings: list[Problem] = []
    for left in result.leftovers:
        command = inferred.CERT_DELETE_TRUST_COMMAND.format(store=left.store, file=left.file_name)
        if left.store in catalog.CLUSTER_WIDE_TRUST_DELETE:
            publisher = publisher_by_purpose.get(left.purpose) or left.nodes[0]
            where = f"on {publisher} (removes it from every node)"
        else:
            where = "on each of " + ", ".join(left.nodes)
        expires = f", expires {left.not_after:%Y-%m-%d}" if left.not_after else ""
        findings.append(
            Problem(
                code="cscur97909-self-signed-left",
                node=left.owner,
                message=(
                    f"the former self-signed {left.purpose} certificate of {left.owner} "
                    f"(serial {left.serial}{expires}) is still in {left.store} on "
                    f"{', '.join(left.nodes)} after the multi-server upload (CSCur97909); no "
                    f"node uses it any more. To remove it: `{command}` {where}"
                ),
            )
        )
    findings += [
        Problem(
            code="cscur97909-unread",
            node=node,
            message=f"could not list the trust store of {node} for CSCur97909 leftovers: {why}",
        )
        for node, why in result.errors.items()
    ]
    return findings


class PhoneResetCheck(BaseModel):
    """Two RisPort looks at the phones a reset period apart, and what they show."""

    watched: int
    re_registered: int
    window_seconds: float
    finding: Problem | None = None


def cscup28852_check(
    before: Mapping[str, int],
    after: Mapping[str, int],
    window_seconds: float,
    min_fraction: float = inferred.CSCUP28852_MIN_FRACTION,
) -> PhoneResetCheck:
    """CSCup28852: do the phones keep resetting after a multi-server CallManager certificate?

    Args:
        before: registered phones at the first look, name -> registration time (RisPort
            TimeStamp, epoch seconds).
        after: the same, at least one reset period (7 minutes) later.
        window_seconds: the time between the two looks.
        min_fraction: the share of phones that must have registered again (or be
            unregistered at the second look) for the bug to be suspected.
    """
    again = [n for n, stamp in before.items() if n not in after or after[n] > stamp]
    check = PhoneResetCheck(
        watched=len(before), re_registered=len(again), window_seconds=window_seconds
    )
    if before and len(again) >= min_fraction * len(before):
        check.finding = Problem(
            code="cscup28852-phones-resetting",
            message=(
                f"{len(again)} of {len(before)} phones registered again within "
                f"{window_seconds:g} s of a first look after the change (e.g. "
                f"{', '.join(sorted(again)[:3])}): with a multi-server CallManager "
                "certificate this is CSCup28852, phones resetting every 7 minutes. Nothing "
                "else should have restarted meanwhile; check the bug's fixed-in releases"
            ),
        )
    return check
