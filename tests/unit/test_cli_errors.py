"""``ucrenew`` given bad input, with no Temporal server: one line, the documented exit code.

Every case asserts the same contract: the error is one ``error:`` line on stderr, nothing
that looks like a traceback, the exit code of docs/operator-guide.md ("Exit codes"), and no
secret from the inventory in the output. The cases that need a server are in
tests/e2e/test_cli_errors_e2e.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from activities.catalog import PURPOSES
from activities.visibility import query_literal, renewals_query
from console import completion
from console.cli import _purposes, app
from console.common import CliError, ExitCode
from workers.devserver import free_loopback_port

#: A password an operator pasted into the inventory by mistake: it must never be printed.
SECRET = "Hunter2-Sup3rS3cret!"

INVENTORY = """\
clusters:
- name: lab
  domain: lab.example.com
  publisher: cucm-pub.lab.example.com
  nodes:
  - fqdn: cucm-pub.lab.example.com
    role: publisher
  credentials:
    os_admin: {username: admin, password: "env:UCR_TEST_OS"}
    app_user: {username: axl, password: "env:UCR_TEST_APP"}
"""


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """Settings for an isolated state dir, a valid inventory and a Temporal that is not there."""
    inventory = tmp_path / "clusters.yaml"
    inventory.write_text(INVENTORY)
    return {
        "UCRENEW_STATE_DIR": str(tmp_path / "state"),
        "UCRENEW_INVENTORY": str(inventory),
        "UCRENEW_TEMPORAL_ADDRESS": f"127.0.0.1:{free_loopback_port()}",
        "COLUMNS": "200",
    }


def ucrenew(env: dict[str, str], *args: str) -> Result:
    return CliRunner().invoke(app, list(args), env=env)


def assert_one_line_error(result: Result, code: ExitCode, *needles: str) -> str:
    """The result is exit ``code`` with one ``error:`` line naming ``needles``; returns it."""
    assert result.exit_code == code, (result.exit_code, result.output)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    everything = result.output + result.stderr
    assert "Traceback" not in everything
    assert SECRET not in everything
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


# -- usage errors (2) ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (("plan", "lab", "--purpose", "foo"), ("'foo'", "CallManager", "tomcat-ECDSA")),
        (("start", "lab", "--change", "C1", "--ca", "digicert"), ("'digicert'", "adcs")),
        (("decide", "C1", "maybe"), ("'maybe'", "roll-forward")),
        (("start", "lab", "--change", "C1", "--window", "tonight"), ("--window",)),
        (("approve",), ("Missing argument",)),
        (("frobnicate",), ("No such command",)),
    ],
    ids=["purpose", "ca", "decision", "window", "missing-argument", "unknown-command"],
)
def test_bad_command_lines_are_one_line_usage_errors(
    env: dict[str, str], args: tuple[str, ...], needles: tuple[str, ...]
) -> None:
    assert_one_line_error(ucrenew(env, *args), ExitCode.USAGE, *needles)


def test_purposes_are_case_insensitive_as_in_cucm() -> None:
    assert _purposes(["callmanager", "TOMCAT", "cup-XMPP-s2s"]) == [
        "CallManager",
        "tomcat",
        "cup-xmpp-s2s",
    ]
    with pytest.raises(CliError) as raised:
        _purposes(["digicert"])
    assert raised.value.code == ExitCode.USAGE


def test_help_lists_the_purposes_and_the_cas(env: dict[str, str]) -> None:
    helped = ucrenew(env, "start", "--help")
    assert helped.exit_code == 0
    for name in [*PURPOSES, "local", "manual", "adcs", "acme"]:
        assert name in helped.output


def test_version_comes_from_the_distribution(env: dict[str, str]) -> None:
    from importlib.metadata import version

    result = ucrenew(env, "--version")
    assert result.exit_code == 0 and result.output.strip() == f"ucrenew {version('ucrenew')}"


# -- not found (4), failed (1), unreachable (5) --------------------------------------------


@pytest.mark.parametrize("command", ["plan", "start"])
def test_an_unknown_cluster_names_the_known_ones(env: dict[str, str], command: str) -> None:
    args = ["nowhere"] + (["--change", "C1"] if command == "start" else [])
    assert_one_line_error(
        ucrenew(env, command, *args), ExitCode.NOT_FOUND, "'nowhere'", "known: lab"
    )


@pytest.mark.parametrize("command", ["plan", "start"])
def test_an_invalid_inventory_names_file_line_and_field_never_the_value(
    env: dict[str, str], tmp_path: Path, command: str
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        INVENTORY.replace('"env:UCR_TEST_OS"', f'"{SECRET}"').replace(
            "role: publisher", "role: publisher\n    https_port: eighty"
        )
    )
    env["UCRENEW_INVENTORY"] = str(bad)
    args = ["lab"] + (["--change", "C1"] if command == "start" else [])
    line = assert_one_line_error(ucrenew(env, command, *args), ExitCode.FAILED, str(bad))
    assert "line 8: clusters[0].nodes[0].https_port" in line
    assert "line 10: clusters[0].credentials.os_admin.password" in line
    assert "eighty" not in line


def test_an_inventory_that_is_not_yaml_names_the_line(env: dict[str, str], tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("clusters:\n- name: lab\n  nodes: [\n")
    env["UCRENEW_INVENTORY"] = str(bad)
    assert_one_line_error(ucrenew(env, "plan", "lab"), ExitCode.FAILED, "line 4", "not valid YAML")


@pytest.mark.parametrize(
    "args",
    [
        ("ls",),
        ("ls", "--cluster", "o'brien"),
        ("show", "C1"),
        ("watch", "C1"),
        ("approve", "C1"),
        ("reject", "C1"),
        ("decide", "C1", "abort"),
        ("confirm-sso", "C1"),
        ("cancel", "C1", "--reason", "no longer needed"),
        ("report", "C1"),
        ("start", "lab", "--change", "C1"),
    ],
    ids=" ".join,
)
def test_temporal_down_is_its_own_exit_code(env: dict[str, str], args: tuple[str, ...]) -> None:
    assert_one_line_error(
        ucrenew(env, *args), ExitCode.UNREACHABLE, "cannot reach Temporal", "ucrenew dev up"
    )


# -- visibility queries ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "literal"),
    [
        ("lab", "'lab'"),
        ("o'brien", "'o\\'brien'"),
        ("lab' OR ClusterId != 'x", "'lab\\' OR ClusterId != \\'x'"),
        ("back\\slash'", "'back\\\\slash\\''"),
        ('say "hi"', "'say \\\"hi\\\"'"),
    ],
)
def test_every_query_value_is_one_escaped_literal(value: str, literal: str) -> None:
    assert query_literal(value) == literal
    assert renewals_query(cluster=value).endswith(f"AND ClusterId = {literal}")


def test_the_running_filter_is_left_out_for_all_renewals() -> None:
    assert "ExecutionStatus" not in renewals_query(running_only=False)
    assert "ExecutionStatus = 'Running'" in renewals_query()


# -- completion ------------------------------------------------------------------------------


def test_completion_offers_clusters_and_the_change_ids_seen(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert completion.clusters("") == ["lab"] and completion.clusters("x") == []
    state = Path(env["UCRENEW_STATE_DIR"])
    completion.remember_changes(state, ["CHG1", "CHG2"])
    completion.remember_change(state, "OTHER")
    assert completion.change_ids("") == ["OTHER", "CHG1", "CHG2"]
    assert completion.change_ids("CH") == ["CHG1", "CHG2"]


def test_completion_never_raises(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UCRENEW_STATE_DIR", str(tmp_path / "missing"))
    monkeypatch.setenv("UCRENEW_INVENTORY", str(tmp_path / "missing.yaml"))
    assert completion.clusters("") == [] and completion.change_ids("") == []
    garbage = tmp_path / "garbage.yaml"
    garbage.write_text("clusters: 42\n")
    monkeypatch.setenv("UCRENEW_INVENTORY", str(garbage))
    assert completion.clusters("") == []
    # A state dir that is a file: remembering is best effort, never an error.
    blocked = tmp_path / "blocked"
    blocked.write_text("")
    completion.remember_changes(blocked, ["CHG1"])


def test_purposes_complete_in_the_case_typed() -> None:
    from console.cli import _complete_purposes

    assert _complete_purposes("call") == ["callManager", "callManager-ECDSA"]
    assert _complete_purposes("Call") == ["CallManager", "CallManager-ECDSA"]
    assert _complete_purposes("cup") == ["cup-xmpp", "cup-xmpp-s2s"]
