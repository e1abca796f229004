"""Shared helpers of the CLI: settings, the Temporal client, principals, errors and exit codes.

Everything heavy (temporalio, the workflows, pydantic settings, rich) is imported inside the
function that needs it: ``ucrenew --help`` and shell completion import this module and must
stay fast.
"""

from __future__ import annotations

import asyncio
import getpass
import os
import re
import sys
from collections.abc import Awaitable, Callable
from enum import IntEnum
from functools import wraps
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

import typer

if TYPE_CHECKING:
    from rich.console import Console
    from temporalio.client import Client, WorkflowHandle

    from workers.settings import UcrenewSettings
    from workflows.models import RenewalStatus
    from workflows.renewal import CertRenewalWorkflow

P = ParamSpec("P")
R = TypeVar("R")


class ExitCode(IntEnum):
    """The exit codes of every ``ucrenew`` command (docs/operator-guide.md, "Exit codes")."""

    OK = 0
    #: The change, or the command itself, failed.
    FAILED = 1
    #: The command line is wrong (typer/click's own code for usage errors).
    USAGE = 2
    #: Refused by the state of the cluster or the change: preflight problems, a change id
    #: already in use, a change that is finished or not waiting for that action.
    REFUSED = 3
    #: No such change id or cluster.
    NOT_FOUND = 4
    #: Temporal does not answer.
    UNREACHABLE = 5


class CliError(Exception):
    """An error the CLI prints as one line on stderr, exiting with ``code``."""

    def __init__(self, message: str, code: ExitCode = ExitCode.FAILED) -> None:
        """Build the error.

        Args:
            message: What went wrong and what to do, without secrets.
            code: The exit code of the command.
        """
        super().__init__(message)
        self.code = code


class _LazyConsole:
    """A rich Console built on first use (importing rich costs a tenth of a second)."""

    def __init__(self, stderr: bool = False) -> None:
        self._stderr = stderr
        self._console: Console | None = None

    def _real(self) -> Console:
        if self._console is None:
            from rich.console import Console

            self._console = Console(stderr=self._stderr)
        return self._console

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real(), name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name.startswith("_"):
            object.__setattr__(self, name, value)
        else:
            setattr(self._real(), name, value)

    def __enter__(self) -> Console:
        return self._real().__enter__()

    def __exit__(self, *exc: object) -> None:
        self._real().__exit__(*exc)


console: Console = _LazyConsole()  # type: ignore[assignment]
err_console: Console = _LazyConsole(stderr=True)  # type: ignore[assignment]


def settings() -> UcrenewSettings:
    """Settings from ``UCRENEW_*`` variables.

    Raises:
        SettingsError: A variable does not validate (a ``ValueError``; the message names it).
    """
    from workers.settings import load_settings

    return load_settings()


def principal(given: str | None) -> str:
    """Who is acting: ``--by``, else ``UCRENEW_PRINCIPAL``, else the login name."""
    return given or os.environ.get("UCRENEW_PRINCIPAL") or getpass.getuser()


async def client() -> Client:
    """Connect to Temporal as the settings say (TLS, mTLS, API key), with a clear error when
    the settings do not resolve, the server refuses, or nothing answers."""
    from workers.converter import make_data_converter
    from workers.temporal_connect import TemporalConnectError, connect_client

    s = settings()
    try:
        return await connect_client(s, data_converter=make_data_converter(s))
    except TemporalConnectError as exc:
        raise connect_error(exc) from None


def connect_error(exc: Exception) -> CliError:
    """The CLI's error for a :class:`~workers.temporal_connect.TemporalConnectError`:
    "unreachable" when nothing answered, else "failed" (settings or credentials)."""
    code = ExitCode.UNREACHABLE if getattr(exc, "unreachable", False) else ExitCode.FAILED
    return CliError(str(exc), code)


async def renewal(change_id: str) -> WorkflowHandle[CertRenewalWorkflow, RenewalStatus]:
    """Handle of a renewal by change id."""
    from workflows.renewal import CertRenewalWorkflow

    c = await client()
    return c.get_workflow_handle_for(CertRenewalWorkflow.run, change_id)


def unknown_change(change_id: str) -> CliError:
    """The error for a change id Temporal does not know."""
    return CliError(
        f"no change {change_id!r}: `ucrenew ls --all` lists the changes", ExitCode.NOT_FOUND
    )


