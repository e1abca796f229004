"""Inputs, state, status and operator messages of the renewal workflow."""

from __future__ import annotations

import re
from typing import Any, Final, Literal, Self

from pydantic import BaseModel, Field, field_validator, model_validator

from activities import catalog
from activities.clients.itsm.models import ChangeRecordCheck
from activities.cluster_models import (
    CertificatePath,
    ClusterSnapshot,
    LeftoverCertificate,
    Purpose,
)
from activities.models import UtcDatetime, ValidationProblem
from workflows import policies
from workflows.node_waits import NodeWait
from workflows.restart_models import RestartPlan

Phase = Literal[
    "discover",
    "preflight",
    "plan",
    "approve-plan",
    "sso-disable",
    "csr",
    "ca-wait",
    "validate",
    "upload-trust",
    "upload-cert",
    "approve-impact",
    "window",
    "ctl-update",
    "restarts",
    "phone-resets",
    "verify",
    "rollback",
    "sso-reenable",
    "cleanup",
    "done",
    "failed",
    "cancelled",
]
TERMINAL_PHASES: tuple[Phase, ...] = ("done", "failed", "cancelled")

Awaiting = Literal["", "approval", "ca", "window", "sso-confirm", "operator"]
CaKind = Literal["local", "manual", "adcs", "acme"]

_DNS_NAME: Final = re.compile(
    r"(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*"
    r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
)


