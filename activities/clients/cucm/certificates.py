"""Certificate steps that read the node before they act, over any interface.

:func:`trust_presence` reads which CA certificates a trust store lacks;
:func:`upload_missing_trust` uploads only the CA certificates the trust store lacks, so a
repeated upload changes nothing; :func:`pending_csr` tells whether the CSR that was signed is
still the one pending, before a certificate for it is uploaded.
"""

from __future__ import annotations

from collections.abc import Sequence

from activities.clients import pki
from activities.clients.cucm.errors import CucmTrustDuplicate
from activities.clients.cucm.node_certs import NodeCertificates
from activities.cluster_models import PendingCsrResult, TrustPresence, TrustUploadResult


async def trust_presence(
    lister: NodeCertificates, purpose: str, ca_pems: Sequence[str]
) -> TrustPresence:
    """Which of ``ca_pems`` the purpose's trust store lacks (by fingerprint); reads only.

    The renewal records these as its intent before it uploads them, so that a retried upload
    finding them present is known to have found its own work.

    Args:
        lister: The purpose's publisher, over the interface that reads the trust store.
        purpose: The identity whose trust store is read.
        ca_pems: The CA certificates, root first.
    """
    present = {
        pki.certificate_info(t.certificate_pem).sha256_fingerprint
        for t in await lister.list_trust(purpose)
    }
    result = TrustPresence()
    for pem in ca_pems:
        info = pki.certificate_info(pem)
        name = info.subject_cn or info.subject
        (result.present if info.sha256_fingerprint in present else result.missing).append(name)
    return result


async def upload_missing_trust(
    lister: NodeCertificates, uploader: NodeCertificates, purpose: str, ca_pems: Sequence[str]
) -> TrustUploadResult:
    """Upload CA certificates in order, skipping those already in the trust store.

    Args:
        lister: The purpose's publisher, over the interface that reads the trust store.
        uploader: The same node, over the interface the path uploads with (may be the same).
        purpose: The identity whose trust store receives them.
        ca_pems: The CA certificates, root first.

    Returns:
        The subjects uploaded and those found present (by fingerprint, or refused as
        duplicates by the node).
    """
    result = TrustUploadResult()
    present = {
        pki.certificate_info(t.certificate_pem).sha256_fingerprint
        for t in await lister.list_trust(purpose)
    }
    for pem in ca_pems:
        info = pki.certificate_info(pem)
        name = info.subject_cn or info.subject
        if info.sha256_fingerprint in present:
            result.skipped.append(name)
            continue
        try:
            await uploader.upload_trust(purpose, pem)
        except CucmTrustDuplicate:
            result.skipped.append(name)
            continue
        result.uploaded.append(name)
    return result


async def pending_csr(
    node: NodeCertificates, fqdn: str, purpose: str, csr_pem: str
) -> PendingCsrResult:
    """Compare the CSR that was signed with the one pending on the node, by key.

    Args:
        node: The node the CSR was generated on (the purpose's publisher, or the node itself
            on a per-node path), over the path's CSR interface.
        fqdn: That node, for messages.
        purpose: The identity the CSR is for.
        csr_pem: The CSR that was signed.

    Returns:
        Whether it still matches, and if not what is pending instead.
    """
    signed = pki.csr_info(csr_pem).public_key_sha256
    pending_pem = await node.pending_csr(purpose)
    if not pending_pem:
        return PendingCsrResult(
            matches=False,
            detail=f"no {purpose} CSR is pending on {fqdn} any more",
        )
    pending = pki.csr_info(pending_pem).public_key_sha256
    if pending != signed:
        return PendingCsrResult(
            matches=False,
            pending_key_fingerprint=pending,
            detail=(
                f"the {purpose} CSR pending on {fqdn} (key {pending[:16]}…) "
                f"is not the one that was signed (key {signed[:16]}…): a new CSR was "
                "generated on the cluster meanwhile"
            ),
        )
    return PendingCsrResult(matches=True, pending_key_fingerprint=pending)
