"""Verification after the rollout, and settling the cluster's trust once it is verified.

Verification is the procedure's last step done for every node of every purpose's SAN: the
listener serves the uploaded certificate, names the node and verifies (and for tomcat the
administration login page answers over it). Once every node of a purpose is verified, the
chain it was signed with stays trusted for the cluster and the CAs it replaced are retired.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.catalog import Purpose
    from activities.cluster_models import InstalledChain, TrustSettleRequest, VerifyRequest
    from activities.cucm import CucmActivities
    from activities.trust import TrustActivities
    from workflows import policies
    from workflows.failure_advice import step_failure
    from workflows.identity import check_answered
    from workflows.ledger import Ledger
    from workflows.models import FailedStep, RenewalInput, RenewalPlan, RenewalStatus
    from workflows.node_waits import waiting_on
    from workflows.recovery import NodeStepRecovery
    from workflows.steps import RenewalStopped, run_activity


async def verify_nodes(
    inp: RenewalInput,
    status: RenewalStatus,
    plan: RenewalPlan,
    fingerprints: dict[str, str],
    roots: list[str],
    verified: dict[str, list[bool]],
    recovery: NodeStepRecovery | None = None,
    host_keys: Mapping[str, str] | None = None,
) -> None:
    """Verify every node of every purpose in parallel; when a node fails, ``recovery`` asks
    what to do (without it the renewal stops). Nodes an operator left out are not verified
    here (:meth:`NodeStepRecovery.confirm_skipped` checks them).

    Args:
        inp: the change's input (cluster, verify timeout).
        status: where per-node progress is recorded.
        plan: the plan (purposes and their SAN nodes).
        fingerprints: the uploaded certificate per purpose (SHA-256); on a per-node path per
            ``purpose@node``.
        roots: CA roots of the uploaded chains.
        verified: per node, the outcome of each purpose's check (filled in here).
        recovery: asks about a failed verification; None for changes started before that.
        host_keys: each node's SSH host key pinned at discovery: a verification refuses a
            node that presents another, and a result another node gave never counts.
    """
    pins = dict(host_keys or {})
    policy = policies.verify_policy(
        inp.options.verify_timeout_seconds, inp.options.step_heartbeat_seconds
    )

    async def verify_one(purpose: Purpose, fqdn: str) -> None:
        progress = status.node(fqdn)
        progress.steps["verify"] = "running"
        while True:
            try:
                request = VerifyRequest(
                    cluster=inp.cluster,
                    node=fqdn,
                    purpose=purpose,
                    expected_fingerprint=fingerprints.get(f"{purpose}@{fqdn}")
                    or fingerprints[purpose],
                    extra_roots_pem=roots,
                    expected_host_key=pins.get(fqdn, ""),
                )
                result = await waiting_on(
                    status,
                    workflow.now(),
                    fqdn,
                    "verify",
                    run_activity(CucmActivities.verify_node, request, policy),
                    service=purpose,
                )
                check_answered(fqdn, result.answered_by, f"{purpose} verification")
                break
            except RenewalStopped as stop:
                progress.steps["verify"] = "failed"
                progress.detail = stop.message
                failed = FailedStep(node=fqdn, step="verify", purpose=purpose, reason=stop.message)
                status.failures.append(step_failure(failed))
                if recovery is None:
                    raise
                choice = await recovery.decide(failed)
                if choice == "stop":
                    raise
                if choice in ("skip", "rollback"):
                    return
                progress.steps["verify"] = "running"
        verified.setdefault(fqdn, []).append(result.ok)
        progress.verified = all(verified[fqdn])
        entry = progress.purpose(purpose)
        entry.verified = result.ok
        entry.served_serial = result.served_serial
        progress.steps["verify"] = "done"

    await asyncio.gather(
        *(
            verify_one(purpose, fqdn)
            for purpose in plan.purposes
            for fqdn in plan.san_by_purpose.get(purpose, [])
            if recovery is None or not recovery.is_skipped(fqdn)
        )
    )
    if recovery is not None and recovery.rollback_after is not None:
        await recovery.roll_back()


async def settle_trust(
    cluster: str,
    ledger: Ledger,
    plan: RenewalPlan,
    chains: dict[str, list[str]],
    verified: dict[str, list[bool]],
) -> None:
    """Every node serves the new chains: keep trusting them, retire the CAs they replaced.

    Housekeeping: a failure is recorded, not fatal; the previous CAs then stay trusted.
    """
    installed = [
        InstalledChain(
            purpose=purpose,
            ca_pems=chains[purpose],
            verified_nodes=[
                fqdn
                for fqdn in plan.san_by_purpose.get(purpose, [])
                if all(verified.get(fqdn, [False]))
            ],
        )
        for purpose in plan.purposes
        if purpose in chains
    ]
    try:
        settled = await run_activity(
            TrustActivities.settle_trust,
            TrustSettleRequest(cluster=cluster, chains=installed),
            policies.REGISTRY,
        )
    except RenewalStopped as stop:
        ledger.audit(
            "ucrenew",
            "trust-not-settled",
            f"{stop.message}; the previous CA certificates stay trusted",
        )
        return
    retired = ", ".join(settled.retired) or "none"
    note = f"; {settled.detail}" if settled.detail else ""
    ledger.audit(
        "ucrenew",
        "trust-settled",
        f"{settled.trust_file}: trusts {', '.join(settled.kept) or 'nothing'}; "
        f"retired {retired}{note}",
    )
