"""No private key in a submission, ever (issue 16), on the real dev server and the lab.

A certificate file that also holds a private key must be refused before anything of it is
stored: not in the workflow history, not in the dev server's SQLite database, and the renewal
keeps waiting for the right certificate. A refused update leaves no event (temporalio/temporal
docs/architecture/workflow-update.md: "Update rejection must leave no traces in workflow
history"; the speculative workflow task is not persisted), so the validator is in time for
foreign clients; ucrenew's own clients never send the bytes at all.
"""

from __future__ import annotations

import base64
import uuid
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.exceptions import ApplicationError

from activities.clients.ca.local import LocalCa
from activities.clients.key_material import KeyMaterialError
from tests.e2e.conftest import Stack
from workers.devserver import DevServer
from workflows.models import (
    ApprovalInput,
    CertificateSubmission,
    SubmissionResult,
)
from workflows.renewal import CertRenewalWorkflow

pytestmark = pytest.mark.e2e


def refusal(exc: BaseException) -> ApplicationError:
    cause: BaseException | None = exc
    while cause is not None and not isinstance(cause, ApplicationError):
        cause = cause.__cause__
    assert isinstance(cause, ApplicationError), exc
    return cause


def body_lines(pem: bytes) -> list[bytes]:
    """The base64 lines of a PEM (each one unique to this key)."""
    return [line for line in pem.splitlines() if line and not line.startswith(b"-----")]


def database_bytes(server: DevServer) -> bytes:
    db = server.db_filename
    return b"".join(p.read_bytes() for p in (db, db.with_name(db.name + "-wal")) if p.exists())


async def test_a_submission_holding_a_key_is_refused_and_nothing_of_it_is_stored(
    stack: Stack, dev_server: DevServer, tmp_path: Path
) -> None:
    enterprise = LocalCa(tmp_path / "enterprise-ca", name="enterprise")
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    key_pem = rsa_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    ec_key = ec.generate_private_key(ec.SECP256R1())
    ec_pem = ec_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"pw"),
    )
    # A client that does not use ucrenew's converter: the `temporal` CLI, another SDK.
    foreign = await Client.connect(
        dev_server.address,
        namespace=dev_server.namespace,
        data_converter=pydantic_data_converter,
    )
    async with stack.worker():
        handle = await stack.start(ca="manual", change_id=f"CHG-KEY-{uuid.uuid4().hex[:8]}")
        try:
            status = await stack.wait_for(handle, "ca")
            assert status.csr_pem
            good_pem, chain = enterprise.sign(status.csr_pem)
            pfx = pkcs12.serialize_key_and_certificates(
                b"x", rsa_key, None, None, serialization.NoEncryption()
            )
            pfx_b64 = base64.encodebytes(pfx)
            with_key = good_pem + key_pem.decode()

            # 1. ucrenew's own converter refuses before a byte is sent: update and signal.
            with pytest.raises(KeyMaterialError, match="'RSA PRIVATE KEY'"):
                await handle.execute_update(
                    CertRenewalWorkflow.submit_certificate,
                    CertificateSubmission(
                        principal="pki-admin", certificate_pem=with_key, chain_pem=chain
                    ),
                )
            with pytest.raises(KeyMaterialError):
                await handle.signal(
                    CertRenewalWorkflow.approve_signal,
                    ApprovalInput(principal="pki-admin", comment=ec_pem.decode()),
                )

            # 2. A foreign client's update reaches the worker: the validator refuses it.
            foreign_handle = foreign.get_workflow_handle(handle.id)
            for submission in (
                CertificateSubmission(
                    principal="pki-admin", certificate_pem=with_key, chain_pem=chain
                ),
                CertificateSubmission(
                    principal="pki-admin",
                    certificate_pem=good_pem,
                    chain_pem=chain + ec_pem.decode(),
                ),
                CertificateSubmission(
                    principal="pki-admin", certificate_pem=good_pem + pfx_b64.decode()
                ),
            ):
                with pytest.raises(WorkflowUpdateFailedError) as refused:
                    await foreign_handle.execute_update(
                        "submit_certificate", submission, result_type=SubmissionResult
                    )
                error = refusal(refused.value)
                assert error.type == "PrivateKeyInSubmission"
                assert "private key material" in error.message
                assert "never leaves" in error.message

            # 3. The renewal keeps waiting, with no refusal recorded, and takes the right one.
            status = await handle.query(CertRenewalWorkflow.get_status)
            assert status.awaiting == "ca" and status.phase == "ca-wait"
            assert status.refused_submissions == []
            assert not [e for e in status.audit if e.actor == "pki-admin"]
            accepted = await handle.execute_update(
                CertRenewalWorkflow.submit_certificate,
                CertificateSubmission(
                    principal="pki-admin", certificate_pem=good_pem, chain_pem=chain
                ),
            )
            assert accepted.accepted

            # 4. Nothing of the keys is in the history nor in the server's database.
            history = await handle.fetch_history()
            raw = b"".join(event.SerializeToString() for event in history.events)
            cert_line = body_lines(good_pem.encode())[3]
            assert cert_line in raw  # the history is readable: the checks below mean something
            secrets = [*body_lines(key_pem), *body_lines(ec_pem), *pfx_b64.splitlines()[2:6]]
            secrets.append(
                rsa_key.private_bytes(
                    serialization.Encoding.DER,
                    serialization.PrivateFormat.TraditionalOpenSSL,
                    serialization.NoEncryption(),
                )[100:140]
            )
            assert b"PRIVATE KEY" not in raw
            assert not [s for s in secrets if s in raw]
            db = database_bytes(dev_server)
            assert cert_line in db  # the database stores payloads readably
            assert not [s for s in secrets if s in db]
        finally:
            await handle.terminate("test over")
