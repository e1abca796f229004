"""What ucrenew did is recorded before it is done (issue 16), on the time-skipping server.

Each state-changing call whose read-back cannot tell "ucrenew did it" from "it was so" (SSO
disable, trust upload, certificate upload, service restart) loses its first answer here: the
stub applies the effect and the attempt then dies, as when a worker is SIGKILLed right after
it. The retry's read-back finds the state as wanted. The audit trail must still say ucrenew
did it, and a stop must still leave the right actions to an operator.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from temporalio.client import WorkflowFailureError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from tests.workflows.stubs import FQDNS, StubCluster
from tests.workflows.test_renewal_workflow import Handle, confirm_sso, start, wait_for
from workflows.cluster_lock import ClusterLockWorkflow
from workflows.intents import CONFIRMED_AFTER_RETRY
from workflows.models import OperatorDecision, RenewalStatus
from workflows.renewal import CertRenewalWorkflow

SUB1 = FQDNS[1]


@pytest_asyncio.fixture(loop_scope="session")
async def stub() -> StubCluster:
    return StubCluster()


@pytest_asyncio.fixture(loop_scope="session")
async def worker(
    time_skipping_env: WorkflowEnvironment, stub: StubCluster, task_queue: str
) -> AsyncIterator[Worker]:
    async with Worker(
        time_skipping_env.client,
        task_queue=task_queue,
        workflows=[CertRenewalWorkflow, ClusterLockWorkflow],
        activities=stub.activities(),
    ) as w:
        yield w


def comments(status: RenewalStatus, action: str) -> list[str]:
    return [e.comment for e in status.audit if e.action == action]


async def cancelled(handle: Handle) -> RenewalStatus:
    await handle.cancel()
    with pytest.raises(WorkflowFailureError):
        await handle.result()
    status = await handle.query(CertRenewalWorkflow.get_status)
    assert status.phase == "cancelled"
    return status


def asks_to_reenable_sso(status: RenewalStatus) -> bool:
    return any("SAML SSO" in o and "re-enable it" in o for o in status.outstanding)


async def test_sso_disabled_then_worker_lost_is_ucrenews_and_a_cancel_asks_to_reenable(
    time_skipping_env: WorkflowEnvironment, worker: Worker, stub: StubCluster, task_queue: str
) -> None:
    """The red-team case: `utils sso disable` took effect, the worker died before answering,
    and the retry read SSO disabled. On main the audit said "SSO was already disabled" and a
    cancel forgot SSO."""
    stub.lost_responses = {"disable_sso"}
    handle = await start(time_skipping_env, task_queue)
    status = await wait_for(handle, "sso-confirm")
    assert stub.names().count("disable_sso") == 2  # the first attempt never answered
    [said] = comments(status, "sso-disabled")
    assert "already" not in said
    assert CONFIRMED_AFTER_RETRY in said
    [intent] = [i for i in status.intents if i.effect == "sso-disable"]
    assert intent.outcome == "done-after-retry"
    status = await cancelled(handle)
    assert asks_to_reenable_sso(status)


async def test_sso_someone_else_disabled_is_still_already_disabled(
    time_skipping_env: WorkflowEnvironment, worker: Worker, stub: StubCluster, task_queue: str
) -> None:
    """No false claim either way: SSO disabled by someone else after discovery, found so by
    ucrenew's first attempt, is recorded as it was, and ucrenew does not claim it."""
    stub.sso_disabled_meanwhile = True
    handle = await start(time_skipping_env, task_queue)
    status = await wait_for(handle, "sso-confirm")
    assert comments(status, "sso-disabled") == ["SSO was already disabled"]
    assert [i.outcome for i in status.intents if i.effect == "sso-disable"] == ["already"]
    status = await cancelled(handle)
    assert not asks_to_reenable_sso(status)


async def test_sso_disable_that_never_answered_asks_to_check_and_reenable(
    time_skipping_env: WorkflowEnvironment, worker: Worker, stub: StubCluster, task_queue: str
) -> None:
    """Every attempt of `utils sso disable` took effect and died before answering, so the step
    failed: the intent, never answered, still tells the operator to check and re-enable SSO
    (on main the failed change left nothing about SSO to do)."""
    stub.lost_responses = {"disable_sso!"}
    handle = await start(time_skipping_env, task_queue)
    with pytest.raises(WorkflowFailureError):
        await handle.result()
    status = await handle.query(CertRenewalWorkflow.get_status)
    assert status.phase == "failed"
    assert not stub.sso_enabled
    assert any(
        "SAML SSO may have been disabled" in o and "utils sso status" in o and "re-enable" in o
        for o in status.outstanding
    )
    assert [i.outcome for i in status.intents if i.effect == "sso-disable"] == ["unconfirmed"]
    assert "sso-disabled" not in [e.action for e in status.audit]


