"""Trust that follows what ucrenew installs, end to end.

The lab starts with self-signed certificates, and the inventory's ``tls.ca_file`` holds them.
Two renewals in a row, with two different CAs (the lab's ADCS twin, then ucrenew's local CA),
must each reach the cluster without anyone touching the inventory; a wrong CA file must say
which node and which file.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from cryptography import x509

from activities.clients.ca.local import LocalCa
from activities.clients.cucm.discovery import discover
from activities.clients.inventory import load_inventory
from activities.clients.trust_store import TrustStore
from console.planning import dry_run_report
from tests.e2e.conftest import Stack
from workers.settings import UcrenewSettings
from workers.wiring import build_worker, trust_store

pytestmark = pytest.mark.e2e


def served_issuer(stack: Stack) -> set[str]:
    return {n.active["tomcat"].cert.issuer.rfc4514_string() for n in stack.lab.lab.cluster.nodes}


def root_subject(pem: str) -> str:
    return x509.load_pem_x509_certificate(pem.encode()).subject.rfc4514_string()


async def test_two_renewals_with_two_cas_without_touching_the_inventory(stack: Stack) -> None:
    inventory = stack.settings.inventory_path.read_bytes()
    adcs = stack.lab.lab.adcs
    assert adcs is not None
    adcs_root = root_subject(Path(adcs.ca_file).read_text())
    store: TrustStore = trust_store(stack.settings)
    lab = stack.lab.cluster_entry.name

    async with stack.worker():
        # Self-signed → ADCS.
        first = await stack.start(ca="adcs")
        await stack.reenable_sso(first)
        done = await first.result()
        assert done.phase == "done" and all(n.verified for n in done.nodes)
        assert adcs_root in [e.subject for e in store.entries(lab)]

        # ADCS → local CA: discovery, uploads and restarts must trust the ADCS chain the
        # nodes serve now, although the inventory still names the self-signed certificates.
        second = await stack.start(ca="local")
        await stack.reenable_sso(second)
        status = await second.result()

    assert status.phase == "done", status.error
    assert all(n.verified for n in status.nodes)
    local = LocalCa(stack.settings.state_dir / "ca" / "local")
    assert served_issuer(stack) == {
        x509.load_pem_x509_certificate(local.intermediate_pem.encode()).subject.rfc4514_string()
    }
    assert stack.settings.inventory_path.read_bytes() == inventory
    # Every node verified: the local CA's chain is trusted, the ADCS chain it replaced retired.
    assert [e.subject for e in store.entries(lab)] == [
        root_subject(local.intermediate_pem),
        root_subject(local.root_pem),
    ]
    settled = [e.comment for e in status.audit if e.action == "trust-settled"]
    assert len(settled) == 1 and adcs_root in settled[0] and str(store.path(lab)) in settled[0]

    # `ucrenew plan` trusts the same files: nothing stands in the way of a third renewal.
    async with stack.worker():
        report = await dry_run_report(stack.client, stack.task_queue, lab, ["tomcat"])
    problems = report.problems
    assert problems == []
    snapshot = await discover(
        load_inventory(stack.settings.inventory_path), lab, files=store.files(lab)
    )
    assert all(n.certificate_verified for n in snapshot.nodes), [
        n.certificate_error for n in snapshot.nodes
    ]


async def test_a_wrong_ca_file_names_the_node_and_the_file(stack: Stack, tmp_path: Path) -> None:
    wrong = tmp_path / "other-ca.pem"
    wrong.write_text(LocalCa(tmp_path / "other-ca", key_size=2048).root_pem)
    data = yaml.safe_load(stack.settings.inventory_path.read_text())
    data["clusters"][0]["tls"]["ca_file"] = str(wrong)
    inventory = tmp_path / "clusters.yaml"
    inventory.write_text(yaml.safe_dump(data))
    settings = UcrenewSettings(state_dir=stack.settings.state_dir, inventory=inventory)

    async with build_worker(stack.client, settings, stack.task_queue):
        report = await dry_run_report(stack.client, stack.task_queue, "lab", ["tomcat"])
    problems = report.problems

    node = stack.lab.cluster_entry.node("cucm-sub1")
    expected = (
        f"Control Center on {node.fqdn}: {node.fqdn}:{node.https_port}: certificate verify "
        f"failed: self-signed certificate — ucrenew trusts {wrong} (tls.ca_file of cluster lab "
        "in the inventory); add the CA that issued the node's certificate (for a self-signed "
        f"certificate, the certificate itself) to {wrong}, the inventory's tls.ca_file of "
        "cluster lab"
    )
    assert expected in [p.message for p in problems if p.node == node.fqdn]
