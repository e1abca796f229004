"""``ucrenew``: the operator's command line, a Temporal client like ``temporal`` or ``kubectl``."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.live import Live
from rich.table import Table
from temporalio.client import WorkflowExecutionStatus, WorkflowUpdateFailedError
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError

from activities.catalog import PURPOSES
from activities.catalog import Purpose as CertPurpose
from console import dev, optional_lab
from console.attempts import (
    VERDICT_WAIT_SECONDS,
    ChangeIdTaken,
    attempts,
    preflight_verdict,
    reuse_policy,
)
from console.checks import check
from console.common import (
    EXIT_ERROR,
    EXIT_REFUSED,
    CliError,
    client,
    console,
    err_console,
    principal,
    renewal,
    run_async,
    settings,
    short,
    status_of,
)
from console.render import (
    awaiting_hint,
    plan_table,
    problems_table,
    status_view,
    warnings_table,
)
from workers.wiring import run_worker
from workflows import search_attributes as sa
from workflows.models import (
    TERMINAL_PHASES,
    ApprovalInput,
    CertificateSubmission,
    OperatorDecision,
    RenewalInput,
    RenewalOptions,
    SsoConfirmation,
)
from workflows.renewal import CertRenewalWorkflow

app = typer.Typer(
    help="ucrenew: renew CA-signed multi-server certificates on Cisco UC clusters, durably.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
dev_app = typer.Typer(
    help="The embedded stack: Temporal dev server, lab, worker.", no_args_is_help=True
)
# The lab is optional (ucrenew-lab): where it is missing, `ucrenew lab` says how to install it.
if optional_lab.installed():
    from lab.cli import app as lab_app

    app.add_typer(lab_app, name="lab")
else:

    @app.command(
        "lab",
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
        add_help_option=False,
    )
    def lab_not_installed() -> None:
        """The lab, a digital twin of a CUCM/IM&P cluster (not installed here)."""
        optional_lab.require("ucrenew lab")


app.add_typer(dev_app, name="dev")

Json = Annotated[bool, typer.Option("--json", help="print JSON")]
By = Annotated[str | None, typer.Option("--by", help="who is acting (default: login name)")]
PhoneResets = Annotated[
    bool,
    typer.Option(
        "--phone-resets/--no-phone-resets",
        help="CallManager on 12.5 and earlier: ucrenew resets the phones itself, staged and "
        "gated (default), or leaves the resets to CUCM",
    ),
]
RemoveLeftovers = Annotated[
    bool,
    typer.Option(
        "--remove-leftovers",
        help="after the change, offer to remove the nodes' former self-signed certificates "
        "left in the trust stores (CSCur97909), after approval at the cleanup gate",
    ),
]


class DistributionChoice(StrEnum):
    """``--distribution`` values."""

    MULTI_SERVER = "multi-server"
    PER_NODE = "per-node"


Distribution = Annotated[
    DistributionChoice | None,
    typer.Option(
        "--distribution",
        help="multi-server: one SAN certificate per purpose (Cisco's procedure); per-node: "
        "one single-server certificate per node, in the same change (default: the "
        "inventory's certificates.distribution, else multi-server)",
    ),
]
Comment = Annotated[str, typer.Option("--comment", "-m", help="why")]
Purpose = Annotated[
    list[str],
    typer.Option(
        "--purpose",
        help="tomcat, CallManager, cup-xmpp, cup-xmpp-s2s, or on CUCM 14 and later "
        "tomcat-ECDSA or CallManager-ECDSA (repeatable)",
    ),
]
Windows = Annotated[
    list[str] | None,
    typer.Option(
        "--window",
        help="maintenance window START/END in ISO 8601 with a zone, e.g. "
        "2026-11-28T22:00Z/2026-11-29T04:00Z (repeatable; the inventory's if none)",
    ),
]


def _purposes(names: list[str]) -> list[CertPurpose]:
    """The ``--purpose`` values, each one a purpose ucrenew knows."""
    unknown = [n for n in names if n not in PURPOSES]
    if unknown:
        raise CliError(
            f"unknown purpose {', '.join(map(repr, unknown))}: choose from {', '.join(PURPOSES)}"
        )
    return [PURPOSES[n].name for n in names]  # type: ignore[index]


def _update_error(exc: WorkflowUpdateFailedError) -> CliError:
    cause: BaseException | None = exc.cause
    while cause is not None and not isinstance(cause, ApplicationError):
        cause = cause.__cause__
    return CliError(cause.message if isinstance(cause, ApplicationError) else str(exc))


# -- embedded stack ----------------------------------------------------------------------


@dev_app.command("up")
@run_async
async def dev_up(
    json_out: Json = False,
    timing: Annotated[str | None, typer.Option(help="lab timing: fast | realistic")] = None,
    lab_topology: Annotated[
        str | None, typer.Option(help="lab topology YAML (default: the built-in cluster)")
    ] = None,
    lab_release: Annotated[
        str | None,
        typer.Option(
            help="run the lab on this CUCM version (10.5 through 15, e.g. 12.5.1.16900-48) to "
            "rehearse a renewal on a real cluster's release"
        ),
    ] = None,
) -> None:
    """Start Temporal (SQLite in the state dir), the lab and a worker in the background."""
    info = await dev.up(settings(), timing, lab_topology, lab_release)
    _print_dev(info, json_out)


@dev_app.command("status")
def dev_status(json_out: Json = False) -> None:
    """Show what of the embedded stack runs, and where."""
    _print_dev(dev.describe(settings()), json_out)


@dev_app.command("down")
@run_async
async def dev_down() -> None:
    """Stop the worker, the lab and Temporal."""
    stopped = await dev.down(settings())
    for part, was in stopped.items():
        console.print(f"{part:9} {'stopped' if was else 'was not running'}")


def _print_dev(info: dict[str, object], json_out: bool) -> None:
    if json_out:
        typer.echo(dev.as_json(info))
        return
    table = Table(title="ucrenew embedded stack", show_header=False)
    t = info["temporal"]
    lab = info["lab"]
    w = info["worker"]
    table.add_row("state dir", str(info["state_dir"]))
    table.add_row(
        "temporal",
        f"{t['address']}  (pid {t['pid']})" if isinstance(t, dict) else "[red]not running[/]",
    )
    if isinstance(t, dict) and t.get("ui"):
        table.add_row("temporal UI", str(t["ui"]))
    table.add_row(
        "lab",
        f"{len(lab['nodes'])} nodes, control {lab['control_url']}"
        if isinstance(lab, dict)
        else "[red]not running[/]",
    )
    table.add_row(
        "worker",
        f"pid {w['pid']}, task queue {w['task_queue']}, log {w['log']}"
        if isinstance(w, dict)
        else "[red]not running[/]",
    )
    table.add_row("inventory", str(info["inventory"]))
    console.print(table)


@app.command()
def worker() -> None:
    """Run a worker in the foreground (production: run N of these)."""
    asyncio.run(run_worker(settings()))


# -- planning and starting ---------------------------------------------------------------


def _window(text: str) -> dict[str, str]:
    """``START/END`` (ISO 8601, timezone required) as a window for the workflow."""
    start, sep, end = text.partition("/")
    try:
        if not sep:
            raise ValueError("expected START/END")
        begin, finish = datetime.fromisoformat(start), datetime.fromisoformat(end)
        if begin.tzinfo is None or finish.tzinfo is None:
            raise ValueError("give a timezone (e.g. Z or +01:00)")
        if finish <= begin:
            raise ValueError("the window ends before it starts")
    except ValueError as exc:
        raise CliError(f"--window {text!r}: {exc}") from None
    return {"start": begin.isoformat(), "end": finish.isoformat()}


@app.command()
@run_async
async def plan(
    cluster: str,
    purpose: Purpose = ["tomcat"],  # noqa: B006 - typer reads the default
    phone_resets: PhoneResets = True,
    remove_leftovers: RemoveLeftovers = False,
    distribution: Distribution = None,
    window: Windows = None,
    json_out: Json = False,
    wait: Annotated[
        float, typer.Option("--wait", min=1, help="seconds to wait for a worker's answer")
    ] = 60.0,
) -> None:
    """Dry run on a worker: discover the cluster, run the preflight checks and print the plan.

    The plan is made where the work runs (a worker, through Temporal), with the checks
    `start` makes: other renewals of the cluster, windows, the cluster's policies, and
    work earlier changes left behind. Exit code 2 when a problem stops the change;
    warnings alone (pre-change health the cluster's policy lets the change go on with,
    leftovers of earlier changes) exit 0.
    """
    from console.planning import PlanUnavailable, dry_run_json, dry_run_report, dry_run_view

    c = await client()
    try:
        report = await dry_run_report(
            c,
            settings().task_queue,
            cluster,
            _purposes(purpose),
            RenewalOptions(
                reset_phones=phone_resets,
                remove_leftover_certificates=remove_leftovers,
                distribution=distribution.value if distribution else None,
            ),
            windows=[_window(w) for w in window or []],
            wait_seconds=wait,
        )
    except PlanUnavailable as exc:
        raise CliError(str(exc)) from None
    if json_out:
        typer.echo(json.dumps(dry_run_json(report), indent=2))
    else:
        console.print(dry_run_view(report))
    if report.errors:
        raise typer.Exit(EXIT_REFUSED)


@app.command()
@run_async
async def start(
    cluster: str,
    change: Annotated[str, typer.Option("--change", help="change request id, e.g. CHG0031337")],
    purpose: Purpose = ["tomcat"],  # noqa: B006
    ca: Annotated[str, typer.Option(help="local | manual | adcs | acme")] = "local",
    ca_name: Annotated[
        str | None, typer.Option(help="CA entry of the inventory (default: first of its type)")
    ] = None,
    ca_template: Annotated[
        str | None, typer.Option(help="certificate template (ADCS) or profile (ACME)")
    ] = None,
    window: Windows = None,
    approve_plan: Annotated[
        bool,
        typer.Option(
            "--require-approval/--no-approval", help="gate the first write on a plan approval"
        ),
    ] = False,
    phone_resets: PhoneResets = True,
    phone_reset_batch: Annotated[
        int,
        typer.Option(min=1, help="phones reset at once; each batch re-registers first"),
    ] = RenewalOptions.model_fields["phone_reset_batch"].default,
    remove_leftovers: RemoveLeftovers = False,
    distribution: Distribution = None,
    by: By = None,
    wait: Annotated[
        float,
        typer.Option(
            "--wait",
            min=0,
            help="seconds to wait for the preflight verdict (0: return at once)",
        ),
    ] = VERDICT_WAIT_SECONDS,
) -> None:
    """Start a renewal and report its preflight verdict (follow it with `ucrenew watch`).

    A change id whose earlier run ended without writing to the cluster (failed preflight,
    plan rejected) starts a new attempt under the same id; `ucrenew show CHG --all-attempts`
    lists them. Exit code 2 when the preflight refuses the change, as `ucrenew plan` does.
    """
    s = settings()
    c = await client()
    inp = RenewalInput(
        change_id=change,
        cluster=cluster,
        purposes=_purposes(purpose),
        ca=ca,
        ca_name=ca_name,
        ca_template=ca_template,
        windows=[_window(w) for w in window or []],
        requested_by=principal(by),
        require_plan_approval=approve_plan,
        options=RenewalOptions(
            reset_phones=phone_resets,
            phone_reset_batch=phone_reset_batch,
            remove_leftover_certificates=remove_leftovers,
            distribution=distribution.value if distribution else None,
        ),
    )
    try:
        reuse = await reuse_policy(c, change)
        handle = await c.start_workflow(
            CertRenewalWorkflow.run,
            inp,
            id=change,
            task_queue=s.task_queue,
            id_reuse_policy=reuse,
            search_attributes=sa.start_attributes(cluster, change, list(purpose)),
        )
    except ChangeIdTaken as exc:
        raise CliError(str(exc)) from None
    except RPCError as exc:
        raise CliError(f"cannot start {change}: {exc.message}") from None
    again = " (a new attempt)" if reuse == WorkflowIDReusePolicy.ALLOW_DUPLICATE else ""
    what = f"renewal [bold]{change}[/]{again} of {cluster} ({', '.join(purpose)}, CA {ca})"
    verdict = await preflight_verdict(handle, wait) if wait > 0 else None
    if verdict is None:
        console.print(f"started {what}; no preflight verdict yet")
    elif verdict.plan is not None:
        console.print(f"started {what}: preflight passed, plan {verdict.plan.plan_hash}")
    if verdict is not None and verdict.warnings:
        console.print(warnings_table(verdict.warnings))
    if verdict is not None and verdict.plan is None:
        if verdict.problems:
            console.print(problems_table(verdict.problems))
        err_console.print(
            f"[red]{change} stopped:[/] {verdict.error or verdict.phase}. Fix it and run the "
            "same `ucrenew start` again: nothing was written, the change id stays yours",
            highlight=False,
        )
        raise typer.Exit(EXIT_REFUSED if verdict.problems else EXIT_ERROR)
    console.print(f"follow it: ucrenew watch {change}")


# -- observing ---------------------------------------------------------------------------


@app.command("ls")
@run_async
async def list_renewals(
    json_out: Json = False,
    all_: Annotated[bool, typer.Option("--all", help="include finished renewals")] = False,
    cluster: Annotated[str | None, typer.Option(help="only this cluster")] = None,
) -> None:
    """List renewals (running ones by default)."""
    c = await client()
    query = "WorkflowType = 'CertRenewalWorkflow'"
    if not all_:
        query += " AND ExecutionStatus = 'Running'"
    if cluster:
        query += f" AND ClusterId = '{cluster}'"
    rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    # Newest run first: a change id retried after a failed preflight shows its latest attempt.
    runs = sorted(
        [wf async for wf in c.list_workflows(query)], key=lambda w: w.start_time, reverse=True
    )
    for wf in runs:
        if wf.id in seen:
            continue
        seen.add(wf.id)
        attrs = wf.typed_search_attributes
        rows.append(
            {
                "change": wf.id,
                "cluster": attrs.get(sa.CLUSTER_ID),
                "purposes": attrs.get(sa.CERT_PURPOSES) or [],
                "phase": attrs.get(sa.RENEWAL_PHASE),
                "awaiting": attrs.get(sa.RENEWAL_AWAITING) or "",
                "status": wf.status.name if wf.status else "",
                "started": wf.start_time.isoformat() if wf.start_time else None,
                "cert_not_after": (v.isoformat() if (v := attrs.get(sa.CERT_NOT_AFTER)) else None),
                "outstanding": list(attrs.get(sa.RENEWAL_OUTSTANDING) or []),
            }
        )
    if json_out:
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table(title="renewals")
    for col in (
        "change",
        "cluster",
        "purposes",
        "phase",
        "awaiting",
        "status",
        "started",
        "old cert expires",
        "left to do",
    ):
        table.add_column(col)
    for r in rows:
        table.add_row(
            str(r["change"]),
            str(r["cluster"] or ""),
            ",".join(r["purposes"]),
            str(r["phase"] or ""),
            str(r["awaiting"]),
            str(r["status"]),
            short(r["started"], 19),
            short(r["cert_not_after"], 10),
            f"[yellow]! {short(', '.join(r['outstanding']), 30)}[/]" if r["outstanding"] else "",
        )
    console.print(table)
    if any(r["outstanding"] for r in rows):
        console.print("[yellow]![/] left to do: `ucrenew show CHG` lists each item and its command")


@app.command()
@run_async
async def show(
    change_id: str,
    json_out: Json = False,
    all_attempts: Annotated[
        bool,
        typer.Option(
            "--all-attempts",
            help="list every run of the change id, newest first, with how it ended",
        ),
    ] = False,
) -> None:
    """Show one renewal (its latest attempt): phase, plan, per-node progress, audit trail."""
    if all_attempts:
        await _show_attempts(change_id, json_out)
        return
    status = await status_of(change_id)
    if json_out:
        typer.echo(status.model_dump_json(indent=2))
        return
    console.print(status_view(status))
    if status.plan:
        console.print(plan_table(status.plan))
    hint = awaiting_hint(status)
    if hint:
        console.print(f"[bold yellow]next:[/] {hint}")


async def _show_attempts(change_id: str, json_out: bool) -> None:
    runs = await attempts(await client(), change_id)
    if not runs:
        raise CliError(f"no renewal with change id {change_id}")
    if json_out:
        typer.echo(
            json.dumps(
                [
                    {
                        "attempt": len(runs) - i,
                        "run_id": a.run_id,
                        "status": a.status,
                        "started": a.started.isoformat() if a.started else None,
                        "ended": a.ended.isoformat() if a.ended else None,
                        "outcome": a.outcome,
                    }
                    for i, a in enumerate(runs)
                ],
                indent=2,
            )
        )
        return
    table = Table(title=f"attempts of {change_id} (newest first)")
    for col in ("#", "run id", "status", "started", "ended", "outcome"):
        table.add_column(col)
    for i, a in enumerate(runs):
        table.add_row(
            str(len(runs) - i),
            a.run_id,
            a.status,
            short(a.started.isoformat() if a.started else None, 19),
            short(a.ended.isoformat() if a.ended else None, 19),
            a.outcome,
        )
    console.print(table)


@app.command()
@run_async
async def watch(
    change_id: str,
    interval: Annotated[float, typer.Option(help="seconds between refreshes")] = 0.5,
) -> None:
    """Follow a renewal live until it finishes (exit 0 when done, 1 otherwise)."""
    status = await status_of(change_id)
    shown_hint = None
    with Live(status_view(status), console=console, refresh_per_second=8) as live:
        while status.phase not in TERMINAL_PHASES:
            await asyncio.sleep(interval)
            status = await status_of(change_id)
            live.update(status_view(status))
            hint = awaiting_hint(status)
            if hint and hint != shown_hint:
                live.console.print(f"[bold yellow]waiting:[/] {hint}")
                shown_hint = hint
    if status.phase != "done":
        raise typer.Exit(1)


@app.command()
@run_async
async def report(change_id: str, json_out: Json = False) -> None:
    """The change report (Markdown) of a renewal: plan, nodes, approvals, audit trail."""
    from console.report import markdown_report

    status = await status_of(change_id)
    typer.echo(status.model_dump_json(indent=2) if json_out else markdown_report(status))


app.command()(check)


@app.command("ca-request")
@run_async
async def ca_request(change_id: str) -> None:
    """Print the renewal's CSR (PEM) to hand to a CA."""
    status = await status_of(change_id)
    if not status.csr_pem:
        raise CliError(f"{change_id} has no CSR yet (phase {status.phase})")
    typer.echo(status.csr_pem.strip())


