"""The stand-in renewal of ``bench.bench_campaign``: a workflow registered under the
renewal's type that waits half a second and ends (a module of its own: the workflow sandbox
re-imports it)."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from workflows.models import RenewalInput, RenewalStatus

#: One cluster in this many fails (the campaign's stop rule is off in the benchmark).
FAIL_EVERY = 50


@workflow.defn(name="CertRenewalWorkflow")
class StandInRenewal:
    """A renewal that takes half a second; every FAIL_EVERY-th cluster fails."""

    @workflow.run
    async def run(self, inp: RenewalInput) -> RenewalStatus:
        """Wait, then end."""
        await workflow.sleep(timedelta(milliseconds=500))
        if int(inp.cluster.removeprefix("bench-")) % FAIL_EVERY == FAIL_EVERY - 1:
            raise ApplicationError("stand-in failure", type="BenchFailure", non_retryable=True)
        return RenewalStatus(
            change_id=inp.change_id,
            cluster=inp.cluster,
            purposes=inp.purposes,
            ca=inp.ca,
            requested_by=inp.requested_by,
            phase="done",
        )
