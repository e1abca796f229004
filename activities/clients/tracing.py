"""Spans of the calls ucrenew makes to CUCM nodes and CAs (OpenTelemetry API only).

Every call to a node or a CA passes through a few choke points (the HTTPS client of the CUCM
APIs, the SSH session of the platform CLI, the CA backends), and each opens one span with
:func:`call_span`: ``ucrenew.node`` (or ``ucrenew.ca``), ``ucrenew.interface`` (``axl``,
``risport``, ``controlcenter``, ``cmplatform``, ``rest``, ``ssh``, ``acme``, ``adcs``,
``local``…), ``ucrenew.operation`` (the SOAP action, the HTTP method and path, the CLI
command's first words) and ``ucrenew.outcome`` (``ok``, ``http-<status>`` or the error's
class name). Span attributes never carry a secret, a certificate or a key: only names,
operations and outcomes.

The spans go to the tracer provider that :func:`use_tracer_provider` installed (the worker's,
see ``workers/telemetry.py``), else OpenTelemetry's global one, a no-op until a process
configures one: with tracing unconfigured a span costs one context-manager call. A span opened
inside an activity is a child of the activity's span (Temporal's tracing interceptor makes
that span current), so a renewal's trace shows each node call under the step that made it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final

from opentelemetry import trace

__all__ = [
    "ATTR_CA",
    "ATTR_INTERFACE",
    "ATTR_NODE",
    "ATTR_OPERATION",
    "ATTR_OUTCOME",
    "CallSpan",
    "call_span",
    "tracer",
    "use_tracer_provider",
]

ATTR_NODE: Final = "ucrenew.node"
ATTR_CA: Final = "ucrenew.ca"
ATTR_INTERFACE: Final = "ucrenew.interface"
ATTR_OPERATION: Final = "ucrenew.operation"
ATTR_OUTCOME: Final = "ucrenew.outcome"

_INSTRUMENTATION: Final = "ucrenew.clients"
_provider: trace.TracerProvider | None = None

# An operation is a name, never data: anything past these characters is cut, so a path's
# query string or a command's arguments (a password prompt answer, a file name) never land in
# a span.
_OPERATION: Final = re.compile(r"[A-Za-z0-9_./:\- ]+")


def use_tracer_provider(provider: trace.TracerProvider | None) -> None:
    """Send the call spans to ``provider`` (``None``: back to OpenTelemetry's global one)."""
    global _provider
    _provider = provider


def tracer() -> trace.Tracer:
    """The tracer of the call spans."""
    provider = _provider if _provider is not None else trace.get_tracer_provider()
    return provider.get_tracer(_INSTRUMENTATION)


class CallSpan:
    """The open span of one call: the choke point sets the outcome once it knows it."""

    def __init__(self, span: trace.Span) -> None:
        self._span = span
        self.outcome: str | None = None

    def set_outcome(self, outcome: str) -> None:
        """Record how the call ended (``ok``, ``http-503``…); an error raised overrides it."""
        self.outcome = outcome

    @property
    def recording(self) -> bool:
        """Whether the span is recorded (tracing configured): skip work only a span needs."""
        return self._span.is_recording()


def operation_name(text: str, limit: int = 80) -> str:
    """``text`` cut to its leading name characters (see ``_OPERATION``), at most ``limit``."""
    match = _OPERATION.match(text.strip())
    name = match.group(0).strip() if match else ""
    return (name or "unknown")[:limit]


@contextmanager
def call_span(
    interface: str, operation: str, *, node: str | None = None, ca: str | None = None
) -> Iterator[CallSpan]:
    """A client span for one call to a node (``node``) or a CA (``ca``).

    The outcome is ``ok`` unless the block set another; an exception sets it to the
    exception's class name and marks the span as an error (its message is not recorded: a
    CUCM error message may quote the node's reply).
    """
    attributes: dict[str, str] = {
        ATTR_INTERFACE: interface,
        ATTR_OPERATION: operation_name(operation),
    }
    if node is not None:
        attributes[ATTR_NODE] = node
    if ca is not None:
        attributes[ATTR_CA] = ca
    with tracer().start_as_current_span(
        f"{interface} {attributes[ATTR_OPERATION]}",
        kind=trace.SpanKind.CLIENT,
        attributes=attributes,
        record_exception=False,
        set_status_on_exception=False,
    ) as span:
        call = CallSpan(span)
        try:
            yield call
        except BaseException as exc:
            span.set_attribute(ATTR_OUTCOME, type(exc).__name__)
            span.set_status(trace.Status(trace.StatusCode.ERROR, type(exc).__name__))
            raise
        span.set_attribute(ATTR_OUTCOME, call.outcome or "ok")
