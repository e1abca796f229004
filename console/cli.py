"""``ucrenew``: the operator's command line, a Temporal client like ``temporal`` or ``kubectl``.

Only typer and the purpose catalog are imported at start: temporalio, the workflows, pydantic
models and rich load inside the commands that need them, so that ``--help``, completion and
the quick commands start in a fraction of a second.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from typer.core import TyperGroup

from activities.catalog import PURPOSES
from console import completion, optional_lab, service_commands
from console.admin import admin_app
from console.campaigns import campaign_app
from console.checks import check
from console.common import (
    CliError,
    ExitCode,
    console,
    err_console,
    one_line,
    principal,
    renewal,
    run_async,
    settings,
    short,
    status_of,
    unknown_change,
)
from console.csr_options import (
    DEFAULT_EC_KEY_LENGTH,
    DEFAULT_HASH,
    DEFAULT_KEY_LENGTH,
    DEFAULT_MIN_REMAINING_DAYS,
    EcKeyLength,
    Hash,
    KeyLength,
    MinRemainingDays,
    OtherDomains,
    build_options,
    csr_warnings,
)
from console.notify_test import notify_test

if TYPE_CHECKING:
    from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError

    from activities.catalog import Purpose as CertPurpose
    from workflows.models import RenewalOptions, RenewalStatus
    from workflows.renewal import CertRenewalWorkflow

T = TypeVar("T")


class _OneLineErrors(TyperGroup):
    """The root command: a usage error is one ``error:`` line naming the --help to read.

    Typer's own rendering is a framed block of several lines; at 2 a.m. one line that says
    what was wrong is easier to read, grep and paste into a ticket.
    """

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        """Run the command line; with ``standalone_mode``, usage errors exit 2 in one line."""
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, False, windows_expand_args, **extra)
        try:
            rv = super().main(args, prog_name, complete_var, False, windows_expand_args, **extra)
        except typer.Abort:
            sys.stderr.write("error: aborted\n")
            sys.exit(ExitCode.FAILED)
        except Exception as exc:
            # click's ClickException and UsageError, without importing click's private path.
            if not (hasattr(exc, "format_message") and hasattr(exc, "exit_code")):
                raise
            if type(exc).__name__ == "NoArgsIsHelpError":
                sys.stderr.write(f"{exc.format_message()}\n")
                sys.exit(exc.exit_code)
            ctx = getattr(exc, "ctx", None)
            where = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
            sys.stderr.write(f"error: {one_line(exc.format_message())}{where}\n")
            sys.exit(exc.exit_code)
        sys.exit(rv if isinstance(rv, int) else ExitCode.OK)


app = typer.Typer(
    cls=_OneLineErrors,
    # Plain help: rendering it with rich costs a tenth of a second on every --help.
    rich_markup_mode=None,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
dev_app = typer.Typer(
    help="The embedded stack: Temporal dev server, lab, worker.",
    no_args_is_help=True,
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            typer.echo(f"ucrenew {version('ucrenew')}")
        except PackageNotFoundError:
            typer.echo("ucrenew (not installed as a distribution)")
        raise typer.Exit()


@app.callback()
def _root(
    _version_: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="print the version and exit"
        ),
    ] = False,
) -> None:
    """ucrenew: renew CA-signed multi-server certificates on Cisco UC clusters, durably.

    Exit codes: 0 ok, 1 failed, 2 usage error, 3 refused by the cluster's or the change's
    state, 4 not found (change id or cluster), 5 Temporal unreachable.
    """


# The lab is optional (ucrenew-lab) and heavy to import: `ucrenew lab …` hands its arguments
# to the lab's own command line, loaded only then; where it is missing, it says how to install.
@app.command(
    "lab",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    add_help_option=False,
)
def lab_command(ctx: typer.Context) -> None:
    """The lab, a digital twin of a CUCM/IM&P cluster (`ucrenew lab --help`)."""
    optional_lab.require("ucrenew lab")
    from lab.cli import app as lab_app

    lab_app(args=ctx.args, prog_name="ucrenew lab")


app.add_typer(dev_app, name="dev")
fleet_app = typer.Typer(
    help="Every cluster's certificates by purpose, with days to expiry and drift.",
    rich_markup_mode=None,
)
app.add_typer(fleet_app, name="fleet")
app.add_typer(service_commands.users_app, name="users")
app.add_typer(campaign_app, name="campaign")
app.add_typer(admin_app, name="admin")
app.command("serve")(service_commands.serve)
app.command("login")(service_commands.login)
app.command("logout")(service_commands.logout)

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
ResetsByPrimary = Annotated[
    bool,
    typer.Option(
        "--resets-by-primary/--resets-all-first",
        help="with --phone-resets: reset each CallManager's phones just before it stops, SIP "
        "phones last so they boot onto their secondary (default), or every phone before the "
        "first CallManager wave",
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

RestartParallel = Annotated[
    int | None,
    typer.Option(
        "--restart-parallel",
        min=1,
        max=50,
        metavar="N",
        help="tomcat changes: restart Cisco Tomcat on the publisher alone, then on up to N "
        "nodes at once (1: one at a time; default: the inventory's change_policy.restarts, "
        "else one at a time)",
        show_default=False,
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


def _purpose_values(values: list[str]) -> list[str]:
    """``--purpose`` values as CUCM spells them, in any case (``callmanager``)."""
    spelled = {name.lower(): name for name in PURPOSES}
    unknown = [v for v in values if v.lower() not in spelled]
    if unknown:
        raise typer.BadParameter(
            f"{', '.join(map(repr, unknown))} is not a purpose: choose from {', '.join(PURPOSES)}"
        )
    return [spelled[v.lower()] for v in values]


def _complete_purposes(incomplete: str) -> list[str]:
    # Typer keeps only completions that start with what was typed, as typed: "call" is
    # completed to "callmanager", which --purpose takes as CallManager.
    return [
        incomplete + p[len(incomplete) :]
        for p in PURPOSES
        if p.lower().startswith(incomplete.lower())
    ]


Purpose = Annotated[
    list[str],
    typer.Option(
        "--purpose",
        callback=_purpose_values,
        autocompletion=_complete_purposes,
        metavar="PURPOSE",
        help=f"{' | '.join(PURPOSES)}: the certificate, as CUCM names it, in any case "
        "(the ECDSA ones on CUCM 14 and later; repeatable)",
    ),
]


class CaChoice(StrEnum):
    """``--ca`` values."""

    LOCAL = "local"
    MANUAL = "manual"
    ADCS = "adcs"
    ACME = "acme"


Ca = Annotated[
    CaChoice,
    typer.Option(
        "--ca",
        case_sensitive=False,
        help="who signs: the built-in local CA, manual (you submit the certificate), ADCS or ACME",
    ),
]
ChangeArg = Annotated[
    str,
    typer.Argument(
        help="change id (the ITSM number the renewal was started with)",
        autocompletion=completion.change_ids,
        show_default=False,
    ),
]
ClusterArg = Annotated[
    str,
    typer.Argument(
        help="cluster name from the inventory",
        autocompletion=completion.clusters,
        show_default=False,
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


def _purposes(names: Sequence[str]) -> list[CertPurpose]:
    """The ``--purpose`` values as CUCM spells them (``callmanager`` is ``CallManager``)."""
    try:
        return _purpose_values(list(names))  # type: ignore[return-value]
    except typer.BadParameter as exc:
        raise CliError(f"--purpose: {exc}", ExitCode.USAGE) from None


def _update_error(exc: WorkflowUpdateFailedError) -> CliError:
    """The workflow's reason for refusing an update (e.g. not waiting for that)."""
    from temporalio.exceptions import ApplicationError

    cause: BaseException | None = exc.cause
    while cause is not None and not isinstance(cause, ApplicationError):
        cause = cause.__cause__
    return CliError(
        cause.message if isinstance(cause, ApplicationError) else str(exc), ExitCode.REFUSED
    )


