"""`ucrenew start` and `ucrenew plan`: the CSR's key, hash, other domains and validity."""

from __future__ import annotations

from typing import Any

import pytest
from temporalio.common import WorkflowIDReusePolicy
from typer.testing import CliRunner

import console.attempts
import console.planning
from console import cli
from workflows.models import RenewalInput, RenewalOptions

runner = CliRunner()


class _Stop(Exception):
    """Raised by the stand-ins once they have seen what the command passed on."""


@pytest.fixture
def seen(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Stand-ins for the plan's discovery and the Temporal client, recording their input."""
    got: dict[str, Any] = {}

    async def dry_run_report(
        _c: object, _q: str, _cl: str, _p: object, options: RenewalOptions, **_: object
    ) -> None:
        got["options"] = options
        raise _Stop

    class Client:
        async def start_workflow(self, _run: object, inp: RenewalInput, **_: object) -> None:
            got["options"] = inp.options
            raise _Stop

    async def reuse_policy(_client: object, _change: str) -> WorkflowIDReusePolicy:
        return WorkflowIDReusePolicy.REJECT_DUPLICATE

    async def client() -> Client:
        return Client()

    monkeypatch.setattr(console.planning, "dry_run_report", dry_run_report)
    monkeypatch.setattr(console.attempts, "reuse_policy", reuse_policy)
    monkeypatch.setattr(cli, "_client", client)
    monkeypatch.setattr(cli, "_known_cluster", lambda _name: None)
    # The stand-ins' _Stop reaches the test instead of becoming an "unexpected" error line.
    monkeypatch.setenv("UCRENEW_DEBUG", "1")
    return got


@pytest.mark.parametrize("command", [["plan", "lab"], ["start", "lab", "--change", "CHG1"]])
def test_csr_options_reach_the_change(command: list[str], seen: dict[str, Any]) -> None:
    args = ["--key-length", "3072", "--ec-key-length", "384", "--hash", "SHA384"]
    args += ["--other-domain", "uc.example.com", "--other-domain", "cm.example.com"]
    result = runner.invoke(cli.app, [*command, *args, "--min-remaining-days", "90"])
    assert isinstance(result.exception, _Stop), result.output
    options: RenewalOptions = seen["options"]
    assert (options.key_length, options.ec_key_length, options.hash_algorithm) == (
        3072,
        384,
        "sha384",
    )
    assert options.other_domains == ["uc.example.com", "cm.example.com"]
    assert options.min_remaining_days == 90


@pytest.mark.parametrize("command", [["plan", "lab"], ["start", "lab", "--change", "CHG1"]])
@pytest.mark.parametrize(
    ("args", "flag", "valid"),
    [
        (["--key-length", "1024"], "--key-length", "80 bits of security"),
        (["--key-length", "8192"], "--key-length", "2048, 3072, 4096"),
        (["--ec-key-length", "521"], "--ec-key-length", "256 or 384"),
        (["--hash", "sha1"], "--hash", "sha256"),
        (["--ec-key-length", "384"], "--hash", "sha384, sha512"),
        (["--other-domain", "*.example.com"], "--other-domain", "wildcard"),
        (["--min-remaining-days", "0"], "--min-remaining-days", "1"),
    ],
)
def test_invalid_csr_options_are_usage_errors(
    command: list[str], args: list[str], flag: str, valid: str, seen: dict[str, Any]
) -> None:
    result = runner.invoke(cli.app, [*command, *args])
    assert result.exit_code == 2, result.output
    text = " ".join(result.output.split())
    assert flag in text and valid in " ".join(text.replace("│", " ").split())
    assert "options" not in seen  # nothing was planned or started


def test_the_cli_defaults_are_the_workflows() -> None:
    from console import csr_options
    from workflows.models import RenewalOptions

    defaults = RenewalOptions()
    assert defaults.key_length == csr_options.DEFAULT_KEY_LENGTH
    assert defaults.ec_key_length == csr_options.DEFAULT_EC_KEY_LENGTH
    assert csr_options.DEFAULT_HASH.value == defaults.hash_algorithm
    assert defaults.min_remaining_days == csr_options.DEFAULT_MIN_REMAINING_DAYS


@pytest.mark.parametrize("command", [["plan", "lab"], ["start", "lab", "--change", "CHG1"]])
def test_restart_parallel_reaches_the_change_and_is_left_out_when_not_given(
    command: list[str], seen: dict[str, Any]
) -> None:
    result = runner.invoke(cli.app, [*command, "--restart-parallel", "3"])
    assert isinstance(result.exception, _Stop), result.output
    assert seen["options"].restart_parallel == 3
    result = runner.invoke(cli.app, command)
    assert isinstance(result.exception, _Stop), result.output
    # Not given: the cluster's change_policy.restarts decides on the worker.
    assert seen["options"].restart_parallel is None
    assert "restart_parallel" not in seen["options"].model_fields_set
    refused = runner.invoke(cli.app, [*command, "--restart-parallel", "0"])
    assert refused.exit_code == 2
    assert "--restart-parallel" in " ".join(refused.output.replace("│", " ").split())
