"""The change report: what a renewal did, for the change ticket (Markdown)."""

from __future__ import annotations

from activities.cluster_models import LeftoverCertificate
from workflows.models import RenewalStatus

_INTENT_OUTCOMES = {
    "done-after-retry": "done by ucrenew, confirmed by read-back after a retry",
    "unconfirmed": "not confirmed: it may have taken effect",
    "pending": "in progress",
}


def _intent_lines(status: RenewalStatus) -> list[str]:
    """The state-changing calls whose outcome a plain read-back would misstate: confirmed
    only after a retry, or never confirmed (recorded before each call, issue 16)."""
    notable = [i for i in status.intents if i.outcome in _INTENT_OUTCOMES]
    if not notable:
        return []
    lines = ["", "## Calls confirmed after a retry or not confirmed", ""]
    lines += [
        f"- {i.at:%Y-%m-%d %H:%M:%S} UTC {i.effect} {i.target}"
        + (f" ({i.detail})" if i.detail else "")
        + f": {_INTENT_OUTCOMES[i.outcome]}"
        for i in notable
    ]
    return lines


def markdown_report(status: RenewalStatus) -> str:
    """A Markdown report of one renewal, from its status (works for finished and running ones)."""
    lines = [
        f"# Certificate renewal {status.change_id}",
        "",
        f"- Cluster: {status.cluster}",
        f"- Purposes: {', '.join(status.purposes)}",
        f"- CA: {status.ca}"
        + (f" (request {status.ca_request_ref})" if status.ca_request_ref else ""),
        f"- Requested by: {status.requested_by}",
        f"- Started: {status.started_at:%Y-%m-%d %H:%M:%S} UTC"
        if status.started_at
        else "- Started: -",
        f"- Finished: {status.finished_at:%Y-%m-%d %H:%M:%S} UTC"
        if status.finished_at
        else f"- Finished: not yet (phase {status.phase}"
        + (f", awaiting {status.awaiting})" if status.awaiting else ")"),
        f"- Outcome: **{status.phase}**" + (f": {status.error}" if status.error else ""),
    ]
    for purpose, new in status.new_certificates.items():
        lines.append(
            f"- New {purpose} certificate: serial {new.serial}, SHA-256 {new.fingerprint}, "
            f"valid until {new.not_after:%Y-%m-%d}"
        )
    if status.new_serial and not status.new_certificates:
        until = f", valid until {status.new_not_after:%Y-%m-%d}" if status.new_not_after else ""
        lines.append(
            f"- New certificate: serial {status.new_serial}, SHA-256 {status.new_fingerprint}"
            + until
        )
    if status.phones_reset:
        lines.append(f"- Phones reset by ucrenew (new ITL/CTL): {status.phones_reset}")
    if status.plan is not None:
        lines += ["", f"## Plan {status.plan.plan_hash}", ""]
        lines += [
            f"{i}. {s.phase}: {s.action}" + (f" on {s.node}" if s.node else "")
            for i, s in enumerate(status.plan.steps, 1)
        ]
    if status.nodes:
        lines += ["", "## Nodes", "", *_node_lines(status)]
    if status.approvals:
        lines += ["", "## Approvals", ""]
        lines += [
            f"- {e.at:%Y-%m-%d %H:%M} UTC {e.actor} ({e.action}) {e.comment}".rstrip()
            for e in status.approvals
        ]
    if status.problems:
        lines += ["", "## Problems", ""]
        lines += [
            f"- {p.code}" + (f" ({p.node})" if p.node else "") + f": {p.message}"
            for p in status.problems
        ]
    if status.warnings:
        lines += ["", "## Preflight warnings", ""]
        lines += [
            f"- {p.code}" + (f" ({p.node})" if p.node else "") + f": {p.message}"
            for p in status.warnings
        ]
    if status.cancellation is not None:
        lines += [
            "",
            "## Cancellation",
            "",
            f"- by {status.cancellation.principal}: {status.cancellation.reason}",
        ]
    if status.failures:
        lines += ["", "## What failed", ""]
        for f in status.failures:
            wave = f" in restart wave {f.wave}" if f.wave is not None else ""
            lines.append(f"- {f.step} of {f.service or f.purpose} on {f.node}{wave}: {f.reason}")
            lines += [f"  - {line}" for line in f.advice]
    if status.waves:
        lines += ["", "## Restart waves", "", "| wave | node | services |", "|---|---|---|"]
        for progress in status.waves:
            lines += [
                f"| {progress.index} ({progress.state}) | {fqdn} | "
                + ", ".join(f"{name}: {state}" for name, state in services.items())
                + " |"
                for fqdn, services in progress.services.items()
            ]
    if status.failed_step is not None:
        failed = status.failed_step
        waiting = status.awaiting == "operator"
        lines += [
            "",
            "## Waiting for a decision" if waiting else "## Failed node step (left undecided)",
            "",
            f"- {failed.step} of {failed.service or failed.purpose} on {failed.node} failed: "
            f"{failed.reason}",
        ]
    if status.skipped_nodes:
        lines += ["", "## Not renewed (left out by an operator)", ""]
        lines += [f"- {fqdn}: {status.node(fqdn).detail}" for fqdn in status.skipped_nodes]
    if status.rolled_back:
        lines += ["", "## Rolled back", ""]
        for fqdn, purposes in status.rolled_back.items():
            state = status.node(fqdn).steps.get("rollback", "")
            restarted = "and restarted" if state == "done" else "but not restarted yet"
            lines.append(
                f"- {fqdn}: {', '.join(purposes)} regenerated self-signed "
                f"(set cert regen) {restarted}"
            )
    if status.outstanding:
        lines += ["", "## Left to do", ""] + [f"- {o}" for o in status.outstanding]
    lines += _intent_lines(status)
    lines += _caveat_lines(status)
    lines += leftover_removal_lines(status)
    if status.audit:
        lines += [
            "",
            "## Audit trail",
            "",
            "| when (UTC) | who | what | comment |",
            "|---|---|---|---|",
        ]
        lines += [
            f"| {e.at:%Y-%m-%d %H:%M:%S} | {e.actor} | {e.action} | {e.comment.replace('|', '/')} |"
            for e in status.audit
        ]
    return "\n".join(lines) + "\n"


