"""Certificate steps on a purpose's publisher that read the node before they act.

:func:`upload_missing_trust` uploads only the CA certificates the trust store lacks, so a
repeated upload changes nothing; :func:`pending_csr` tells whether the CSR that was signed is
still the one pending, before a certificate for it is uploaded.
"""

from __future__ import annotations

from collections.abc import Sequence

from activities.clients import pki
from activities.clients.cucm.certmgr import CertMgrClient
from activities.clients.cucm.errors import CucmTrustDuplicate
from activities.clients.cucm.transport import BasicAuth, NodeEndpoint
from activities.cluster_models import PendingCsrResult, TrustUploadResult


async def upload_missing_trust(
    endpoint: NodeEndpoint, auth: BasicAuth, purpose: str, ca_pems: Sequence[str]
) -> TrustUploadResult:
    """Upload CA certificates in order, skipping those already in the trust store.

    Args:
        endpoint: The publisher of the product that carries ``purpose``.
        auth: The OS platform admin.
        purpose: The identity whose ``<purpose>-trust`` store receives them.
        ca_pems: The CA certificates, root first.

    Returns:
        The subjects uploaded and those found present (by fingerprint, or refused as
        duplicates by the node).
    """
    result = TrustUploadResult()
    async with CertMgrClient(endpoint, auth) as certmgr:
        present = {
            pki.certificate_info(t.certificate_pem).sha256_fingerprint
            for t in await certmgr.list_trust(purpose)
        }
        for pem in ca_pems:
            info = pki.certificate_info(pem)
            name = info.subject_cn or info.subject
            if info.sha256_fingerprint in present:
                result.skipped.append(name)
                continue
            try:
                await certmgr.upload_trust([purpose], [pem], "Trust Certificate")
            except CucmTrustDuplicate:
                result.skipped.append(name)
                continue
            result.uploaded.append(name)
    return result


async def pending_csr(
    endpoint: NodeEndpoint, auth: BasicAuth, purpose: str, csr_pem: str
) -> PendingCsrResult:
    """Compare the CSR that was signed with the one pending on the publisher, by key.

    Args:
        endpoint: The publisher of the product that carries ``purpose``.
        auth: The OS platform admin.
        purpose: The identity the CSR is for.
        csr_pem: The CSR that was signed.

    Returns:
        Whether it still matches, and if not what is pending instead.
    """
    async with CertMgrClient(endpoint, auth) as certmgr:
        snapshot = await certmgr.snapshot()
    publisher = endpoint.fqdn
    signed = pki.csr_info(csr_pem).public_key_sha256
    identity = snapshot.identity(purpose)
    if identity is None or not identity.csr_pem:
        return PendingCsrResult(
            matches=False,
            detail=f"no {purpose} CSR is pending on {publisher} any more",
        )
    pending = pki.csr_info(identity.csr_pem).public_key_sha256
    if pending != signed:
        return PendingCsrResult(
            matches=False,
            pending_key_fingerprint=pending,
            detail=(
                f"the {purpose} CSR pending on {publisher} (key {pending[:16]}…) "
                f"is not the one that was signed (key {signed[:16]}…): a new CSR was "
                "generated on the cluster meanwhile"
            ),
        )
    return PendingCsrResult(matches=True, pending_key_fingerprint=pending)
