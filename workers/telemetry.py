"""Traces and metrics of ucrenew's processes: OpenTelemetry tracing and Prometheus metrics.

**Traces.** With ``OTEL_EXPORTER_OTLP_ENDPOINT`` set (``http(s)://host:port``, OTLP over
HTTP/protobuf; ``OTEL_SERVICE_NAME`` names the process, ``ucrenew`` by default), every
process that connects through :func:`workers.temporal_connect.connect_client` (workers, the
CLI, the service) exports spans: Temporal's ``TracingInterceptor`` on the client (and so on
every worker built from it) gives a renewal's workflow and activity spans, and the client
layers (``activities/clients/tracing.py``) a span per CUCM or CA call. Unset, no tracer
provider, exporter or interceptor exists at all.

A renewal is one trace: :func:`renewal_span` opens a new root span around its start, and
the start carries that span to the workflow in its headers, so every later span of the run
(after any number of worker restarts) joins the same trace. A renewal started by a process
without tracing still gets its workflow spans (``always_create_workflow_spans``), rooted at
the first workflow task a tracing worker runs.

**Metrics.** With ``UCRENEW_METRICS_LISTEN`` (``ip:port``) a worker's Temporal runtime serves
Prometheus metrics at ``/metrics``: the SDK's ``temporal_*`` and ucrenew's ``ucrenew_*``
(names in docs/operator-guide.md, "Traces and metrics"). How each domain metric is made, and
why there:

- ``ucrenew_renewals_in_flight{phase,waiting_on}``: counted by the worker from Temporal's
  visibility (running renewals of its task queue, by their ``RenewalPhase`` and
  ``RenewalWaitingOn`` search attributes) every ``UCRENEW_METRICS_REFRESH_SECONDS``. A gauge
  set from inside workflows would be wrong: a parked renewal evicted from a worker's cache, a
  renewal moved to another worker or a worker that died would leave its last value behind
  in some process. Visibility is the one place that knows every renewal; every worker
  reports the same count, so dashboards take ``max`` over the workers.
- ``ucrenew_phase_duration_seconds``, ``ucrenew_ca_wait_seconds``,
  ``ucrenew_cert_days_to_expiry``: recorded by the workflows through Temporal's replay-safe
  ``workflow.metric_meter()`` (``workflows/metrics.py``): nothing is recorded again on
  replay, and recording issues no command.
- ``ucrenew_activity_retries_total{activity}``: :class:`MetricsInterceptor` counts every
  activity attempt after the first, from the attempt number Temporal gives it.
- ``ucrenew_phones_unregistered{cluster}``: set by the registration gate of a CallManager
  wave at each RisPort look (``activities/metrics.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from typing import Any, Final
from urllib.parse import urlsplit

from opentelemetry import context as otel_context
from opentelemetry import trace
from temporalio.client import Client
from temporalio.common import MetricMeter
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.service import RPCError
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
)

from activities import metrics as activity_metrics
from activities.clients import tracing
from workers.settings import UcrenewSettings
from workflows import metrics as workflow_metrics
from workflows import search_attributes as sa

__all__ = [
    "ENV_METRICS_LISTEN",
    "ENV_OTLP_ENDPOINT",
    "HISTOGRAM_BUCKETS",
    "IN_FLIGHT",
    "InFlightGauge",
    "MetricsInterceptor",
    "TelemetryConfigError",
    "configure_tracing",
    "flush_tracing",
    "in_flight_refresher",
    "metrics_runtime",
    "renewal_span",
    "tracer_provider",
    "tracing_interceptor",
    "use_tracer_provider",
]

log = logging.getLogger("ucrenew.telemetry")

ENV_OTLP_ENDPOINT: Final = "OTEL_EXPORTER_OTLP_ENDPOINT"
ENV_OTLP_PROTOCOL: Final = "OTEL_EXPORTER_OTLP_PROTOCOL"
ENV_SERVICE_NAME: Final = "OTEL_SERVICE_NAME"
ENV_METRICS_LISTEN: Final = "UCRENEW_METRICS_LISTEN"
DEFAULT_SERVICE_NAME: Final = "ucrenew"

IN_FLIGHT: Final = "ucrenew_renewals_in_flight"
RENEWAL_WORKFLOW: Final = "CertRenewalWorkflow"

#: Bucket bounds (seconds) of ucrenew's histograms: phases last from seconds (a restart in the
#: lab) to weeks (an approval, a manual CA); the CA wait from seconds (ACME, local) to weeks.
HISTOGRAM_BUCKETS: Final[Mapping[str, list[float]]] = {
    workflow_metrics.PHASE_DURATION: [
        1,
        5,
        15,
        30,
        60,
        120,
        300,
        600,
        1800,
        3600,
        4 * 3600,
        12 * 3600,
        86400,
        3 * 86400,
        7 * 86400,
        30 * 86400,
    ],
    workflow_metrics.CA_WAIT: [
        1,
        5,
        30,
        60,
        300,
        900,
        3600,
        4 * 3600,
        12 * 3600,
        86400,
        3 * 86400,
        7 * 86400,
        30 * 86400,
    ],
}


class TelemetryConfigError(RuntimeError):
    """A telemetry setting that cannot be used; the message names the variable to fix."""


# -- traces -----------------------------------------------------------------------------------

_provider: trace.TracerProvider | None = None
_from_env = False


def use_tracer_provider(provider: trace.TracerProvider | None) -> None:
    """Trace with ``provider`` from now on (``None``: tracing off), for the Temporal clients
    connected after this call and for the CUCM and CA call spans. Tests install an SDK
    provider with an in-memory exporter this way."""
    global _provider, _from_env
    _provider = provider
    _from_env = False
    tracing.use_tracer_provider(provider)


def tracer_provider() -> trace.TracerProvider | None:
    """The provider ucrenew traces with, ``None`` when tracing is off."""
    return _provider


def _check_endpoint(environ: Mapping[str, str]) -> str | None:
    endpoint = (environ.get(ENV_OTLP_ENDPOINT) or "").strip()
    if not endpoint:
        return None
    split = urlsplit(endpoint)
    if split.scheme not in ("http", "https") or not split.hostname:
        raise TelemetryConfigError(
            f"{ENV_OTLP_ENDPOINT} must be the collector's OTLP/HTTP base URL, e.g. "
            "http://otel-collector:4318 (spans go to <url>/v1/traces)"
        )
    protocol = (environ.get(ENV_OTLP_PROTOCOL) or "http/protobuf").strip()
    if protocol != "http/protobuf":
        raise TelemetryConfigError(
            f"{ENV_OTLP_PROTOCOL}={protocol} is not supported: ucrenew exports OTLP over "
            "HTTP (http/protobuf); point "
            f"{ENV_OTLP_ENDPOINT} at the collector's HTTP port (4318) and unset "
            f"{ENV_OTLP_PROTOCOL}"
        )
    return endpoint


def configure_tracing(environ: Mapping[str, str] | None = None) -> trace.TracerProvider | None:
    """Set up OTLP export when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set (once per process).

    The exporter reads the standard ``OTEL_EXPORTER_OTLP_*`` variables (headers, timeout,
    certificate); ``OTEL_SERVICE_NAME`` and ``OTEL_RESOURCE_ATTRIBUTES`` describe the process.
    Spans are batched and flushed when the process exits.

    Returns:
        The provider tracing uses (one a test installed is kept), or ``None``: tracing off.

    Raises:
        TelemetryConfigError: The endpoint is not an http(s) URL, or another protocol than
            OTLP/HTTP is asked for.
    """
    if _provider is not None:
        return _provider
    env = os.environ if environ is None else environ
    endpoint = _check_endpoint(env)
    if endpoint is None:
        return None
    # Imported only when tracing is on: a process without it loads no SDK.
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    name = (env.get(ENV_SERVICE_NAME) or "").strip() or DEFAULT_SERVICE_NAME
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: name}))
    provider.add_span_processor(
        BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint.rstrip("/") + "/v1/traces"))
    )
    use_tracer_provider(provider)
    global _from_env
    _from_env = True
    log.info("tracing on: OTLP/HTTP export to %s as %s", endpoint, name)
    return provider


#: How long a process that ends at once (the CLI's ``os._exit``) waits for its last spans.
FLUSH_TIMEOUT_MILLIS: Final = 3000


def flush_tracing() -> None:
    """Export the spans still batched, waiting at most ``FLUSH_TIMEOUT_MILLIS``: for a process
    that ends with ``os._exit``, which skips the exporter's own exit hook (the CLI)."""
    provider = _provider
    flush = getattr(provider, "force_flush", None)
    if _from_env and callable(flush):
        flush(FLUSH_TIMEOUT_MILLIS)


