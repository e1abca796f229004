"""Without the lab installed, the commands that run it say how to get it; the rest works.

Each case runs the ``ucrenew`` entry point in a child process in which ``import lab`` fails,
as in the production worker image, which does not carry the ``ucrenew-lab`` distribution.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

# sys.modules["lab"] = None makes `import lab` raise ModuleNotFoundError, as when not installed.
_WITHOUT_LAB = (
    "import sys; sys.modules['lab'] = None; "
    "from console.cli import main; sys.argv = ['ucrenew', *sys.argv[1:]]; main()"
)


def _ucrenew(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "UCRENEW_STATE_DIR": str(tmp_path / "state")}
    return subprocess.run(
        [sys.executable, "-c", _WITHOUT_LAB, *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=Path(__file__).resolve().parents[2],
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    "args",
    [("lab", "up"), ("lab", "status", "--json"), ("lab",), ("dev", "up"), ("demo",)],
    ids=" ".join,
)
def test_commands_that_run_the_lab_say_it_is_not_installed(
    tmp_path: Path, args: tuple[str, ...]
) -> None:
    done = _ucrenew(tmp_path, *args)
    assert done.returncode == 2, done.stderr
    assert "not installed" in done.stderr
    assert "pip install 'ucrenew[lab]'" in done.stderr
    assert "Traceback" not in done.stderr
    # Nothing was started on the way to the refusal.
    assert not (tmp_path / "state" / "temporal").exists()


def test_everything_else_works_without_the_lab(tmp_path: Path) -> None:
    helped = _ucrenew(tmp_path, "--help")
    assert helped.returncode == 0, helped.stderr
    assert "dev" in helped.stdout

    status = _ucrenew(tmp_path, "dev", "status", "--json")
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["lab"] is None

    down = _ucrenew(tmp_path, "dev", "down")
    assert down.returncode == 0, down.stderr
    assert "lab       was not running" in down.stdout