class RenewalOptions(BaseModel):
    """Tunables of one renewal. Durations are data so tests can shrink them.

    The CSR's key, hash and other domains are checked against what CUCM offers (§1.2):
    validation messages list the valid values.
    """

    key_length: int = Field(
        default=2048, description="RSA key of the RSA purposes' CSRs: 2048, 3072 or 4096 (§1.2)"
    )
    ec_key_length: int = Field(
        default=256, description="EC key of the ECDSA purposes' CSRs: 256 or 384 (§1.2)"
    )
    hash_algorithm: str = Field(
        default="sha256",
        description="the CSRs' hash: sha256, sha384 or sha512, at least as strong as the key",
    )
    other_domains: list[str] = Field(
        default_factory=list, description="extra SANs of the CSRs (CUCM's Other Domains)"
    )
    min_remaining_days: int = Field(
        default=30, ge=1, description="the signed certificate must be valid this long at least"
    )
    restart_timeout_seconds: float = Field(
        default=policies.RESTART_TIMEOUT.total_seconds(),
        gt=0,
        description="how long one service restart may take before it is reported as hung "
        "(Tomcat: 1-4 min plus the web applications; workflows/policies.restart_policy)",
    )
    restart_poll_seconds: float = 5.0
    restart_heartbeat_seconds: float = policies.STEP_HEARTBEAT.total_seconds()
    step_heartbeat_seconds: float = Field(
        default=policies.STEP_HEARTBEAT.total_seconds(),
        gt=0,
        description="heartbeat timeout of the steps on a node (CSR, uploads, SSO, CTL, phone "
        "waits): how soon a worker that died during one is noticed and the step resumes",
    )
    verify_timeout_seconds: float = 300.0
    ca_poll_seconds: float = 300.0
    ca_max_wait_days: float = 60.0
    restart_strategy: Literal["rolling", "naive"] = Field(
        default="rolling",
        description="naive restarts every node at once, as the manual procedure does "
        "(for comparison only)",
    )
    max_phone_fraction_per_wave: float | None = Field(
        default=0.5, description="never fail over more than this share of phones at once"
    )
    restart_parallel: int | None = Field(
        default=None,
        ge=1,
        le=50,
        description="a change without phone impact: nodes restarting Cisco Tomcat at once "
        "after the publisher (1: one at a time); None: the cluster's change_policy.restarts",
    )
    reset_phones: bool = Field(
        default=True,
        description="ucrenew resets phones itself for the new ITL (staged and gated) where the "
        "restart plan allows it; False leaves the resets to CUCM",
    )
    phone_reset_batch: int = Field(
        default=200, ge=1, description="phones reset at once; each batch re-registers first"
    )
    phone_resets_by_primary: bool = Field(
        default=True,
        description="with reset_phones: reset each CallManager's phones just before the wave "
        "that stops it (SIP phones then boot onto their secondary instead of waiting out the "
        "keepalive); False resets every phone before the first CallManager wave",
    )
    phone_resets_child_above: int = Field(
        default=5000,
        ge=0,
        description="a cluster with more phones than this has them reset by a child workflow "
        "choosing the batches on the worker (names kept out of the history) and continuing as "
        "new, so the change stays within Temporal's history limits",
    )
    phone_reset_batches_per_run: int = Field(
        default=100,
        ge=0,
        description="that child continues as new after this many batches (0: only when "
        "Temporal suggests it)",
    )
    distribution: Literal["multi-server", "per-node"] | None = Field(
        default=None,
        description="multi-server (one SAN certificate per purpose) or per-node (one "
        "single-server certificate per node); None: the inventory's choice, else multi-server",
    )
    remove_leftover_certificates: bool = Field(
        default=False,
        description="after the change, offer to remove the nodes' former self-signed "
        "certificates CSCur97909 leaves in the trust stores (approval at the cleanup gate)",
    )
    health_poll_seconds: float = 15.0
    expected_wave_seconds: float = Field(
        default=900.0, description="restarts plus re-registration of one wave, for windows"
    )
    manual_reminder_hours: list[float] = Field(
        default_factory=lambda: [24.0, 72.0, 168.0],
        description="reminders while waiting for a manual CA; the last one escalates",
    )

    @field_validator("key_length")
    @classmethod
    def _rsa_key_length(cls, v: int) -> int:
        allowed = ", ".join(map(str, catalog.RSA_KEY_LENGTHS))
        if v in catalog.REFUSED_RSA_KEY_LENGTHS:
            raise ValueError(f"{catalog.REFUSED_RSA_KEY_LENGTHS[v]}; use {allowed}")
        if v not in catalog.RSA_KEY_LENGTHS:
            raise ValueError(f"CUCM offers RSA keys of {allowed} bits")
        return v

    @field_validator("ec_key_length")
    @classmethod
    def _ec_key_length(cls, v: int) -> int:
        if v not in catalog.EC_KEY_LENGTHS:
            allowed = " or ".join(map(str, catalog.EC_KEY_LENGTHS))
            raise ValueError(f"CUCM offers EC keys of {allowed} bits")
        return v

    @field_validator("hash_algorithm", mode="before")
    @classmethod
    def _hash(cls, v: object) -> object:
        if isinstance(v, str) and v.lower() in catalog.HASH_ALGORITHMS:
            return v.lower()
        raise ValueError(f"CUCM offers {', '.join(catalog.HASH_ALGORITHMS)}")

    @field_validator("other_domains")
    @classmethod
    def _other_domains(cls, v: list[str]) -> list[str]:
        names = [d.strip().rstrip(".").lower() for d in v]  # DNS names ignore case
        for name in names:
            if name.startswith("*"):
                raise ValueError("CUCM does not support wildcard certificates (§1.2)")
            if not _DNS_NAME.fullmatch(name):
                raise ValueError(
                    "each other domain must be a DNS name (letters, digits, hyphens, dots)"
                )
        return list(dict.fromkeys(names))

    @model_validator(mode="after")
    def _hash_as_strong_as_the_keys(self) -> Self:
        keys: tuple[tuple[Literal["rsa", "ec"], int, str], ...] = (
            ("rsa", self.key_length, "key_length"),
            ("ec", self.ec_key_length, "ec_key_length"),
        )
        for key_type, length, option in keys:
            allowed = catalog.hashes_for_key(key_type, length)
            if self.hash_algorithm not in allowed:
                raise ValueError(
                    f"hash_algorithm {self.hash_algorithm} is weaker than a {length}-bit "
                    f"{key_type.upper()} key ({option}); CUCM allows {', '.join(allowed)}"
                )
        return self


