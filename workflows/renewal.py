"""CertRenewalWorkflow: one change that renews CA-signed multi-server certificates on a cluster.

It reads like the runbook: discover → preflight → plan → [approve] → csr → ca-wait →
validate → sso-disable → upload-trust → upload-cert → [approve impact → window] → rollout
(CTL update, restart waves, phone resets, health gates) → verify → sso-reenable → done.
SSO is disabled as late as it can be, right before the first tomcat upload, rather than before
the CSR as the manual procedure does: users keep SSO while the CA takes its days, and a change
that stops before any upload never touched it.

The parts live beside it: ``acquisition`` (CSR, CA or manual submission, validation, the
stale-CSR question), ``rollout`` (window, CTL, stages and gates), ``ledger`` (status, audit,
questions, approval gates). Anything that touches the cluster, a CA or a clock-dependent check
runs in an activity; the workflow only decides, waits and records.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any, Literal

from temporalio import workflow
from temporalio.common import SearchAttributeUpdate
from temporalio.exceptions import ActivityError, ApplicationError, CancelledError

with workflow.unsafe.imports_passed_through():
    from pydantic import ValidationError

    from activities import catalog
    from activities.catalog import Purpose
    from activities.cert_paths import LEGACY_PATH, CertificatePath
    from activities.clients.itsm.models import Outcome
    from activities.clients.validation import describe_validation_error
    from activities.cluster_models import (
        AssessRequest,
        CertUploadRequest,
        CertUploadResult,
        ClusterRef,
        ClusterSnapshot,
        DiscoverRequest,
        LeftoverRequest,
        LeftoverResult,
        OtherRenewalsRequest,
        PendingCsrRequest,
        TrustUploadRequest,
        TrustUploadResult,
    )
    from activities.cucm import CucmActivities
    from activities.models import CertificateInfo
    from activities.registry import RegistryActivities
    from workflows import phone_resets, policies
    from workflows import search_attributes as sa
    from workflows.acquisition import CertificateAcquisition
    from workflows.caveats import earliest_expiry, leftover_findings, scope
    from workflows.cleanup import remove_leftovers
    from workflows.cluster_lock import BUSY as CLUSTER_BUSY
    from workflows.cluster_lock import PATCH as CLUSTER_LOCK
    from workflows.cluster_lock import ClusterLock
    from workflows.compensation import (
        activation_outstanding,
        outstanding_tags,
        record_assessment,
    )
    from workflows.failure_advice import legacy_activation_line
    from workflows.identity import pinned_host_keys
    from workflows.intents import CONFIRMED_AFTER_RETRY as CONFIRMED
    from workflows.intents import PATCH as INTENTS
    from workflows.intents import left_to_do
    from workflows.itsm import PATCH as ITSM
    from workflows.itsm import ChangeRecord, outcome_of
    from workflows.ledger import ApprovalGates, Ledger
    from workflows.models import (
        TERMINAL_PHASES,
        ApprovalInput,
        Awaiting,
        CaCheckInput,
        CancellationNote,
        CertificateSubmission,
        IntentOutcome,
        NewCertificate,
        OperatorDecision,
        Phase,
        Problem,
        RenewalInput,
        RenewalPlan,
        RenewalStatus,
        SsoConfirmation,
        SubmissionResult,
    )
    from workflows.node_waits import waiting_on
    from workflows.notifications import PATCH as NOTIFICATIONS
    from workflows.plan import (
        certificate_path_for,
        change_problems,
        compose_plan,
        tomcat_parallel,
    )
    from workflows.recovery import PATCH as NODE_STEP_DECISIONS
    from workflows.recovery import NodeStepRecovery
    from workflows.rollout import Rollout
    from workflows.status_record import record_final_status
    from workflows.steps import RenewalStopped, run_activity
    from workflows.verification import settle_trust, verify_nodes
    from workflows.windows import WindowSpec, parse_windows


@workflow.defn
class CertRenewalWorkflow:
    """Renew the certificates of one change on one cluster; the workflow id is the change id."""

    @workflow.init
    def __init__(self, inp: RenewalInput) -> None:
        self._input = inp
        self._ledger = Ledger(
            RenewalStatus(
                change_id=inp.change_id,
                cluster=inp.cluster,
                purposes=inp.purposes,
                ca=inp.ca,
                requested_by=inp.requested_by,
            )
        )
        self._status = self._ledger.status
        self._gates = ApprovalGates(self._ledger, inp.requested_by)
        self._lock = asyncio.Lock()
        self._acquisition = CertificateAcquisition(inp, self._ledger, self._lock)
        self._change_record = ChangeRecord(inp.cluster, inp.change_id, self._ledger)
        self._cluster_lock = ClusterLock(inp.change_id, inp.cluster)
        self._windows: list[WindowSpec] = []
        #: CA roots of the uploaded chains: restarts and verification trust them.
        self._roots: list[str] = []
        #: Each node's SSH host key as discovery saw it: later steps refuse another node.
        self._host_keys: dict[str, str] = {}
        #: CA certificates of the chain uploaded per purpose (the cluster trusts them after).
        self._chains: dict[str, list[str]] = {}
        #: Uploaded certificate per purpose (SHA-256), what verification expects to be served;
        #: on a per-node path per ``purpose@node``.
        self._fingerprints: dict[str, str] = {}
        #: The interfaces of the certificate steps (patch "certificate-paths"); changes
        #: started before it use the Certificate Management REST API throughout.
        self._path: CertificatePath = LEGACY_PATH
        self._verified: dict[str, list[bool]] = {}
        self._sso_confirmed = False
        self._sso_disabled = False
        self._sso_disabled_by_us = False
        self._uploaded = False
        #: Per-purpose certificates in discovery, status and compensation (patch
        #: "purpose-certificates"); changes started before it keep the tomcat-only record.
        self._purpose_certs = False
        self._uploaded_purposes: list[Purpose] = []
        #: Services restarted so far, per node FQDN (the rollout records them).
        self._restarted: dict[str, list[str]] = {}
        self._version = ""
        self._security_mode: int | None = None

    # -- run ----------------------------------------------------------------------------

    @workflow.run
    async def run(self, inp: RenewalInput) -> RenewalStatus:
        """Run the renewal; returns the final report, or fails with it recorded in status."""
        self._status.started_at = workflow.now()
        # Changes started before the dashboards' attributes (requester, waiting on whom,
        # deadline, progress) upsert what they did, and the phase at every phase call.
        self._ledger.dashboard = workflow.patched("dashboard-attributes")
        # Changes started before notifications existed replay without their child starts.
        self._ledger.notifier.enabled = workflow.patched(NOTIFICATIONS)
        started: list[SearchAttributeUpdate[Any]] = [
            sa.CLUSTER_ID.value_set(inp.cluster),
            sa.CHANGE_ID.value_set(inp.change_id),
            sa.CERT_PURPOSES.value_set(list(inp.purposes)),
        ]
        if self._ledger.dashboard:
            started.append(sa.RENEWAL_REQUESTER.value_set(inp.requested_by))
        workflow.upsert_search_attributes(started)
        try:
            await self._renew()
        except (asyncio.CancelledError, CancelledError):
            note = self._status.cancellation
            self._status.error = (
                f"cancelled by {note.principal}: {note.reason}"
                if note is not None
                else "cancelled by an operator"
            )
            self._set_phase("cancelled")
            await self._compensate()
            await self._cluster_lock.release()
            await self._notify_end("cancelled", self._status.error)
            await self._write_back(outcome_of(None, cancelled=True))
            await workflow.wait_condition(workflow.all_handlers_finished)
            record_final_status(self._status)
            raise
        except RenewalStopped as stop:
            self._status.error = stop.message
            self._set_phase("failed")
            # A refused change wrote nothing, and the cluster is another change's to assess.
            if stop.error_type != CLUSTER_BUSY:
                await self._compensate()
            await self._cluster_lock.release()
            await self._notify_end("failed", stop.message)
            await self._write_back(outcome_of(stop.error_type, cancelled=False))
            await workflow.wait_condition(workflow.all_handlers_finished)
            record_final_status(self._status)
            raise ApplicationError(stop.message, type=stop.error_type, non_retryable=True) from None
        self._set_phase("done")
        self._status.finished_at = workflow.now()
        await self._cluster_lock.release()
        await self._notify_end("done", "")
        await self._write_back("done")
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self._status

    async def _notify_end(self, kind: Literal["done", "failed", "cancelled"], reason: str) -> None:
        """The last notifications of the change (SSO left disabled, then how it ended); the
        run waits only until their workflows started, which then outlive it."""
        notifier = self._ledger.notifier
        status = self._status
        if notifier.enabled and not notifier.configured:
            # Stopped before the change policy was read (e.g. discovery failed): read it now
            # so that the failure is told too; an unknown cluster has nobody to tell.
            try:
                policy = await workflow.execute_activity_method(
                    CucmActivities.load_change_policy,
                    ClusterRef(cluster=self._input.cluster),
                    **policies.REGISTRY.kwargs(),
                )
            except ActivityError:
                policy = None
            if policy is not None:
                notifier.configure(policy.notifications)
        if self._sso_disabled_by_us:
            notifier.emit(
                "sso-left-disabled",
                f"{status.change_id} ended ({kind}) with SAML SSO still disabled on "
                f"{status.cluster}: ucrenew disabled it for the uploads.",
                asked="A CUCM administrator: re-enable SAML SSO in Cisco Unified CM "
                "Administration > System > SAML Single Sign-On.",
            )
        purposes = ", ".join(status.purposes)
        if kind == "done":
            summary = f"{purposes} renewed on {status.cluster}; every node in scope verified."
            asked = "An operator: see the outstanding actions below." if status.outstanding else ""
        else:
            summary = f"{status.change_id} on {status.cluster} {kind}: {reason}"
            asked = (
                "An operator: the cluster needs the actions below."
                if status.outstanding
                else "Nothing was left to do on the cluster; start a new change when ready."
            )
        notifier.emit(kind, summary, asked=asked, details=list(status.outstanding))
        await notifier.settled()

    async def _renew(self) -> None:
        inp = self._input

        self._set_phase("discover")
        self._gates.strict = workflow.patched("approvals-bound-four-eyes")
        self._purpose_certs = workflow.patched("purpose-certificates")
        # Changes started before intents were recorded word retried read-backs as they did.
        self._ledger.intents.enabled = workflow.patched(INTENTS)
        snapshot = await run_activity(
            CucmActivities.discover_cluster,
            DiscoverRequest(
                cluster=inp.cluster, purposes=inp.purposes if self._purpose_certs else []
            ),
            policies.DISCOVER,
        )
        self._record_discovery(snapshot)
        self._gates.policy = await run_activity(
            CucmActivities.load_change_policy, ClusterRef(cluster=inp.cluster), policies.REGISTRY
        )
        self._windows = self._checked_policy(inp)
        self._ledger.notifier.configure(self._gates.policy.notifications)

        self._set_phase("preflight")
        # One change per cluster by its identity, taken atomically before the first write;
        # changes started before the lock checked visibility by inventory name only.
        locking = workflow.patched(CLUSTER_LOCK)
        try:
            lock_problems = await self._cluster_lock.acquire(snapshot) if locking else []
        except RenewalStopped as busy:
            # A problem like preflight's: `start` shows it and exits "refused".
            self._status.problems = [Problem(code="cluster-busy", message=busy.message)]
            raise
        others = await run_activity(
            RegistryActivities.find_other_renewals,
            OtherRenewalsRequest(cluster=inp.cluster, exclude_change_id=inp.change_id),
            policies.REGISTRY,
        )
        paths = workflow.patched("certificate-paths")
        # Health readings a snapshot lacks pass silently: older changes replay as they ran.
        problems = change_problems(
            snapshot,
            inp.purposes,
            inp.options,
            self._windows,
            workflow.now(),
            # Under the lock, changes that merely started (and will be refused) are no reason
            # to stop: the lock decides.
            other_renewals=[] if locking else others.change_ids,
            leftovers=others.leftovers,
            health=self._gates.policy.health,
            paths=paths,
        )
        problems = lock_problems + problems
        # Only clusters with an itsm: block, and only changes started since it existed.
        itsm = self._gates.policy.itsm
        if itsm is not None and workflow.patched(ITSM):
            problems += await self._change_record.check(itsm, inp.purposes, self._windows)
        warnings = [p for p in problems if not p.blocking]
        errors = [p for p in problems if p.blocking]
        if warnings:
            self._status.warnings = warnings
            self._audit("ucrenew", "preflight-warnings", "; ".join(p.message for p in warnings))
        if errors:
            self._status.problems = errors
            raise RenewalStopped(
                "PreflightFailed",
                "preflight failed, nothing was changed on the cluster: "
                + "; ".join(p.message for p in errors),
            )

        self._set_phase("plan")
        # Changes started before staged resets existed keep the plan they were approved with.
        staged = inp.options.reset_phones and workflow.patched("staged-phone-resets")
        # Likewise for the resets that go wave by wave, each node's just before it stops.
        by_primary = (
            staged
            and inp.options.phone_resets_by_primary
            and workflow.patched("phone-resets-by-primary")
        )
        # Changes with cup-xmpp-s2s approved before its trust store was named right keep
        # their plan (and its hash).
        legacy = "cup-xmpp-s2s" in inp.purposes and not workflow.patched("s2s-trust-store")
        if paths:
            self._path = certificate_path_for(snapshot, inp.options)
        # Changes started before the plan named the CSR's key and hash keep their plan hash.
        csr_detail = workflow.patched("csr-options-in-plan")
        plan = compose_plan(
            snapshot,
            inp.purposes,
            inp.options,
            staged_phone_resets=staged,
            resets_by_primary=by_primary,
            legacy_labels=legacy,
            path=self._path if paths else None,
            csr_detail=csr_detail,
            # Data, not a patch: a policy recorded before restarts: existed reads sequential.
            tomcat_parallel=tomcat_parallel(inp.options, self._gates.policy),
        )
        self._status.plan = plan
        for finding in plan.findings:
            self._status.add_finding(finding)
        for fqdn in plan.restart_order:
            self._status.node(fqdn).steps.update({"restart": "pending", "verify": "pending"})

        if inp.require_plan_approval or "plan" in self._gates.policy.approvals:
            await self._gates.wait("plan", plan)

        for purpose in inp.purposes:
            await self._renew_purpose(purpose, plan, snapshot, inp.options.min_remaining_days)

        if plan.phone_impact:
            await self._gates.wait("impact", plan)
        assert plan.restarts is not None
        # Changes started before failed node steps asked fail at the first one, as they did.
        recovery = (
            NodeStepRecovery(inp, self._ledger, self._gates, plan)
            if workflow.patched(NODE_STEP_DECISIONS)
            else None
        )
        rollout = Rollout(
            inp,
            self._ledger,
            self._gates,
            self._windows,
            self._roots,
            self._restarted,
            recovery,
            host_keys=self._host_keys,
        )
        await rollout.run(plan, plan.restarts)
        await self._verify(plan, recovery)
        if recovery is not None:
            await recovery.confirm_skipped()
        # Changes started before the trust store existed skip settling it.
        if workflow.patched("settle-trust"):
            await settle_trust(
                self._input.cluster, self._ledger, plan, self._chains, self._verified
            )

        if plan.sso_disable:
            self._set_phase("sso-reenable", awaiting="sso-confirm")
            await workflow.wait_condition(lambda: self._sso_confirmed)
            self._sso_disabled_by_us = False
            self._set_phase("sso-reenable")

        self._set_phase("cleanup")
        self._status.outstanding = [o for o in self._status.outstanding if "SSO" not in o]
        if self._uploaded_purposes and workflow.patched("cscur97909-leftovers"):
            listed = await self._list_leftovers(plan)
            # Opt-in only: changes without the option (and older ones) never ask.
            if (
                listed is not None
                and listed.leftovers
                and inp.options.remove_leftover_certificates
                and workflow.patched("cscur97909-removal")
            ):
                await remove_leftovers(
                    inp.cluster,
                    self._ledger,
                    self._gates,
                    listed.leftovers,
                    self._uploaded_purposes,
                    self._roots,
                    self._path.readback,
                )

    # -- certificates -------------------------------------------------------------------

    async def _renew_purpose(
        self, purpose: Purpose, plan: RenewalPlan, snapshot: ClusterSnapshot, min_days: int
    ) -> None:
        """One purpose's certificate: one multi-server certificate uploaded on the purpose's
        publisher, or on a per-node path one single-server certificate per SAN node, node by
        node (each CSR, signature and upload on its own node), all in this one change."""
        san = plan.san_by_purpose[purpose]
        for node in san if self._path.per_node else [None]:
            expected = [node] if node else san
            leaf, chain, upload = await self._acquire_and_upload(purpose, plan, min_days, node)
            key = f"{purpose}@{node}" if node else purpose
            self._fingerprints[key] = leaf.sha256_fingerprint
            self._record_upload(purpose, leaf, chain, expected, upload)
        self._uploaded = True
        self._uploaded_purposes.append(purpose)

    async def _acquire_and_upload(
        self, purpose: Purpose, plan: RenewalPlan, min_days: int, node: str | None
    ) -> tuple[CertificateInfo, list[str], CertUploadResult]:
        """CSR → CA → validation → trust → upload, again while the CSR went stale."""
        inp = self._input
        path = self._path
        expected = [node] if node else plan.san_by_purpose[purpose]
        on = node or plan.publisher_by_purpose.get(purpose, plan.publisher)
        heartbeat = inp.options.step_heartbeat_seconds
        while True:
            csr, report = await self._acquisition.obtain(
                purpose, plan, min_days, path=path, node=node
            )
            check = await run_activity(
                CucmActivities.check_pending_csr,
                PendingCsrRequest(
                    cluster=inp.cluster,
                    purpose=purpose,
                    csr_pem=csr.csr_pem,
                    path=path,
                    node=node,
                ),
                policies.DISCOVER,
            )
            if not check.matches:
                await self._acquisition.stale_csr_decision(check.detail)
                continue
            leaf = report.leaf
            assert leaf is not None
            chain = [c.pem for c in report.chain[1:]]
            root = chain[-1:] if chain else []
            self._status.new_serial = leaf.serial_hex
            self._status.new_fingerprint = leaf.sha256_fingerprint
            self._status.new_not_after = leaf.not_after

            if plan.sso_disable and catalog.purpose(purpose).disables_sso:
                await self._disable_sso()
            self._set_phase("upload-trust")
            upload_policy = policies.with_heartbeat(policies.UPLOAD, heartbeat)
            await self._upload_trust(
                TrustUploadRequest(
                    cluster=inp.cluster, purpose=purpose, ca_pems=list(reversed(chain)), path=path
                ),
                on,
                upload_policy,
            )

            self._set_phase("upload-cert")
            cert_request = CertUploadRequest(
                cluster=inp.cluster,
                purpose=purpose,
                certificate_pem=leaf.pem,
                chain_pems=chain,
                expected_nodes=expected,
                extra_roots_pem=root,
                path=path,
                node=node,
            )
            try:
                intent, upload = await self._ledger.intents.around(
                    "certificate-upload",
                    f"{purpose} on {node}" if node else purpose,
                    f"serial {leaf.serial_hex} for " + ", ".join(expected),
                    waiting_on(
                        self._status,
                        workflow.now(),
                        on,
                        "upload-cert",
                        run_activity(
                            CucmActivities.upload_certificate, cert_request, upload_policy
                        ),
                        service=purpose,
                        on_change=self._ledger.refresh_details,
                    ),
                )
                if upload.already_installed and self._ledger.intents.ours(intent, upload.attempt):
                    upload.message = (
                        f"uploaded by ucrenew ({CONFIRMED}: installed on "
                        + ", ".join(upload.installed_nodes)
                        + ")"
                    )
                    self._ledger.intents.settle(intent, "done-after-retry", upload.message)
                else:
                    self._ledger.intents.settle(
                        intent, "already" if upload.already_installed else "done", upload.message
                    )
            except RenewalStopped as stop:
                # Someone generated a CSR on the box between the check and the upload.
                if stop.error_type != "CsrNoLongerPending":
                    raise
                await self._acquisition.stale_csr_decision(stop.message)
                continue
            self._roots.extend(r for r in root if r not in self._roots)
            return leaf, chain, upload

    def _record_upload(
        self,
        purpose: Purpose,
        leaf: CertificateInfo,
        chain: list[str],
        nodes: list[str],
        upload: CertUploadResult,
    ) -> None:
        trusted = ""
        if upload.trust_added:
            trusted = (
                f"; trusted from now on ({upload.trust_file}): {', '.join(upload.trust_added)}"
            )
        self._audit("ucrenew", "certificate-uploaded", f"{purpose}: {upload.message}{trusted}")
        self._chains[purpose] = chain
        self._status.new_certificates[purpose] = NewCertificate(
            serial=leaf.serial_hex, fingerprint=leaf.sha256_fingerprint, not_after=leaf.not_after
        )
        for fqdn in nodes:
            progress = self._status.node(fqdn)
            if not self._purpose_certs or progress.new_serial is None:
                progress.new_serial = leaf.serial_hex
            entry = progress.purpose(purpose)
            entry.new_serial = leaf.serial_hex
            entry.new_not_after = leaf.not_after

    async def _disable_sso(self) -> None:
        """``utils sso disable``, once per change (idempotent on the cluster too)."""
        if self._sso_disabled:
            return
        self._set_phase("sso-disable")
        intents = self._ledger.intents
        publisher = self._status.plan.publisher if self._status.plan is not None else ""
        policy = policies.with_heartbeat(policies.SSO, self._input.options.step_heartbeat_seconds)
        intent, sso = await intents.around(
            "sso-disable",
            "SAML SSO",
            "utils sso disable on the publisher",
            waiting_on(
                self._status,
                workflow.now(),
                publisher,
                "sso-disable",
                run_activity(
                    CucmActivities.disable_sso, ClusterRef(cluster=self._input.cluster), policy
                ),
                on_change=self._ledger.refresh_details,
            ),
        )
        self._sso_disabled = True
        self._sso_disabled_by_us = sso.was_enabled
        detail = sso.detail
        outcome: IntentOutcome = "done" if sso.was_enabled else "already"
        if not sso.was_enabled and intents.ours(intent, sso.attempt):
            # The retry read SSO disabled: what ucrenew's earlier attempt did, not how it was.
            self._sso_disabled_by_us = True
            detail, outcome = f"disabled SAML SSO ({CONFIRMED})", "done-after-retry"
        intents.settle(intent, outcome, detail)
        self._audit("ucrenew", "sso-disabled", detail)

    async def _upload_trust(
        self, req: TrustUploadRequest, node: str, policy: policies.ActivityPolicy
    ) -> None:
        """Upload the chain's CA certificates the trust store lacks; with intents, those it
        lacked are recorded first, so that a retry finding them present counts them as
        uploaded by ucrenew (older changes upload at once, as they did)."""
        intents = self._ledger.intents
        store = catalog.purpose(req.purpose).trust_store
        intent = None
        wanted: list[str] = []
        if intents.enabled:
            presence = await run_activity(CucmActivities.trust_presence, req, policies.ASSESS)
            wanted = presence.missing
            if wanted:
                intent = intents.record("trust-upload", store, "upload " + ", ".join(wanted))
        try:
            trust: TrustUploadResult = await waiting_on(
                self._status,
                workflow.now(),
                node,
                "upload-trust",
                run_activity(CucmActivities.upload_trust, req, policy),
                service=req.purpose,
                on_change=self._ledger.refresh_details,
            )
        except BaseException:
            intents.settle(intent, "unconfirmed", "")
            raise
        ours = [s for s in trust.skipped if s in wanted]
        uploaded = trust.uploaded + ours
        present = [s for s in trust.skipped if s not in wanted]
        comment = f"uploaded {uploaded or 'nothing'}; already present {present or 'none'}"
        if ours:
            comment += f" ({', '.join(ours)}: uploaded by ucrenew, {CONFIRMED})"
        intents.settle(intent, "done-after-retry" if ours else "done", comment)
        self._audit("ucrenew", "trust-uploaded", comment)

    async def _verify(self, plan: RenewalPlan, recovery: NodeStepRecovery | None) -> None:
        self._set_phase("verify")
        await verify_nodes(
            self._input,
            self._status,
            plan,
            self._fingerprints,
            self._roots,
            self._verified,
            recovery,
            host_keys=self._host_keys,
        )

    # -- helpers ------------------------------------------------------------------------

    def _record_discovery(self, snapshot: ClusterSnapshot) -> None:
        self._host_keys = pinned_host_keys(snapshot)
        self._version = snapshot.version or ""
        self._security_mode = snapshot.security_mode
        if not self._purpose_certs:
            expiries: list[datetime] = []
            for n in snapshot.nodes:
                cert = n.certificates.get("tomcat")
                if cert is not None:
                    self._status.node(n.fqdn).old_serial = cert.serial_hex
                    expiries.append(cert.not_after)
            if expiries:
                workflow.upsert_search_attributes([sa.CERT_NOT_AFTER.value_set(min(expiries))])
            return
        # Only the nodes of the purposes' SANs are in scope, each with every purpose it has.
        for purpose in self._input.purposes:
            for n in scope(snapshot, purpose):
                progress = self._status.node(n.fqdn)
                entry = progress.purpose(purpose)
                served = n.certificates.get(purpose)
                entry.served_serial = served.serial_hex if served is not None else None
                cert = n.current(purpose)
                if cert is None:
                    continue
                entry.old_serial = cert.serial_hex
                entry.old_not_after = cert.not_after
                entry.old_self_signed = cert.self_signed
                if progress.old_serial is None:
                    progress.old_serial = cert.serial_hex
        first = earliest_expiry(snapshot, self._input.purposes)
        if first is not None:
            workflow.upsert_search_attributes([sa.CERT_NOT_AFTER.value_set(first.not_after)])

    async def _list_leftovers(self, plan: RenewalPlan) -> LeftoverResult | None:
        """CSCur97909: list the former self-signed certificates the uploads left in the trust
        stores, each with the command that removes it. Read-only, and never stops the change;
        None when the stores could not be listed."""
        try:
            result = await run_activity(
                CucmActivities.find_leftover_certificates,
                LeftoverRequest(
                    cluster=self._input.cluster,
                    purposes=self._uploaded_purposes,
                    extra_roots_pem=self._roots,
                    readback=self._path.readback,
                ),
                policies.ASSESS,
            )
        except RenewalStopped as stop:
            self._status.add_finding(
                Problem(
                    code="cscur97909-unread",
                    message=f"could not list the trust stores for CSCur97909: {stop.message}",
                )
            )
            return None
        for finding in leftover_findings(result, plan.publisher_by_purpose):
            self._status.add_finding(finding)
        self._audit(
            "ucrenew",
            "leftovers-listed",
            f"{len(result.leftovers)} former self-signed certificate(s) left in the trust "
            "stores (CSCur97909); "
            + (
                "their removal is offered at the cleanup gate"
                if self._input.options.remove_leftover_certificates and result.leftovers
                else "removal is left to an operator"
            ),
        )
        return result

    async def _write_back(self, outcome: Outcome) -> None:
        """Tell the change record how the change ended (when its cluster has an itsm:
        block): a summary, the renewal page's link, and what an operator must still do."""
        status = self._status
        purposes = ", ".join(status.purposes)
        notes: list[str] = []
        if outcome == "done":
            summary = f"renewal of {purposes} on cluster {status.cluster} is done"
            notes += [
                f"{purpose}: new certificate serial {cert.serial}, valid until "
                f"{cert.not_after:%Y-%m-%d}"
                for purpose, cert in status.new_certificates.items()
            ]
        else:
            summary = f"renewal of {purposes} on cluster {status.cluster} {outcome}: " + (
                status.error or outcome
            )
            notes += [f"problem: {p.message}" for p in status.problems]
        notes += [f"still to do: {o}" for o in status.outstanding]
        await self._change_record.write_back(outcome, summary, notes)

    async def _compensate(self) -> None:
        """Record where the cluster stands and what an operator must still do."""
        intents = self._ledger.intents
        intents.close()
        if self._sso_disabled_by_us:
            self._status.outstanding.append(
                "SAML SSO was disabled by this change and is still disabled: re-enable it in "
                "Cisco Unified CM Administration > System > SAML Single Sign-On"
            )
        elif intents.unconfirmed("sso-disable"):
            # utils sso disable was issued and never answered: it may well have taken.
            self._sso_disabled_by_us = True
            self._status.outstanding.append(
                "SAML SSO may have been disabled by this change (utils sso disable was issued "
                "and not confirmed before it stopped): check `utils sso status` on the "
                "publisher and re-enable it in Cisco Unified CM Administration > System > "
                "SAML Single Sign-On"
            )
        self._status.outstanding += left_to_do(self._status.intents)
        plan = self._status.plan
        if self._uploaded and self._purpose_certs and plan is not None:
            ctl_done = any(e.action in ("ctl-updated", "ctl-current") for e in self._status.audit)
            self._status.outstanding += activation_outstanding(
                self._uploaded_purposes,
                plan,
                self._restarted,
                self._version,
                mixed_mode_ctl_pending=self._security_mode == 1 and not ctl_done,
                rolled_back=self._status.rolled_back,
            )
        elif self._uploaded:
            self._status.outstanding.append(
                legacy_activation_line(self._input.purposes, self._version)
            )
        tags = outstanding_tags(
            self._sso_disabled_by_us,
            self._uploaded_purposes if self._uploaded else [],
            plan,
            self._restarted,
            self._version,
        )
        # The next plan/start of the cluster and `ucrenew ls` find these through visibility.
        if tags and workflow.patched("outstanding-attribute"):
            workflow.upsert_search_attributes([sa.RENEWAL_OUTSTANDING.value_set(tags)])
        try:
            assessment = await workflow.execute_activity_method(
                CucmActivities.assess_cluster,
                AssessRequest(
                    cluster=self._input.cluster,
                    purposes=self._input.purposes if self._purpose_certs else [],
                ),
                summary="assess where every node stands",
                **policies.ASSESS.kwargs(),
            )
        except ActivityError as err:
            self._status.outstanding.append(f"could not assess the cluster: {err.cause or err}")
            return
        for state in assessment.nodes:
            if self._purpose_certs:
                record_assessment(self._status, state)
                continue
            progress = self._status.node(state.node)
            served = state.served_serial or "unknown"
            progress.detail = f"serving serial {served}" + (
                f" ({state.error})" if state.error else ""
            )

    def _checked_policy(self, inp: RenewalInput) -> list[WindowSpec]:
        """The change's windows; the cluster's windows and approval policies are validated
        here, so that a mistake in the inventory stops the change with the fields at fault
        (never their values) instead of failing workflow tasks over and over."""
        source = "windows" if inp.windows else "change_policy.windows"
        raw = inp.windows or self._gates.policy.windows
        where = ""
        try:
            windows: list[WindowSpec] = []
            for i, item in enumerate(raw):
                where = f"{source}[{i}]"
                windows += parse_windows([item])
            for gate in self._gates.policy.approvals:
                where = f"change_policy.approvals.{gate}"
                self._gates.approval_policy(gate)
        except ValidationError as exc:
            raise RenewalStopped(
                "InvalidChangePolicy",
                f"cluster {inp.cluster}: {where} is invalid: {describe_validation_error(exc)}",
            ) from None
        return windows

    def log_context(self) -> dict[str, str]:
        """The cluster and phase for log lines: the worker's logging interceptor hands them
        to every activity this workflow starts."""
        return self._ledger.log_context()

    def _set_phase(self, phase: Phase, awaiting: Awaiting = "") -> None:
        self._ledger.phase(phase, awaiting)

    def _audit(self, actor: str, action: str, comment: str = "") -> None:
        self._ledger.audit(actor, action, comment)

    # -- queries and updates ------------------------------------------------------------

    @workflow.query
    def get_status(self) -> RenewalStatus:
        """The renewal's status, progress per node, and audit trail."""
        return self._status

    @workflow.update
    async def approve(self, approval: ApprovalInput) -> RenewalStatus:
        """Approve the open gate (plan, or phone impact) under the cluster's policy."""
        gate, candidate = self._gates.check(approval)
        self._gates.record(gate, candidate, "")
        return self._status

    @approve.validator
    def _validate_approve(self, approval: ApprovalInput) -> None:
        self._gates.check(approval)

    @workflow.signal(name=phone_resets.PROGRESS_SIGNAL)
    def phone_reset_progress(self, progress: phone_resets.PhoneResetProgress) -> None:
        """A batch reset by the change's phone-reset child (``workflows.phone_resets``)."""
        phone_resets.record_batch(self._ledger, progress)

    @workflow.signal
    def approve_signal(self, approval: ApprovalInput) -> None:
        """Fire-and-forget approval for integrations (ITSM); checked like the update, and a
        refused one is recorded in the audit trail instead of failing the caller."""
        try:
            gate, candidate = self._gates.check(approval)
        except ApplicationError as refused:
            self._audit(approval.principal, "approval-ignored", refused.message)
            return
        self._gates.record(gate, candidate, " (signal)")

    @workflow.update
    async def reject(self, rejection: ApprovalInput) -> RenewalStatus:
        """Reject the plan: the renewal ends without going further."""
        self._gates.reject(rejection)
        return self._status

    @reject.validator
    def _validate_reject(self, rejection: ApprovalInput) -> None:
        self._gates.check_rejection(rejection)

    @workflow.update
    async def submit_certificate(self, submission: CertificateSubmission) -> SubmissionResult:
        """Hand in the signed certificate (manual CA); refused with reasons if unfit."""
        return await self._acquisition.submit(submission)

    @submit_certificate.validator
    def _validate_submission(self, submission: CertificateSubmission) -> None:
        self._acquisition.check_submission(submission)

    @workflow.update
    async def decide(self, decision: OperatorDecision) -> RenewalStatus:
        """Answer the renewal's question: a stale CSR (regenerate | abort), phones not back
        after a wave (continue | roll-forward | abort), the window closing (resume | abort), a
        node's restart or verification failed (retry | skip | rollback | stop)."""
        self._ledger.record_decision(decision)
        return self._status

    @decide.validator
    def _validate_decide(self, decision: OperatorDecision) -> None:
        self._ledger.check_decision(decision)

    @workflow.update
    async def check_ca(self, request: CaCheckInput) -> RenewalStatus:
        """Poll the CA for the pending request now instead of at the next interval; returns
        once that poll answered (``awaiting`` is still ``ca`` while the CA has not issued)."""
        await self._acquisition.check_now(request.principal)
        return self._status

    @check_ca.validator
    def _validate_check_ca(self, request: CaCheckInput) -> None:
        self._acquisition.check_now_pending()
        if not request.principal.strip():
            raise ApplicationError("a check needs the operator's name", type="BadCheck")

    @workflow.update
    async def record_cancellation(self, note: CancellationNote) -> RenewalStatus:
        """Who is about to cancel the change and why: in the audit trail and the status
        before the cancellation itself (``ucrenew cancel --by --reason``)."""
        self._status.cancellation = note
        self._audit(note.principal, "cancel-requested", note.reason)
        return self._status

    @record_cancellation.validator
    def _validate_cancellation(self, note: CancellationNote) -> None:
        if self._status.phase in TERMINAL_PHASES:
            raise ApplicationError(
                f"the change has ended (phase {self._status.phase})", type="ChangeFinished"
            )
        if not note.principal.strip() or not note.reason.strip():
            raise ApplicationError(
                "a cancellation needs the operator's name and a reason", type="BadCancellation"
            )

    @workflow.update
    async def confirm_sso(self, confirmation: SsoConfirmation) -> RenewalStatus:
        """An operator re-enabled SSO in the GUI; ucrenew checks before accepting."""
        async with self._lock:
            try:
                sso = await workflow.execute_activity_method(
                    CucmActivities.sso_status,
                    ClusterRef(cluster=self._input.cluster),
                    summary="check SSO is re-enabled",
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