def tracing_interceptor() -> Any | None:
    """Temporal's ``TracingInterceptor`` on ucrenew's tracer, ``None`` when tracing is off.

    It creates workflow spans even for a run whose starter did not trace
    (``always_create_workflow_spans``): a scan's or a CLI's start without tracing still
    shows the renewal's steps.
    """
    provider = _provider
    if provider is None:
        return None
    from temporalio.contrib.opentelemetry import TracingInterceptor

    return TracingInterceptor(
        provider.get_tracer("ucrenew.temporal"), always_create_workflow_spans=True
    )


@contextlib.contextmanager
def renewal_span(change_id: str, cluster: str) -> Iterator[None]:
    """A new trace for a renewal being started: a root span (linked to the caller's span,
    when there is one) that the start hands on to the workflow."""
    provider = _provider
    if provider is None:
        yield
        return
    caller = trace.get_current_span().get_span_context()
    links = [trace.Link(caller)] if caller.is_valid else []
    with provider.get_tracer("ucrenew.temporal").start_as_current_span(
        f"renewal {change_id}",
        context=otel_context.Context(),
        kind=trace.SpanKind.PRODUCER,
        links=links,
        attributes={"ucrenew.change_id": change_id, "ucrenew.cluster": cluster},
    ):
        yield


# -- metrics ----------------------------------------------------------------------------------

