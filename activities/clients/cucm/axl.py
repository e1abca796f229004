"""AXL SOAP client (configuration database, cucm-interfaces.md §6).

Envelopes are built with lxml: the operation element is in ``http://www.cisco.com/AXL/API/<ver>``
and its children are unqualified; ``SOAPAction`` is ``"CUCM:DB ver=<ver> <operation>"``. When the
publisher answers 599 (unsupported schema version) the client switches once to the highest
version the reply lists and keeps it for later calls.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from lxml import etree
from pydantic import BaseModel

from activities.clients.cucm import _soap, inferred
from activities.clients.cucm.backoff import Backoff, retry_after_of, step_reads
from activities.clients.cucm.errors import (
    CucmAxlSchemaError,
    CucmAxlVersionError,
    CucmDeviceNotFound,
    CucmError,
    CucmHttpError,
    CucmSoapFault,
    CucmThrottled,
)
from activities.clients.cucm.transport import BasicAuth, HttpsApi, HttpsClient, NodeEndpoint

AXL_NS = "http://www.cisco.com/AXL/API/{version}"
PATH = "/axl/"
ENTERPRISE_WIDE_DATA = "EnterpriseWideData"
#: processNodeRole of a CUCM (not IM&P) server: the schema's XProcessNodeRole default (S28).
CUCM_PROCESS_NODE_ROLE = "CUCM Voice/Video"
#: nodeUsage of a cluster's publisher (§6).
PUBLISHER_NODE_USAGE = "Publisher"
_Builder = Callable[[etree._Element], None]
SECURITY_MODE_SQL = (
    "select paramname,paramvalue from processconfig where paramname='ClusterSecurityMode'"
)
#: Every Unified CM group with its members and the servers they run on, in one query:
#: listCallManagerGroup cannot return members (LCallManagerGroup has only name and tftpDefault)
#: and getCallManagerGroup would take one call per group. A group without members is one row
#: with NULL (empty) member columns.
CM_GROUPS_SQL = (
    "select g.name as groupname, m.priority, c.name as callmanager, n.name as servername "
    "from callmanagergroup g "
    "left outer join callmanagergroupmember m on m.fkcallmanagergroup = g.pkid "
    "left outer join callmanager c on c.pkid = m.fkcallmanager "
    "left outer join processnode n on n.pkid = c.fkprocessnode"
)
#: Phones (tkclass 1) per device pool, counted by the database.
PHONES_PER_POOL_SQL = (
    "select dp.name as devicepool, count(*) as phones from device d, devicepool dp "
    "where d.fkdevicepool = dp.pkid and d.tkclass = 1 group by dp.name"
)


class ProcessNode(BaseModel):
    """A server of the cluster as AXL lists it.

    Attributes:
        name: processnode name (FQDN, host name or address, as configured).
        description: Free text.
        node_usage: Publisher or Subscriber.
        role: processNodeRole ("CUCM Voice/Video", "CUCM IM and Presence"), when returned.
        uuid: The processnode's pkid (the ``uuid`` attribute), lower case without braces;
            "" when the reply has none.
    """

    name: str
    description: str = ""
    node_usage: str = ""
    role: str = ""
    uuid: str = ""


class CmGroupMember(BaseModel):
    """One member of a Unified CM group.

    Attributes:
        callmanager: The CallManager entity's name (``CM_<host>`` by default).
        priority: 1 for the primary, then 2, 3.
        server: The processnode name the entity runs on, when known.
    """

    callmanager: str
    priority: int
    server: str = ""


class CmGroup(BaseModel):
    """A Unified CM group, members in priority order (primary first)."""

    name: str
    members: list[CmGroupMember]


class DevicePool(BaseModel):
    """A device pool and the CM group its devices register with."""

    name: str
    cm_group: str


def supported_versions(page: str) -> tuple[str, ...]:
    """Schema versions listed by a 599 "Incorrect axl version" page, highest first."""
    concrete: list[str] = []
    families: list[str] = []
    for major, minor in inferred.AXL_VERSION_RE.findall(page):
        if minor == "x":
            families.append(f"{major}.0")
        else:
            concrete.append(f"{major}.{minor}")
    found = concrete or families
    return tuple(
        sorted(set(found), key=lambda v: tuple(int(p) for p in v.split(".")), reverse=True)
    )


def _int_or_none(text: str) -> int | None:
    try:
        return int(text)
    except ValueError:
        return None


#: AXL operations that only read (AXL Developer Guide: get/list requests, and
#: executeSQLQuery, which runs SELECT statements only; updates go through executeSQLUpdate).
_READ_OPERATIONS = ("get", "list", "executeSQLQuery")


class AxlClient(HttpsApi):
    """Async AXL client of a CUCM publisher.

    Args:
        endpoint: The CUCM publisher.
        auth: An application user with the AXL role.
        version: Schema version to ask for first; replaced by the negotiated one after a 599.
        reads: How a read (get, list, SQL query) is repeated after a busy or unreached node:
            ``step`` as :func:`~activities.clients.cucm.backoff.step_reads` says, None: once.
    """

    def __init__(
        self,
        endpoint: NodeEndpoint,
        auth: BasicAuth,
        version: str = "14.0",
        reads: Backoff | Literal["step"] | None = "step",
    ) -> None:
        self.endpoint = endpoint
        self.version = version
        self._http = HttpsClient(endpoint, endpoint.https_port, auth, interface="axl")
        self._reads = step_reads() if reads == "step" else reads

    # -- operations ---------------------------------------------------------------------

    async def get_ccm_version(self) -> str:
        """The cluster's full version, e.g. ``14.0.1.13900-155``."""
        ret = await self._call("getCCMVersion", lambda req: None)
        version = ret.findtext("componentVersion/version")
        if not version:
            raise CucmError("getCCMVersion: no componentVersion/version", node=self._node)
        return version.strip()

    async def list_process_nodes(self, name: str = "%") -> list[ProcessNode]:
        """The cluster's servers (EnterpriseWideData excluded).

        Args:
            name: searchCriteria name; ``%`` is the wildcard.
        """

        def build(req: etree._Element) -> None:
            etree.SubElement(etree.SubElement(req, "searchCriteria"), "name").text = name
            tags = etree.SubElement(req, "returnedTags")
            for tag in ("name", "description", "nodeUsage", "processNodeRole"):
                etree.SubElement(tags, tag)

        ret = await self._call("listProcessNode", build)
        nodes = [
            ProcessNode(
                name=(pn.findtext("name") or "").strip(),
                description=(pn.findtext("description") or "").strip(),
                node_usage=(pn.findtext("nodeUsage") or "").strip(),
                role=(pn.findtext("processNodeRole") or "").strip(),
                uuid=(pn.get("uuid") or "").strip().strip("{}").lower(),
            )
            for pn in ret.iterfind("processNode")
        ]
        return [n for n in nodes if n.name != ENTERPRISE_WIDE_DATA]

    async def execute_sql(self, sql: str) -> list[dict[str, str]]:
        """Run a read-only SQL query; each row maps column name to text ("" for NULL)."""

        def build(req: etree._Element) -> None:
            etree.SubElement(req, "sql").text = sql

        ret = await self._call("executeSQLQuery", build)
        return [
            {col.tag: (col.text or "") for col in row if isinstance(col.tag, str)}
            for row in ret.iterfind("row")
        ]

    async def cluster_security_mode(self) -> int:
        """Enterprise parameter ClusterSecurityMode: 0 non-secure, 1 mixed mode."""
        rows = await self.execute_sql(SECURITY_MODE_SQL)
        if len(rows) != 1:
            raise CucmError(
                f"ClusterSecurityMode: expected one row, got {len(rows)}", node=self._node
            )
        try:
            return int(rows[0]["paramvalue"])
        except (KeyError, ValueError):
            raise CucmError(
                f"ClusterSecurityMode: unexpected row {rows[0]!r}", node=self._node
            ) from None

    async def list_cm_groups(self) -> list[CmGroup]:
        """Unified CM groups with their members in priority order (one SQL query).

        Each member's ``server`` is the processnode name its CallManager entity runs on.

        Raises:
            CucmError: A row whose priority is not a number.
        """
        members: dict[str, list[tuple[int, CmGroupMember]]] = {}
        for row in await self.execute_sql(CM_GROUPS_SQL):
            group = members.setdefault(row.get("groupname", ""), [])
            callmanager = row.get("callmanager", "")
            if not callmanager:
                continue
            priority = _int_or_none(row.get("priority", ""))
            if priority is None:
                raise CucmError(f"CM groups: unexpected row {row!r}", node=self._node)
            server = row.get("servername", "")
            group.append(
                (priority, CmGroupMember(callmanager=callmanager, priority=0, server=server))
            )
        return [
            CmGroup(
                name=name,
                members=[
                    m.model_copy(update={"priority": rank})
                    for rank, (_, m) in enumerate(sorted(ranked, key=lambda r: r[0]), start=1)
                ],
            )
            for name, ranked in members.items()
        ]

    async def list_device_pools(self, name: str = "%") -> list[DevicePool]:
        """Device pools and their CM groups."""

        def build(req: etree._Element) -> None:
            etree.SubElement(etree.SubElement(req, "searchCriteria"), "name").text = name
            tags = etree.SubElement(req, "returnedTags")
            for tag in ("name", "callManagerGroupName"):
                etree.SubElement(tags, tag)

        ret = await self._call("listDevicePool", build)
        return [
            DevicePool(
                name=(el.findtext("name") or "").strip(),
                cm_group=(el.findtext("callManagerGroupName") or "").strip(),
            )
            for el in ret.iterfind("devicePool")
        ]

    async def phones_per_device_pool(self) -> dict[str, int]:
        """Configured phones per device pool name (SQL on the ``device`` table).

        Raises:
            CucmSoapFault: The database refused the query (e.g. no ``device`` table).
        """
        rows = await self.execute_sql(PHONES_PER_POOL_SQL)
        counts: dict[str, int] = {}
        for row in rows:
            try:
                counts[row["devicepool"]] = int(row["phones"])
            except (KeyError, ValueError):
                raise CucmError(
                    f"phones per device pool: unexpected row {row!r}", node=self._node
                ) from None
        return counts

    async def reset_device(self, name: str, hard: bool = True) -> None:
        """Reset a device (doDeviceReset): a phone reboots and fetches its config, ITL and CTL.

        CUCM accepts the request whether or not the phone is registered; only a registered
        phone receives it.

        Args:
            name: Device name (``SEP…``).
            hard: Reset (power cycle); False asks for a restart.

        Raises:
            CucmDeviceNotFound: AXL does not know the device.
            CucmSoapFault: Any other AXL fault.
            CucmThrottled: AXL's rate limit (HTTP 503).
            CucmError: AXL answered ``false`` (the reset was not performed); ``true`` or a
                GUID is success (DoDeviceResetRes, a StandardResponse).
        """

        def build(req: etree._Element) -> None:
            # DoDeviceResetReq: deviceName, then isHardReset *or* deviceResetType (a choice);
            # isMGCP is an attribute whose default, false, is what a phone needs.
            etree.SubElement(req, "deviceName").text = name
            etree.SubElement(req, "deviceResetType").text = "Reset" if hard else "Restart"

        try:
            ret = await self._call("doDeviceReset", build)
        except CucmSoapFault as exc:
            if exc.axlcode != inferred.AXL_ITEM_NOT_FOUND_CODE:
                raise
            raise CucmDeviceNotFound(
                f"doDeviceReset {name}: {exc.axlmessage or 'device not found'} "
                f"(axlcode {exc.axlcode})",
                node=self._node,
                faultcode=exc.faultcode,
                axlcode=exc.axlcode,
                axlmessage=exc.axlmessage,
                device=name,
            ) from None
        if (ret.text or "").strip() == "false":
            raise CucmError(f"doDeviceReset {name}: AXL answered false", node=self._node)

    # -- plumbing -----------------------------------------------------------------------

    @property
    def _node(self) -> str:
        return self.endpoint.fqdn

    async def _call(
        self, operation: str, build: _Builder, negotiated: bool = False
    ) -> etree._Element:
        ns = AXL_NS.format(version=self.version)
        req = etree.Element(f"{{{ns}}}{operation}", nsmap={"ns": ns})
        build(req)
        resp = await self._http.request(
            "POST",
            PATH,
            # A get/list/SQL select changes nothing: a busy or unreached node is asked again.
            retry=self._reads,
            read=operation.startswith(_READ_OPERATIONS),
            content=_soap.envelope(req),
            headers={
                "Content-Type": "text/xml; charset=utf-8",
                "SOAPAction": f'"CUCM:DB ver={self.version} {operation}"',
            },
        )
        if resp.status_code == 599:
            supported = supported_versions(resp.text)
            if negotiated or not supported:
                raise CucmAxlVersionError(
                    f"AXL version {self.version} refused; supported: "
                    f"{', '.join(supported) or 'none listed'}",
                    node=self._node,
                    supported=supported,
                )
            self.version = supported[0]
            return await self._call(operation, build, negotiated=True)
        asked = retry_after_of(resp)
        if resp.status_code in (inferred.AXL_THROTTLE_STATUS, 429):
            raise CucmThrottled(
                f"{operation}: HTTP {resp.status_code}",
                node=self._node,
                retry_after=inferred.AXL_THROTTLE_RETRY_AFTER,
                asked_wait=asked,
            )
        if resp.status_code == 500 and "xml" in resp.headers.get("content-type", ""):
            fault = _soap.find_fault(_soap.parse_body(resp.content, self._node))
            if (
                fault is not None
                and fault.detail is None
                and (inferred.AXL_SCHEMA_REFUSAL_RE.match(fault.faultstring))
            ):
                raise CucmAxlSchemaError(
                    f"{operation}: AXL {self.version} refused the request as not valid against "
                    f"its schema ({fault.faultstring}); this CUCM release does not accept what "
                    "ucrenew sent: report it with the release",
                    node=self._node,
                    faultcode=fault.faultcode,
                )
            if fault is not None:
                message = fault.faultstring
                code = axlmessage = ""
                if fault.detail is not None:
                    code = (fault.detail.findtext("axlError/axlcode") or "").strip()
                    axlmessage = (fault.detail.findtext("axlError/axlmessage") or "").strip()
                    if code:
                        message = f"{message} (axlcode {code})"
                raise CucmSoapFault(
                    f"{operation}: {message}",
                    node=self._node,
                    faultcode=fault.faultcode,
                    axlcode=_int_or_none(code),
                    axlmessage=axlmessage,
                )
        if resp.status_code != 200:
            raise CucmHttpError(
                f"{operation}: HTTP {resp.status_code}",
                node=self._node,
                status=resp.status_code,
                asked_wait=asked,
            )
        body = _soap.parse_body(resp.content, self._node)
        ret = body.find(f"{{{ns}}}{operation}Response/return")
        if ret is None:
            raise CucmError(f"{operation}: reply has no return element", node=self._node)
        return ret
