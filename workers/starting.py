"""Starting a renewal: the one place every starter (``ucrenew start``, the service's start
API, the demo) goes through, so each renewal carries the same search attributes and the same
Temporal UI metadata (summary and details, with the link to its page in the service).
"""

from __future__ import annotations

from temporalio.client import Client, WorkflowHandle
from temporalio.common import WorkflowIDReusePolicy

from workflows import search_attributes as sa
from workflows.models import RenewalInput, RenewalStatus
from workflows.renewal import CertRenewalWorkflow
from workflows.ui_metadata import static_details, static_summary

__all__ = ["start_renewal"]


async def start_renewal(
    client: Client,
    inp: RenewalInput,
    *,
    task_queue: str,
    base_url: str | None = None,
    id_reuse_policy: WorkflowIDReusePolicy = WorkflowIDReusePolicy.ALLOW_DUPLICATE,
) -> WorkflowHandle[CertRenewalWorkflow, RenewalStatus]:
    """Start ``inp`` as workflow ``inp.change_id`` with its search attributes, its static
    summary (change, cluster, purposes) and details (requester, CA, gates, page link when
    ``base_url`` is set).

    Raises:
        temporalio.exceptions.WorkflowAlreadyStartedError: The change id runs already (or
            ``id_reuse_policy`` refuses a closed one).
    """
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
        static_details=static_details(inp, base_url),
    )