_runtimes: dict[str, Runtime] = {}


def metrics_runtime(settings: UcrenewSettings) -> Runtime | None:
    """The Temporal runtime serving Prometheus metrics on ``UCRENEW_METRICS_LISTEN``; ``None``
    when it is unset (the SDK's default runtime, no metrics server). One per address and
    process: a second worker of the process shares it.

    Raises:
        TelemetryConfigError: The address cannot be bound (in use, not this host's).
    """
    address = settings.metrics_listen
    if address is None:
        return None
    runtime = _runtimes.get(address)
    if runtime is None:
        try:
            runtime = Runtime(
                telemetry=TelemetryConfig(
                    metrics=PrometheusConfig(
                        bind_address=address, histogram_bucket_overrides=HISTOGRAM_BUCKETS
                    )
                )
            )
        except ValueError as err:
            raise TelemetryConfigError(
                f"cannot serve metrics on {address} ({ENV_METRICS_LISTEN}): {err}; pick a "
                "free port of an address of this host, or unset it"
            ) from None
        _runtimes[address] = runtime
        log.info("metrics served at http://%s/metrics", address)
    return runtime


class MetricsInterceptor(Interceptor):
    """Counts activity retries (``ucrenew_activity_retries_total``): every attempt after the
    first of an activity, polls of a CA excepted (see ``activities.metrics``)."""

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        """Wrap activity executions to count their retries."""
        return _RetryCounter(next)


class _RetryCounter(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        from temporalio import activity

        info = activity.info()
        if info.attempt > 1 and info.activity_type not in activity_metrics.POLLING_ACTIVITIES:
            activity_metrics.activity_retried(info.activity_type)
        return await super().execute_activity(input)


def _waiting_on_label(values: Sequence[str] | None) -> str:
    return ",".join(sorted(values or []))


class InFlightGauge:
    """``ucrenew_renewals_in_flight{phase,waiting_on}`` from Temporal's visibility.

    Args:
        client: The worker's client.
        meter: The runtime's meter (where the gauge is served).
        task_queue: The renewals counted are those running on this task queue.
    """

    def __init__(self, client: Client, meter: MetricMeter, task_queue: str) -> None:
        self._client = client
        self._gauge = meter.create_gauge(
            IN_FLIGHT, "Renewals running now, by phase and whom they wait on"
        )
        self._query = (
            f"WorkflowType = '{RENEWAL_WORKFLOW}' AND ExecutionStatus = 'Running' "
            f"AND TaskQueue = '{task_queue}'"
        )
        self._shown: set[tuple[str, str]] = set()

    async def refresh(self) -> dict[tuple[str, str], int]:
        """Count the running renewals and set the gauge; label sets no renewal has any more
        drop to 0. Returns the counts by (phase, waiting_on)."""
        counts: dict[tuple[str, str], int] = {}
        async for execution in self._client.list_workflows(self._query, page_size=1000):
            attrs = execution.typed_search_attributes
            key = (
                attrs.get(sa.RENEWAL_PHASE) or "starting",
                _waiting_on_label(attrs.get(sa.RENEWAL_WAITING_ON)),
            )
            counts[key] = counts.get(key, 0) + 1
        for phase, waiting_on in self._shown - set(counts):
            self._gauge.set(0, {"phase": phase, "waiting_on": waiting_on})
        for (phase, waiting_on), n in counts.items():
            self._gauge.set(n, {"phase": phase, "waiting_on": waiting_on})
        self._shown |= set(counts)
        return counts

    async def run(self, interval: float) -> None:
        """Refresh every ``interval`` seconds until cancelled; a failed listing is logged and
        tried again at the next refresh (the gauge keeps its last values)."""
        while True:
            try:
                await self.refresh()
            except RPCError as err:
                log.warning("cannot count the renewals in flight: %s", err.message)
            except Exception:
                # A metric must never stop the worker: say why and try again next time.
                log.exception("counting the renewals in flight failed")
            await asyncio.sleep(interval)


@contextlib.asynccontextmanager
async def in_flight_refresher(
    client: Client, settings: UcrenewSettings, task_queue: str | None = None
) -> AsyncIterator[InFlightGauge | None]:
    """Keep ``ucrenew_renewals_in_flight`` current while the block runs, when the worker
    serves metrics (its client's runtime has a metrics server); yields ``None`` otherwise."""
    runtime = metrics_runtime(settings)
    if runtime is None:
        yield None
        return
    gauge = InFlightGauge(client, runtime.metric_meter, task_queue or settings.task_queue)
    task = asyncio.create_task(gauge.run(settings.metrics_refresh_seconds))
    try:
        yield gauge
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