# -- acting ------------------------------------------------------------------------------


@app.command()
@run_async
async def approve(
    change_id: str,
    by: By = None,
    comment: Comment = "",
    plan_hash: Annotated[str | None, typer.Option(help="the plan you reviewed")] = None,
    group: Annotated[
        list[str] | None, typer.Option(help="approver group you act for (repeatable)")
    ] = None,
) -> None:
    """Approve the gate a renewal waits at (its plan, or its phone-impacting restarts)."""
    handle = await renewal(change_id)
    try:
        await handle.execute_update(
            CertRenewalWorkflow.approve,
            ApprovalInput(
                principal=principal(by),
                comment=comment,
                plan_hash=plan_hash,
                groups=group or [],
            ),
        )
    except WorkflowUpdateFailedError as exc:
        raise _update_error(exc) from None
    console.print(f"approved {change_id}")


@app.command()
@run_async
async def reject(change_id: str, by: By = None, comment: Comment = "") -> None:
    """Reject the plan: the renewal ends without changing the cluster."""
    handle = await renewal(change_id)
    try:
        await handle.execute_update(
            CertRenewalWorkflow.reject, ApprovalInput(principal=principal(by), comment=comment)
        )
    except WorkflowUpdateFailedError as exc:
        raise _update_error(exc) from None
    console.print(f"rejected {change_id}")


