"""Out-of-band control API of the lab (never on the CUCM ports), and its client.

``GET /state``, ``GET /journal?since=&kind=&node=``, ``GET|POST|DELETE /faults``,
``POST /sso/enable`` (the GUI action real CUCM requires), ``POST /nodes/{node}/csr/regenerate``
(someone generates a new CSR on the box), ``POST /shutdown``; the ADCS twin's CA-admin routes
``GET /adcs/requests``, ``POST /adcs/requests/{id}/issue|deny`` (see :mod:`lab.adcs`).
Phones (:mod:`lab.phones`): ``GET /phones`` and ``GET /metrics/phones?since=&until=``.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import httpx
from aiohttp import web
from pydantic import ValidationError

from lab.errors import LabError
from lab.faults import Fault
from lab.journal import JournalEntry
from lab.phone_metrics import PhoneMetrics

if TYPE_CHECKING:
    from lab.server import Lab


def make_control_app(lab: Lab) -> web.Application:
    """The control API application."""
    routes = web.RouteTableDef()

    @routes.get("/health")
    async def health(request: web.Request) -> web.Response:
        return web.json_response({"ok": True, "cluster": lab.spec.cluster})

    @routes.get("/describe")
    async def describe(request: web.Request) -> web.Response:
        return web.json_response(lab.describe())

    @routes.get("/state")
    async def state(request: web.Request) -> web.Response:
        return web.json_response(lab.cluster.state())

    @routes.get("/journal")
    async def journal(request: web.Request) -> web.Response:
        q = request.query
        entries = lab.journal.entries(
            kind=q.get("kind"), node=q.get("node"), since=int(q.get("since", "0"))
        )
        return web.json_response([e.model_dump() for e in entries])

    @routes.get("/faults")
    async def faults(request: web.Request) -> web.Response:
        return web.json_response([f.model_dump() for f in lab.faults.active()])

    @routes.post("/faults")
    async def add_fault(request: web.Request) -> web.Response:
        try:
            fault = Fault.model_validate(await request.json())
            stored = await lab.add_fault(fault)
        except ValidationError as exc:
            return web.json_response({"message": str(exc)}, status=400)
        except LabError as exc:
            return web.json_response({"message": exc.message}, status=exc.status)
        return web.json_response(stored.model_dump(), status=201)

    @routes.delete("/faults")
    async def clear_all(request: web.Request) -> web.Response:
        removed = await lab.clear_faults()
        return web.json_response([f.model_dump() for f in removed])

    @routes.delete("/faults/{fid}")
    async def clear_one(request: web.Request) -> web.Response:
        removed = await lab.clear_faults(int(request.match_info["fid"]))
        if not removed:
            return web.json_response({"message": "no such fault"}, status=404)
        return web.json_response([f.model_dump() for f in removed])

    @routes.post("/sso/enable")
    async def sso_enable(request: web.Request) -> web.Response:
        lab.cluster.sso_enable(origin="control-api")
        return web.json_response({"enabled": True})

    @routes.post("/nodes/{node}/csr/regenerate")
    async def regenerate(request: web.Request) -> web.Response:
        try:
            node = lab.cluster.node(request.match_info["node"])
            pending = lab.cluster.regenerate_pending_csr(
                node, request.query.get("purpose", "tomcat")
            )
        except LabError as exc:
            return web.json_response({"message": exc.message}, status=exc.status)
        return web.json_response({"tracking_id": pending.tracking_id})

    @routes.get("/phones")
    async def phones(request: web.Request) -> web.Response:
        return web.json_response(lab.phones.snapshot())

    @routes.get("/metrics/phones")
    async def phone_metrics(request: web.Request) -> web.Response:
        try:
            since = float(request.query.get("since", "0"))
            until = float(request.query["until"]) if "until" in request.query else None
        except ValueError:
            return web.json_response({"message": "since/until are epoch seconds"}, status=400)
        return web.json_response(lab.phones.metrics(since, until).model_dump())

    @routes.post("/shutdown")
    async def shutdown(request: web.Request) -> web.Response:
        asyncio.get_running_loop().call_later(0.05, lambda: asyncio.ensure_future(lab.stop()))
        return web.json_response({"stopping": True})

    app = web.Application()
    app.add_routes(routes)
    from lab.adcs import add_control_routes

    add_control_routes(app, lab)
    return app


class LabControl:
    """Client of a running lab's control API (for the CLI, tests and benchmarks)."""

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

    async def health(self) -> dict[str, Any]:
        """``{"ok": true}`` when the lab answers."""
        result: dict[str, Any] = await self._json("GET", "/health")
        return result

    async def describe(self) -> dict[str, Any]:
        """Nodes, ports and files of the running lab."""
        result: dict[str, Any] = await self._json("GET", "/describe")
        return result

    async def state(self) -> dict[str, Any]:
        """The cluster's state."""
        result: dict[str, Any] = await self._json("GET", "/state")
        return result

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

    async def regenerate_csr(self, node: str, purpose: str = "tomcat") -> str:
        """Generate a new CSR on the box behind the orchestrator's back; returns its tracking id."""
        data = await self._json(
            "POST", f"/nodes/{node}/csr/regenerate", params={"purpose": purpose}
        )
        return str(data["tracking_id"])

    async def shutdown(self) -> None:
        """Stop the lab process."""
        await self._json("POST", "/shutdown")

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

    async def adcs_requests(self) -> list[dict[str, Any]]:
        """Every request in the ADCS twin's CA database, oldest first."""
        result: list[dict[str, Any]] = await self._json("GET", "/adcs/requests")
        return result

    async def adcs_issue(self, request_id: int | str) -> dict[str, Any]:
        """Issue a pending ADCS request, as a CA administrator does."""
        result: dict[str, Any] = await self._json("POST", f"/adcs/requests/{request_id}/issue")
        return result

    async def adcs_deny(self, request_id: int | str, reason: str) -> dict[str, Any]:
        """Deny a pending ADCS request with a reason, as a CA administrator does."""
        result: dict[str, Any] = await self._json(
            "POST", f"/adcs/requests/{request_id}/deny", json={"reason": reason}
        )
        return result
