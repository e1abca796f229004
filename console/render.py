"""Rich renderings of plans and renewal status, shared by show, watch, plan and demo."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from activities.clients.itsm.models import ChangeRecordCheck
from activities.cluster_models import ClusterSnapshot
from console.report import leftover_removal_lines
from workflows.health_checks import age_text
from workflows.models import Problem, RenewalPlan, RenewalStatus

#: Longer than Cisco Tomcat's restart normally takes (1-4 min, cucm-interfaces.md §13): a step
#: on a node that has run this long is shown as possibly stalled.
SLOW_STEP = timedelta(minutes=5)
PHASE_STYLE = {"done": "green", "failed": "red", "cancelled": "yellow"}
STEP_MARK = {
    "pending": "[dim]·[/]",
    "running": "[cyan]…[/]",
    "done": "[green]✓[/]",
    "failed": "[red]✗[/]",
    "skipped": "[dim]-[/]",
    "interrupted": "[yellow]?[/]",
    "rolled-back": "[yellow]↺[/]",
}


def plan_table(plan: RenewalPlan) -> Table:
    """The plan's steps, numbered."""
    table = Table(title=f"plan {plan.plan_hash} for {plan.cluster} ({', '.join(plan.purposes)})")
    table.add_column("#", justify="right")
    table.add_column("phase")
    table.add_column("action")
    table.add_column("node")
    table.add_column("detail", overflow="fold")
    for i, step in enumerate(plan.steps, 1):
        table.add_row(str(i), step.phase, step.action, step.node or "", step.detail)
    path = plan.certificate_path
    if path is not None:
        release = f"CUCM {path.release}" if path.release else "release unknown"
        table.caption = (
            f"{release}, {path.distribution}: CSR via {path.label('csr')}, CA certificates "
            f"via {path.label('trust')}, upload via {path.label('identity')}, read back via "
            f"{path.label('readback')}"
        )
    return table


def problems_table(
    problems: list[Problem],
    title: str = "problems",
    style: str = "red",
    kind: str = "problem",
    advice: str = "what to do",
) -> Table:
    """Problems that stop a renewal (or, titled otherwise, findings that do not)."""
    table = Table(title=title, title_style=style)
    table.add_column(kind)
    table.add_column("node")
    table.add_column(advice, overflow="fold")
    for p in problems:
        table.add_row(p.code, p.node or "", p.message)
    return table


def findings_table(findings: list[Problem]) -> Table:
    """Findings that do not stop a change: known caveats, re-issue needs."""
    return problems_table(
        findings, "caveats and advice", "yellow", "finding", "what it means / what to do"
    )


def _node_rows(status: RenewalStatus) -> Table:
    """One row per node and purpose of the change: serials replaced and installed."""
    nodes = Table(show_edge=False)
    for col in ("node", "restart", "verify", "purpose", "old serial", "expires", "new serial"):
        nodes.add_column(col, overflow="fold")
    nodes.add_column("detail", overflow="fold")
    for n in status.nodes:
        marks = (
            STEP_MARK.get(n.steps.get("restart", ""), ""),
            STEP_MARK.get(n.steps.get("verify", ""), ""),
        )
        if not n.certificates:
            nodes.add_row(n.node, *marks, "", n.old_serial or "", "", n.new_serial or "", n.detail)
            continue
        for i, (purpose, cert) in enumerate(n.certificates.items()):
            expires = f"{cert.old_not_after:%Y-%m-%d}" if cert.old_not_after else ""
            nodes.add_row(
                n.node if i == 0 else "",
                *(marks if i == 0 else ("", "")),
                purpose + (" ✓" if cert.verified else ""),
                cert.old_serial or "",
                expires,
                cert.new_serial or "",
                n.detail if i == 0 else "",
            )
    return nodes


def waves_table(status: RenewalStatus) -> Table:
    """The restart waves so far: per wave and node, each service's state in that wave (a
    node restarted in several waves has a row in each, never a state carried over)."""
    table = Table(title="restart waves", show_edge=False)
    for col in ("wave", "node", "services"):
        table.add_column(col, overflow="fold")
    for wave in status.waves:
        for i, (fqdn, services) in enumerate(wave.services.items()):
            table.add_row(
                f"{wave.index} {STEP_MARK.get(wave.state, wave.state)}" if i == 0 else "",
                fqdn,
                ", ".join(
                    f"{name} {STEP_MARK.get(state, state)}" for name, state in services.items()
                ),
            )
    return table


