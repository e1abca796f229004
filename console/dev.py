"""``ucrenew dev up|down|status``: the embedded stack (Temporal dev server, lab, worker, and
the ucrenew service with its dashboard)."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from activities.clients.validation import describe_validation_error
from console import dev_service, optional_lab
from console.common import CliError
from workers.devserver import DevServer, DevServerError, detached_status, stop_detached
from workers.private_files import append_private, private_dir, write_private_text
from workers.settings import UcrenewSettings
from workers.wiring import inventory_path


def _worker_dir(settings: UcrenewSettings) -> Path:
    return settings.state_dir / "worker"


def worker_pid(settings: UcrenewSettings) -> int | None:
    """Pid of the background worker, when one runs."""
    pid_file = _worker_dir(settings) / "worker.pid"
    try:
        pid = int(pid_file.read_text())
    except (FileNotFoundError, ValueError):
        return None
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return pid if b"workers" in cmdline else None


def start_worker(settings: UcrenewSettings) -> int:
    """Start a worker in the background (or return the running one's pid)."""
    running = worker_pid(settings)
    if running:
        return running
    wdir = _worker_dir(settings)
    private_dir(wdir)
    env = dict(os.environ)
    env["UCRENEW_STATE_DIR"] = str(settings.state_dir)
    env["UCRENEW_TEMPORAL_ADDRESS"] = settings.temporal_address
    with append_private(wdir / "worker.log") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "workers"],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    write_private_text(wdir / "worker.pid", str(proc.pid))
    time.sleep(0.3)
    if proc.poll() is not None:
        tail = (wdir / "worker.log").read_text()[-2000:]
        raise RuntimeError(f"the worker exited at start:\n{tail}")
    return proc.pid


def stop_worker(settings: UcrenewSettings, wait: float = 15.0) -> bool:
    """Stop the background worker; False when none ran."""
    pid = worker_pid(settings)
    if pid is None:
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if worker_pid(settings) is None:
            break
        time.sleep(0.05)
    else:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(FileNotFoundError):
        (_worker_dir(settings) / "worker.pid").unlink()
    return True


async def up(
    settings: UcrenewSettings,
    timing: str | None = None,
    topology: str | None = None,
    release: str | None = None,
    lab_clusters: int = 1,
) -> dict[str, Any]:
    """Start whatever of the stack is not running; returns where everything is. ``release``
    runs the lab on that CUCM version instead of the topology's; ``lab_clusters`` above 1
    runs that many lab clusters (``lab``, ``lab-002``, …) in one inventory.

    When a part cannot start, the parts this call started are stopped again (the ones that
    were already running are left alone), and the reason is one line naming what to change.

    Raises:
        typer.Exit: The lab is not installed (nothing was started).
        CliError: A part could not start (an address or port taken, an invalid topology).
    """
    optional_lab.require("ucrenew dev up")
    # Imported here: the lab is optional, and only the commands that run it need it.
    from lab import runner as lab_runner
    from lab import topology as lab_topology
    from lab.errors import LabError
    from lab.fleet import fleet_specs

    try:
        spec = lab_topology.load(topology, release)
        if lab_clusters != 1:
            fleet_specs(spec, lab_clusters)
    except (OSError, ValueError) as exc:  # pydantic's ValidationError is a ValueError
        raise CliError(f"cannot run the lab on that topology: {_first_line(exc)}") from None
    except LabError as exc:
        raise CliError(f"cannot run {lab_clusters} lab clusters: {exc.message}") from None
    started: list[str] = []
    try:
        if detached_status(settings.state_dir) is None:
            server = DevServer.from_settings(settings)
            started.append("temporal")
            try:
                await server.start(detached=True)
            except DevServerError as exc:
                raise CliError(_temporal_failure(settings, exc)) from None
        if _running_lab(settings) is None:
            started.append("lab")
        try:
            lab = lab_runner.up(
                settings.state_dir, topology, timing, release=release, clusters=lab_clusters
            )
        except RuntimeError as exc:
            raise CliError(_lab_failure(settings, str(exc))) from None
        if worker_pid(settings) is None:
            started.append("worker")
        try:
            pid = start_worker(settings)
        except RuntimeError as exc:
            raise CliError(
                f"the worker exited at start (see {_worker_dir(settings) / 'worker.log'}): "
                f"{_last_line(str(exc))}"
            ) from None
        await _fleet_schedule(settings)
        if dev_service.describe(settings) is None:
            started.append("service")
        try:
            service = dev_service.start(settings)
        except RuntimeError as exc:
            raise CliError(
                f"the ucrenew service did not start (see "
                f"{dev_service.service_dir(settings) / 'service.log'}): {_last_line(str(exc))}"
            ) from None
    except BaseException:
        await stop_parts(settings, started)
        raise
    info = describe(settings, lab, pid)
    info["service"] = service
    return info


async def _fleet_schedule(settings: UcrenewSettings) -> None:
    """The fleet scan's Temporal Schedule (a first scan at once), so the fleet view fills."""
    from temporalio.service import RPCError

    from workers.fleet import ensure_fleet_schedule
    from workers.wiring import connect

    try:
        await ensure_fleet_schedule(await connect(settings), settings)
    except (RPCError, RuntimeError) as exc:
        raise CliError(
            f"cannot create the fleet scan schedule on Temporal at {settings.temporal_address}: "
            f"{_last_line(str(exc))}"
        ) from None


