"""The operator's CLI, end to end: ``ucrenew dev up`` to ``dev down`` as separate processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from activities.clients.ca.local import LocalCa
from tests.lab.conftest import lab_spec
from workers.devserver import free_loopback_port

pytestmark = pytest.mark.e2e

UCRENEW = str(Path(sys.executable).parent / "ucrenew")


class Cli:
    """Runs ``ucrenew`` with an isolated state dir and Temporal ports."""

    def __init__(self, state: Path) -> None:
        self.env = dict(os.environ)
        self.env.update(
            UCRENEW_STATE_DIR=str(state),
            UCRENEW_TEMPORAL_ADDRESS=f"127.0.0.1:{free_loopback_port()}",
            UCRENEW_TEMPORAL_UI_PORT=str(free_loopback_port()),
            # Never the default 8480: another stack on this machine may hold it.
            UCRENEW_SERVICE_LISTEN=f"127.0.0.1:{free_loopback_port()}",
            UCRENEW_PRINCIPAL="cli-tester",
            COLUMNS="200",
            # Never the tester's own `ucrenew login`: these tests talk to Temporal directly.
            XDG_CONFIG_HOME=str(state / "config"),
        )
        for name in ("UCRENEW_SERVER", "UCRENEW_TOKEN"):
            self.env.pop(name, None)

    def __call__(self, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [UCRENEW, *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if ok and proc.returncode != 0:
            raise AssertionError(
                f"ucrenew {' '.join(args)} -> {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
            )
        return proc

    def json(self, *args: str) -> Any:
        return json.loads(self(*args, "--json").stdout)

    def wait_awaiting(self, change: str, awaiting: str, timeout: float = 60) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            status = self.json("show", change)
            if status["awaiting"] == awaiting:
                return status
            assert time.monotonic() < deadline, f"never awaited {awaiting}: {status['phase']}"
            assert status["phase"] not in ("done", "failed", "cancelled"), status["error"]
            time.sleep(0.2)


@pytest.fixture
def cli(tmp_path: Path) -> Iterator[Cli]:
    topology = tmp_path / "topology.yaml"
    topology.write_text(yaml.safe_dump(lab_spec().model_dump()))
    runner = Cli(tmp_path / "state")
    runner("dev", "up", "--lab-topology", str(topology))
    try:
        yield runner
    finally:
        runner("dev", "down", ok=False)


def test_manual_renewal_driven_from_the_cli(cli: Cli, tmp_path: Path) -> None:
    stack = cli.json("dev", "status")
    assert stack["temporal"] and stack["lab"] and stack["worker"] and stack["service"]
    login_page = httpx.get(stack["service"]["url"] + "/login", timeout=10)
    assert login_page.status_code == 200 and 'name="password"' in login_page.text

    plan = cli.json("plan", "lab")
    restarts = [s["node"] for s in plan["plan"]["steps"] if s["phase"] == "restarts"]
    assert restarts == [
        f"{h}.lab.example.com" for h in ("cucm-pub", "cucm-sub1", "cucm-sub2", "imp-pub")
    ]
    assert plan["problems"] == []

    unknown = cli("approve", "CHG-NO-SUCH", ok=False)
    assert unknown.returncode == 4 and "Traceback" not in unknown.stderr
    assert "CHG-NO-SUCH" in unknown.stderr and "ucrenew ls --all" in unknown.stderr

    cli("start", "lab", "--change", "CHG-CLI-1", "--ca", "manual", "--require-approval")
    status = cli.wait_awaiting("CHG-CLI-1", "approval")
    stale = cli("approve", "CHG-CLI-1", "--plan-hash", "0123456789ab", ok=False)
    assert stale.returncode == 3 and "plan changed" in stale.stderr
    plan_hash = status["plan"]["plan_hash"]
    own = cli("approve", "CHG-CLI-1", "--plan-hash", plan_hash, ok=False)
    assert own.returncode == 3 and "four eyes" in own.stderr  # cli-tester requested it
    cli("approve", "CHG-CLI-1", "--plan-hash", plan_hash, "--by", "cab-member", "-m", "CAB ok")

    cli.wait_awaiting("CHG-CLI-1", "ca")
    csr = cli("ca-request", "CHG-CLI-1").stdout
    assert csr.startswith("-----BEGIN CERTIFICATE REQUEST-----")
    ca = LocalCa(tmp_path / "enterprise", name="enterprise")
    leaf, chain = ca.sign(csr, validity_days=10)  # shorter than the 30-day renewal policy
    (tmp_path / "short.pem").write_text(leaf)
    (tmp_path / "chain.pem").write_text(chain)
    refused = cli(
        "submit-cert",
        "CHG-CLI-1",
        "--cert",
        str(tmp_path / "short.pem"),
        "--chain",
        str(tmp_path / "chain.pem"),
        ok=False,
    )
    assert refused.returncode == 3 and "needs at least 30 days" in refused.stderr
    assert cli.json("show", "CHG-CLI-1")["awaiting"] == "ca"
    leaf, chain = ca.sign(csr)
    (tmp_path / "good.pem").write_text(leaf)
    cli(
        "submit-cert",
        "CHG-CLI-1",
        "--cert",
        str(tmp_path / "good.pem"),
        "--chain",
        str(tmp_path / "chain.pem"),
    )

    cli.wait_awaiting("CHG-CLI-1", "sso-confirm")
    early = cli("confirm-sso", "CHG-CLI-1", ok=False)
    assert early.returncode == 3 and "still disabled" in early.stderr
    cli("lab", "sso-enable")
    cli("confirm-sso", "CHG-CLI-1")
    assert cli("watch", "CHG-CLI-1", "--interval", "0.2").returncode == 0

    final = cli.json("show", "CHG-CLI-1")
    assert final["phase"] == "done"
    assert all(n["verified"] for n in final["nodes"])
    actions = [(e["actor"], e["action"]) for e in final["audit"]]
    assert ("cab-member", "approved") in actions and ("cli-tester", "sso-reenabled") in actions
    report = cli("report", "CHG-CLI-1").stdout
    assert report.startswith("# Certificate renewal CHG-CLI-1")
    assert f"serial {final['new_serial']}" in report
    assert "| cab-member | approved | CAB ok |" in report
    # The post-change check: no CallManager, so no phone watch; the CSCur97909 leftovers
    # the renewal listed (the nodes' former self-signed tomcat certificates) need attention.
    checked = cli("check", "CHG-CLI-1", ok=False)
    assert checked.returncode == 3, checked.stderr
    assert "not applicable" in checked.stdout and "cscur97909-self-signed-left" in checked.stdout
    listed = {r["change"]: r for r in cli.json("ls", "--all")}
    assert listed["CHG-CLI-1"]["phase"] == "done"
    assert listed["CHG-CLI-1"]["status"] == "COMPLETED"


def test_cancel_from_the_cli(cli: Cli) -> None:
    cli("start", "lab", "--change", "CHG-CLI-2", "--ca", "manual")
    cli.wait_awaiting("CHG-CLI-2", "ca")
    duplicate = cli("start", "lab", "--change", "CHG-CLI-2", ok=False)
    assert duplicate.returncode == 3 and "CHG-CLI-2" in duplicate.stderr
    cli("cancel", "CHG-CLI-2", "--by", "erin", "--reason", "the CA is down for the weekend")
    assert cli("watch", "CHG-CLI-2", "--interval", "0.2", ok=False).returncode == 1
    final = cli.json("show", "CHG-CLI-2")
    assert final["phase"] == "cancelled"
    assert final["outstanding"] == []  # cancelled before any upload: SSO was never touched
    assert final["error"] == "cancelled by erin: the CA is down for the weekend"
    assert final["cancellation"] == {
        "principal": "erin",
        "reason": "the CA is down for the weekend",
    }
    unknown = cli("show", "CHG-NOPE", ok=False)
    assert unknown.returncode == 4 and "no change 'CHG-NOPE'" in unknown.stderr


def test_adcs_check_now_and_a_failed_restart_retried_from_the_cli(cli: Cli) -> None:
    cli("lab", "fault", "service-fail-start", "--node", "cucm-sub1", "--target", "Cisco Tomcat")
    change = "CHG-CLI-3"
    cli("start", "lab", "--change", change, "--ca", "adcs", "--ca-template", "CUCMManualApproval")
    status = cli.wait_awaiting(change, "ca")
    assert "still pending" in cli("ca-check", change).stdout
    # The CA manager issues the request; checking now goes on without waiting for the poll.
    issued = json.loads(cli("lab", "adcs", "issue", status["ca_request_ref"]).stdout)
    assert issued["status"] == "issued"
    assert "the CA issued" in cli("ca-check", change).stdout

    status = cli.wait_awaiting(change, "operator", timeout=180)
    assert status["failed_step"]["node"] == "cucm-sub1.lab.example.com"
    assert "`retry`" in status["question"] and "NOTRUNNING" in status["question"]
    wrong = cli("decide", change, "sideways", ok=False)
    assert wrong.returncode == 2 and "Traceback" not in wrong.stderr
    cli("lab", "fault", "clear")
    cli("decide", change, "retry", "-m", "Tomcat fixed on sub1")
    cli.wait_awaiting(change, "sso-confirm", timeout=180)
    cli("lab", "sso-enable")
    cli("confirm-sso", change)
    assert cli("watch", change, "--interval", "0.2").returncode == 0
    final = cli.json("show", change)
    assert final["phase"] == "done" and all(n["verified"] for n in final["nodes"])
    assert ("cli-tester", "decided-retry") in [(e["actor"], e["action"]) for e in final["audit"]]
