"""The ucrenew service of the embedded dev stack: generated session key and dev users, a
background process beside the worker, and its status.

Everything lives under ``<state dir>/service``: ``session.key`` and ``users.yaml`` are made on
first start, with ``dev-passwords.txt`` (mode 0600) holding the generated passwords, which
``dev up`` prints the time it makes them.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from workers.devserver import free_loopback_port
from workers.private_files import append_private, private_dir, write_private_text
from workers.settings import UcrenewSettings

__all__ = ["DEV_USERS", "describe", "ensure_files", "service_dir", "start", "stop"]

DEFAULT_PORT = 8480

#: The dev stack's people: a requester, two approvers (four eyes with two distinct
#: approvers), and a PKI administrator who hands in certificates from a manual CA.
DEV_USERS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("requester", "Rita Requester", ("voice-engineers",)),
    ("approver1", "Alex Approver", ("change-board", "voice-engineers")),
    ("approver2", "Blair Approver", ("change-board", "voice-engineers")),
    ("pki-admin", "Pat PKI", ("pki-admins",)),
)


def service_dir(settings: UcrenewSettings) -> Path:
    """``<state dir>/service``."""
    return settings.state_dir / "service"


def ensure_files(settings: UcrenewSettings) -> dict[str, str] | None:
    """Make the session key and the dev users file when missing.

    Returns:
        The generated passwords by user name when the users file was made now, else None.
    """
    from service.users import add_user

    sdir = service_dir(settings)
    private_dir(sdir)
    key = sdir / "session.key"
    if not key.exists():
        write_private_text(key, secrets.token_urlsafe(48) + "\n")
    users = sdir / "users.yaml"
    if users.exists():
        return None
    passwords: dict[str, str] = {}
    for name, display, groups in DEV_USERS:
        passwords[name] = secrets.token_urlsafe(12)
        add_user(users, name, passwords[name], list(groups), display)
    lines = [f"{name}: {password}" for name, password in passwords.items()]
    write_private_text(sdir / "dev-passwords.txt", "\n".join(lines) + "\n")
    return passwords


def _pid(settings: UcrenewSettings) -> int | None:
    try:
        pid = int((service_dir(settings) / "service.pid").read_text())
    except (FileNotFoundError, ValueError):
        return None
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return pid if b"service" in cmdline else None


def _url(settings: UcrenewSettings) -> str | None:
    try:
        return str(json.loads((service_dir(settings) / "service.json").read_text())["url"])
    except (FileNotFoundError, ValueError, KeyError):
        return None


def _port_free(host: str, port: int) -> bool:
    import socket

    with socket.socket(socket.AF_INET) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def _listen() -> str:
    configured = os.environ.get("UCRENEW_SERVICE_LISTEN")
    if configured:
        return configured
    port = DEFAULT_PORT if _port_free("127.0.0.1", DEFAULT_PORT) else free_loopback_port()
    return f"127.0.0.1:{port}"


def start(settings: UcrenewSettings, wait_seconds: float = 20.0) -> dict[str, Any]:
    """Start the service in the background (or describe the running one).

    Raises:
        RuntimeError: It exited or did not answer in time (with the log's tail).
    """
    import httpx

    passwords = ensure_files(settings)
    running = _pid(settings)
    if running:
        return _info(settings, running, passwords)
    sdir = service_dir(settings)
    listen = _listen()
    url = f"http://{listen}"
    env = dict(os.environ)
    env.update(
        {
            "UCRENEW_STATE_DIR": str(settings.state_dir),
            "UCRENEW_TEMPORAL_ADDRESS": settings.temporal_address,
            "UCRENEW_SERVICE_LISTEN": listen,
            "UCRENEW_SERVICE_BASE_URL": url,
            "UCRENEW_SERVICE_SESSION_KEY": f"file:{(sdir / 'session.key').resolve()}",
            "UCRENEW_SERVICE_USERS_FILE": str((sdir / "users.yaml").resolve()),
        }
    )
    # The dev server's Temporal UI reads encrypted payloads through the service's codec
    # endpoint, for the dev engineers (unless the environment says otherwise).
    ui = [f"http://{h}:{settings.temporal_ui_port}" for h in ("127.0.0.1", "localhost")]
    env.setdefault("UCRENEW_SERVICE_CODEC_CORS_ORIGINS", json.dumps(ui))
    env.setdefault("UCRENEW_SERVICE_CODEC_READERS", json.dumps(["voice-engineers"]))
    log = sdir / "service.log"
    with append_private(log) as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "service"],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    write_private_text(sdir / "service.pid", str(proc.pid))
    write_private_text(sdir / "service.json", json.dumps({"url": url}))
    deadline = time.monotonic() + wait_seconds
    while True:
        if proc.poll() is not None:
            raise RuntimeError(
                f"the service exited at start (is {listen} taken? set UCRENEW_SERVICE_LISTEN):"
                f"\n{log.read_text()[-2000:]}"
            )
        with contextlib.suppress(httpx.HTTPError, ValueError):
            # Another process may hold the port and answer in this one's place: only this
            # process's own pid says the service started (it exits on its failed bind).
            if httpx.get(f"{url}/healthz", timeout=2.0).json().get("pid") == proc.pid:
                break
        if time.monotonic() > deadline:
            stop(settings)
            raise RuntimeError(f"the service did not answer at {url}:\n{log.read_text()[-2000:]}")
        time.sleep(0.2)
    return _info(settings, proc.pid, passwords)


def stop(settings: UcrenewSettings, wait: float = 15.0) -> bool:
    """Stop the background service; False when none ran."""
    pid = _pid(settings)
    if pid is None:
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline and _pid(settings) is not None:
        time.sleep(0.05)
    if _pid(settings) is not None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(FileNotFoundError):
        (service_dir(settings) / "service.pid").unlink()
    return True


def describe(
    settings: UcrenewSettings, passwords: dict[str, str] | None = None
) -> dict[str, Any] | None:
    """Where the service is (None when not running); ``passwords`` only when just made."""
    pid = _pid(settings)
    return None if pid is None else _info(settings, pid, passwords)


def _info(settings: UcrenewSettings, pid: int, passwords: dict[str, str] | None) -> dict[str, Any]:
    sdir = service_dir(settings)
    info: dict[str, Any] = {
        "url": _url(settings),
        "pid": pid,
        "log": str(sdir / "service.log"),
        "users_file": str(sdir / "users.yaml"),
        "passwords_file": str(sdir / "dev-passwords.txt"),
        "users": [name for name, _, _ in DEV_USERS],
    }
    if passwords:
        info["new_passwords"] = passwords
    return info
