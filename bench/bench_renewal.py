"""A tomcat renewal of the lab on the real Temporal dev server: wall time, time spent in
activities, and history size. Run: ``.venv/bin/python -m bench.bench_renewal [runs]``.

Prints figures; asserts nothing.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

from console.demo import history_figures
from lab import topology
from lab.server import Lab
from lab.timing import FAST
from workers.devserver import DevServer, free_loopback_port
from workers.settings import UcrenewSettings
from workers.wiring import build_worker
from workflows import search_attributes as sa
from workflows.models import RenewalInput, RenewalOptions, SsoConfirmation
from workflows.renewal import CertRenewalWorkflow


async def main(runs: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        spec = topology.load().model_copy(update={"network": "127.59.1.0/24"})
        async with (
            DevServer(root / "temporal", port=free_loopback_port()) as server,
            Lab(spec, root / "state" / "lab", FAST) as lab,
        ):
            client = await server.connect()
            settings = UcrenewSettings(
                state_dir=root / "state", inventory=root / "state" / "lab" / "inventory.yaml"
            )
            queue = f"bench-{uuid.uuid4()}"
            rows = []
            async with build_worker(client, settings, queue):
                for i in range(runs):
                    change = f"BENCH-{i}-{uuid.uuid4().hex[:6]}"
                    inp = RenewalInput(
                        change_id=change,
                        cluster="lab",
                        requested_by="bench",
                        options=RenewalOptions(restart_poll_seconds=0.1),
                    )
                    t0 = time.perf_counter()
                    handle = await client.start_workflow(
                        CertRenewalWorkflow.run,
                        inp,
                        id=change,
                        task_queue=queue,
                        search_attributes=sa.start_attributes("lab", change, ["tomcat"]),
                    )
                    # Polling a remote query: there is no local event to wait on.
                    while (await handle.query(CertRenewalWorkflow.get_status)).awaiting != (  # noqa: ASYNC110
                        "sso-confirm"
                    ):
                        await asyncio.sleep(0.02)
                    lab.cluster.sso_enable(origin="bench operator")
                    await handle.execute_update(
                        CertRenewalWorkflow.confirm_sso, SsoConfirmation(principal="bench")
                    )
                    await handle.result()
                    wall = time.perf_counter() - t0
                    figures = await history_figures(handle)
                    rows.append(
                        (
                            wall,
                            figures["activity_seconds"],
                            figures["events"],
                            figures["activities"],
                        )
                    )
                    print(
                        f"run {i}: wall {wall:.2f}s, activities {figures['activities']:.0f} "
                        f"taking {figures['activity_seconds']:.2f}s, "
                        f"history {figures['events']:.0f} events"
                    )
    print(
        f"median over {runs}: wall {statistics.median(r[0] for r in rows):.2f}s, "
        f"activity time {statistics.median(r[1] for r in rows):.2f}s, "
        f"events {statistics.median(r[2] for r in rows):.0f} "
        "(4-node tomcat renewal, local CA, SSO disable/confirm, fast lab)"
    )


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 3))
