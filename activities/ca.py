"""CA activities: sign with the built-in local CA, validate a signed certificate."""

from __future__ import annotations

import asyncio

from pydantic import BaseModel
from temporalio import activity

from activities.clients.ca.errors import CaRequestDenied
from activities.clients.ca.local import LocalCa
from activities.clients.pki import validate_signed_certificate
from activities.cluster_models import ValidateRequest
from activities.errors import translated
from activities.models import CaProfile, CaSubmission, ValidationPolicy, ValidationReport


class LocalSignRequest(BaseModel):
    """Have the built-in CA sign a CSR."""

    csr_pem: str
    change_id: str = ""
    validity_days: int = 365


class CaActivities:
    """Activities over the certificate authorities the worker is configured with."""

    def __init__(self, local_ca: LocalCa) -> None:
        self._local = local_ca

    @activity.defn(name="sign_with_local_ca")
    @translated
    async def sign_with_local_ca(self, req: LocalSignRequest) -> CaSubmission:
        """Sign at once with the built-in CA (a denial is final)."""
        result = await self._local.submit(req.csr_pem, CaProfile(validity_days=req.validity_days))
        if result.status == "denied":
            raise CaRequestDenied(result.message, ca=self._local.name, request_ref="")
        activity.logger.info("local CA issued %s for %s", result.request_ref, req.change_id)
        return result

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
