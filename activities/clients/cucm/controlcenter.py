"""Control Center Services SOAP client (Serviceability, cucm-interfaces.md §4).

Talks to one node's own endpoint; envelopes are built with lxml in the qualified
``http://schemas.cisco.com/ast/soap`` namespace, so no WSDL is needed. Restarts are
asynchronous on CUCM: :meth:`ControlCenterClient.control_services` returns at once and
:meth:`ControlCenterClient.wait_for_status` polls until the service is back and proves that it
really restarted.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Callable, Sequence
from typing import Any, Literal

from lxml import etree
from pydantic import BaseModel

from activities.clients.cucm import _soap, inferred
from activities.clients.cucm.backoff import Backoff, step_reads
from activities.clients.cucm.errors import (
    CucmError,
    CucmServiceError,
    CucmServiceTimeout,
    CucmThrottled,
    ServiceFailedToStart,
)
from activities.clients.cucm.transport import BasicAuth, HttpsApi, HttpsClient, NodeEndpoint

AST_NS = "http://schemas.cisco.com/ast/soap"
PATH = "/controlcenterservice2/services/ControlCenterServices"
#: The one operation that changes the node (starts, stops or restarts services).
CONTROL_OPERATION = "soapDoControlServices"

#: Reason code of a service that is not activated on the node.
NOT_ACTIVATED = -1068
#: UpTime is whole seconds and the reply takes time to arrive: start times computed as
#: ``now - UpTime`` are only this precise.
START_TIME_TOLERANCE = 2.0

ServiceAction = Literal["start", "stop", "restart", "Start", "Stop", "Restart"]
OnPoll = Callable[["ServiceStatus"], Any]


class ServiceStatus(BaseModel):
    """One service as Control Center reports it.

    Attributes:
        name: Exact service name ("Cisco CallManager").
        status: Started, Stopped, Starting, Stopping or Unknown.
        reason_code: -1 for success; e.g. -1068 not activated, -1039 already started.
        reason: ReasonCodeString.
        start_time: StartTime as the node formats it (informational).
        uptime: Seconds since start, -1 when not started.
        observed_at: Client wall-clock seconds when the reply was read.
    """

    name: str
    status: str
    reason_code: int = -1
    reason: str = ""
    start_time: str = ""
    uptime: int = -1
    observed_at: float = 0.0

    @property
    def activated(self) -> bool:
        """False when the node reports "Service Not Activated"."""
        return self.reason_code != NOT_ACTIVATED

    @property
    def ok(self) -> bool:
        """Whether the node reported success for this service (ReasonCode -1)."""
        return self.reason_code == -1

    @property
    def started_at(self) -> float | None:
        """When the service started (client clock, ``observed_at - uptime``), None if not."""
        if self.status != "Started" or self.uptime < 0:
            return None
        return self.observed_at - self.uptime


def _q(name: str) -> str:
    return f"{{{AST_NS}}}{name}"


def _text(el: etree._Element, name: str) -> str:
    return (el.findtext(_q(name)) or "").strip()


def _int(value: str, default: int = -1) -> int:
    try:
        return int(value)
    except ValueError:
        return default


class ControlCenterClient(HttpsApi):
    """Async client of one node's ControlCenterServices.

    Args:
        endpoint: The node to talk to (its own endpoint: the safest choice per §4.2).
        auth: The application user with serviceability roles.
        reads: How a query (every operation but soapDoControlServices) is repeated after a
            busy or unreached node: ``step`` as
            :func:`~activities.clients.cucm.backoff.step_reads` says, None: once.
    """

    def __init__(
        self,
        endpoint: NodeEndpoint,
        auth: BasicAuth,
        reads: Backoff | Literal["step"] | None = "step",
    ) -> None:
        self.endpoint = endpoint
        self._http = HttpsClient(endpoint, endpoint.https_port, auth, interface="controlcenter")
        self._reads = step_reads() if reads == "step" else reads

    # -- operations ---------------------------------------------------------------------

    async def get_service_status(self, names: Sequence[str] = ()) -> list[ServiceStatus]:
        """Status of the named services, or of every service when ``names`` is empty.

        Raises:
            CucmThrottled: The node's realtime rate limit was exceeded.
            CucmSoapFault: Any other SOAP fault.
            CucmError: Transport and HTTP errors (see errors.py).
        """
        req = etree.Element(_q("soapGetServiceStatus"), nsmap={"soap": AST_NS})
        for name in names or [""]:
            etree.SubElement(req, _q("ServiceStatus")).text = name
        ret = await self._call("soapGetServiceStatus", req)
        return self._service_list(ret)

    async def control_services(
        self, action: ServiceAction, names: Sequence[str], node_name: str | None = None
    ) -> list[ServiceStatus]:
        """Start, stop or restart services; returns at once with each service's reply.

        Per-service refusals are not raised: check ``reason_code`` (-1039 already started,
        -1040 already stopped, -1068 not activated, -1029 pending, -1045 not supported).

        Args:
            action: start, stop or restart (any case).
            names: Exact service names.
            node_name: NodeName to send; omitted means the node answering.

        Raises:
            CucmServiceError: The node refused the whole request (for example another NodeName).
            CucmThrottled: The node's realtime rate limit was exceeded.
            CucmResponseLost: Sent but unanswered: the control may have been applied.
        """
        req = etree.Element(_q(CONTROL_OPERATION), nsmap={"soap": AST_NS})
        control = etree.SubElement(req, _q("ControlServiceRequest"))
        etree.SubElement(control, _q("NodeName")).text = node_name or ""
        etree.SubElement(control, _q("ControlType")).text = action.capitalize()
        service_list = etree.SubElement(control, _q("ServiceList"))
        for name in names:
            etree.SubElement(service_list, _q("item")).text = name
        ret = await self._call(CONTROL_OPERATION, req)
        items = self._service_list(ret)
        if not items and _text(ret, "ReturnCode") != inferred.CONTROL_RETURN_OK:
            raise CucmServiceError(
                f"{action} refused: {_text(ret, 'ReasonString') or _text(ret, 'ReasonCode')}",
                node=self.endpoint.fqdn,
                service=", ".join(names),
                retryable=False,
            )
        return items

    async def wait_for_status(
        self,
        name: str,
        want: str = "Started",
        started_after: float | None = None,
        timeout: float = 300.0,  # noqa: ASYNC109 - a polling budget, reported in the error
        poll_interval: float = 5.0,
        on_poll: OnPoll | None = None,
    ) -> ServiceStatus:
        """Poll until ``name`` reaches ``want``; with ``started_after``, prove a restart.

        A restart is proven when the service is Started and either its start time
        (``now - UpTime``) lies past ``started_after`` by more than the UpTime resolution, or
        this wait saw it in another state first (Stopping/Stopped/Starting). A poll that fails
        with a retryable error (HTTP 5xx, a SOAP fault, a dropped answer) is a missed poll,
        not the end of the wait.

        Args:
            name: Exact service name.
            want: Status to wait for.
            started_after: Client-clock seconds the new start must come after: the pre-restart
                ``started_at`` or the moment the restart was requested.
            timeout: Seconds before giving up.
            poll_interval: Seconds between polls (5 s in Cisco's sample).
            on_poll: Called (or awaited, when it returns an awaitable) with every status read;
                activities heartbeat from here.

        Returns:
            The status that satisfied the wait.

        Raises:
            CucmServiceError: Not activated or unknown.
            ServiceFailedToStart: The service ended Stopped, "Component is not running".
            CucmServiceTimeout: Not in ``want`` within ``timeout`` (naming the last poll's
                error when it failed).
            CucmAuthError: The node refused the credentials (any error not retryable).
        """
        node = self.endpoint.fqdn
        deadline = time.monotonic() + timeout
        saw_other = False
        last: ServiceStatus | None = None
        missed: CucmError | None = None
        while True:
            delay = poll_interval
            try:
                statuses = await self.get_service_status([name])
            except CucmThrottled as exc:
                delay = max(poll_interval, exc.retry_after)
            except CucmError as exc:
                if not exc.retryable:
                    raise
                # One poll among the dozens of a restart that found the node busy (a 5xx, a
                # SOAP fault, a dropped answer) is a missed poll: the service's state is read
                # again at the next one, and the deadline still bounds the wait.
                missed = exc
                delay = max(poll_interval, exc.asked_wait or 0.0)
            else:
                missed = None
                status = next((s for s in statuses if s.name == name), None)
                if status is None or status.status == "Unknown":
                    raise CucmServiceError(
                        f"{name} is unknown to the node", node=node, service=name, retryable=False
                    )
                last = status
                if on_poll is not None:
                    result = on_poll(status)
                    if inspect.isawaitable(result):
                        await result
                if not status.activated:
                    raise CucmServiceError(
                        f"{name} is not activated", node=node, service=name, retryable=False
                    )
                if status.status == want and self._proven(status, started_after, saw_other):
                    return status
                if status.status != want:
                    saw_other = True
                if (
                    want == "Started"
                    and status.status == "Stopped"
                    and status.reason_code == inferred.SERVICE_FAILED_REASON_CODE
                ):
                    raise ServiceFailedToStart(
                        f"{name} failed to start ({status.reason})",
                        node=node,
                        service=name,
                    )
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                seen = f"last {last.status}, uptime {last.uptime}" if last else "never answered"
                if missed is not None:
                    seen += f"; the last poll failed: {missed}"
                raise CucmServiceTimeout(
                    f"{name} not {want} (restart proven) within {timeout:g}s ({seen})",
                    node=node,
                    service=name,
                )
            await asyncio.sleep(min(delay, remaining))

    # -- plumbing -----------------------------------------------------------------------

    @staticmethod
    def _proven(status: ServiceStatus, started_after: float | None, saw_other: bool) -> bool:
        if started_after is None or status.status != "Started" or saw_other:
            return True
        started_at = status.started_at
        return started_at is not None and started_at > started_after + START_TIME_TOLERANCE

    @staticmethod
    def _service_list(ret: etree._Element) -> list[ServiceStatus]:
        observed = time.time()
        return [
            ServiceStatus(
                name=_text(item, "ServiceName"),
                status=_text(item, "ServiceStatus") or "Unknown",
                reason_code=_int(_text(item, "ReasonCode")),
                reason=_text(item, "ReasonCodeString"),
                start_time=_text(item, "StartTime"),
                uptime=_int(_text(item, "UpTime")),
                observed_at=observed,
            )
            for item in ret.iterfind(f"{_q('ServiceInfoList')}/{_q('item')}")
        ]

    async def _call(self, operation: str, payload: etree._Element) -> etree._Element:
        return await _soap.call_serviceability(
            self._http,
            PATH,
            operation,
            payload,
            _q(operation + "Return"),
            inferred.THROTTLE_RETRY_AFTER,
            # A status or list query changes nothing; a service control is sent once.
            reads=None if operation == CONTROL_OPERATION else self._reads,
        )
