"""A password written in the inventory by mistake is refused without ever being repeated.

The real worker (``workers.wiring.build_worker``) runs a renewal against an inventory with a
literal password where a reference belongs, and with another one under a misspelt key; the
change fails with a message that names the fields and says how to give a reference, and
neither password appears in the status, the raw history or the captured log lines.
"""

from __future__ import annotations

import logging
import uuid
from pathlib import Path

import pytest
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import ApplicationError

from workers.settings import UcrenewSettings
from workers.wiring import build_worker
from workflows import search_attributes as sa
from workflows.models import RenewalInput
from workflows.renewal import CertRenewalWorkflow

LITERAL = "Lit3ral-Pa55word!"
MISPLACED = "Misp1aced-Secret?"

INVENTORY = f"""
clusters:
  - name: prod
    domain: example.com
    publisher: cucm-pub.example.com
    nodes:
      - fqdn: cucm-pub.example.com
        role: publisher
    credentials:
      os_admin: {{username: admin, password: "{LITERAL}"}}
      app_user: {{username: axl, password: env:AXL_PW, pasword: "{MISPLACED}"}}
"""


@pytest.fixture
def settings(tmp_path: Path) -> UcrenewSettings:
    inventory = tmp_path / "clusters.yaml"
    inventory.write_text(INVENTORY)
    return UcrenewSettings(state_dir=tmp_path / "state", inventory=inventory)


async def test_a_literal_password_is_refused_and_never_repeated(
    dev_server_env: Client, settings: UcrenewSettings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    task_queue = f"secrets-{uuid.uuid4()}"
    inp = RenewalInput(change_id=f"CHG-{uuid.uuid4().hex[:10]}", cluster="prod", requested_by="t")
    async with build_worker(dev_server_env, settings, task_queue):
        handle = await dev_server_env.start_workflow(
            CertRenewalWorkflow.run,
            inp,
            id=inp.change_id,
            task_queue=task_queue,
            search_attributes=sa.start_attributes(inp.cluster, inp.change_id, ["tomcat"]),
        )
        with pytest.raises(WorkflowFailureError) as failed:
            await handle.result()
        status = await handle.query(CertRenewalWorkflow.get_status)

    cause = failed.value.cause
    while cause is not None and not isinstance(cause, ApplicationError):
        cause = cause.__cause__
    assert isinstance(cause, ApplicationError)
    # The operator learns which fields and how to fix them.
    assert status.error is not None
    for text in (cause.message, status.error):
        assert "clusters[0].credentials.os_admin.password" in text
        assert "env:NAME" in text and "file:PATH" in text
        assert "clusters[0].credentials.app_user.pasword: unknown field" in text

    history = await handle.fetch_history()
    raw = b"".join(event.SerializeToString() for event in history.events)
    assert (
        b"os_admin.password" in raw
    )  # the failure is in the history: the check below means something
    logged = "\n".join(f"{r.getMessage()} {r.exc_text or ''}" for r in caplog.records)
    for secret in (LITERAL, MISPLACED):
        assert secret not in status.model_dump_json()
        assert secret.encode() not in raw
        assert secret not in logged
        assert secret not in caplog.text
