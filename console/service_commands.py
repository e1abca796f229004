"""``ucrenew serve``, ``login``, ``logout`` and ``users add``: running the ucrenew service and
signing in to it from the CLI.

Only typer is imported at start; the service, uvicorn and httpx load inside the commands.
"""

from __future__ import annotations

import getpass
import sys
from pathlib import Path
from typing import Annotated

import typer

from console.common import CliError, ExitCode, console, one_line, run_async

__all__ = ["login", "logout", "serve", "users_add", "users_app"]

users_app = typer.Typer(
    help="The service's local users file (argon2id password hashes).",
    no_args_is_help=True,
    rich_markup_mode=None,
)


def _default_users_file() -> Path:
    import os

    configured = os.environ.get("UCRENEW_SERVICE_USERS_FILE")
    if configured:
        return Path(configured)
    from console.common import settings

    return settings().state_dir / "service" / "users.yaml"


@users_app.command("add")
def users_add(
    name: Annotated[str, typer.Argument(help="user name (what the audit trail records)")],
    group: Annotated[
        list[str] | None, typer.Option("--group", "-g", help="a group of the user (repeatable)")
    ] = None,
    file: Annotated[
        Path | None,
        typer.Option(
            "--file",
            help="users file (default: UCRENEW_SERVICE_USERS_FILE, else "
            "<state dir>/service/users.yaml)",
        ),
    ] = None,
    display_name: Annotated[str, typer.Option(help="how the dashboard greets them")] = "",
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="read the password from stdin (scripts)")
    ] = False,
) -> None:
    """Add a user to the service's users file, or replace their password and groups.

    The password is asked twice and never echoed; only its argon2id hash is written, and the
    file stays readable by its owner only.
    """
    from service.users import MIN_PASSWORD_LENGTH, UsersFileError, add_user

    path = file or _default_users_file()
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass(f"password for {name}: ")
        if getpass.getpass("again: ") != password:
            raise typer.Exit(_fail("the passwords differ; nothing was written"))
    if len(password) < MIN_PASSWORD_LENGTH:
        raise typer.Exit(
            _fail(f"a password needs at least {MIN_PASSWORD_LENGTH} characters", ExitCode.USAGE)
        )
    try:
        new = add_user(path, name, password, group or [], display_name)
    except UsersFileError as err:
        raise typer.Exit(_fail(str(err))) from None
    except ValueError as err:
        raise typer.Exit(_fail(one_line(str(err)), ExitCode.USAGE)) from None
    groups = ", ".join(group or []) or "no groups"
    console.print(f"{'added' if new else 'updated'} {name} ({groups}) in {path}", highlight=False)


def _fail(message: str, code: ExitCode = ExitCode.FAILED) -> ExitCode:
    sys.stderr.write(f"error: {one_line(message)}\n")
    return code


def serve(
    listen: Annotated[
        str | None,
        typer.Option(help="host:port to bind (default: UCRENEW_SERVICE_LISTEN, 127.0.0.1:8480)"),
    ] = None,
) -> None:
    """Run the ucrenew service in the foreground: sign-in, the action API and the dashboard.

    Settings come from UCRENEW_SERVICE_* (and UCRENEW_* for Temporal); see
    docs/operator-guide.md, "The service".
    """
    from service.app import ServiceConfigError
    from service.server import load_settings, run

    try:
        run(load_settings(listen))
    except ServiceConfigError as err:
        raise typer.Exit(_fail(str(err), ExitCode.USAGE)) from None


@run_async
async def login(
    server: Annotated[
        str, typer.Option("--server", help="the ucrenew service, e.g. https://ucrenew.example.net")
    ],
    user: Annotated[
        str | None, typer.Option("--user", help="local user name (default: your login name)")
    ] = None,
    token_stdin: Annotated[
        bool,
        typer.Option(
            "--token-stdin",
            help="read an API token from stdin (made on the dashboard's account page)",
        ),
    ] = False,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="read the password from stdin (scripts)")
    ] = False,
) -> None:
    """Sign in to a ucrenew service: the acting commands then go through it as you.

    With a local user, asks for the password and stores an expiring API token (never the
    password) in $XDG_CONFIG_HOME/ucrenew/credentials.json, readable by you only. With
    --token-stdin, stores a token made on the dashboard's account page (OIDC or proxy
    sign-in).
    """
    from console.remote import api_call, save

    server = server.rstrip("/")
    if not server.startswith(("http://", "https://")):
        raise CliError(
            f"--server {server!r}: give the service's URL (http:// or https://)", ExitCode.USAGE
        )
    if token_stdin:
        token = sys.stdin.readline().strip()
        if not token:
            raise CliError("no token on stdin", ExitCode.USAGE)
        me = await api_call(server, "GET", "/api/v1/me", token=token)
        name, expires = str(me["name"]), ""
    else:
        name = user or getpass.getuser()
        password = (
            sys.stdin.readline().rstrip("\r\n")
            if password_stdin
            else getpass.getpass(f"password for {name} at {server}: ")
        )
        issued = await api_call(
            server, "POST", "/api/v1/tokens", body={"username": name, "password": password}
        )
        token, expires = str(issued["token"]), str(issued["expires_at"])
        name = str(issued["name"])
    path = save(server, token, name, expires)
    until = f" until {expires}" if expires else ""
    console.print(f"signed in to {server} as {name}{until} ({path})", highlight=False)


def logout() -> None:
    """Forget the stored credentials (the CLI then talks to Temporal directly again)."""
    from console.remote import credentials_path, forget

    path = credentials_path()
    if forget():
        console.print(f"signed out: removed {path}", highlight=False)
    else:
        console.print("not signed in (no stored credentials)")
