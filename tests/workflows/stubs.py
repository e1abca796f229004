"""Stub activities registered under the production names, for workflow tests.

They model a 4-node cluster (CUCM publisher, two subscribers, IM&P) and record every call, so
a test can assert what the workflow did and, as importantly, what it did not do.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError, ApplicationErrorCategory

from activities import catalog
from activities.cleanup_models import LeftoverRemovalRequest, LeftoverRemovalResult
from activities.clients.inventory import CertificatesEntry
from activities.clients.itsm.models import (
    ChangeRecord,
    ChangeRecordCheck,
    ChangeRecordRequest,
    ItsmReason,
    WriteBackRequest,
    WriteBackResult,
)
from activities.clients.notify.models import NotificationPolicy
from activities.cluster_models import (
    AssessRequest,
    BackupHealth,
    CertUploadRequest,
    CertUploadResult,
    ChangePolicy,
    ClusterAssessment,
    ClusterIdentity,
    ClusterRef,
    ClusterSnapshot,
    CmGroupInfo,
    CsrRequest,
    CsrResult,
    CtlResult,
    DiscoverRequest,
    HealthPolicy,
    ItsmPolicy,
    LeftoverChange,
    LeftoverRequest,
    LeftoverResult,
    LockHolder,
    LockHolderRequest,
    LockReleaseRequest,
    NodeCertState,
    NodeHealth,
    NodeIdentity,
    NodeSnapshot,
    OtherRenewalsRequest,
    OtherRenewalsResult,
    PendingCsrRequest,
    PendingCsrResult,
    PhoneBatchRequest,
    PhoneBatchResult,
    PhoneResetRequest,
    PhoneResetResult,
    RegenerateRequest,
    RegenerateResult,
    RegisteredPhones,
    RegisteredPhonesRequest,
    RegistrationGateRequest,
    RegistrationGateResult,
    RegistrationSnapshot,
    RestartRequest,
    RestartResult,
    ServiceState,
    SsoResult,
    TrustPresence,
    TrustSettleRequest,
    TrustSettleResult,
    TrustUploadRequest,
    TrustUploadResult,
    ValidateRequest,
    VerifyRequest,
    VerifyResult,
)
from activities.models import (
    CaPollRequest,
    CaSubmission,
    CaSubmitRequest,
    CertificateInfo,
    CsrInfo,
    ValidationProblem,
    ValidationReport,
)
from activities.registry import RegistryActivities

NODES = [
    ("cucm-pub.lab.example.com", "cucm", "publisher"),
    ("cucm-sub1.lab.example.com", "cucm", "subscriber"),
    ("cucm-sub2.lab.example.com", "cucm", "subscriber"),
    ("imp-pub.lab.example.com", "imp", "publisher"),
]
FQDNS = [n[0] for n in NODES]
#: Every renewal a workflow test started through a ``start`` helper: tests/workflows/conftest.py
#: ends those still running, with their cluster locks, after each test.
STARTED_RENEWALS: list[Any] = []
GOOD_PEM = "-----BEGIN CERTIFICATE-----\nR09PRA==\n-----END CERTIFICATE-----\n"
BAD_PEM = "-----BEGIN CERTIFICATE-----\nQkFE\n-----END CERTIFICATE-----\n"
CSR_PEM = "-----BEGIN CERTIFICATE REQUEST-----\nQ1NS\n-----END CERTIFICATE REQUEST-----\n"
ROOT_PEM = "-----BEGIN CERTIFICATE-----\nUk9PVA==\n-----END CERTIFICATE-----\n"


def cert_info(pem: str, serial: str, not_after: datetime, san: list[str]) -> CertificateInfo:
    """A CertificateInfo for a fake PEM."""
    return CertificateInfo(
        subject="CN=x",
        subject_cn="x",
        issuer="CN=ca",
        serial_hex=serial,
        sha256_fingerprint="fp-" + serial,
        not_before=not_after - timedelta(days=365),
        not_after=not_after,
        san_dns=san,
        key_type="RSA",
        pem=pem,
    )


@dataclass
class StubCluster:
    """The far end the stub activities act on."""

    sso_enabled: bool = True
    paws_down_on: str | None = None
    calls: list[tuple[str, Any]] = field(default_factory=list)
    other_renewals: list[str] = field(default_factory=list)
    #: the publisher's processnode pkid discovery reads (the cluster lock's key): unique per
    #: stub, so that tests sharing a server never share a lock; None: AXL names no publisher
    publisher_uuid: str | None = field(default_factory=lambda: str(uuid.uuid4()))
    #: the change cluster_lock_holder names ("" : the lock is free); tests of the lock itself
    #: register the real activity instead
    lock_holder: str = ""
    #: earlier changes of the cluster that left work behind (find_other_renewals)
    leftover_changes: list[LeftoverChange] = field(default_factory=list)
    #: an ADCS-like CA answers pending, then issues (or denies) from this instant on
    ca_pending_until: datetime | None = None
    ca_denies: bool = False
    polls: int = 0
    #: how many pending-CSR checks answer that the CSR on the box changed
    stale_checks: int = 0
    version: str = "14.0.1.13900-155"
    certificates: CertificatesEntry = field(default_factory=CertificatesEntry)
    security_mode: int = 0
    #: the inventory's change policy
    approvals: dict[str, dict[str, Any]] = field(default_factory=dict)
    windows: list[dict[str, Any]] = field(default_factory=list)
    registered: int = 200
    #: answers of successive health gates (True: phones back); empty means always back
    gate_answers: list[bool] = field(default_factory=list)
    #: phones registered on each CUCM node, per protocol (RisPort for registered_phones)
    phones_per_node: dict[str, int] = field(default_factory=lambda: {"SCCP": 3, "SIP": 2})
    #: phones that register on the publisher only after the first listing of phones
    late_phones: list[str] = field(default_factory=list)
    #: pre-change health per node FQDN and the DRS backups as of the server's clock (none: no
    #: readings, as older snapshots), and the inventory's health policy
    node_health: dict[str, NodeHealth] = field(default_factory=dict)
    backup: Callable[[datetime], BackupHealth] | None = None
    health_policy: HealthPolicy = field(default_factory=HealthPolicy)
    #: settle_trust fails for good (the renewal must finish all the same)
    settle_fails: bool = False
    #: expiry of the discovered certificates of purposes other than tomcat
    purpose_not_after: datetime = datetime(2026, 12, 10, tzinfo=UTC)
    #: what find_leftover_certificates answers (CSCur97909)
    leftovers: LeftoverResult = field(default_factory=LeftoverResult)
    #: restart_service fails on the n-th call (1-based; 0: never)
    fail_restart_at: int = 0
    #: nodes (FQDN) where every restart fails for good until removed (a broken node)
    restart_fails_on: set[str] = field(default_factory=set)
    #: nodes (FQDN) whose verification fails for good until removed
    verify_fails_on: set[str] = field(default_factory=set)
    #: the CN of the generated CSR (None: no CN)
    csr_cn: str | None = None
    #: find_leftover_certificates fails for good
    leftovers_fail: bool = False
    #: what remove_leftover_certificates answers (None: every approved one removed)
    removal: LeftoverRemovalResult | None = None
    #: the inventory's itsm: block as the workflow sees it (None: no change system)
    itsm: ItsmPolicy | None = None
    #: why the change record refuses the change (check_change_record); found unless
    #: ``record_missing``
    record_reasons: list[ItsmReason] = field(default_factory=list)
    record_missing: bool = False
    #: check_change_record fails (the change system cannot be reached)
    record_check_fails: bool = False
    #: write_back_outcome fails this many times (retryably) before it succeeds
    write_back_failures: int = 0
    #: discovery fails for good (the cluster cannot be reached)
    discover_fails: bool = False
    #: discovery's first this many attempts die (their worker killed) before they answer
    discover_dies: int = 0
    #: the cluster's notification settings as the change policy carries them
    notifications: NotificationPolicy = field(default_factory=NotificationPolicy)
    #: change_policy.restarts: Cisco Tomcat restarts at once after the publisher
    tomcat_parallel: int = 1
    #: a restart on one of these nodes waits (up to 10 s) until every one of them has
    #: started: a wave that runs them at once passes at once
    restart_barrier: set[str] = field(default_factory=set)
    #: restarts running now, the most seen at once, and (event, node) in order
    in_flight: int = 0
    max_in_flight: int = 0
    restart_events: list[tuple[str, str]] = field(default_factory=list)
    #: discovery reports who answered at each node (host name, SSH host key ``SHA256:<fqdn>``)
    identities: bool = False
    #: restart_service reports this host name for the node (FQDN -> host name; default: the
    #: node's own); verify_node the one of ``verified_by``
    answered_by: dict[str, str] = field(default_factory=dict)
    verified_by: dict[str, str] = field(default_factory=dict)
    #: activities whose first attempt applies its effect and then never answers, as when the
    #: worker is killed right after it: ``disable_sso``, ``upload_trust``,
    #: ``upload_certificate``, ``restart_service@<node FQDN>``; the retry reads back (with a
    #: trailing ``!``, every attempt dies so: the step fails for good)
    lost_responses: set[str] = field(default_factory=set)
    #: the CTL already lists the new CallManager certificate (show ctl read-back); a first
    #: ``ctl_update`` makes it so (``ctl_update`` in ``lost_responses``: then dies)
    ctl_current: bool = False
    #: someone else disables SSO after discovery, before ucrenew's disable reads it
    sso_disabled_meanwhile: bool = False
    #: CA subjects in each trust store (stateful only for tests that set it or lose responses)
    trust_stores: dict[str, set[str]] = field(default_factory=dict)
    #: purposes whose certificate a lost response installed (a retry finds it installed)
    installed: set[str] = field(default_factory=set)
    #: the certificate upload takes effect, then fails for good (e.g. its read-back fails)
    upload_fails_after_effect: bool = False
    #: (node, service) restarted by an attempt that never answered (a retry finds it done)
    restarted_unanswered: set[tuple[str, str]] = field(default_factory=set)

    def names(self) -> list[str]:
        """Activity names in call order."""
        return [c[0] for c in self.calls]

    def activities(self) -> list[Any]:
        """The stub activities, bound to this cluster."""
        s = self

        @activity.defn(name="discover_cluster")
        async def discover_cluster(ref: DiscoverRequest) -> ClusterSnapshot:
            s.calls.append(("discover_cluster", ref))
            if s.discover_dies:
                s.discover_dies -= 1
                raise ApplicationError("activity Heartbeat timeout (the worker died)")
            if s.discover_fails:
                raise ApplicationError(
                    "cucm-pub.lab.example.com: connection refused",
                    type="CucmUnreachable",
                    non_retryable=True,
                )
            nodes = []
            for fqdn, product, role in NODES:
                others = {
                    p: cert_info(
                        GOOD_PEM,
                        f"02{p[:2].lower()}{fqdn[:4]}",
                        s.purpose_not_after,
                        [fqdn],
                    )
                    for p in ref.purposes
                    if p != "tomcat" and product in catalog.purpose(p).san_products
                }
                paws = "Stopped" if fqdn == s.paws_down_on else "Started"
                nodes.append(
                    NodeSnapshot(
                        fqdn=fqdn,
                        product=product,  # type: ignore[arg-type]
                        role=role,  # type: ignore[arg-type]
                        https_ok=True,
                        ssh_ok=True,
                        services=[
                            ServiceState(name="Cisco Tomcat", status="Started"),
                            ServiceState(name="Platform Administrative Web Service", status=paws),
                            *(
                                ServiceState(name=n, status="Started")
                                for n in (
                                    (
                                        "Cisco CallManager",
                                        "Cisco CTIManager",
                                        "Cisco Tftp",
                                        "Cisco Trust Verification Service",
                                        "Cisco HAProxy",
                                    )
                                    if product == "cucm"
                                    else ("Cisco XCP Router",)
                                )
                            ),
                        ],
                        certificates={
                            "tomcat": cert_info(
                                GOOD_PEM,
                                "01" + fqdn[:4],
                                datetime(2026, 12, 17, tzinfo=UTC),
                                [fqdn],
                            ),
                            **others,
                        },
                        installed=dict(others),
                        health=s.node_health.get(fqdn),
                        identity=(
                            NodeIdentity(
                                node=fqdn,
                                address=fqdn,
                                hostname=fqdn.split(".")[0],
                                ssh_host_key=f"SHA256:{fqdn}",
                            )
                            if s.identities
                            else None
                        ),
                    )
                )
            return ClusterSnapshot(
                cluster=ref.cluster,
                taken_at=datetime(2026, 11, 27, tzinfo=UTC),
                version=s.version,
                certificates=s.certificates,
                domain="lab.example.com",
                publisher=FQDNS[0],
                nodes=nodes,
                cm_groups=[
                    CmGroupInfo(name="G1", members=[FQDNS[1], FQDNS[0]], phones=120),
                    CmGroupInfo(name="G2", members=[FQDNS[2], FQDNS[1]], phones=80),
                ],
                registrations=RegistrationSnapshot(
                    taken_at=datetime(2026, 11, 27, tzinfo=UTC), total=200, registered=200
                ),
                axl_nodes=FQDNS[:3],
                identity=(
                    ClusterIdentity(publisher=FQDNS[0], publisher_uuid=s.publisher_uuid)
                    if s.publisher_uuid is not None
                    else None
                ),
                sso_enabled=s.sso_enabled,
                security_mode=s.security_mode,
                db_replication={f.split(".")[0]: 2 for f in FQDNS},
                backup=(
                    s.backup(activity.info().current_attempt_scheduled_time) if s.backup else None
                ),
            )

        @activity.defn(name="load_change_policy")
        async def load_change_policy(ref: ClusterRef) -> ChangePolicy:
            s.calls.append(("load_change_policy", ref))
            return ChangePolicy(
                approvals=s.approvals,
                windows=s.windows,
                health=s.health_policy,
                itsm=s.itsm,
                notifications=s.notifications,
                tomcat_parallel=s.tomcat_parallel,
            )

        @activity.defn(name="check_change_record")
        async def check_change_record(req: ChangeRecordRequest) -> ChangeRecordCheck:
            s.calls.append(("check_change_record", req))
            if s.record_check_fails:
                raise ApplicationError(
                    "servicenow: GET https://sn.example.com/api/now/table/change_request "
                    "answered 503 (Service Unavailable)",
                    type="ItsmUnavailable",
                )
            if s.record_missing:
                return ChangeRecordCheck(
                    system="servicenow",
                    change_id=req.change_id,
                    found=False,
                    blocking=s.itsm.block if s.itsm else True,
                    reasons=[ItsmReason(code="change-record-not-found", message="no such change")],
                )
            return ChangeRecordCheck(
                system="servicenow",
                change_id=req.change_id,
                found=True,
                blocking=s.itsm.block if s.itsm else True,
                record=ChangeRecord(number=req.change_id, ref="abc", state="-1"),
                reasons=s.record_reasons,
            )

        @activity.defn(name="write_back_outcome")
        async def write_back_outcome(req: WriteBackRequest) -> WriteBackResult:
            s.calls.append(("write_back_outcome", req))
            if s.write_back_failures:
                s.write_back_failures -= 1
                raise ApplicationError("servicenow: answered 503", type="ItsmUnavailable")
            return WriteBackResult(
                system="servicenow", change_id=req.change_id, detail=f"work note on {req.change_id}"
            )

        @activity.defn(name="registration_snapshot")
        async def registration_snapshot(ref: ClusterRef) -> RegistrationSnapshot:
            s.calls.append(("registration_snapshot", ref))
            return RegistrationSnapshot(
                taken_at=activity.info().current_attempt_scheduled_time,
                total=200,
                registered=s.registered,
                per_node={
                    "cucm-sub1.lab.example.com": 120,
                    "cucm-sub2.lab.example.com": s.registered - 120,
                },
            )

        @activity.defn(name="wait_for_registrations")
        async def wait_for_registrations(req: RegistrationGateRequest) -> RegistrationGateResult:
            s.calls.append(("wait_for_registrations", req))
            ok = s.gate_answers.pop(0) if s.gate_answers else True
            return RegistrationGateResult(
                ok=ok,
                registered=req.baseline_registered if ok else req.baseline_registered - 40,
                expected=req.baseline_registered,
                unregistered_sample=[] if ok else ["SEP000000000001"],
            )

        @activity.defn(name="registered_phones")
        async def registered_phones(req: RegisteredPhonesRequest) -> RegisteredPhones:
            s.calls.append(("registered_phones", req))
            by_node: dict[str, list[str]] = {}
            for i, fqdn in enumerate(FQDNS[:3]):
                if req.nodes and fqdn not in req.nodes:
                    continue
                by_node[fqdn] = sorted(
                    f"SEP{protocol}{i}{n:02d}"
                    for protocol, count in s.phones_per_node.items()
                    if req.protocol in ("Any", protocol)
                    for n in range(count)
                )
            if s.names().count("registered_phones") > 1 and FQDNS[0] in by_node:
                by_node[FQDNS[0]] = sorted([*by_node[FQDNS[0]], *s.late_phones])
            return RegisteredPhones(
                taken_at=activity.info().current_attempt_scheduled_time, by_node=by_node
            )

        @activity.defn(name="reset_phones")
        async def reset_phones(req: PhoneResetRequest) -> PhoneResetResult:
            s.calls.append(("reset_phones", req))
            return PhoneResetResult(requested=len(req.names), reset=len(req.names))

        @activity.defn(name="reset_phone_batch")
        async def reset_phone_batch(req: PhoneBatchRequest) -> PhoneBatchResult:
            s.calls.append(("reset_phone_batch", req))
            names = sorted(
                f"SEP{protocol}{i}{n:02d}"
                for i in range(3)
                for protocol, count in s.phones_per_node.items()
                for n in range(count)
            )
            if req.candidates:
                names = sorted(set([*names, *s.late_phones]) & set(req.candidates))
            after = [n for n in names if n > req.after]
            chosen = after[: req.size]
            last_batch = len(after) <= req.size
            return PhoneBatchResult(
                requested=len(chosen),
                reset=len(chosen),
                last=chosen[-1] if chosen else "",
                more=not last_batch,
                skipped=list(s.late_phones) if last_batch and not req.candidates else [],
                registered=s.registered,
                per_node={FQDNS[1]: 120, FQDNS[2]: s.registered - 120},
                sample=chosen[:3],
            )

        @activity.defn(name="ctl_update")
        async def ctl_update(ref: ClusterRef) -> CtlResult:
            s.calls.append(("ctl_update", ref))
            attempt = activity.info().attempt
            if s.ctl_current:
                return CtlResult(
                    updated=False, already_done=True, attempt=attempt, detail="CTL lists it"
                )
            s.ctl_current = True
            lost("ctl_update")
            return CtlResult(updated=True, attempt=attempt, detail="CTL file Updated")

        @activity.defn(name="find_other_renewals")
        async def find_other_renewals(req: OtherRenewalsRequest) -> OtherRenewalsResult:
            s.calls.append(("find_other_renewals", req))
            return OtherRenewalsResult(change_ids=s.other_renewals, leftovers=s.leftover_changes)

        def lost(key: str) -> None:
            """The effect is applied: a listed first attempt now dies without answering."""
            every = f"{key}!" in s.lost_responses
            if every or (key in s.lost_responses and activity.info().attempt == 1):
                raise ApplicationError(f"{key}: the worker died after the effect", type="Lost")

        @activity.defn(name="cluster_lock_holder")
        async def cluster_lock_holder(req: LockHolderRequest) -> LockHolder:
            s.calls.append(("cluster_lock_holder", req))
            return LockHolder(change_id=s.lock_holder, cluster="lab" if s.lock_holder else "")

        @activity.defn(name="release_cluster_lock")
        async def release_cluster_lock(req: LockReleaseRequest) -> bool:
            # Temporal is not the far end: the real release, through the worker's client (not
            # a call on the cluster, so not recorded).
            return await RegistryActivities(activity.client()).release_cluster_lock(req)

        @activity.defn(name="disable_sso")
        async def disable_sso(ref: ClusterRef) -> SsoResult:
            s.calls.append(("disable_sso", ref))
            if s.sso_disabled_meanwhile:
                s.sso_enabled = False
            was = s.sso_enabled
            s.sso_enabled = False
            lost("disable_sso")
            return SsoResult(
                was_enabled=was,
                enabled=False,
                changed=was,
                detail="disabled SAML SSO" if was else "SSO was already disabled",
                attempt=activity.info().attempt,
            )

        @activity.defn(name="sso_status")
        async def sso_status(ref: ClusterRef) -> SsoResult:
            s.calls.append(("sso_status", ref))
            return SsoResult(was_enabled=s.sso_enabled, enabled=s.sso_enabled)

        @activity.defn(name="generate_csr")
        async def generate_csr(req: CsrRequest) -> CsrResult:
            s.calls.append(("generate_csr", req))
            exported = [f.split(".")[0] for f in FQDNS]
            return CsrResult(
                csr_pem=CSR_PEM,
                info=CsrInfo(
                    subject_cn=s.csr_cn,
                    san_dns=FQDNS,
                    key_type="RSA",
                    key_size=2048,
                    public_key_sha256="k",
                    pem="csr",
                ),
                exported_nodes=exported,
            )

        @activity.defn(name="submit_csr")
        async def submit_csr(req: CaSubmitRequest) -> CaSubmission:
            s.calls.append(("submit_csr", req))
            if s.ca_pending_until is not None:
                return CaSubmission(status="pending", request_ref="7", message="pending")
            return CaSubmission(
                status="issued", request_ref="42", certificate_pem=GOOD_PEM, chain_pem=ROOT_PEM
            )

        @activity.defn(name="await_certificate")
        async def await_certificate(req: CaPollRequest) -> CaSubmission:
            s.calls.append(("await_certificate", req))
            s.polls += 1
            info = activity.info()
            assert s.ca_pending_until is not None
            if info.current_attempt_scheduled_time < s.ca_pending_until:
                raise ApplicationError(
                    "still pending",
                    type="CaPending",
                    category=ApplicationErrorCategory.BENIGN,
                    next_retry_delay=timedelta(seconds=req.poll_seconds),
                )
            if s.ca_denies:
                raise ApplicationError(
                    "denied by the CA admin", type="CaRequestDenied", non_retryable=True
                )
            return CaSubmission(
                status="issued", request_ref="7", certificate_pem=GOOD_PEM, chain_pem=ROOT_PEM
            )

        @activity.defn(name="check_pending_csr")
        async def check_pending_csr(req: PendingCsrRequest) -> PendingCsrResult:
            s.calls.append(("check_pending_csr", req))
            if s.stale_checks > 0:
                s.stale_checks -= 1
                return PendingCsrResult(matches=False, detail="a new CSR was generated on the box")
            return PendingCsrResult(matches=True)

        @activity.defn(name="validate_certificate")
        async def validate_certificate(req: ValidateRequest) -> ValidationReport:
            s.calls.append(("validate_certificate", req))
            if req.certificate_pem == BAD_PEM:
                return ValidationReport(
                    ok=False,
                    problems=[
                        ValidationProblem(
                            code="san-missing",
                            message="the certificate does not name imp-pub.lab.example.com",
                        )
                    ],
                )
            leaf = cert_info(GOOD_PEM, "abcd", req.now + timedelta(days=365), FQDNS)
            root = cert_info(ROOT_PEM, "0001", req.now + timedelta(days=3650), [])
            return ValidationReport(ok=True, leaf=leaf, chain=[leaf, root])

        @activity.defn(name="trust_presence")
        async def trust_presence(req: TrustUploadRequest) -> TrustPresence:
            s.calls.append(("trust_presence", req))
            store = s.trust_stores.get(req.purpose, set())
            return TrustPresence(
                missing=[] if "root" in store else ["root"],
                present=["root"] if "root" in store else [],
            )

        @activity.defn(name="upload_trust")
        async def upload_trust(req: TrustUploadRequest) -> TrustUploadResult:
            s.calls.append(("upload_trust", req))
            store = s.trust_stores.setdefault(req.purpose, set())
            if "root" in store:
                return TrustUploadResult(skipped=["root"], attempt=activity.info().attempt)
            store.add("root")
            lost("upload_trust")
            return TrustUploadResult(uploaded=["root"], attempt=activity.info().attempt)

        @activity.defn(name="upload_certificate")
        async def upload_certificate(req: CertUploadRequest) -> CertUploadResult:
            s.calls.append(("upload_certificate", req))
            nodes = [f.split(".")[0] for f in FQDNS]
            attempt = activity.info().attempt
            if req.purpose in s.installed:
                return CertUploadResult(
                    installed_nodes=nodes,
                    already_installed=True,
                    message="already installed",
                    attempt=attempt,
                )
            if "upload_certificate" in s.lost_responses or s.upload_fails_after_effect:
                s.installed.add(req.purpose)
            lost("upload_certificate")
            if s.upload_fails_after_effect:
                raise ApplicationError(
                    "the read-back of the upload failed",
                    type="UploadIncomplete",
                    non_retryable=True,
                )
            return CertUploadResult(installed_nodes=nodes, message="uploaded", attempt=attempt)

        @activity.defn(name="restart_service")
        async def restart_service(req: RestartRequest) -> RestartResult:
            s.calls.append(("restart_service", req))
            done = (req.node, req.service) in s.restarted_unanswered
            if done and req.node not in s.restart_fails_on:
                return RestartResult(
                    node=req.node,
                    service=req.service,
                    already_done=True,
                    attempt=activity.info().attempt,
                )
            s.in_flight += 1
            s.max_in_flight = max(s.max_in_flight, s.in_flight)
            s.restart_events.append(("start", req.node))
            try:
                for _ in range(1000 if req.node in s.restart_barrier else 0):
                    started = {n for e, n in s.restart_events if e == "start"}
                    if s.restart_barrier <= started:
                        break
                    await asyncio.sleep(0.01)
            finally:
                s.in_flight -= 1
                s.restart_events.append(("end", req.node))
            if s.fail_restart_at and s.names().count("restart_service") >= s.fail_restart_at:
                raise ApplicationError(
                    f"{req.service} did not start on {req.node}",
                    type="RestartFailed",
                    non_retryable=True,
                )
            if f"restart_service@{req.node}" in s.lost_responses:
                s.restarted_unanswered.add((req.node, req.service))
                lost(f"restart_service@{req.node}")
            if req.node in s.restart_fails_on:
                raise ApplicationError(
                    f"{req.service} on {req.node} ended NOTRUNNING",
                    type="ServiceNotStarted",
                    non_retryable=True,
                )
            return RestartResult(
                node=req.node,
                service=req.service,
                answered_by=s.answered_by.get(req.node, req.node.split(".")[0]),
            )

        @activity.defn(name="regenerate_certificate")
        async def regenerate_certificate(req: RegenerateRequest) -> RegenerateResult:
            s.calls.append(("regenerate_certificate", req))
            return RegenerateResult(
                node=req.node, purpose=req.purpose, detail=f"{req.node}: regenerated"
            )

        @activity.defn(name="verify_node")
        async def verify_node(req: VerifyRequest) -> VerifyResult:
            s.calls.append(("verify_node", req))
            if req.node in s.verify_fails_on:
                raise ApplicationError(
                    f"{req.node}:443 (tomcat) serves serial 01, not the uploaded certificate",
                    type="VerifyFailed",
                    non_retryable=True,
                )
            return VerifyResult(
                node=req.node,
                port=req.port,
                served_fingerprint="fp-abcd",
                served_serial="abcd",
                fqdn_in_san=True,
                chain_valid=True,
                ok=True,
                answered_by=s.verified_by.get(req.node, req.node.split(".")[0]),
            )

        @activity.defn(name="settle_trust")
        async def settle_trust(req: TrustSettleRequest) -> TrustSettleResult:
            s.calls.append(("settle_trust", req))
            if s.settle_fails:
                raise ApplicationError(
                    "trust dir not writable", type="TrustNotSettled", non_retryable=True
                )
            return TrustSettleResult(trust_file="trust/lab.pem", kept=["CN=root"])

        @activity.defn(name="find_leftover_certificates")
        async def find_leftover_certificates(req: LeftoverRequest) -> LeftoverResult:
            s.calls.append(("find_leftover_certificates", req))
            if s.leftovers_fail:
                raise ApplicationError(
                    "trust list failed with HTTP 503", type="CucmHttpError", non_retryable=True
                )
            return s.leftovers

        @activity.defn(name="remove_leftover_certificates")
        async def remove_leftover_certificates(
            req: LeftoverRemovalRequest,
        ) -> LeftoverRemovalResult:
            s.calls.append(("remove_leftover_certificates", req))
            if "remove_leftover_certificates" in s.lost_responses:
                lost("remove_leftover_certificates")  # deleted; the retry lists them gone
                return LeftoverRemovalResult(
                    already_gone=req.approved, attempt=activity.info().attempt
                )
            return s.removal or LeftoverRemovalResult(removed=req.approved)

        @activity.defn(name="assess_cluster")
        async def assess_cluster(ref: AssessRequest) -> ClusterAssessment:
            s.calls.append(("assess_cluster", ref))
            nodes = []
            for fqdn, product, _ in NODES:
                state = NodeCertState(node=fqdn, served_serial="01" + fqdn[:4])
                for p in ref.purposes:
                    if p != "tomcat" and product in catalog.purpose(p).san_products:
                        state.served_by_purpose[p] = f"02{p[:2].lower()}{fqdn[:4]}"
                nodes.append(state)
            return ClusterAssessment(nodes=nodes, sso_enabled=s.sso_enabled)

        return [
            load_change_policy,
            check_change_record,
            write_back_outcome,
            registration_snapshot,
            wait_for_registrations,
            registered_phones,
            reset_phones,
            reset_phone_batch,
            ctl_update,
            discover_cluster,
            find_other_renewals,
            cluster_lock_holder,
            release_cluster_lock,
            disable_sso,
            sso_status,
            generate_csr,
            submit_csr,
            await_certificate,
            check_pending_csr,
            validate_certificate,
            trust_presence,
            upload_trust,
            upload_certificate,
            restart_service,
            regenerate_certificate,
            verify_node,
            settle_trust,
            assess_cluster,
            find_leftover_certificates,
            remove_leftover_certificates,
        ]


WRITES = {
    "disable_sso",
    "generate_csr",
    "upload_trust",
    "upload_certificate",
    "restart_service",
    "regenerate_certificate",
}