class RenewalInput(BaseModel):
    """Start a renewal: one change on one cluster."""

    change_id: str
    cluster: str
    purposes: list[Purpose] = Field(default_factory=lambda: list[Purpose](["tomcat"]))
    ca: CaKind = "local"
    ca_name: str | None = Field(default=None, description="inventory CA entry (adcs, acme)")
    ca_template: str | None = Field(
        default=None, description="certificate template / profile; the CA entry's otherwise"
    )
    requested_by: str = "unknown"
    require_plan_approval: bool = False
    windows: list[dict[str, Any]] = Field(
        default_factory=list,
        description="maintenance windows for phone-impacting restarts; the inventory's if empty",
    )
    options: RenewalOptions = Field(default_factory=RenewalOptions)


class UnverifiedBehaviour(BaseModel):
    """A CUCM behaviour a plan depends on that no published source confirms (an [INF] fact).

    Attributes:
        constant: Where the assumption is kept, e.g.
            ``activities.clients.cucm.inferred.CALLMANAGER_HAPROXY_ONLY_BUILD``.
        behaviour: What the plan assumes, and what happens if it is wrong.
    """

    constant: str
    behaviour: str


class Problem(BaseModel):
    """Something that stops a renewal (an error), or that an operator should know before it
    goes on (a warning), said so an operator can act on it."""

    code: str
    message: str
    node: str | None = None
    severity: Literal["error", "warning"] = "error"

    @property
    def blocking(self) -> bool:
        """Whether it stops the change."""
        return self.severity == "error"


class PlanStep(BaseModel):
    """One step of the plan."""

    phase: Phase
    action: str
    node: str | None = None
    detail: str = ""


class RenewalPlan(BaseModel):
    """The ordered steps of a renewal, from a pure planner."""

    cluster: str
    purposes: list[Purpose]
    publisher: str
    san: list[str]
    restart_order: list[str]
    sso_disable: bool
    steps: list[PlanStep]
    san_by_purpose: dict[str, list[str]] = Field(default_factory=dict)
    publisher_by_purpose: dict[str, str] = Field(default_factory=dict)
    certificate_path: CertificatePath | None = Field(
        default=None,
        description="the interfaces of the certificate steps, chosen by release; None: plans "
        "made before paths existed (Certificate Management REST)",
    )
    restarts: RestartPlan | None = None
    phone_impact: bool = False
    notes: list[str] = Field(default_factory=list)
    leftover_removal: LeftoverRemoval | None = Field(
        default=None, description="the opt-in removal of CSCur97909 leftovers, when offered"
    )
    findings: list[Problem] = Field(
        default_factory=list,
        description="what the current certificates say (e.g. a re-issue is due); advice that "
        "does not stop the change",
    )
    unverified: list[UnverifiedBehaviour] = Field(
        default_factory=list,
        description="CUCM behaviours the plan depends on that no published source confirms "
        "(not part of the plan hash)",
    )
    plan_hash: str = ""


class AuditEvent(BaseModel):
    """One accepted operator message or notable decision (the audit trail)."""

    at: UtcDatetime
    actor: str
    action: str
    comment: str = ""


IntentEffect = Literal[
    "sso-disable",
    "trust-upload",
    "certificate-upload",
    "ctl-update",
    "service-restart",
    "phone-reset",
    "trust-delete",
]
IntentOutcome = Literal["pending", "done", "done-after-retry", "already", "unconfirmed"]


class Intent(BaseModel):
    """A state-changing call ucrenew recorded before making it, and what came of it.

    Recorded before the call because a read-back after a retry cannot tell "ucrenew did it"
    from "it was so": with the intent on record, the audit trail and the actions left to an
    operator say what ucrenew did, even when the worker died between the effect and its answer.
    """

    at: UtcDatetime
    effect: IntentEffect
    target: str = Field(
        description="what it acts on: a trust store, a purpose, a service on a node"
    )
    detail: str = ""
    outcome: IntentOutcome = "pending"
    result: str = Field(default="", description="what the read-back found")


