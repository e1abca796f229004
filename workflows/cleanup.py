"""The opt-in removal of CSCur97909 leftovers, the last step of the cleanup phase.

After the listing (``find_leftover_certificates``) and only with
``RenewalOptions.remove_leftover_certificates``: the listed certificates are proposed in the
status, the ``cleanup`` approval gate opens bound to the hash of that list (the leftovers are
known only at run time, so the plan's hash cannot cover them), and once approved
``remove_leftover_certificates`` deletes exactly that list, re-reading the stores first. A
rejection, or a failed removal, leaves the certificates in place and the change succeeds.
"""

from __future__ import annotations

import hashlib

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.catalog import Purpose
    from activities.cert_paths import Interface
    from activities.cleanup_models import LeftoverRemovalRequest
    from activities.cluster_models import LeftoverCertificate
    from activities.leftovers import LeftoverActivities
    from workflows import policies
    from workflows.intents import CONFIRMED_AFTER_RETRY
    from workflows.ledger import ApprovalGates, Ledger
    from workflows.models import LeftoverRemoval, Problem
    from workflows.steps import RenewalStopped, run_activity

#: The approval gate of the removal.
GATE = "cleanup"


def leftovers_hash(leftovers: list[LeftoverCertificate]) -> str:
    """What an approval of the cleanup gate is bound to: the listed store/file/fingerprints."""
    lines = sorted(f"{x.store}/{x.file_name}/{x.fingerprint.lower()}" for x in leftovers)
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()[:16]


def _path(left: LeftoverCertificate) -> str:
    return f"{left.store}/{left.file_name}"


async def remove_leftovers(
    cluster: str,
    ledger: Ledger,
    gates: ApprovalGates,
    leftovers: list[LeftoverCertificate],
    purposes: list[Purpose],
    roots: list[str],
    readback: Interface = "rest",
) -> None:
    """Propose the leftovers, wait for the cleanup gate, then remove exactly those approved.

    ``readback``: the interface the nodes' certificates are read with (by release)."""
    status = ledger.status
    removal = LeftoverRemoval(leftovers_hash=leftovers_hash(leftovers), proposed=leftovers)
    status.leftover_removal = removal
    ledger.audit(
        "ucrenew",
        "leftovers-proposed",
        f"removal of {len(leftovers)} CSCur97909 leftover(s) proposed "
        f"({', '.join(_path(x) for x in leftovers)}); approval {removal.leftovers_hash} "
        "at the cleanup gate",
    )
    if not await gates.wait_bound(GATE, removal.leftovers_hash):
        removal.decision = "rejected"
        ledger.audit("ucrenew", "leftovers-kept", "removal rejected: the certificates stay")
        return
    removal.decision = "approved"
    intents = ledger.intents
    try:
        intent, result = await intents.around(
            "trust-delete",
            "CSCur97909 leftovers",
            ", ".join(_path(x) for x in leftovers),
            run_activity(
                LeftoverActivities.remove_leftover_certificates,
                LeftoverRemovalRequest(
                    cluster=cluster,
                    purposes=purposes,
                    extra_roots_pem=roots,
                    approved=leftovers,
                    readback=readback,
                ),
                policies.ASSESS,
            ),
        )
    except RenewalStopped as stop:
        removal.errors["cluster"] = stop.message
        status.add_finding(
            Problem(
                code="cscur97909-removal-failed",
                message=f"the approved CSCur97909 leftovers were not removed: {stop.message}",
            )
        )
        return
    confirmed = ""
    if result.already_gone and intents.ours(intent, result.attempt):
        # A retry found gone what ucrenew's earlier attempt deleted.
        confirmed = (
            f" ({len(result.already_gone)} of them deleted by ucrenew, {CONFIRMED_AFTER_RETRY})"
        )
        result.removed, result.already_gone = [*result.removed, *result.already_gone], []
    intents.settle(intent, "done-after-retry" if confirmed else "done", "")
    removal.removed, removal.already_gone = result.removed, result.already_gone
    removal.still_present, removal.errors = result.still_present, result.errors
    gone = {_path(x) for x in [*result.removed, *result.already_gone]}
    status.findings = [
        f
        for f in status.findings
        if not (f.code == "cscur97909-self-signed-left" and any(p + "`" in f.message for p in gone))
    ]
    for left in result.still_present:
        status.add_finding(
            Problem(
                code="cscur97909-removal-failed",
                node=left.owner,
                message=f"{_path(left)} is still listed after its approved removal: "
                + "; ".join(f"{n}: {e}" for n, e in result.errors.items()),
            )
        )
    ledger.audit(
        "ucrenew",
        "leftovers-removed",
        f"removed {len(result.removed)}, already gone {len(result.already_gone)}, still "
        f"present {len(result.still_present)}: "
        + ", ".join(_path(x) for x in result.removed)
        + confirmed,
    )
