"""``ucrenew campaign``: renew purposes across many clusters (a selection by name, tag or
release) with a concurrency limit and a stop rule; progress, pause, resume and abort.

With a ucrenew service configured (``ucrenew login``, ``UCRENEW_SERVER``) every command goes
through its campaign API as the signed-in person; otherwise straight to Temporal.
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import quote

import typer

from activities.catalog import PURPOSES
from console.common import (
    CliError,
    ExitCode,
    console,
    err_console,
    principal,
    run_async,
    settings,
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

if TYPE_CHECKING:
    from temporalio.client import Client

    from workflows.campaign_models import CampaignStatus, CampaignSummary

__all__ = ["campaign_app", "parse_selection"]

campaign_app = typer.Typer(
    no_args_is_help=True,
    help="Renew purposes across many clusters: a parent workflow with one renewal per "
    "cluster, a limit on how many run at once, and a stop rule.",
    rich_markup_mode=None,
)


class CampaignCa(StrEnum):
    """``--ca`` values."""

    LOCAL = "local"
    MANUAL = "manual"
    ADCS = "adcs"
    ACME = "acme"


CampaignArg = Annotated[str, typer.Argument(help="campaign id", show_default=False)]
Json = Annotated[bool, typer.Option("--json", help="print JSON")]
By = Annotated[str | None, typer.Option("--by", help="who is acting (default: login name)")]
Reason = Annotated[str, typer.Option("--reason", "-m", help="why (goes into the audit)")]

_SELECT_KINDS = {"name": "names", "tag": "tags", "release": "releases"}


def parse_selection(values: list[str]) -> dict[str, list[str]]:
    """``--select`` values (``name=a``, ``tag=emea,apac``, ``release=14``) as a selection.

    Raises:
        CliError: A usage error naming the value and the kinds.
    """
    selection: dict[str, list[str]] = {v: [] for v in _SELECT_KINDS.values()}
    for value in values:
        kind, sep, rest = value.partition("=")
        field = _SELECT_KINDS.get(kind.strip().lower())
        items = [v.strip() for v in rest.split(",") if v.strip()]
        if not sep or field is None or not items:
            raise CliError(
                f"--select {value!r}: write name=CLUSTER, tag=TAG or release=VERSION "
                "(comma-separated values, repeatable)",
                ExitCode.USAGE,
            )
        selection[field].extend(i for i in items if i not in selection[field])
    if not any(selection.values()):
        raise CliError(
            "say which clusters: --select name=…, tag=… or release=… (repeatable)",
            ExitCode.USAGE,
        )
    return selection


def _purposes(values: list[str]) -> list[str]:
    spelled = {name.lower(): name for name in PURPOSES}
    unknown = [v for v in values if v.lower() not in spelled]
    if unknown:
        raise CliError(
            f"--purpose: {', '.join(map(repr, unknown))} is not a purpose: choose from "
            f"{', '.join(PURPOSES)}",
            ExitCode.USAGE,
        )
    return list(dict.fromkeys(spelled[v.lower()] for v in values))


def _remote() -> Any:
    from console.remote import configured

    return configured()


async def _client() -> Client:
    from console.common import client

    return await client()


def _path(campaign_id: str, action: str = "") -> str:
    return f"/api/v1/campaigns/{quote(campaign_id, safe='')}" + (f"/{action}" if action else "")


def _unknown(campaign_id: str) -> CliError:
    return CliError(
        f"no campaign {campaign_id!r}: `ucrenew campaign ls` lists them", ExitCode.NOT_FOUND
    )


async def _status(campaign_id: str) -> CampaignStatus:
    from temporalio.service import RPCError, RPCStatusCode

    from workers.campaigns import campaign_handle
    from workflows.campaign import CampaignWorkflow

    handle = campaign_handle(await _client(), campaign_id)
    try:
        return await handle.query(CampaignWorkflow.get_status)
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise _unknown(campaign_id) from None
        raise


def _print(status: CampaignStatus, json_out: bool, message: str = "") -> None:
    """The campaign's progress: counts, then one row per cluster."""
    if json_out:
        typer.echo(json.dumps(status.model_dump(mode="json"), indent=2))
        return
    from rich.table import Table
    from rich.text import Text

    if message:
        console.print(message)
    c = status.counts
    console.print(
        f"campaign {status.campaign_id}: {status.phase} · {', '.join(status.purposes)} on "
        f"{status.selection.describe()} · {c.done} done, {c.failed} failed, {c.skipped} "
        f"skipped, {c.running} running, {c.pending} pending"
        f"{f' ({c.busy} waiting for another change)' if c.busy else ''} of {c.total} · limit "
        f"{status.limit}, pause after {status.stop_after_failures or 'no'} failure(s)"
    )
    if status.paused_reason:
        console.print(Text(f"paused: {status.paused_reason}", style="yellow"))
    if status.abort_reason:
        console.print(Text(f"aborted by {status.abort_reason}", style="red"))
    if status.not_found:
        console.print(Text(f"not in the inventory: {', '.join(status.not_found)}", style="yellow"))
    table = Table(title=None)
    for column in ("cluster", "release", "state", "renewal", "why"):
        table.add_column(column, overflow="fold")
    styles = {"done": "green", "failed": "red", "skipped": "yellow", "running": "cyan"}
    for row in status.clusters:
        table.add_row(
            row.cluster,
            row.version or "",
            Text(row.state, style=styles.get(row.state, "")),
            row.change_id if row.run_id else "",
            row.error or row.waiting,
        )
    console.print(table)


