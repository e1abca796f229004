"""A renewal continued by a second worker process with an empty disk after the first one is
SIGKILLed (issue 15, "Done when"): through ACME (pebble) with an order open, and through the
local CA given by secret reference. Then a third worker process, with another empty disk,
reads the renewed cluster over TLS: the CA of the chain the second one installed comes from
the cluster's trust in Temporal (workflow ``trust/<cluster>``), not from a shared directory.

The second worker runs with ``UCRENEW_STATELESS=true``, so it could not fall back on a disk
even if it had one: what it needs comes from the renewal's workflow state (the order URL and
the CSR) and from secret references (the ACME account key, the local CA's key and chain).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from temporalio.service import RPCError

from activities.clients.ca.local import LocalCa
from console.planning import dry_run_report
from lab.faults import Fault
from tests.ca.challtestsrv import dns_hook_argv
from tests.ca.pebble import Pebble
from tests.e2e.conftest import Stack
from workflows.cluster_trust import ClusterTrustWorkflow, trust_id
from workflows.models import CaCheckInput
from workflows.renewal import CertRenewalWorkflow

pytestmark = pytest.mark.e2e


@pytest.fixture(autouse=True)
async def _end_the_cluster_trust(stack: Stack) -> AsyncIterator[None]:
    """A stateless worker starts ``trust/<cluster>`` on the test's task queue: end it, so the
    next test's workers (another task queue) start their own."""
    yield
    with contextlib.suppress(RPCError):
        await stack.client.get_workflow_handle(trust_id(stack.lab.cluster_entry.name)).terminate(
            "the test ended"
        )


