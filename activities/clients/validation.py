"""Validation messages built from field names and reasons, never from the input values.

Whatever an operator writes (inventory, CA configuration, CLI options, submissions) may hold a
secret pasted in the wrong place: a password under a misspelt key, a ``user:password`` string
where a mapping belongs. Pydantic's ``str(ValidationError)`` and PyYAML's error messages quote
the offending input; the helpers here render the same errors from their location and reason
only, so the text can go into workflow status, history and logs. This module never imports
temporalio.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Final

from pydantic import ValidationError

if TYPE_CHECKING:
    # Annotation only: workflows import this module, and the sandbox need not load PyYAML.
    import yaml

__all__ = ["describe_validation_error", "describe_yaml_error", "field_path"]

#: Pydantic messages that quote part of the input; replaced by a reason of our own.
_QUOTING_TYPES: Final = {
    "union_tag_invalid": "unknown type for this entry",
    "union_tag_not_found": "the entry names no type",
}


def field_path(loc: tuple[int | str, ...]) -> str:
    """``clusters[0].credentials.os_admin.password`` for pydantic's location tuple.

    Args:
        loc: The ``loc`` of one pydantic error.

    Returns:
        The dotted path, list indexes in brackets; ``(top level)`` for an empty location.
    """
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


def _reason(error: dict[str, object]) -> str:
    kind = str(error.get("type", ""))
    if kind in _QUOTING_TYPES:
        return _QUOTING_TYPES[kind]
    if kind == "extra_forbidden":
        return "unknown field (check its spelling and where it sits; the value is not shown)"
    return str(error.get("msg", kind)).removeprefix("Value error, ")


def describe_validation_error(
    exc: ValidationError,
    *,
    limit: int = 10,
    locate: Callable[[tuple[int | str, ...]], int | None] | None = None,
) -> str:
    """One line per error, ``<field>: <reason>``, joined by ``; ``, without any input value.

    Args:
        exc: The pydantic error.
        limit: At most this many errors are listed, then how many more there are.
        locate: The source line of a location, when the input came from a file: each error
            then starts with ``line N:``.

    Returns:
        The errors' field paths and reasons only.
    """
    errors = exc.errors(include_url=False, include_input=False, include_context=False)

    def where(loc: tuple[int | str, ...]) -> str:
        line = locate(loc) if locate is not None else None
        return f"line {line}: " if line else ""

    shown = [
        f"{where(tuple(e['loc']))}{field_path(e['loc'])}: {_reason(dict(e))}"
        for e in errors[:limit]
    ]
    if len(errors) > limit:
        shown.append(f"and {len(errors) - limit} more")
    return "; ".join(shown)


def describe_yaml_error(exc: yaml.YAMLError) -> str:
    """The YAML problem and where it is (line and column), without the quoted source line.

    Args:
        exc: The PyYAML error.

    Returns:
        e.g. ``mapping values are not allowed here (line 9, column 31)``.
    """
    problem = getattr(exc, "problem", None) or "not valid YAML"
    mark = getattr(exc, "problem_mark", None)
    if mark is None:
        return str(problem)
    return f"{problem} (line {mark.line + 1}, column {mark.column + 1})"