@app.command("submit-cert")
@run_async
async def submit_cert(
    change_id: str,
    cert: Annotated[Path, typer.Option(help="signed certificate (PEM)", exists=True)],
    chain: Annotated[
        Path | None, typer.Option(help="intermediates and root (PEM)", exists=True)
    ] = None,
    by: By = None,
    comment: Comment = "",
) -> None:
    """Hand in the signed certificate of a renewal waiting for its CA (validated at once)."""
    handle = await renewal(change_id)
    try:
        result = await handle.execute_update(
            CertRenewalWorkflow.submit_certificate,
            CertificateSubmission(
                principal=principal(by),
                certificate_pem=cert.read_text(),
                chain_pem=chain.read_text() if chain else None,
                comment=comment,
            ),
        )
    except WorkflowUpdateFailedError as exc:
        raise _update_error(exc) from None
    console.print(f"accepted certificate serial {result.serial} for {change_id}")


@app.command()
@run_async
async def decide(
    change_id: str,
    decision: Annotated[
        str, typer.Argument(help="regenerate | abort | continue | roll-forward | resume")
    ],
    by: By = None,
    comment: Comment = "",
) -> None:
    """Answer a renewal's question: a stale CSR (regenerate | abort), phones not back after a
    wave (continue | roll-forward | abort), the window closing (resume | abort)."""
    if decision not in ("regenerate", "abort", "continue", "roll-forward", "resume"):
        raise CliError("answer with regenerate, abort, continue, roll-forward or resume")
    handle = await renewal(change_id)
    try:
        await handle.execute_update(
            CertRenewalWorkflow.decide,
            OperatorDecision(principal=principal(by), decision=decision, comment=comment),
        )
    except WorkflowUpdateFailedError as exc:
        raise _update_error(exc) from None
    console.print(f"{change_id}: {decision}")