async def _act(
    change_id: str,
    verb: str,
    call: Callable[[WorkflowHandle[CertRenewalWorkflow, RenewalStatus]], Awaitable[T]],
) -> T:
    """Run ``call`` (an update) on a renewal, turning "no such change" and "finished" into
    one-line errors that say which."""
    from temporalio.client import WorkflowUpdateFailedError
    from temporalio.service import RPCError, RPCStatusCode

    handle = await renewal(change_id)
    try:
        return await call(handle)
    except WorkflowUpdateFailedError as exc:
        raise _update_error(exc) from None
    except RPCError as exc:
        if exc.status != RPCStatusCode.NOT_FOUND:
            raise
        raise await _not_actionable(handle, change_id, verb) from None


async def _not_actionable(handle: WorkflowHandle[Any, Any], change_id: str, verb: str) -> CliError:
    """Why ``verb`` found no running change: the id is unknown, or the change finished."""
    from temporalio.service import RPCError, RPCStatusCode

    try:
        desc = await handle.describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return unknown_change(change_id)
        raise
    state = desc.status.name.lower() if desc.status else "finished"
    return CliError(
        f"change {change_id} is finished ({state}): nothing to {verb}; `ucrenew show "
        f"{change_id}` says how it ended, `ucrenew ls --all` lists the changes",
        ExitCode.REFUSED,
    )


def _known_cluster(name: str) -> None:
    """Refuse a cluster the inventory does not name, listing the ones it does.

    Raises:
        CliError: Not found (the cluster), or failed (the inventory is missing or invalid).
    """
    from activities.clients.inventory import load_inventory
    from workers.wiring import inventory_path

    inventory = load_inventory(inventory_path(settings()))
    known = [c.name for c in inventory.clusters]
    if name not in known:
        raise CliError(
            f"no cluster {name!r} in the inventory (known: {', '.join(known) or 'none'})",
            ExitCode.NOT_FOUND,
        )


def _service(by: str | None, group: list[str] | None = None) -> Any:
    """The ucrenew service an action goes through (None: straight to Temporal); through it,
    the signed-in person acts, so ``--by`` and ``--group`` are refused."""
    remote = _remote()
    if remote is not None:
        from console.remote import refuse_identity_options

        refuse_identity_options(remote, by=by, group=group)
    return remote


def _remote() -> Any:
    """The ucrenew service to act through (``ucrenew login`` / ``UCRENEW_SERVER``), if any."""
    from console.remote import configured

    return configured()


async def _remote_action(
    remote: Any, change_id: str, action: str, body: dict[str, Any] | None = None
) -> dict[str, Any]:
    """POST an action on a renewal to the service with the stored token."""
    from urllib.parse import quote

    from console.remote import api_call

    return await api_call(
        remote.server,
        "POST",
        f"/api/v1/renewals/{quote(change_id, safe='')}/{action}",
        token=remote.token,
        body=body or {},
    )


async def _remote_status(remote: Any, change_id: str) -> RenewalStatus:
    """A renewal's status read through the service."""
    from urllib.parse import quote

    from console.remote import api_call
    from workflows.models import RenewalStatus

    data = await api_call(
        remote.server, "GET", f"/api/v1/renewals/{quote(change_id, safe='')}", token=remote.token
    )
    return RenewalStatus.model_validate(data["status"])


async def _running(change_id: str, verb: str) -> WorkflowHandle[CertRenewalWorkflow, RenewalStatus]:
    """The handle of a running change, refused at once when it is unknown or finished (a
    query or update would wait for a worker that never answers)."""
    from temporalio.client import WorkflowExecutionStatus
    from temporalio.service import RPCError, RPCStatusCode

    handle = await renewal(change_id)
    try:
        desc = await handle.describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise unknown_change(change_id) from None
        raise
    if desc.status != WorkflowExecutionStatus.RUNNING:
        raise await _not_actionable(handle, change_id, verb)
    return handle