def failures_view(status: RenewalStatus) -> RenderableType:
    """What failed (service or purpose, node, wave) and what to do about it."""
    parts: list[RenderableType] = []
    for f in status.failures:
        what = f.service or f.purpose
        wave = f" in wave {f.wave}" if f.wave is not None else ""
        parts.append(Text(f"failed: {f.step} of {what} on {f.node}{wave}: {f.reason}", "red"))
        parts.extend(Text(f"  - {line}", style="yellow") for line in f.advice)
    return Group(*parts)


def warnings_table(warnings: list[Problem]) -> Table:
    """Preflight warnings: the renewal goes on, an operator should know."""
    table = Table(title="warnings (the change may go on)", title_style="yellow")
    table.add_column("warning", style="yellow")
    table.add_column("node")
    table.add_column("what it means", overflow="fold")
    for p in warnings:
        table.add_row(p.code, p.node or "", p.message)
    return table


def health_table(snapshot: ClusterSnapshot, now: datetime) -> RenderableType:
    """Pre-change health as discovery read it: per node NTP, common partition, core files;
    then the DRS backups with the age of the last successful one."""
    table = Table(title="pre-change health", show_edge=False)
    for col in ("node", "NTP", "common partition", "core files", "replication"):
        table.add_column(col, overflow="fold")
    for n in snapshot.nodes:
        h = n.health
        if h is None:
            table.add_row(n.fqdn, "[dim]not read[/]", "", "", "")
            continue
        if h.ntp is None:
            ntp = f"[yellow]? {h.ntp_error}[/]"
        elif h.ntp.synchronised:
            ntp = f"[green]synchronised[/] (stratum {h.ntp.stratum})"
        else:
            ntp = "[red]unsynchronised[/]"
        common = h.partition("logging")
        disk = f"{common.used_percent}% used" if common else f"[yellow]? {h.disk_error}[/]"
        if h.cores_error:
            cores = f"[yellow]? {h.cores_error}[/]"
        else:
            cores = str(len(h.core_files)) if h.core_files else "none"
        state = snapshot.replication_state(n)
        table.add_row(n.fqdn, ntp, disk, cores, "" if state is None else str(state))
    if snapshot.backup is not None:
        b = snapshot.backup
        if b.last_success is None:
            line = Text("DRS backup: no successful backup", style="red")
        else:
            line = Text(
                f"DRS backup: last successful {b.last_success:%Y-%m-%d %H:%M} UTC "
                f"({age_text(now - b.last_success)} ago)"
            )
        if b.latest is not None and not b.latest.succeeded:
            line.append(f"; latest ended {b.latest.result}", style="yellow")
    elif snapshot.backup_error:
        line = Text(f"DRS backup: could not read ({snapshot.backup_error})", style="yellow")
    else:
        return table
    return Group(table, line)


def change_record_line(check: ChangeRecordCheck | None) -> Text | None:
    """One line on the change record (inventory ``itsm:``): what it says and the verdict."""
    if check is None:
        return None
    if not check.found:
        return Text(f"change record {check.change_id}: not found in {check.system}", style="red")
    record = check.record
    line = Text(f"change record {check.change_id} ({check.system})")
    if record is not None:
        state = record.state_label or record.state or "no state"
        line.append(f": {state}, approval {record.approval or 'none'}")
        if record.planned_start and record.planned_end:
            line.append(
                f", planned {record.planned_start:%Y-%m-%d %H:%M} to "
                f"{record.planned_end:%Y-%m-%d %H:%M} UTC"
            )
    if check.allowed:
        line.append("  allows the change", style="green")
    else:
        line.append("  does not allow the change", style="red" if check.blocking else "yellow")
    return line