@campaign_app.command("start")
@run_async
async def start(
    campaign_id: CampaignArg,
    select: Annotated[
        list[str],
        typer.Option(
            "--select",
            metavar="KIND=VALUE",
            help="name=CLUSTER, tag=TAG or release=VERSION (comma-separated, repeatable); "
            "values of one kind are alternatives, kinds together must all match",
        ),
    ],
    purpose: Annotated[
        list[str],
        typer.Option("--purpose", metavar="PURPOSE", help=f"{' | '.join(PURPOSES)} (repeatable)"),
    ] = ["tomcat"],  # noqa: B006
    limit: Annotated[
        int, typer.Option("--limit", min=1, max=500, help="renewals running at once at most")
    ] = 1,
    stop_after_failures: Annotated[
        int,
        typer.Option(
            "--stop-after-failures", min=0, help="pause after this many failures (0: never)"
        ),
    ] = 1,
    busy_retry: Annotated[
        int,
        typer.Option(
            "--busy-retry-minutes",
            min=1,
            help="a cluster another change runs on is tried again after this many minutes",
        ),
    ] = 15,
    busy_wait: Annotated[
        float,
        typer.Option(
            "--busy-wait-hours",
            min=0,
            help="wait for busy clusters this long from the start; still busy then: skipped "
            "(0: skip them at once)",
        ),
    ] = 24,
    ca: Annotated[
        CampaignCa, typer.Option("--ca", case_sensitive=False, help="who signs")
    ] = CampaignCa.LOCAL,
    ca_name: Annotated[str | None, typer.Option(help="CA entry of the inventory")] = None,
    ca_template: Annotated[str | None, typer.Option(help="template (ADCS) or profile")] = None,
    key_length: KeyLength = DEFAULT_KEY_LENGTH,
    ec_key_length: EcKeyLength = DEFAULT_EC_KEY_LENGTH,
    hash_algorithm: Hash = DEFAULT_HASH,
    other_domain: OtherDomains = None,
    min_remaining_days: MinRemainingDays = DEFAULT_MIN_REMAINING_DAYS,
    by: By = None,
    json_out: Json = False,
) -> None:
    """Start a campaign: one renewal per selected cluster, with ids CAMPAIGN-CLUSTER.

    A cluster with another change running on it is waited for: tried again every
    --busy-retry-minutes, for --busy-wait-hours from the start; then skipped, the change
    named in `campaign show`.
    Renewals wait for their approvals and their cluster's windows as any renewal does.
    """
    import re

    from pydantic import ValidationError

    from workflows.campaign_models import CampaignInput, CampaignStatus

    if not re.fullmatch(r"[A-Za-z0-9._:-]{1,120}", campaign_id):
        raise CliError(
            f"campaign id {campaign_id!r}: use up to 120 letters, digits and . _ : - "
            "(its renewals are named <campaign>-<cluster>)",
            ExitCode.USAGE,
        )

    purposes = _purposes(purpose)
    options = build_options(
        key_length=key_length,
        ec_key_length=ec_key_length,
        hash_algorithm=hash_algorithm.value,
        other_domains=other_domain or [],
        min_remaining_days=min_remaining_days,
    )
    for warning in csr_warnings(purposes, options):
        err_console.print(f"[yellow]warning:[/] {warning}", highlight=False)
    body: dict[str, Any] = {
        "campaign_id": campaign_id,
        "purposes": purposes,
        "selection": parse_selection(select),
        "ca": ca.value,
        "ca_name": ca_name,
        "ca_template": ca_template,
        "limit": limit,
        "stop_after_failures": stop_after_failures,
        "options": options.model_dump(mode="json"),
        "busy_retry_seconds": busy_retry * 60,
        "busy_wait_seconds": round(busy_wait * 3600),
    }
    remote = _remote()
    if remote is not None:
        from console.remote import api_call, refuse_identity_options

        refuse_identity_options(remote, by=by)
        data = await api_call(
            remote.server, "POST", "/api/v1/campaigns", token=remote.token, body=body
        )
        _started(CampaignStatus.model_validate(data["status"]), json_out)
        return
    from temporalio.exceptions import WorkflowAlreadyStartedError

    from workers.campaigns import CampaignFailed, resolved_status, start_campaign

    try:
        inp = CampaignInput.model_validate(
            {**body, "requested_by": principal(by), "base_url": settings().service_base_url}
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        raise CliError(f"campaign: {first['msg']}", ExitCode.USAGE) from None
    try:
        handle = await start_campaign(await _client(), inp, task_queue=settings().task_queue)
    except WorkflowAlreadyStartedError:
        raise CliError(
            f"campaign id {campaign_id} is already in use: `ucrenew campaign show "
            f"{campaign_id}`, or choose another id",
            ExitCode.REFUSED,
        ) from None
    try:
        status = await resolved_status(handle)
    except CampaignFailed as exc:
        raise CliError(f"campaign {campaign_id} failed: {exc}") from None
    _started(status, json_out)


def _started(status: CampaignStatus, json_out: bool) -> None:
    """The new campaign's clusters; exit 1 when the selection matched none."""
    _print(status, json_out, f"campaign {status.campaign_id} started")
    if status.phase != "resolving" and not status.clusters:
        raise CliError(
            f"no cluster of the inventory matches {status.selection.describe()}: campaign "
            f"{status.campaign_id} ended with nothing to do"
        )


@campaign_app.command("ls")
@run_async
async def list_(
    running: Annotated[bool, typer.Option("--running", help="running campaigns only")] = False,
    json_out: Json = False,
) -> None:
    """The latest campaigns, newest first, with their progress."""
    from workflows.campaign_models import CampaignSummary

    remote = _remote()
    rows: list[CampaignSummary]
    if remote is not None:
        from console.remote import api_call

        path = "/api/v1/campaigns" + ("?running=true" if running else "")
        data = await api_call(remote.server, "GET", path, token=remote.token)
        rows = [CampaignSummary.model_validate(r) for r in data["campaigns"]]
    else:
        from workers.campaigns import list_campaigns

        rows = await list_campaigns(await _client(), running_only=running)
    if json_out:
        typer.echo(json.dumps([r.model_dump(mode="json") for r in rows], indent=2))
        return
    _print_list(rows)


def _print_list(rows: list[CampaignSummary]) -> None:
    from rich.table import Table

    if not rows:
        console.print("no campaign yet: `ucrenew campaign start ID --select …`")
        return
    table = Table()
    for column in ("campaign", "state", "purposes", "selection", "done", "failed", "skipped"):
        table.add_column(column, overflow="fold")
    for column in ("running", "pending", "started"):
        table.add_column(column)
    for r in rows:
        s = r.status
        started = f"{r.started_at:%Y-%m-%d %H:%M}" if r.started_at else ""
        if s is None:
            table.add_row(r.campaign_id, r.execution, "", "", "", "", "", "", "", started)
            continue
        c = s.counts
        table.add_row(
            r.campaign_id,
            s.phase,
            ", ".join(s.purposes),
            s.selection.describe(),
            *(str(n) for n in (c.done, c.failed, c.skipped, c.running, c.pending)),
            started,
        )
    console.print(table)


@campaign_app.command("show")
@run_async
async def show(campaign_id: CampaignArg, json_out: Json = False) -> None:
    """A campaign's progress: counts, pause reason, one row per cluster with its renewal."""
    from workflows.campaign_models import CampaignStatus

    remote = _remote()
    if remote is not None:
        from console.remote import api_call

        data = await api_call(remote.server, "GET", _path(campaign_id), token=remote.token)
        status = CampaignStatus.model_validate(data["status"])
    else:
        status = await _status(campaign_id)
    _print(status, json_out)


async def _act(
    campaign_id: str, verb: str, reason: str, by: str | None, cancel_running: bool, json_out: bool
) -> None:
    from workflows.campaign_models import CampaignAction, CampaignStatus

    remote = _remote()
    if remote is not None:
        from console.remote import api_call, refuse_identity_options

        refuse_identity_options(remote, by=by)
        data = await api_call(
            remote.server,
            "POST",
            _path(campaign_id, verb),
            token=remote.token,
            body={"reason": reason, "cancel_running": cancel_running},
        )
        _print(CampaignStatus.model_validate(data["status"]), json_out, f"campaign {verb}: done")
        return
    from temporalio.client import WorkflowExecutionStatus, WorkflowUpdateFailedError
    from temporalio.exceptions import ApplicationError
    from temporalio.service import RPCError, RPCStatusCode

    from workers.campaigns import campaign_handle
    from workflows.campaign import CampaignWorkflow

    if not reason.strip():
        raise CliError("--reason must say why", ExitCode.USAGE)
    handle = campaign_handle(await _client(), campaign_id)
    try:
        desc = await handle.describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise _unknown(campaign_id) from None
        raise
    if desc.status != WorkflowExecutionStatus.RUNNING:
        state = desc.status.name.lower() if desc.status else "closed"
        raise CliError(
            f"campaign {campaign_id} has ended ({state}): nothing to {verb}", ExitCode.REFUSED
        )
    update = {
        "pause": CampaignWorkflow.pause,
        "resume": CampaignWorkflow.resume,
        "abort": CampaignWorkflow.abort,
    }[verb]
    action = CampaignAction(principal=principal(by), reason=reason, cancel_running=cancel_running)
    try:
        status = await handle.execute_update(update, action)
    except WorkflowUpdateFailedError as exc:
        cause = exc.cause
        message = cause.message if isinstance(cause, ApplicationError) else str(cause or exc)
        raise CliError(f"campaign {campaign_id}: {message}", ExitCode.REFUSED) from None
    _print(status, json_out, f"campaign {verb}: done")


@campaign_app.command("pause")
@run_async
async def pause(
    campaign_id: CampaignArg, reason: Reason, by: By = None, json_out: Json = False
) -> None:
    """Start no more renewals until resumed; running renewals go on."""
    await _act(campaign_id, "pause", reason, by, False, json_out)


@campaign_app.command("resume")
@run_async
async def resume(
    campaign_id: CampaignArg, reason: Reason, by: By = None, json_out: Json = False
) -> None:
    """Start renewals again; the stop rule counts failures from here."""
    await _act(campaign_id, "resume", reason, by, False, json_out)


@campaign_app.command("abort")
@run_async
async def abort(
    campaign_id: CampaignArg,
    reason: Reason,
    cancel_running: Annotated[
        bool,
        typer.Option(
            "--cancel-running",
            help="cancel the renewals running now too (default: they go on to their end)",
        ),
    ] = False,
    by: By = None,
    json_out: Json = False,
) -> None:
    """End the campaign: clusters not started are skipped; running renewals go on unless
    --cancel-running."""
    await _act(campaign_id, "abort", reason, by, cancel_running, json_out)
