"""The change's ledger: its status and phase, the audit trail, questions to operators, and the
approval gates.

Everything an operator sees of a renewal (``ucrenew show``/``watch``, the dashboards' search
attributes, the report) is written here, and every operator message is checked here before it
is recorded. Only workflow code uses it: it reads the workflow clock and upserts search
attributes.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import SearchAttributeKey
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.cluster_models import ChangePolicy
    from workflows import metrics
    from workflows import search_attributes as sa
    from workflows.approval_models import Approval, ApprovalPolicy
    from workflows.approvals import ApprovalRefused, check_approval, gate_satisfied
    from workflows.intents import IntentLog
    from workflows.models import (
        ApprovalInput,
        AuditEvent,
        Awaiting,
        OperatorDecision,
        Phase,
        RenewalPlan,
        RenewalStatus,
    )
    from workflows.notifications import Notifier
    from workflows.steps import RenewalStopped
    from workflows.ui_metadata import current_details


class Ledger:
    """Status, phase, audit trail and operator questions of one change.

    Args:
        status: the status the workflow reports (the ledger writes into it).
    """

    def __init__(self, status: RenewalStatus) -> None:
        self.status = status
        self._question: tuple[str, tuple[str, ...]] | None = None
        self.decision: OperatorDecision | None = None
        #: Whether the dashboards' attributes are kept (patch "dashboard-attributes"); changes
        #: started before it upsert the phase and awaiting at every phase call, as they did.
        self.dashboard = False
        #: What was last upserted per attribute name, so a value is written only when it
        #: changes (every upsert is a history event).
        self._published: dict[str, Any] = {}
        #: Whom an open approval gate waits for (its approver groups).
        self._approvers: list[str] = []
        self.window_end: datetime | None = None
        self._approval_expiry: datetime | None = None
        self.progress = sa.Progress()
        #: Tells people what the change waits for (off until the run enables it).
        self.notifier = Notifier(status)
        #: State-changing calls recorded before they are made (on from patch
        #: "intent-before-effect"): what ucrenew did, even when a worker died in between.
        self.intents = IntentLog(status)
        #: When the current phase began (workflow time), for its duration metric.
        self._phase_since: datetime | None = None

    def publish(self, values: dict[SearchAttributeKey[Any], Any]) -> None:
        """Upsert those of ``values`` that changed since they were last upserted, in one
        event; ``None`` unsets an attribute. Does nothing for changes started before the
        dashboard attributes (they never upsert them)."""
        if not self.dashboard:
            return
        updates = []
        for key, value in values.items():
            if key.name in self._published and self._published[key.name] == value:
                continue
            if key.name not in self._published and value is None:
                continue
            self._published[key.name] = value
            updates.append(key.value_unset() if value is None else key.value_set(value))
        if updates:
            workflow.upsert_search_attributes(updates)

    def _waiting_on(self, awaiting: Awaiting) -> list[str]:
        if awaiting == "approval":
            return list(self._approvers) or ["approvers"]
        if awaiting == "ca":
            return [sa.WAITING_ON_PKI if self.status.ca == "manual" else sa.WAITING_ON_CA]
        if awaiting in ("operator", "sso-confirm"):
            return [sa.WAITING_ON_OPERATOR]
        if awaiting == "window":
            return [sa.WAITING_ON_WINDOW]
        return []

    def _deadline(self) -> datetime | None:
        if self.status.awaiting == "approval" and self._approval_expiry is not None:
            return self._approval_expiry
        if self.status.phase in ("window", "restarts", "phone-resets", "approve-impact"):
            return self.window_end
        return None

    def set_approvers(self, groups: list[str]) -> None:
        """The approver groups of the gate about to open (whom the dashboards say it waits
        for)."""
        self._approvers = list(groups)

    def set_deadlines(
        self, window_end: datetime | None = None, approval_expiry: datetime | None = None
    ) -> None:
        """The end of the window the rollout runs in (or waits for) and when the first counted
        approval at the open gate expires; published at once."""
        self.window_end = window_end
        self._approval_expiry = approval_expiry
        self.publish({sa.RENEWAL_DEADLINE: self._deadline()})

    def set_progress(self, progress: sa.Progress) -> None:
        """The rollout's counters (published when they change)."""
        self.progress = progress
        self.publish({sa.RENEWAL_PROGRESS: progress.value() or None})

    def log_context(self) -> dict[str, str]:
        """The change's cluster and current phase, as log lines carry them."""
        return {"cluster": self.status.cluster, "phase": self.status.phase}

    def log_extra(self) -> dict[str, dict[str, str]]:
        """``extra`` for ``workflow.logger``: the cluster and phase (the worker's log
        formatter turns them into fields; the change id comes from Temporal's own extra)."""
        return {"ucrenew": self.log_context()}

    def phase(self, phase: Phase, awaiting: Awaiting = "") -> None:
        """Enter ``phase`` (and say what the change waits for), also for the dashboards."""
        if phase != self.status.phase or awaiting != self.status.awaiting:
            workflow.logger.info(
                "phase %s%s",
                phase,
                f", awaiting {awaiting}" if awaiting else "",
                extra={"ucrenew": {"cluster": self.status.cluster, "phase": phase}},
            )
        before = self.status.awaiting
        if phase != self.status.phase:
            since = self._phase_since or self.status.started_at
            if since is not None:
                metrics.phase_ended(self.status.phase, self.status.purposes, since)
            self._phase_since = workflow.now()
        self.status.phase = phase
        self.status.awaiting = awaiting
        if phase in ("done", "failed", "cancelled"):
            self.status.finished_at = workflow.now()
            self.status.settle_unfinished()
        if self.dashboard:
            ended = phase in ("done", "failed", "cancelled")
            self.publish(
                {
                    sa.RENEWAL_PHASE: phase,
                    sa.RENEWAL_AWAITING: awaiting,
                    sa.RENEWAL_WAITING_ON: None if ended else (self._waiting_on(awaiting) or None),
                    sa.RENEWAL_DEADLINE: None if ended else self._deadline(),
                }
            )
        else:
            workflow.upsert_search_attributes(
                [sa.RENEWAL_PHASE.value_set(phase), sa.RENEWAL_AWAITING.value_set(awaiting)]
            )
        self.refresh_details()
        if awaiting != before:
            self.notifier.awaiting_changed(phase, before, awaiting)

    def refresh_details(self) -> None:
        """Show the phase, whom the change waits on and its progress in the Temporal UI
        (workflow metadata: not a command, so it changes no history)."""
        workflow.set_current_details(current_details(self.status))

    def audit(self, actor: str, action: str, comment: str = "") -> None:
        """Append to the audit trail."""
        self.status.audit.append(
            AuditEvent(at=workflow.now(), actor=actor, action=action, comment=comment)
        )
        self.refresh_details()

    async def ask(self, question: str, text: str, allowed: tuple[str, ...]) -> str:
        """Pause and ask an operator; returns the decision (one of ``allowed``)."""
        self.decision = None
        self._question = (question, allowed)
        self.status.question = text
        phase = self.status.phase
        self.phase(phase, awaiting="operator")
        workflow.logger.warning("asks: %s", text, extra=self.log_extra())
        await workflow.wait_condition(lambda: self.decision is not None)
        assert self.decision is not None
        self._question = None
        self.status.question = None
        self.phase(phase)
        return self.decision.decision

    def check_decision(self, decision: OperatorDecision) -> None:
        """Refuse a decision that answers no pending question, or not this one."""
        if self.status.awaiting != "operator" or self._question is None:
            raise ApplicationError(
                f"no decision is pending: the renewal is in phase {self.status.phase}",
                type="NoDecisionPending",
            )
        question, allowed = self._question
        if decision.decision not in allowed:
            raise ApplicationError(
                f"'{decision.decision}' does not answer this question ({question}): choose "
                + " or ".join(allowed),
                type="BadDecision",
            )
        if not decision.principal.strip():
            raise ApplicationError("a decision needs the operator's name", type="BadDecision")

    def record_decision(self, decision: OperatorDecision) -> None:
        """An operator's (validated) answer: it wakes the pending question."""
        self.decision = decision
        self.audit(decision.principal, f"decided-{decision.decision}", decision.comment)


