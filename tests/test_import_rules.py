"""The import rules of docs/architecture.md, checked on every module's syntax tree.

Every ``import`` counts, wherever it stands: at the top, inside a function, under
``TYPE_CHECKING``. ``RULES`` is the one table of the rules; the *imports* column of the
Packages table in docs/architecture.md says the same in words, so change both together.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Rule:
    """Modules under ``package`` import none of ``forbidden``, except what ``allowed`` names.

    Names match a module and everything below it: ``activities`` matches
    ``activities.models`` too.
    """

    package: str
    forbidden: tuple[str, ...]
    allowed: tuple[str, ...] = ()
    why: str = ""


RULES = (
    Rule(
        "lab",
        ("activities", "workflows", "workers", "console", "service"),
        why="the lab is a separate system: code it shared with ucrenew would agree by construction",
    ),
    Rule(
        "activities.clients",
        ("temporalio", "activities"),
        allowed=(
            "activities.clients",
            "activities.models",
            "activities.cluster_models",
            "activities.catalog",
            "activities.cert_paths",
        ),
        why="protocol code stays free of Temporal; of the activities it uses the pure models only",
    ),
    Rule(
        "activities",
        ("workflows", "workers", "console", "service"),
        why="activities are called by workflows and wired by workers, never the reverse",
    ),
    Rule(
        "workflows",
        ("workers", "console", "service"),
        why="workflows are deterministic orchestration; processes and interfaces sit above them",
    ),
    Rule(
        "workers",
        ("console", "service"),
        why="workers are process wiring; the interfaces built on them sit above",
    ),
    Rule(
        "service",
        ("console", "lab"),
        allowed=("console.attempts",),
        why="the service is a deployed process: the CLI is its client (only the change-id "
        "rule of console.attempts is shared), and the lab is never part of a deployment",
    ),
)


def _matches(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def _is_module(name: str) -> bool:
    path = ROOT.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(source: str, module: str, is_package: bool = False) -> list[tuple[int, str]]:
    """``(line, module)`` for every import in a module's source, relative ones resolved.

    ``from package import name`` counts as ``package.name`` when that is a module of the
    repository, else as ``package``.

    Args:
        source: The module's text.
        module: Its dotted name.
        is_package: Whether it is a package's ``__init__``.
    """
    package = module if is_package else module.rpartition(".")[0]
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source, module)):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                anchor = parts[: len(parts) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                found.append((node.lineno, candidate if _is_module(candidate) else base))
    return found


def violations(rule: Rule) -> list[str]:
    """Where modules of ``rule.package`` import what the rule forbids."""
    top = ROOT.joinpath(*rule.package.split("."))
    out = []
    for path in sorted(top.rglob("*.py")):
        if "build" in path.relative_to(top).parts:
            continue
        imports = imported_modules(
            path.read_text(), _module_name(path), is_package=path.name == "__init__.py"
        )
        for line, name in imports:
            if _matches(name, rule.forbidden) and not _matches(name, rule.allowed):
                out.append(f"{path.relative_to(ROOT)}:{line} imports {name}")
    return out


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.package)
def test_imports_follow_the_architecture(rule: Rule) -> None:
    found = violations(rule)
    assert not found, f"{rule.package} must not import {rule.forbidden} ({rule.why}):\n" + (
        "\n".join(found)
    )


def test_the_checker_sees_every_kind_of_import() -> None:
    source = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from workflows import models\n"
        "def f():\n    import console.cli\n"
        "from . import pki\n"
        "from .frontends import not_a_module\n"
    )
    names = {name for _, name in imported_modules(source, "lab.probe")}
    assert names == {"typing", "workflows.models", "console.cli", "lab.pki", "lab.frontends"}
    assert {n for n in names if _matches(n, RULES[0].forbidden)} == {
        "workflows.models",
        "console.cli",
    }


def _lab_modules() -> dict[str, Path]:
    top = ROOT / "lab"
    return {
        _module_name(path): path
        for path in sorted(top.rglob("*.py"))
        if "build" not in path.relative_to(top).parts
    }


def test_lab_modules_import_one_way() -> None:
    # docs/lab.md: the model, then the frontends, then the listeners and the server on top;
    # no cycle (so no import moved into a function to dodge one) and no private name borrowed.
    modules = _lab_modules()
    graph: dict[str, set[str]] = {}
    borrowed: list[str] = []
    for name, path in modules.items():
        source = path.read_text()
        imports = imported_modules(source, name, is_package=path.name == "__init__.py")
        graph[name] = {m for _, m in imports if m in modules and m != name and m != "lab"}
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("lab"):
                borrowed += [
                    f"{name} imports {node.module}.{a.name}"
                    for a in node.names
                    if a.name.startswith("_")
                ]
    assert not borrowed

    visiting: list[str] = []
    done: set[str] = set()

    def visit(module: str) -> None:
        if module in visiting:
            cycle = [*visiting[visiting.index(module) :], module]
            pytest.fail("import cycle: " + " -> ".join(cycle))
        if module in done:
            return
        visiting.append(module)
        for dependency in sorted(graph[module]):
            visit(dependency)
        visiting.pop()
        done.add(module)

    for module in graph:
        visit(module)
