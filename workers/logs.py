"""Logging for workers and the CLI: text or one JSON object per line, with the change's context.

Every line logged while a renewal runs carries the change id, the cluster, the node (when the
step has one) and the phase:

* workflow lines: ``workflow.logger`` adds the workflow id (the change id) to ``extra``
  (``temporal_workflow``); the workflow adds its cluster and phase (``extra={"ucrenew": …}``);
* activity lines, the activity's own and those of the client libraries it calls: the
  :class:`LogContextInterceptor` carries the workflow's cluster and phase to each activity in
  a header, reads the node from the activity's input, and keeps them in a context variable
  for the activity's duration.

Libraries (asyncssh, httpx, httpcore, zeep, Temporal's internals) log at ``library_level``,
WARNING by default: their INFO lines (one per SSH channel, one per HTTP request) drowned the
renewal's own. ``temporalio.workflow`` and ``temporalio.activity`` stay at the main level:
they are the loggers behind ``workflow.logger`` and ``activity.logger``.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Mapping
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, Final, Literal, TextIO

from temporalio import activity, workflow
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
    StartActivityInput,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
    WorkflowOutboundInterceptor,
)

__all__ = [
    "CONTEXT_FIELDS",
    "LIBRARY_LOGGERS",
    "ContextFilter",
    "JsonFormatter",
    "LogContextInterceptor",
    "TextFormatter",
    "configure_logging",
    "log_context",
]

#: The context every renewal line carries (``step`` is the activity, when there is one).
CONTEXT_FIELDS: Final = ("change_id", "cluster", "node", "phase", "step")

#: Loggers of libraries, held at the library level.
LIBRARY_LOGGERS: Final = (
    "asyncssh",
    "httpx",
    "httpcore",
    "hpack",
    "h2",
    "zeep",
    "urllib3",
    "requests",
    "spnego",
    "temporalio",
)

#: Temporal's loggers that carry ucrenew's own workflow and activity lines.
_OWN_TEMPORAL_LOGGERS: Final = ("temporalio.workflow", "temporalio.activity")

#: Header that carries the workflow's cluster and phase to an activity.
HEADER: Final = "ucrenew-log-context"

_context: ContextVar[Mapping[str, str] | None] = ContextVar("ucrenew_log_context", default=None)

LogFormat = Literal["text", "json"]


def log_context() -> dict[str, str]:
    """The context of the activity running in this task (empty outside activities)."""
    return dict(_context.get() or {})


def _record_context(record: logging.LogRecord) -> dict[str, str]:
    ctx = dict(_context.get() or {})
    wf = getattr(record, "temporal_workflow", None)
    if isinstance(wf, Mapping) and wf.get("workflow_id"):
        ctx["change_id"] = str(wf["workflow_id"])
    act = getattr(record, "temporal_activity", None)
    if isinstance(act, Mapping):
        if act.get("workflow_id"):
            ctx["change_id"] = str(act["workflow_id"])
        if act.get("activity_type"):
            ctx["step"] = str(act["activity_type"])
    own = getattr(record, "ucrenew", None)
    if isinstance(own, Mapping):
        ctx.update({k: str(v) for k, v in own.items() if v})
    return {k: ctx[k] for k in CONTEXT_FIELDS if ctx.get(k)}


class ContextFilter(logging.Filter):
    """Put the renewal's context on every record as attributes (``None`` when unknown)."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Add :data:`CONTEXT_FIELDS` to ``record``; never drops a record."""
        ctx = _record_context(record)
        for name in CONTEXT_FIELDS:
            setattr(record, name, ctx.get(name))
        return True


def _context_of(record: logging.LogRecord) -> dict[str, str]:
    return {k: v for k in CONTEXT_FIELDS if (v := getattr(record, k, None))}


