"""A stateless worker's per-cluster trust: held in Temporal, read through a local copy.

Issue 15: anything that must outlive a pod lives in Temporal state or behind a secret
reference. The CA certificates ucrenew installed on a cluster (public data) are kept by the
cluster's :class:`~workflows.cluster_trust.ClusterTrustWorkflow`; :class:`TemporalTrust` is
the :class:`~activities.clients.trust_store.ClusterTrust` the activities use on a worker
started with ``UCRENEW_STATELESS=true``.

- **Reads.** TLS clients load PEM files, and the activities ask for them without awaiting
  (``files``, ``entries``). So the worker keeps a private copy, ``<cluster>.pem`` in a
  temporary directory of its own (removed at exit), that :class:`TrustRefreshInterceptor`
  brings up to date before each activity whose input names a cluster, from the entries the
  workflow publishes in its memo (a describe, answered by the server: no worker, no sticky
  queue of a dead one, is waited for; a terminated trust's last entries are read too).
  A copy younger than :data:`FRESH_SECONDS` is used as is; a write replaces
  it at once with what the update returned (so this worker sees its own writes).
- **Writes.** ``record`` and ``settle`` parse the chain, keep its CA certificates, and send
  them with update-with-start (``USE_EXISTING``): the first write of a cluster starts its
  workflow, seeded with what this worker last read (nothing is lost if it had been
  terminated). They block until Temporal answers, so callers run them in a thread (the
  activities do).
- **Failures.** A read that fails, or takes longer than :data:`READ_SECONDS` (or half the
  activity's heartbeat timeout), keeps the last copy (the activity goes on and its TLS error,
  if any, is retried).
  A write that fails raises :class:`~activities.clients.trust_store.TrustStoreError` naming
  the workflow, which the activities turn into a retryable step error.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from concurrent.futures import TimeoutError as FutureTimeout
from datetime import timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from pydantic import ValidationError
from temporalio import activity
from temporalio.client import Client, WithStartWorkflowOperation, WorkflowUpdateFailedError
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
)

from activities.clients.trust_store import (
    SettleOutcome,
    TrustedCa,
    TrustFile,
    TrustStore,
    TrustStoreError,
    ca_certificates,
)
from workflows.cluster_trust import (
    MEMO_KEY,
    ClusterTrustInput,
    ClusterTrustWorkflow,
    TrustChain,
    TrustChange,
    TrustEntry,
    TrustSettle,
    entries_memo,
    trust_id,
)

__all__ = ["FRESH_SECONDS", "READ_SECONDS", "TemporalTrust", "TrustRefreshInterceptor"]

log = logging.getLogger("ucrenew.worker.trust")

#: How long a copy read from Temporal is used without asking again (writes of this worker
#: replace it at once; another replica's write is seen at most this late).
FRESH_SECONDS = 5.0
#: How long a write waits for Temporal.
RPC_SECONDS = 20.0
#: How long a refresh before an activity may take (at most half the activity's heartbeat
#: timeout): past it the activity goes on with the last copy.
READ_SECONDS = 5.0


class TemporalTrust:
    """The per-cluster trust held by :class:`ClusterTrustWorkflow`, for stateless workers.

    Args:
        client: The worker's Temporal client.
        task_queue: Where the trust workflows run (the worker's task queue).
        shared: Further PEM bundles trusted for every cluster (the local CA's root).
        copies: Where the local copies go; a new temporary directory when None.
        clock: Monotonic seconds, for the copies' age.
        former: The trust files used before (a shared ``UCRENEW_TRUST_DIR``): a cluster
            whose trust workflow never started is trusted with its file, and its first
            write starts the workflow with those entries.
    """

    def __init__(
        self,
        client: Client,
        task_queue: str,
        shared: Sequence[TrustFile] = (),
        copies: Path | None = None,
        clock: Callable[[], float] = time.monotonic,
        former: TrustStore | None = None,
    ) -> None:
        self._client = client
        self._former = former
        self._task_queue = task_queue
        directory = copies or Path(tempfile.mkdtemp(prefix="ucrenew-trust-"))
        self.directory = directory
        self._copies = TrustStore(directory, shared=shared)
        self._clock = clock
        self._read_at: dict[str, float] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._locks: dict[str, asyncio.Lock] = {}

    # -- ClusterTrust ----------------------------------------------------------------------

    def files(self, cluster: str) -> tuple[TrustFile, ...]:
        """The local copy of ``cluster``'s trust (when it holds any) and the shared files."""
        return tuple(
            TrustFile(
                f.path,
                f"CA certificates ucrenew installed on cluster {cluster}, "
                f"as Temporal workflow {trust_id(cluster)} holds them",
            )
            if f.path == str(self._copies.path(cluster))
            else f
            for f in self._copies.files(cluster)
        )

    def entries(self, cluster: str) -> list[TrustedCa]:
        """The CA certificates of the last copy read or written.

        Raises:
            TrustStoreError: The local copy cannot be read.
        """
        return self._copies.entries(cluster)

    def record(self, cluster: str, purpose: str, ca_pems: Sequence[str]) -> SettleOutcome:
        """Trust a chain's CA certificates for ``purpose`` (idempotent); blocks, so call it
        in a thread.

        Raises:
            TrustStoreError: A certificate is unreadable, or Temporal did not take the write.
        """
        return self.settle(cluster, {purpose: ca_pems}, retire=())

    def settle(
        self, cluster: str, chains: Mapping[str, Sequence[str]], retire: Collection[str]
    ) -> SettleOutcome:
        """As :meth:`TrustStore.settle`, in Temporal; blocks, so call it in a thread.

        Raises:
            TrustStoreError: A certificate is unreadable, or Temporal did not take the write.
        """
        loop = self._loop
        if loop is None:
            raise TrustStoreError(
                f"the trust of cluster {cluster} (Temporal workflow {trust_id(cluster)}) is "
                "written from a worker's activities only"
            )
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            raise TrustStoreError("TemporalTrust.settle blocks: run it in a thread")
        future = asyncio.run_coroutine_threadsafe(self.write(cluster, chains, retire), loop)
        try:
            return future.result(RPC_SECONDS + 5)
        except FutureTimeout:
            future.cancel()
            raise TrustStoreError(
                f"Temporal did not take the write of workflow {trust_id(cluster)} within "
                f"{RPC_SECONDS + 5:.0f} s"
            ) from None

    # -- Temporal side ---------------------------------------------------------------------

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Use ``loop`` (the worker's) for the writes made from threads."""
        self._loop = loop

    async def refresh(self, cluster: str) -> None:
        """Bring the local copy of ``cluster``'s trust up to date, unless it is fresh.

        A failure keeps the last copy and is logged (what is missing shows as a TLS error).
        """
        self.bind(asyncio.get_running_loop())
        async with self._lock(cluster):
            read_at = self._read_at.get(cluster)
            if read_at is not None and self._clock() - read_at < FRESH_SECONDS:
                return
            try:
                started, entries = await self._read(cluster)
            except TrustStoreError as exc:
                log.warning("%s; using the last copy read", exc)
                return
            if entries is None:
                log.warning(
                    "the trust of cluster %s, Temporal workflow %s, publishes no entries: "
                    "using the last copy read",
                    cluster,
                    trust_id(cluster),
                )
                return
            if not started and self._former is not None:
                entries = await asyncio.to_thread(self._from_former, cluster)
            await asyncio.to_thread(self._keep, cluster, entries)

    async def read(self, cluster: str) -> list[TrustEntry] | None:
        """The entries Temporal holds for ``cluster``, from the memo of its trust workflow's
        latest run (a describe: no worker has to answer it); none when that workflow never
        started, None when its memo names none (the copy is kept then).

        Raises:
            TrustStoreError: Temporal did not answer, or the memo is not a trust's.
        """
        return (await self._read(cluster))[1]

    async def _read(self, cluster: str) -> tuple[bool, list[TrustEntry] | None]:
        handle = self._client.get_workflow_handle(trust_id(cluster))
        where = f"the trust of cluster {cluster} from Temporal workflow {trust_id(cluster)}"
        try:
            described = await handle.describe(rpc_timeout=timedelta(seconds=READ_SECONDS))
            published = (await described.memo()).get(MEMO_KEY)
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                return False, []
            raise TrustStoreError(f"cannot read {where}: {exc.message}") from None
        except Exception as exc:  # a decoding failure of any kind: the copy stays as it was
            raise TrustStoreError(f"cannot read {where}: {exc}") from None
        if published is None:
            return True, None
        try:
            return True, [TrustEntry.model_validate(e) for e in published]
        except (ValidationError, TypeError) as exc:
            raise TrustStoreError(
                f"cannot read {where}: its memo {MEMO_KEY} is damaged ({exc})"
            ) from None

    async def write(
        self, cluster: str, chains: Mapping[str, Sequence[str]], retire: Collection[str]
    ) -> SettleOutcome:
        """Send a write to ``cluster``'s trust workflow (starting it if need be), and keep
        what it holds after it as the local copy.

        Raises:
            TrustStoreError: A certificate is unreadable, or Temporal did not take the write.
        """
        where = f"of cluster {cluster} (Temporal workflow {trust_id(cluster)})"
        req = TrustSettle(
            chains=[
                TrustChain(purpose=p, cas=[_entry(c) for c in ca_certificates(pems, where)])
                for p, pems in chains.items()
            ],
            retire=list(retire),
        )
        async with self._lock(cluster):
            seed = await asyncio.to_thread(self._seed, cluster)
            start = WithStartWorkflowOperation(
                ClusterTrustWorkflow.run,
                ClusterTrustInput(cluster=cluster, entries=seed),
                id=trust_id(cluster),
                task_queue=self._task_queue,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                static_summary=f"CA certificates trusted for cluster {cluster}",
                memo=entries_memo(seed),
            )
            try:
                change: TrustChange = await self._client.execute_update_with_start_workflow(
                    ClusterTrustWorkflow.settle,
                    req,
                    start_workflow_operation=start,
                    rpc_timeout=timedelta(seconds=RPC_SECONDS),
                )
            except WorkflowUpdateFailedError as exc:
                raise TrustStoreError(
                    f"the trust {where} refused the write: {_cause(exc)}"
                ) from None
            except Exception as exc:  # an RPC failure of any kind: nothing was recorded
                raise TrustStoreError(f"cannot write the trust {where}: {exc}") from None
            await asyncio.to_thread(self._keep, cluster, change.entries)
        return SettleOutcome(
            path=f"Temporal workflow {trust_id(cluster)}",
            added=change.added,
            retired=change.retired,
            kept=change.kept,
        )

    # -- local copies ----------------------------------------------------------------------

    def _lock(self, cluster: str) -> asyncio.Lock:
        return self._locks.setdefault(cluster, asyncio.Lock())

    def _from_former(self, cluster: str) -> list[TrustEntry]:
        assert self._former is not None
        try:
            held = self._former.entries(cluster)
        except TrustStoreError as exc:
            log.warning("%s: not carried into Temporal", exc)
            return []
        return [
            TrustEntry(
                fingerprint=e.fingerprint,
                subject=e.subject,
                pem=e.pem,
                purposes=list(e.purposes),
                recorded=e.recorded,
            )
            for e in held
        ]

    def _seed(self, cluster: str) -> list[TrustEntry]:
        try:
            held = self._copies.entries(cluster)
        except TrustStoreError:
            return []
        return [
            TrustEntry(
                fingerprint=e.fingerprint,
                subject=e.subject,
                pem=e.pem,
                purposes=list(e.purposes),
                recorded=e.recorded,
            )
            for e in held
        ]

    def _keep(self, cluster: str, entries: Sequence[TrustEntry]) -> None:
        held: list[TrustedCa] = []
        for e in entries:
            try:
                cert = x509.load_pem_x509_certificate(e.pem.encode("ascii"))
            except (ValueError, UnicodeEncodeError):
                log.warning(
                    "the trust of cluster %s holds an unreadable certificate (%s): skipped",
                    cluster,
                    e.subject or e.fingerprint,
                )
                continue
            held.append(TrustedCa(cert, tuple(e.purposes), e.recorded))
        if held or self._copies.path(cluster).exists():
            self._copies.replace(cluster, held)
        self._read_at[cluster] = self._clock()


def _entry(cert: x509.Certificate) -> TrustEntry:
    return TrustEntry(
        fingerprint=cert.fingerprint(hashes.SHA256()).hex(),
        subject=cert.subject.rfc4514_string(),
        pem=cert.public_bytes(serialization.Encoding.PEM).decode("ascii"),
    )


def _cause(exc: BaseException) -> str:
    cause = exc.__cause__
    return str(getattr(cause, "message", None) or cause or exc)


class TrustRefreshInterceptor(Interceptor):
    """Before an activity whose input names a cluster (a ``cluster`` field), bring the
    worker's copy of that cluster's trust up to date (:meth:`TemporalTrust.refresh`)."""

    def __init__(self, trust: TemporalTrust) -> None:
        """Args:
        trust: The worker's Temporal-held trust.
        """
        self._trust = trust

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        """Wrap activity execution."""
        return _Refresh(next, self._trust)


class _Refresh(ActivityInboundInterceptor):
    def __init__(self, next: ActivityInboundInterceptor, trust: TemporalTrust) -> None:
        super().__init__(next)
        self._trust = trust

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        self._trust.bind(asyncio.get_running_loop())
        # The activity has not heartbeated yet: a slow read must not time it out.
        heartbeat = activity.info().heartbeat_timeout
        bound = READ_SECONDS
        if heartbeat is not None and heartbeat.total_seconds() > 0:
            bound = min(bound, heartbeat.total_seconds() / 2)
        for cluster in _clusters(input.args):
            try:
                await asyncio.wait_for(self._trust.refresh(cluster), bound)
            except TimeoutError:
                log.warning(
                    "the trust of cluster %s was not read within %.1f s: using the last copy",
                    cluster,
                    bound,
                )
        return await super().execute_activity(input)


def _clusters(args: Sequence[Any]) -> list[str]:
    found: list[str] = []
    for arg in args:
        name = getattr(arg, "cluster", None)
        if isinstance(name, str) and name and name not in found:
            found.append(name)
    return found