class ApprovalInput(BaseModel):
    """Approve (or reject) the current gate."""

    principal: str
    groups: list[str] = Field(
        default_factory=list, description="approver groups, as asserted by the integration"
    )
    comment: str = ""
    plan_hash: str | None = Field(
        default=None, description="the plan the approver saw; refused if the plan changed"
    )


class CertificateSubmission(BaseModel):
    """A signed certificate handed in by an operator (manual CA)."""

    principal: str
    certificate_pem: str
    chain_pem: str | None = None
    comment: str = ""


class SubmissionResult(BaseModel):
    """The accepted submission."""

    accepted: bool
    serial: str = ""
    message: str = ""


class OperatorDecision(BaseModel):
    """An operator's answer to a question the renewal asked."""

    principal: str
    decision: Literal[
        "regenerate",
        "abort",
        "continue",
        "roll-forward",
        "resume",
        "retry",
        "skip",
        "rollback",
        "stop",
    ]
    comment: str = ""


class CaCheckInput(BaseModel):
    """An operator asks ucrenew to poll the CA for the pending request now."""

    principal: str


class CancellationNote(BaseModel):
    """Who cancels a change and why, recorded before the cancellation itself."""

    principal: str
    reason: str


class FailedStep(BaseModel):
    """A node step that failed after its retries; the change waits for a decision on it."""

    node: str
    step: Literal["restart", "verify"]
    service: str = Field(default="", description="the service a failed restart was for")
    purpose: str = Field(default="", description="the purpose a failed verification was for")
    reason: str


class SsoConfirmation(BaseModel):
    """An operator says SSO was re-enabled in the CUCM GUI."""

    principal: str
    comment: str = ""


NodeStepState = Literal[
    "pending", "running", "done", "failed", "skipped", "rolled-back", "interrupted"
]
"""``interrupted``: the step was under way when the change stopped (its end is unknown)."""


class PurposeCertificate(BaseModel):
    """One purpose's certificate on one node: the one being replaced and its successor."""

    old_serial: str | None = None
    old_not_after: UtcDatetime | None = None
    old_self_signed: bool = False
    new_serial: str | None = None
    new_not_after: UtcDatetime | None = None
    served_serial: str | None = Field(
        default=None, description="what the purpose's listener served at the last look"
    )
    verified: bool = False


class NodeProgress(BaseModel):
    """Per-node progress, for ``watch`` and dashboards."""

    node: str
    steps: dict[str, NodeStepState] = Field(default_factory=dict)
    old_serial: str | None = Field(default=None, description="of the change's first purpose")
    new_serial: str | None = Field(default=None, description="of the change's first purpose")
    verified: bool = False
    detail: str = ""
    certificates: dict[str, PurposeCertificate] = Field(
        default_factory=dict, description="per purpose of the change whose SAN names the node"
    )

    def purpose(self, name: str) -> PurposeCertificate:
        """The node's certificate of purpose ``name`` (created on first use)."""
        return self.certificates.setdefault(name, PurposeCertificate())


class WaveProgress(BaseModel):
    """One restart wave of the rollout: per node of the wave, the state of each of its
    services in this wave (a node that restarts in several waves has a row in each)."""

    index: int
    state: NodeStepState = "pending"
    services: dict[str, dict[str, NodeStepState]] = Field(
        default_factory=dict, description="node FQDN -> service -> its state in this wave"
    )

    def node_state(self, fqdn: str) -> NodeStepState | None:
        """The node's state in this wave (None when the wave does not restart it): failed
        when a service failed, running while one runs, done when all are done."""
        states = list(self.services.get(fqdn, {}).values())
        if not states:
            return None
        order: tuple[NodeStepState, ...] = (
            "failed",
            "running",
            "interrupted",
            "rolled-back",
            "skipped",
        )
        for state in order:
            if state in states:
                return state
        return "done" if all(s == "done" for s in states) else "pending"


