"""PlanWorkflow: ``ucrenew plan`` run where the work runs, on a worker, through Temporal.

It makes the renewal's own discovery, reads the cluster's change policy, looks up other
renewals of the cluster (running ones, the holder of its cluster lock whatever inventory name
it runs under, and finished ones that left work behind) and runs the
same checks as the renewal's preflight (``change_problems``) and the same composition
(``compose_plan``), so the plan an operator reviews is the plan ``ucrenew start`` runs. It
writes nothing: passwords stay with the workers, and a renewal already running is seen.
"""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.cluster_models import (
        ClusterRef,
        DiscoverRequest,
        LockHolderRequest,
        OtherRenewalsRequest,
    )
    from activities.cucm import CucmActivities
    from activities.registry import RegistryActivities
    from workflows import policies
    from workflows.cluster_lock import PATCH as CLUSTER_LOCK
    from workflows.cluster_lock import identity_problem, lock_id
    from workflows.itsm import PATCH as ITSM
    from workflows.itsm import change_record_problems, read_change_record
    from workflows.models import PlanReport, PlanRequest, Problem
    from workflows.plan import dry_run
    from workflows.steps import RenewalStopped, run_activity
    from workflows.windows import parse_windows


@workflow.defn
class PlanWorkflow:
    """A dry run of one change: discovery, change policy, other renewals, preflight, plan."""

    @workflow.run
    async def run(self, req: PlanRequest) -> PlanReport:
        """The plan and every problem ``start`` would find now; fails (type of the cause)
        when the cluster cannot be read."""
        try:
            snapshot = await run_activity(
                CucmActivities.discover_cluster,
                DiscoverRequest(cluster=req.cluster, purposes=req.purposes),
                policies.PLAN_DISCOVER,
            )
            policy = await run_activity(
                CucmActivities.load_change_policy,
                ClusterRef(cluster=req.cluster),
                policies.PLAN_REGISTRY,
            )
            others = await run_activity(
                RegistryActivities.find_other_renewals,
                OtherRenewalsRequest(cluster=req.cluster, exclude_change_id=req.change_id),
                policies.PLAN_REGISTRY,
            )
            locking = workflow.patched(CLUSTER_LOCK)
            if locking and snapshot.identity is not None:
                # The change that holds the cluster, under whatever inventory name.
                holder = await run_activity(
                    RegistryActivities.cluster_lock_holder,
                    LockHolderRequest(lock_id=lock_id(snapshot.identity)),
                    policies.PLAN_REGISTRY,
                )
                if holder.change_id and holder.change_id not in (
                    req.change_id,
                    *others.change_ids,
                ):
                    others.change_ids.append(holder.change_id)
        except RenewalStopped as stop:
            raise ApplicationError(stop.message, type=stop.error_type, non_retryable=True) from None
        report = dry_run(req, snapshot, policy, others, workflow.now())
        if locking and snapshot.identity is None:
            report.problems.insert(0, identity_problem(req.cluster, snapshot))
        if policy.itsm is not None and workflow.patched(ITSM):
            if not req.change_id:
                report.problems.append(
                    Problem(
                        code="change-record-unchecked",
                        severity="warning",
                        message=(
                            f"cluster {req.cluster} checks change records in "
                            f"{policy.itsm.kind}: give the change id (--change) to check it now; "
                            "start checks it in any case"
                        ),
                    )
                )
                return report
            check, problem = await read_change_record(
                policy.itsm,
                req.cluster,
                req.change_id,
                req.purposes,
                parse_windows(req.windows or policy.windows),
                plan_policy=True,
            )
            if check is not None:
                report.change_record = check
                report.problems += change_record_problems(check)
            elif problem is not None:
                report.problems.append(problem)
        return report


__all__ = ["PlanWorkflow"]
