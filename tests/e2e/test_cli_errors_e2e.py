"""``ucrenew`` given bad input against a real Temporal dev server, as separate processes.

Unknown and finished changes, a change id already in use, quotes in ``--cluster``, taken
ports: each is one ``error:`` line on stderr with the exit code of docs/operator-guide.md,
no traceback, no secret, and no process left running by the command that failed.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml
from temporalio.client import Client

from activities.cluster_models import OtherRenewalsRequest
from activities.registry import RegistryActivities
from console.common import ExitCode
from tests.lab.conftest import lab_spec
from tests.unit.test_cli_errors import INVENTORY, SECRET
from workers.devserver import DevServer, free_loopback_port

pytestmark = pytest.mark.e2e

UCRENEW = str(Path(sys.executable).parent / "ucrenew")


class Cli:
    """Runs ``ucrenew`` with its own state dir against a given Temporal address."""

    def __init__(self, tmp_path: Path, address: str, task_queue: str) -> None:
        self.state = tmp_path / "state"
        inventory = tmp_path / "clusters.yaml"
        inventory.write_text(INVENTORY)
        self.env = dict(os.environ)
        self.env.update(
            UCRENEW_STATE_DIR=str(self.state),
            UCRENEW_INVENTORY=str(inventory),
            UCRENEW_TEMPORAL_ADDRESS=address,
            UCRENEW_TEMPORAL_UI_PORT=str(free_loopback_port()),
            # Never the default 8480: another stack on this machine may hold it.
            UCRENEW_SERVICE_LISTEN=f"127.0.0.1:{free_loopback_port()}",
            UCRENEW_TASK_QUEUE=task_queue,
            UCRENEW_PRINCIPAL="cli-tester",
            COLUMNS="200",
        )

    def __call__(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [UCRENEW, *args], env=self.env, capture_output=True, text=True, timeout=120
        )

    def error(self, code: ExitCode, *args: str) -> str:
        """Run a command that must fail with ``code`` in one line; returns that line."""
        done = self(*args)
        assert done.returncode == code, (done.returncode, done.stdout, done.stderr)
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
        assert "Traceback" not in done.stdout + done.stderr
        assert SECRET not in done.stdout + done.stderr
        return lines[0]


@pytest.fixture
def cli(tmp_path: Path, dev_server: DevServer) -> Cli:
    # No worker polls this task queue: changes stay running until the test ends them.
    return Cli(tmp_path, dev_server.address, f"tq-{uuid.uuid4()}")


def _change() -> str:
    return f"CHG-E-{uuid.uuid4().hex[:8]}"


ACTIONS = [
    ("approve",),
    ("reject",),
    ("decide", "abort"),
    ("confirm-sso",),
    ("cancel", "--reason", "no longer needed"),
]


@pytest.mark.parametrize("action", [*ACTIONS, ("show",), ("watch",), ("report",)], ids=str)
def test_an_unknown_change_is_not_found(cli: Cli, action: tuple[str, ...]) -> None:
    change = _change()
    line = cli.error(ExitCode.NOT_FOUND, action[0], change, *action[1:])
    assert f"no change '{change}'" in line and "ucrenew ls --all" in line


def test_submit_cert_on_an_unknown_change_is_not_found(cli: Cli, tmp_path: Path) -> None:
    pem = tmp_path / "cert.pem"
    pem.write_text("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n")
    cli.error(ExitCode.NOT_FOUND, "submit-cert", _change(), "--cert", str(pem))


async def test_a_change_id_in_use_and_a_finished_change_are_refused(
    cli: Cli, dev_server_env: Client
) -> None:
    change = _change()
    handle = dev_server_env.get_workflow_handle(change)
    started = cli("start", "lab", "--change", change, "--purpose", "callmanager", "--json")
    try:
        assert started.returncode == 0, started.stderr
        assert json.loads(started.stdout)["result"]["purposes"] == ["CallManager"]
        again = cli.error(ExitCode.REFUSED, "start", "lab", "--change", change)
        assert f"change {change} is already running" in again
    finally:
        # Other tests share the dev server: a renewal left running would block the cluster.
        await handle.terminate("test: the change is over")
    for action in ACTIONS:
        line = cli.error(ExitCode.REFUSED, action[0], change, *action[1:])
        assert f"change {change} is finished (terminated)" in line
        assert "ucrenew ls --all" in line
    # A finished change can still be looked at.
    assert cli("ls", "--all", "--json").returncode == 0


CRAFTED = ("o'brien", "lab' OR ClusterId != 'x", "lab\\", 'la"b')


async def test_cluster_values_never_break_or_widen_the_listing(
    cli: Cli, dev_server_env: Client
) -> None:
    change = _change()
    assert cli("start", "lab", "--change", change).returncode == 0
    try:
        await _listing_is_never_widened(cli, dev_server_env, change)
    finally:
        # Other tests share the dev server: a renewal left running would block the cluster.
        await dev_server_env.get_workflow_handle(change).terminate("test: the change is over")


async def _listing_is_never_widened(cli: Cli, dev_server_env: Client, change: str) -> None:
    listed = cli("ls", "--json", "--cluster", "lab")
    assert change in {r["change"] for r in json.loads(listed.stdout)}
    registry = RegistryActivities(dev_server_env)
    found = await registry.find_other_renewals(
        OtherRenewalsRequest(cluster="lab", exclude_change_id="")
    )
    assert change in found.change_ids
    for crafted in CRAFTED:
        done = cli("ls", "--all", "--json", "--cluster", crafted)
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout) == [], crafted
        # The worker's look for other renewals of a cluster builds its query the same way.
        other = await registry.find_other_renewals(
            OtherRenewalsRequest(cluster=crafted, exclude_change_id="")
        )
        assert other.change_ids == [], crafted
    # Completion offers the change ids the CLI saw.
    from console import completion

    os.environ["UCRENEW_STATE_DIR"] = cli.env["UCRENEW_STATE_DIR"]
    try:
        assert change in completion.change_ids("CHG-E-")
    finally:
        del os.environ["UCRENEW_STATE_DIR"]


# -- taken addresses: nothing the command started is left running ---------------------------


def _processes_of(state: Path) -> list[str]:
    """Processes whose command line or environment names the state dir ``state``."""
    needle = str(state).encode()
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes()
            environ = (proc / "environ").read_bytes()
        except OSError:
            continue
        if needle in cmdline or needle in environ:
            found.append(cmdline.replace(b"\0", b" ").decode(errors="replace"))
    return found


@contextmanager
def listening(host: str, port: int) -> Iterator[None]:
    with socket.socket() as sock:
        sock.bind((host, port))
        sock.listen()
        yield


@pytest.mark.parametrize("which", ["UCRENEW_TEMPORAL_ADDRESS", "UCRENEW_TEMPORAL_UI_PORT"])
def test_dev_up_on_a_taken_temporal_port_names_it_and_starts_nothing(
    tmp_path: Path, which: str
) -> None:
    cli = Cli(tmp_path, f"127.0.0.1:{free_loopback_port()}", "tq")
    port = int(cli.env[which].rsplit(":", 1)[-1])
    with listening("127.0.0.1", port):
        line = cli.error(ExitCode.FAILED, "dev", "up")
    assert f"127.0.0.1:{port} is already in use" in line and which in line
    assert _processes_of(cli.state) == []


def test_a_lab_address_taken_stops_the_temporal_dev_up_started(tmp_path: Path) -> None:
    cli = Cli(tmp_path, f"127.0.0.1:{free_loopback_port()}", "tq")
    spec = lab_spec()  # a loopback network no other lab of this run uses
    topology = tmp_path / "topology.yaml"
    topology.write_text(yaml.safe_dump(spec.model_dump()))
    publisher = spec.address_of(0)
    with listening(publisher, 8443):
        line = cli.error(ExitCode.FAILED, "dev", "up", "--lab-topology", str(topology))
    assert f"{publisher}:{8443} is already in use" in line
    assert "--lab-topology" in line
    assert _processes_of(cli.state) == [], "left running"


def test_dev_up_with_lab_clusters_that_cannot_fit_says_why_and_starts_nothing(
    tmp_path: Path,
) -> None:
    cli = Cli(tmp_path, f"127.0.0.1:{free_loopback_port()}", "tq")
    topology = tmp_path / "topology.yaml"
    topology.write_text(yaml.safe_dump({**lab_spec().model_dump(), "network": "127.255.250.0/24"}))
    line = cli.error(
        ExitCode.FAILED, "dev", "up", "--lab-topology", str(topology), "--lab-clusters", "10"
    )
    assert "cannot run 10 lab clusters" in line and "would leave 127.0.0.0/8" in line
    assert _processes_of(cli.state) == [], "left running"


def test_the_demo_on_a_taken_port_names_it_and_leaves_nothing(tmp_path: Path) -> None:
    cli = Cli(tmp_path, f"127.0.0.1:{free_loopback_port()}", "tq")
    port = int(cli.env["UCRENEW_TEMPORAL_UI_PORT"])
    with listening("127.0.0.1", port):
        line = cli.error(ExitCode.FAILED, "demo")
    assert f"127.0.0.1:{port} is already in use" in line
    assert _processes_of(cli.state) == []