async def stop_parts(settings: UcrenewSettings, parts: list[str]) -> None:
    """Stop ``parts`` of the stack (``service``, ``worker``, ``lab``, ``temporal``), service
    first; a part that fails to stop does not keep the others running."""
    if "service" in parts:
        with contextlib.suppress(Exception):
            dev_service.stop(settings)
    if "worker" in parts:
        with contextlib.suppress(Exception):
            stop_worker(settings)
    if "lab" in parts:
        with contextlib.suppress(Exception):
            _stop_lab(settings)
    if "temporal" in parts:
        with contextlib.suppress(Exception):
            await stop_detached(settings.state_dir)


def _temporal_failure(settings: UcrenewSettings, exc: Exception) -> str:
    """Why Temporal did not start, and which setting or process to change."""
    text = str(exc)
    taken = re.search(r"(\S+):(\d+) is already in use", text)
    if taken:
        address, port = taken.group(1), int(taken.group(2))
        _, grpc_port = settings.temporal_host_port
        setting = "UCRENEW_TEMPORAL_ADDRESS" if port == grpc_port else "UCRENEW_TEMPORAL_UI_PORT"
        return (
            f"cannot start Temporal: {address}:{port} is already in use; stop what listens "
            f"there (`ss -ltnp 'sport = :{port}'` names it; another stack: `ucrenew dev down` "
            f"with its UCRENEW_STATE_DIR) or set {setting} to a free port"
        )
    return f"cannot start Temporal: {_last_line(text)}"


def _lab_failure(settings: UcrenewSettings, text: str) -> str:
    """Why the lab did not start, and what to stop or change."""
    # The lab's log may wrap the line: join it before looking for the address.
    joined = " ".join(text.split())
    taken = re.search(r"bind on address \('([^']+)', (\d+)\)", joined)
    log = settings.state_dir / "lab" / "lab.log"
    if taken:
        address, port = taken.group(1), taken.group(2)
        return (
            f"cannot start the lab: {address}:{port} is already in use, probably by another "
            f"lab (`ucrenew lab status` or `ucrenew dev down` with that lab's "
            f"UCRENEW_STATE_DIR; `ss -ltnp 'sport = :{port}'` names the process), or give "
            f"this one another network with --lab-topology (see {log})"
        )
    return f"cannot start the lab (see {log}): {_last_line(text)}"


def _last_line(text: str) -> str:
    """The last non-blank line of a log tail: usually the exception that ended it."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else text


def _first_line(exc: Exception) -> str:
    """A validation error's fields and reasons, without input values or help links."""
    if isinstance(exc, ValidationError):
        return describe_validation_error(exc)
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    reasons = [line for line in lines[1:] if not line.startswith("For further")]
    return "; ".join(reasons) or (lines[0] if lines else type(exc).__name__)


def describe(
    settings: UcrenewSettings, lab: dict[str, Any] | None = None, pid: int | None = None
) -> dict[str, Any]:
    """Where each part of the stack is (None for parts not running)."""
    temporal = detached_status(settings.state_dir)
    if lab is None:
        lab = _running_lab(settings)
    return {
        "state_dir": str(settings.state_dir),
        "temporal": None
        if temporal is None
        else {
            "address": temporal.address,
            "ui": temporal.ui_url,
            "pid": temporal.pid,
            "db": temporal.db_filename,
        },
        "lab": None
        if lab is None
        else {
            "control_url": lab["control_url"],
            "pid": lab["pid"],
            "nodes": [n["fqdn"] for n in lab["nodes"]],
            "clusters": [c["cluster"] for c in lab.get("clusters") or [lab]],
        },
        "worker": None
        if (pid or worker_pid(settings)) is None
        else {
            "pid": pid or worker_pid(settings),
            "task_queue": settings.task_queue,
            "log": str(_worker_dir(settings) / "worker.log"),
        },
        "service": dev_service.describe(settings),
        "inventory": str(inventory_path(settings)),
    }


async def down(settings: UcrenewSettings) -> dict[str, bool]:
    """Stop the service, worker, lab and Temporal (in that order)."""
    return {
        "service": dev_service.stop(settings),
        "worker": stop_worker(settings),
        "lab": _stop_lab(settings),
        "temporal": await stop_detached(settings.state_dir),
    }


def _running_lab(settings: UcrenewSettings) -> dict[str, Any] | None:
    if not optional_lab.installed():
        return None
    from lab import runner as lab_runner

    with contextlib.suppress(lab_runner.LabNotRunning):
        return lab_runner.read_descriptor(settings.state_dir)
    return None


def _stop_lab(settings: UcrenewSettings) -> bool:
    if not optional_lab.installed():
        return False
    from lab import runner as lab_runner

    return lab_runner.down(settings.state_dir)


def as_json(data: Any) -> str:
    """Pretty JSON."""
    return json.dumps(data, indent=2, default=str)
