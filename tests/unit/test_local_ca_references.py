"""The local CA given by secret reference, as every replica of a stateless deployment uses it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa

from activities.clients.ca.errors import CaConfigurationError
from activities.clients.ca.local import LocalCa
from activities.models import CaProfile
from tests.unit.test_local_ca import make_csr
from workers.settings import SettingsError, UcrenewSettings, load_settings
from workers.wiring import local_ca, trust_store


@pytest.fixture(scope="module")
def provisioned(tmp_path_factory: pytest.TempPathFactory) -> tuple[LocalCa, Path, Path]:
    """A CA made once, its key and chain where references point."""
    base = tmp_path_factory.mktemp("provisioned")
    ca = LocalCa(base / "ca", key_size=2048)
    chain = base / "chain.pem"
    chain.write_text(ca.chain_pem)
    return ca, base / "ca" / "intermediate.key", chain


async def test_two_workers_with_empty_disks_sign_with_the_referenced_ca(
    provisioned: tuple[LocalCa, Path, Path], tmp_path: Path
) -> None:
    ca, key, chain = provisioned
    issuing = x509.load_pem_x509_certificate(ca.intermediate_pem.encode())
    for pod in ("pod-a", "pod-b"):
        worker_ca = LocalCa(
            tmp_path / pod, key_ref=f"file:{key}", chain_ref=f"file:{chain}", local_disk=False
        )
        csr = make_csr(rsa.generate_private_key(public_exponent=65537, key_size=2048))
        answer = await worker_ca.submit(csr, CaProfile())
        assert answer.status == "issued" and answer.certificate_pem
        leaf = x509.load_pem_x509_certificate(answer.certificate_pem.encode())
        leaf.verify_directly_issued_by(issuing)
        assert answer.chain_pem == ca.chain_pem
        assert not (tmp_path / pod).exists()


def test_a_stateless_worker_without_references_refuses_to_create_a_ca(tmp_path: Path) -> None:
    ca = LocalCa(tmp_path / "ca", key_size=2048, local_disk=False)
    with pytest.raises(CaConfigurationError) as refused:
        ca.ensure()
    assert "UCRENEW_LOCAL_CA_KEY_REF" in refused.value.message
    assert not (tmp_path / "ca").exists()


def test_a_key_that_is_not_the_chains_is_refused_naming_the_references(
    provisioned: tuple[LocalCa, Path, Path], tmp_path: Path
) -> None:
    _, key, _ = provisioned
    other = LocalCa(tmp_path / "other", key_size=2048)
    other_chain = tmp_path / "other-chain.pem"
    other_chain.write_text(other.chain_pem)
    ca = LocalCa(tmp_path / "x", key_ref=f"file:{key}", chain_ref=f"file:{other_chain}")
    with pytest.raises(CaConfigurationError) as refused:
        ca.ensure()
    message = refused.value.message
    assert f"file:{key}" in message and "is not the key" in message
    assert "PRIVATE KEY" not in message


def test_an_unresolvable_reference_names_it(tmp_path: Path) -> None:
    ca = LocalCa(tmp_path / "x", key_ref="env:NO_SUCH_UCRENEW_KEY", chain_ref="env:NO_SUCH_CHAIN")
    with pytest.raises(CaConfigurationError, match="env:NO_SUCH_UCRENEW_KEY"):
        ca.ensure()


def test_settings_take_both_references_or_neither(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UCRENEW_LOCAL_CA_KEY_REF", "env:CA_KEY")
    with pytest.raises(SettingsError, match="UCRENEW_LOCAL_CA_CHAIN_REF"):
        load_settings()


def test_the_worker_builds_the_local_ca_from_the_settings(
    provisioned: tuple[LocalCa, Path, Path], tmp_path: Path
) -> None:
    ca, key, chain = provisioned
    settings = UcrenewSettings(
        state_dir=tmp_path,
        stateless=True,
        local_ca_key_ref=f"file:{key}",
        local_ca_chain_ref=f"file:{chain}",
    )
    assert local_ca(settings).root_pem == ca.root_pem


def test_a_chain_not_in_a_file_is_trusted_from_the_workers_own_copy(
    provisioned: tuple[LocalCa, Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ca, key, chain = provisioned
    monkeypatch.setenv("TEST_LOCAL_CA_KEY", key.read_text())
    monkeypatch.setenv("TEST_LOCAL_CA_CHAIN", chain.read_text())
    settings = UcrenewSettings(
        state_dir=tmp_path / "state",
        stateless=True,
        local_ca_key_ref="env:TEST_LOCAL_CA_KEY",
        local_ca_chain_ref="env:TEST_LOCAL_CA_CHAIN",
    )
    [shared] = trust_store(settings).shared
    assert Path(shared.path).read_text() == ca.chain_pem
    assert "env:TEST_LOCAL_CA_CHAIN" in shared.label
    assert not (tmp_path / "state").exists()


def test_a_worker_whose_local_ca_reference_fails_exits_1_with_one_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("UCRENEW_", "VAULT_"))}
    env.update(
        UCRENEW_STATE_DIR=str(tmp_path),
        UCRENEW_LOCAL_CA_KEY_REF="env:UNSET_TEST_KEY",
        UCRENEW_LOCAL_CA_CHAIN_REF="env:UNSET_TEST_CHAIN",
        # Nothing listens there: the CA error must come first, before any connection.
        UCRENEW_TEMPORAL_ADDRESS="127.0.0.1:9",
    )
    done = subprocess.run(
        [sys.executable, "-m", "workers"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert "error: local CA: secret reference 'env:UNSET_TEST_KEY'" in done.stderr