async def _open_status(change_id: str) -> RenewalStatus:
    """The status of a running change (from Temporal); refused at once when it is unknown
    or finished."""
    await _running(change_id, "approve")
    return await status_of(change_id)


def _reviewed_hash(status: RenewalStatus) -> str:
    """Show what the open gate binds an approval to and ask to confirm; the hash shown.

    Raises:
        CliError: Nothing to approve (refused), or the approver declined.
    """
    from console.render import plan_table

    if status.awaiting != "approval" or status.gate is None or status.plan is None:
        raise CliError(
            f"nothing to approve: {status.change_id} is in phase {status.phase}",
            ExitCode.REFUSED,
        )
    bound = status.gate_hash or status.plan.plan_hash
    if status.gate == "cleanup" and status.leftover_removal is not None:
        console.print(f"[bold]cleanup gate[/]: remove these leftovers ({bound})")
        for cert in status.leftover_removal.proposed:
            console.print(f"  {cert}", highlight=False)
    elif status.gate == "rollback":
        console.print(plan_table(status.plan))
        console.print(f"[bold]rollback gate[/]: regenerate and restart ({bound})")
        if status.failed_step is not None:
            console.print(
                f"  after {status.failed_step.step} failed on {status.failed_step.node}",
                highlight=False,
            )
    else:
        console.print(plan_table(status.plan))
    console.print(
        f"requested by [bold]{status.requested_by}[/]; {status.gate} gate bound to "
        f"[bold]{bound}[/]",
        highlight=False,
    )
    if not typer.confirm(f"Approve the {status.gate} gate of {status.change_id} ({bound})?"):
        raise CliError("not approved", ExitCode.FAILED)
    return bound


def _print_status(change_id: str, action: str, status: Any, json_out: bool, message: str) -> None:
    """An action's outcome: ``message``, or with ``--json`` the resulting status."""
    if json_out:
        body = status.model_dump(mode="json") if hasattr(status, "model_dump") else status
        typer.echo(json.dumps({"change": change_id, "action": action, "result": body}, indent=2))
    else:
        console.print(message)


# -- fleet -------------------------------------------------------------------------------


def _print_fleet(view: Any, json_out: bool) -> None:
    if json_out:
        typer.echo(view.model_dump_json(indent=2))
        return
    from console.fleet import fleet_table

    console.print(fleet_table(view))


@fleet_app.callback(invoke_without_command=True)
@run_async
async def fleet(ctx: typer.Context, json_out: Json = False) -> None:
    """Show the latest fleet scan: every cluster's certificates by purpose, days to expiry and
    drift (`ucrenew fleet scan` reads the clusters now). Through the ucrenew service when one
    is configured (`ucrenew login`, UCRENEW_SERVER), else from Temporal."""
    if ctx.invoked_subcommand is not None:
        return
    from datetime import UTC, datetime

    from workflows.fleet_models import FleetView

    remote = _remote()
    if remote is not None:
        from console.remote import api_call

        data = await api_call(remote.server, "GET", "/api/v1/fleet", token=remote.token)
        try:
            view = FleetView.model_validate(data)
        except ValueError:
            raise CliError(
                f"the service at {remote.server} answered a fleet view this ucrenew cannot read "
                "(a different version?)"
            ) from None
    else:
        from workers.fleet import latest_fleet_view

        view = await latest_fleet_view(await _client(), datetime.now(UTC))
    _print_fleet(view, json_out)


@fleet_app.command("scan")
@run_async
async def fleet_scan(
    cluster: Annotated[
        list[str] | None,
        typer.Option(
            "--cluster", metavar="NAME", help="scan this cluster only (repeatable; default: all)"
        ),
    ] = None,
    json_out: Json = False,
    wait: Annotated[
        float,
        typer.Option("--wait", min=1, help="seconds to wait for the scan (it goes on after)"),
    ] = 600.0,
    start: Annotated[
        bool,
        typer.Option(
            "--start",
            help="start the renewals the clusters' change_policy.auto_renew call for (at once, "
            "no jitter); without it the view says what would start",
        ),
    ] = False,
) -> None:
    """Read every cluster's certificates now, on a worker (read-only), and show the view
    with the renewals due (started with --start).

    Exit code 1 when a cluster could not be read (it is shown as failed) or the scan did not
    finish within --wait.
    """
    from temporalio.client import WorkflowFailureError

    from workers.fleet import ScanStillRunning, run_fleet_scan

    try:
        view = await run_fleet_scan(
            await _client(), settings(), cluster or None, wait_seconds=wait, start_renewals=start
        )
    except WorkflowFailureError as exc:
        raise CliError(f"the fleet scan failed: {one_line(str(exc.cause or exc))}") from None
    except ScanStillRunning as exc:
        raise CliError(str(exc)) from None
    _print_fleet(view, json_out)
    if any(c.status == "failed" for c in view.clusters):
        raise typer.Exit(ExitCode.FAILED)


@fleet_app.command("schedule")
@run_async
async def fleet_schedule(json_out: Json = False) -> None:
    """Create (or update) the Temporal Schedule that scans the fleet every
    UCRENEW_FLEET_SCAN_MINUTES (`ucrenew dev up` does it for the embedded stack)."""
    from workers.fleet import FLEET_SCAN_SCHEDULE_ID, ensure_fleet_schedule, start_jitter_seconds

    s = settings()
    outcome = await ensure_fleet_schedule(await _client(), s)
    if json_out:
        typer.echo(
            json.dumps(
                {
                    "schedule": FLEET_SCAN_SCHEDULE_ID,
                    "result": outcome,
                    "every_minutes": s.fleet_scan_minutes,
                    "warning_days": s.fleet_warning_days,
                    "start_jitter_minutes": start_jitter_seconds(s) // 60,
                }
            )
        )
        return
    console.print(
        f"schedule {FLEET_SCAN_SCHEDULE_ID} {outcome}: a fleet scan every "
        f"{s.fleet_scan_minutes} min on task queue {s.task_queue}; it starts the renewals "
        f"change_policy.auto_renew calls for, spread over {start_jitter_seconds(s) // 60} min"
    )


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
    lab_clusters: Annotated[
        int,
        typer.Option(
            min=1,
            help="run this many lab clusters (lab, lab-002, …) in one process, each on its "
            "own loopback network, all in the one inventory",
        ),
    ] = 1,
) -> None:
    """Start Temporal (SQLite in the state dir), the lab and a worker in the background.

    When a part cannot start, the parts this command started are stopped again.
    """
    from console import dev

    info = await dev.up(settings(), timing, lab_topology, lab_release, lab_clusters)
    _print_dev(info, json_out)


