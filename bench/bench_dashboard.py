"""How fast the dashboard answers with 500 renewals in flight: ``GET /api/v1/renewals``, the
``/`` page, and one refresh of the live feed.

The script starts a headless Temporal dev server on a free loopback port, starts ``renewals``
real ``CertRenewalWorkflow`` executions through ``workers.starting.start_renewal`` (the way
``ucrenew start`` does) on a task queue **no worker polls**, so each stays in flight with the
search attributes of its start (cluster, change id, purposes, phase, requester), then serves
the ucrenew service on a loopback port (uvicorn, in this process) and times requests to it
over HTTP with an API token. It terminates every renewal it started and stops the server.
Run: ``.venv/bin/python -m bench.bench_dashboard [requests] [renewals]``. Prints figures;
asserts nothing.

``GET /api/v1/renewals`` without filters and the ``/`` page read the live feed's list, which
is at most one refresh interval old (2 s by default), so viewers share one visibility query;
``SSE refresh`` is that query (paged ``ListWorkflowExecutions``) plus building the rows and
the diff, the cost of a cold list; a filtered list is its own query.

Figures of the issue-13 work: 500 renewals, 50 requests each, the dev server's SQLite
visibility, 2 cores shared with other work (load average 5):

======================================  ========  ========  ========
measure                                 p50       p95       max
======================================  ========  ========  ========
``GET /api/v1/renewals`` (500 rows)     5 ms      16 ms     19 ms
``GET /`` page (500 rows)               38 ms     312 ms    831 ms
``GET /api/v1/renewals?cluster=…``      43 ms     98 ms     136 ms
``GET /`` by 20 viewers at once         579 ms    898 ms    900 ms
one feed refresh (cold query, 500)      362 ms    798 ms    861 ms
event stream: connect to first event    26 ms     36 ms     36 ms
======================================  ========  ========  ========

Before the rows were read straight from visibility's JSON and viewers shared the feed's
poll, every list request was a cold query with the SDK's typed decoding: p50 1.06 s for
``GET /api/v1/renewals`` and 0.96 s for ``/``. The cold query itself is mostly the dev
server's (about 0.35 s of the SQLite visibility store for 500 rows on this machine).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import uvicorn

from service.app import create_app
from service.dashboard.settings import DashboardSettings
from service.principal import Principal
from service.readmodel import RowFeed
from service.settings import ServiceSettings
from service.tokens import issue_token
from workers.devserver import DevServer, free_loopback_port
from workers.settings import UcrenewSettings
from workers.starting import start_renewal
from workflows.models import RenewalInput


def summary(label: str, seconds: list[float]) -> str:
    """p50, p95 and max of ``seconds``, in milliseconds."""
    ordered = sorted(seconds)
    p95 = ordered[min(len(ordered) - 1, max(0, round(0.95 * len(ordered)) - 1))]
    return (
        f"{label:42} p50 {statistics.median(ordered) * 1000:7.1f} ms   "
        f"p95 {p95 * 1000:7.1f} ms   max {ordered[-1] * 1000:7.1f} ms   (n={len(ordered)})"
    )


async def timed_gets(http: httpx.AsyncClient, path: str, n: int) -> tuple[list[float], int]:
    """Seconds of ``n`` sequential GETs of ``path`` (after one warm-up), and the last size."""
    size = len((await http.get(path)).content)
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        response = await http.get(path)
        times.append(time.perf_counter() - t0)
        if response.status_code != 200:
            raise SystemExit(f"GET {path}: {response.status_code} {response.text[:300]}")
        size = len(response.content)
    return times, size


async def first_event(http: httpx.AsyncClient) -> float:
    """Seconds from opening ``/api/v1/events`` to its first ``rows`` event (the snapshot)."""
    t0 = time.perf_counter()
    async with http.stream("GET", "/api/v1/events") as stream:
        async for line in stream.aiter_lines():
            if line.startswith("event: rows"):
                return time.perf_counter() - t0
    raise SystemExit("the event stream ended before its first event")


async def start_many(server: DevServer, count: int) -> tuple[list[str], float]:
    """Start ``count`` renewals on a queue nobody polls; their ids and the seconds it took."""
    client = await server.connect()
    queue = f"bench-unpolled-{uuid.uuid4().hex[:8]}"
    gate = asyncio.Semaphore(32)
    ids: list[str] = []

    async def one(i: int) -> None:
        inp = RenewalInput(
            change_id=f"CHG-BENCH-{i:04d}-{uuid.uuid4().hex[:6]}",
            cluster=f"cluster-{i % 12:02d}",
            purposes=["tomcat"] if i % 3 else ["tomcat", "CallManager"],
            requested_by=f"engineer-{i % 7}",
        )
        async with gate:
            await start_renewal(client, inp, task_queue=queue)
        ids.append(inp.change_id)

    t0 = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(count)))
    return ids, time.perf_counter() - t0


async def terminate_all(server: DevServer, ids: list[str]) -> None:
    client = await server.connect()
    gate = asyncio.Semaphore(32)

    async def one(change_id: str) -> None:
        async with gate:
            await client.get_workflow_handle(change_id).terminate("benchmark over")

    await asyncio.gather(*(one(i) for i in ids))


async def main(requests: int, renewals: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp)
        async with DevServer(state / "temporal", port=free_loopback_port()) as server:
            client = await server.connect()
            ids, took = await start_many(server, renewals)
            print(
                f"started {len(ids)} CertRenewalWorkflow executions in {took:.1f} s on a task "
                "queue no worker polls (each stays in flight with its start attributes)"
            )
            try:
                await measure(state, server, client, requests, renewals)
            finally:
                await terminate_all(server, ids)
                print(f"terminated the {len(ids)} renewals")
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


async def measure(
    state: Path, server: DevServer, client: object, requests: int, renewals: int
) -> None:
    from temporalio.client import Client

    assert isinstance(client, Client)
    # visibility catches up with the starts asynchronously
    query = "WorkflowType = 'CertRenewalWorkflow' AND ExecutionStatus = 'Running'"
    while (await client.count_workflows(query)).count < renewals:  # noqa: ASYNC110
        await asyncio.sleep(0.2)
    key_file = state / "session.key"
    key_file.write_text(secrets.token_urlsafe(48), encoding="utf-8")
    port = free_loopback_port()
    settings = ServiceSettings(
        listen=f"127.0.0.1:{port}",
        base_url=f"http://127.0.0.1:{port}",
        session_key=f"file:{key_file}",
        ucrenew=UcrenewSettings(state_dir=state, temporal_address=server.address),
    )
    app = create_app(settings, client)
    app.state.dashboard_settings = DashboardSettings()
    uv = uvicorn.Server(
        uvicorn.Config(
            app, host="127.0.0.1", port=port, log_level="warning", timeout_graceful_shutdown=2
        )
    )
    task = asyncio.create_task(uv.serve())
    while not uv.started:  # noqa: ASYNC110
        await asyncio.sleep(0.02)
    token = issue_token(
        app.state.session_key, Principal(name="bench", groups=["voice-cab"], via="token"), 3600
    ).token
    try:
        async with httpx.AsyncClient(
            base_url=settings.base_url, headers={"Authorization": f"Bearer {token}"}, timeout=60
        ) as http:
            listed = (await http.get("/api/v1/renewals")).json()
            print(f"GET /api/v1/renewals lists {listed['count']} rows")
            api, api_size = await timed_gets(http, "/api/v1/renewals", requests)
            print(summary(f"GET /api/v1/renewals (shared poll, {api_size // 1024} KiB)", api))
            page, page_size = await timed_gets(http, "/", requests)
            print(summary(f"GET / page (shared poll, {page_size // 1024} KiB)", page))
            filtered, _ = await timed_gets(http, "/api/v1/renewals?cluster=cluster-03", requests)
            print(summary("GET /api/v1/renewals?cluster=… (42)", filtered))
            # 20 people open the list at once: they share the feed's poll
            t0 = time.perf_counter()
            together = await asyncio.gather(*(timed_gets(http, "/", 1) for _ in range(20)))
            print(summary("GET / by 20 viewers at once", [t[0][0] for t in together]))
            print(f"{'':42} all 20 answered in {(time.perf_counter() - t0) * 1000:.0f} ms")
            feed = RowFeed(client)
            refresh = []
            for _ in range(requests):
                t0 = time.perf_counter()
                await feed.refresh()
                refresh.append(time.perf_counter() - t0)
            print(summary(f"SSE refresh (query {len(feed.rows)} rows + diff)", refresh))
            firsts = [await first_event(http) for _ in range(min(requests, 10))]
            print(summary("SSE connect to first event", firsts))
    finally:
        uv.should_exit = True
        await task


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:3]]
    asyncio.run(main(*(args + [50, 500][len(args) :])))
