"""Run a lab in the foreground, or manage one running in the background."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx

from lab import topology
from lab.fleet import LabFleet, fleet_specs
from lab.server import Lab
from lab.timing import profile as timing_profile


class LabNotRunning(RuntimeError):
    """No lab answers for this state dir."""


def lab_dir(state_dir: Path) -> Path:
    """Where a lab keeps its state inside ucrenew's state dir."""
    return Path(state_dir) / "lab"


async def serve(
    topology_path: str | None,
    state_dir: Path,
    timing: str | None,
    control_port: int,
    release: str | None = None,
    *,
    clusters: int = 1,
    prefix: str | None = None,
    releases: Sequence[str] = (),
) -> None:
    """Run the lab until SIGTERM/SIGINT or a shutdown request (on ``release`` if given).

    With ``clusters`` above 1, a ``prefix`` or several ``releases``, runs a
    :class:`~lab.fleet.LabFleet` instead: that many clusters, named from ``prefix``, on the
    releases in turn, behind one control API and one inventory.
    """
    spec = topology.load(topology_path, release)
    profile = timing_profile(timing or spec.timing)
    runs: Lab | LabFleet
    if clusters == 1 and prefix is None and len(releases) <= 1:
        if releases:
            spec = topology.load(topology_path, releases[0])
        runs = Lab(spec, lab_dir(state_dir), profile, control_port)
    else:
        specs = fleet_specs(spec, clusters, prefix, releases)
        runs = LabFleet(specs, lab_dir(state_dir), profile, control_port)
    await runs.start()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, lambda: asyncio.ensure_future(runs.stop()))
    print(json.dumps({"ready": True, "control_url": runs.control_url}), flush=True)
    await runs.stopped.wait()
    with contextlib.suppress(FileNotFoundError):
        (runs.state_dir / "lab.json").unlink()


def read_descriptor(state_dir: Path) -> dict[str, Any]:
    """The running lab's ``lab.json``; LabNotRunning when there is none that answers."""
    path = lab_dir(state_dir) / "lab.json"
    if not path.exists():
        raise LabNotRunning(f"no lab is running for state dir {state_dir}")
    desc: dict[str, Any] = json.loads(path.read_text())
    try:
        httpx.get(f"{desc['control_url']}/health", timeout=2.0).raise_for_status()
    except httpx.HTTPError:
        raise LabNotRunning(
            f"a lab was started for {state_dir} but does not answer (stale {path.name})"
        ) from None
    return desc


def up(
    state_dir: Path,
    topology_path: str | None = None,
    timing: str | None = None,
    wait: float | None = None,
    release: str | None = None,
    *,
    clusters: int = 1,
    prefix: str | None = None,
    releases: Sequence[str] = (),
) -> dict[str, Any]:
    """Start a lab in the background (or return the one already running), on ``release``
    (a CUCM version) instead of the topology's when given; ``clusters``, ``prefix`` and
    ``releases`` as for :func:`serve`. ``wait`` defaults to a minute plus 3 s a cluster."""
    wait = wait if wait is not None else 60.0 + 3.0 * clusters
    with contextlib.suppress(LabNotRunning):
        return read_descriptor(state_dir)
    ldir = lab_dir(state_dir)
    ldir.mkdir(mode=0o700, parents=True, exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
        (ldir / "lab.json").unlink()
    cmd = [sys.executable, "-m", "lab", "serve", "--state-dir", str(state_dir)]
    if topology_path:
        cmd += ["--topology", str(topology_path)]
    if timing:
        cmd += ["--timing", timing]
    if release:
        cmd += ["--release", release]
    for extra in releases:
        cmd += ["--release", extra]
    if clusters != 1:
        cmd += ["--clusters", str(clusters)]
    if prefix:
        cmd += ["--prefix", prefix]
    # The child keeps its own descriptor of the log: this process closes its own at once.
    with open(ldir / "lab.log", "ab") as log:
        proc = subprocess.Popen(
            cmd,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = (ldir / "lab.log").read_text()[-2000:]
            raise RuntimeError(f"the lab exited with code {proc.returncode}:\n{tail}")
        with contextlib.suppress(LabNotRunning, json.JSONDecodeError):
            return read_descriptor(state_dir)
        time.sleep(0.1)
    proc.terminate()
    raise RuntimeError(f"the lab did not become ready within {wait:.0f}s (see {ldir / 'lab.log'})")


def down(state_dir: Path, wait: float = 15.0) -> bool:
    """Stop the lab of this state dir; False when none was running."""
    try:
        desc = read_descriptor(state_dir)
    except LabNotRunning:
        return False
    pid = int(desc["pid"])
    with contextlib.suppress(httpx.HTTPError):
        httpx.post(f"{desc['control_url']}/shutdown", timeout=5.0)
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    return True
