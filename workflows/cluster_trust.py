"""The per-cluster trust of stateless workers, held by Temporal: one workflow per cluster.

The file store (``activities.clients.trust_store``) keeps the CA certificates of the chains
ucrenew installed on a cluster in ``<trust dir>/<cluster>.pem``, which every worker must
share. A stateless worker (``UCRENEW_STATELESS``) has no such disk: the same entries live in
a :class:`ClusterTrustWorkflow` whose id is :func:`trust_id` (``trust/<cluster>``), so any
replica reads what another one recorded.

- **Same semantics as the file.** The ``settle`` update records chains (purpose → CA
  certificates; idempotent: a certificate already held only gains the purpose) and retires,
  for each purpose named in ``retire``, the certificates recorded for it that are not in its
  chain now; one another purpose still lists stays, as does one without purposes. ``record``
  is ``settle`` with nothing to retire. Every run publishes its entries in its memo
  (:data:`MEMO_KEY`), which workers read with a describe: the server answers it, so a read
  never waits for a worker (not even for the sticky queue of one that died). The query
  ``entries`` says the same, for operators.
- **Public data only.** Certificates (PEM), their fingerprints, subjects and purposes: never a
  key. The worker side parses and filters the certificates (CA=true) before the update, so
  this workflow handles plain strings and stays deterministic.
- **Long-lived.** It waits for updates forever and continues as new, carrying the entries,
  after :data:`UPDATES_PER_RUN` updates (the input's ``updates_per_run``) or when Temporal
  suggests it.
- **Who starts it.** The first write, with update-with-start and ``USE_EXISTING``
  (``workers.trust_temporal``): no separate start, no race between two replicas.

The renewal never talks to it: the trust is written by activities (``upload_certificate``,
``settle_trust``), as with the file store, so no renewal's commands changed.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from pydantic import BaseModel, Field

__all__ = [
    "MEMO_KEY",
    "TRUST_PREFIX",
    "UPDATES_PER_RUN",
    "ClusterTrustInput",
    "ClusterTrustWorkflow",
    "TrustChain",
    "TrustChange",
    "TrustEntry",
    "TrustSettle",
    "entries_memo",
    "settle_entries",
    "trust_id",
]

#: Every cluster trust's workflow id starts with it.
TRUST_PREFIX = "trust"
#: The memo key under which a run publishes its entries (a list of TrustEntry dicts), so
#: workers read them with a describe, which no worker has to answer.
MEMO_KEY = "trust_entries"
#: Updates a run takes before it continues as new (its history stays small: each update
#: carries a few certificates).
UPDATES_PER_RUN = 200


def entries_memo(entries: list[TrustEntry]) -> dict[str, object]:
    """The memo that publishes ``entries``."""
    return {MEMO_KEY: [e.model_dump() for e in entries]}


def trust_id(cluster: str) -> str:
    """The workflow id of ``cluster``'s trust (the inventory name, as the file store's)."""
    return f"{TRUST_PREFIX}/{cluster}"


class TrustEntry(BaseModel):
    """One CA certificate a cluster's nodes are trusted with.

    Attributes:
        fingerprint: SHA-256 of the DER certificate, lower-case hex (the entry's key).
        subject: Its subject, RFC 4514 (for messages).
        pem: The certificate, PEM.
        purposes: The purposes whose chains installed it; empty for one never to retire.
        recorded: When it was first recorded (ISO 8601, UTC).
    """

    fingerprint: str
    subject: str = ""
    pem: str
    purposes: list[str] = Field(default_factory=list)
    recorded: str = ""


class TrustChain(BaseModel):
    """The CA certificates of one purpose's chain.

    Attributes:
        purpose: The certificate purpose (``tomcat``, ...).
        cas: Its CA certificates (``purposes`` and ``recorded`` are ignored).
    """

    purpose: str
    cas: list[TrustEntry] = Field(default_factory=list)


class TrustSettle(BaseModel):
    """A write: record ``chains``, then retire what only the purposes of ``retire`` used.

    Attributes:
        chains: The chains to trust.
        retire: The purposes whose earlier CA certificates go unless in their chain now.
    """

    chains: list[TrustChain] = Field(default_factory=list)
    retire: list[str] = Field(default_factory=list)


class TrustChange(BaseModel):
    """What a write changed, and the entries after it.

    Attributes:
        added: Subjects of the certificates added.
        retired: Subjects of the certificates removed.
        kept: Subjects of the certificates held now.
        entries: The entries held now.
    """

    added: list[str] = Field(default_factory=list)
    retired: list[str] = Field(default_factory=list)
    kept: list[str] = Field(default_factory=list)
    entries: list[TrustEntry] = Field(default_factory=list)


class ClusterTrustInput(BaseModel):
    """A trust's start (or continue-as-new) input.

    Attributes:
        cluster: The inventory name of the cluster.
        entries: The entries it starts with (those of the previous run).
        updates_per_run: Updates a run takes before it continues as new (carried on).
    """

    cluster: str
    entries: list[TrustEntry] = Field(default_factory=list)
    updates_per_run: int = Field(default=UPDATES_PER_RUN, ge=1)


def settle_entries(
    entries: list[TrustEntry], req: TrustSettle, now: str
) -> tuple[list[TrustEntry], TrustChange]:
    """The entries after ``req``, and what changed: the file store's ``settle`` on plain data.

    Pure, for the workflow and its tests; entries keep their order, new ones go last.
    """
    original = {e.fingerprint: e for e in entries}
    by_fp = {fp: e.model_copy(deep=True) for fp, e in original.items()}
    for chain in req.chains:
        for ca in chain.cas:
            entry = by_fp.get(ca.fingerprint)
            if entry is None:
                by_fp[ca.fingerprint] = TrustEntry(
                    fingerprint=ca.fingerprint,
                    subject=ca.subject,
                    pem=ca.pem,
                    purposes=[chain.purpose],
                    recorded=now,
                )
            elif entry.purposes and chain.purpose not in entry.purposes:
                entry.purposes.append(chain.purpose)
    current = {c.purpose: {ca.fingerprint for ca in c.cas} for c in req.chains}
    for purpose in req.retire:
        for fp, entry in by_fp.items():
            if purpose in entry.purposes and fp not in current.get(purpose, set()):
                entry.purposes = [p for p in entry.purposes if p != purpose]
    # An entry whose purposes were all retired goes; one held without purposes stays.
    final = [
        e for fp, e in by_fp.items() if e.purposes or (fp in original and not original[fp].purposes)
    ]
    kept = {e.fingerprint for e in final}
    return final, TrustChange(
        added=[e.subject for e in final if e.fingerprint not in original],
        retired=[e.subject for fp, e in original.items() if fp not in kept],
        kept=[e.subject for e in final],
        entries=final,
    )


@workflow.defn
class ClusterTrustWorkflow:
    """The CA certificates a cluster's nodes are trusted with, for every stateless worker.

    Runs until terminated, continuing as new with its entries; no activities, no timers.
    """

    @workflow.init
    def __init__(self, inp: ClusterTrustInput) -> None:
        self._cluster = inp.cluster
        self._entries = list(inp.entries)
        self._updates = 0
        self._limit = inp.updates_per_run

    @workflow.run
    async def run(self, inp: ClusterTrustInput) -> None:
        """Serve updates and queries; continue as new, carrying the entries, when due."""
        self._details()
        if workflow.memo().get(MEMO_KEY) is None:
            workflow.upsert_memo(entries_memo(self._entries))
        await workflow.wait_condition(
            lambda: self._updates >= self._limit or workflow.info().is_continue_as_new_suggested()
        )
        await workflow.wait_condition(workflow.all_handlers_finished)
        workflow.continue_as_new(
            ClusterTrustInput(
                cluster=self._cluster, entries=self._entries, updates_per_run=self._limit
            ),
            memo=entries_memo(self._entries),
        )

    @workflow.update
    def settle(self, req: TrustSettle) -> TrustChange:
        """Record the chains, then retire what only the purposes of ``retire`` used
        (idempotent)."""
        before = entries_memo(self._entries)
        self._entries, change = settle_entries(
            self._entries, req, workflow.now().isoformat(timespec="seconds")
        )
        self._updates += 1
        published = entries_memo(self._entries)
        if published != before:
            self._details()
            workflow.upsert_memo(published)
        return change

    @settle.validator
    def _valid(self, req: TrustSettle) -> None:
        for chain in req.chains:
            if not chain.purpose:
                raise ValueError("a chain without a purpose cannot be recorded")
            for ca in chain.cas:
                if not ca.fingerprint or "BEGIN CERTIFICATE" not in ca.pem:
                    raise ValueError(f"not a certificate entry: {ca.subject or ca.fingerprint}")
                if "PRIVATE KEY" in ca.pem:
                    raise ValueError("a cluster's trust holds certificates only, never a key")

    @workflow.query
    def entries(self) -> list[TrustEntry]:
        """The entries held now, in order."""
        return self._entries

    def _details(self) -> None:
        subjects = "; ".join(e.subject for e in self._entries) or "none yet"
        workflow.set_current_details(
            f"**CA certificates trusted for cluster {self._cluster}**: {subjects}"
        )
