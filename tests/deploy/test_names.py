"""deploy/ and the code agree: every ``UCRENEW_*`` variable the Dockerfile, the manifests and
the compose file set is one the code reads, and every command they run in the ucrenew image
resolves to a module or a ``ucrenew`` command that exists."""

from __future__ import annotations

import importlib.util
import re
from typing import Any

import typer.main

from console.cli import app
from service.settings import ServiceSettings
from tests.deploy.files import README, ROOT, deploy_env_names, ucrenew_commands, wheel_packages
from workers.settings import UcrenewSettings

#: Names deploy/ may set before the code reads them (none today).
RESERVED: set[str] = set()


def code_env_names() -> set[str]:
    """The variables ucrenew reads: its two settings classes, and the few read directly."""
    names = {f"UCRENEW_{field.upper()}" for field in UcrenewSettings.model_fields}
    names |= {
        f"UCRENEW_SERVICE_{field.upper()}"
        for field in ServiceSettings.model_fields
        if field != "ucrenew"
    }
    for package in ("console", "workers", "service", "activities"):
        for path in (ROOT / package).rglob("*.py"):
            names |= set(re.findall(r"environ\.get\(\"(UCRENEW_[A-Z0-9_]+)\"", path.read_text()))
    return names


def test_every_variable_deploy_sets_is_read_by_the_code() -> None:
    known = code_env_names()
    used = deploy_env_names()
    assert "UCRENEW_WORKER_HEALTH_LISTEN" in used and "UCRENEW_TEMPORAL_ADDRESS" in used
    unknown = {name: sorted(files) for name, files in used.items() if name not in known | RESERVED}
    assert unknown == {}


def test_the_check_would_catch_a_misspelt_variable() -> None:
    assert "UCRENEW_TEMPORAL_ADRESS" not in code_env_names()
    assert "UCRENEW_SERVICE_SESSION_KEY" in code_env_names()
    assert "UCRENEW_SERVER" in code_env_names()


def test_reserved_names_are_listed_in_the_readme() -> None:
    """A name deploy/ sets before any code reads it is said to be reserved, and for what;
    once the metrics part of issue 15 is merged it is read, and can leave RESERVED."""
    text = README.read_text()
    for name in RESERVED:
        assert name in text.split("**Reserved names.**", 1)[1]


def resolve(argv: tuple[str, ...]) -> str | None:
    """Why ``argv`` would not start in the image (``None``: it would)."""
    if argv[:2] == ("python", "-m") and len(argv) >= 3:
        module = argv[2]
        if module.split(".")[0] not in wheel_packages():
            return f"{module} is not in the image (not one of the wheel's packages)"
        if importlib.util.find_spec(f"{module}.__main__") is None:
            return f"no module {module}.__main__"
        return None
    if argv[0] == "ucrenew":
        # typer's own click (it vendors one): groups are told by their subcommands.
        command: Any = typer.main.get_command(app)
        for word in argv[1:]:
            if word.startswith("-") or not hasattr(command, "commands"):
                break
            sub = command.commands.get(word)
            if sub is None:
                return f"`ucrenew` has no command {word!r}"
            command = sub
        if hasattr(command, "commands"):
            return f"{' '.join(argv)} names a group, not a command"
        options = {o for p in command.params for o in getattr(p, "opts", [])}
        for word in argv:
            if word.startswith("--") and word.split("=", 1)[0] not in options:
                return f"{command.name} has no option {word}"
        return None
    return f"{argv[0]} is neither `python -m` nor `ucrenew`"


def test_every_command_deploy_runs_exists() -> None:
    commands = list(ucrenew_commands())
    wheres = {c.where.split(":")[0] for c in commands}
    assert {"Dockerfile", "worker.yaml", "service.yaml", "admin-init-job.yaml", "compose.yaml"} <= (
        wheres
    )
    problems = {c.where: resolve(c.argv) for c in commands if resolve(c.argv)}
    assert problems == {}


def test_the_command_check_catches_what_would_not_start() -> None:
    assert resolve(("python", "-m", "workerz")) is not None
    assert resolve(("python", "-m", "lab")) is not None, "the lab is not in the image"
    assert resolve(("python", "-m", "workers")) is None
    assert resolve(("ucrenew", "admin", "inti")) is not None
    assert resolve(("ucrenew", "admin")) is not None
    assert resolve(("ucrenew", "admin", "init", "--namespaec", "x")) is not None
    assert resolve(("ucrenew", "admin", "init", "--namespace", "x")) is None
