"""`ucrenew lab servicenow`: the twin in the foreground, and its refusals without tracebacks."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from lab.cli import app


def test_bad_records_and_addresses_are_refused_plainly(tmp_path: Path) -> None:
    bad = tmp_path / "records.yaml"
    bad.write_text("records:\n  - {number: CHG1, start_date: tomorrow}\n")
    not_records = tmp_path / "list.yaml"
    not_records.write_text("- CHG1\n")
    runner = CliRunner()
    for args in (
        ["servicenow", "--state-dir", str(tmp_path), "--records", str(not_records)],
        ["servicenow", "--state-dir", str(tmp_path), "--records", str(bad)],
        ["servicenow", "--state-dir", str(tmp_path), "--address", "192.0.2.1"],
    ):
        result = runner.invoke(app, args)
        assert result.exit_code == 2, result.output
        assert "cannot start the ServiceNow twin" in result.output
        assert "Traceback" not in result.output


def test_serves_until_sigterm_and_prints_the_inventory_block(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "lab", "servicenow", "--state-dir", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(8)]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
    assert proc.returncode == 0, lines
    assert lines[0].startswith("ServiceNow twin on https://127.0.0.1:")
    assert lines[2].strip() == "itsm:"
    assert f"password: file:{tmp_path}/lab/servicenow/servicenow-password" in lines[7]
