"""The CLI through the ucrenew service: where the server and token come from, the stored
credentials, and calls to the action API with errors turned into exit codes.

A server is configured by ``ucrenew login --server URL`` (``$XDG_CONFIG_HOME/ucrenew/
credentials.json``, mode 0600) or by ``UCRENEW_SERVER`` and ``UCRENEW_TOKEN`` together (the
variables win). Then the acting commands go through the service with the token, and the
service records who signed in; ``--by`` and ``--group`` are refused. Without one the CLI
talks to Temporal directly (the embedded dev stack, trusted hosts).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from console.common import CliError, ExitCode, one_line

__all__ = [
    "Remote",
    "api_call",
    "configured",
    "credentials_path",
    "forget",
    "refuse_identity_options",
    "save",
]


@dataclass(frozen=True)
class Remote:
    """A ucrenew service and the token to call it with."""

    server: str
    token: str
    source: str


def credentials_path() -> Path:
    """``$XDG_CONFIG_HOME/ucrenew/credentials.json`` (``~/.config`` when unset)."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "ucrenew" / "credentials.json"


def configured() -> Remote | None:
    """The service to act through, if any.

    Raises:
        CliError: Only one of ``UCRENEW_SERVER`` / ``UCRENEW_TOKEN`` is set, or the
            credentials file is unreadable.
    """
    server = os.environ.get("UCRENEW_SERVER", "").strip()
    token = os.environ.get("UCRENEW_TOKEN", "").strip()
    if server or token:
        if not (server and token):
            missing = "UCRENEW_TOKEN" if server else "UCRENEW_SERVER"
            raise CliError(
                f"{missing} is not set: set UCRENEW_SERVER and UCRENEW_TOKEN together, or "
                "neither (then `ucrenew login` credentials, if any, are used)",
                ExitCode.USAGE,
            )
        return Remote(server.rstrip("/"), token, "UCRENEW_SERVER/UCRENEW_TOKEN")
    path = credentials_path()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as err:
        raise CliError(
            f"{path} is unreadable ({type(err).__name__}): `ucrenew login` again or remove it"
        ) from None
    if not isinstance(data, dict) or not data.get("server") or not data.get("token"):
        raise CliError(f"{path} is malformed: `ucrenew login` again or remove it")
    return Remote(str(data["server"]).rstrip("/"), str(data["token"]), str(path))


def save(server: str, token: str, name: str, expires_at: str) -> Path:
    """Store the credentials (mode 0600, replaced atomically)."""
    path = credentials_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(
            {"server": server.rstrip("/"), "token": token, "name": name, "expires_at": expires_at},
            out,
            indent=2,
        )
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    return path


def forget() -> bool:
    """Remove the stored credentials; False when there were none."""
    try:
        credentials_path().unlink()
    except FileNotFoundError:
        return False
    return True


def refuse_identity_options(remote: Remote, **given: object) -> None:
    """Refuse ``--by``/``--group`` when acting through the service: it records who signed in.

    Raises:
        CliError: A usage error naming the option.
    """
    used = [f"--{name}" for name, value in given.items() if value]
    if used:
        raise CliError(
            f"{' and '.join(used)} cannot be used through the ucrenew service ({remote.server}): "
            "it records the person who signed in (`ucrenew login`); drop the option",
            ExitCode.USAGE,
        )


_EXIT_BY_STATUS = {
    401: ExitCode.REFUSED,
    403: ExitCode.REFUSED,
    404: ExitCode.NOT_FOUND,
    409: ExitCode.REFUSED,
    422: ExitCode.REFUSED,
    429: ExitCode.REFUSED,
}


def _error_of(response: Any) -> tuple[str, str]:
    try:
        body = response.json()
        err = body["error"]
        return str(err["code"]), str(err["message"])
    except (ValueError, KeyError, TypeError):
        return "http-" + str(response.status_code), one_line(response.text[:200]) or "no detail"


async def api_call(
    server: str,
    method: str,
    path: str,
    *,
    token: str | None = None,
    body: dict[str, Any] | None = None,
    timeout_seconds: float = 120.0,
) -> dict[str, Any]:
    """Call the service and return its JSON answer.

    Raises:
        CliError: Unreachable (exit 5), refused (401/403/409/422: exit 3, with the service's
            code and message), not found (exit 4), or failed.
    """
    import httpx

    headers = {"Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        async with httpx.AsyncClient(base_url=server, timeout=timeout_seconds) as http:
            response = await http.request(method, path, json=body, headers=headers)
    except httpx.TransportError as err:
        raise CliError(
            f"cannot reach the ucrenew service at {server} ({type(err).__name__}"
            f"{': ' + one_line(str(err)) if str(err) else ''}): is it running "
            "(`ucrenew serve`, `ucrenew dev status`)? Check UCRENEW_SERVER or `ucrenew login`",
            ExitCode.UNREACHABLE,
        ) from None
    if response.status_code >= 400:
        code, message = _error_of(response)
        exit_code = _EXIT_BY_STATUS.get(response.status_code, ExitCode.FAILED)
        if response.status_code == 503:
            exit_code = ExitCode.UNREACHABLE
        hint = " (`ucrenew login` again)" if response.status_code == 401 else ""
        raise CliError(
            f"refused by the service [{code}]: {message}{hint}"
            if exit_code == ExitCode.REFUSED
            else f"{message} [{code}]",
            exit_code,
        )
    try:
        data = response.json()
    except ValueError:
        raise CliError(f"the service at {server} answered something that is not JSON") from None
    if not isinstance(data, dict):
        raise CliError(f"the service at {server} answered an unexpected shape")
    return data
