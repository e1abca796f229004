"""How long the change-record check and the outcome write-back take against the lab's
ServiceNow twin over HTTPS on loopback, as the activities do them (a new client per call:
TLS handshake, one GET; the write-back's GET then PATCH). Run:
``.venv/bin/python -m bench.bench_itsm [runs]``. Prints figures; asserts nothing.

Figures on 2 shared cores, 50 runs: check median 9.1 ms (p95 42.7 ms), write-back median
21.1 ms (p95 58.4 ms). These figures bound ucrenew's own cost; a real instance adds its
network and server time (typically tens to hundreds of milliseconds per call).
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from activities.clients.itsm.factory import itsm_client
from activities.clients.itsm.models import ItsmConfig, WriteBack
from lab.servicenow import ServiceNowTwin


async def main(runs: int) -> None:
    """Time ``runs`` checks and write-backs, after one warm-up of each."""
    with tempfile.TemporaryDirectory() as tmp:
        async with ServiceNowTwin(Path(tmp)) as twin:
            config = ItsmConfig.model_validate(
                {
                    "kind": "servicenow",
                    "url": twin.url,
                    "credentials": {
                        "username": twin.username,
                        "password": f"file:{twin.password_file}",
                    },
                    "ca_file": str(twin.ca_file),
                }
            )
            outcome = WriteBack(change_id="CHG0030001", outcome="done", summary="bench")
            checks: list[float] = []
            writes: list[float] = []
            for i in range(runs + 1):
                client = itsm_client(config)
                start = time.perf_counter()
                await client.check("CHG0030001", "lab", datetime.now(UTC))
                middle = time.perf_counter()
                await client.write_back("CHG0030001", outcome)
                end = time.perf_counter()
                if i:
                    checks.append(middle - start)
                    writes.append(end - middle)
    for name, values in (("check", checks), ("write-back", writes)):
        ms = sorted(v * 1000 for v in values)
        p95 = ms[max(0, round(0.95 * len(ms)) - 1)]
        print(
            f"{name:<11} median {statistics.median(ms):6.1f} ms  p95 {p95:6.1f} ms  "
            f"({len(ms)} runs)"
        )


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 50))
