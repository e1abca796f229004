"""``ucrenew check``: what it prints and its exit code (the RisPort looks are stubbed; they are
tested against the lab in tests/clients/test_purpose_certs.py)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from console import checks
from console.cli import app
from workflows.caveats import PhoneResetCheck, cscup28852_check
from workflows.models import RenewalStatus


def status(purposes: list[str], findings: list[dict[str, str]] | None = None) -> RenewalStatus:
    return RenewalStatus.model_validate(
        {
            "change_id": "CHG-9",
            "cluster": "lab",
            "purposes": purposes,
            "ca": "local",
            "requested_by": "alice",
            "phase": "done",
            "findings": findings or [],
        }
    )


@pytest.fixture
def watched(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, float]]:
    calls: list[tuple[str, float]] = []
    resetting = cscup28852_check({"SEP1": 10, "SEP2": 10}, {"SEP1": 500}, 480.0)

    async def watch(cluster: str, window: float) -> PhoneResetCheck:
        calls.append((cluster, window))
        return resetting

    monkeypatch.setattr(checks, "watch_phone_resets", watch)
    return calls


def use_status(monkeypatch: pytest.MonkeyPatch, s: RenewalStatus) -> None:
    async def status_of(change_id: str) -> RenewalStatus:
        assert change_id == "CHG-9"
        return s

    monkeypatch.setattr(checks, "status_of", status_of)


def test_a_callmanager_change_is_watched_and_cscup28852_exits_3(
    monkeypatch: pytest.MonkeyPatch, watched: list[tuple[str, float]]
) -> None:
    use_status(monkeypatch, status(["CallManager"]))
    result = CliRunner().invoke(app, ["check", "CHG-9", "--json"])
    assert result.exit_code == 3, result.output
    out = json.loads(result.output)
    assert watched == [("lab", checks.DEFAULT_WINDOW)] and checks.DEFAULT_WINDOW > 420
    assert out["phone_resets"]["re_registered"] == 2
    assert [f["code"] for f in out["findings"]] == ["cscup28852-phones-resetting"]


def test_a_tomcat_change_is_not_watched_and_a_clean_one_exits_0(
    monkeypatch: pytest.MonkeyPatch, watched: list[tuple[str, float]]
) -> None:
    use_status(monkeypatch, status(["tomcat"]))
    result = CliRunner().invoke(app, ["check", "CHG-9"])
    assert result.exit_code == 0, result.output
    assert watched == [] and "not applicable" in result.output


def test_recorded_findings_are_printed(
    monkeypatch: pytest.MonkeyPatch, watched: list[tuple[str, float]]
) -> None:
    finding = {"code": "reissue-node-added", "node": "cucm-sub3", "message": "re-issue it"}
    use_status(monkeypatch, status(["tomcat"], [finding]))
    result = CliRunner().invoke(app, ["check", "CHG-9"], env={"COLUMNS": "200"})
    assert result.exit_code == 3
    assert "reissue-node-added" in result.output and "re-issue it" in result.output
