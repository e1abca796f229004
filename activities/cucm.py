"""CUCM activities: thin Temporal adapters over the CUCM clients.

Each activity resolves the cluster from the inventory (credentials by reference, resolved
here and nowhere else), does one step and reads back what it changed, mostly through client
code that does both, heartbeats while the step waits, and lets ``activities.errors``
translate client errors once.

Slightly over 600 lines on purpose: it is one adapter per CUCM step (about 25), each a few
lines over the shared inventory, endpoint and credential resolution of ``CucmActivities``;
the steps' logic lives in ``activities/clients/cucm/``.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from temporalio import activity

from activities import catalog, metrics
from activities.clients import pki
from activities.clients.cucm import (
    certificates,
    inferred,
    phone_resets,
    purpose_certs,
    registrations,
    sso,
)
from activities.clients.cucm.backoff import Backoff, Retrying
from activities.clients.cucm.cli import CucmCli
from activities.clients.cucm.discovery import discover, endpoint
from activities.clients.cucm.discovery import registration_snapshot as summarize_registrations
from activities.clients.cucm.errors import (
    CucmCliError,
    CucmError,
    CucmLoginPageError,
    CucmResponseLost,
    CucmStaleCsr,
)
from activities.clients.cucm.identity import confirm_identity, confirm_in_session
from activities.clients.cucm.node_certs import open_node
from activities.clients.cucm.phone_resets import ResetProgress
from activities.clients.cucm.platform_admin import PlatformAdminClient
from activities.clients.cucm.purpose_certs import probe_purpose
from activities.clients.cucm.restarts import ServiceRestart
from activities.clients.cucm.risport import RisPortClient
from activities.clients.cucm.tls import TlsProbeResult, probe_tls
from activities.clients.cucm.transport import NodeEndpoint, credentials
from activities.clients.cucm.webadmin import admin_login_path, fetch_login_page
from activities.clients.inventory import ClusterEntry, Inventory, NodeEntry, load_inventory_async
from activities.clients.trust_store import ClusterTrust, TrustFile
from activities.cluster_models import (
    AssessRequest,
    CertUploadRequest,
    CertUploadResult,
    ChangePolicy,
    ClusterAssessment,
    ClusterRef,
    ClusterSnapshot,
    CsrRequest,
    CsrResult,
    CtlResult,
    DiscoverRequest,
    ItsmPolicy,
    LeftoverRequest,
    LeftoverResult,
    NodeCertState,
    PendingCsrRequest,
    PendingCsrResult,
    PhoneBatchRequest,
    PhoneBatchResult,
    PhoneResetRequest,
    PhoneResetResult,
    Purpose,
    RegenerateRequest,
    RegenerateResult,
    RegisteredPhones,
    RegisteredPhonesRequest,
    RegistrationGateRequest,
    RegistrationGateResult,
    RegistrationSnapshot,
    RestartRequest,
    RestartResult,
    SsoResult,
    TrustPresence,
    TrustSettleResult,
    TrustUploadRequest,
    TrustUploadResult,
    VerifyRequest,
    VerifyResult,
)
from activities.errors import StepError, translated
from activities.heartbeats import heartbeating
from activities.trust import record_chain


def _reset_progress(details: Sequence[Any]) -> ResetProgress:
    """The progress a previous ``reset_phones`` attempt heartbeated, or a fresh start."""
    if not details:
        return ResetProgress()
    try:
        return ResetProgress.model_validate(details[0])
    except ValidationError:
        activity.logger.warning("reset_phones: unreadable heartbeat details, starting over")
        return ResetProgress()


def _batch_progress(details: Sequence[Any]) -> phone_resets.BatchProgress:
    """What a previous ``reset_phone_batch`` attempt heartbeated, or a fresh start."""
    if not details:
        return phone_resets.BatchProgress()
    try:
        return phone_resets.BatchProgress.model_validate(details[0])
    except ValidationError:
        activity.logger.warning("reset_phone_batch: unreadable heartbeat details, selecting again")
        return phone_resets.BatchProgress()


def csr_misses(exported: Sequence[str], expected: Sequence[str]) -> list[str]:
    """The nodes of ``expected`` a CSR's export did not reach (FQDNs compared as host names,
    case-insensitive, as CUCM's banner may name them either way)."""
    reached = {n.lower() for n in exported} | {n.split(".")[0].lower() for n in exported}
    return [
        n for n in expected if n.lower() not in reached and n.split(".")[0].lower() not in reached
    ]


