"""The trust store follows the uploads: activities against the lab, two workers sharing it."""

from __future__ import annotations

import asyncio
from pathlib import Path

from cryptography import x509
from temporalio.testing import ActivityEnvironment

from activities.catalog import TOMCAT
from activities.cert_paths import choose_path
from activities.clients.ca.local import LocalCa
from activities.clients.trust_store import TrustStore
from activities.cluster_models import (
    CertUploadRequest,
    CsrRequest,
    DiscoverRequest,
    InstalledChain,
    TrustSettleRequest,
    TrustUploadRequest,
)
from activities.cucm import CucmActivities
from activities.trust import TrustActivities
from lab import topology
from tests.lab.conftest import LabHandle

#: The default lab runs 14SU3: CSR over REST, the multi-server upload in OS Administration.
PATH = choose_path(topology.load().version)


def subject(pem: str) -> str:
    return x509.load_pem_x509_certificate(pem.encode()).subject.rfc4514_string()


def worker(lab: LabHandle, trust_dir: Path | None) -> CucmActivities:
    """The CUCM activities as one worker builds them (no store: as before it existed)."""
    path = lab.lab.state_dir / "inventory.yaml"
    store = TrustStore(trust_dir) if trust_dir is not None else None
    return CucmActivities(inventory_loader=lambda: path, trust_store=store)


async def restart_tomcat_everywhere(lab: LabHandle) -> None:
    """An operator restarts Cisco Tomcat after the renewal stopped: the nodes serve the
    uploaded certificate from now on."""
    tasks = []
    for node in lab.lab.cluster.nodes:
        svc = lab.lab.cluster.control(node, TOMCAT, "restart", "operator")
        assert svc.task is not None
        tasks.append(svc.task)
    await asyncio.gather(*tasks)


async def test_a_renewal_that_stops_after_the_upload_leaves_the_cluster_reachable(
    lab: LabHandle, tmp_path: Path
) -> None:
    env = ActivityEnvironment()
    trust_dir = tmp_path / "shared" / "trust"
    first = worker(lab, trust_dir)
    corp = LocalCa(tmp_path / "corp-ca", name="corp", key_size=2048)
    ca_pems = [corp.intermediate_pem, corp.root_pem]
    fqdns = [n.fqdn for n in lab.cluster_entry.nodes]

    csr = await env.run(first.generate_csr, CsrRequest(cluster="lab", path=PATH))
    leaf, _ = corp.sign(csr.csr_pem)
    await env.run(
        first.upload_trust,
        TrustUploadRequest(cluster="lab", ca_pems=list(reversed(ca_pems)), path=PATH),
    )
    upload = CertUploadRequest(
        cluster="lab", certificate_pem=leaf, chain_pems=ca_pems, expected_nodes=fqdns, path=PATH
    )
    done = await env.run(first.upload_certificate, upload)
    assert done.trust_file == str(trust_dir / "lab.pem")
    assert done.trust_added == [subject(corp.intermediate_pem), subject(corp.root_pem)]
    again = await env.run(first.upload_certificate, upload)  # a retried attempt
    assert again.already_installed and again.trust_added == []
    assert again.trust_file == done.trust_file

    # The renewal stops here (its worker died, an operator cancelled it...); the nodes are
    # restarted by hand and serve the corp CA's certificate. The inventory was not touched.
    await restart_tomcat_everywhere(lab)

    # Any other worker sharing the trust dir still reaches every node over verified TLS.
    snapshot = await env.run(
        worker(lab, trust_dir).discover_cluster, DiscoverRequest(cluster="lab")
    )
    assert snapshot.axl_error is None and snapshot.registrations_error is None
    for node in snapshot.nodes:
        assert node.services_error is None, node.services_error
        assert node.certificate_verified, node.certificate_error
        assert node.certificates["tomcat"].issuer == subject(corp.intermediate_pem)

    # Without the trust store (as before it existed) nothing but SSH answers.
    blind = await env.run(worker(lab, None).discover_cluster, DiscoverRequest(cluster="lab"))
    assert blind.axl_error is not None and "certificate verify failed" in blind.axl_error
    assert all(not n.certificate_verified for n in blind.nodes)


async def test_settling_retires_the_previous_ca_only_when_every_node_was_verified(
    lab: LabHandle, tmp_path: Path
) -> None:
    env = ActivityEnvironment()
    store = TrustStore(tmp_path / "trust")
    old = LocalCa(tmp_path / "old-ca", name="old", key_size=2048)
    new = LocalCa(tmp_path / "new-ca", name="new", key_size=2048)
    store.record("lab", "tomcat", [old.intermediate_pem, old.root_pem])
    store.record("lab", "tomcat", [new.intermediate_pem, new.root_pem])
    path = lab.lab.state_dir / "inventory.yaml"
    trust = TrustActivities(lambda: path, store)
    fqdns = [n.fqdn for n in lab.cluster_entry.nodes]
    chain = InstalledChain(purpose="tomcat", ca_pems=[new.intermediate_pem, new.root_pem])

    partly = chain.model_copy(update={"verified_nodes": fqdns[:-1]})
    held = await env.run(trust.settle_trust, TrustSettleRequest(cluster="lab", chains=[partly]))
    assert held.retired == [] and len(held.kept) == 4
    assert held.detail == "previous CAs of tomcat kept: not every node serving them was verified"

    # CUCM's spelling of the node names (short host names) counts too.
    short = [f.split(".")[0] for f in fqdns]
    full = chain.model_copy(update={"verified_nodes": short})
    settled = await env.run(trust.settle_trust, TrustSettleRequest(cluster="lab", chains=[full]))
    assert settled.retired == [subject(old.intermediate_pem), subject(old.root_pem)]
    assert settled.kept == [subject(new.intermediate_pem), subject(new.root_pem)]
    assert [e.subject for e in store.entries("lab")] == settled.kept
