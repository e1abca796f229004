"""Telemetry settings and helpers without a Temporal server: OTLP export to a loopback
receiver, the call spans of the client layers, the metrics address."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from activities.clients import tracing
from activities.clients.cucm.errors import CucmResponseLost
from activities.clients.cucm.transport import _operation
from tests.spans import spans_in_memory
from workers import telemetry
from workers.devserver import free_loopback_port
from workers.settings import SettingsError, UcrenewSettings, load_settings


@pytest.fixture
def in_memory() -> Iterator[InMemorySpanExporter]:
    """ucrenew traces into memory for the test (and not at all after it)."""
    with spans_in_memory() as exporter:
        yield exporter


class _Collector(BaseHTTPRequestHandler):
    """An OTLP/HTTP receiver: keeps each request's path and decoded spans."""

    received: list[tuple[str, ExportTraceServiceRequest]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        self.received.append((self.path, request))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_spans_are_exported_over_otlp_http_when_the_endpoint_is_set() -> None:
    """``OTEL_EXPORTER_OTLP_ENDPOINT``: the CUCM call spans reach a (loopback) collector at
    ``/v1/traces``, as the process named by ``OTEL_SERVICE_NAME``."""
    _Collector.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Collector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        endpoint = f"http://127.0.0.1:{server.server_address[1]}"
        provider = telemetry.configure_tracing(
            {"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint, "OTEL_SERVICE_NAME": "ucrenew-worker-a"}
        )
        assert provider is not None and telemetry.tracing_interceptor() is not None
        try:
            with tracing.call_span("axl", "getCCMVersion", node="cucm-pub.example.com"):
                pass
            assert provider.force_flush()  # type: ignore[attr-defined]
        finally:
            telemetry.use_tracer_provider(None)
            provider.shutdown()  # type: ignore[attr-defined]
    finally:
        server.shutdown()
        server.server_close()
    [(path, request)] = _Collector.received
    assert path == "/v1/traces"
    [resource_spans] = request.resource_spans
    service = {a.key: a.value.string_value for a in resource_spans.resource.attributes}[
        "service.name"
    ]
    assert service == "ucrenew-worker-a"
    [span] = [s for scope in resource_spans.scope_spans for s in scope.spans]
    attrs = {a.key: a.value.string_value for a in span.attributes}
    assert span.name == "axl getCCMVersion"
    assert attrs == {
        "ucrenew.interface": "axl",
        "ucrenew.operation": "getCCMVersion",
        "ucrenew.node": "cucm-pub.example.com",
        "ucrenew.outcome": "ok",
    }


def test_tracing_stays_off_without_an_endpoint() -> None:
    """No endpoint, no provider: no interceptor on the clients, no span recorded."""
    assert telemetry.configure_tracing({}) is None
    assert telemetry.tracing_interceptor() is None
    with tracing.call_span("ssh", "show status", node="n") as span:
        assert not span.recording


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4318"}, "OTEL_EXPORTER_OTLP_ENDPOINT"),
        (
            {
                "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4317",
                "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
            },
            "OTEL_EXPORTER_OTLP_PROTOCOL=grpc",
        ),
    ],
)
def test_an_unusable_otlp_setting_is_one_line_naming_it(env: dict[str, str], names: str) -> None:
    with pytest.raises(telemetry.TelemetryConfigError) as err:
        telemetry.configure_tracing(env)
    assert names in str(err.value)
    assert telemetry.tracer_provider() is None


def test_a_failed_call_records_its_error_class_not_its_message(
    in_memory: InMemorySpanExporter,
) -> None:
    """A CUCM error's message may quote the node's reply: the span keeps only its class."""
    with (
        pytest.raises(CucmResponseLost),
        tracing.call_span("rest", "POST /platformcom/api/v1/certmgr/config/csr", node="n1"),
    ):
        raise CucmResponseLost("request sent but no response: secret-looking reply", node="n1")
    [span] = in_memory.get_finished_spans()
    assert span.attributes is not None
    assert span.attributes["ucrenew.outcome"] == "CucmResponseLost"
    assert not span.status.is_ok
    assert "secret-looking" not in str(span.status.description) + str(dict(span.attributes))
    assert not span.events  # no exception event with the message


def test_operations_are_names_never_data() -> None:
    """A query string, a pasted value or a quoted SOAP action never becomes an operation."""
    assert _operation("POST", "/axl/", {"SOAPAction": '"CUCM:DB ver=14.0 getCCMVersion"'}) == (
        "getCCMVersion"
    )
    assert _operation("GET", "/cmplatform/x.do?password=hunter2", None) == "GET /cmplatform/x.do"
    assert tracing.operation_name("set cert import <<'-----BEGIN") == "set cert import"
    assert tracing.operation_name("") == "unknown"


def test_the_metrics_address_must_be_an_ip_and_port(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UCRENEW_METRICS_LISTEN", "metrics.example.net:9464")
    with pytest.raises(SettingsError, match=r"UCRENEW_METRICS_LISTEN: .*ip:port"):
        load_settings()
    monkeypatch.setenv("UCRENEW_METRICS_LISTEN", "[::1]:9464")
    assert load_settings().metrics_listen == "[::1]:9464"


def test_a_metrics_address_in_use_names_the_setting() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        address = f"127.0.0.1:{taken.getsockname()[1]}"
        with pytest.raises(telemetry.TelemetryConfigError, match="UCRENEW_METRICS_LISTEN"):
            telemetry.metrics_runtime(UcrenewSettings(metrics_listen=address))
    assert telemetry.metrics_runtime(UcrenewSettings()) is None
    address = f"127.0.0.1:{free_loopback_port()}"
    runtime = telemetry.metrics_runtime(UcrenewSettings(metrics_listen=address))
    assert runtime is telemetry.metrics_runtime(UcrenewSettings(metrics_listen=address))