class TextFormatter(logging.Formatter):
    """``time LEVEL logger message [change_id cluster=… node=… phase=… step=…]``."""

    def __init__(self) -> None:
        """Use the worker's usual line layout."""
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        """The line, with the context appended when there is one."""
        line = super().format(record)
        ctx = _context_of(record)
        if not ctx:
            return line
        change = ctx.pop("change_id", "")
        rest = " ".join(f"{k}={v}" for k, v in ctx.items())
        suffix = " ".join(p for p in (change, rest) if p)
        head, sep, tail = line.partition("\n")  # tracebacks stay below the line
        return f"{head} [{suffix}]{sep}{tail}"


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``ts``, ``level``, ``logger``, ``message``, the context and
    ``exc`` (the formatted exception) when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as a JSON object on a single line."""
        data: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        ctx = _context_of(record)
        if ctx or getattr(record, "change_id", None) is not None:
            data.update({k: ctx.get(k) for k in ("change_id", "cluster", "phase")})
            data.update({k: ctx[k] for k in ("node", "step") if k in ctx})
        if record.exc_info:
            data["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            data["exc"] = record.exc_text
        return json.dumps(data, default=str)


def configure_logging(
    log_format: LogFormat = "text",
    level: str | int = "INFO",
    library_level: str | int = "WARNING",
    stream: TextIO | None = None,
) -> logging.Handler:
    """Send every log line to ``stream`` (stderr by default) in ``log_format``.

    Args:
        log_format: ``text`` (the default) or ``json`` (one object per line).
        level: Level of ucrenew's own lines (and the root logger).
        library_level: Level of the libraries' loggers (:data:`LIBRARY_LOGGERS`).
        stream: Where lines go.

    Returns:
        The handler installed on the root logger (replacing the one an earlier call
        installed; handlers of others, e.g. pytest's, stay).
    """
    handler = _UcrenewHandler(stream or sys.stderr)
    handler.addFilter(ContextFilter())
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _UcrenewHandler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(_level(level))
    for name in LIBRARY_LOGGERS:
        logging.getLogger(name).setLevel(_level(library_level))
    for name in _OWN_TEMPORAL_LOGGERS:
        logging.getLogger(name).setLevel(_level(level))
    # The context is in fields of its own: no dict of Temporal details appended to messages.
    workflow.logger.workflow_info_on_message = False
    activity.logger.activity_info_on_message = False
    return handler


class _UcrenewHandler(logging.StreamHandler):
    """The handler :func:`configure_logging` installs (so a second call replaces it)."""


def _level(level: str | int) -> int:
    if isinstance(level, int):
        return level
    value = logging.getLevelName(level.upper())
    if not isinstance(value, int):
        raise ValueError(f"unknown log level {level!r}: use DEBUG, INFO, WARNING or ERROR")
    return value


class LogContextInterceptor(Interceptor):
    """Carry a renewal's cluster and phase from the workflow to its activities' log lines."""

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        """Wrap activity executions so that their lines carry the context."""
        return _ActivityContext(next)

    def workflow_interceptor_class(
        self, input: WorkflowInterceptorClassInput
    ) -> type[WorkflowInboundInterceptor]:
        """Wrap workflows so that each activity they start is told the context."""
        return _WorkflowContext


def _workflow_context() -> dict[str, str]:
    context = getattr(workflow.instance(), "log_context", None)
    return dict(context()) if callable(context) else {}


class _WorkflowOutbound(WorkflowOutboundInterceptor):
    def start_activity(self, input: StartActivityInput) -> workflow.ActivityHandle[Any]:
        ctx = _workflow_context()
        if ctx:
            payload = workflow.payload_converter().to_payload(ctx)
            input.headers = {**input.headers, HEADER: payload}
        return super().start_activity(input)


class _WorkflowContext(WorkflowInboundInterceptor):
    def init(self, outbound: WorkflowOutboundInterceptor) -> None:
        super().init(_WorkflowOutbound(outbound))


class _ActivityContext(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        ctx: dict[str, str] = {}
        payload = input.headers.get(HEADER)
        if payload is not None:
            try:
                decoded = activity.payload_converter().from_payload(payload, dict)
            except Exception:  # a log context must never fail an activity
                decoded = {}
            ctx.update({str(k): str(v) for k, v in decoded.items() if v})
        info = activity.info()
        ctx["change_id"] = info.workflow_id or ""
        ctx["step"] = info.activity_type
        arg = input.args[0] if input.args else None
        for name, attrs in (("cluster", ("cluster",)), ("node", ("node", "fqdn"))):
            value = next((v for a in attrs if isinstance(v := getattr(arg, a, None), str)), None)
            if value:
                ctx[name] = value
        token = _context.set(ctx)
        try:
            return await super().execute_activity(input)
        finally:
            _context.reset(token)
