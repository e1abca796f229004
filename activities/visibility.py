"""Temporal visibility queries of renewals, built in one place with every value escaped.

Pure string building: the worker's registry activity and the CLI's ``ls`` both use it. This
module never imports temporalio.
"""

from __future__ import annotations

__all__ = ["query_literal", "renewals_query"]


def query_literal(value: str) -> str:
    """``value`` as a quoted string literal of a Temporal visibility query.

    Every value put into a visibility query goes through here, so that a quote in a cluster
    name neither breaks the query nor widens it: ``lab' OR ClusterId != 'x`` stays one
    literal. The visibility dialect escapes like MySQL, with a backslash.
    """
    escaped = value.replace("\\", "\\\\").replace("'", "\\'").replace('"', '\\"')
    return f"'{escaped}'"


def renewals_query(*, running_only: bool = True, cluster: str | None = None) -> str:
    """The visibility query of renewals: running ones (or all), of one cluster (or all)."""
    query = "WorkflowType = 'CertRenewalWorkflow'"
    if running_only:
        query += " AND ExecutionStatus = 'Running'"
    if cluster is not None:
        # The search attribute workflows.search_attributes.CLUSTER_ID.
        query += f" AND ClusterId = {query_literal(cluster)}"
    return query