class StepFailure(BaseModel):
    """What failed (a node's service restart or a purpose's verification), and the advice
    for that service on that node: kept after the decision, for the report."""

    node: str
    step: Literal["restart", "verify"]
    service: str = ""
    purpose: str = ""
    wave: int | None = Field(default=None, description="the restart wave it failed in")
    reason: str
    advice: list[str] = Field(default_factory=list, description="what to do, in order")


class NewCertificate(BaseModel):
    """The certificate a purpose was renewed with."""

    serial: str
    fingerprint: str
    not_after: UtcDatetime


class LeftoverRemoval(BaseModel):
    """The opt-in removal of CSCur97909 leftovers: what was proposed, decided and done."""

    leftovers_hash: str = Field(description="what an approval of the cleanup gate is bound to")
    proposed: list[LeftoverCertificate] = Field(default_factory=list)
    decision: Literal["pending", "approved", "rejected"] = "pending"
    removed: list[LeftoverCertificate] = Field(default_factory=list)
    already_gone: list[LeftoverCertificate] = Field(default_factory=list)
    still_present: list[LeftoverCertificate] = Field(default_factory=list)
    errors: dict[str, str] = Field(default_factory=dict, description="node FQDN -> error")


class RenewalStatus(BaseModel):
    """What the status query returns (and what the result carries at the end)."""

    change_id: str
    cluster: str
    purposes: list[Purpose]
    ca: CaKind
    requested_by: str
    phase: Phase = "discover"
    awaiting: Awaiting = ""
    started_at: UtcDatetime | None = None
    finished_at: UtcDatetime | None = None
    plan: RenewalPlan | None = None
    csr_pem: str | None = None
    csr_key_fingerprint: str | None = None
    ca_request_ref: str | None = None
    reminders: list[str] = Field(default_factory=list)
    new_serial: str | None = None
    new_fingerprint: str | None = None
    new_not_after: UtcDatetime | None = None
    nodes: list[NodeProgress] = Field(default_factory=list)
    problems: list[Problem] = Field(default_factory=list)
    change_record: ChangeRecordCheck | None = Field(
        default=None, description="the change record as the preflight found it (itsm:)"
    )
    warnings: list[Problem] = Field(
        default_factory=list, description="preflight warnings the change went on with"
    )
    refused_submissions: list[list[ValidationProblem]] = Field(default_factory=list)
    audit: list[AuditEvent] = Field(default_factory=list)
    gate: str | None = Field(default=None, description="the approval gate open now")
    gate_hash: str | None = Field(
        default=None,
        description="what an approval of the open gate is bound to when not the plan's hash "
        "(the cleanup gate: the hash of the listed CSCur97909 leftovers)",
    )
    approvals: list[AuditEvent] = Field(default_factory=list)
    question: str | None = Field(default=None, description="what the operator is asked")
    waves_done: int = 0
    registrations_baseline: int | None = None
    phones_reset: int = Field(default=0, description="phones ucrenew reset through AXL")
    outstanding: list[str] = Field(
        default_factory=list, description="actions left to an operator (e.g. re-enable SSO)"
    )
    intents: list[Intent] = Field(
        default_factory=list,
        description="state-changing calls, each recorded before it was made, with its outcome",
    )
    error: str | None = None
    cancellation: CancellationNote | None = Field(
        default=None, description="who cancelled the change and why"
    )
    failed_step: FailedStep | None = Field(
        default=None, description="the node step the change waits for a decision on"
    )
    waiting: list[NodeWait] = Field(
        default_factory=list,
        description="the steps running on a node now, with since when (waiting on node X)",
    )
    skipped_nodes: list[str] = Field(
        default_factory=list,
        description="nodes an operator left out after a failed step: not renewed",
    )
    rolled_back: dict[str, list[str]] = Field(
        default_factory=dict,
        description="node FQDN -> purposes regenerated self-signed by a rollback",
    )
    new_certificates: dict[str, NewCertificate] = Field(
        default_factory=dict, description="purpose -> the certificate it was renewed with"
    )
    leftover_removal: LeftoverRemoval | None = Field(
        default=None, description="the opt-in removal of CSCur97909 leftovers, when offered"
    )
    findings: list[Problem] = Field(
        default_factory=list,
        description="known caveats and re-issue needs seen along the way (CSCus47235, "
        "CSCur97909, ...); none stops the change by itself",
    )
    waves: list[WaveProgress] = Field(
        default_factory=list,
        description="the restart waves so far: per node, each service's state in that wave",
    )
    failures: list[StepFailure] = Field(
        default_factory=list,
        description="node steps that failed after their retries, with advice for what failed",
    )

    def wrote_to_cluster(self) -> bool:
        """Whether the change wrote anything to the cluster (a CSR generated, SSO disabled,
        trust or a certificate uploaded, the CTL updated, a service restarted, a phone reset).

        A change that ended without (a failed preflight, a rejected plan) leaves its change id
        free for another attempt: ``ucrenew start`` runs it again under the same id.
        """
        return bool(
            self.new_certificates
            or self.phones_reset
            or any(e.action in WRITE_ACTIONS for e in self.audit)
        )

    def add_finding(self, finding: Problem) -> None:
        """Record a finding once (the same code, node and message are not repeated)."""
        if finding not in self.findings:
            self.findings.append(finding)

    def settle_unfinished(self) -> None:
        """At the end of a change that stopped: steps and wave services still ``running``
        become ``interrupted`` (they were under way and nothing waits for them any more)."""
        for n in self.nodes:
            for step, state in n.steps.items():
                if state == "running":
                    n.steps[step] = "interrupted"
        for wave in self.waves:
            for services in wave.services.values():
                for name, state in services.items():
                    if state == "running":
                        services[name] = "interrupted"
            if wave.state == "running":
                failed = any("failed" in services.values() for services in wave.services.values())
                wave.state = "failed" if failed else "interrupted"

    def node(self, fqdn: str) -> NodeProgress:
        """Progress of one node (created on first use)."""
        for n in self.nodes:
            if n.node == fqdn:
                return n
        progress = NodeProgress(node=fqdn)
        self.nodes.append(progress)
        return progress


