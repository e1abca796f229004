"""CertRenewalWorkflow: one change that renews CA-signed multi-server certificates on a cluster.

It reads like the runbook: discover → preflight → plan → [approve] → csr → ca-wait →
validate → sso-disable → upload-trust → upload-cert → restarts → verify → sso-reenable → done.
SSO is disabled as late as it can be, right before the first tomcat upload, rather than before
the CSR as the manual procedure does: users keep SSO while the CA takes its days, and a change
that stops before any upload never touched it.
Anything that touches the cluster, a CA or a clock-dependent check runs in an activity; the
workflow only decides, waits and records.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError, CancelledError

with workflow.unsafe.imports_passed_through():
    from activities.ca import CaActivities
    from activities.cluster_models import (
        CertUploadRequest,
        ChangePolicy,
        ClusterRef,
        ClusterSnapshot,
        CsrRequest,
        CsrResult,
        OtherRenewalsRequest,
        PendingCsrRequest,
        PhoneResetRequest,
        Purpose,
        RegisteredPhonesRequest,
        RegistrationGateRequest,
        RestartRequest,
        TrustUploadRequest,
        ValidateRequest,
        VerifyRequest,
    )
    from activities.cucm import CucmActivities
    from activities.models import CaPollRequest, CaSubmitRequest, ValidationReport
    from activities.registry import RegistryActivities
    from workflows import policies
    from workflows import search_attributes as sa
    from workflows.approval_models import Approval, ApprovalPolicy
    from workflows.approvals import ApprovalRefused, check_approval, gate_satisfied
    from workflows.models import (
        ApprovalInput,
        AuditEvent,
        Awaiting,
        CertificateSubmission,
        OperatorDecision,
        Phase,
        Problem,
        RenewalInput,
        RenewalPlan,
        RenewalStatus,
        SsoConfirmation,
        SubmissionResult,
    )
    from workflows.plan import PHONE_IMPACT_PURPOSES, build_plan, preflight_problems
    from workflows.restart_models import CALLMANAGER, NodeRestart, RestartPlan, RestartWave
    from workflows.restarts import restart_plan_for
    from workflows.windows import (
        MaintenanceWindow,
        RecurringWindow,
        WindowSpec,
        can_start_wave,
        in_window,
        next_window,
    )


ArgT = TypeVar("ArgT")
ResT = TypeVar("ResT")


def interleave(by_node: dict[str, list[str]]) -> list[str]:
    """Names taken from each node in turn (nodes in name order), so every batch of resets
    spreads its re-registrations over the nodes instead of queueing on one."""
    columns = [by_node[node] for node in sorted(by_node)]
    return [name for row in itertools.zip_longest(*columns) for name in row if name is not None]


class RenewalStopped(Exception):
    """Internal: the renewal ends on purpose (preflight failure, rejection, failed step)."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message


