"""An IM and Presence (cup-xmpp) renewal of a lab cluster, through the real workflow."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import Client

from console.report import markdown_report
from lab.server import Lab
from lab.timing import FAST
from tests.e2e.conftest import Stack
from tests.lab.conftest import LabHandle, lab_spec
from workers.settings import UcrenewSettings
from workflows import search_attributes as sa

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("purposes", [["cup-xmpp"], ["cup-xmpp", "cup-xmpp-s2s"]])
async def test_imp_renewal_reports_its_own_purposes(
    dev_server_env: Client, tmp_path: Path, purposes: list[str]
) -> None:
    spec = lab_spec(sso_enabled=False)
    async with Lab(spec, tmp_path / "state" / "lab", FAST) as running:
        settings = UcrenewSettings(
            state_dir=tmp_path / "state", inventory=tmp_path / "state" / "lab" / "inventory.yaml"
        )
        stack = Stack(LabHandle(running), dev_server_env, settings, f"imp-{tmp_path.name}")
        imp = next(n for n in running.cluster.nodes if n.product == "imp")
        before = {p: imp.active[p].cert for p in purposes}
        async with stack.worker():
            handle = await stack.start(purposes=purposes, windows=[stack.open_window()])
            await stack.approve_impact(handle)
            final = await handle.result()
            attrs = (await handle.describe()).typed_search_attributes
        assert final.phase == "done", final.error
        # Only the IM&P node is in scope, with each XMPP purpose: the certificate its listener
        # served before and the one it serves now.
        assert [n.node for n in final.nodes] == [imp.fqdn]
        progress = final.nodes[0]
        assert list(progress.certificates) == purposes
        for purpose in purposes:
            cert = progress.certificates[purpose]
            new = final.new_certificates[purpose]
            assert cert.old_serial == format(before[purpose].serial_number, "x")
            assert cert.old_not_after == before[purpose].not_valid_after_utc
            assert cert.new_serial == new.serial == cert.served_serial
            assert cert.verified
            assert format(imp.active[purpose].cert.serial_number, "x") == new.serial
        assert attrs.get(sa.CERT_NOT_AFTER) == min(c.not_valid_after_utc for c in before.values())
        report = markdown_report(final)
        for purpose in purposes:
            assert f"| {imp.fqdn if purpose == purposes[0] else ''} | {purpose} | " in report
            assert f"- New {purpose} certificate: serial " in report
        # CSCur97909: the node's former self-signed XMPP certificates stay in cup-xmpp-trust.
        left = [f for f in final.findings if f.code == "cscur97909-self-signed-left"]
        assert len(left) == len(purposes)
        assert all("set cert delete trust cup-xmpp-trust/" in f.message for f in left)
        assert all(f"on each of {imp.fqdn}" in f.message for f in left)
