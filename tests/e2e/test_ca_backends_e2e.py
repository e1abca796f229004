"""Renewals of the lab through each CA backend: the ADCS twin and a real ACME server (pebble)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ApplicationError

from lab.control import LabControl
from tests.ca.challtestsrv import dns_hook_argv
from tests.ca.pebble import Pebble
from tests.e2e.conftest import Stack
from workers.settings import UcrenewSettings
from workers.wiring import build_worker
from workflows.models import CaCheckInput
from workflows.renewal import CertRenewalWorkflow

pytestmark = pytest.mark.e2e


def adcs_requests(stack: Stack, status: str) -> list[int]:
    adcs = stack.lab.lab.adcs
    assert adcs is not None
    return [r.request_id for r in adcs.list_requests() if r.status == status]


async def test_adcs_issues_at_once(stack: Stack) -> None:
    async with stack.worker():
        handle = await stack.start(ca="adcs")
        await stack.reenable_sso(handle)
        status = await handle.result()
    assert status.phase == "done" and all(n.verified for n in status.nodes)
    journal = stack.lab.lab.journal
    issued = journal.entries("adcs.request.issued")
    assert len(issued) == 1 and issued[0].data["template"] == "WebServer"
    assert str(issued[0].data["request_id"]) == status.ca_request_ref
    # The chain came from the ADCS CA: the intermediate and root were uploaded as trust.
    assert [e.data["outcome"] for e in journal.entries("trust.uploaded")] == ["added", "added"]


async def test_adcs_pending_until_a_ca_admin_issues(stack: Stack) -> None:
    async with stack.worker():
        handle = await stack.start(
            ca="adcs",
            ca_template="CUCMManualApproval",
            options={"restart_poll_seconds": 0.1, "ca_poll_seconds": 0.3},
        )
        status = await stack.wait_for(handle, "ca")
        assert status.ca_request_ref is not None
        await asyncio.sleep(2)  # the CA admin takes their time; the renewal keeps polling
        status = await handle.query(CertRenewalWorkflow.get_status)
        assert status.awaiting == "ca" and status.phase == "ca-wait"
        assert adcs_requests(stack, "pending") == [int(status.ca_request_ref)]
        assert not stack.lab.lab.journal.entries("sso.disabled")  # SSO untouched while waiting
        adcs = stack.lab.lab.adcs
        assert adcs is not None
        adcs.issue(int(status.ca_request_ref))
        await stack.reenable_sso(handle)
        final = await handle.result()
    assert final.phase == "done" and all(n.verified for n in final.nodes)
    history = await handle.fetch_history()
    # Polling every 0.3 s for 2+ s left no trace in the history beyond the one activity.
    polls = [
        e
        for e in history.events
        if e.activity_task_scheduled_event_attributes.activity_type.name == "await_certificate"
    ]
    assert len(polls) == 1


async def test_adcs_denial_fails_cleanly_and_leaves_sso_alone(stack: Stack) -> None:
    async with stack.worker():
        handle = await stack.start(ca="adcs", ca_template="CUCMRestricted")
        with pytest.raises(WorkflowFailureError) as failed:
            await handle.result()
        status = await handle.query(CertRenewalWorkflow.get_status)
    cause = failed.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == "CaRequestDenied"
    assert "denied" in cause.message
    assert status.phase == "failed" and status.outstanding == []
    journal = stack.lab.lab.journal
    assert not journal.entries("sso.disabled")
    assert stack.lab.lab.cluster.sso_enabled and not stack.lab.lab.cluster.sso_broken
    assert not journal.entries("trust.uploaded") and not journal.entries("identity.uploaded")


async def test_acme_against_pebble(stack: Stack, pebble: Pebble, tmp_path: Path) -> None:
    inventory = yaml.safe_load(stack.settings.inventory_path.read_text())
    root_file = tmp_path / "pebble-root.pem"
    root_file.write_text(pebble.root_pem)
    inventory["cas"] = [
        *inventory.get("cas", []),
        {
            "name": "pebble",
            "type": "acme",
            "directory_url": pebble.directory_url,
            "contact_email": "voice-team@example.com",
            "ca_bundle": str(pebble.ca_bundle),
            "root_file": str(root_file),
            "dns_hook": {
                "type": "command",
                "argv": dns_hook_argv(pebble.challtestsrv_url, tmp_path / "dns-hook.log"),
            },
        },
    ]
    inventory_file = tmp_path / "clusters.yaml"
    inventory_file.write_text(yaml.safe_dump(inventory))
    settings = UcrenewSettings(state_dir=stack.settings.state_dir, inventory=inventory_file)
    async with build_worker(stack.client, settings, stack.task_queue):
        handle = await stack.start(
            ca="acme", options={"restart_poll_seconds": 0.1, "ca_poll_seconds": 0.5}
        )
        await stack.reenable_sso(handle)
        status = await handle.result()
    assert status.phase == "done" and all(n.verified for n in status.nodes)
    served = stack.lab.lab.cluster.publisher.active["tomcat"].cert
    pebble_root = x509.load_pem_x509_certificate(pebble.root_pem.encode())
    pebble_intermediate = x509.load_pem_x509_certificate(pebble.intermediate_pem.encode())
    assert served.issuer == pebble_intermediate.subject
    assert pebble_intermediate.issuer == pebble_root.subject
    assert (
        sorted(
            x509.DNSName(n.fqdn)
            in served.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            for n in stack.lab.lab.cluster.nodes
        )
        == [True] * 4
    )


async def test_adcs_check_now_finds_an_issued_request_at_once(stack: Stack) -> None:
    async with stack.worker():
        handle = await stack.start(
            ca="adcs",
            ca_template="CUCMManualApproval",
            options={"restart_poll_seconds": 0.1, "ca_poll_seconds": 3600},
        )
        status = await stack.wait_for(handle, "ca")
        check = CaCheckInput(principal="night-operator")
        status = await handle.execute_update(CertRenewalWorkflow.check_ca, check)
        assert status.awaiting == "ca"  # still pending at the CA
        assert status.ca_request_ref is not None
        # The CA manager issues it (as `ucrenew lab adcs issue ID` does) ...
        async with LabControl(stack.lab.lab.control_url) as control:
            await control.adcs_issue(status.ca_request_ref)
        # ... and checking now goes on at once rather than an hour later.
        status = await asyncio.wait_for(
            handle.execute_update(CertRenewalWorkflow.check_ca, check), 30
        )
        assert status.awaiting != "ca"
        await stack.reenable_sso(handle)
        final = await handle.result()
    assert final.phase == "done" and all(n.verified for n in final.nodes)
    issued = stack.lab.lab.journal.entries("adcs.request.issued")
    assert [str(e.data["request_id"]) for e in issued] == [final.ca_request_ref]
    assert [e.action for e in final.audit].count("ca-check-requested") == 2