@dev_app.command("status")
def dev_status(json_out: Json = False) -> None:
    """Show what of the embedded stack runs, and where."""
    from console import dev

    _print_dev(dev.describe(settings()), json_out)


@dev_app.command("down")
@run_async
async def dev_down(json_out: Json = False) -> None:
    """Stop the worker, the lab and Temporal."""
    from console import dev

    stopped = await dev.down(settings())
    if json_out:
        typer.echo(json.dumps(stopped, indent=2))
        return
    for part, was in stopped.items():
        console.print(f"{part:9} {'stopped' if was else 'was not running'}")


def _lab_size(lab: dict[str, Any]) -> str:
    """``4 nodes``, or ``3 clusters`` for a lab of several."""
    clusters = lab.get("clusters") or []
    return f"{len(clusters)} clusters" if len(clusters) > 1 else f"{len(lab['nodes'])} nodes"


def _print_dev(info: dict[str, object], json_out: bool) -> None:
    if json_out:
        from console import dev

        typer.echo(dev.as_json(info))
        return
    from rich.table import Table

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
        f"{_lab_size(lab)}, control {lab['control_url']}"
        if isinstance(lab, dict)
        else "[red]not running[/]",
    )
    table.add_row(
        "worker",
        f"pid {w['pid']}, task queue {w['task_queue']}, log {w['log']}"
        if isinstance(w, dict)
        else "[red]not running[/]",
    )
    svc = info.get("service")
    table.add_row(
        "dashboard",
        f"{svc['url']}  (pid {svc['pid']}, users {svc['users_file']}, log {svc['log']})"
        if isinstance(svc, dict)
        else "[red]not running[/]",
    )
    table.add_row("inventory", str(info["inventory"]))
    console.print(table)
    if isinstance(svc, dict) and svc.get("new_passwords"):
        console.print(
            "dev users made now (shown once; also in "
            f"{svc['passwords_file']}, readable by you only):",
            highlight=False,
        )
        for name, password in svc["new_passwords"].items():
            console.print(f"  {name:10} {password}", highlight=False)


@app.command()
@run_async
async def worker() -> None:
    """Run a worker in the foreground (production: run N of these)."""
    from workers.logs import configure_logging
    from workers.wiring import run_worker

    s = settings()
    configure_logging(s.log_format, s.log_level, s.library_log_level)
    await run_worker(s)


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
        raise CliError(f"--window {text!r}: {exc}", ExitCode.USAGE) from None
    return {"start": begin.isoformat(), "end": finish.isoformat()}


def _parallel(restart_parallel: int | None) -> dict[str, Any]:
    """``--restart-parallel`` when given; left out otherwise, so the cluster's policy applies
    (and a change through the service carries only what was asked)."""
    return {} if restart_parallel is None else {"restart_parallel": restart_parallel}


def _change_options(
    cluster: str, purposes: list[CertPurpose], *, local_inventory: bool = True, **fields: Any
) -> RenewalOptions:
    """The options ``plan`` and ``start`` pass on, after the CSR warnings are printed and the
    cluster is known to the inventory (usage errors come before any connection); through the
    ucrenew service (``local_inventory`` False) the service checks the cluster."""
    options = build_options(**fields)
    for warning in csr_warnings(purposes, options):
        err_console.print(f"[yellow]warning:[/] {warning}", highlight=False)
    if local_inventory:
        _known_cluster(cluster)
    return options


@app.command()
@run_async
async def plan(
    cluster: ClusterArg,
    purpose: Purpose = ["tomcat"],  # noqa: B006 - typer reads the default
    phone_resets: PhoneResets = True,
    resets_by_primary: ResetsByPrimary = True,
    remove_leftovers: RemoveLeftovers = False,
    distribution: Distribution = None,
    restart_parallel: RestartParallel = None,
    window: Windows = None,
    key_length: KeyLength = DEFAULT_KEY_LENGTH,
    ec_key_length: EcKeyLength = DEFAULT_EC_KEY_LENGTH,
    hash_algorithm: Hash = DEFAULT_HASH,
    other_domain: OtherDomains = None,
    min_remaining_days: MinRemainingDays = DEFAULT_MIN_REMAINING_DAYS,
    json_out: Json = False,
    wait: Annotated[
        float, typer.Option("--wait", min=1, help="seconds to wait for a worker's answer")
    ] = 60.0,
    change: Annotated[
        str,
        typer.Option(
            "--change", help="the change id: its change record is checked too (inventory itsm:)"
        ),
    ] = "",
) -> None:
    """Dry run on a worker: discover the cluster, run the preflight checks and print the plan.

    The plan is made where the work runs (a worker, through Temporal), with the checks
    `start` makes: other renewals of the cluster, windows, the cluster's policies, and work
    earlier changes left behind. Exit code 3 when a problem stops the change; warnings alone
    (pre-change health the cluster's policy lets the change go on with, leftovers of earlier
    changes) exit 0.
    """
    from console.planning import PlanUnavailable, dry_run_json, dry_run_report, dry_run_view

    purposes = _purposes(purpose)
    windows = [_window(w) for w in window or []]
    options = _change_options(
        cluster,
        purposes,
        reset_phones=phone_resets,
        phone_resets_by_primary=resets_by_primary,
        remove_leftover_certificates=remove_leftovers,
        distribution=distribution.value if distribution else None,
        key_length=key_length,
        ec_key_length=ec_key_length,
        hash_algorithm=hash_algorithm.value,
        other_domains=other_domain or [],
        min_remaining_days=min_remaining_days,
        **_parallel(restart_parallel),
    )
    c = await _client()
    try:
        report = await dry_run_report(
            c,
            settings().task_queue,
            cluster,
            purposes,
            options,
            windows=windows,
            wait_seconds=wait,
            change_id=change.strip(),
        )
    except PlanUnavailable as exc:
        raise CliError(str(exc)) from None
    if json_out:
        typer.echo(json.dumps(dry_run_json(report), indent=2))
    else:
        console.print(dry_run_view(report))
    if report.errors:
        raise typer.Exit(ExitCode.REFUSED)


