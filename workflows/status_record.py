"""The final status of a change that did not end done, kept where no worker is needed to
read it: the run's memo (patch ``status-memo``).

A change that ends done returns its status as the run's result; one that fails or is
cancelled ends with an error, and its status was only reachable through the status query,
which needs a worker polling the change's task queue. Writing it to the memo at the end lets
``ucrenew show``/``watch``/``report`` and the renewal page read any finished change from
Temporal alone (``describe``).
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.models import RenewalStatus

#: The patch of changes that write their final status to the memo when they stop.
PATCH = "status-memo"
#: The memo key of the final status.
MEMO_KEY = "final_status"


def record_final_status(status: RenewalStatus) -> None:
    """Write ``status`` to the run's memo (changes started before the patch do not)."""
    if workflow.patched(PATCH):
        workflow.upsert_memo({MEMO_KEY: status})