WRITE_ACTIONS = frozenset(
    {
        "csr-generated",
        "sso-disabled",
        "trust-uploaded",
        "certificate-uploaded",
        "ctl-updated",
        "wave-done",
        "phones-reset",
    }
)
"""Audit actions that record a write to the cluster."""


class PlanRequest(BaseModel):
    """Ask a worker for a dry run of a change (``ucrenew plan``): nothing is written."""

    cluster: str
    purposes: list[Purpose] = Field(default_factory=lambda: list[Purpose](["tomcat"]))
    options: RenewalOptions = Field(default_factory=RenewalOptions)
    windows: list[dict[str, Any]] = Field(
        default_factory=list, description="maintenance windows; the inventory's if empty"
    )
    change_id: str = Field(
        default="", description="the change this plan is for (not counted as another renewal)"
    )


class PlanReport(BaseModel):
    """What a dry run found: the plan ``start`` would run and the checks ``start`` makes.

    Attributes:
        plan: the plan, with its hash.
        problems: preflight errors (``blocking``) and warnings, leftovers of earlier changes
            of the cluster included.
        snapshot: what discovery saw, pre-change health included.
        now: the time the window and backup-age checks were made for.
        change_record: the change record's verdict (itsm:), when a change id was given.
    """

    plan: RenewalPlan
    problems: list[Problem] = Field(default_factory=list)
    snapshot: ClusterSnapshot
    now: UtcDatetime
    change_record: ChangeRecordCheck | None = Field(
        default=None, description="the change record, when the cluster has itsm: and a change id"
    )