def spawn_worker(
    stack: Stack, address: str, state_dir: Path, inventory: Path, log: Path, **env: str
) -> subprocess.Popen[bytes]:
    """``python -m workers`` with its own state dir, killed by the stack fixture if left."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("UCRENEW_", "VAULT_"))}
    environ.update(
        UCRENEW_STATE_DIR=str(state_dir),
        UCRENEW_INVENTORY=str(inventory),
        UCRENEW_TEMPORAL_ADDRESS=address,
        UCRENEW_TASK_QUEUE=stack.task_queue,
        **env,
    )
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "workers"], env=environ, stdout=out, stderr=subprocess.STDOUT
        )
    stack.workers.append(proc)
    return proc


def kill(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)


def private_files(directory: Path) -> list[Path]:
    """What a stateless worker must not have written: keys, ACME orders, a CA."""
    if not directory.exists():
        return []
    return [
        p
        for p in directory.rglob("*")
        if p.suffix == ".key" or "acme" in p.parts or (p.is_dir() and p.name == "ca")
    ]


async def test_acme_order_is_finished_by_a_second_worker_with_an_empty_disk(
    stack: Stack, pebble: Pebble, dev_address: str, tmp_path: Path
) -> None:
    key_file = tmp_path / "acme-account.key"
    key_file.write_bytes(
        ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    root_file = tmp_path / "pebble-root.pem"
    root_file.write_text(pebble.root_pem)
    inventory = yaml.safe_load(stack.settings.inventory_path.read_text())
    inventory["cas"] = [
        *inventory.get("cas", []),
        {
            "name": "pebble",
            "type": "acme",
            "directory_url": pebble.directory_url,
            "ca_bundle": str(pebble.ca_bundle),
            "root_file": str(root_file),
            "account_key": f"file:{key_file}",
            "dns_hook": {
                "type": "command",
                "argv": dns_hook_argv(pebble.challtestsrv_url, tmp_path / "dns-hook.log"),
            },
        },
    ]
    inventory_file = tmp_path / "clusters.yaml"
    inventory_file.write_text(yaml.safe_dump(inventory))
    held = tmp_path / "cleanup-held"
    first = spawn_worker(
        stack,
        dev_address,
        tmp_path / "pod-a",
        inventory_file,
        tmp_path / "pod-a.log",
        UCRENEW_TEST_HOLD_CLEANUP=str(held),
    )
    handle = await stack.start(
        ca="acme", options={"restart_poll_seconds": 0.1, "ca_poll_seconds": 0.5}
    )
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 90
    # The first worker's poll found the order validated and is cleaning its records up,
    # before finalizing: killed there, the order is open and only pod-a's disk knew it.
    while not held.exists():
        assert loop.time() < deadline, (tmp_path / "pod-a.log").read_text()
        assert first.poll() is None, (tmp_path / "pod-a.log").read_text()
        await asyncio.sleep(0.05)
    kill(first)
    assert list((tmp_path / "pod-a").rglob("orders/*.json"))  # main's way: on pod-a's disk

    empty = tmp_path / "pod-b"
    spawn_worker(
        stack, dev_address, empty, inventory_file, tmp_path / "pod-b.log", UCRENEW_STATELESS="true"
    )
    # The killed poll's attempt times out after minutes; an operator's "check now" (as
    # `ucrenew ca-check` sends) has the new worker poll at once.
    check = CaCheckInput(principal="night-operator")
    while (await handle.query(CertRenewalWorkflow.get_status)).awaiting == "ca":
        assert loop.time() < deadline, (tmp_path / "pod-b.log").read_text()
        await asyncio.wait_for(handle.execute_update(CertRenewalWorkflow.check_ca, check), 60)
        await asyncio.sleep(0.2)
    await stack.reenable_sso(handle)
    status = await asyncio.wait_for(handle.result(), 120)

    assert status.phase == "done" and all(n.verified for n in status.nodes)
    served = stack.lab.lab.cluster.publisher.active["tomcat"].cert
    pebble_intermediate = x509.load_pem_x509_certificate(pebble.intermediate_pem.encode())
    assert served.issuer == pebble_intermediate.subject
    log = (tmp_path / "dns-hook.log").read_text().split("\n")
    # pod-b cleaned up the records pod-a presented (it computed them again from the CA).
    presented = sorted(line.split()[1] for line in log if line.startswith("present "))
    cleaned = sorted(line.split()[1] for line in log if line.startswith("cleanup "))
    assert presented and cleaned == presented
    assert private_files(empty) == []
    assert not list(empty.rglob("*.pem")), "a stateless worker keeps the trust in Temporal"

    # A third replica with another empty disk, pod-b gone: it plans the cluster, whose nodes
    # now serve pebble's chain, which neither the inventory's tls.ca_file nor any disk holds.
    cluster = stack.lab.cluster_entry.name
    held = await stack.client.get_workflow_handle(trust_id(cluster)).query(
        ClusterTrustWorkflow.entries
    )
    assert pebble_intermediate.subject.rfc4514_string() in [e.subject for e in held]
    for proc in stack.workers:
        if proc.poll() is None:
            kill(proc)
    spawn_worker(
        stack,
        dev_address,
        tmp_path / "pod-c",
        inventory_file,
        tmp_path / "pod-c.log",
        UCRENEW_STATELESS="true",
    )
    report = await dry_run_report(
        stack.client, stack.task_queue, cluster, ["tomcat"], wait_seconds=90
    )
    snapshot = report.snapshot
    assert snapshot.axl_error is None, snapshot.axl_error
    assert snapshot.identity is not None
    https = {n.fqdn: n.https_error for n in snapshot.nodes}
    assert https and all(e is None for e in https.values()), https
    assert not [p for p in report.problems if "certificate verify failed" in p.message]
    assert private_files(tmp_path / "pod-c") == []


async def test_local_ca_renewal_is_finished_by_a_second_worker_with_an_empty_disk(
    stack: Stack, dev_address: str, tmp_path: Path
) -> None:
    # The local CA as an operator provisions it for several replicas: key and chain in a
    # secret store, here files outside every worker's state dir.
    provisioned = LocalCa(tmp_path / "provisioned-ca", key_size=2048)
    provisioned.ensure()
    chain_file = tmp_path / "local-ca-chain.pem"
    chain_file.write_text(provisioned.chain_pem)
    refs = {
        "UCRENEW_LOCAL_CA_KEY_REF": f"file:{provisioned.directory / 'intermediate.key'}",
        "UCRENEW_LOCAL_CA_CHAIN_REF": f"file:{chain_file}",
    }
    inventory = stack.settings.inventory_path
    lab = stack.lab.lab
    hang = await lab.add_fault(Fault(kind="service-hang", node="cucm-sub1", target="Cisco Tomcat"))
    first = spawn_worker(
        stack, dev_address, tmp_path / "pod-a", inventory, tmp_path / "pod-a.log", **refs
    )
    handle = await stack.start(
        options={"restart_poll_seconds": 0.1, "restart_heartbeat_seconds": 2.0}
    )
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 90
    restarted = lambda: [  # noqa: E731
        e.node
        for e in lab.journal.entries("service.control")
        if e.data["service"] == "Cisco Tomcat" and e.data["action"] == "restart"
    ]
    # Killed mid-wave: the publisher already serves the new certificate.
    while "cucm-sub1" not in restarted():
        assert loop.time() < deadline, (tmp_path / "pod-a.log").read_text()
        assert first.poll() is None, (tmp_path / "pod-a.log").read_text()
        await asyncio.sleep(0.05)
    kill(first)
    await lab.clear_faults(hang.id)

    empty = tmp_path / "pod-b"
    spawn_worker(
        stack,
        dev_address,
        empty,
        inventory,
        tmp_path / "pod-b.log",
        UCRENEW_STATELESS="true",
        **refs,
    )
    await stack.reenable_sso(handle)
    status = await asyncio.wait_for(handle.result(), 120)

    assert status.phase == "done" and all(n.verified for n in status.nodes)
    issuing = x509.load_pem_x509_certificate(provisioned.intermediate_pem.encode())
    for node in lab.cluster.nodes:
        if "tomcat" in node.active:
            served = node.active["tomcat"].cert
            assert served.issuer == issuing.subject, node.fqdn
            served.verify_directly_issued_by(issuing)
    assert private_files(empty) == []
