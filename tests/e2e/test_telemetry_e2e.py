"""Traces and metrics of a lab renewal, on the session's dev server with an in-process worker.

Traces are captured by OpenTelemetry's in-memory exporter on the tracer provider ucrenew
traces with (``workers.telemetry.use_tracer_provider``); metrics are scraped over HTTP from
the worker runtime's Prometheus endpoint (``UCRENEW_METRICS_LISTEN``) while the renewal waits
for its operator.
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.runtime import MetricBuffer, Runtime, TelemetryConfig
from temporalio.service import RPCError

from activities.clients.tracing import ATTR_INTERFACE, ATTR_NODE, ATTR_OPERATION, ATTR_OUTCOME
from lab.faults import Fault
from tests.e2e.conftest import FAST_OPTIONS, Handle, Stack
from tests.spans import spans_in_memory
from tests.workers.test_telemetry import _Collector
from workers import telemetry
from workers.converter import make_data_converter
from workers.devserver import DevServer, free_loopback_port
from workers.fleet import run_fleet_scan
from workers.settings import UcrenewSettings
from workers.starting import start_renewal
from workers.temporal_connect import connect_client
from workers.wiring import build_worker
from workflows.models import RenewalInput
from workflows.renewal import CertRenewalWorkflow

pytestmark = pytest.mark.e2e


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """ucrenew traces into memory for the test (and not at all after it)."""
    with spans_in_memory() as exporter:
        yield exporter


async def _end(handle: Handle) -> None:
    """Terminate the renewal (and its cluster lock) if the test left it running."""
    try:
        desc = await handle.describe()
    except RPCError:
        return
    if desc.status == WorkflowExecutionStatus.RUNNING:
        await handle.terminate("the test ended")


def _input(stack: Stack) -> RenewalInput:
    return RenewalInput(
        change_id=f"CHG-{uuid.uuid4().hex[:10]}",
        cluster=stack.lab.cluster_entry.name,
        requested_by="e2e",
        options=FAST_OPTIONS,
    )


async def _client(stack: Stack, dev_server: DevServer, **kw: Any) -> Client:
    settings = UcrenewSettings(temporal_address=dev_server.address)
    return await connect_client(settings, data_converter=make_data_converter(stack.settings), **kw)


def _ancestors(span: ReadableSpan, by_id: dict[int, ReadableSpan]) -> list[str]:
    names = []
    parent = span.parent
    while parent is not None and parent.span_id in by_id:
        up = by_id[parent.span_id]
        names.append(up.name)
        parent = up.parent
    return names


async def test_a_renewal_is_one_trace_with_workflow_activity_and_cucm_call_spans(
    stack: Stack, dev_server: DevServer, spans: InMemorySpanExporter
) -> None:
    """Temporal's tracing interceptor (on the client ucrenew connects, and so on the worker)
    plus the client layers' call spans: a lab tomcat renewal with the local CA is one trace,
    rooted at the span of its start; each activity span sits under the workflow's spans, and
    each CUCM or CA call under its activity, naming node, interface, operation and outcome.
    No attribute carries a password, a certificate or a key."""
    lab = stack.lab.lab
    # One dropped answer: its span must say how the call ended.
    await lab.add_fault(
        Fault(kind="response-lost", node="cucm-pub", target="upload-trust", count=1)
    )
    client = await _client(stack, dev_server)
    inp = _input(stack)
    async with build_worker(client, stack.settings, stack.task_queue):
        handle = await start_renewal(client, inp, task_queue=stack.task_queue)
        try:
            await stack.reenable_sso(handle)
            status = await handle.result()
        finally:
            await _end(handle)
    assert status.phase == "done"

    finished = spans.get_finished_spans()
    by_id = {s.context.span_id: s for s in finished}
    [root] = [s for s in finished if s.name == f"renewal {inp.change_id}"]
    assert root.parent is None
    trace_id = root.context.trace_id
    mine = [s for s in finished if s.context.trace_id == trace_id]
    names = {s.name for s in mine}
    assert {
        "StartWorkflow:CertRenewalWorkflow",
        "RunWorkflow:CertRenewalWorkflow",
        "StartActivity:discover_cluster",
        "RunActivity:discover_cluster",
        "RunActivity:submit_csr",
        "RunActivity:restart_service",
        "CompleteWorkflow:CertRenewalWorkflow",
    } <= names
    # Every span of the run hangs below the start's root, however many workflow tasks ran.
    assert all(s is root or "renewal " + inp.change_id in _ancestors(s, by_id) for s in mine)
    run_activity = next(s for s in mine if s.name == "RunActivity:discover_cluster")
    assert "StartActivity:discover_cluster" in _ancestors(run_activity, by_id)

    calls = [s for s in mine if s.attributes and ATTR_INTERFACE in s.attributes]
    interfaces = {str(s.attributes[ATTR_INTERFACE]) for s in calls if s.attributes}
    assert {"ssh", "controlcenter", "local"} <= interfaces
    assert interfaces & {"axl", "cmplatform", "rest"}
    for call in calls:
        attrs = dict(call.attributes or {})
        assert {ATTR_INTERFACE, ATTR_OPERATION, ATTR_OUTCOME} <= set(attrs)
        assert ATTR_NODE in attrs or attrs[ATTR_INTERFACE] == "local"
        assert any(a.startswith("RunActivity:") for a in _ancestors(call, by_id)), call.name
    restarts = [
        s for s in calls if s.attributes and s.attributes[ATTR_OPERATION] == "utils service restart"
    ]
    assert {str(s.attributes[ATTR_NODE]) for s in restarts if s.attributes} == {
        n.fqdn for n in stack.lab.cluster_entry.nodes
    }
    submit = next(s for s in calls if s.name == "local submit")
    assert submit.attributes and submit.attributes[ATTR_OUTCOME] == "issued"
    lost = [s for s in calls if s.attributes and s.attributes[ATTR_OUTCOME] == "CucmResponseLost"]
    assert lost and all(s.attributes and s.attributes[ATTR_NODE] for s in lost)

    secrets = [pw for _, pw in lab.credentials.values()]
    for span in finished:
        text = span.name + " ".join(f"{k}={v}" for k, v in (span.attributes or {}).items())
        for secret in secrets:
            assert secret not in text
        assert "PRIVATE KEY" not in text and "BEGIN CERTIFICATE" not in text


@pytest_asyncio.fixture(loop_scope="session")
async def metrics_url(stack: Stack) -> AsyncIterator[str]:
    address = f"127.0.0.1:{free_loopback_port()}"
    yield f"http://{address}/metrics"


def _sample(text: str, name: str, **labels: str) -> float | None:
    """The value of the first sample of ``name`` whose labels include ``labels``."""
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line.split("}", 1)[0]))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return None


async def test_metrics_are_served_during_a_renewal(
    stack: Stack, dev_server: DevServer, metrics_url: str
) -> None:
    """``UCRENEW_METRICS_LISTEN``: the worker runtime's Prometheus endpoint serves the SDK's
    ``temporal_*`` metrics and ucrenew's own. While the renewal waits for its operator to
    re-enable SSO, ``ucrenew_renewals_in_flight`` counts it in that phase; afterwards the
    phase durations, the CA wait of the local CA and the retry of the upload whose answer
    was lost are there."""
    lab = stack.lab.lab
    await lab.add_fault(
        Fault(kind="response-lost", node="cucm-pub", target="upload-trust", count=1)
    )
    listen = metrics_url.removeprefix("http://").removesuffix("/metrics")
    settings = stack.settings.model_copy(
        update={"metrics_listen": listen, "metrics_refresh_seconds": 1.0}
    )
    client = await _client(stack, dev_server, runtime=telemetry.metrics_runtime(settings))
    inp = _input(stack)
    async with (
        build_worker(client, settings, stack.task_queue),
        telemetry.in_flight_refresher(client, settings, stack.task_queue) as gauge,
        httpx.AsyncClient() as http,
    ):
        assert gauge is not None
        handle = await start_renewal(client, inp, task_queue=stack.task_queue)
        try:
            await stack.wait_for(handle, "sso-confirm")
            parked = None
            for _ in range(200):  # the gauge refreshes every second
                page = (await http.get(metrics_url)).text
                parked = _sample(
                    page, "ucrenew_renewals_in_flight", phase="sso-reenable", waiting_on="operator"
                )
                if parked:
                    break
                await asyncio.sleep(0.1)
            assert parked == 1.0
            await stack.reenable_sso(handle)
            status = await handle.result()
        finally:
            await _end(handle)
        assert status.phase == "done"
        await gauge.refresh()
        page = (await http.get(metrics_url)).text

    assert _sample(page, "ucrenew_renewals_in_flight", phase="sso-reenable") == 0.0
    assert re.search(r"^temporal_\w+", page, re.MULTILINE)
    for phase in ("discover", "preflight", "csr", "ca-wait", "restarts", "verify", "sso-reenable"):
        count = _sample(page, "ucrenew_phase_duration_seconds_count", phase=phase, purpose="tomcat")
        assert count == 1.0, phase
    assert _sample(page, "ucrenew_ca_wait_seconds_count", ca_kind="local") == 1.0
    assert _sample(page, "ucrenew_activity_retries_total", activity="upload_trust") == 1.0


async def test_the_fleet_scan_sets_days_to_expiry_per_cluster_and_purpose(
    stack: Stack, dev_server: DevServer
) -> None:
    """``ucrenew_cert_days_to_expiry{cluster,purpose}``: each cluster scan sets, for each
    purpose, the days its view shows (through the workflow's replay-safe meter)."""
    buffer = MetricBuffer(10000)
    runtime = Runtime(telemetry=TelemetryConfig(metrics=buffer))
    client = await _client(stack, dev_server, runtime=runtime)
    async with build_worker(client, stack.settings, stack.task_queue):
        view = await run_fleet_scan(
            client, stack.settings, [stack.lab.cluster_entry.name], stack.task_queue
        )
    [cluster] = view.clusters
    assert cluster.status == "ok", cluster.error
    shown = {p.purpose: p.days_to_expiry for p in cluster.purposes}
    assert shown and None not in shown.values()
    set_to = {
        (u.attributes["cluster"], u.attributes["purpose"]): u.value
        for u in buffer.retrieve_updates()
        if u.metric.name == "ucrenew_cert_days_to_expiry"
    }
    assert set_to == {(cluster.cluster, p): max(d or 0, 0) for p, d in shown.items()}


async def test_a_worker_process_serves_metrics_on_the_configured_address(
    stack: Stack, dev_server: DevServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``python -m workers`` with ``UCRENEW_METRICS_LISTEN``: the process serves the SDK's
    metrics and counts a renewal parked for its manual CA as waiting on the PKI admins."""
    address = f"127.0.0.1:{free_loopback_port()}"
    monkeypatch.setenv("UCRENEW_METRICS_LISTEN", address)
    monkeypatch.setenv("UCRENEW_METRICS_REFRESH_SECONDS", "1")
    stack.worker_process(dev_server.address)
    handle = await stack.start(ca="manual")
    try:
        await stack.wait_for(handle, "ca", timeout=120)
        parked = None
        page = ""
        async with httpx.AsyncClient() as http:
            for _ in range(300):
                try:
                    page = (await http.get(f"http://{address}/metrics")).text
                except httpx.TransportError:
                    page = ""
                parked = _sample(
                    page, "ucrenew_renewals_in_flight", phase="ca-wait", waiting_on="pki-admins"
                )
                if parked:
                    break
                await asyncio.sleep(0.1)
        assert parked == 1.0
        assert re.search(r"^temporal_\w+", page, re.MULTILINE)
    finally:
        await _end(handle)


async def test_a_cli_start_exports_the_renewals_root_span_over_otlp(
    stack: Stack, dev_server: DevServer, tmp_path: Path
) -> None:
    """``ucrenew start`` with ``OTEL_EXPORTER_OTLP_ENDPOINT``: the short-lived CLI process
    exports, before it exits, the renewal's root span and the start under it, to a loopback
    OTLP/HTTP collector; the workflow's header carries that trace on."""
    _Collector.received = []
    collector = ThreadingHTTPServer(("127.0.0.1", 0), _Collector)
    threading.Thread(target=collector.serve_forever, daemon=True).start()
    change = f"CHG-{uuid.uuid4().hex[:10]}"
    env = dict(os.environ)
    for name in ("UCRENEW_SERVER", "UCRENEW_TOKEN"):
        env.pop(name, None)
    env.update(
        UCRENEW_STATE_DIR=str(stack.settings.state_dir),
        UCRENEW_INVENTORY=str(stack.settings.inventory_path),
        UCRENEW_TEMPORAL_ADDRESS=dev_server.address,
        UCRENEW_TASK_QUEUE=stack.task_queue,
        XDG_CONFIG_HOME=str(tmp_path / "config"),
        OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{collector.server_port}",
        OTEL_SERVICE_NAME="ucrenew-cli",
    )
    handle = stack.client.get_workflow_handle_for(CertRenewalWorkflow.run, change)
    try:
        async with stack.worker():
            proc = await asyncio.create_subprocess_exec(
                str(Path(sys.executable).parent / "ucrenew"),
                "start",
                stack.lab.cluster_entry.name,
                "--change",
                change,
                "--ca",
                "manual",
                env=env,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
            )
            output, _ = await asyncio.wait_for(proc.communicate(), 120)
        assert proc.returncode == 0, output.decode()
    finally:
        await _end(handle)
        collector.shutdown()
        collector.server_close()
    spans = [
        (span, {a.key: a.value.string_value for a in resource.resource.attributes})
        for _, request in _Collector.received
        for resource in request.resource_spans
        for scope in resource.scope_spans
        for span in scope.spans
    ]
    [(root, resource)] = [(s, r) for s, r in spans if s.name == f"renewal {change}"]
    assert resource["service.name"] == "ucrenew-cli"
    assert not root.parent_span_id
    [start] = [s for s, _ in spans if s.name == "StartWorkflow:CertRenewalWorkflow"]
    assert start.trace_id == root.trace_id and start.parent_span_id == root.span_id
    header = (await handle.fetch_history()).events[0].workflow_execution_started_event_attributes
    assert "_tracer-data" in header.header.fields
