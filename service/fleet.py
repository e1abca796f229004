"""The fleet view for the service's fleet page and ``GET /api/v1/fleet``.

The service never talks to CUCM: it shows the latest ``FleetScanWorkflow`` result (scans run
on a worker, on the ``ucrenew-fleet-scan`` Temporal Schedule or ``ucrenew fleet scan``).
"""

from __future__ import annotations

from datetime import datetime

from temporalio.client import Client

from workers.fleet import latest_fleet_view
from workflows.fleet_models import FleetView

__all__ = ["fleet_view"]


async def fleet_view(client: Client, now: datetime) -> FleetView:
    """Every cluster's certificates by purpose, with days to expiry (counted from ``now``)
    and drift, as of the latest completed scan; ``notice`` says when there is none yet or the
    latest scan failed. Bounded: one short visibility list and one cached result read."""
    return await latest_fleet_view(client, now)