class CucmActivities:
    """Activities that act on CUCM / IM&P clusters of the inventory."""

    def __init__(
        self,
        inventory_loader: Callable[[], Path],
        trusted_roots: Callable[[], Sequence[str]] = lambda: (),
        trust_store: ClusterTrust | None = None,
        backoff: Backoff | None = None,
    ) -> None:
        """Args:
        inventory_loader: Returns the inventory path (read at each call: edits apply).
        trusted_roots: CA roots (PEM) to trust for the nodes' TLS besides the inventory's.
        trust_store: The per-cluster trust files every worker shares: every client trusts
            them, and a certificate upload records its chain there.
        backoff: How reads that report rather than raise (discovery) retry a transient
            fault; the default :class:`Backoff` when None.
        """
        self._inventory_path = inventory_loader
        self._trusted_roots = trusted_roots
        self._trust = trust_store
        self._backoff = backoff or Backoff()

    # -- helpers ------------------------------------------------------------------------

    async def _cluster(self, ref: ClusterRef) -> tuple[Inventory, ClusterEntry]:
        inventory = await load_inventory_async(self._inventory_path())
        return inventory, inventory.cluster(ref.cluster)

    def _roots(self, ref: ClusterRef) -> list[str]:
        return [*self._trusted_roots(), *ref.extra_roots_pem]

    def _files(self, cluster: str) -> tuple[TrustFile, ...]:
        return self._trust.files(cluster) if self._trust is not None else ()

    def _endpoint(self, ref: ClusterRef, cluster: ClusterEntry, node: str) -> NodeEndpoint:
        return endpoint(cluster, cluster.node(node), self._roots(ref), self._files(cluster.name))

    def _csr_node(self, cluster: ClusterEntry, purpose: Purpose, node: str | None) -> str:
        """Where a CSR is generated and its certificate uploaded: ``node`` (per node), else
        the purpose's publisher."""
        return cluster.node(node).fqdn if node else self._publisher(cluster, purpose)

    @staticmethod
    def _publisher(cluster: ClusterEntry, purpose: Purpose) -> str:
        """FQDN of the publisher of the product that carries ``purpose``."""
        product = catalog.purpose(purpose).csr_product
        if product == "cucm":
            return cluster.publisher_node.fqdn
        for node in cluster.nodes:
            if node.product == product and node.role == "publisher":
                return node.fqdn
        raise StepError(
            f"cluster {cluster.name} has no IM and Presence publisher in the inventory, "
            f"so its {purpose} certificate cannot be managed",
            error_type="NoPublisherForPurpose",
        )

    # -- discovery and SSO --------------------------------------------------------------

    @activity.defn(name="discover_cluster")
    @translated
    async def discover_cluster(self, ref: DiscoverRequest) -> ClusterSnapshot:
        """Nodes, version, services, SSO, security mode, DB replication, the certificates of
        the change's purposes (served and installed) on the nodes of their SAN, and each
        node's pre-change health (clock, disks, core files) and the DRS backups.

        Heartbeats while it runs: the CLI commands of every node take a while on a real cluster.

        A probe's transient fault (HTTP 5xx, SOAP fault, throttle, no answer) is retried as
        the worker's :class:`Backoff` says, waiting what the node asks (``Retry-After``), for
        at most half the attempt's start-to-close timeout, so a fault that persists is still
        reported in the snapshot (with how often it was tried) before the attempt times out.
        """
        inventory, _ = await self._cluster(ref)
        async with heartbeating([f"discovering cluster {ref.cluster}"]):
            return await discover(
                inventory,
                ref.cluster,
                self._roots(ref),
                self._files(ref.cluster),
                purposes=ref.purposes,
                retrying=self._retrying(),
            )

    def _retrying(self) -> Retrying:
        """The worker's back-off, bounded by half of this attempt's start-to-close timeout."""
        timeout = activity.info().start_to_close_timeout
        if not timeout:
            return Retrying(self._backoff)
        return Retrying(self._backoff, self._backoff.clock() + timeout.total_seconds() / 2)

    @activity.defn(name="disable_sso")
    @translated
    async def disable_sso(self, ref: ClusterRef) -> SsoResult:
        """``utils sso disable`` on the publisher, when SSO is enabled (idempotent)."""
        inventory, cluster = await self._cluster(ref)
        ep = self._endpoint(ref, cluster, cluster.publisher)
        async with heartbeating([f"utils sso disable on {cluster.publisher}"]):
            result = await sso.disable_sso(ep, credentials(inventory, cluster, "os_admin"))
        result.attempt = activity.info().attempt
        if result.enabled:
            raise StepError(
                f"SSO is still enabled on {cluster.publisher} after utils sso disable",
                error_type="SsoDisableFailed",
                retryable=True,
            )
        return result

    @activity.defn(name="sso_status")
    @translated
    async def sso_status(self, ref: ClusterRef) -> SsoResult:
        """``utils sso status`` on the publisher."""
        inventory, cluster = await self._cluster(ref)
        ep = self._endpoint(ref, cluster, cluster.publisher)
        async with (
            heartbeating([f"utils sso status on {cluster.publisher}"]),
            CucmCli(ep, credentials(inventory, cluster, "os_admin")) as shell,
        ):
            status = await shell.sso_status()
        return SsoResult(was_enabled=status.enabled, enabled=status.enabled)

    # -- CSR and uploads ----------------------------------------------------------------

    @activity.defn(name="generate_csr")
    @translated
    async def generate_csr(self, req: CsrRequest) -> CsrResult:
        """A CSR over the path's CSR interface (a retry simply generates a fresh one).

        Multi-server: on the purpose's publisher (tomcat and CallManager: the CUCM publisher;
        cup-xmpp(-s2s): the IM&P publisher). Per node: on ``req.node``, for that node only. The
        key is the purpose's (EC for tomcat-ECDSA and CallManager-ECDSA, 256 bits unless 384
        is asked for) unless the request names one.
        """
        inventory, cluster = await self._cluster(req)
        fqdn = self._csr_node(cluster, req.purpose, req.node)
        ep = self._endpoint(req, cluster, fqdn)
        auth = credentials(inventory, cluster, "os_admin")
        # The CSR names the cluster's nodes: it must be made on the node meant, nowhere else.
        await confirm_identity(ep, auth)
        key_type = req.key_type or catalog.purpose(req.purpose).csr_key_type
        key_length = req.key_length
        if key_type == "ec" and key_length not in catalog.EC_KEY_LENGTHS:
            key_length = catalog.EC_KEY_LENGTHS[0]
        async with (
            heartbeating([f"generating the {req.purpose} CSR on {fqdn}"]),
            open_node(req.path.csr, ep, auth) as node,
        ):
            result = await node.generate_csr(
                req.purpose,
                multi_server=req.node is None,
                key_type=key_type,
                key_length=key_length,
                hash_algorithm=req.hash_algorithm,
                alt_names=req.other_domains,
            )
        exported = [cluster.canonical(n) for n in result.exported_nodes]
        missing = csr_misses(exported, req.expected_nodes)
        if missing:
            # A node that was briefly unreachable missed the export: a fresh CSR, generated
            # again by the next attempt, reaches it (the pending one is simply replaced).
            raise StepError(
                f"the CSR generated on {fqdn} did not reach " + ", ".join(missing) + " "
                f"(attempt {activity.info().attempt}; reached: {', '.join(exported) or 'none'}); "
                "check Cisco Tomcat and Platform Administrative Web Service on them",
                error_type="CsrExportPartial",
                retryable=True,
            )
        return CsrResult(
            csr_pem=result.csr_pem,
            info=pki.csr_info(result.csr_pem),
            exported_nodes=exported,
            message=result.message,
        )

    @activity.defn(name="check_pending_csr")
    @translated
    async def check_pending_csr(self, req: PendingCsrRequest) -> PendingCsrResult:
        """Compare the CSR that was signed with the one pending where it was generated."""
        inventory, cluster = await self._cluster(req)
        fqdn = self._csr_node(cluster, req.purpose, req.node)
        ep = self._endpoint(req, cluster, fqdn)
        auth = credentials(inventory, cluster, "os_admin")
        async with (
            heartbeating([f"reading the {req.purpose} CSR pending on {fqdn}"]),
            open_node(req.path.csr, ep, auth) as node,
        ):
            return await certificates.pending_csr(node, fqdn, req.purpose, req.csr_pem)

    @activity.defn(name="trust_presence")
    @translated
    async def trust_presence(self, req: TrustUploadRequest) -> TrustPresence:
        """Which CA certificates of ``req`` the purpose's trust store lacks (read only): what
        the renewal records as its intent before :meth:`upload_trust`."""
        inventory, cluster = await self._cluster(req)
        ep = self._endpoint(req, cluster, self._publisher(cluster, req.purpose))
        auth = credentials(inventory, cluster, "os_admin")
        service = catalog.purpose(req.purpose).trust_service
        async with open_node(req.path.readback, ep, auth) as reader:
            return await certificates.trust_presence(reader, service, req.ca_pems)

    @activity.defn(name="upload_trust")
    @translated
    async def upload_trust(self, req: TrustUploadRequest) -> TrustUploadResult:
        """Upload CA certificates root first, skipping those already in the trust store."""
        inventory, cluster = await self._cluster(req)
        ep = self._endpoint(req, cluster, self._publisher(cluster, req.purpose))
        auth = credentials(inventory, cluster, "os_admin")
        path = req.path
        # ECDSA purposes share their RSA twin's trust store (tomcat-ECDSA → tomcat-trust).
        service = catalog.purpose(req.purpose).trust_service
        async with (
            heartbeating([f"uploading {service} certificates on {ep.fqdn}"]),
            open_node(path.readback, ep, auth) as reader,
        ):
            if path.trust == path.readback:
                result = await certificates.upload_missing_trust(
                    reader, reader, service, req.ca_pems
                )
            else:
                async with open_node(path.trust, ep, auth) as uploader:
                    result = await certificates.upload_missing_trust(
                        reader, uploader, service, req.ca_pems
                    )
        result.attempt = activity.info().attempt
        return result

    @activity.defn(name="upload_certificate")
    @translated
    async def upload_certificate(self, req: CertUploadRequest) -> CertUploadResult:
        """Upload the signed certificate where its CSR is pending (the purpose's publisher,
        or ``req.node`` on a per-node path); verify every expected node got it (the installed
        identity of that purpose, read back node by node).

        Idempotent: the nodes are read back first, and again after a lost response or a
        stale-CSR refusal (which is also what a successful earlier attempt causes).

        As soon as a node holds the certificate, the chain's CA certificates join the
        cluster's trust store: the node serves it from its next restart, whether or not the
        renewal gets that far.

        Heartbeats while it runs: a worker that dies mid-upload is noticed within the heartbeat
        timeout, and the next attempt reads the nodes back before it uploads again.
        """
        async with heartbeating([f"uploading the {req.purpose} certificate"]):
            return await self._upload_certificate(req)

    async def _upload_certificate(self, req: CertUploadRequest) -> CertUploadResult:
        inventory, cluster = await self._cluster(req)
        auth = credentials(inventory, cluster, "os_admin")
        fingerprint = pki.certificate_info(req.certificate_pem).sha256_fingerprint
        path = req.path

        async def installed_on() -> list[str]:
            async def has(fqdn: str) -> bool:
                ep = self._endpoint(req, cluster, fqdn)
                async with open_node(path.readback, ep, auth) as node:
                    pem = await node.get_identity(req.purpose)
                return pki.certificate_info(pem).sha256_fingerprint == fingerprint

            found = await asyncio.gather(*(has(n) for n in req.expected_nodes))
            return [n for n, ok in zip(req.expected_nodes, found, strict=True) if ok]

        before = await installed_on()
        if len(before) == len(req.expected_nodes):
            trusted = await self._record_chain(cluster, req)
            return CertUploadResult(
                installed_nodes=before,
                already_installed=True,
                message="already installed",
                trust_file=trusted.trust_file,
                trust_added=trusted.added,
                attempt=activity.info().attempt,
            )
        target = self._csr_node(cluster, req.purpose, req.node)
        ep = self._endpoint(req, cluster, target)
        await confirm_identity(ep, auth)  # the CA may have taken days: ask again
        try:
            async with open_node(path.identity, ep, auth) as node:
                uploaded = await node.upload_identity(
                    req.purpose, [req.certificate_pem, *req.chain_pems]
                )
            installed = uploaded.installed_nodes
            message = uploaded.message
        except (CucmResponseLost, CucmStaleCsr) as exc:
            now_on = await installed_on()
            if not now_on and isinstance(exc, CucmStaleCsr):
                raise StepError(
                    f"the CSR pending on {target} no longer matches the signed certificate "
                    "(a new CSR was generated on the cluster meanwhile): regenerate the CSR and "
                    f"have it signed again, or abort the change. CUCM said: {exc}",
                    error_type="CsrNoLongerPending",
                ) from None
            if not now_on:
                raise
            installed, message = now_on, f"read back after: {exc}"
        trusted = await self._record_chain(cluster, req) if installed else TrustSettleResult()
        on = {cluster.canonical(i) for i in installed}
        missing = [n for n in req.expected_nodes if cluster.canonical(n) not in on]
        if missing:
            raise StepError(
                "the certificate upload did not reach "
                + ", ".join(missing)
                + " (installed on "
                + (", ".join(installed) or "no node")
                + "); check Cisco Tomcat and Platform "
                "Administrative Web Service on the missing nodes",
                error_type="UploadIncomplete",
            )
        return CertUploadResult(
            installed_nodes=installed,
            message=message,
            trust_file=trusted.trust_file,
            trust_added=trusted.added,
            attempt=activity.info().attempt,
        )

    async def _record_chain(
        self, cluster: ClusterEntry, req: CertUploadRequest
    ) -> TrustSettleResult:
        """Trust the uploaded chain's CA certificates for the cluster (idempotent)."""
        if self._trust is None:
            return TrustSettleResult()
        return await record_chain(self._trust, cluster.name, req.purpose, req.chain_pems)

    # -- restarts and verification ------------------------------------------------------

    @activity.defn(name="restart_service")
    @translated
    async def restart_service(self, req: RestartRequest) -> RestartResult:
        """Restart a service and wait until it serves again.

        Cisco Tomcat restarts over SSH (the documented way; Control Center is served by
        Tomcat) and the step then waits for HTTPS; other services restart through Control
        Center and the step waits until their start time proves the restart. A restart already
        done after ``req.not_before`` (a retried attempt) is not repeated.

        First the node at the inventory address must say it is ``req.node`` (its host name,
        and the SSH host key discovery pinned): another node is never restarted in its name.
        """
        inventory, cluster = await self._cluster(req)
        t0 = time.monotonic()
        progress: list[object] = [f"checking {req.service} on {req.node}"]
        ep = self._endpoint(req, cluster, req.node)
        async with heartbeating(progress):
            identity = await confirm_identity(
                ep, credentials(inventory, cluster, "os_admin"), req.expected_host_key
            )
        restart = ServiceRestart(
            ep,
            req.service,
            app_user=credentials(inventory, cluster, "app_user"),
            os_admin=credentials(inventory, cluster, "os_admin"),
            not_before=req.not_before,
            timeout=req.timeout_seconds,
            poll_interval=req.poll_seconds,
            progress=progress.append,
        )
        async with heartbeating(progress):
            already = await restart.run()
        return RestartResult(
            node=req.node,
            service=req.service,
            already_done=already,
            seconds=time.monotonic() - t0,
            answered_by=identity.hostname,
            attempt=activity.info().attempt,
        )

    @activity.defn(name="verify_node")
    @translated
    async def verify_node(self, req: VerifyRequest) -> VerifyResult:
        """TLS handshake on the purpose's own service: the served leaf is the uploaded one,
        names the node, and verifies; for tomcat, then the node's administration login page
        (/ccmadmin/, /cupadmin/ on IM&P) over that verified certificate, as the procedure's
        last step has an administrator check in a browser.

        tomcat: HTTPS; CallManager: SIP TLS (CUCM nodes); cup-xmpp: XMPP client-to-server,
        cup-xmpp-s2s: server-to-server, both after STARTTLS (IM&P nodes); tomcat-ECDSA and
        CallManager-ECDSA: HTTPS and SIP TLS through a handshake that offers ECDSA only.
        ``port`` 0 means the purpose's port from the inventory. First the node at the
        inventory address must say it is ``req.node`` (host name, pinned SSH host key).
        """
        async with heartbeating([f"verifying {req.purpose} on {req.node}"]):
            inventory, cluster = await self._cluster(req)
            node = cluster.node(req.node)
            ep = self._endpoint(req, cluster, req.node)
            # One multi-server certificate verifies on every node: only the node says who it is.
            identity = await confirm_identity(
                ep, credentials(inventory, cluster, "os_admin"), req.expected_host_key
            )
            port, probe = await self._probe_purpose(cluster, node, ep, req.purpose, req.port)
            fqdn_in_san = req.node.lower() in {s.lower() for s in probe.san_dns}
            result = VerifyResult(
                node=req.node,
                port=port,
                served_fingerprint=probe.fingerprint_sha256,
                served_serial=probe.serial,
                fqdn_in_san=fqdn_in_san,
                chain_valid=probe.chain_verified,
                ok=probe.fingerprint_sha256 == req.expected_fingerprint
                and fqdn_in_san
                and probe.verified,
                detail=probe.verify_error or "",
                answered_by=identity.hostname,
            )
            if not result.ok:
                why = []
                if probe.fingerprint_sha256 != req.expected_fingerprint:
                    why.append(f"serves serial {probe.serial}, not the uploaded certificate")
                if not fqdn_in_san:
                    why.append(f"{req.node} is not in the served certificate's SANs")
                if not probe.verified:
                    code, reason = probe.verify_code or 0, probe.verify_error or ""
                    why.append(ep.untrusted(port, code, reason).detail)
                raise StepError(
                    f"{req.node}:{port} ({req.purpose}) " + "; ".join(why),
                    error_type="VerifyFailed",
                    retryable=True,
                )
            spec = catalog.purpose(req.purpose)
            # A browser (and the login page check) gets the RSA tomcat certificate: tomcat-ECDSA
            # is verified by its ECDSA-only handshake alone.
            if spec.listener == "https" and spec.key_type == "RSA":
                result.login_page = await self._check_login_page(node, ep, port, req)
            return result

    @staticmethod
    async def _check_login_page(
        node: NodeEntry, ep: NodeEndpoint, port: int, req: VerifyRequest
    ) -> str:
        """The procedure's last step: the node's administration page answers with its login
        page, over a verified connection that presents the uploaded certificate."""
        path = admin_login_path(node.product)
        try:
            page = await fetch_login_page(ep, port, path)
        except CucmLoginPageError as exc:
            why = str(exc).removeprefix(f"{exc.node}: ")
            raise StepError(
                f"{req.node}:{port} serves the new certificate, but {why}; check Cisco Tomcat "
                "and the web applications on the node (a browser shows the same)",
                error_type="VerifyFailed",
                retryable=True,
            ) from None
        served = page.served_fingerprint
        if served is not None and served != req.expected_fingerprint:
            raise StepError(
                f"{req.node}:{port} answered {page.path} over a certificate other than the "
                f"uploaded one (SHA-256 {served[:16]}…)",
                error_type="VerifyFailed",
                retryable=True,
            )
        return f"{page.path} ({page.title or 'login page'})"

    @staticmethod
    async def _probe_purpose(
        cluster: ClusterEntry, node: NodeEntry, ep: NodeEndpoint, purpose: Purpose, port: int
    ) -> tuple[int, TlsProbeResult]:
        """Probe the service that serves ``purpose`` on ``node``: (port, what it served)."""
        if node.product not in catalog.purpose(purpose).san_products:
            raise StepError(
                f"{node.fqdn} is a {node.product} node: it does not serve the {purpose} "
                "certificate",
                error_type="PurposeNotServed",
            )
        return await probe_purpose(cluster, node, ep, purpose, port)

    # -- phones, CTL and change policy -------------------------------------------------

    @activity.defn(name="registration_snapshot")
    @translated
    async def registration_snapshot(self, ref: ClusterRef) -> RegistrationSnapshot:
        """Phone registrations of the cluster now (RisPort70 on the CUCM publisher)."""
        inventory, cluster = await self._cluster(ref)
        ep = self._endpoint(ref, cluster, cluster.publisher)
        async with RisPortClient(ep, credentials(inventory, cluster, "app_user")) as ris:
            return summarize_registrations(await ris.registration_summary(), cluster)

    @activity.defn(name="registered_phones")
    @translated
    async def registered_phones(self, req: RegisteredPhonesRequest) -> RegisteredPhones:
        """Which phones each node holds now (RisPort70 on the CUCM publisher).

        Only ``Registered`` records count, under the inventory FQDN of the node RisPort names.
        Every node of ``req.nodes`` is listed, even with no phone; without ``req.nodes`` every
        CUCM node of the inventory is, and any other node RisPort reports.
        """
        inventory, cluster = await self._cluster(req)
        return await registrations.registered_phones(
            self._endpoint(req, cluster, cluster.publisher),
            credentials(inventory, cluster, "app_user"),
            cluster,
            nodes=req.nodes,
            protocol=req.protocol,
        )

    @activity.defn(name="reset_phones")
    @translated
    async def reset_phones(self, req: PhoneResetRequest) -> PhoneResetResult:
        """Reset phones through AXL doDeviceReset on the CUCM publisher.

        Requests go out in list order, at most ``req.concurrency`` at a time. Names AXL does
        not know end up in ``not_found``; AXL throttling is waited out; a lost answer is read
        back in RisPort (only a registration older than the request means the reset did not
        arrive, and it is sent again); so is a transient fault answer (a SOAP fault, a 5xx),
        a few times per phone; any other error fails the attempt. The heartbeats
        carry a :class:`ResetProgress` and a retried attempt resumes from it: phones an
        earlier attempt reset are not reset again (only requests in flight when that attempt
        died may be repeated). A retried attempt also reads the phones it has no answer for
        back in RisPort before resetting them: one whose registration changed since the batch
        began was reset by the attempt that died after its last heartbeat, and is not reset
        again.
        """
        inventory, cluster = await self._cluster(req)
        info = activity.info()
        start = _reset_progress(info.heartbeat_details).clamped(len(req.names))
        recheck_since = None
        if info.attempt > 1:
            # No heartbeat carried the batch's start: it began after it was first scheduled.
            since = start.started_at or info.scheduled_time.timestamp()
            recheck_since = since if since > 0 else None
        latest: list[object] = [start.model_dump()]

        def beat(progress: ResetProgress) -> None:
            latest[-1] = progress.model_dump()
            activity.heartbeat(latest[-1])

        async with heartbeating(latest):
            return await phone_resets.reset_phones(
                self._endpoint(req, cluster, cluster.publisher),
                credentials(inventory, cluster, "app_user"),
                req.names,
                concurrency=req.concurrency,
                resume_from=start,
                progress=beat,
                recheck_since=recheck_since,
            )

    @activity.defn(name="reset_phone_batch")
    @translated
    async def reset_phone_batch(self, req: PhoneBatchRequest) -> PhoneBatchResult:
        """Select the next batch of registered phones after ``req.after`` in RisPort70 and
        reset them through AXL doDeviceReset; the names never leave the worker.

        The selection is heartbeated before the first reset: a retried attempt resets exactly
        those phones, resuming as :meth:`reset_phones` does (phones answered, or whose
        registration changed since the batch began, are not reset again). A retry that finds
        no selection (the attempt died before its first heartbeat reached Temporal) selects
        again without the phones whose registration changed since the batch was scheduled:
        those were that attempt's resets.
        """
        inventory, cluster = await self._cluster(req)
        info = activity.info()
        ep = self._endpoint(req, cluster, cluster.publisher)
        auth = credentials(inventory, cluster, "app_user")
        progress = _batch_progress(info.heartbeat_details)
        latest: list[object] = [progress.model_dump()]

        def beat_note(note: str) -> None:
            progress.reset.note = note
            latest[-1] = progress.model_dump()
            activity.heartbeat(latest[-1])

        async with heartbeating(latest):
            selection = progress.selection
            if selection is None:
                scheduled = info.scheduled_time.timestamp()
                async with RisPortClient(ep, auth, throttle_retries=0) as ris:
                    records = await phone_resets.read_all(ris, beat_note)
                selection = phone_resets.select_batch(
                    records,
                    req.after,
                    req.size,
                    candidates=req.candidates,
                    unchanged_since=int(scheduled) if info.attempt > 1 else None,
                )
                progress.selection = selection
                beat_note(f"selected {len(selection.names)} phones")
            start = progress.reset.clamped(len(selection.names))
            recheck_since = None
            if info.attempt > 1 and start.started_at:
                recheck_since = start.started_at

            def beat(state: ResetProgress) -> None:
                progress.reset = state
                latest[-1] = progress.model_dump()
                activity.heartbeat(latest[-1])

            result = PhoneResetResult(requested=0, reset=0)
            if selection.names:
                result = await phone_resets.reset_phones(
                    ep,
                    auth,
                    selection.names,
                    concurrency=req.concurrency,
                    resume_from=start,
                    progress=beat,
                    recheck_since=recheck_since,
                )
        return PhoneBatchResult(
            requested=len(selection.names),
            reset=result.reset,
            not_found=result.not_found[:5],
            last=selection.last,
            more=selection.more,
            skipped=selection.skipped,
            registered=selection.registered,
            per_node={cluster.canonical(node): n for node, n in sorted(selection.per_node.items())},
            sample=selection.names[:3],
        )

    @activity.defn(name="wait_for_registrations")
    @translated
    async def wait_for_registrations(self, req: RegistrationGateRequest) -> RegistrationGateResult:
        """Poll RisPort until at least ``baseline * (1 - tolerance)`` phones are registered,
        and the nodes the next wave restarts hold no more phones than at home.

        The second condition waits for fallback: phones that failed over to a node of the
        next wave would otherwise drop a second time when it stops. Both allow the same
        tolerance. A heartbeating loop (phones come back within minutes). On timeout the
        result says ``ok=False`` instead of raising: the workflow asks an operator what to do.
        A throttled RisPort is waited out inside the loop; the last look is taken at the
        deadline.
        """
        inventory, cluster = await self._cluster(req)
        progress: list[object] = []
        baseline = req.baseline_registered

        def looked(snap: RegistrationSnapshot) -> None:
            metrics.phones_unregistered(cluster.name, baseline - snap.registered)

        try:
            async with heartbeating(progress):
                return await registrations.wait_for_registrations(
                    self._endpoint(req, cluster, cluster.publisher),
                    credentials(inventory, cluster, "app_user"),
                    cluster,
                    baseline=req.baseline_registered,
                    tolerance=req.tolerance,
                    timeout=req.timeout_seconds,
                    poll_interval=req.poll_seconds,
                    drain_nodes=req.drain_nodes,
                    home_per_node=req.home_per_node,
                    progress=progress.append,
                    looked=looked,
                )
        finally:
            # The gauge says what a wave keeps off line now: nothing once ucrenew stops
            # watching.
            metrics.phones_unregistered(cluster.name, 0)

    @activity.defn(name="ctl_update")
    @translated
    async def ctl_update(self, ref: ClusterRef) -> CtlResult:
        """``utils ctl update CTLFile`` on the CUCM publisher (mixed mode, before restarts).

        Idempotent by read-back: when ``show ctl`` already lists the publisher's installed
        CallManager certificate (OS Administration download), the CTL was rebuilt after the
        new certificate was installed and it is not updated again; the result says so
        (``already_done``) with the attempt, so the workflow can tell a retry finding its own
        update from a CTL that was already current. The node must first say it is the
        publisher (``show status``): another node answering at its address is refused.
        """
        inventory, cluster = await self._cluster(ref)
        ep = self._endpoint(ref, cluster, cluster.publisher)
        auth = credentials(inventory, cluster, "os_admin")
        attempt = activity.info().attempt
        try:
            async with (
                heartbeating([f"utils ctl update CTLFile on {cluster.publisher}"]),
                CucmCli(ep, auth) as shell,
            ):
                await confirm_in_session(shell)
                if inferred.CTL_CURRENT_IF_LISTS_INSTALLED_CALLMANAGER:
                    async with PlatformAdminClient(ep, auth) as admin:
                        installed = pki.load_pem_certificates(
                            await admin.get_identity("CallManager")
                        )[0]
                    serial = format(installed.serial_number, "x")
                    listing = await shell.show_ctl()
                    if listing.lists_serial(serial):
                        return CtlResult(
                            updated=False,
                            already_done=True,
                            attempt=attempt,
                            detail=(
                                f"the CTL file on {cluster.publisher} already lists the "
                                f"installed CallManager certificate (serial {serial}, "
                                f"last modified {listing.last_modified or 'unknown'}): "
                                "not updated again"
                            ),
                        )
                await shell.ctl_update()
        except CucmCliError as exc:
            raise StepError(
                f"utils ctl update CTLFile failed on {cluster.publisher}: {exc}",
                error_type="CtlUpdateFailed",
            ) from None
        return CtlResult(
            updated=True,
            attempt=attempt,
            detail=f"utils ctl update CTLFile on {cluster.publisher}: CTL file Updated",
        )

    @activity.defn(name="regenerate_certificate")
    @translated
    async def regenerate_certificate(self, req: RegenerateRequest) -> RegenerateResult:
        """``set cert regen <purpose>`` on one node: a new self-signed certificate replaces
        the node's certificate of that purpose (the way back CUCM offers from a CA-signed
        one, §1.2). It is served once the purpose's services restart there.

        Regenerating twice is harmless (the restart serves the last one), so a retried
        attempt simply regenerates again. The node must first say it is ``req.node``
        (``show status``): another node answering at its address is refused.
        """
        inventory, cluster = await self._cluster(req)
        ep = self._endpoint(req, cluster, req.node)
        try:
            async with (
                heartbeating([f"set cert regen {req.purpose} on {req.node}"]),
                CucmCli(ep, credentials(inventory, cluster, "os_admin")) as shell,
            ):
                await confirm_in_session(shell)
                line = await shell.regenerate_certificate(req.purpose)
        except CucmCliError as exc:
            raise StepError(
                f"set cert regen {req.purpose} failed on {req.node}: {exc}",
                error_type="RegenerateFailed",
            ) from None
        return RegenerateResult(
            node=req.node, purpose=req.purpose, detail=f"{req.node}: set cert regen: {line}"
        )

    @activity.defn(name="load_change_policy")
    @translated
    async def load_change_policy(self, ref: ClusterRef) -> ChangePolicy:
        """The cluster's ``change_policy:`` from the inventory, defaults where absent."""
        inventory, cluster = await self._cluster(ref)
        policy = ChangePolicy.of(cluster)
        policy.itsm = ItsmPolicy.of(inventory.itsm_for(cluster.name))
        policy.notifications = inventory.notification_settings(cluster.name).policy()
        return policy

    @activity.defn(name="find_leftover_certificates")
    @translated
    async def find_leftover_certificates(self, req: LeftoverRequest) -> LeftoverResult:
        """The nodes' former self-signed certificates a multi-server upload left in the trust
        stores of ``req.purposes`` (CSCur97909), read from every node of each purpose's SAN.
        Read-only: removing them is the operator's call."""
        inventory, cluster = await self._cluster(req)
        return await purpose_certs.leftover_self_signed(
            inventory,
            cluster,
            req.purposes,
            self._roots(req),
            self._files(cluster.name),
            interface=req.readback,
        )

    @activity.defn(name="assess_cluster")
    @translated
    async def assess_cluster(self, ref: AssessRequest) -> ClusterAssessment:
        """Where the cluster stands (served certificates per node, SSO), for final reports.

        tomcat's served certificate on every node; with ``ref.purposes``, also what each node
        of a purpose's SAN serves on that purpose's listener. Each read is retried on a
        transient fault like discovery's, so one 500 or throttle does not leave a node
        "unknown" in the report.
        """
        inventory, cluster = await self._cluster(ref)
        retrying = self._retrying()

        async def one(fqdn: str) -> NodeCertState:
            node = cluster.node(fqdn)
            ep = self._endpoint(ref, cluster, fqdn)
            try:
                probe = await retrying(functools.partial(probe_tls, ep, node.https_port))
                state = NodeCertState(
                    node=fqdn,
                    served_serial=probe.serial,
                    served_fingerprint=probe.fingerprint_sha256,
                )
            except CucmError as exc:
                state = NodeCertState(node=fqdn, error=str(exc))
            for purpose in dict.fromkeys(ref.purposes):
                if node.product not in catalog.purpose(purpose).san_products:
                    continue
                try:
                    _, served = await retrying(
                        functools.partial(probe_purpose, cluster, node, ep, purpose)
                    )
                except CucmError as exc:
                    state.errors_by_purpose[purpose] = str(exc)
                else:
                    state.served_by_purpose[purpose] = served.serial
            return state

        nodes = await asyncio.gather(*(one(n.fqdn) for n in cluster.nodes))
        assessment = ClusterAssessment(nodes=list(nodes))
        ep = self._endpoint(ref, cluster, cluster.publisher)

        async def sso_enabled() -> bool:
            async with CucmCli(ep, credentials(inventory, cluster, "os_admin")) as shell:
                return (await shell.sso_status()).enabled

        try:
            assessment.sso_enabled = await retrying(sso_enabled)
        except CucmError as exc:
            assessment.sso_error = str(exc)
        return assessment
