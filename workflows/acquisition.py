"""Acquiring a signed certificate for one purpose: CSR on the publisher → CA (or an operator's
submission) → validation, and the stale-CSR question when CUCM's pending CSR changed.

Nothing is uploaded here: the renewal uploads what :meth:`CertificateAcquisition.obtain`
returns. A manual CA's submission arrives as an update; a certificate unfit for CUCM is
refused with the reason, recorded, and the renewal keeps waiting.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities import catalog
    from activities.ca import CaActivities
    from activities.catalog import Purpose
    from activities.cert_paths import LEGACY_PATH, CertificatePath
    from activities.clients.inventory import short_name
    from activities.clients.key_material import KeyMaterialError, refuse_key_material
    from activities.cluster_models import CsrRequest, CsrResult, ValidateRequest
    from activities.cucm import CucmActivities
    from activities.models import CaPollRequest, CaSubmission, CaSubmitRequest, ValidationReport
    from workflows import metrics, policies
    from workflows.caveats import csr_cn_finding
    from workflows.ledger import Ledger
    from workflows.models import (
        CertificateSubmission,
        Problem,
        RenewalInput,
        RenewalPlan,
        SubmissionResult,
    )
    from workflows.node_waits import waiting_on
    from workflows.steps import RenewalStopped, run_activity, stopped

#: Patch: the CA poll carries the submitted CSR, so a worker with an empty disk can finish an
#: ACME order another worker created (issue 15, stateless workers).
STATELESS_CA_POLL = "stateless-ca-poll"


class CertificateAcquisition:
    """The CSR, the CA wait and validation of one change (one purpose at a time).

    Args:
        inp: the change's input (CA, options).
        ledger: the change's ledger (phases, audit, questions).
        lock: serialises the submission update with other updates that run activities.
    """

    def __init__(self, inp: RenewalInput, ledger: Ledger, lock: asyncio.Lock) -> None:
        self._input = inp
        self._ledger = ledger
        self._lock = lock
        self._submission: tuple[CertificateSubmission, ValidationReport] | None = None
        #: "Check now" requests for a pending CA request, and how many were answered.
        self._checks_requested = 0
        self._checks_done = 0
        self.purpose: Purpose = inp.purposes[0] if inp.purposes else "tomcat"
        #: The nodes the certificate being acquired must name (its SAN, or one node).
        self._expected: list[str] = []

    async def obtain(
        self,
        purpose: Purpose,
        plan: RenewalPlan,
        min_days: int,
        *,
        path: CertificatePath = LEGACY_PATH,
        node: str | None = None,
    ) -> tuple[CsrResult, ValidationReport]:
        """CSR on the publisher (or on ``node``, per node), signed by the CA, validated:
        nothing is uploaded yet."""
        inp = self._input
        opts = inp.options
        ledger = self._ledger
        ledger.phase("csr")
        self._submission = None
        self._expected = [node] if node else plan.san_by_purpose[purpose]
        csr_node = node or plan.publisher_by_purpose.get(purpose, plan.publisher)
        request = CsrRequest(
            cluster=inp.cluster,
            purpose=purpose,
            key_length=(
                opts.ec_key_length
                if catalog.purpose(purpose).key_type == "ECDSA"
                else opts.key_length
            ),
            hash_algorithm=opts.hash_algorithm,
            other_domains=opts.other_domains,
            path=path,
            node=node,
            expected_nodes=self._expected,
        )
        policy = policies.with_heartbeat(policies.CSR, opts.step_heartbeat_seconds)
        csr = await waiting_on(
            ledger.status,
            workflow.now(),
            csr_node,
            "csr",
            run_activity(CucmActivities.generate_csr, request, policy),
            service=purpose,
            on_change=ledger.refresh_details,
        )
        self._check_csr(csr, self._expected)
        self._note_csr_caveats(csr, purpose)
        self.purpose = purpose
        ledger.status.csr_pem = csr.csr_pem
        ledger.status.csr_key_fingerprint = csr.info.public_key_sha256
        where = f" on {node}" if node else ""
        ledger.audit("ucrenew", "csr-generated", f"SAN {', '.join(csr.info.san_dns)}{where}")

        ledger.phase("ca-wait")
        submitted_at = workflow.now()
        if inp.ca == "manual":
            cert_pem, chain_pem = await self._await_manual_certificate()
        else:
            cert_pem, chain_pem = await self._await_ca_certificate(csr.csr_pem)
        metrics.ca_waited(inp.ca, submitted_at)

        ledger.phase("validate")
        report = await run_activity(
            CaActivities.validate_certificate,
            ValidateRequest(
                certificate_pem=cert_pem,
                chain_pem=chain_pem,
                csr_pem=csr.csr_pem,
                expected_dns=self._expected,
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

    async def stale_csr_decision(self, detail: str) -> None:
        """The CSR on CUCM is no longer the one signed: the operator regenerates or aborts."""
        status = self._ledger.status
        problem = Problem(
            code="csr-no-longer-pending",
            node=status.plan.publisher if status.plan else None,
            message=f"{detail}. Uploading would fail (CUCM answers 500).",
        )
        status.problems = [problem]
        decision = await self._ledger.ask(
            "stale-csr",
            f"{problem.message} `regenerate` (new CSR, signed again) or `abort`",
            ("regenerate", "abort"),
        )
        status.problems = []
        if decision == "abort":
            who = self._ledger.decision
            raise RenewalStopped(
                "CsrNoLongerPending",
                f"aborted by {who.principal if who else 'an operator'}: "
                "the CSR pending on the publisher no longer matches the signed certificate",
            )

    # -- the manual CA's submission (an update) ------------------------------------------

    def check_submission(self, submission: CertificateSubmission) -> None:
        """Refuse a submission holding a private key, out of phase or malformed, before
        anything is recorded (a refused update leaves no trace in history)."""
        try:
            refuse_key_material(
                submission.certificate_pem, "the certificate", "nothing of it is recorded"
            )
            refuse_key_material(submission.chain_pem, "the chain", "nothing of it is recorded")
            refuse_key_material(submission.comment, "the comment", "nothing of it is recorded")
        except KeyMaterialError as refused:
            raise ApplicationError(str(refused), type="PrivateKeyInSubmission") from None
        status = self._ledger.status
        if status.awaiting != "ca" or self._input.ca != "manual":
            raise ApplicationError(
                f"not waiting for a certificate: the renewal is in phase {status.phase}",
                type="NotAwaitingCertificate",
            )
        if not submission.principal.strip():
            raise ApplicationError("a submission needs the submitter's name", type="BadSubmission")
        if "-----BEGIN CERTIFICATE-----" not in submission.certificate_pem:
            raise ApplicationError(
                "the certificate must be PEM text (-----BEGIN CERTIFICATE-----)",
                type="BadSubmission",
            )

    async def submit(self, submission: CertificateSubmission) -> SubmissionResult:
        """Validate a submitted certificate: accepted, or refused with reasons (recorded)."""
        ledger = self._ledger
        status = ledger.status
        async with self._lock:
            if self._submission is not None:
                raise ApplicationError(
                    "a certificate was already accepted", type="AlreadySubmitted"
                )
            assert status.csr_pem is not None and status.plan is not None
            report = await self._validate_for_update(
                ValidateRequest(
                    certificate_pem=submission.certificate_pem,
                    chain_pem=submission.chain_pem,
                    csr_pem=status.csr_pem,
                    expected_dns=self._expected or status.plan.san_by_purpose[self.purpose],
                    now=workflow.now(),
                    min_remaining_days=self._input.options.min_remaining_days,
                )
            )
            if not report.ok or report.leaf is None:
                status.refused_submissions.append(report.problems)
                ledger.audit(
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
            ledger.audit(
                submission.principal,
                "certificate-submitted",
                f"serial {report.leaf.serial_hex}. {submission.comment}".strip(),
            )
            return SubmissionResult(
                accepted=True, serial=report.leaf.serial_hex, message="certificate accepted"
            )

    # -- internals -------------------------------------------------------------------------

    @staticmethod
    async def _validate_for_update(req: ValidateRequest) -> ValidationReport:
        try:
            return await workflow.execute_activity_method(
                CaActivities.validate_certificate,
                req,
                summary="validate the submitted certificate",
                **policies.VALIDATE.kwargs(),
            )
        except ActivityError as err:
            raise ApplicationError(
                f"could not validate the certificate: {err.cause or err}", type="ValidationError"
            ) from None

    async def _await_ca_certificate(self, csr_pem: str) -> tuple[str, str | None]:
        inp = self._input
        opts = inp.options
        ledger = self._ledger
        kind = inp.ca
        assert kind != "manual"
        submitted = await run_activity(
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
        ledger.status.ca_request_ref = submitted.request_ref
        ledger.audit("ucrenew", f"ca-{submitted.status}", submitted.message)
        if submitted.status == "pending":
            ledger.phase("ca-wait", awaiting="ca")
            poll = CaPollRequest(
                change_id=inp.change_id,
                ca=kind,
                ca_name=inp.ca_name,
                request_ref=submitted.request_ref,
                poll_seconds=opts.ca_poll_seconds,
                # Changes started earlier poll without it (their recorded inputs replay as
                # they were); the CSR lets a worker with nothing on its disk finish the order.
                csr_pem=csr_pem if workflow.patched(STATELESS_CA_POLL) else None,
            )
            policy = policies.ca_wait_policy(opts.ca_poll_seconds, opts.ca_max_wait_days)
            # Changes started before "check now" existed wait for the polls alone.
            if workflow.patched("ca-check-now"):
                submitted = await self._poll_or_check_now(poll, policy)
            else:
                submitted = await run_activity(CaActivities.await_certificate, poll, policy)
            ledger.audit("ucrenew", "ca-issued", submitted.message)
            ledger.phase("ca-wait")
        return submitted.certificate_pem or "", submitted.chain_pem

    async def _poll_or_check_now(
        self, poll: CaPollRequest, policy: policies.ActivityPolicy
    ) -> CaSubmission:
        """Poll the CA every ``ca_poll_seconds`` (retries of one activity), and at once
        whenever an operator asks (``ucrenew ca-check``): one more poll beside it."""
        waiting = workflow.start_activity_method(
            CaActivities.await_certificate,
            poll,
            summary=f"poll the CA for request {poll.request_ref}",
            **policy.kwargs(),
        )
        while True:
            await workflow.wait_condition(
                lambda: waiting.done() or self._checks_requested > self._checks_done
            )
            if waiting.done():
                try:
                    return await waiting
                except ActivityError as err:
                    raise stopped("await_certificate", err) from None
            asked = self._checks_requested
            try:
                issued = await run_activity(
                    CaActivities.await_certificate,
                    poll,
                    policies.CA_CHECK_NOW,
                    summary=f"check the CA now for request {poll.request_ref}",
                )
            except RenewalStopped as stop:
                self._checks_done = asked
                if stop.error_type == "CaPending":
                    self._ledger.audit("ucrenew", "ca-checked", stop.message)
                    continue
                waiting.cancel()
                raise
            self._checks_done = asked
            waiting.cancel()
            self._ledger.audit("ucrenew", "ca-checked", f"request {poll.request_ref} issued")
            return issued

    def check_now_pending(self) -> None:
        """Refuse a "check now" when no CA request is pending (before it is recorded)."""
        status = self._ledger.status
        if status.awaiting != "ca" or self._input.ca == "manual":
            raise ApplicationError(
                f"no CA request is pending: the renewal is in phase {status.phase}"
                + (" (a manual CA: submit the certificate)" if self._input.ca == "manual" else ""),
                type="NotAwaitingCa",
            )

    async def check_now(self, principal: str) -> None:
        """Poll the CA now rather than at the next interval; returns once that poll answered
        (the request still pending, or the certificate on its way)."""
        self._checks_requested += 1
        wanted = self._checks_requested
        self._ledger.audit(
            principal, "ca-check-requested", self._ledger.status.ca_request_ref or ""
        )
        await workflow.wait_condition(
            lambda: self._checks_done >= wanted or self._ledger.status.awaiting != "ca"
        )

    async def _await_manual_certificate(self) -> tuple[str, str | None]:
        """Wait for an operator's submission, reminding on the configured schedule."""
        ledger = self._ledger
        ledger.phase("ca-wait", awaiting="ca")
        schedule = sorted(self._input.options.manual_reminder_hours)
        waited = 0.0
        for i, hours in enumerate(schedule):
            try:
                await workflow.wait_condition(
                    lambda: self._submission is not None,
                    timeout=timedelta(hours=hours - waited),
                    timeout_summary=f"manual CA: {_reminder_kind(i, schedule)} at {hours:g} h",
                )
                break
            except TimeoutError:
                waited = hours
                kind = _reminder_kind(i, schedule)
                message = (
                    f"no signed certificate {hours:g} h after the CSR: export it with "
                    f"`ucrenew ca-request {self._input.change_id}` and submit the signed one"
                )
                ledger.status.reminders.append(f"{kind}: {message}")
                ledger.audit("ucrenew", f"ca-{kind}", message)
                workflow.logger.warning("%s: %s", kind, message, extra=ledger.log_extra())
        else:
            await workflow.wait_condition(lambda: self._submission is not None)
        assert self._submission is not None
        submission, _ = self._submission
        ledger.phase("ca-wait")
        return submission.certificate_pem, submission.chain_pem

    def _note_csr_caveats(self, csr: CsrResult, purpose: Purpose) -> None:
        """CSCus47235: a CSR without its CN among the SANs is noted (the CA must add it), and
        the change goes on."""
        finding = csr_cn_finding(csr.info, purpose)
        if finding is not None and finding not in self._ledger.status.findings:
            self._ledger.status.add_finding(finding)
            self._ledger.audit("ucrenew", "csr-caveat", finding.message)

    @staticmethod
    def _check_csr(csr: CsrResult, san: list[str]) -> None:
        """Every node of ``san`` got the CSR and is named in it (names are inventory FQDNs)."""
        exported = {n.lower() for n in csr.exported_nodes}
        # CSRs recorded before node names were canonical list short host names.
        shorts = {short_name(n).lower() for n in exported}
        missing = [
            f for f in san if f.lower() not in exported and short_name(f).lower() not in shorts
        ]
        if missing:
            raise RenewalStopped(
                "CsrExportIncomplete",
                "the CSR did not reach every node (missing: " + ", ".join(missing) + "); check "
                "Cisco Tomcat and Platform Administrative Web Service on them",
            )
        uncovered = [f for f in san if f.lower() not in {s.lower() for s in csr.info.san_dns}]
        if uncovered:
            raise RenewalStopped("CsrSanIncomplete", "the CSR's SANs miss " + ", ".join(uncovered))


def _reminder_kind(i: int, schedule: list[float]) -> str:
    """The last reminder of the schedule escalates."""
    return "escalation" if i == len(schedule) - 1 else "reminder"