async def test_trust_upload_lost_answer_is_recorded_as_uploaded_by_ucrenew(
    time_skipping_env: WorkflowEnvironment, worker: Worker, stub: StubCluster, task_queue: str
) -> None:
    """On main the retry's audit said "uploaded nothing; already present ['root']"."""
    stub.lost_responses = {"upload_trust"}
    handle = await start(time_skipping_env, task_queue)
    await confirm_sso(handle, stub)
    final = await handle.result()
    assert stub.names().count("upload_trust") == 2
    [said] = comments(final, "trust-uploaded")
    assert said.startswith("uploaded ['root']; already present none")
    assert CONFIRMED_AFTER_RETRY in said
    # the intent named what was missing, read before the upload
    assert stub.names().index("trust_presence") < stub.names().index("upload_trust")
    [intent] = [i for i in final.intents if i.effect == "trust-upload"]
    assert (intent.target, intent.detail, intent.outcome) == (
        "tomcat-trust",
        "upload root",
        "done-after-retry",
    )


async def test_trust_already_present_before_the_change_is_not_claimed(
    time_skipping_env: WorkflowEnvironment, worker: Worker, stub: StubCluster, task_queue: str
) -> None:
    stub.trust_stores = {"tomcat": {"root"}}
    stub.lost_responses = {"upload_trust"}  # nothing to upload: nothing to lose
    handle = await start(time_skipping_env, task_queue)
    await confirm_sso(handle, stub)
    final = await handle.result()
    assert comments(final, "trust-uploaded") == ["uploaded nothing; already present ['root']"]
    assert not [i for i in final.intents if i.effect == "trust-upload"]


async def test_certificate_upload_lost_answer_is_recorded_as_uploaded_by_ucrenew(
    time_skipping_env: WorkflowEnvironment, worker: Worker, stub: StubCluster, task_queue: str
) -> None:
    """On main the retry's audit said "tomcat: already installed"."""
    stub.lost_responses = {"upload_certificate"}
    handle = await start(time_skipping_env, task_queue)
    await confirm_sso(handle, stub)
    final = await handle.result()
    assert final.phase == "done"
    assert stub.names().count("upload_certificate") == 2
    [said] = comments(final, "certificate-uploaded")
    assert "already installed" not in said
    assert said.startswith("tomcat: uploaded by ucrenew") and CONFIRMED_AFTER_RETRY in said


async def test_certificate_upload_that_failed_after_its_effect_leaves_it_to_check(
    time_skipping_env: WorkflowEnvironment, worker: Worker, stub: StubCluster, task_queue: str
) -> None:
    """The upload took effect and the step then failed: the change fails, and the operator is
    told the certificate may be installed (on main: nothing about it, only SSO)."""
    stub.upload_fails_after_effect = True
    handle = await start(time_skipping_env, task_queue)
    with pytest.raises(WorkflowFailureError):
        await handle.result()
    status = await handle.query(CertRenewalWorkflow.get_status)
    assert status.phase == "failed"
    assert any(
        "tomcat certificate may be installed" in o and "show cert own tomcat" in o
        for o in status.outstanding
    )
    assert [i.outcome for i in status.intents if i.effect == "certificate-upload"] == [
        "unconfirmed"
    ]
    assert asks_to_reenable_sso(status)


async def test_restart_lost_answer_is_recorded_as_restarted_by_ucrenew(
    time_skipping_env: WorkflowEnvironment, worker: Worker, stub: StubCluster, task_queue: str
) -> None:
    stub.lost_responses = {f"restart_service@{SUB1}"}
    handle = await start(time_skipping_env, task_queue)
    await confirm_sso(handle, stub)
    final = await handle.result()
    assert final.phase == "done"
    assert [c[1].node for c in stub.calls if c[0] == "restart_service"].count(SUB1) == 2
    assert comments(final, "service-restarted") == [
        f"Cisco Tomcat on {SUB1}: restarted by ucrenew ({CONFIRMED_AFTER_RETRY})"
    ]
    restarts = {i.target: i.outcome for i in final.intents if i.effect == "service-restart"}
    assert restarts[f"Cisco Tomcat on {SUB1}"] == "done-after-retry"
    assert {o for t, o in restarts.items() if SUB1 not in t} == {"done"}


async def test_restart_issued_then_failing_leaves_it_to_check_on_stop(
    time_skipping_env: WorkflowEnvironment, worker: Worker, stub: StubCluster, task_queue: str
) -> None:
    """The restart took effect, its answer was lost, and the retry found the node broken: on a
    stop, the operator is told the restart was issued and not confirmed there."""
    stub.lost_responses = {f"restart_service@{SUB1}"}
    stub.restart_fails_on = {SUB1}
    handle = await start(time_skipping_env, task_queue)
    await wait_for(handle, "operator")
    await handle.execute_update(
        CertRenewalWorkflow.decide, OperatorDecision(principal="dave", decision="stop")
    )
    with pytest.raises(WorkflowFailureError):
        await handle.result()
    status = await handle.query(CertRenewalWorkflow.get_status)
    assert any(
        o.startswith(f"Cisco Tomcat on {SUB1}: ucrenew was restarting it")
        for o in status.outstanding
    )
