"""The service's sign-in costs, in process (no network, no Temporal): a password sign-in
(argon2id) and an authenticated API request with a bearer token. Run:
``.venv/bin/python -m bench.bench_service_auth [requests]``.

Prints figures; asserts nothing.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

from service.app import create_app
from service.settings import ServiceSettings
from service.users import add_user
from workers.settings import UcrenewSettings


def _ms(samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[max(0, int(len(ordered) * 0.95) - 1)]
    return f"p50 {statistics.median(ordered) * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms"


async def main(requests: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        os.environ["UCRENEW_BENCH_SESSION_KEY"] = "b" * 48
        users = root / "users.yaml"
        add_user(users, "bench", "bench-password-1", ["change-board"])
        settings = ServiceSettings(
            session_key="env:UCRENEW_BENCH_SESSION_KEY",
            users_file=users,
            login_max_failures=10**6,
            ucrenew=UcrenewSettings(state_dir=root / "state"),
        )
        app = create_app(settings)
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            signins: list[float] = []
            token = ""
            for _ in range(max(3, requests // 50)):
                t = time.perf_counter()
                r = await client.post(
                    "/api/v1/tokens", json={"username": "bench", "password": "bench-password-1"}
                )
                signins.append(time.perf_counter() - t)
                token = r.json()["token"]
            calls: list[float] = []
            headers = {"Authorization": f"Bearer {token}"}
            for _ in range(requests):
                t = time.perf_counter()
                r = await client.get("/api/v1/me", headers=headers)
                calls.append(time.perf_counter() - t)
                assert r.status_code == 200
    print(f"password sign-in (argon2id verify + token), {len(signins)} runs: {_ms(signins)}")
    print(f"GET /api/v1/me with a bearer token, {len(calls)} requests: {_ms(calls)}")


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 500))