@app.command()
@run_async
async def start(
    cluster: ClusterArg,
    change: Annotated[str, typer.Option("--change", help="change request id, e.g. CHG0031337")],
    purpose: Purpose = ["tomcat"],  # noqa: B006
    ca: Ca = CaChoice.LOCAL,
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
    resets_by_primary: ResetsByPrimary = True,
    phone_reset_batch: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="phones reset at once; each batch re-registers first (default: the workflow's)",
            show_default=False,
        ),
    ] = None,
    remove_leftovers: RemoveLeftovers = False,
    distribution: Distribution = None,
    restart_parallel: RestartParallel = None,
    key_length: KeyLength = DEFAULT_KEY_LENGTH,
    ec_key_length: EcKeyLength = DEFAULT_EC_KEY_LENGTH,
    hash_algorithm: Hash = DEFAULT_HASH,
    other_domain: OtherDomains = None,
    min_remaining_days: MinRemainingDays = DEFAULT_MIN_REMAINING_DAYS,
    by: By = None,
    json_out: Json = False,
    wait: Annotated[
        float,
        typer.Option(
            "--wait",
            min=0,
            help="seconds to wait for the preflight verdict (0: return at once)",
        ),
    ] = 60.0,
) -> None:
    """Start a renewal and report its preflight verdict (follow it with `ucrenew watch`).

    A change id whose earlier run ended without writing to the cluster (failed preflight,
    plan rejected) starts a new attempt under the same id; `ucrenew show CHG --all-attempts`
    lists them. Exit code 3 when the preflight refuses the change, as `ucrenew plan` does.
    """
    from temporalio.common import WorkflowIDReusePolicy
    from temporalio.exceptions import WorkflowAlreadyStartedError

    from console.attempts import ChangeIdTaken, preflight_verdict, reuse_policy
    from console.render import problems_table, warnings_table
    from workers.starting import start_renewal
    from workflows.models import RenewalInput

    purposes = _purposes(purpose)
    windows = [_window(w) for w in window or []]
    # Left out when not given: the workflow's default applies.
    batch = {} if phone_reset_batch is None else {"phone_reset_batch": phone_reset_batch}
    remote = _service(by=by)
    options = _change_options(
        cluster,
        purposes,
        local_inventory=remote is None,
        reset_phones=phone_resets,
        phone_resets_by_primary=resets_by_primary,
        remove_leftover_certificates=remove_leftovers,
        distribution=distribution.value if distribution else None,
        key_length=key_length,
        ec_key_length=ec_key_length,
        hash_algorithm=hash_algorithm.value,
        other_domains=other_domain or [],
        min_remaining_days=min_remaining_days,
        **batch,
        **_parallel(restart_parallel),
    )
    if remote is not None:
        await _start_remote(
            remote,
            {
                "change_id": change,
                "cluster": cluster,
                "purposes": purposes,
                "ca": ca.value,
                "ca_name": ca_name,
                "ca_template": ca_template,
                "windows": windows,
                "require_plan_approval": approve_plan,
                "options": options.model_dump(mode="json", exclude_unset=True),
                "wait_seconds": min(wait, 120.0),
            },
            json_out,
        )
        return
    s = settings()
    inp = RenewalInput(
        change_id=change,
        cluster=cluster,
        purposes=purposes,
        ca=ca.value,
        ca_name=ca_name,
        ca_template=ca_template,
        windows=windows,
        requested_by=principal(by),
        require_plan_approval=approve_plan,
        options=options,
    )
    c = await _client()
    try:
        reuse = await reuse_policy(c, change)
        handle = await start_renewal(
            c, inp, task_queue=s.task_queue, base_url=s.service_base_url, id_reuse_policy=reuse
        )
    except ChangeIdTaken as exc:
        raise CliError(str(exc), ExitCode.REFUSED) from None
    except WorkflowAlreadyStartedError:
        raise await _change_id_taken(change) from None
    completion.remember_change(s.state_dir, change)
    verdict = await preflight_verdict(handle, wait) if wait > 0 else None
    if json_out:
        typer.echo(
            json.dumps(
                {
                    "change": change,
                    "action": "start",
                    "result": {
                        "cluster": cluster,
                        "purposes": purposes,
                        "ca": inp.ca,
                        "run_id": handle.result_run_id,
                        "new_attempt": reuse == WorkflowIDReusePolicy.ALLOW_DUPLICATE,
                        "preflight": _verdict_json(verdict),
                    },
                },
                indent=2,
            )
        )
        if verdict is not None and verdict.plan is None:
            raise typer.Exit(ExitCode.REFUSED if verdict.problems else ExitCode.FAILED)
        return
    again = " (a new attempt)" if reuse == WorkflowIDReusePolicy.ALLOW_DUPLICATE else ""
    what = f"renewal [bold]{change}[/]{again} of {cluster} ({', '.join(purposes)}, CA {inp.ca})"
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
        raise typer.Exit(ExitCode.REFUSED if verdict.problems else ExitCode.FAILED)
    console.print(f"follow it: ucrenew watch {change}")


