"""The renewal settles the cluster's trust store once every node is verified (stub activities)."""

from __future__ import annotations

from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.cluster_models import TrustSettleRequest
from tests.workflows.stubs import FQDNS, ROOT_PEM, StubCluster
from tests.workflows.test_renewal_workflow import confirm_sso, start, stub, worker
from workflows.models import RenewalStatus

__all__ = ["stub", "worker"]


async def renew(env: WorkflowEnvironment, task_queue: str, stub: StubCluster) -> RenewalStatus:
    """A tomcat renewal with the local CA, from start to its end (SSO re-enabled)."""
    handle = await start(env, task_queue)
    await confirm_sso(handle, stub)
    return await handle.result()


async def test_trust_is_settled_after_every_node_is_verified(
    time_skipping_env: WorkflowEnvironment, worker: Worker, stub: StubCluster, task_queue: str
) -> None:
    status = await renew(time_skipping_env, task_queue, stub)
    assert status.phase == "done"
    names = stub.names()
    assert names.count("settle_trust") == 1
    last_verify = max(i for i, n in enumerate(names) if n == "verify_node")
    assert names.index("settle_trust") > last_verify
    req = next(c[1] for c in stub.calls if c[0] == "settle_trust")
    assert isinstance(req, TrustSettleRequest) and req.cluster == "lab"
    [chain] = req.chains
    assert chain.purpose == "tomcat"
    assert chain.ca_pems == [ROOT_PEM]  # the chain that was uploaded, without the leaf
    assert sorted(chain.verified_nodes) == sorted(FQDNS)
    settled = [e.comment for e in status.audit if e.action == "trust-settled"]
    assert settled == ["trust/lab.pem: trusts CN=root; retired none"]


async def test_a_failed_settle_leaves_the_renewal_done(
    time_skipping_env: WorkflowEnvironment, worker: Worker, stub: StubCluster, task_queue: str
) -> None:
    stub.settle_fails = True
    status = await renew(time_skipping_env, task_queue, stub)
    assert status.phase == "done" and status.error is None
    [note] = [e.comment for e in status.audit if e.action == "trust-not-settled"]
    assert "trust dir not writable" in note and "previous CA certificates stay trusted" in note
