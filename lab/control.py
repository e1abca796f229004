"""Client of a running lab's out-of-band control API (never on the CUCM ports).

The API itself is served by :mod:`lab.server`: ``GET /state``,
``GET /journal?since=&kind=&node=``, ``GET|POST|DELETE /faults``, ``POST /sso/enable`` (the GUI
action real CUCM requires), ``POST /nodes/{node}/csr/regenerate`` (someone generates a new CSR
on the box), ``POST /shutdown``; the ADCS twin's CA-admin routes ``GET /adcs/requests``,
``POST /adcs/requests/{id}/issue|deny`` (see :mod:`lab.adcs`). Phones (:mod:`lab.phones`):
``GET /phones`` and ``GET /metrics/phones?since=&until=``.
"""

from __future__ import annotations

from typing import Any

import httpx

from lab.errors import LabError
from lab.faults import Fault
from lab.journal import JournalEntry


class LabControl:
    """Client of a running lab's control API (for ``ucrenew lab`` and the demo)."""

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        self._client = httpx.AsyncClient(base_url=url, timeout=timeout)

    async def __aenter__(self) -> LabControl:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self._client.aclose()

    async def _json(self, method: str, path: str, **kw: Any) -> Any:
        resp = await self._client.request(method, path, **kw)
        if resp.status_code >= 400:
            raise LabError(resp.status_code, resp.json().get("message", resp.text))
        return resp.json()

    async def journal(
        self, kind: str | None = None, node: str | None = None, since: int = 0
    ) -> list[JournalEntry]:
        """Journal entries after ``since``."""
        params: dict[str, str | int] = {"since": since}
        if kind:
            params["kind"] = kind
        if node:
            params["node"] = node
        data = await self._json("GET", "/journal", params=params)
        return [JournalEntry.model_validate(e) for e in data]

    async def add_fault(self, fault: Fault) -> Fault:
        """Inject a fault."""
        return Fault.model_validate(
            await self._json("POST", "/faults", json=fault.model_dump(exclude={"id", "fired"}))
        )

    async def clear_faults(self, fault_id: int | None = None) -> list[Fault]:
        """Clear one fault or all."""
        path = "/faults" if fault_id is None else f"/faults/{fault_id}"
        return [Fault.model_validate(f) for f in await self._json("DELETE", path)]

    async def faults(self) -> list[Fault]:
        """Active faults."""
        return [Fault.model_validate(f) for f in await self._json("GET", "/faults")]

    async def sso_enable(self) -> None:
        """Enable SSO as an administrator does in the GUI."""
        await self._json("POST", "/sso/enable")

    async def adcs_requests(self) -> list[dict[str, Any]]:
        """The ADCS twin's requests (as the CA console lists them)."""
        rows: list[dict[str, Any]] = await self._json("GET", "/adcs/requests")
        return rows

    async def adcs_issue(self, request_id: int | str) -> dict[str, Any]:
        """Issue a pending ADCS request, as a CA manager does in the console."""
        row: dict[str, Any] = await self._json("POST", f"/adcs/requests/{request_id}/issue")
        return row

    async def adcs_deny(self, request_id: int | str, reason: str = "") -> dict[str, Any]:
        """Deny a pending ADCS request (with the CA manager's reason)."""
        row: dict[str, Any] = await self._json(
            "POST", f"/adcs/requests/{request_id}/deny", json={"reason": reason}
        )
        return row
