"""Per-purpose status, findings and compensation, on the time-skipping server with stubs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from temporalio.client import WorkflowFailureError, WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.cluster_models import LeftoverCertificate, LeftoverResult
from tests.workflows import test_callmanager_workflow as cm
from tests.workflows.stubs import FQDNS, StubCluster
from tests.workflows.test_callmanager_workflow import approve, now, start_cm, window
from tests.workflows.test_renewal_workflow import confirm_sso, start, wait_for
from workflows import search_attributes as sa
from workflows.models import OperatorDecision
from workflows.renewal import CertRenewalWorkflow

#: The CallManager tests' fixtures: a 12.5 cluster without SSO, and its worker.
stub, worker = cm.stub, cm.worker

CUCM = FQDNS[:3]
CM_12_5 = "Cisco CallManager, Cisco CTIManager, Cisco Trust Verification Service, Cisco Tftp"


def old_cm(fqdn: str) -> str:
    """The serial the stub's discovery gives a node's CallManager certificate."""
    return f"02ca{fqdn[:4]}"


async def test_cancelled_after_the_callmanager_upload_says_when_it_goes_live(
    time_skipping_env: WorkflowEnvironment, worker: Worker, stub: StubCluster, task_queue: str
) -> None:
    opens = await now(time_skipping_env) + timedelta(days=2)
    handle = await start_cm(time_skipping_env, task_queue, windows=[window(opens, 6)])
    status = await wait_for(handle, "approval")
    assert "upload_certificate" in stub.names() and "restart_service" not in stub.names()
    # Only the CUCM nodes are in scope, each with the CallManager certificate it had.
    assert [n.node for n in status.nodes] == CUCM
    for progress in status.nodes:
        cm = progress.certificates["CallManager"]
        assert (cm.old_serial, cm.new_serial) == (old_cm(progress.node), "abcd")
        assert cm.old_not_after == stub.purpose_not_after
        assert progress.old_serial == old_cm(progress.node)
    attrs = (await handle.describe()).typed_search_attributes
    assert attrs.get(sa.CERT_NOT_AFTER) == stub.purpose_not_after  # not tomcat's later one

    await handle.cancel()
    with pytest.raises(WorkflowFailureError):
        await handle.result()
    status = await handle.query(CertRenewalWorkflow.get_status)
    assert status.phase == "cancelled"
    [live] = [o for o in status.outstanding if "CallManager certificate" in o]
    assert f"not yet served on {', '.join(CUCM)}:" in live
    assert f"next restart of {CM_12_5} (release 12.5.1.14900-63) or reboot" in live
    assert "maintenance window" in live
    assert not any("Tomcat" in o for o in status.outstanding)
    # Where each node stands is read on SIP TLS, and only for the nodes in scope.
    assert [n.node for n in status.nodes] == CUCM
    assert all(n.detail == f"serving CallManager serial {old_cm(n.node)}" for n in status.nodes)


async def test_a_failed_restart_names_the_nodes_still_to_restart(
    time_skipping_env: WorkflowEnvironment, worker: Worker, stub: StubCluster, task_queue: str
) -> None:
    stub.fail_restart_at = 1
    stub.security_mode = 1
    opens = await now(time_skipping_env) - timedelta(minutes=5)
    handle = await start_cm(time_skipping_env, task_queue, windows=[window(opens, 12)])
    await wait_for(handle, "approval")
    await approve(handle)
    # The failed restart asks; stopping fails the change as it did before decisions existed.
    await wait_for(handle, "operator")
    await handle.execute_update(
        CertRenewalWorkflow.decide, OperatorDecision(principal="dave", decision="stop")
    )
    with pytest.raises(WorkflowFailureError):
        await handle.result()
    status = await handle.query(CertRenewalWorkflow.get_status)
    assert status.phase == "failed"
    [live] = [o for o in status.outstanding if "CallManager certificate" in o]
    assert f"not yet served on {', '.join(CUCM)}:" in live
    # The CTL was updated before the first restart: the message does not ask for it again.
    assert "utils ctl update" not in live


async def test_cscus47235_is_noted_and_the_change_goes_on(
    time_skipping_env: WorkflowEnvironment, worker: Worker, stub: StubCluster, task_queue: str
) -> None:
    stub.csr_cn = "cucm-pub-ms.lab.example.com"
    handle = await start(time_skipping_env, task_queue)
    final = await handle.result()
    assert final.phase == "done"
    [finding] = [f for f in final.findings if f.code == "cscus47235-cn-not-in-san"]
    assert "add cucm-pub-ms.lab.example.com as a SAN" in finding.message
    assert [e.action for e in final.audit].count("csr-caveat") == 1


async def test_leftovers_are_listed_after_the_change_with_their_removal_command(
    time_skipping_env: WorkflowEnvironment, worker: Worker, stub: StubCluster, task_queue: str
) -> None:
    stub.sso_enabled = True
    stub.leftovers = LeftoverResult(
        leftovers=[
            LeftoverCertificate(
                purpose="tomcat",
                store="tomcat-trust",
                file_name="cucm-sub1.lab.example.com_5a.pem",
                subject_cn="cucm-sub1.lab.example.com",
                owner=FQDNS[1],
                serial="5a",
                not_after=datetime(2026, 12, 17, tzinfo=UTC),
                nodes=FQDNS,
            )
        ],
        errors={FQDNS[3]: "tomcat: trust list failed with HTTP 503"},
    )
    handle = await start(time_skipping_env, task_queue)
    await confirm_sso(handle, stub)
    final = await handle.result()
    assert final.phase == "done"
    names = stub.names()
    assert names.index("find_leftover_certificates") > max(
        i for i, n in enumerate(names) if n == "verify_node"
    )
    [call] = [c[1] for c in stub.calls if c[0] == "find_leftover_certificates"]
    assert call.purposes == ["tomcat"] and call.extra_roots_pem
    [left] = [f for f in final.findings if f.code == "cscur97909-self-signed-left"]
    assert left.node == FQDNS[1]
    assert (
        "`set cert delete trust tomcat-trust/cucm-sub1.lab.example.com_5a.pem` on "
        f"{FQDNS[0]} (removes it from every node)" in left.message
    )
    assert any(f.code == "cscur97909-unread" and f.node == FQDNS[3] for f in final.findings)


async def test_a_failed_leftover_listing_does_not_fail_the_change(
    time_skipping_env: WorkflowEnvironment, worker: Worker, stub: StubCluster, task_queue: str
) -> None:
    stub.leftovers_fail = True
    final = await (await start(time_skipping_env, task_queue)).result()
    assert final.phase == "done"
    assert [f.code for f in final.findings if f.code.startswith("cscur")] == ["cscur97909-unread"]


async def test_a_callmanager_rollback_is_approved_like_any_phone_impacting_step(
    time_skipping_env: WorkflowEnvironment, worker: Worker, stub: StubCluster, task_queue: str
) -> None:
    stub.restart_fails_on = {CUCM[1]}
    opens = await now(time_skipping_env) - timedelta(minutes=5)
    handle = await start_cm(time_skipping_env, task_queue, windows=[window(opens, 12)])
    await wait_for(handle, "approval")
    await approve(handle)
    await wait_for(handle, "operator")
    stub.restart_fails_on.clear()
    await handle.execute_update(
        CertRenewalWorkflow.decide, OperatorDecision(principal="dave", decision="rollback")
    )
    status = await wait_for(handle, "approval")
    assert (status.phase, status.gate) == ("rollback", "rollback")
    assert status.gate_hash and status.gate_hash.startswith("rollback-")
    assert "regenerate_certificate" not in stub.names()
    with pytest.raises(WorkflowUpdateFailedError):
        await approve(handle, who="alice")  # the requester: four eyes
    await approve(handle, who="bob")
    with pytest.raises(WorkflowFailureError):
        await handle.result()
    status = await handle.query(CertRenewalWorkflow.get_status)
    assert status.rolled_back == {f: ["CallManager"] for f in CUCM}
    regenerated = [c[1] for c in stub.calls if c[0] == "regenerate_certificate"]
    assert [(r.node, r.purpose) for r in regenerated] == [(f, "CallManager") for f in CUCM]
    assert [e.action for e in status.approvals][-1] == "approved-rollback"
