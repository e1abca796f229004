"""Process wiring: the one place that builds clients and activities and registers them."""

from __future__ import annotations

import asyncio
import atexit
import logging
import os
import shutil
import signal
import tempfile
from datetime import timedelta
from pathlib import Path

from temporalio.client import Client
from temporalio.runtime import Runtime
from temporalio.worker import PollerBehaviorSimpleMaximum, Worker

from activities.ca import CaActivities
from activities.clients.ca.local import LocalCa
from activities.clients.cucm.backoff import Backoff
from activities.clients.trust_store import ClusterTrust, TrustFile, TrustStore
from activities.cucm import CucmActivities
from activities.fleet import FleetActivities
from activities.itsm import ItsmActivities
from activities.leftovers import LeftoverActivities
from activities.notify import NotifyActivities
from activities.registry import RegistryActivities
from activities.trust import TrustActivities
from workers.auto_renew import AutoRenewActivities
from workers.converter import make_data_converter
from workers.health import WorkerHealth, health_endpoint
from workers.logs import LogContextInterceptor
from workers.sandbox import workflow_runner
from workers.settings import UcrenewSettings
from workers.telemetry import MetricsInterceptor, in_flight_refresher, metrics_runtime
from workers.temporal_connect import connect_client
from workers.trust_temporal import TemporalTrust, TrustRefreshInterceptor
from workflows.campaign import CampaignWorkflow
from workflows.cluster_lock import ClusterLockWorkflow
from workflows.cluster_trust import ClusterTrustWorkflow
from workflows.fleet_scan import FleetClusterScanWorkflow, FleetScanWorkflow
from workflows.notifications import NotificationWorkflow
from workflows.phone_resets_workflow import PhoneResetsWorkflow
from workflows.plan_workflow import PlanWorkflow
from workflows.renewal import CertRenewalWorkflow

log = logging.getLogger("ucrenew.worker")


def inventory_path(settings: UcrenewSettings) -> Path:
    """The inventory to use: the configured one, else the running lab's."""
    configured = settings.inventory_path
    if configured.exists():
        return configured
    lab_inventory = settings.state_dir / "lab" / "inventory.yaml"
    return lab_inventory if lab_inventory.exists() else configured


def local_ca(settings: UcrenewSettings) -> LocalCa:
    """The built-in CA: from ``UCRENEW_LOCAL_CA_*_REF`` when set, else under the state dir
    (refused on a stateless worker)."""
    return LocalCa(
        settings.state_dir / "ca" / "local",
        key_ref=settings.local_ca_key_ref,
        chain_ref=settings.local_ca_chain_ref,
        local_disk=not settings.stateless,
    )


def _local_ca_root(settings: UcrenewSettings) -> TrustFile:
    """The local CA's certificates as a file every client trusts for the clusters' nodes."""
    ref = settings.local_ca_chain_ref
    if ref is None:
        root = settings.state_dir / "ca" / "local" / "root.pem"
        return TrustFile(str(root), "root of ucrenew's local CA")
    scheme, _, target = ref.partition(":")
    if scheme == "file":
        return TrustFile(str(Path(target).expanduser().absolute()), "ucrenew's local CA chain")
    # Certificates only (public); the worker's own copy, removed when it exits.
    fd, path = tempfile.mkstemp(prefix="ucrenew-local-ca-", suffix=".pem")
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(local_ca(settings).chain_pem)
    _TEMPORARY_FILES.append(Path(path))
    atexit.register(remove_temporary_files)
    return TrustFile(path, f"ucrenew's local CA chain from {ref}")


#: Files this process made for itself (copies of public certificates), removed at its exit.
_TEMPORARY_FILES: list[Path] = []


def remove_temporary_files() -> None:
    """Remove the files the worker made for itself; for a process that ends with
    ``os._exit``, which skips the exit hooks."""
    while _TEMPORARY_FILES:
        made = _TEMPORARY_FILES.pop()
        if made.is_dir():
            shutil.rmtree(made, ignore_errors=True)
        else:
            made.unlink(missing_ok=True)


def trust_store(settings: UcrenewSettings) -> TrustStore:
    """What every client trusts for a cluster's nodes besides the inventory's CA file: the
    cluster's trust file under the trust dir, and the local CA's certificates."""
    return TrustStore(settings.trust_path, shared=[_local_ca_root(settings)])


def cluster_trust(client: Client, settings: UcrenewSettings, task_queue: str) -> ClusterTrust:
    """The per-cluster trust of this worker: held in Temporal on a stateless worker
    (:class:`~workers.trust_temporal.TemporalTrust`, its local copies removed at exit), else
    the trust files under the trust dir (:func:`trust_store`)."""
    if not settings.stateless:
        return trust_store(settings)
    # A trust dir shared before this worker was stateless seeds each cluster's workflow.
    former = TrustStore(settings.trust_path)
    trust = TemporalTrust(client, task_queue, shared=[_local_ca_root(settings)], former=former)
    _TEMPORARY_FILES.append(trust.directory)
    atexit.register(remove_temporary_files)
    return trust


async def connect(settings: UcrenewSettings, runtime: Runtime | None = None) -> Client:
    """A Temporal client with the shared data converter, secured as the settings say (TLS,
    mTLS, API key: :func:`workers.temporal_connect.connect_client`), on ``runtime`` (a
    worker's, serving metrics) when given.

    Raises:
        TemporalConnectError: The settings do not resolve, or Temporal refused or did not
            answer; the message names the setting to fix.
    """
    return await connect_client(
        settings, data_converter=make_data_converter(settings), runtime=runtime
    )


