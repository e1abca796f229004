"""A CallManager renewal of a lab cluster with phones, through the real workflow."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from temporalio.client import Client

from lab.server import Lab
from lab.timing import FAST
from tests.e2e.conftest import FAST_OPTIONS, Stack
from tests.lab.conftest import LabHandle, lab_spec
from workers.settings import UcrenewSettings
from workflows.models import ApprovalInput
from workflows.renewal import CertRenewalWorkflow

pytestmark = pytest.mark.e2e


async def test_callmanager_renewal_in_mixed_mode_keeps_phones_registered(
    dev_server_env: Client, tmp_path: Path
) -> None:
    spec = lab_spec(
        version="12.5.1.14900-63",
        security_mode=1,
        sso_enabled=False,
        phones={"count": 200, "secure_fraction": 0.25},
    )
    async with Lab(spec, tmp_path / "state" / "lab", FAST) as running:
        settings = UcrenewSettings(
            state_dir=tmp_path / "state", inventory=tmp_path / "state" / "lab" / "inventory.yaml"
        )
        stack = Stack(LabHandle(running), dev_server_env, settings, f"cm-{tmp_path.name}")
        now = datetime.now(UTC)
        window = {
            "start": (now - timedelta(hours=1)).isoformat(),
            "end": (now + timedelta(hours=4)).isoformat(),
        }
        async with stack.worker():
            handle = await stack.start(
                purposes=["CallManager"],
                windows=[window],
                options=FAST_OPTIONS.model_copy(update={"health_poll_seconds": 0.05}),
            )
            status = await stack.wait_for(handle, "approval")
            assert status.gate == "impact"
            await handle.execute_update(
                CertRenewalWorkflow.approve, ApprovalInput(principal="cab-member", comment="ok")
            )
            final = await handle.result()
        assert final.phase == "done", final.error
        journal = running.journal
        kinds = [e.kind for e in journal.entries()]
        cm_restarts = [
            e
            for e in journal.entries("service.control")
            if e.data["service"] == "Cisco CallManager"
        ]
        assert len(cm_restarts) == 3  # each CUCM node once
        assert kinds.index("ctl.updated") < kinds.index("service.control")
        # ucrenew reset the phones itself (AXL doDeviceReset), in gated batches after TFTP
        # served the new ITL and before any CallManager restart: each phone reset once, none
        # by CUCM afterwards, and no secure phone met a node its CTL did not list.
        assert final.plan is not None and final.plan.restarts is not None
        assert final.plan.restarts.reset_phones
        first_cm = min(e.at for e in cm_restarts)
        resets: dict[str, list[tuple[float, str]]] = {}
        for e in journal.entries("phone.unregistered"):
            if e.data["reason"].startswith("reset:"):
                for name in e.data["phones"]:
                    resets.setdefault(name, []).append((e.at, e.data["reason"]))
        assert {name for name, seen in resets.items() if len(seen) > 1} == set()
        assert sorted(resets) == sorted(p.name for p in running.phones.phones)
        assert all(seen == [(seen[0][0], "reset:axl")] for seen in resets.values())
        assert all(seen[0][0] < first_cm for seen in resets.values())
        assert final.phones_reset == len(running.phones.phones)
        assert journal.entries("phone.rejected") == []
        # every phone, secure ones included, is registered at the end
        secure = [p for p in running.phones.phones if p.secure]
        assert secure and all(p.node is not None for p in secure)
        assert all(phone.node is not None for phone in running.phones.phones)
        # SIP TLS on every CUCM node serves the new certificate
        for node in running.cluster.nodes:
            if node.product == "cucm":
                assert (
                    format(node.active["CallManager"].cert.serial_number, "x") == final.new_serial
                )
        assert all(n.verified for n in final.nodes if n.node.startswith("cucm"))
