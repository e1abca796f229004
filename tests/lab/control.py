"""The lab's control client with the calls only tests make: phones."""

from __future__ import annotations

from typing import Any

from lab import control
from lab.phone_metrics import PhoneMetrics


class LabControl(control.LabControl):
    """:class:`lab.control.LabControl` plus the routes the tests read or act through."""

    async def phones(self) -> dict[str, Any]:
        """Registered phones per node, unregistered phones, CM groups and device pools."""
        result: dict[str, Any] = await self._json("GET", "/phones")
        return result

    async def phone_metrics(self, since: float = 0.0, until: float | None = None) -> PhoneMetrics:
        """Phone-unregistered-seconds and peak unregistered fraction of a window (epoch s)."""
        params: dict[str, float] = {"since": since}
        if until is not None:
            params["until"] = until
        return PhoneMetrics.model_validate(
            await self._json("GET", "/metrics/phones", params=params)
        )
