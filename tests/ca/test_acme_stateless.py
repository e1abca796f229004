"""An ACME order finished by a worker that did not create it and keeps nothing on its disk.

Against pebble. What makes it possible is public protocol, not shared storage: the account
URL is found again from the key with ``onlyReturnExisting`` (RFC 8555 section 7.3.1), an
order is read by POST-as-GET of its URL (section 7.4), finalized with the CSR (section
7.4), and the dns-01 TXT value to clean up is the base64url SHA-256 digest of the key
authorization, token "." account-key thumbprint (section 8.1 and 8.4), so it can be computed
again from the authorization's challenge and the account key.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from activities.clients.ca.acme.backend import AcmeCa
from activities.clients.ca.errors import CaConfigurationError, CaRequestNotFound
from activities.models import CaProfile, CaSubmission
from tests.ca.challtestsrv import ChallTestSrvDnsHook
from tests.ca.pebble import Pebble
from tests.ca.test_acme import (
    MAX_POLLS,
    RecordingDnsHook,
    acme_ca,
    assert_chain_to_root,
    make_csr,
    node_names,
)


def account_key_file(directory: Path) -> Path:
    """An ACME account key where a secret reference points (outside any state dir)."""
    key = ec.generate_private_key(ec.SECP256R1())
    path = directory / "acme-account.key"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return path


async def poll_with_csr(ca: AcmeCa, first: CaSubmission, csr_pem: str) -> CaSubmission:
    answer, polls = first, 0
    while answer.status == "pending":
        assert polls < MAX_POLLS, "order never left pending"
        await asyncio.sleep(answer.retry_after_seconds or 0.2)
        answer = await ca.poll(answer.request_ref, csr_pem)
        polls += 1
    return answer


async def wait_until_ready(ca: AcmeCa, order_url: str) -> None:
    """Wait until pebble has validated the order (not finalized: nobody has its CSR here)."""
    for _ in range(MAX_POLLS):
        try:
            answer = await ca.poll(order_url)
        except CaRequestNotFound:
            return  # ready, and this instance (no disk, no CSR) cannot finalize it
        assert answer.status == "pending"
        await asyncio.sleep(0.2)
    raise AssertionError("order never became ready")


async def test_a_stateless_worker_finishes_an_order_another_worker_created(
    pebble: Pebble, tmp_path: Path
) -> None:
    names = node_names(2)
    csr_pem, key_fp = make_csr(names)
    key_ref = f"file:{account_key_file(tmp_path)}"
    first_hook = RecordingDnsHook(ChallTestSrvDnsHook(pebble.challtestsrv_url))
    first = acme_ca(pebble, tmp_path / "pod-a", account_key_ref=key_ref, dns_hook=first_hook)
    pending = await first.submit(csr_pem, CaProfile())
    assert pending.status == "pending" and len(first_hook.presented) == 2
    # pod-a is gone; pod-b starts with nothing on its disk.
    empty = tmp_path / "pod-b"
    second_hook = RecordingDnsHook(ChallTestSrvDnsHook(pebble.challtestsrv_url))
    second = acme_ca(pebble, empty, account_key_ref=key_ref, dns_hook=second_hook, local_disk=False)
    await wait_until_ready(second, pending.request_ref)

    issued = await poll_with_csr(second, pending, csr_pem)

    assert_chain_to_root(issued, pebble, names, key_fp)
    # The records pod-a published were cleaned up by pod-b, computed again from the CA.
    assert sorted(second_hook.cleaned) == sorted(first_hook.presented)
    assert not empty.exists()


async def test_a_stateless_worker_refuses_to_keep_an_account_key_on_disk(
    pebble: Pebble, tmp_path: Path
) -> None:
    csr_pem, _ = make_csr(node_names(1))
    ca = acme_ca(pebble, tmp_path / "state", local_disk=False)
    with pytest.raises(CaConfigurationError) as refused:
        await ca.submit(csr_pem, CaProfile())
    assert "account_key" in refused.value.message and "UCRENEW_STATELESS" in refused.value.message
    assert not (tmp_path / "state").exists()
