"""CA activities: submit a CSR, wait for the certificate, validate what came back.

Waiting is polling done where Temporal makes it cheap: ``await_certificate`` fails with a
benign, retryable ``CaPending`` while the CA has not decided, and its retry policy (constant
interval, no attempt limit) polls for days or weeks without writing a history event per poll.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from temporalio import activity
from temporalio.exceptions import ApplicationError, ApplicationErrorCategory

from activities.clients import tracing
from activities.clients.ca.base import CertificateAuthority
from activities.clients.ca.errors import CaRequestDenied
from activities.clients.ca.local import LocalCa
from activities.clients.ca.registry import build_ca
from activities.clients.inventory import load_inventory_async
from activities.clients.pki_validation import validate_signed_certificate
from activities.cluster_models import ValidateRequest
from activities.errors import translated
from activities.models import (
    CaPollRequest,
    CaProfile,
    CaSubmission,
    CaSubmitRequest,
    ValidationPolicy,
    ValidationReport,
)


class CaActivities:
    """Activities over the certificate authorities of the inventory and the built-in one."""

    def __init__(
        self,
        local_ca: LocalCa,
        inventory_loader: Callable[[], Path],
        state_dir: Path,
        *,
        local_disk: bool = True,
    ) -> None:
        """Args:
        local_ca: The built-in CA.
        inventory_loader: Returns the inventory path (CA entries are read at each call).
        state_dir: Where backends keep their state (ACME account keys).
        local_disk: False on a stateless worker: no backend keeps anything on disk.
        """
        self._local = local_ca
        self._inventory_path = inventory_loader
        self._state_dir = state_dir
        self._local_disk = local_disk

    async def _ca(self, kind: str, name: str | None) -> CertificateAuthority:
        if kind == "local":
            return self._local
        inventory = await load_inventory_async(self._inventory_path())
        return build_ca(
            inventory.ca(kind, name), inventory, self._state_dir, local_disk=self._local_disk
        )

    @activity.defn(name="submit_csr")
    @translated
    async def submit_csr(self, req: CaSubmitRequest) -> CaSubmission:
        """Submit the CSR; returns issued or pending (a denial is final)."""
        ca = await self._ca(req.ca, req.ca_name)
        with tracing.call_span(req.ca, "submit", ca=ca.name) as span:
            result = await ca.submit(
                req.csr_pem, CaProfile(name=req.ca_name or req.ca, template=req.template)
            )
            span.set_outcome(result.status)
        if result.status == "denied":
            raise CaRequestDenied(
                f"the {ca.name} CA denied the request: {result.message}",
                ca=ca.name,
                request_ref=result.request_ref,
            )
        activity.logger.info(
            "%s: CSR submitted to %s, %s (%s)",
            req.change_id,
            ca.name,
            result.status,
            result.request_ref,
        )
        return result

    @activity.defn(name="await_certificate")
    @translated
    async def await_certificate(self, req: CaPollRequest) -> CaSubmission:
        """Poll the CA once; pending raises a benign retryable error (the retry is the poll)."""
        ca = await self._ca(req.ca, req.ca_name)
        with tracing.call_span(req.ca, "poll", ca=ca.name) as span:
            result = await ca.poll(req.request_ref, req.csr_pem)
            span.set_outcome(result.status)
        if result.status == "issued":
            return result
        if result.status == "denied":
            raise CaRequestDenied(
                f"the {ca.name} CA denied request {req.request_ref}: {result.message}",
                ca=ca.name,
                request_ref=req.request_ref,
            )
        delay = result.retry_after_seconds or req.poll_seconds
        raise ApplicationError(
            f"request {req.request_ref} is still pending at the {ca.name} CA: {result.message}",
            type="CaPending",
            category=ApplicationErrorCategory.BENIGN,
            next_retry_delay=timedelta(seconds=delay),
        )

    @activity.defn(name="validate_certificate")
    @translated
    async def validate_certificate(self, req: ValidateRequest) -> ValidationReport:
        """Check a signed certificate and chain against the CSR before any upload."""
        policy = ValidationPolicy(min_remaining_days=req.min_remaining_days)
        return await asyncio.to_thread(
            validate_signed_certificate,
            req.certificate_pem,
            req.chain_pem,
            req.csr_pem,
            req.expected_dns,
            req.now,
            policy,
        )
