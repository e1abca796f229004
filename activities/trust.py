"""Trust activities: keep a cluster's trust store in step with what ucrenew installed.

``upload_certificate`` (activities.cucm) records a chain as soon as a node holds the new
certificate (:func:`record_chain`); once the renewal has verified every node,
:meth:`TrustActivities.settle_trust` records the chains again and retires the CA certificates
that only the renewed purposes used. The store itself is ``activities.clients.trust_store``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from pathlib import Path

from temporalio import activity

from activities import catalog
from activities.clients.inventory import load_inventory_async
from activities.clients.trust_store import ClusterTrust, SettleOutcome, TrustStoreError
from activities.cluster_models import TrustSettleRequest, TrustSettleResult
from activities.errors import StepError, translated


def _result(outcome: SettleOutcome, detail: str = "") -> TrustSettleResult:
    return TrustSettleResult(
        trust_file=outcome.path,
        added=outcome.added,
        retired=outcome.retired,
        kept=outcome.kept,
        detail=detail,
    )


async def record_chain(
    store: ClusterTrust, cluster: str, purpose: str, chain_pems: Sequence[str]
) -> TrustSettleResult:
    """Trust the CA certificates of a chain just installed on ``cluster`` (idempotent).

    Raises:
        StepError: ``TrustNotRecorded`` (retryable) when the trust file cannot be written:
            the certificate is installed, and without its CA ucrenew could not reach the
            nodes once they serve it.
    """
    try:
        outcome = await asyncio.to_thread(store.record, cluster, purpose, chain_pems)
    except TrustStoreError as exc:
        raise StepError(
            f"the {purpose} certificate is installed on cluster {cluster}, but ucrenew could "
            f"not record its CA certificates as trusted: {exc}. Fix the trust store (the "
            "directory UCRENEW_TRUST_DIR shared by every worker; on stateless workers, their "
            "Temporal connection), or add the chain's CA to the inventory's tls.ca_file "
            "before the nodes restart",
            error_type="TrustNotRecorded",
            retryable=True,
        ) from None
    if outcome.added:
        activity.logger.info(
            "cluster %s now trusts %s (%s)", cluster, "; ".join(outcome.added), outcome.path
        )
    return _result(outcome)


class TrustActivities:
    """Activities on the per-cluster trust store."""

    def __init__(self, inventory_loader: Callable[[], Path], store: ClusterTrust) -> None:
        """Args:
        inventory_loader: Returns the inventory path (read at each call).
        store: The trust store every worker shares.
        """
        self._inventory_path = inventory_loader
        self._store = store

    @activity.defn(name="settle_trust")
    @translated
    async def settle_trust(self, req: TrustSettleRequest) -> TrustSettleResult:
        """After a renewal verified its nodes: trust the chains it installed, and retire the
        CA certificates that only the renewed purposes used (idempotent).

        A purpose's previous CAs are retired only when every inventory node that serves the
        purpose was verified; otherwise they stay trusted, like a certificate added by hand.
        """
        cluster = (await load_inventory_async(self._inventory_path())).cluster(req.cluster)
        retire: list[str] = []
        for chain in req.chains:
            products = catalog.purpose(chain.purpose).san_products
            serving = {n.fqdn for n in cluster.nodes if n.product in products}
            if serving <= {cluster.canonical(n) for n in chain.verified_nodes}:
                retire.append(chain.purpose)
        held = [c.purpose for c in req.chains if c.purpose not in retire]
        try:
            outcome = await asyncio.to_thread(
                self._store.settle,
                cluster.name,
                {c.purpose: c.ca_pems for c in req.chains},
                retire,
            )
        except TrustStoreError as exc:
            raise StepError(str(exc), error_type="TrustNotSettled", retryable=True) from None
        detail = (
            f"previous CAs of {', '.join(held)} kept: not every node serving them was verified"
            if held
            else ""
        )
        return _result(outcome, detail)
