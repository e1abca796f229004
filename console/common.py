"""Shared helpers of the CLI: settings, the Temporal client, principals, output."""

from __future__ import annotations

import asyncio
import getpass
import os
from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Any, ParamSpec, TypeVar

import typer
from rich.console import Console
from temporalio.client import Client, WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode

from activities.clients.inventory import InventoryError
from workers.settings import UcrenewSettings
from workers.wiring import connect
from workflows.models import RenewalStatus
from workflows.renewal import CertRenewalWorkflow

#: Exit codes of ``ucrenew`` (docs/operator-guide.md lists them): keep every code here.
EXIT_OK = 0
#: A one-line error: bad input, nothing found, Temporal or a worker unreachable, a failure.
EXIT_ERROR = 1
#: The cluster's state refuses the change: ``plan`` found a blocking problem, or the change
#: ``start`` started failed its preflight (nothing was written).
EXIT_REFUSED = 2

console = Console()
err_console = Console(stderr=True)

P = ParamSpec("P")
R = TypeVar("R")


def settings() -> UcrenewSettings:
    """Settings from ``UCRENEW_*`` variables."""
    return UcrenewSettings()


def principal(given: str | None) -> str:
    """Who is acting: ``--by``, else ``UCRENEW_PRINCIPAL``, else the login name."""
    return given or os.environ.get("UCRENEW_PRINCIPAL") or getpass.getuser()


async def client() -> Client:
    """Connect to Temporal, with a clear error when nothing answers."""
    s = settings()
    try:
        return await connect(s)
    except RuntimeError as exc:
        raise CliError(
            f"cannot reach Temporal at {s.temporal_address} ({exc}). Start the embedded stack "
            "with `ucrenew dev up`, or set UCRENEW_TEMPORAL_ADDRESS."
        ) from None


async def renewal(change_id: str) -> WorkflowHandle[CertRenewalWorkflow, RenewalStatus]:
    """Handle of a renewal by change id."""
    c = await client()
    return c.get_workflow_handle_for(CertRenewalWorkflow.run, change_id)


async def status_of(change_id: str) -> RenewalStatus:
    """The status query of a renewal, with a clear error for an unknown change id."""
    handle = await renewal(change_id)
    try:
        return await handle.query(CertRenewalWorkflow.get_status)
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise CliError(f"no renewal with change id {change_id}") from None
        raise


class CliError(Exception):
    """An error the CLI prints as one line and exits 1 on."""


def run_async(fn: Callable[P, Awaitable[R]]) -> Callable[P, R]:
    """Run an async command body, printing CliErrors cleanly."""

    @wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return asyncio.run(fn(*args, **kwargs))  # type: ignore[arg-type]
        except (CliError, InventoryError) as exc:
            err_console.print(f"[red]error:[/] {exc}", markup=True, highlight=False)
            raise typer.Exit(1) from None
        except RPCError as exc:
            # A change id that Temporal does not know, or a server that refused the call.
            hint = (
                " (`ucrenew ls --all` lists the changes)"
                if exc.status == RPCStatusCode.NOT_FOUND
                else ""
            )
            err_console.print(f"[red]error:[/] {exc.message}{hint}", highlight=False)
            raise typer.Exit(1) from None

    return wrapper


def short(value: Any, width: int = 16) -> str:
    """A value cut to ``width`` characters."""
    text = "" if value is None else str(value)
    return text if len(text) <= width else text[: width - 1] + "…"
