"""Starting a renewal: the one place every starter (``ucrenew start``, the service's start
API, the demo) goes through, so each renewal carries the same search attributes and the same
Temporal UI metadata (summary and details, with the link to its page in the service).
"""

from __future__ import annotations

from typing import Any

from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError

from workers.telemetry import renewal_span
from workflows import search_attributes as sa
from workflows.models import RenewalInput, RenewalStatus
from workflows.renewal import CertRenewalWorkflow
from workflows.ui_metadata import static_details, static_summary

__all__ = ["application_error", "start_renewal", "stop_type"]


async def start_renewal(
    client: Client,
    inp: RenewalInput,
    *,
    task_queue: str,
    base_url: str | None = None,
    id_reuse_policy: WorkflowIDReusePolicy = WorkflowIDReusePolicy.ALLOW_DUPLICATE,
    why: list[str] | None = None,
) -> WorkflowHandle[CertRenewalWorkflow, RenewalStatus]:
    """Start ``inp`` as workflow ``inp.change_id`` with its search attributes, its static
    summary (change, cluster, purposes) and details (requester, CA, gates, page link when
    ``base_url`` is set, and ``why`` it was started when given: the fleet scan's reasons).
    With tracing on, the renewal is a new trace (:func:`workers.telemetry.renewal_span`).

    Raises:
        temporalio.exceptions.WorkflowAlreadyStartedError: The change id runs already (or
            ``id_reuse_policy`` refuses a closed one).
    """
    with renewal_span(inp.change_id, inp.cluster):
        return await _start(client, inp, task_queue, base_url, id_reuse_policy, why)


async def _start(
    client: Client,
    inp: RenewalInput,
    task_queue: str,
    base_url: str | None,
    id_reuse_policy: WorkflowIDReusePolicy,
    why: list[str] | None,
) -> WorkflowHandle[CertRenewalWorkflow, RenewalStatus]:
    return await client.start_workflow(
        CertRenewalWorkflow.run,
        inp,
        id=inp.change_id,
        task_queue=task_queue,
        id_reuse_policy=id_reuse_policy,
        search_attributes=sa.start_attributes(
            inp.cluster, inp.change_id, list(inp.purposes), inp.requested_by
        ),
        static_summary=static_summary(inp),
        static_details=static_details(inp, base_url)
        + (f"\n\n**Why** {'; '.join(why)}" if why else ""),
    )


def application_error(exc: WorkflowFailureError) -> ApplicationError | None:
    """The ApplicationError a failed run ended with (a renewal's stop carries its reason as
    the type, e.g. ``PreflightFailed``, ``ClusterBusy``), None when it failed otherwise."""
    cause: BaseException | None = exc.cause
    while cause is not None and not isinstance(cause, ApplicationError):
        cause = cause.__cause__
    return cause if isinstance(cause, ApplicationError) else None


async def stop_type(handle: WorkflowHandle[Any, Any]) -> str | None:
    """The error type a closed run failed with (read from its close event, no worker needed);
    None if it did not fail or cannot be read."""
    try:
        await handle.result(follow_runs=False)
    except WorkflowFailureError as exc:
        cause = application_error(exc)
        return cause.type if cause is not None else None
    except RPCError:
        return None
    return None
