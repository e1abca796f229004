"""The CSR options a change carries reach CUCM's CSR dialog (the lab's) and the plan."""

from __future__ import annotations

from activities.clients import pki
from tests.e2e.conftest import FAST_OPTIONS, Stack


async def test_key_length_hash_and_other_domains_shape_the_csr(stack: Stack) -> None:
    options = FAST_OPTIONS.model_copy(
        update={
            "key_length": 3072,
            "hash_algorithm": "sha384",
            "other_domains": ["uc.lab.example.com"],
            "min_remaining_days": 7,
        }
    )
    async with stack.worker():
        handle = await stack.start(options=options)
        await stack.reenable_sso(handle)
        status = await handle.result()

    assert status.phase == "done"
    assert status.csr_pem is not None
    csr = pki.csr_info(status.csr_pem)
    assert (csr.key_type, csr.key_size, csr.signature_hash) == ("RSA", 3072, "sha384")
    assert "uc.lab.example.com" in csr.san_dns
    assert status.plan is not None
    step = next(s for s in status.plan.steps if s.phase == "csr")
    assert step.detail.endswith("; key RSA 3072, hash SHA384; other domains: uc.lab.example.com")