@workflow.defn
class CertRenewalWorkflow:
    """Renew the certificates of one change on one cluster; the workflow id is the change id."""

    @workflow.init
    def __init__(self, inp: RenewalInput) -> None:
        self._input = inp
        self._status = RenewalStatus(
            change_id=inp.change_id,
            cluster=inp.cluster,
            purposes=inp.purposes,
            ca=inp.ca,
            requested_by=inp.requested_by,
        )
        self._approvals: dict[str, list[Approval]] = {"plan": [], "impact": []}
        self._rejection: ApprovalInput | None = None
        self._policy = ChangePolicy()
        self._windows: list[WindowSpec] = []
        self._roots: list[str] = []
        self._fingerprints: dict[str, str] = {}
        self._question: tuple[str, tuple[str, ...]] | None = None
        self._purpose: Purpose = inp.purposes[0] if inp.purposes else "tomcat"
        self._verified: dict[str, list[bool]] = {}
        self._submission: tuple[CertificateSubmission, ValidationReport] | None = None
        self._sso_confirmed = False
        self._decision: OperatorDecision | None = None
        self._sso_disabled_by_us = False
        self._sso_disabled = False
        self._uploaded = False
        self._lock = asyncio.Lock()
        #: Phones per node (short host) before anything moved them: where fallback leads.
        self._home_per_node: dict[str, int] = {}

    # -- run ----------------------------------------------------------------------------

    @workflow.run
    async def run(self, inp: RenewalInput) -> RenewalStatus:
        """Run the renewal; returns the final report, or fails with it recorded in status."""
        self._status.started_at = workflow.now()
        workflow.upsert_search_attributes(
            [
                sa.CLUSTER_ID.value_set(inp.cluster),
                sa.CHANGE_ID.value_set(inp.change_id),
                sa.CERT_PURPOSES.value_set(list(inp.purposes)),
            ]
        )
        try:
            await self._renew()
        except (asyncio.CancelledError, CancelledError):
            self._status.error = "cancelled by an operator"
            self._set_phase("cancelled")
            await self._compensate()
            await workflow.wait_condition(workflow.all_handlers_finished)
            raise
        except RenewalStopped as stop:
            self._status.error = stop.message
            self._set_phase("failed")
            await self._compensate()
            await workflow.wait_condition(workflow.all_handlers_finished)
            raise ApplicationError(stop.message, type=stop.error_type, non_retryable=True) from None
        self._set_phase("done")
        self._status.finished_at = workflow.now()
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self._status

    async def _renew(self) -> None:
        inp = self._input
        opts = inp.options

        self._set_phase("discover")
        snapshot = await self._activity(
            CucmActivities.discover_cluster, ClusterRef(cluster=inp.cluster), policies.DISCOVER
        )
        self._record_discovery(snapshot)
        self._policy = await self._activity(
            CucmActivities.load_change_policy, ClusterRef(cluster=inp.cluster), policies.REGISTRY
        )
        self._windows = self._parse_windows(inp.windows or self._policy.windows)

        self._set_phase("preflight")
        others = await self._activity(
            RegistryActivities.find_other_renewals,
            OtherRenewalsRequest(cluster=inp.cluster, exclude_change_id=inp.change_id),
            policies.REGISTRY,
        )
        problems = preflight_problems(snapshot, inp.purposes, others.change_ids)
        problems += self._impact_problems(snapshot)
        if problems:
            self._status.problems = problems
            raise RenewalStopped(
                "PreflightFailed",
                "preflight failed, nothing was changed on the cluster: "
                + "; ".join(p.message for p in problems),
            )

        self._set_phase("plan")
        plan = build_plan(snapshot, inp.purposes, self._restart_plan(snapshot))
        self._status.plan = plan
        for fqdn in plan.restart_order:
            self._status.node(fqdn).steps.update({"restart": "pending", "verify": "pending"})

        if inp.require_plan_approval or "plan" in self._policy.approvals:
            await self._approval_gate("plan", plan)

        for purpose in inp.purposes:
            await self._renew_purpose(purpose, plan, snapshot, opts.min_remaining_days)

        if plan.phone_impact:
            await self._approval_gate("impact", plan)
        assert plan.restarts is not None
        await self._restart_waves(plan, plan.restarts)
        await self._verify(plan)

        if plan.sso_disable:
            self._set_phase("sso-reenable", awaiting="sso-confirm")
            await workflow.wait_condition(lambda: self._sso_confirmed)
            self._sso_disabled_by_us = False
            self._set_phase("sso-reenable")

        self._set_phase("cleanup")
        self._status.outstanding = [o for o in self._status.outstanding if "SSO" not in o]

    # -- restarts -------------------------------------------------------------------------

    def _restart_plan(self, snapshot: ClusterSnapshot) -> RestartPlan:
        opts = self._input.options
        # Changes started before staged resets existed keep the plan they were approved with.
        staged = opts.reset_phones and workflow.patched("staged-phone-resets")
        return restart_plan_for(
            snapshot,
            self._input.purposes,
            opts.restart_strategy,
            opts.max_phone_fraction_per_wave,
            staged_phone_resets=staged,
        )

    def _impact_problems(self, snapshot: ClusterSnapshot) -> list[Problem]:
        if not any(p in PHONE_IMPACT_PURPOSES for p in self._input.purposes):
            return []
        if not self._windows:
            return [
                Problem(
                    code="no-maintenance-window",
                    message=(
                        "this change restarts phone-impacting services: give a maintenance "
                        "window (inventory change_policy.windows, or `ucrenew start --window`)"
                    ),
                )
            ]
        if next_window(self._windows, workflow.now()) is None:
            return [
                Problem(
                    code="no-maintenance-window",
                    message="every maintenance window given is in the past",
                )
            ]
        return []

    @staticmethod
    def _parse_windows(raw: list[dict[str, Any]]) -> list[WindowSpec]:
        windows: list[WindowSpec] = []
        for item in raw:
            if "days" in item:
                windows.append(RecurringWindow.model_validate(item))
            else:
                windows.append(MaintenanceWindow.model_validate(item))
        return windows

    async def _restart_waves(self, plan: RenewalPlan, restarts: RestartPlan) -> None:
        inp = self._input
        opts = inp.options
        if plan.phone_impact:
            await self._wait_for_window()
        if restarts.ctl_update_first:
            self._set_phase("ctl-update")
            ctl = await self._activity(
                CucmActivities.ctl_update, ClusterRef(cluster=inp.cluster), policies.SSO
            )
            self._audit("ucrenew", "ctl-updated", ctl.detail)
        self._set_phase("restarts")
        started = workflow.now()
        resets_pending = restarts.reset_phones
        for position, wave in enumerate(restarts.waves):
            if plan.phone_impact:
                await self._approval_gate("impact", plan, recheck=True)
                if resets_pending and any(CALLMANAGER in nr.services for nr in wave.nodes):
                    resets_pending = False
                    await self._staged_phone_resets()
                if not can_start_wave(
                    self._windows, workflow.now(), timedelta(seconds=opts.expected_wave_seconds)
                ):
                    await self._window_closed(f"wave {wave.index}")
                self._set_phase("restarts")
            baseline = None
            if wave.phones_affected:
                baseline = await self._registered_now()
                self._status.registrations_baseline = baseline
            await asyncio.gather(*(self._restart_node(nr, started) for nr in wave.nodes))
            if baseline is not None:
                following = restarts.waves[position + 1 : position + 2]
                drain = [
                    nr.node.split(".")[0]
                    for w in following
                    for nr in w.nodes
                    if CALLMANAGER in nr.services
                ]
                await self._health_gate(f"wave {wave.index}", baseline, drain=drain)
            self._status.waves_done = wave.index
            self._audit("ucrenew", "wave-done", f"wave {wave.index}: {self._wave_text(wave)}")

    async def _restart_node(self, nr: NodeRestart, started: datetime) -> None:
        opts = self._input.options
        progress = self._status.node(nr.node)
        progress.steps["restart"] = "running"
        policy = policies.restart_policy(
            opts.restart_timeout_seconds, opts.restart_heartbeat_seconds
        )
        try:
            for service in nr.services:
                await self._activity(
                    CucmActivities.restart_service,
                    RestartRequest(
                        cluster=self._input.cluster,
                        node=nr.node,
                        service=service,
                        not_before=started,
                        timeout_seconds=opts.restart_timeout_seconds,
                        poll_seconds=opts.restart_poll_seconds,
                        extra_roots_pem=self._roots,
                    ),
                    policy,
                )
        except RenewalStopped:
            progress.steps["restart"] = "failed"
            raise
        progress.steps["restart"] = "done"

    async def _staged_phone_resets(self) -> None:
        """Reset every registered phone in gated batches, before any node serves the new
        certificate: each batch is back before the next, and each starts inside the window.

        TFTP already serves the new ITL (and the CTL is updated in mixed mode), so a phone
        reset now trusts the new certificate wherever it fails over later, and CUCM has no
        phone left to reset when the certificate becomes active. Phones that were not
        registered when the resets began (a reset cannot reach them) are looked for once
        more at the end, so those back by then are reset too.
        """
        self._set_phase("phone-resets")
        reset: set[str] = set()
        for sweep in (False, True):
            registered = await self._activity(
                CucmActivities.registered_phones,
                RegisteredPhonesRequest(cluster=self._input.cluster),
                policies.PHONE_LIST,
            )
            names = [n for n in interleave(registered.by_node) if n not in reset]
            if sweep and not names:
                return
            await self._reset_in_batches(names, "late phone" if sweep else "phone")
            reset.update(names)

    async def _reset_in_batches(self, names: list[str], kind: str) -> None:
        inp = self._input
        opts = inp.options
        size = opts.phone_reset_batch
        batches = [names[i : i + size] for i in range(0, len(names), size)]
        self._audit(
            "ucrenew",
            "phone-resets-planned",
            f"{len(names)} registered {kind}s in {len(batches)} batch(es) of up to {size}",
        )
        for number, batch in enumerate(batches, start=1):
            label = f"{kind} reset batch {number}/{len(batches)}"
            if not can_start_wave(
                self._windows, workflow.now(), timedelta(seconds=opts.expected_wave_seconds)
            ):
                await self._window_closed(label)
                self._set_phase("phone-resets")
            baseline = await self._registered_now()
            result = await self._activity(
                CucmActivities.reset_phones,
                PhoneResetRequest(cluster=inp.cluster, names=batch),
                policies.PHONE_RESET,
            )
            self._status.phones_reset += result.reset
            detail = f"{label}: {result.reset} of {result.requested} phones reset"
            if result.not_found:
                detail += f"; no longer in the database: {', '.join(result.not_found[:5])}"
            self._audit("ucrenew", "phones-reset", detail)
            await self._health_gate(label, baseline, phase="phone-resets")

    async def _registered_now(self) -> int:
        """Phones registered now (RisPort); the first look also records where they live."""
        snap = await self._activity(
            CucmActivities.registration_snapshot,
            ClusterRef(cluster=self._input.cluster),
            policies.REGISTRY,
        )
        if not self._home_per_node:
            self._home_per_node = dict(snap.per_node)
        return snap.registered

    async def _health_gate(
        self,
        after: str,
        baseline: int,
        phase: Phase = "restarts",
        drain: Sequence[str] = (),
    ) -> None:
        """Wait until phones are back after ``after`` (and have left the ``drain`` nodes,
        which the next wave restarts); if they are not, ask the operator."""
        opts = self._input.options
        while True:
            self._set_phase(phase)
            result = await self._activity(
                CucmActivities.wait_for_registrations,
                RegistrationGateRequest(
                    cluster=self._input.cluster,
                    baseline_registered=baseline,
                    tolerance=self._policy.health_tolerance,
                    timeout_seconds=self._policy.health_timeout_seconds,
                    poll_seconds=opts.health_poll_seconds,
                    drain_nodes=list(drain),
                    home_per_node=self._home_per_node if drain else {},
                ),
                policies.health_gate_policy(self._policy.health_timeout_seconds),
            )
            if result.ok:
                return
            lingering = ""
            if result.lingering:
                lingering = (
                    f"; {sum(result.lingering.values())} phones have not fallen back from "
                    f"{', '.join(sorted(result.lingering))}, which the next wave restarts"
                )
            decision = await self._ask(
                "health-gate",
                f"after {after}, {result.registered} of {result.expected} phones "
                f"re-registered within {self._policy.health_timeout_seconds:g} s (e.g. "
                f"{', '.join(result.unregistered_sample[:5]) or 'n/a'} missing){lingering}: "
                "`continue` to wait again, `roll-forward` to go on with the next step anyway, "
                "or `abort`",
                ("continue", "roll-forward", "abort"),
            )
            if decision == "roll-forward":
                return
            if decision == "abort":
                raise RenewalStopped(
                    "HealthGateAborted",
                    f"aborted after {after}: phones did not come back "
                    f"({result.registered}/{result.expected})",
                )

    async def _wait_for_window(self) -> None:
        """Sleep (durably) until a maintenance window is open."""
        now = workflow.now()
        if in_window(self._windows, now) is not None:
            return
        upcoming = next_window(self._windows, now)
        if upcoming is None:
            raise RenewalStopped(
                "NoMaintenanceWindow", "no maintenance window is left for the restarts"
            )
        self._set_phase("window", awaiting="window")
        self._audit(
            "ucrenew",
            "waiting-for-window",
            f"next window {upcoming.label or ''} opens {upcoming.start:%Y-%m-%d %H:%M} UTC",
        )
        await workflow.sleep(upcoming.start - now)

    async def _window_closed(self, step: str) -> None:
        """The window ends before the next step (a wave, a reset batch) could finish: ask."""
        decision = await self._ask(
            "window",
            f"the maintenance window does not leave time for {step} "
            f"({self._status.waves_done} waves done): `resume` to continue in the next "
            "window, or `abort`",
            ("resume", "abort"),
        )
        if decision == "abort":
            raise RenewalStopped("WindowAborted", f"aborted at the end of the window before {step}")
        while not can_start_wave(
            self._windows,
            workflow.now(),
            timedelta(seconds=self._input.options.expected_wave_seconds),
        ):
            await self._wait_for_window()
            if in_window(self._windows, workflow.now()) is None:
                continue
            if not can_start_wave(
                self._windows,
                workflow.now(),
                timedelta(seconds=self._input.options.expected_wave_seconds),
            ):
                # Open but too short for a wave: wait for the one after it.
                window = in_window(self._windows, workflow.now())
                assert window is not None
                await workflow.sleep(window.end - workflow.now())

    @staticmethod
    def _wave_text(wave: RestartWave) -> str:
        return "; ".join(f"{nr.node.split('.')[0]}: {', '.join(nr.services)}" for nr in wave.nodes)

    async def _verify(self, plan: RenewalPlan) -> None:
        self._set_phase("verify")
        verify = policies.verify_policy(self._input.options.verify_timeout_seconds)

        async def verify_one(purpose: Purpose, fqdn: str) -> None:
            progress = self._status.node(fqdn)
            progress.steps["verify"] = "running"
            try:
                result = await self._activity(
                    CucmActivities.verify_node,
                    VerifyRequest(
                        cluster=self._input.cluster,
                        node=fqdn,
                        purpose=purpose,
                        expected_fingerprint=self._fingerprints[purpose],
                        extra_roots_pem=self._roots,
                    ),
                    verify,
                )
            except RenewalStopped as stop:
                progress.steps["verify"] = "failed"
                progress.detail = stop.message
                raise
            self._verified.setdefault(fqdn, []).append(result.ok)
            progress.verified = all(self._verified[fqdn])
            progress.steps["verify"] = "done"

        await asyncio.gather(
            *(
                verify_one(purpose, fqdn)
                for purpose in plan.purposes
                for fqdn in plan.san_by_purpose.get(purpose, [])
            )
        )

    async def _renew_purpose(
        self, purpose: Purpose, plan: RenewalPlan, snapshot: ClusterSnapshot, min_days: int
    ) -> None:
        inp = self._input
        while True:
            csr, report = await self._obtain_certificate(purpose, plan, min_days)
            check = await self._activity(
                CucmActivities.check_pending_csr,
                PendingCsrRequest(cluster=inp.cluster, purpose=purpose, csr_pem=csr.csr_pem),
                policies.DISCOVER,
            )
            if not check.matches:
                await self._stale_csr_decision(check.detail)
                continue
            leaf = report.leaf
            assert leaf is not None
            chain = [c.pem for c in report.chain[1:]]
            root = chain[-1:] if chain else []
            self._status.new_serial = leaf.serial_hex
            self._status.new_fingerprint = leaf.sha256_fingerprint
            self._status.new_not_after = leaf.not_after

            if plan.sso_disable and purpose.startswith("tomcat"):
                await self._disable_sso()
            self._set_phase("upload-trust")
            trust = await self._activity(
                CucmActivities.upload_trust,
                TrustUploadRequest(
                    cluster=inp.cluster, purpose=purpose, ca_pems=list(reversed(chain))
                ),
                policies.UPLOAD,
            )
            self._audit(
                "ucrenew",
                "trust-uploaded",
                f"uploaded {trust.uploaded or 'nothing'}; "
                f"already present {trust.skipped or 'none'}",
            )

            self._set_phase("upload-cert")
            try:
                upload = await self._activity(
                    CucmActivities.upload_certificate,
                    CertUploadRequest(
                        cluster=inp.cluster,
                        purpose=purpose,
                        certificate_pem=leaf.pem,
                        chain_pems=chain,
                        expected_nodes=plan.san_by_purpose[purpose],
                        extra_roots_pem=root,
                    ),
                    policies.UPLOAD,
                )
            except RenewalStopped as stop:
                # Someone generated a CSR on the box between the check and the upload.
                if stop.error_type != "CsrNoLongerPending":
                    raise
                await self._stale_csr_decision(stop.message)
                continue
            break
        self._uploaded = True
        self._audit("ucrenew", "certificate-uploaded", f"{purpose}: {upload.message}")
        self._fingerprints[purpose] = leaf.sha256_fingerprint
        self._roots.extend(r for r in root if r not in self._roots)
        for fqdn in plan.san_by_purpose.get(purpose, []):
            self._status.node(fqdn).new_serial = leaf.serial_hex

    async def _obtain_certificate(
        self, purpose: Purpose, plan: RenewalPlan, min_days: int
    ) -> tuple[CsrResult, ValidationReport]:
        """CSR on the publisher, signed by the CA, validated: nothing is uploaded yet."""
        inp = self._input
        opts = inp.options
        self._set_phase("csr")
        self._submission = None
        csr = await self._activity(
            CucmActivities.generate_csr,
            CsrRequest(
                cluster=inp.cluster,
                purpose=purpose,
                key_length=opts.key_length,
                hash_algorithm=opts.hash_algorithm,
                other_domains=opts.other_domains,
            ),
            policies.CSR,
        )
        self._check_csr(csr, plan, purpose)
        self._purpose = purpose
        self._status.csr_pem = csr.csr_pem
        self._status.csr_key_fingerprint = csr.info.public_key_sha256
        self._audit("ucrenew", "csr-generated", f"SAN {', '.join(csr.info.san_dns)}")

        self._set_phase("ca-wait")
        if inp.ca == "manual":
            cert_pem, chain_pem = await self._await_manual_certificate()
        else:
            cert_pem, chain_pem = await self._await_ca_certificate(csr.csr_pem)

        self._set_phase("validate")
        report = await self._activity(
            CaActivities.validate_certificate,
            ValidateRequest(
                certificate_pem=cert_pem,
                chain_pem=chain_pem,
                csr_pem=csr.csr_pem,
                expected_dns=plan.san_by_purpose[purpose],
                now=workflow.now(),
                min_remaining_days=min_days,
            ),
            policies.VALIDATE,
        )
        if not report.ok or report.leaf is None:
            raise RenewalStopped(
                "CertificateRefused",
                "the signed certificate is not fit for CUCM: "
                + "; ".join(p.message for p in report.problems),
            )
        return csr, report

    async def _disable_sso(self) -> None:
        """``utils sso disable``, once per change (idempotent on the cluster too)."""
        if self._sso_disabled:
            return
        self._set_phase("sso-disable")
        sso = await self._activity(
            CucmActivities.disable_sso, ClusterRef(cluster=self._input.cluster), policies.SSO
        )
        self._sso_disabled = True
        self._sso_disabled_by_us = sso.was_enabled
        self._audit("ucrenew", "sso-disabled", sso.detail)

    async def _await_ca_certificate(self, csr_pem: str) -> tuple[str, str | None]:
        inp = self._input
        opts = inp.options
        kind = inp.ca
        assert kind != "manual"
        submitted = await self._activity(
            CaActivities.submit_csr,
            CaSubmitRequest(
                change_id=inp.change_id,
                ca=kind,
                ca_name=inp.ca_name,
                csr_pem=csr_pem,
                template=inp.ca_template,
            ),
            policies.CA_SUBMIT,
        )
        self._status.ca_request_ref = submitted.request_ref
        self._audit("ucrenew", f"ca-{submitted.status}", submitted.message)
        if submitted.status == "pending":
            self._set_phase("ca-wait", awaiting="ca")
            submitted = await self._activity(
                CaActivities.await_certificate,
                CaPollRequest(
                    change_id=inp.change_id,
                    ca=kind,
                    ca_name=inp.ca_name,
                    request_ref=submitted.request_ref,
                    poll_seconds=opts.ca_poll_seconds,
                ),
                policies.ca_wait_policy(opts.ca_poll_seconds, opts.ca_max_wait_days),
            )
            self._audit("ucrenew", "ca-issued", submitted.message)
            self._set_phase("ca-wait")
        return submitted.certificate_pem or "", submitted.chain_pem

    async def _await_manual_certificate(self) -> tuple[str, str | None]:
        """Wait for an operator's submission, reminding on the configured schedule."""
        self._set_phase("ca-wait", awaiting="ca")
        schedule = sorted(self._input.options.manual_reminder_hours)
        waited = 0.0
        for i, hours in enumerate(schedule):
            try:
                await workflow.wait_condition(
                    lambda: self._submission is not None,
                    timeout=timedelta(hours=hours - waited),
                )
                break
            except TimeoutError:
                waited = hours
                kind = "escalation" if i == len(schedule) - 1 else "reminder"
                message = (
                    f"no signed certificate {hours:g} h after the CSR: export it with "
                    f"`ucrenew ca-request {self._input.change_id}` and submit the signed one"
                )
                self._status.reminders.append(f"{kind}: {message}")
                self._audit("ucrenew", f"ca-{kind}", message)
                workflow.logger.warning("%s %s: %s", self._input.change_id, kind, message)
        else:
            await workflow.wait_condition(lambda: self._submission is not None)
        assert self._submission is not None
        submission, _ = self._submission
        self._set_phase("ca-wait")
        return submission.certificate_pem, submission.chain_pem

    async def _stale_csr_decision(self, detail: str) -> None:
        """The CSR on CUCM is no longer the one signed: the operator regenerates or aborts."""
        problem = Problem(
            code="csr-no-longer-pending",
            node=self._status.plan.publisher if self._status.plan else None,
            message=f"{detail}. Uploading would fail (CUCM answers 500).",
        )
        self._status.problems = [problem]
        decision = await self._ask(
            "stale-csr",
            f"{problem.message} `regenerate` (new CSR, signed again) or `abort`",
            ("regenerate", "abort"),
        )
        self._status.problems = []
        if decision == "abort":
            raise RenewalStopped(
                "CsrNoLongerPending",
                f"aborted by {self._decision.principal if self._decision else 'an operator'}: "
                "the CSR pending on the publisher no longer matches the signed certificate",
            )

    # -- helpers ------------------------------------------------------------------------

    async def _activity(
        self,
        method: Callable[[Any, ArgT], Awaitable[ResT]],
        arg: ArgT,
        policy: policies.ActivityPolicy,
    ) -> ResT:
        """Run an activity method with its policy; a final failure stops the renewal."""
        try:
            return await workflow.execute_activity_method(method, arg, **policy.kwargs())
        except ActivityError as err:
            # A timeout wraps the last attempt's failure: report the most specific cause.
            cause: BaseException | None = err.cause
            while cause is not None and not isinstance(cause, ApplicationError):
                cause = cause.__cause__
            if isinstance(cause, ApplicationError):
                raise RenewalStopped(cause.type or "ActivityFailed", cause.message) from None
            message = str(err.cause) if err.cause else str(err)
            raise RenewalStopped("ActivityFailed", f"{method.__name__}: {message}") from None

    def _check_csr(self, csr: CsrResult, plan: RenewalPlan, csr_purpose: Purpose) -> None:
        exported = {n.split(".", 1)[0].lower() for n in csr.exported_nodes}
        san = plan.san_by_purpose[csr_purpose]
        missing = [f for f in san if f.split(".", 1)[0].lower() not in exported]
        if missing:
            raise RenewalStopped(
                "CsrExportIncomplete",
                "the CSR did not reach every node (missing: " + ", ".join(missing) + "); check "
                "Cisco Tomcat and Platform Administrative Web Service on them",
            )
        uncovered = [f for f in san if f.lower() not in {s.lower() for s in csr.info.san_dns}]
        if uncovered:
            raise RenewalStopped("CsrSanIncomplete", "the CSR's SANs miss " + ", ".join(uncovered))

    def _record_discovery(self, snapshot: ClusterSnapshot) -> None:
        expiries: list[datetime] = []
        for n in snapshot.nodes:
            cert = n.certificates.get("tomcat")
            if cert is not None:
                self._status.node(n.fqdn).old_serial = cert.serial_hex
                expiries.append(cert.not_after)
        if expiries:
            workflow.upsert_search_attributes([sa.CERT_NOT_AFTER.value_set(min(expiries))])

    def _approval_policy(self, gate: str) -> ApprovalPolicy:
        """The inventory's policy for ``gate``; by default one approver, and for phone impact
        not the requester (four eyes)."""
        raw = self._policy.approvals.get(gate)
        if raw is not None:
            return ApprovalPolicy.model_validate({**raw, "gate": gate})
        return ApprovalPolicy.model_validate(
            {"gate": gate, "forbid_self_approval": gate == "impact"}
        )

    def _gate_open(self, gate: str, plan_hash: str) -> bool:
        state = gate_satisfied(
            self._approval_policy(gate),
            self._approvals[gate],
            plan_hash,
            workflow.now(),
            self._input.requested_by,
        )
        return state.satisfied

    async def _approval_gate(self, gate: str, plan: RenewalPlan, recheck: bool = False) -> None:
        """Wait until the gate's policy is satisfied for this plan (or the plan is rejected).

        With ``recheck``, an already open gate passes at once; approvals that expired while
        the change waited (e.g. for its window) must be given again.
        """
        if recheck and self._gate_open(gate, plan.plan_hash):
            return
        phase: Phase = "approve-plan" if gate == "plan" else "approve-impact"
        self._status.gate = gate
        self._set_phase(phase, awaiting="approval")
        await workflow.wait_condition(
            lambda: self._rejection is not None or self._gate_open(gate, plan.plan_hash)
        )
        self._status.gate = None
        if self._rejection is not None:
            raise RenewalStopped(
                "PlanRejected",
                f"plan rejected by {self._rejection.principal}: {self._rejection.comment}",
            )
        self._set_phase(phase)

    async def _ask(self, question: str, text: str, allowed: tuple[str, ...]) -> str:
        """Pause and ask an operator; returns the decision (one of ``allowed``)."""
        self._decision = None
        self._question = (question, allowed)
        self._status.question = text
        phase = self._status.phase
        self._set_phase(phase, awaiting="operator")
        workflow.logger.warning("%s asks: %s", self._input.change_id, text)
        await workflow.wait_condition(lambda: self._decision is not None)
        assert self._decision is not None
        self._question = None
        self._status.question = None
        self._set_phase(phase)
        return self._decision.decision

    async def _compensate(self) -> None:
        """Record where the cluster stands and what an operator must still do."""
        if self._sso_disabled_by_us:
            self._status.outstanding.append(
                "SAML SSO was disabled by this change and is still disabled: re-enable it in "
                "Cisco Unified CM Administration > System > SAML Single Sign-On"
            )
        if self._uploaded:
            self._status.outstanding.append(
                "the new certificate is installed; nodes whose Cisco Tomcat was not restarted "
                "still serve the old one: restart it there (utils service restart Cisco Tomcat)"
            )
        try:
            assessment = await workflow.execute_activity_method(
                CucmActivities.assess_cluster,
                ClusterRef(cluster=self._input.cluster),
                **policies.ASSESS.kwargs(),
            )
        except ActivityError as err:
            self._status.outstanding.append(f"could not assess the cluster: {err.cause or err}")
            return
        for state in assessment.nodes:
            progress = self._status.node(state.node)
            served = state.served_serial or "unknown"
            progress.detail = f"serving serial {served}" + (
                f" ({state.error})" if state.error else ""
            )

    def _set_phase(self, phase: Phase, awaiting: Awaiting = "") -> None:
        self._status.phase = phase
        self._status.awaiting = awaiting
        if phase in ("done", "failed", "cancelled"):
            self._status.finished_at = workflow.now()
        workflow.upsert_search_attributes(
            [sa.RENEWAL_PHASE.value_set(phase), sa.RENEWAL_AWAITING.value_set(awaiting)]
        )

    def _audit(self, actor: str, action: str, comment: str = "") -> None:
        self._status.audit.append(
            AuditEvent(at=workflow.now(), actor=actor, action=action, comment=comment)
        )

    # -- queries and updates ------------------------------------------------------------

    @workflow.query
    def get_status(self) -> RenewalStatus:
        """The renewal's status, progress per node, and audit trail."""
        return self._status

    def _approval_for(self, approval: ApprovalInput) -> tuple[str, Approval]:
        gate = self._status.gate
        plan = self._status.plan
        if self._status.awaiting != "approval" or gate is None or plan is None:
            raise ApplicationError(
                f"nothing to approve: the renewal is in phase {self._status.phase}",
                type="NotAwaitingApproval",
            )
        return gate, Approval(
            principal=approval.principal,
            groups=approval.groups,
            comment=approval.comment,
            plan_hash=approval.plan_hash or plan.plan_hash,
            at=workflow.now(),
        )

    def _check(self, approval: ApprovalInput) -> tuple[str, Approval]:
        gate, candidate = self._approval_for(approval)
        assert self._status.plan is not None
        try:
            check_approval(
                self._approval_policy(gate),
                candidate,
                self._input.requested_by,
                self._status.plan.plan_hash,
                self._approvals[gate],
                workflow.now(),
            )
        except ApprovalRefused as refused:
            raise ApplicationError(
                f"approval refused: {refused.reason}", type=f"ApprovalRefused:{refused.code}"
            ) from None
        return gate, candidate

    def _record_approval(self, gate: str, approval: Approval, via: str) -> None:
        self._approvals[gate].append(approval)
        event = AuditEvent(
            at=approval.at,
            actor=approval.principal,
            action="approved" if gate == "plan" else f"approved-{gate}",
            comment=f"{approval.comment}{via}",
        )
        self._status.audit.append(event)
        self._status.approvals.append(event)

    @workflow.update
    async def approve(self, approval: ApprovalInput) -> RenewalStatus:
        """Approve the open gate (plan, or phone impact) under the cluster's policy."""
        gate, candidate = self._check(approval)
        self._record_approval(gate, candidate, "")
        return self._status

    @approve.validator
    def _validate_approve(self, approval: ApprovalInput) -> None:
        self._check(approval)

    @workflow.signal
    def approve_signal(self, approval: ApprovalInput) -> None:
        """Fire-and-forget approval for integrations (ITSM); checked like the update, and a
        refused one is recorded in the audit trail instead of failing the caller."""
        try:
            gate, candidate = self._check(approval)
        except ApplicationError as refused:
            self._audit(approval.principal, "approval-ignored", refused.message)
            return
        self._record_approval(gate, candidate, " (signal)")

    @workflow.update
    async def reject(self, rejection: ApprovalInput) -> RenewalStatus:
        """Reject the plan: the renewal ends without going further."""
        self._rejection = rejection
        self._audit(rejection.principal, "rejected", rejection.comment)
        return self._status

    @reject.validator
    def _validate_reject(self, rejection: ApprovalInput) -> None:
        self._approval_for(rejection)
        if not rejection.principal.strip():
            raise ApplicationError("a rejection needs the approver's name", type="BadApproval")

    @workflow.update
    async def submit_certificate(self, submission: CertificateSubmission) -> SubmissionResult:
        """Hand in the signed certificate (manual CA); refused with reasons if unfit."""
        async with self._lock:
            if self._submission is not None:
                raise ApplicationError(
                    "a certificate was already accepted", type="AlreadySubmitted"
                )
            assert self._status.csr_pem is not None and self._status.plan is not None
            report = await self._activity_for_update(
                ValidateRequest(
                    certificate_pem=submission.certificate_pem,
                    chain_pem=submission.chain_pem,
                    csr_pem=self._status.csr_pem,
                    expected_dns=self._status.plan.san_by_purpose[self._purpose],
                    now=workflow.now(),
                    min_remaining_days=self._input.options.min_remaining_days,
                )
            )
            if not report.ok or report.leaf is None:
                self._status.refused_submissions.append(report.problems)
                self._audit(
                    submission.principal,
                    "certificate-refused",
                    "; ".join(p.code for p in report.problems),
                )
                raise ApplicationError(
                    "certificate refused, the renewal keeps waiting: "
                    + "; ".join(p.message for p in report.problems),
                    [p.model_dump() for p in report.problems],
                    type="CertificateRefused",
                )
            self._submission = (submission, report)
            self._audit(
                submission.principal,
                "certificate-submitted",
                f"serial {report.leaf.serial_hex}. {submission.comment}".strip(),
            )
            return SubmissionResult(
                accepted=True, serial=report.leaf.serial_hex, message="certificate accepted"
            )

    async def _activity_for_update(self, req: ValidateRequest) -> ValidationReport:
        try:
            return await workflow.execute_activity_method(
                CaActivities.validate_certificate, req, **policies.VALIDATE.kwargs()
            )
        except ActivityError as err:
            raise ApplicationError(
                f"could not validate the certificate: {err.cause or err}", type="ValidationError"
            ) from None

    @submit_certificate.validator
    def _validate_submission(self, submission: CertificateSubmission) -> None:
        if self._status.awaiting != "ca" or self._input.ca != "manual":
            raise ApplicationError(
                f"not waiting for a certificate: the renewal is in phase {self._status.phase}",
                type="NotAwaitingCertificate",
            )
        if not submission.principal.strip():
            raise ApplicationError("a submission needs the submitter's name", type="BadSubmission")
        if "-----BEGIN CERTIFICATE-----" not in submission.certificate_pem:
            raise ApplicationError(
                "the certificate must be PEM text (-----BEGIN CERTIFICATE-----)",
                type="BadSubmission",
            )

    @workflow.update
    async def decide(self, decision: OperatorDecision) -> RenewalStatus:
        """Answer the renewal's question: a stale CSR (regenerate | abort), phones not back
        after a wave (continue | roll-forward | abort), the window closing (resume | abort)."""
        self._decision = decision
        self._audit(decision.principal, f"decided-{decision.decision}", decision.comment)
        return self._status

    @decide.validator
    def _validate_decide(self, decision: OperatorDecision) -> None:
        if self._status.awaiting != "operator" or self._question is None:
            raise ApplicationError(
                f"no decision is pending: the renewal is in phase {self._status.phase}",
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

    @workflow.update
    async def confirm_sso(self, confirmation: SsoConfirmation) -> RenewalStatus:
        """An operator re-enabled SSO in the GUI; ucrenew checks before accepting."""
        async with self._lock:
            try:
                sso = await workflow.execute_activity_method(
                    CucmActivities.sso_status,
                    ClusterRef(cluster=self._input.cluster),
                    **policies.SSO.kwargs(),
                )
            except ActivityError as err:
                raise ApplicationError(
                    f"could not read the SSO state: {err.cause or err}", type="SsoCheckFailed"
                ) from None
            if not sso.enabled:
                raise ApplicationError(
                    "SSO is still disabled on the cluster (utils sso status): re-enable it in "
                    "Cisco Unified CM Administration > System > SAML Single Sign-On, then "
                    "confirm again",
                    type="SsoStillDisabled",
                )
            self._sso_confirmed = True
            self._audit(confirmation.principal, "sso-reenabled", confirmation.comment)
            return self._status

    @confirm_sso.validator
    def _validate_confirm_sso(self, confirmation: SsoConfirmation) -> None:
        if self._status.awaiting != "sso-confirm":
            raise ApplicationError(
                f"not waiting for SSO: the renewal is in phase {self._status.phase}",
                type="NotAwaitingSso",
            )
        if not confirmation.principal.strip():
            raise ApplicationError("a confirmation needs the operator's name", type="BadConfirm")


__all__ = ["CertRenewalWorkflow", "Problem"]