def cucm_backoff(settings: UcrenewSettings) -> Backoff:
    """How discovery retries a transient fault of a CUCM node, from the settings."""
    return Backoff(
        attempts=settings.cucm_retry_attempts,
        initial=settings.cucm_retry_seconds,
        throttle_initial=settings.cucm_throttle_seconds,
        maximum=settings.cucm_retry_max_wait_seconds,
    )


def build_worker(
    client: Client, settings: UcrenewSettings, task_queue: str | None = None
) -> Worker:
    """A worker running every ucrenew workflow and activity on the task queue."""
    ca = local_ca(settings)
    queue = task_queue or settings.task_queue
    trust = cluster_trust(client, settings, queue)
    cucm = CucmActivities(
        inventory_loader=lambda: inventory_path(settings),
        trust_store=trust,
        backoff=cucm_backoff(settings),
    )
    cleanup = LeftoverActivities(
        inventory_loader=lambda: inventory_path(settings), trust_store=trust
    )
    trusts = TrustActivities(lambda: inventory_path(settings), trust)
    cas = CaActivities(
        ca, lambda: inventory_path(settings), settings.state_dir, local_disk=not settings.stateless
    )
    registry = RegistryActivities(client)
    fleet = FleetActivities(lambda: inventory_path(settings), client, trust)
    auto_renew = AutoRenewActivities(client, queue, lambda: settings.service_base_url)
    itsm = ItsmActivities(
        lambda: inventory_path(settings), service_base_url=lambda: settings.service_base_url
    )
    notify = NotifyActivities(lambda: inventory_path(settings), settings.service_base_url)
    return Worker(
        client,
        task_queue=queue,
        workflows=[
            CertRenewalWorkflow,
            PlanWorkflow,
            FleetScanWorkflow,
            FleetClusterScanWorkflow,
            NotificationWorkflow,
            CampaignWorkflow,
            ClusterLockWorkflow,
            ClusterTrustWorkflow,
            PhoneResetsWorkflow,
        ],
        activities=[
            cucm.discover_cluster,
            cucm.disable_sso,
            cucm.sso_status,
            cucm.generate_csr,
            cucm.check_pending_csr,
            cucm.trust_presence,
            cucm.upload_trust,
            cucm.upload_certificate,
            cucm.restart_service,
            cucm.regenerate_certificate,
            cucm.verify_node,
            cucm.assess_cluster,
            cucm.find_leftover_certificates,
            cleanup.remove_leftover_certificates,
            cucm.registration_snapshot,
            cucm.registered_phones,
            cucm.reset_phones,
            cucm.reset_phone_batch,
            cucm.wait_for_registrations,
            cucm.ctl_update,
            cucm.load_change_policy,
            trusts.settle_trust,
            cas.submit_csr,
            cas.await_certificate,
            cas.validate_certificate,
            registry.find_other_renewals,
            registry.cluster_lock_holder,
            registry.release_cluster_lock,
            fleet.fleet_inventory,
            fleet.last_renewed_certificates,
            auto_renew.start_scheduled_renewal,
            itsm.check_change_record,
            itsm.write_back_outcome,
            notify.notification_routes,
            notify.deliver_notification,
        ],
        max_concurrent_activities=32,
        max_cached_workflows=settings.workflow_cache_size,
        max_concurrent_workflow_tasks=settings.workflow_task_slots,
        workflow_task_poller_behavior=PollerBehaviorSimpleMaximum(settings.workflow_task_pollers),
        workflow_runner=workflow_runner(),
        interceptors=[
            LogContextInterceptor(),
            MetricsInterceptor(),
            *([TrustRefreshInterceptor(trust)] if isinstance(trust, TemporalTrust) else []),
        ],
        graceful_shutdown_timeout=timedelta(seconds=settings.worker_shutdown_seconds),
    )


async def run_worker(settings: UcrenewSettings) -> None:
    """Run a worker until SIGINT/SIGTERM, then drain and stop.

    On the signal the worker stops polling and running activities get up to
    ``worker_shutdown_seconds`` to finish; those still running are then cancelled (a
    heartbeating one sees the cancellation at its next heartbeat) and Temporal retries them
    on another worker. Workflow state needs no draining: it lives in Temporal.

    With ``UCRENEW_WORKER_HEALTH_LISTEN`` the probes' endpoint answers from before the
    connection (alive, not ready) until the worker has drained (not ready from the signal on).
    With ``UCRENEW_METRICS_LISTEN`` it serves Prometheus metrics there meanwhile.

    Raises:
        TemporalConnectError: See :func:`connect`.
        TelemetryConfigError: The metrics address cannot be bound.
        CaConfigurationError: The local CA's references do not resolve or do not match.
    """
    if settings.local_ca_key_ref is not None:
        # A reference that does not resolve is a deployment error: say so before serving.
        await asyncio.to_thread(local_ca(settings).ensure)
    health = WorkerHealth()
    async with health_endpoint(settings.worker_health_listen, health):
        client = await connect(settings, metrics_runtime(settings))
        worker = build_worker(client, settings)
        stop = asyncio.Event()

        def begin_shutdown() -> None:
            health.begin_shutdown()
            stop.set()

        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, begin_shutdown)
        log.info("worker polling %s on %s", settings.task_queue, settings.temporal_address)
        async with worker, in_flight_refresher(client, settings):
            health.attach(client, worker)
            await stop.wait()
            log.info(
                "worker stopping: running activities have %s s to finish",
                settings.worker_shutdown_seconds,
            )
    log.info("worker stopped")