async def _start_remote(remote: Any, body: dict[str, Any], json_out: bool) -> None:
    """``start`` through the ucrenew service: the requester is who signed in."""
    from console.remote import api_call
    from console.render import problems_table, warnings_table
    from workflows.models import RenewalStatus

    data = await api_call(remote.server, "POST", "/api/v1/renewals", token=remote.token, body=body)
    change = body["change_id"]
    verdict = RenewalStatus.model_validate(data["verdict"]) if data.get("verdict") else None
    if json_out:
        typer.echo(
            json.dumps(
                {
                    "change": change,
                    "action": "start",
                    "result": {
                        "cluster": body["cluster"],
                        "purposes": body["purposes"],
                        "ca": body["ca"],
                        "run_id": data.get("run_id"),
                        "new_attempt": data.get("new_attempt"),
                        "requested_by": data.get("requested_by"),
                        "url": data.get("url"),
                        "preflight": _verdict_json(verdict),
                    },
                },
                indent=2,
            )
        )
    else:
        again = " (a new attempt)" if data.get("new_attempt") else ""
        what = f"renewal [bold]{change}[/]{again} of {body['cluster']} as {data['requested_by']}"
        if verdict is None:
            console.print(f"started {what}; no preflight verdict yet")
        elif verdict.plan is not None:
            console.print(f"started {what}: preflight passed, plan {verdict.plan.plan_hash}")
        if verdict is not None and verdict.warnings:
            console.print(warnings_table(verdict.warnings))
        if verdict is not None and verdict.plan is None and verdict.problems:
            console.print(problems_table(verdict.problems))
        console.print(f"follow it: {data['url']}", highlight=False)
    if verdict is not None and verdict.plan is None:
        raise typer.Exit(ExitCode.REFUSED if verdict.problems else ExitCode.FAILED)


def _verdict_json(verdict: Any) -> dict[str, Any] | None:
    """The preflight verdict ``start --json`` reports (None: not awaited or not yet known)."""
    if verdict is None:
        return None
    return {
        "passed": verdict.plan is not None,
        "plan_hash": verdict.plan.plan_hash if verdict.plan is not None else None,
        "phase": verdict.phase,
        "error": verdict.error,
        "problems": [p.model_dump() for p in verdict.problems],
        "warnings": [p.model_dump() for p in verdict.warnings],
    }


async def _client() -> Any:
    from console.common import client

    return await client()


async def _change_id_taken(change: str) -> CliError:
    """The refusal of a change id already used, with the state of its run.

    Read from the run's description and search attributes, not its status query: that one
    needs a worker, and this error must not wait for one.
    """
    from workflows import search_attributes as sa

    try:
        desc = await (await renewal(change)).describe()
        attrs = desc.typed_search_attributes
        phase, cluster = attrs.get(sa.RENEWAL_PHASE), attrs.get(sa.CLUSTER_ID)
        parts = [
            desc.status.name.lower() if desc.status else None,
            f"phase {phase}" if phase else None,
            f"cluster {cluster}" if cluster else None,
        ]
        state = ", ".join(p for p in parts if p)
    except Exception:  # the refusal matters more than the detail
        state = "state unknown"
    return CliError(
        f"change id {change} is already in use ({state}): `ucrenew show {change}` shows it; "
        "start under another change id",
        ExitCode.REFUSED,
    )


# -- observing ---------------------------------------------------------------------------


@app.command("ls")
@run_async
async def list_renewals(
    json_out: Json = False,
    all_: Annotated[bool, typer.Option("--all", help="include finished renewals")] = False,
    cluster: Annotated[
        str | None,
        typer.Option(help="only this cluster", autocompletion=completion.clusters),
    ] = None,
) -> None:
    """List renewals (running ones by default)."""
    from activities.visibility import renewals_query
    from workflows import search_attributes as sa

    c = await _client()
    rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    # Newest run first: a change id run again after a failed preflight shows its latest attempt.
    query = renewals_query(running_only=not all_, cluster=cluster)
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
    completion.remember_changes(settings().state_dir, [str(r["change"]) for r in rows])
    if json_out:
        typer.echo(json.dumps(rows, indent=2))
        return
    from rich.table import Table

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
    change_id: ChangeArg,
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
    from console.render import awaiting_hint, plan_table, status_view

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
    """Every run of a change id, newest first, with how each ended."""
    from rich.table import Table

    from console.attempts import attempts

    runs = await attempts(await _client(), change_id)
    if not runs:
        raise unknown_change(change_id)
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
    change_id: ChangeArg,
    interval: Annotated[float, typer.Option(help="seconds between refreshes")] = 0.5,
    json_out: Annotated[
        bool, typer.Option("--json", help="print the final status as JSON (no live view)")
    ] = False,
) -> None:
    """Follow a renewal live until it finishes (exit 0 when done, 1 otherwise)."""
    from rich.live import Live

    from console.render import awaiting_hint, status_view
    from workflows.models import TERMINAL_PHASES

    status = await status_of(change_id)
    if status.phase in TERMINAL_PHASES and not json_out:
        err_console.print(
            f"{change_id} already finished ({status.phase}): `ucrenew report {change_id}` for "
            "the record",
            highlight=False,
            markup=False,
        )
    if json_out:
        while status.phase not in TERMINAL_PHASES:
            await asyncio.sleep(interval)
            status = await status_of(change_id)
        typer.echo(status.model_dump_json(indent=2))
    else:
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
        raise typer.Exit(ExitCode.FAILED)


@app.command()
@run_async
async def report(change_id: ChangeArg, json_out: Json = False) -> None:
    """The change report (Markdown) of a renewal: plan, nodes, approvals, audit trail."""
    from console.report import markdown_report

    status = await status_of(change_id)
    typer.echo(status.model_dump_json(indent=2) if json_out else markdown_report(status))


app.command()(check)
app.command("notify-test")(notify_test)


@app.command("ca-request")
@run_async
async def ca_request(change_id: ChangeArg, json_out: Json = False) -> None:
    """Print the renewal's CSR (PEM) to hand to a CA."""
    status = await status_of(change_id)
    if not status.csr_pem:
        raise CliError(f"{change_id} has no CSR yet (phase {status.phase})", ExitCode.REFUSED)
    if json_out:
        typer.echo(json.dumps({"change": change_id, "csr_pem": status.csr_pem}, indent=2))
        return
    typer.echo(status.csr_pem.strip())


