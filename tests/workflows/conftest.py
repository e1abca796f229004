"""Workflow tests share one time-skipping server, whose clock stands still while any workflow
task waits for a worker. A renewal a test leaves running (and the cluster lock it holds as a
child) has tasks no worker takes once the test's worker is gone: this ends them after each
test, so the next test's timers still skip ahead."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import pytest_asyncio
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import WorkflowExecutionStatus
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest
from temporalio.service import RPCError

from tests.workflows.stubs import STARTED_RENEWALS

_RUNNING = WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_RUNNING


@pytest_asyncio.fixture(autouse=True, loop_scope="session")
async def _end_renewals_left_running() -> AsyncIterator[None]:
    yield
    handles = list(STARTED_RENEWALS)
    STARTED_RENEWALS.clear()
    for handle in handles:
        client = handle._client
        with contextlib.suppress(RPCError):
            # The raw description: the SDK's decoding of the test server's search attributes
            # fails, and only the status and the pending children are needed.
            raw = await client.workflow_service.describe_workflow_execution(
                DescribeWorkflowExecutionRequest(
                    namespace=client.namespace,
                    execution=WorkflowExecution(workflow_id=handle.id),
                )
            )
            if raw.workflow_execution_info.status != _RUNNING:
                continue
            await handle.terminate("the test ended")
            for child in raw.pending_children:
                with contextlib.suppress(RPCError):
                    await client.get_workflow_handle(child.workflow_id).terminate("the test ended")
