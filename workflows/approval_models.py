"""Approval policy, approvals and gate state (four-eyes rules for workflows.approvals).

``ApprovalPolicy`` comes from the inventory (per cluster, per gate). ``Approval`` is what an
approver hands in; the groups it carries are asserted by the caller — the CLI after it
authenticated the operator, or an integration (ITSM, chat-ops) — and must be copied from an
authenticated identity there, never typed by the approver. ``GateState`` is what the workflow
and the dashboards read.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from activities.models import UtcDatetime

Gate = Literal["plan", "impact", "cleanup", "rollback"]

RefusalCode = Literal[
    "missing-principal",
    "plan-changed",
    "future-dated",
    "expired",
    "self-approval",
    "not-an-approver",
    "justification-required",
    "duplicate-approver",
    "missing-plan-hash",
]


class ApprovalPolicy(BaseModel):
    """Who may approve a gate, and how many of them must."""

    gate: Gate = "plan"
    approver_groups: list[str] = Field(
        default_factory=list, description="an approver must belong to one; empty: anyone"
    )
    required: int = Field(default=1, ge=1, description="distinct approvers needed")
    forbid_self_approval: bool = True
    justification_required: bool = False
    expiry_seconds: float | None = Field(
        default=None, gt=0, description="an approval older than this no longer counts"
    )
    max_clock_skew_seconds: float = Field(
        default=300.0, ge=0, description="how far in the future an approval's time may be"
    )


class Approval(BaseModel):
    """One approver's consent to one plan."""

    principal: str
    groups: list[str] = Field(default_factory=list, description="asserted by the integration")
    comment: str = Field(default="", description="the justification")
    plan_hash: str = Field(description="the plan the approver reviewed")
    at: UtcDatetime


class GateState(BaseModel):
    """Where a gate stands at one instant."""

    gate: Gate
    satisfied: bool
    required: int
    approvers: list[str] = Field(default_factory=list, description="counted, in approval order")
    missing: int = Field(description="approvals still needed")
    expired: list[Approval] = Field(default_factory=list, description="older than the expiry")
    stale: list[Approval] = Field(default_factory=list, description="bound to another plan")
    ignored: list[Approval] = Field(
        default_factory=list, description="not counted for another reason (group, self, repeat)"
    )
    valid_until: UtcDatetime | None = Field(
        default=None, description="when the gate lapses if satisfied (earliest counted expiry)"
    )
