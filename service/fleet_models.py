"""The fleet view's models, for the service and the dashboard.

They are defined in :mod:`workflows.fleet_models` because ``FleetScanWorkflow`` returns them
(a workflow never imports the service); this module is the service side's name for them.
"""

from __future__ import annotations

from workflows.fleet_models import (
    DriftFinding,
    DriftKind,
    FleetCertificate,
    FleetCluster,
    FleetClusterScanRequest,
    FleetNode,
    FleetPurpose,
    FleetScanEntry,
    FleetScanRequest,
    FleetScanResult,
    FleetView,
    days_between,
)

__all__ = [
    "DriftFinding",
    "DriftKind",
    "FleetCertificate",
    "FleetCluster",
    "FleetClusterScanRequest",
    "FleetNode",
    "FleetPurpose",
    "FleetScanEntry",
    "FleetScanRequest",
    "FleetScanResult",
    "FleetView",
    "days_between",
]