def _node_lines(status: RenewalStatus) -> list[str]:
    """The nodes table: one row per node and purpose of the change."""
    lines = [
        "| node | purpose | old serial | old expiry | new serial | verified | note |",
        "|---|---|---|---|---|---|---|",
    ]
    for n in status.nodes:
        if not n.certificates:
            lines.append(
                f"| {n.node} |  | {n.old_serial or ''} |  | {n.new_serial or ''} | "
                f"{'yes' if n.verified else 'no'} | {n.detail} |"
            )
            continue
        for i, (purpose, cert) in enumerate(n.certificates.items()):
            expiry = f"{cert.old_not_after:%Y-%m-%d}" if cert.old_not_after else ""
            old = (cert.old_serial or "") + (" (self-signed)" if cert.old_self_signed else "")
            lines.append(
                f"| {n.node if i == 0 else ''} | {purpose} | {old} | {expiry} | "
                f"{cert.new_serial or ''} | {'yes' if cert.verified else 'no'} | "
                f"{n.detail if i == 0 else ''} |"
            )
    return lines


def _caveat_lines(status: RenewalStatus) -> list[str]:
    """Known caveats and re-issue needs the renewal found, and the post-change check."""
    lines = [
        f"- {f.code}" + (f" ({f.node})" if f.node else "") + f": {f.message}"
        for f in status.findings
    ]
    if "CallManager" in status.purposes and status.phase == "done":
        lines.append(
            f"- CSCup28852 (phones resetting every 7 minutes with a multi-server CallManager "
            f"certificate) shows only over time: run `ucrenew check {status.change_id}` "
            "after the change"
        )
    return ["", "## Caveats and advice", "", *lines] if lines else []


def leftover_removal_lines(status: RenewalStatus) -> list[str]:
    """The opt-in removal of CSCur97909 leftovers: proposed, decided, removed (Markdown)."""
    removal = status.leftover_removal
    if removal is None:
        return []

    def paths(certs: list[LeftoverCertificate]) -> str:
        return ", ".join(f"{c.store}/{c.file_name}" for c in certs) or "none"

    lines = [
        "",
        "## CSCur97909 leftovers removal",
        "",
        f"- proposed ({removal.decision}, approval bound to {removal.leftovers_hash}): "
        + paths(removal.proposed),
    ]
    if removal.decision == "approved":
        lines += [
            f"- removed: {paths(removal.removed)}",
            f"- already gone: {paths(removal.already_gone)}",
        ]
        if removal.still_present:
            lines.append(f"- still present: {paths(removal.still_present)}")
    lines += [f"- error on {node}: {why}" for node, why in removal.errors.items()]
    return lines
