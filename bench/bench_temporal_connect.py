"""How long ucrenew takes to connect to Temporal plaintext, with TLS, with mTLS and with mTLS
plus an API key (``workers.temporal_connect.connect_client``: settings resolved, handshake,
the SDK's first call), one call on an open connection, and ``admin init``'s registration on a
fresh namespace, then again.

The script starts a headless dev server on a free loopback port and, as in
tests/e2e/test_temporal_tls_e2e.py, fronts it with ``tests.temporal_front.TemporalFront`` (TLS
terminated on loopback by grpcio, then forwarded): the secured figures include that extra
hop, which a real frontend does not have.

Run: ``.venv/bin/python -m bench.bench_temporal_connect [connects]``. Prints figures; asserts
nothing. The front and the server stop at the end.

Figures of the issue-15 work (2 cores shared with five other sessions, load average 12),
10 connects each, p50 / max:

=========================  ===================  ===================
mode                       connect              one call
=========================  ===================  ===================
plaintext (dev server)     1.2 ms / 102 ms      1.1 ms / 18 ms
TLS (front)                4.9 ms / 97 ms       2.9 ms / 6 ms
mTLS + API key (front)     4.4 ms / 7 ms        1.4 ms / 3 ms
=========================  ===================  ===================

``admin init`` on a fresh namespace: 916 ms for 11 attributes added; again: 4 ms, 0 added.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest, RegisterNamespaceRequest

from tests.temporal_front import TemporalFront, make_pki
from workers.devserver import DevServer, free_loopback_port
from workers.namespace_setup import init_namespace
from workers.settings import UcrenewSettings
from workers.temporal_connect import connect_client

API_KEY = "bench-api-key"


def _ms(samples: list[float]) -> str:
    return f"{statistics.median(samples) * 1000:8.1f} ms  {max(samples) * 1000:8.1f} ms"


async def _measure(label: str, settings: UcrenewSettings, connects: int) -> None:
    connect_times = []
    call_times = []
    for _ in range(connects):
        start = time.perf_counter()
        client = await connect_client(settings)
        connect_times.append(time.perf_counter() - start)
        start = time.perf_counter()
        await client.workflow_service.describe_namespace(
            DescribeNamespaceRequest(namespace="default")
        )
        call_times.append(time.perf_counter() - start)
    print(f"{label:<28} connect {_ms(connect_times)}   call {_ms(call_times)}")


async def main(connects: int) -> None:
    """Run the measures and print them."""
    os.environ["BENCH_TEMPORAL_API_KEY"] = API_KEY
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        pki = make_pki(root / "pki")
        async with DevServer(root / "state", port=free_loopback_port()) as server:
            tls = TemporalFront(server.address, pki)
            mtls = TemporalFront(server.address, pki, require_client_cert=True, api_key=API_KEY)
            async with tls, mtls:
                client_pair: dict[str, Any] = {
                    "temporal_tls_ca_file": pki.ca,
                    "temporal_tls_client_cert_ref": f"file:{pki.client_cert}",
                    "temporal_tls_client_key_ref": f"file:{pki.client_key}",
                }
                print(f"{connects} connects each; p50 and max")
                await _measure(
                    "plaintext (dev server)",
                    UcrenewSettings(temporal_address=server.address),
                    connects,
                )
                await _measure(
                    "TLS (front)",
                    UcrenewSettings(temporal_address=tls.address, temporal_tls_ca_file=pki.ca),
                    connects,
                )
                await _measure(
                    "mTLS + API key (front)",
                    UcrenewSettings(
                        temporal_address=mtls.address,
                        temporal_api_key_ref="env:BENCH_TEMPORAL_API_KEY",
                        **client_pair,
                    ),
                    connects,
                )
                admin = await connect_client(UcrenewSettings(temporal_address=server.address))
                namespace = f"bench-{uuid.uuid4().hex[:8]}"
                await admin.workflow_service.register_namespace(
                    RegisterNamespaceRequest(
                        namespace=namespace,
                        workflow_execution_retention_period=timedelta(days=1),
                    )
                )
                await asyncio.sleep(1)
                for run in ("first", "second"):
                    start = time.perf_counter()
                    outcome = await init_namespace(admin, namespace)
                    took = (time.perf_counter() - start) * 1000
                    print(
                        f"admin init, {run} run: {took:.0f} ms, {len(outcome.added)} added, "
                        f"{len(outcome.present)} present"
                    )


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 10))
