"""The workflow sandbox the workers run ucrenew's workflows in.

Temporal's sandbox runs every workflow run with a module table of its own: the module that
defines the workflow is executed again for each run, so that runs share no module state, and
the standard library modules that could break determinism (``datetime``, ``random``, ``os``…)
are handed in as restricted proxies. Everything else a workflow module imports inside
``workflow.unsafe.imports_passed_through()`` is shared with the worker: ucrenew's workflow
modules import all of their models, pure decision modules and activity classes that way
(docs/architecture.md).

One import form escapes that: ``from workflows import policies`` inside the passed-through
block still executes ``workflows.policies`` again in every run (Python's import machinery
imports a ``from`` list's submodules without going through the sandbox's ``__import__``), so
each parked renewal carried its own copy of the policies and search-attribute modules. The
runner built here names, as passed through, every ucrenew module that defines no workflow:
exactly what the workflow modules already mean to pass through, whatever the import form.
The modules that define a workflow are still executed again per run and the restrictions
are unchanged, so the sandbox keeps catching a workflow that reads the clock or the disk.

Executing a module again also unmarshalled its compiled code again: about 80 KiB per parked
renewal for ``workflows.renewal`` alone. Code objects are immutable, so the runner installs an
import finder that compiles each workflow module once per file version and hands every run
the same code to execute in its own fresh module: each run still gets its own functions,
classes and module state.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import os
import pkgutil
import sys
from collections.abc import Iterable, Sequence
from types import CodeType, ModuleType
from typing import ClassVar

from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

__all__ = [
    "LIBRARY_PASSTHROUGH",
    "PASSTHROUGH_PACKAGES",
    "SharedCodeFinder",
    "passthrough_modules",
    "workflow_modules",
    "workflow_runner",
]

#: Packages whose modules a workflow may share with the worker: no module of theirs defines
#: a workflow (activities are called from workflows, never the reverse).
PASSTHROUGH_PACKAGES: tuple[str, ...] = ("activities",)
#: Libraries a workflow run shares with the worker besides the SDK's defaults: OpenTelemetry,
#: whose context and tracer Temporal's tracing interceptor uses inside every run (re-imported
#: per run, its context variables would not be the worker's).
LIBRARY_PASSTHROUGH: tuple[str, ...] = ("opentelemetry",)
#: The package of ucrenew's workflows: its modules are passed through one by one, all but
#: those defining a workflow.
WORKFLOW_PACKAGE = "workflows"


def _defines_workflow(module: ModuleType) -> bool:
    """Whether ``module`` defines (not merely imports) a workflow class."""
    return any(
        isinstance(value, type)
        and value.__module__ == module.__name__
        and hasattr(value, "__temporal_workflow_definition")
        for value in vars(module).values()
    )


def _package_modules(package: str) -> Iterable[ModuleType]:
    root = importlib.import_module(package)
    for info in pkgutil.iter_modules(root.__path__, prefix=f"{package}."):
        yield importlib.import_module(info.name)


def workflow_modules() -> list[str]:
    """The modules of the ``workflows`` package that define a workflow (executed per run)."""
    return sorted(m.__name__ for m in _package_modules(WORKFLOW_PACKAGE) if _defines_workflow(m))


def passthrough_modules() -> list[str]:
    """Every ucrenew module a workflow run shares with the worker: the activities package and
    each module of ``workflows`` that defines no workflow."""
    own = [m.__name__ for m in _package_modules(WORKFLOW_PACKAGE) if not _defines_workflow(m)]
    return sorted([*PASSTHROUGH_PACKAGES, *own])


class _SharedCodeLoader(importlib.machinery.SourceFileLoader):
    """Python's source loader, compiling (or unmarshalling) each file version once."""

    _codes: ClassVar[dict[tuple[str, int, int], CodeType]] = {}

    def get_code(self, fullname: str) -> CodeType:
        """The module's code: the one already loaded for this file version, else Python's."""
        path = self.get_filename(fullname)
        stat = os.stat(path)
        key = (path, stat.st_mtime_ns, stat.st_size)
        code = self._codes.get(key)
        if code is None:
            code = super().get_code(fullname)
            assert code is not None  # a source file always has code
            self._codes[key] = code
        return code


class SharedCodeFinder(importlib.abc.MetaPathFinder):
    """Finds the named modules as Python's path finder does, loading them with a loader that
    shares their compiled code between imports (see the module docstring).

    Args:
        names: the modules it serves; every other import goes on to Python's finders.
    """

    def __init__(self, names: Iterable[str]) -> None:
        self.names = frozenset(names)

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        """The module's spec with the sharing loader, for the named source modules."""
        if fullname not in self.names:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path, target)
        if spec is None or type(spec.loader) is not importlib.machinery.SourceFileLoader:
            return spec
        assert spec.origin is not None  # a source module has a file
        spec.loader = _SharedCodeLoader(fullname, spec.origin)
        return spec


def install_shared_code(names: Iterable[str]) -> SharedCodeFinder:
    """Put a :class:`SharedCodeFinder` for ``names`` first on ``sys.meta_path`` (once)."""
    wanted = frozenset(names)
    for finder in sys.meta_path:
        if isinstance(finder, SharedCodeFinder) and finder.names == wanted:
            return finder
    finder = SharedCodeFinder(wanted)
    sys.meta_path.insert(0, finder)
    return finder


def workflow_runner() -> SandboxedWorkflowRunner:
    """Temporal's sandbox with the default restrictions, passing ucrenew's own workflow-free
    modules through and sharing the workflow modules' compiled code between runs (see the
    module docstring)."""
    install_shared_code(workflow_modules())
    restrictions = SandboxRestrictions.default.with_passthrough_modules(
        *passthrough_modules(), *LIBRARY_PASSTHROUGH
    )
    return SandboxedWorkflowRunner(restrictions=restrictions)
