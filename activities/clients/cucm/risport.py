"""RisPort70 client: which phones are registered where (cucm-interfaces.md §5).

One node answers for the whole cluster (its reply has one CmNodes item per CUCM node).
:meth:`RisPortClient.select_cm_devices` pages with StateInfo until every device is read and
waits out the realtime throttle a bounded number of times; :meth:`registration_summary` is the
health-gate view: how many phones each node holds and which are registered nowhere.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Literal

from lxml import etree
from pydantic import BaseModel, Field

from activities.clients.cucm import _soap, inferred
from activities.clients.cucm.backoff import RETRY_AFTER_CAP, Backoff
from activities.clients.cucm.errors import CucmError, CucmHttpError, CucmThrottled
from activities.clients.cucm.transport import BasicAuth, HttpsApi, HttpsClient, NodeEndpoint

AST_NS = "http://schemas.cisco.com/ast/soap"
PATH = "/realtimeservice2/services/RISService70"

Status = Literal["Any", "Registered", "UnRegistered", "Rejected", "PartiallyRegistered", "Unknown"]
Protocol = Literal["Any", "SCCP", "SIP", "Unknown"]
Sleep = Callable[[float], Awaitable[None]]


class DeviceRegistration(BaseModel):
    """One device record of one node.

    Attributes:
        name: Device name (``SEP…``).
        node: Short host name of the node holding the record.
        status: Registered, UnRegistered, Rejected, PartiallyRegistered or Unknown.
        status_reason: RIS StatusReason (0 = none).
        protocol: SCCP or SIP.
        dir_number: First directory number.
        ip: First IPv4 address.
        model: RIS model enum.
        description: Device description.
        timestamp: When the node recorded the status (epoch seconds).
    """

    name: str
    node: str
    status: str
    status_reason: int = 0
    protocol: str = ""
    dir_number: str = ""
    ip: str = ""
    model: int = 0
    description: str = ""
    timestamp: int = 0


class RegistrationSummary(BaseModel):
    """Phones per node, and those registered nowhere.

    Attributes:
        total: Devices found.
        registered: Per node, as RisPort names it (the processnode name: FQDN, host name or
            address), the devices registered with it.
        unregistered: Names of the devices with no Registered record.
    """

    total: int
    registered: dict[str, int] = Field(default_factory=dict)
    unregistered: list[str] = Field(default_factory=list)

    @property
    def registered_total(self) -> int:
        """Devices registered somewhere."""
        return self.total - len(self.unregistered)


def _q(name: str) -> str:
    return f"{{{AST_NS}}}{name}"


def _text(el: etree._Element, name: str) -> str:
    return (el.findtext(_q(name)) or "").strip()


def _int(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        return 0


#: Busy answers (HTTP 5xx) a query is asked again after (see ``RisPortClient.busy_retries``).
BUSY_RETRIES = 4


class RisPortClient(HttpsApi):
    """Async client of one node's RISService70.

    Args:
        endpoint: The node to ask (any CUCM node answers for the cluster; usually the
            publisher).
        auth: The application user with serviceability roles.
        max_returned: MaxReturnedDevices per call.
        throttle_retries: How often a throttled call is retried before CucmThrottled reaches
            the caller: after the node's ``Retry-After`` when it sends one, else after
            ``retry_after`` seconds, doubling with each retry.
        busy_retries: How often a query answered with a 5xx (a busy node) is asked again
            before the error reaches the caller: after the node's ``Retry-After`` when it
            sends one, else 2 s doubling. selectCmDevice changes nothing, and a registration
            wait or a reset batch reads RisPort dozens of times, so one busy answer must not
            end it.
        sleep: How to wait between retries (tests pass a fast one).
    """

    def __init__(
        self,
        endpoint: NodeEndpoint,
        auth: BasicAuth,
        *,
        max_returned: int = inferred.RIS_MAX_RETURNED_DEVICES,
        throttle_retries: int = inferred.RIS_THROTTLE_RETRIES,
        retry_after: float = inferred.THROTTLE_RETRY_AFTER,
        busy_retries: int = BUSY_RETRIES,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.endpoint = endpoint
        self.max_returned = max_returned
        self.throttle_retries = throttle_retries
        self.busy_retries = busy_retries
        self.retry_after = retry_after
        self._sleep = sleep
        # The node's Retry-After when it sends one, else doubling from ``retry_after``.
        self._backoff = Backoff(throttle_initial=retry_after, maximum=RETRY_AFTER_CAP)
        self._http = HttpsClient(endpoint, endpoint.https_port, auth, interface="risport")

    async def select_cm_devices(
        self,
        status: Status = "Any",
        protocol: Protocol = "Any",
        node: str | None = None,
        names: Sequence[str] = ("*",),
        ext: bool = True,
    ) -> list[DeviceRegistration]:
        """Every matching phone record of the cluster, over as many pages as needed.

        Args:
            status: Status filter.
            protocol: Protocol filter.
            node: Only records of this node (its processnode name: FQDN, host or address).
            names: Device names, ``*`` wildcards allowed.
            ext: selectCmDeviceExt (latest record per device) instead of selectCmDevice (a
                device may appear under several nodes during failover).

        Raises:
            CucmThrottled: Still throttled after ``throttle_retries`` waits.
            CucmSoapFault: Any other SOAP fault.
            CucmError: Transport and HTTP errors.
        """
        operation = "selectCmDeviceExt" if ext else "selectCmDevice"
        records: list[DeviceRegistration] = []
        seen: set[str] = set()
        state_info = ""
        for _ in range(inferred.RIS_MAX_PAGES):
            req = self._request(operation, state_info, status, protocol, node, names)
            ret = await self._call_with_retries(operation, req)
            result = ret.find(_q("SelectCmDeviceResult"))
            if result is None:
                raise CucmError(f"{operation}: reply has no SelectCmDeviceResult", node=self._fqdn)
            total = _int(_text(result, "TotalDevicesFound"))
            page = self._devices(result)
            new = {r.name for r in page} - seen
            records.extend(r for r in page if r.name not in seen)
            seen |= new
            state_info = _text(ret, "StateInfo")
            if not new or len(seen) >= total or not state_info:
                break
        return records

    async def registration_summary(self, names: Sequence[str] = ("*",)) -> RegistrationSummary:
        """Per node counts of registered phones, and the phones registered nowhere."""
        records = await self.select_cm_devices(names=names, ext=True)
        registered: dict[str, int] = {}
        ok: set[str] = set()
        everyone: set[str] = set()
        for r in records:
            everyone.add(r.name)
            if r.status == "Registered":
                registered[r.node] = registered.get(r.node, 0) + 1
                ok.add(r.name)
        return RegistrationSummary(
            total=len(everyone),
            registered=registered,
            unregistered=sorted(everyone - ok),
        )

    # -- plumbing -----------------------------------------------------------------------

    @property
    def _fqdn(self) -> str:
        return self.endpoint.fqdn

    def _request(
        self,
        operation: str,
        state_info: str,
        status: str,
        protocol: str,
        node: str | None,
        names: Sequence[str],
    ) -> etree._Element:
        req = etree.Element(_q(operation), nsmap={"soap": AST_NS})
        etree.SubElement(req, _q("StateInfo")).text = state_info
        crit = etree.SubElement(req, _q("CmSelectionCriteria"))
        for tag, value in (
            ("MaxReturnedDevices", str(self.max_returned)),
            ("DeviceClass", "Phone"),
            ("Model", "255"),
            ("Status", status),
            ("NodeName", node or ""),
            ("SelectBy", "Name"),
        ):
            etree.SubElement(crit, _q(tag)).text = value
        items = etree.SubElement(crit, _q("SelectItems"))
        for name in names:
            etree.SubElement(etree.SubElement(items, _q("item")), _q("Item")).text = name
        etree.SubElement(crit, _q("Protocol")).text = protocol
        etree.SubElement(crit, _q("DownloadStatus")).text = "Any"
        return req

    @staticmethod
    def _devices(result: etree._Element) -> list[DeviceRegistration]:
        out: list[DeviceRegistration] = []
        for cm_node in result.iterfind(f"{_q('CmNodes')}/{_q('item')}"):
            node = _text(cm_node, "Name")
            for dev in cm_node.iterfind(f"{_q('CmDevices')}/{_q('item')}"):
                ip = dev.find(f"{_q('IPAddress')}/{_q('item')}")
                dn = _text(dev, "DirNumber").split(",", 1)[0].split("-", 1)[0]
                out.append(
                    DeviceRegistration(
                        name=_text(dev, "Name"),
                        node=node,
                        status=_text(dev, "Status") or "Unknown",
                        status_reason=_int(_text(dev, "StatusReason")),
                        protocol=_text(dev, "Protocol"),
                        dir_number=dn,
                        ip=_text(ip, "IP") if ip is not None else "",
                        model=_int(_text(dev, "Model")),
                        description=_text(dev, "Description"),
                        timestamp=_int(_text(dev, "TimeStamp")),
                    )
                )
        return out

    async def _call_with_retries(self, operation: str, req: etree._Element) -> etree._Element:
        attempt = 0
        busy = 0
        while True:
            try:
                return await self._call(operation, req)
            except CucmThrottled as exc:
                if attempt >= self.throttle_retries:
                    raise
                attempt += 1
                await self._sleep(self._backoff.delay(attempt, exc))
            except CucmHttpError as exc:
                if not exc.retryable or busy >= self.busy_retries:
                    raise
                busy += 1
                await self._sleep(self._backoff.delay(busy, exc))

    async def _call(self, operation: str, payload: etree._Element) -> etree._Element:
        return await _soap.call_serviceability(
            self._http, PATH, operation, payload, _q("selectCmDeviceReturn"), self.retry_after
        )