# -- acting ------------------------------------------------------------------------------


@app.command("ca-check")
@run_async
async def ca_check(change_id: ChangeArg, by: By = None, json_out: Json = False) -> None:
    """Ask the CA about a pending request now (ADCS, ACME) instead of at the next poll."""
    from workflows.models import CaCheckInput, RenewalStatus
    from workflows.renewal import CertRenewalWorkflow

    remote = _service(by=by)
    if remote is not None:
        data = await _remote_action(remote, change_id, "ca-check")
        status = RenewalStatus.model_validate(data["status"])
    else:
        check = CaCheckInput(principal=principal(by))
        status = await _act(
            change_id,
            "check at the CA",
            lambda h: h.execute_update(CertRenewalWorkflow.check_ca, check),
        )
    text = (
        f"{change_id}: request {status.ca_request_ref} is still pending at the CA"
        if status.awaiting == "ca"
        else f"{change_id}: the CA issued request {status.ca_request_ref}"
    )
    _print_status(change_id, "ca-check", status, json_out, text)


@app.command()
@run_async
async def approve(
    change_id: ChangeArg,
    by: By = None,
    comment: Comment = "",
    plan_hash: Annotated[
        str | None,
        typer.Option(help="the plan you reviewed (without it the plan is shown and confirmed)"),
    ] = None,
    group: Annotated[
        list[str] | None, typer.Option(help="approver group you act for (repeatable)")
    ] = None,
    json_out: Json = False,
) -> None:
    """Approve the gate a renewal waits at (its plan, or its phone-impacting restarts).

    The approval is bound to the plan you saw: give --plan-hash, or review the plan shown and
    confirm it. Through the ucrenew service (`ucrenew login`) you act as who you signed in as.
    """
    from workflows.models import ApprovalInput
    from workflows.renewal import CertRenewalWorkflow

    remote = _service(by=by, group=group)
    if plan_hash is None:
        if json_out:
            raise CliError("--json needs --plan-hash: the plan you reviewed", ExitCode.USAGE)
        shown = await (_remote_status(remote, change_id) if remote else _open_status(change_id))
        plan_hash = _reviewed_hash(shown)
    if remote is not None:
        data = await _remote_action(
            remote, change_id, "approve", {"plan_hash": plan_hash, "comment": comment}
        )
        _print_status(
            change_id, "approve", data["status"], json_out, f"approved {change_id} ({plan_hash})"
        )
        return
    approval = ApprovalInput(
        principal=principal(by), comment=comment, plan_hash=plan_hash, groups=group or []
    )
    status = await _act(
        change_id, "approve", lambda h: h.execute_update(CertRenewalWorkflow.approve, approval)
    )
    _print_status(change_id, "approve", status, json_out, f"approved {change_id} ({plan_hash})")


@app.command()
@run_async
async def reject(
    change_id: ChangeArg, by: By = None, comment: Comment = "", json_out: Json = False
) -> None:
    """Reject the plan: the renewal ends without changing the cluster."""
    from workflows.models import ApprovalInput
    from workflows.renewal import CertRenewalWorkflow

    remote = _service(by=by)
    if remote is not None:
        data = await _remote_action(remote, change_id, "reject", {"comment": comment})
        _print_status(change_id, "reject", data["status"], json_out, f"rejected {change_id}")
        return
    rejection = ApprovalInput(principal=principal(by), comment=comment)
    status = await _act(
        change_id, "reject", lambda h: h.execute_update(CertRenewalWorkflow.reject, rejection)
    )
    _print_status(change_id, "reject", status, json_out, f"rejected {change_id}")


def _refuse_key_in(what: str, data: bytes | str) -> None:
    """Refuse private key material before it is sent (Temporal would keep it in history)."""
    from activities.clients.key_material import KeyMaterialError, refuse_key_material

    try:
        refuse_key_material(data, what)
    except KeyMaterialError as exc:
        raise CliError(str(exc), ExitCode.USAGE) from None