def status_view(status: RenewalStatus) -> RenderableType:
    """The whole status of a renewal: header, per-node progress, audit trail."""
    style = PHASE_STYLE.get(status.phase, "cyan")
    head = Text.assemble(
        (status.change_id, "bold"),
        f"  cluster {status.cluster}  purposes {', '.join(status.purposes)}  CA {status.ca}  ",
        ("phase ", ""),
        (status.phase, style),
    )
    if status.awaiting:
        head.append(f"  awaiting {status.awaiting}", style="bold yellow")
    parts: list[RenderableType] = [head]
    parts.extend(waiting_lines(status, datetime.now(UTC)))
    if status.error:
        parts.append(Text(f"error: {status.error}", style="red"))
    if status.question:
        parts.append(Text(f"question: {status.question}", style="bold yellow"))
    record_line = change_record_line(status.change_record)
    if record_line is not None:
        parts.append(record_line)
    if status.failures:
        parts.append(failures_view(status))
    if status.nodes:
        parts.append(_node_rows(status))
    if status.waves:
        parts.append(waves_table(status))
    if status.problems:
        parts.append(problems_table(status.problems))
    if status.findings:
        parts.append(findings_table(status.findings))
    if status.warnings:
        parts.append(warnings_table(status.warnings))
    for i, refused in enumerate(status.refused_submissions, 1):
        parts.append(
            Text(
                f"refused submission {i}: " + "; ".join(p.message for p in refused), style="yellow"
            )
        )
    removal = leftover_removal_lines(status)
    if removal:
        parts.extend(Text(line) for line in removal[1:] if line)
    if status.outstanding:
        parts.append(Text("left to an operator:", style="bold yellow"))
        parts.extend(Text(f"  - {o}", style="yellow") for o in status.outstanding)
    if status.audit:
        audit = Table(title="audit trail", show_edge=False)
        for col in ("when (UTC)", "who", "what", "comment"):
            audit.add_column(col, overflow="fold")
        for e in status.audit:
            audit.add_row(f"{e.at:%Y-%m-%d %H:%M:%S}", e.actor, e.action, e.comment)
        parts.append(audit)
    return Group(*parts)


def waiting_lines(status: RenewalStatus, now: datetime) -> list[Text]:
    """One line per step running on a node now: ``waiting on <node> for N minutes: ...``.

    A step that has run longer than a restart normally takes (5 minutes) is shown in yellow:
    the node may be hung, and the operator should look at it before the step's timeout.
    """
    return [
        Text(w.text(now), style="yellow" if now - w.since > SLOW_STEP else "cyan")
        for w in status.waiting
    ]


def awaiting_hint(status: RenewalStatus) -> str | None:
    """What the operator should run next, when the renewal waits for someone."""
    cid = status.change_id
    if status.awaiting == "approval":
        h = status.gate_hash or (status.plan.plan_hash if status.plan else "")
        gate = {
            "impact": "the phone-impacting restarts",
            "cleanup": "the removal of the CSCur97909 leftovers listed",
            "rollback": "the rollback (phone-impacting restarts)",
        }.get(status.gate or "", "the plan")
        return (
            f"approve {gate}: review with `ucrenew show {cid}`, then "
            f"`ucrenew approve {cid} --plan-hash {h}`"
        )
    if status.awaiting == "window":
        return "waiting for the maintenance window (restarts start when it opens)"
    if status.awaiting == "ca" and status.ca != "manual":
        return f"waiting for the {status.ca} CA (request {status.ca_request_ref})"
    if status.awaiting == "ca":
        return (
            f"export the CSR with `ucrenew ca-request {cid} > {cid}.csr`, have it signed, then "
            f"`ucrenew submit-cert {cid} --cert signed.pem --chain chain.pem`"
        )
    if status.awaiting == "operator" and status.failed_step is not None:
        failed = status.failed_step
        what = failed.service or failed.purpose
        return (
            f"the {failed.step} of {what} failed on {failed.node}: fix {what} there (see "
            f"`ucrenew show {cid}`) and `ucrenew decide {cid} retry`, or `skip`, `rollback`, "
            "`stop`"
        )
    if status.awaiting == "operator":
        return f"answer the question with `ucrenew decide {cid} <answer>`"
    if status.awaiting == "sso-confirm":
        return (
            "re-enable SAML SSO in Cisco Unified CM Administration > System > SAML Single "
            f"Sign-On, then `ucrenew confirm-sso {cid}`"
        )
    return None
