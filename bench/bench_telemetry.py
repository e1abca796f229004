"""What traces and metrics cost: lab tomcat renewals with telemetry off, then on (spans
exported over OTLP/HTTP to a loopback collector that counts them, Prometheus metrics served
and the in-flight gauge refreshed every second), alternating. Run:
``.venv/bin/python -m bench.bench_telemetry [runs-per-mode]``.

Prints the wall time per renewal in each mode, spans per renewal (all, and CUCM/CA calls by
interface), what the collector received, and a ``/metrics`` scrape's size, series and time.
Prints figures; asserts nothing.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from temporalio.client import Client

from lab import topology
from lab.server import Lab
from lab.timing import FAST
from workers import telemetry
from workers.converter import make_data_converter
from workers.devserver import DevServer, free_loopback_port
from workers.settings import UcrenewSettings
from workers.starting import start_renewal
from workers.temporal_connect import connect_client
from workers.wiring import build_worker
from workflows.models import RenewalInput, RenewalOptions, SsoConfirmation
from workflows.renewal import CertRenewalWorkflow


class _Collector(BaseHTTPRequestHandler):
    """An OTLP/HTTP receiver that counts spans by name prefix and interface."""

    spans = 0
    interfaces: Counter[str] = Counter()
    requests = 0

    def do_POST(self) -> None:
        request = ExportTraceServiceRequest()
        request.ParseFromString(self.rfile.read(int(self.headers["Content-Length"])))
        for resource in request.resource_spans:
            for scope in resource.scope_spans:
                for span in scope.spans:
                    _Collector.spans += 1
                    for attr in span.attributes:
                        if attr.key == "ucrenew.interface":
                            _Collector.interfaces[attr.value.string_value] += 1
        _Collector.requests += 1
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


async def renew(client: Client, lab: Lab, queue: str, i: int) -> float:
    change = f"BENCH-{i}-{uuid.uuid4().hex[:6]}"
    inp = RenewalInput(
        change_id=change,
        cluster="lab",
        requested_by="bench",
        options=RenewalOptions(restart_poll_seconds=0.1),
    )
    t0 = time.perf_counter()
    handle = await start_renewal(client, inp, task_queue=queue)
    # Polling a remote query: there is no local event to wait on.
    while (await handle.query(CertRenewalWorkflow.get_status)).awaiting != "sso-confirm":  # noqa: ASYNC110
        await asyncio.sleep(0.02)
    lab.cluster.sso_enable(origin="bench operator")
    await handle.execute_update(CertRenewalWorkflow.confirm_sso, SsoConfirmation(principal="bench"))
    await handle.result()
    return time.perf_counter() - t0


async def main(runs: int) -> None:
    collector = ThreadingHTTPServer(("127.0.0.1", 0), _Collector)
    threading.Thread(target=collector.serve_forever, daemon=True).start()
    listen = f"127.0.0.1:{free_loopback_port()}"
    walls: dict[str, list[float]] = {"off": [], "on": []}
    scrape: tuple[int, int, float] = (0, 0, 0.0)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        spec = topology.load().model_copy(update={"network": "127.59.7.0/24"})
        async with (
            DevServer(root / "temporal", port=free_loopback_port()) as server,
            Lab(spec, root / "state" / "lab", FAST) as lab,
        ):
            base = UcrenewSettings(
                temporal_address=server.address,
                state_dir=root / "state",
                inventory=root / "state" / "lab" / "inventory.yaml",
            )
            converter = make_data_converter(base)
            off = await connect_client(base, data_converter=converter)
            provider = telemetry.configure_tracing(
                {
                    "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{collector.server_port}",
                    "OTEL_SERVICE_NAME": "ucrenew-bench",
                }
            )
            on_settings = base.model_copy(
                update={"metrics_listen": listen, "metrics_refresh_seconds": 1.0}
            )
            on = await connect_client(
                on_settings,
                data_converter=converter,
                runtime=telemetry.metrics_runtime(on_settings),
            )
            telemetry.use_tracer_provider(None)  # the "off" runs trace nothing
            q_off, q_on = f"bench-off-{uuid.uuid4()}", f"bench-on-{uuid.uuid4()}"
            async with (
                build_worker(off, base, q_off),
                build_worker(on, on_settings, q_on),
                telemetry.in_flight_refresher(on, on_settings, q_on),
                httpx.AsyncClient() as http,
            ):
                for i in range(runs):
                    walls["off"].append(await renew(off, lab, q_off, 2 * i))
                    telemetry.use_tracer_provider(provider)
                    try:
                        walls["on"].append(await renew(on, lab, q_on, 2 * i + 1))
                    finally:
                        telemetry.use_tracer_provider(None)
                    print(f"run {i}: off {walls['off'][-1]:.2f}s, on {walls['on'][-1]:.2f}s")
                t0 = time.perf_counter()
                page = (await http.get(f"http://{listen}/metrics")).text
                took = time.perf_counter() - t0
                series = [ln for ln in page.splitlines() if ln and not ln.startswith("#")]
                scrape = (len(page), len(series), took)
                ours = sum(1 for ln in series if ln.startswith("ucrenew_"))
    assert provider is not None
    provider.force_flush()  # type: ignore[attr-defined]
    provider.shutdown()  # type: ignore[attr-defined]
    collector.shutdown()
    med_off, med_on = statistics.median(walls["off"]), statistics.median(walls["on"])
    print(
        f"median wall per renewal over {runs}: off {med_off:.2f}s, on {med_on:.2f}s "
        f"({(med_on / med_off - 1) * 100:+.1f}%)"
    )
    print(
        f"collector: {_Collector.spans} spans in {_Collector.requests} OTLP requests, "
        f"{_Collector.spans / runs:.0f} spans per renewal; call spans per renewal by interface: "
        + ", ".join(f"{k} {v / runs:.0f}" for k, v in sorted(_Collector.interfaces.items()))
    )
    print(
        f"/metrics: {scrape[0] / 1024:.1f} KiB, {scrape[1]} samples ({ours} ucrenew_*), "
        f"scraped in {scrape[2] * 1000:.1f} ms"
    )


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 3))