def _submission_file(path: Path, option: str) -> str:
    """A certificate file's PEM text, refused if it holds a private key or is not text."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CliError(f"{option} {path}: {exc.strerror or exc}", ExitCode.USAGE) from None
    _refuse_key_in(f"{option} {path}", data)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise CliError(
            f"{option} {path} is not PEM text (a binary DER or PKCS#7 file?): convert it "
            "with `openssl x509 -inform der -in FILE -out FILE.pem`",
            ExitCode.USAGE,
        ) from None


@app.command("submit-cert")
@run_async
async def submit_cert(
    change_id: ChangeArg,
    cert: Annotated[Path, typer.Option(help="signed certificate (PEM)", exists=True)],
    chain: Annotated[
        Path | None, typer.Option(help="intermediates and root (PEM)", exists=True)
    ] = None,
    by: By = None,
    comment: Comment = "",
    json_out: Json = False,
) -> None:
    """Hand in the signed certificate of a renewal waiting for its CA (validated at once).

    A file that holds a private key (PEM key block, PKCS#12/PFX, DER key) is refused before
    anything is sent: the key would stay in the workflow history.
    """
    from workflows.models import CertificateSubmission
    from workflows.renewal import CertRenewalWorkflow

    cert_pem = _submission_file(cert, "--cert")
    chain_pem = _submission_file(chain, "--chain") if chain else None
    _refuse_key_in("the comment", comment)
    remote = _service(by=by)
    if remote is not None:
        data = await _remote_action(
            remote,
            change_id,
            "submit-cert",
            {"certificate_pem": cert_pem, "chain_pem": chain_pem, "comment": comment},
        )
        serial = (data.get("submission") or {}).get("serial", "")
        _print_status(
            change_id,
            "submit-cert",
            data.get("submission"),
            json_out,
            f"accepted certificate serial {serial} for {change_id}",
        )
        return
    submission = CertificateSubmission(
        principal=principal(by),
        certificate_pem=cert_pem,
        chain_pem=chain_pem,
        comment=comment,
    )
    result = await _act(
        change_id,
        "submit a certificate to",
        lambda h: h.execute_update(CertRenewalWorkflow.submit_certificate, submission),
    )
    _print_status(
        change_id,
        "submit-cert",
        result,
        json_out,
        f"accepted certificate serial {result.serial} for {change_id}",
    )


class Decision(StrEnum):
    """``decide`` answers."""

    REGENERATE = "regenerate"
    ABORT = "abort"
    CONTINUE = "continue"
    ROLL_FORWARD = "roll-forward"
    RESUME = "resume"
    RETRY = "retry"
    SKIP = "skip"
    ROLLBACK = "rollback"
    STOP = "stop"


@app.command()
@run_async
async def decide(
    change_id: ChangeArg,
    decision: Annotated[
        Decision, typer.Argument(case_sensitive=False, help="the answer", show_default=False)
    ],
    by: By = None,
    comment: Comment = "",
    json_out: Json = False,
) -> None:
    """Answer a renewal's question: a stale CSR (regenerate | abort), phones not back after a
    wave (continue | roll-forward | abort), the window closing (resume | abort), a node's
    restart or verification that failed (retry | skip | rollback | stop)."""
    from workflows.models import OperatorDecision
    from workflows.renewal import CertRenewalWorkflow

    remote = _service(by=by)
    if remote is not None:
        data = await _remote_action(
            remote, change_id, "decide", {"decision": decision.value, "comment": comment}
        )
        _print_status(
            change_id, "decide", data["status"], json_out, f"{change_id}: {decision.value}"
        )
        return
    answer = OperatorDecision(principal=principal(by), decision=decision.value, comment=comment)
    status = await _act(
        change_id,
        f"answer with {decision.value}",
        lambda h: h.execute_update(CertRenewalWorkflow.decide, answer),
    )
    _print_status(change_id, "decide", status, json_out, f"{change_id}: {decision.value}")


@app.command("confirm-sso")
@run_async
async def confirm_sso(
    change_id: ChangeArg, by: By = None, comment: Comment = "", json_out: Json = False
) -> None:
    """Confirm SAML SSO was re-enabled in the GUI (ucrenew checks it on the cluster)."""
    from workflows.models import SsoConfirmation
    from workflows.renewal import CertRenewalWorkflow

    remote = _service(by=by)
    if remote is not None:
        data = await _remote_action(remote, change_id, "confirm-sso", {"comment": comment})
        _print_status(
            change_id,
            "confirm-sso",
            data["status"],
            json_out,
            f"SSO re-enable confirmed for {change_id}",
        )
        return
    confirmation = SsoConfirmation(principal=principal(by), comment=comment)
    status = await _act(
        change_id,
        "confirm",
        lambda h: h.execute_update(CertRenewalWorkflow.confirm_sso, confirmation),
    )
    _print_status(
        change_id, "confirm-sso", status, json_out, f"SSO re-enable confirmed for {change_id}"
    )


@app.command()
@run_async
async def cancel(
    change_id: ChangeArg,
    reason: Annotated[str, typer.Option("--reason", "-m", help="why the change is cancelled")],
    by: By = None,
    json_out: Json = False,
) -> None:
    """Cancel a renewal: who and why go into its audit trail first; it then records where
    the cluster stands and what is left to do, node by node."""

    from workflows.models import CancellationNote
    from workflows.renewal import CertRenewalWorkflow

    remote = _service(by=by)
    if remote is not None:
        await _remote_action(remote, change_id, "cancel", {"reason": reason})
    else:
        handle = await _running(change_id, "cancel")
        note = CancellationNote(principal=principal(by), reason=reason)
        await _act(
            change_id,
            "cancel",
            lambda h: h.execute_update(CertRenewalWorkflow.record_cancellation, note),
        )
        await handle.cancel()
    at = datetime.now(UTC)
    _print_status(
        change_id,
        "cancel",
        {"cancel_requested_at": at.isoformat()},
        json_out,
        f"cancellation requested for {change_id} at {at:%H:%M:%S}Z",
    )


@app.command()
def demo(
    keep: Annotated[bool, typer.Option(help="leave the stack running afterwards")] = False,
    json_out: Annotated[
        bool, typer.Option("--json", help="print only a JSON summary at the end")
    ] = False,
) -> None:
    """Run a full tomcat renewal of the lab cluster with the local CA, end to end.

    When a part of the stack cannot start, the parts it started are stopped again.
    """
    optional_lab.require("ucrenew demo")
    from console.demo import run_demo

    summary: dict[str, Any] = {}
    if json_out:
        console.quiet = True
    code = run_async(run_demo)(settings(), keep=keep, summary=summary)
    if json_out:
        typer.echo(json.dumps(summary, indent=2, default=str))
    raise typer.Exit(code)


def main() -> None:
    """Console entry point.

    Ends with ``os._exit``: the Temporal client's native threads can outlive the event loop,
    and CPython's finalization then aborts the process (temporalio/sdk-python#300) after the
    command already succeeded. Output is flushed first; nothing else is pending by then. An
    exception no command turned into an error is printed as one line all the same.
    """
    import os

    from console.common import fail

    code: int | str | None = 0
    try:
        app()
    except SystemExit as exc:
        code = exc.code
    except KeyboardInterrupt:
        sys.stderr.write("error: interrupted\n")
        code = 130
    except Exception as exc:
        if os.environ.get("UCRENEW_DEBUG"):
            raise
        code = fail(exc)
    telemetry = sys.modules.get("workers.telemetry")
    if telemetry is not None:
        # os._exit skips the span exporter's exit hook: the start's spans would be lost.
        telemetry.flush_tracing()
    sys.stdout.flush()
    sys.stderr.flush()
    if isinstance(code, str):
        sys.stderr.write(code + "\n")
        code = ExitCode.FAILED
    os._exit(int(code or 0))
