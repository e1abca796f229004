"""tomcat and CallManager renewals on lab clusters of every release a customer still runs,
each through the path a real cluster of that release offers (docs/releases.md).

Sources (../shared/reference/cucm-interfaces.md): no Certificate Management REST API before
14 (§2, §11, [DOC S8]), so 11.5 and 12.5 renew in OS Administration (§3, [DOC S1]); 14SU2
and later take multi-server uploads in the GUI only (§1.2, [DOC S3]); the services that
activate a CallManager certificate depend on the release (§10, [DOC S1, S3, S4]).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography import x509
from temporalio.client import Client

from lab.server import Lab
from lab.timing import FAST
from tests.e2e.conftest import FAST_OPTIONS, Stack
from tests.lab.conftest import LabHandle, lab_spec
from workers.settings import UcrenewSettings

pytestmark = pytest.mark.e2e

#: Release → (CSR, upload) interfaces ucrenew must take there.
RELEASES = {
    "11.5.1.21900-40": ("os-admin", "os-admin"),
    "12.5.1.16900-48": ("os-admin", "os-admin"),
    "14.0.1.11900-132": ("rest", "rest"),
    "15.0.1.10000-32": ("rest", "os-admin"),
}


def _stack(running: Lab, client: Client, tmp_path: Path, name: str) -> Stack:
    settings = UcrenewSettings(
        state_dir=tmp_path / "state", inventory=tmp_path / "state" / "lab" / "inventory.yaml"
    )
    return Stack(LabHandle(running), client, settings, f"{name}-{tmp_path.name}")


@pytest.mark.parametrize("version", sorted(RELEASES))
async def test_tomcat_and_callmanager_renewal_through_the_release_path(
    dev_server_env: Client, tmp_path: Path, version: str
) -> None:
    spec = lab_spec(version=version, sso_enabled=False, phones={"count": 40})
    async with Lab(spec, tmp_path / "state" / "lab", FAST) as running:
        stack = _stack(running, dev_server_env, tmp_path, "release")
        cluster = running.cluster
        before = {
            (n.hostname, p): n.active[p].cert.serial_number
            for n in cluster.nodes
            for p in ("tomcat", "CallManager")
            if p in n.active
        }
        async with stack.worker():
            handle = await stack.start(
                purposes=["tomcat", "CallManager"],
                windows=[stack.open_window()],
                options=FAST_OPTIONS.model_copy(update={"health_poll_seconds": 0.05}),
            )
            await stack.approve_impact(handle)
            final = await handle.result()
        assert final.phase == "done", final.error
        assert final.plan is not None and final.plan.certificate_path is not None
        path = final.plan.certificate_path
        assert (path.csr, path.identity) == RELEASES[version]
        assert path.release == version

        journal = running.journal
        csrs = journal.entries("csr.generated")
        assert [e.data["distribution"] for e in csrs] == ["Multi-server(SAN)"] * 2
        uploads = journal.entries("identity.uploaded")
        assert len(uploads) == 2
        # The OS Administration pages journal what they did; REST and the CLI do not.
        web_csrs = journal.entries("cmplatform.csr-generated")
        web_uploads = [
            e for e in journal.entries("cmplatform.uploaded") if e.data["kind"] == "identity"
        ]
        assert len(web_csrs) == (2 if path.csr == "os-admin" else 0)
        assert len(web_uploads) == (2 if path.identity == "os-admin" else 0)
        assert not journal.entries("cmplatform.login-refused")
        for node in cluster.nodes:
            for purpose in ("tomcat", "CallManager"):
                if (node.hostname, purpose) not in before:
                    continue
                served = node.active[purpose].cert.serial_number
                assert format(served, "x") == final.new_certificates[purpose].serial
                assert served != before[(node.hostname, purpose)]
        assert all(n.verified for n in final.nodes)


async def test_per_node_renewal_on_12_5_gives_each_node_its_own_certificate(
    dev_server_env: Client, tmp_path: Path
) -> None:
    spec = lab_spec(version="12.5.1.16900-48", sso_enabled=False)
    async with Lab(spec, tmp_path / "state" / "lab", FAST) as running:
        stack = _stack(running, dev_server_env, tmp_path, "per-node")
        async with stack.worker():
            handle = await stack.start(
                purposes=["tomcat"],
                options=FAST_OPTIONS.model_copy(update={"distribution": "per-node"}),
            )
            final = await handle.result()
        assert final.phase == "done", final.error
        assert final.plan is not None and final.plan.certificate_path is not None
        assert final.plan.certificate_path.per_node
        journal = running.journal
        csrs = journal.entries("csr.generated")
        nodes = running.cluster.nodes
        # One single-server CSR per node, made on that node's CLI; one upload per node.
        assert sorted(e.node or "" for e in csrs) == sorted(n.hostname for n in nodes)
        assert not journal.entries("cmplatform.csr-generated")
        assert not [
            e for e in journal.entries("cmplatform.uploaded") if e.data["kind"] == "identity"
        ]
        uploads = journal.entries("identity.uploaded")
        assert sorted(e.node or "" for e in uploads) == sorted(n.hostname for n in nodes)
        serials = set()
        for node in nodes:
            cert = node.active["tomcat"].cert
            serials.add(cert.serial_number)
            san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            assert [n.lower() for n in san.get_values_for_type(x509.DNSName)] == [node.fqdn.lower()]
            progress = next(p for p in final.nodes if p.node == node.fqdn)
            assert progress.verified
            assert progress.certificates["tomcat"].new_serial == format(cert.serial_number, "x")
        assert len(serials) == len(nodes)
        # One change: one plan, one CSR question per node, never an impact approval (tomcat).
        assert [s.node for s in final.plan.steps if s.phase == "csr"] == [n.fqdn for n in nodes]
