"""A CallManager renewal of a lab cluster with phones, through the real workflow."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import Client

from console.report import markdown_report
from lab.server import Lab
from lab.timing import FAST
from tests.e2e.conftest import FAST_OPTIONS, Stack
from tests.lab.conftest import LabHandle, lab_spec
from workers.settings import UcrenewSettings
from workflows import search_attributes as sa

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
        before = {
            n.fqdn: n.active["CallManager"].cert
            for n in running.cluster.nodes
            if n.product == "cucm"
        }
        async with stack.worker():
            handle = await stack.start(
                purposes=["CallManager"],
                windows=[stack.open_window()],
                options=FAST_OPTIONS.model_copy(update={"health_poll_seconds": 0.05}),
            )
            await stack.approve_impact(handle)
            final = await handle.result()
            attrs = (await handle.describe()).typed_search_attributes
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
        # ucrenew reset the phones itself (AXL doDeviceReset) after TFTP served the new ITL,
        # each node's phones before that node's CallManager restart (resets by primary): each
        # phone reset once, none by CUCM, and no secure phone met a node its CTL did not list.
        assert final.plan is not None and final.plan.restarts is not None
        assert final.plan.restarts.reset_phones
        cm_at = {e.node: e.at for e in cm_restarts}
        home = {p.name: p.members[0] for p in running.phones.phones}
        resets: dict[str, list[tuple[float, str]]] = {}
        for e in journal.entries("phone.unregistered"):
            if e.data["reason"].startswith("reset:"):
                for name in e.data["phones"]:
                    resets.setdefault(name, []).append((e.at, e.data["reason"]))
        assert {name for name, seen in resets.items() if len(seen) > 1} == set()
        assert sorted(resets) == sorted(p.name for p in running.phones.phones)
        assert all(seen == [(seen[0][0], "reset:axl")] for seen in resets.values())
        assert all(seen[0][0] < cm_at[home[name]] for name, seen in resets.items())
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
        # The status, the CertNotAfter attribute and the report are about CallManager: the
        # certificates SIP TLS served before (the IM&P node is not in scope), and the new one.
        new = final.new_certificates["CallManager"]
        assert new.serial == final.new_serial
        assert sorted(n.node for n in final.nodes) == sorted(before)
        for progress in final.nodes:
            cm = progress.certificates["CallManager"]
            assert list(progress.certificates) == ["CallManager"]
            assert cm.old_serial == format(before[progress.node].serial_number, "x")
            assert cm.old_not_after == before[progress.node].not_valid_after_utc
            assert cm.old_self_signed and cm.verified
            assert cm.new_serial == cm.served_serial == new.serial
        earliest = min(c.not_valid_after_utc for c in before.values())
        assert attrs.get(sa.CERT_NOT_AFTER) == earliest
        report = markdown_report(final)
        assert f"- New CallManager certificate: serial {new.serial}" in report
        pub = final.nodes[0]
        assert (
            f"| {pub.node} | CallManager | {pub.certificates['CallManager'].old_serial} "
            "(self-signed) |" in report
        )
        # CSCur97909: the CUCM nodes' former self-signed CallManager certificates are still in
        # CallManager-trust; each is listed once, with the command that removes it.
        left = [f for f in final.findings if f.code == "cscur97909-self-signed-left"]
        assert sorted(f.node or "" for f in left) == sorted(before)
        trust = running.cluster.publisher.trust["CallManager-trust"]
        for f in left:
            assert f.node is not None
            serial = format(before[f.node].serial_number, "x")
            files = [name for name, e in trust.items() if e.cert == before[f.node]]
            assert len(files) == 1 and serial in f.message
            assert f"`set cert delete trust CallManager-trust/{files[0]}`" in f.message
        assert "ucrenew check" in report and "## Caveats and advice" in report