async def status_of(change_id: str) -> RenewalStatus:
    """The status of a renewal, also without a worker: a finished change from its result or
    memo; a running one from the status query, or, when no worker answers within a few
    seconds, from Temporal's records with a notice on stderr saying why and what to do.
    A clear error for an unknown change id."""
    from workers.status_read import UnknownChange, read_status

    try:
        read = await read_status(await client(), change_id)
    except UnknownChange:
        raise unknown_change(change_id) from None
    except LookupError as exc:
        raise CliError(str(exc)) from None
    if read.notice and read.notice not in _notices_shown:
        from rich.markup import escape

        # `watch` reads again and again: each notice is said once.
        _notices_shown.add(read.notice)
        err_console.print(f"[yellow]note:[/] {escape(read.notice)}", highlight=False)
    return read.status


_notices_shown: set[str] = set()


def one_line(text: str) -> str:
    """``text`` on one line: newlines and runs of blanks become single spaces."""
    return re.sub(r"\s+", " ", text).strip()


def fail(exc: BaseException) -> ExitCode:
    """Print ``exc`` as one ``error:`` line on stderr and return the command's exit code.

    The one place exceptions become exit codes: CliError carries its own; an unknown cluster
    or change is "not found", Temporal not answering "unreachable", an invalid inventory and
    anything unexpected "failed" (the unexpected with its type, and no traceback unless
    UCRENEW_DEBUG is set).
    """
    code, message = _classify(exc)
    sys.stdout.flush()
    sys.stderr.write(f"error: {one_line(message)}\n")
    sys.stderr.flush()
    return code


def _classify(exc: BaseException) -> tuple[ExitCode, str]:
    from activities.clients.inventory import InventoryError
    from activities.clients.key_material import KeyMaterialError

    if isinstance(exc, CliError):
        return exc.code, str(exc)
    if "workers.settings" in sys.modules:
        from workers.settings import SettingsError

        if isinstance(exc, SettingsError):
            return ExitCode.FAILED, str(exc)
    if "workers.temporal_connect" in sys.modules:
        from workers.temporal_connect import TemporalConnectError

        if isinstance(exc, TemporalConnectError):
            return connect_error(exc).code, str(exc)
    if isinstance(exc, KeyMaterialError):  # the converter refused to send it: any comment
        return ExitCode.USAGE, str(exc)
    if isinstance(exc, InventoryError):
        if str(exc).startswith("no cluster named"):
            return ExitCode.NOT_FOUND, str(exc)
        return ExitCode.FAILED, str(exc)
    if "temporalio.service" in sys.modules:
        from temporalio.service import RPCError, RPCStatusCode

        if isinstance(exc, RPCError):
            if exc.status == RPCStatusCode.NOT_FOUND:
                return ExitCode.NOT_FOUND, f"{exc.message} (`ucrenew ls --all` lists the changes)"
            if exc.status in (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED):
                return ExitCode.UNREACHABLE, f"Temporal does not answer: {exc.message}"
            return ExitCode.FAILED, exc.message
    if isinstance(exc, RuntimeError) and str(exc).startswith("Failed client connect"):
        return ExitCode.UNREACHABLE, (
            f"cannot reach Temporal ({exc}): start the embedded stack with `ucrenew dev up`, "
            "or set UCRENEW_TEMPORAL_ADDRESS"
        )
    return ExitCode.FAILED, (
        f"unexpected {type(exc).__name__}: {exc} (set UCRENEW_DEBUG=1 for the traceback)"
    )


def configure_cli_logging() -> None:
    """Log what runs in the CLI's process (``plan``'s discovery) to stderr in the worker's
    format (``UCRENEW_LOG_FORMAT``): ucrenew's lines from ``cli_log_level``, the libraries'
    from ``library_log_level``. Settings that do not validate are left to the command to
    report. Called by the commands that work in the CLI's process (``plan``, ``check``): the
    logging module imports temporalio's worker, which the other commands need not load."""
    from workers.logs import configure_logging

    try:
        s = settings()
    except ValueError:
        return
    configure_logging(s.log_format, s.cli_log_level, s.library_log_level)


def run_async(fn: Callable[P, Awaitable[R]]) -> Callable[P, R]:
    """Run an async command body; any error becomes one line and its exit code."""

    @wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return asyncio.run(fn(*args, **kwargs))  # type: ignore[arg-type]
        except (typer.Exit, typer.Abort):
            raise
        except Exception as exc:
            # A usage error raised in the body (typer.BadParameter) stays one: the root
            # command prints it with the --help to read and exits 2.
            usage = hasattr(exc, "format_message") and hasattr(exc, "exit_code")
            if usage or os.environ.get("UCRENEW_DEBUG"):
                raise
            raise typer.Exit(fail(exc)) from None

    return wrapper


def short(value: Any, width: int = 16) -> str:
    """A value cut to ``width`` characters."""
    text = "" if value is None else str(value)
    return text if len(text) <= width else text[: width - 1] + "…"