@app.command("confirm-sso")
@run_async
async def confirm_sso(change_id: str, by: By = None, comment: Comment = "") -> None:
    """Confirm SAML SSO was re-enabled in the GUI (ucrenew checks it on the cluster)."""
    handle = await renewal(change_id)
    try:
        await handle.execute_update(
            CertRenewalWorkflow.confirm_sso,
            SsoConfirmation(principal=principal(by), comment=comment),
        )
    except WorkflowUpdateFailedError as exc:
        raise _update_error(exc) from None
    console.print(f"SSO re-enable confirmed for {change_id}")


@app.command()
@run_async
async def cancel(change_id: str) -> None:
    """Cancel a renewal; it records where the cluster stands and what is left to do."""
    handle = await renewal(change_id)
    desc = await handle.describe()
    if desc.status != WorkflowExecutionStatus.RUNNING:
        raise CliError(f"{change_id} is not running ({desc.status.name if desc.status else '?'})")
    await handle.cancel()
    console.print(f"cancellation requested for {change_id} at {datetime.now(UTC):%H:%M:%S}Z")


@app.command()
def demo(
    keep: Annotated[bool, typer.Option(help="leave the stack running afterwards")] = False,
) -> None:
    """Run a full tomcat renewal of the lab cluster with the local CA, end to end."""
    optional_lab.require("ucrenew demo")
    from console.demo import run_demo

    raise typer.Exit(asyncio.run(run_demo(settings(), keep=keep)))


def main() -> None:
    """Console entry point.

    Ends with ``os._exit``: the Temporal client's native threads can outlive the event loop,
    and CPython's finalization then aborts the process (temporalio/sdk-python#300) after the
    command already succeeded. Output is flushed first; nothing else is pending by then.
    """
    code: int | str | None = 0
    try:
        app()
    except SystemExit as exc:
        code = exc.code
    sys.stdout.flush()
    sys.stderr.flush()
    if isinstance(code, str):
        sys.stderr.write(code + "\n")
        code = 1
    os._exit(code or 0)