class ApprovalGates:
    """The change's approval gates (``plan``, ``impact``, ``cleanup``, ``rollback``) under the
    cluster's policy.

    ``plan`` and ``impact`` are bound to the plan's hash; ``cleanup`` (the opt-in removal of
    CSCur97909 leftovers, known only once listed) to the hash of the listed certificates, and
    ``rollback`` (a phone-impacting rollback after a failed node step) to the hash of what it
    regenerates and restarts, which the status shows as ``gate_hash`` while the gate is open.

    Args:
        ledger: where approvals and rejections are recorded.
        requested_by: who asked for the change (four eyes: not its approver by default).
    """

    def __init__(self, ledger: Ledger, requested_by: str) -> None:
        self._ledger = ledger
        self._requested_by = requested_by
        self._approvals: dict[str, list[Approval]] = {
            "plan": [],
            "impact": [],
            "cleanup": [],
            "rollback": [],
        }
        self._rejection: ApprovalInput | None = None
        self.policy = ChangePolicy()
        #: Every approval names the plan hash its approver saw, and nobody approves a change
        #: they requested, on any gate (patch "approvals-bound-four-eyes"); changes started
        #: before it keep the inventory's per-gate self-approval rule and the implicit hash.
        self.strict = False

    def approval_policy(self, gate: str) -> ApprovalPolicy:
        """The inventory's policy for ``gate``; by default one approver, and for phone impact
        not the requester (four eyes)."""
        raw = self.policy.approvals.get(gate)
        fields: dict[str, object] = (
            {**raw} if raw is not None else {"forbid_self_approval": gate in ("impact", "rollback")}
        )
        if self.strict:
            fields["forbid_self_approval"] = True
        return ApprovalPolicy.model_validate({**fields, "gate": gate})

    def is_open(self, gate: str, plan_hash: str) -> bool:
        """Whether the gate's policy is satisfied now for the plan of ``plan_hash``."""
        state = gate_satisfied(
            self.approval_policy(gate),
            self._approvals[gate],
            plan_hash,
            workflow.now(),
            self._requested_by,
        )
        return state.satisfied

    def _opening(self, gate: str) -> None:
        """Tell the dashboards whom the gate waits for and when its approvals lapse."""
        ledger = self._ledger
        if not ledger.dashboard:
            return
        ledger.set_approvers(self.approval_policy(gate).approver_groups)
        ledger.set_deadlines(ledger.window_end, self._expiry(gate))

    def _expiry(self, gate: str) -> datetime | None:
        """When the first approval still counted at ``gate`` expires (None: none expire)."""
        seconds = self.approval_policy(gate).expiry_seconds
        if seconds is None:
            return None
        limit = timedelta(seconds=seconds)
        now = workflow.now()
        ends = [a.at + limit for a in self._approvals[gate] if a.at + limit > now]
        return min(ends) if ends else None

    async def wait_bound(self, gate: str, bound_hash: str) -> bool:
        """Wait at a gate bound to ``bound_hash`` rather than to the plan; False if rejected.

        A rejection here does not stop the change: the step it guards is skipped.
        """
        ledger = self._ledger
        self._opening(gate)
        ledger.status.gate, ledger.status.gate_hash = gate, bound_hash
        ledger.phase(ledger.status.phase, awaiting="approval")
        self._notify(gate, f"hash {bound_hash}")
        await workflow.wait_condition(
            lambda: self._rejection is not None or self.is_open(gate, bound_hash)
        )
        ledger.status.gate, ledger.status.gate_hash = None, None
        ledger.phase(ledger.status.phase)
        rejected, self._rejection = self._rejection is not None, None
        return not rejected

    async def wait(self, gate: str, plan: RenewalPlan, recheck: bool = False) -> None:
        """Wait until the gate's policy is satisfied for this plan (or the plan is rejected).

        With ``recheck``, an already open gate passes at once; approvals that expired while
        the change waited (e.g. for its window) must be given again.
        """
        if recheck and self.is_open(gate, plan.plan_hash):
            return
        ledger = self._ledger
        phase: Phase = "approve-plan" if gate == "plan" else "approve-impact"
        self._opening(gate)
        ledger.status.gate = gate
        ledger.phase(phase, awaiting="approval")
        self._notify(gate, f"plan hash {plan.plan_hash}")
        await workflow.wait_condition(
            lambda: self._rejection is not None or self.is_open(gate, plan.plan_hash)
        )
        ledger.status.gate = None
        if self._rejection is not None:
            raise RenewalStopped(
                "PlanRejected",
                f"plan rejected by {self._rejection.principal}: {self._rejection.comment}",
            )
        ledger.phase(phase)

    def _notify(self, gate: str, bound: str) -> None:
        notifier = self._ledger.notifier
        if notifier.wants("approval-needed"):
            policy = self.approval_policy(gate)
            notifier.approval_needed(gate, policy.approver_groups, policy.required, bound)

    def candidate(self, approval: ApprovalInput) -> tuple[str, Approval]:
        """The open gate and the approval as it would be recorded; refused when none is open."""
        status = self._ledger.status
        gate = status.gate
        plan = status.plan
        if status.awaiting != "approval" or gate is None or plan is None:
            raise ApplicationError(
                f"nothing to approve: the renewal is in phase {status.phase}",
                type="NotAwaitingApproval",
            )
        return gate, Approval(
            principal=approval.principal,
            groups=approval.groups,
            comment=approval.comment,
            plan_hash=approval.plan_hash or status.gate_hash or plan.plan_hash,
            at=workflow.now(),
        )

    def check(self, approval: ApprovalInput) -> tuple[str, Approval]:
        """The gate and approval, checked against the gate's policy (ApplicationError if not)."""
        gate, candidate = self.candidate(approval)
        plan = self._ledger.status.plan
        assert plan is not None
        if self.strict and not (approval.plan_hash or "").strip():
            bound = self._ledger.status.gate_hash or plan.plan_hash
            raise ApplicationError(
                "approval refused: an approval must name the plan hash the approver reviewed "
                f"(the {gate} gate is bound to {bound}): show the plan, then approve with that "
                "hash",
                type="ApprovalRefused:missing-plan-hash",
            )
        try:
            check_approval(
                self.approval_policy(gate),
                candidate,
                self._requested_by,
                self._ledger.status.gate_hash or plan.plan_hash,
                self._approvals[gate],
                workflow.now(),
            )
        except ApprovalRefused as refused:
            raise ApplicationError(
                f"approval refused: {refused.reason}", type=f"ApprovalRefused:{refused.code}"
            ) from None
        return gate, candidate

    def record(self, gate: str, approval: Approval, via: str) -> None:
        """Record a checked approval (in the audit trail and the status's approvals)."""
        self._approvals[gate].append(approval)
        event = AuditEvent(
            at=approval.at,
            actor=approval.principal,
            action="approved" if gate == "plan" else f"approved-{gate}",
            comment=f"{approval.comment}{via}",
        )
        self._ledger.status.audit.append(event)
        self._ledger.status.approvals.append(event)
        if self._ledger.dashboard:
            self._ledger.set_deadlines(self._ledger.window_end, self._expiry(gate))

    def check_rejection(self, rejection: ApprovalInput) -> None:
        """Refuse a rejection when no gate is open or it names nobody."""
        self.candidate(rejection)
        if not rejection.principal.strip():
            raise ApplicationError("a rejection needs the approver's name", type="BadApproval")

    def reject(self, rejection: ApprovalInput) -> None:
        """Reject the open gate: ``plan``/``impact`` stop the renewal, ``cleanup`` skips the
        removal."""
        self._rejection = rejection
        self._ledger.audit(rejection.principal, "rejected", rejection.comment)
