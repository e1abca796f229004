"""``ucrenew fleet`` through the ucrenew service when one is configured (the deployment where
only workers and the service reach Temporal)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from console import remote
from console.cli import app
from workers.devserver import free_loopback_port
from workflows.fleet_models import FleetCluster, FleetView

NOW = datetime(2026, 6, 1, tzinfo=UTC)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {
        "UCRENEW_STATE_DIR": str(tmp_path / "state"),
        # Nothing listens here: the remote path must not need Temporal.
        "UCRENEW_TEMPORAL_ADDRESS": f"127.0.0.1:{free_loopback_port()}",
        "UCRENEW_SERVER": "http://127.0.0.1:9",
        "UCRENEW_TOKEN": "ucr1.token",
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "COLUMNS": "200",
    }


def test_fleet_reads_the_view_from_the_service(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[str, str, str, str | None]] = []
    view = FleetView(
        scanned_at=NOW,
        as_of=NOW,
        warning_days=30,
        clusters=[FleetCluster(cluster="east", status="failed", error="unreachable")],
    )

    async def api_call(server: str, method: str, path: str, **kw: Any) -> dict[str, Any]:
        calls.append((server, method, path, kw.get("token")))
        return json.loads(view.model_dump_json())

    monkeypatch.setattr(remote, "api_call", api_call)
    out = CliRunner().invoke(app, ["fleet", "--json"], env=env)
    assert out.exit_code == 0, out.output
    assert calls == [("http://127.0.0.1:9", "GET", "/api/v1/fleet", "ucr1.token")]
    assert FleetView.model_validate_json(out.stdout) == view

    table = CliRunner().invoke(app, ["fleet"], env=env)
    assert table.exit_code == 0 and "east" in table.stdout and "unreachable" in table.stdout


def test_a_view_the_cli_cannot_read_is_one_error_line(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    async def api_call(*_: Any, **__: Any) -> dict[str, Any]:
        return {"clusters": "not a list"}

    monkeypatch.setattr(remote, "api_call", api_call)
    out = CliRunner().invoke(app, ["fleet"], env=env)
    assert out.exit_code == 1
    assert "cannot read" in out.stderr and "Traceback" not in out.output
