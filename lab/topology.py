"""Topology of a lab cluster, read from YAML."""

from __future__ import annotations

import ipaddress
import re
from importlib import resources
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from lab.catalog import service_names

Product = Literal["cucm", "imp"]


def version_tuple(version: str) -> tuple[int, ...]:
    """``(14, 0, 1, 13900, 155)`` for ``14.0.1.13900-155``."""
    return tuple(int(p) for p in re.split(r"[.-]", version) if p.isdigit())


class Ports(BaseModel):
    """TCP ports every node serves. Privileged ports are shifted when not running as root."""

    model_config = ConfigDict(extra="forbid")

    https: int = 8443
    https_alt: int = 443
    ssh: int = 22
    #: SIP over TLS on CUCM nodes (Cisco CallManager) and XMPP on IM&P nodes (Cisco XCP Router).
    sip_tls: int = 5061
    xmpp_c2s: int = 5222
    xmpp_s2s: int = 5269


AdcsDisposition = Literal["issue", "pending", "deny"]
_ADCS_TEMPLATES: dict[str, AdcsDisposition] = {
    "WebServer": "issue",
    "CUCMManualApproval": "pending",
    "CUCMRestricted": "deny",
}


class AdcsSpec(BaseModel):
    """The ADCS web enrollment twin (lab/adcs.py) that signs the cluster's CSRs."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    hostname: str = "ca"
    host: int = Field(default=250, description="host number in the lab network")
    address: str | None = None
    port: int = 443
    username: str = "ucrenew-enroll"
    templates: dict[str, AdcsDisposition] = Field(
        default_factory=lambda: dict(_ADCS_TEMPLATES),
        description="template name -> what the CA does with a request for it",
    )


class NodeSpec(BaseModel):
    """One server of the cluster."""

    model_config = ConfigDict(extra="forbid")

    hostname: str
    product: Product = "cucm"
    publisher: bool = False
    address: str | None = None
    deactivated: list[str] = Field(default_factory=list, description="services not activated")
    core_files: list[str] = Field(
        default_factory=list,
        description="processes whose core dump ``utils core active list`` shows (e.g. ccm)",
    )

    @model_validator(mode="after")
    def _check_services(self) -> NodeSpec:
        known = service_names(self.product)
        unknown = [name for name in self.deactivated if name not in known]
        if unknown:
            raise ValueError(
                f"{self.hostname}: deactivated lists services a {self.product} node does not have: "
                + ", ".join(repr(name) for name in unknown)
            )
        return self


Partition = Literal["active", "inactive", "logging"]


class HealthSpec(BaseModel):
    """What the commands administrators run before a change report (lab/health.py).

    ``logging`` is the common partition (mounted on /common). Faults make a running lab
    unhealthy too: ``ntp-unsynchronised``, ``disk-full``, ``core-dump``, ``drs-backup-failed``,
    ``drs-backup-old``.
    """

    model_config = ConfigDict(extra="forbid")

    #: The publisher's NTP server (default: the network's first address); subscribers and IM&P
    #: nodes take their time from the CUCM publisher.
    ntp_server: str | None = None
    #: Stratum of that server (the publisher is one more, its subscribers two more).
    ntp_stratum: int = Field(default=2, ge=1, le=14)
    #: False: the publisher cannot reach its NTP server, so no node is synchronised.
    ntp_synchronised: bool = True
    #: Used share of each partition, percent.
    disk_used_percent: dict[Partition, float] = Field(
        default_factory=lambda: dict[Partition, float](
            {"active": 58.0, "inactive": 62.0, "logging": 36.0}
        )
    )
    #: The version on the inactive partition (an upgraded cluster keeps the previous one);
    #: None: a fresh install with nothing on it.
    inactive_version: str | None = "12.5.1.16900-48"
    #: Scheduled DRS backups run this often, the last one this long ago (None: never).
    backup_interval_hours: float = Field(default=24.0, gt=0)
    last_backup_hours_ago: float | None = Field(default=20.0, ge=0)
    #: The result of the last scheduled backup.
    last_backup_result: Literal["SUCCESS", "ERROR"] = "SUCCESS"
    #: Backups ``utils disaster_recovery history backup`` lists.
    backups_kept: int = Field(default=10, ge=0)


class CmGroupSpec(BaseModel):
    """A Unified CM group: up to three CUCM nodes in priority order (primary first)."""

    model_config = ConfigDict(extra="forbid")

    name: str
    members: list[str] = Field(min_length=1, max_length=3, description="CUCM host names")


class DevicePoolSpec(BaseModel):
    """A device pool, its CM group and how many phones of each protocol it holds."""

    model_config = ConfigDict(extra="forbid")

    name: str
    cm_group: str
    sccp: int = Field(default=0, ge=0)
    sip: int = Field(default=0, ge=0)


class PhonesSpec(BaseModel):
    """The phone population when ``device_pools`` is not given, and phone-wide behaviour."""

    model_config = ConfigDict(extra="forbid")

    #: Phones spread evenly over one device pool per CM group (when device_pools is omitted).
    count: int = Field(default=40, ge=0)
    #: Share of SIP phones in those derived pools (the rest are SCCP).
    sip_fraction: float = Field(default=0.5, ge=0.0, le=1.0)
    #: CM groups derived when ``cm_groups`` is omitted.
    groups: int = Field(default=2, ge=1)
    #: Share of phones with a secure (encrypted/authenticated) profile; matters in mixed mode.
    secure_fraction: float = Field(default=0.25, ge=0.0, le=1.0)
    #: "Phone Interaction on Certificate Update": phones reset to fetch a changed ITL.
    reset_on_certificate_update: bool = True
    #: CSCup28852: after a multi-server CallManager certificate, phones reset every 7 minutes.
    cscup28852: bool = False


#: A CUCM version string as ``show version active`` prints it (``14.0.1.13900-155``).
RELEASE_RE = re.compile(r"(?P<major>\d+)\.(?P<minor>\d+)\.\d+\.\d+-\d+")
#: The releases the twin models (docs/releases.md).
OLDEST_RELEASE = (10, 5)
NEWEST_RELEASE = (15, 0)


class TopologySpec(BaseModel):
    """A whole cluster as the lab runs it."""

    model_config = ConfigDict(extra="forbid")

    cluster: str = "lab"
    version: str = "14.0.1.13900-155"
    domain: str = "lab.example.com"
    network: str = "127.0.1.0/24"
    first_host: int = 11
    ports: Ports = Field(default_factory=Ports)
    nodes: list[NodeSpec]
    cert_validity_days: float = 20.0
    sso_enabled: bool = True
    security_mode: Literal[0, 1] = 0
    timing: str = "fast"
    os_admin_user: str = "admin"
    app_user: str = "ucrenew-app"
    seed: int | None = None
    #: Unified CM groups; omitted = derived from the CUCM nodes (see resolved_cm_groups).
    cm_groups: list[CmGroupSpec] | None = None
    #: Device pools with phone counts; omitted = one pool per CM group (see phones).
    device_pools: list[DevicePoolSpec] | None = None
    phones: PhonesSpec = Field(default_factory=PhonesSpec)
    adcs: AdcsSpec = Field(default_factory=AdcsSpec)
    health: HealthSpec = Field(default_factory=HealthSpec)
    #: How System > Server names each node (processnode.name): Cisco's server configuration
    #: takes a host name, an FQDN or an IP address, and clusters installed by address are
    #: common. AXL listProcessNode, CM group members and RisPort CmNodes all carry this name.
    server_names: Literal["fqdn", "hostname", "address"] = "fqdn"

    @model_validator(mode="after")
    def _check(self) -> TopologySpec:
        names = [n.hostname for n in self.nodes]
        if len(set(names)) != len(names):
            raise ValueError("node hostnames must be unique")
        for product in ("cucm", "imp"):
            members = [n for n in self.nodes if n.product == product]
            pubs = [n for n in members if n.publisher]
            if members and len(pubs) != 1:
                raise ValueError(f"exactly one {product} node must be the publisher")
        if not any(n.product == "cucm" for n in self.nodes):
            raise ValueError("a cluster needs at least one CUCM node")
        net = ipaddress.ip_network(self.network)
        if not net.subnet_of(ipaddress.ip_network("127.0.0.0/8")):  # type: ignore[arg-type]
            raise ValueError("the lab binds loopback addresses only (127.0.0.0/8)")
        for n in self.nodes:
            if n.address and ipaddress.ip_address(n.address) not in ipaddress.ip_network(
                "127.0.0.0/8"
            ):
                raise ValueError(f"{n.hostname}: the lab binds loopback addresses only")
        if ipaddress.ip_address(self.adcs_address) not in ipaddress.ip_network("127.0.0.0/8"):
            raise ValueError("adcs: the lab binds loopback addresses only")
        self._check_phones()
        return self

    def _check_phones(self) -> None:
        cucm = {n.hostname for n in self.nodes if n.product == "cucm"}
        groups = self.resolved_cm_groups()
        if len({g.name for g in groups}) != len(groups):
            raise ValueError("CM group names must be unique")
        for g in groups:
            if len(set(g.members)) != len(g.members):
                raise ValueError(f"CM group {g.name}: a node is listed twice")
            unknown = [m for m in g.members if m not in cucm]
            if unknown:
                raise ValueError(f"CM group {g.name}: {unknown[0]} is not a CUCM node")
        names = {g.name for g in groups}
        pools = self.resolved_device_pools()
        if len({p.name for p in pools}) != len(pools):
            raise ValueError("device pool names must be unique")
        for p in pools:
            if p.cm_group not in names:
                raise ValueError(f"device pool {p.name}: unknown CM group {p.cm_group}")

    def resolved_cm_groups(self) -> list[CmGroupSpec]:
        """The CM groups: as given, or derived from the CUCM nodes.

        Derived groups spread primaries over the call-processing nodes (the subscribers when
        there are two or more, else every CUCM node), each backed by a dedicated backup node
        when there are enough (1:1 redundancy), else by the next node, and then by the
        publisher.
        """
        if self.cm_groups is not None:
            return list(self.cm_groups)
        cucm = [n for n in self.nodes if n.product == "cucm"]
        pub = next(n.hostname for n in cucm if n.publisher)
        subs = [n.hostname for n in cucm if not n.publisher]
        processing = subs if len(subs) >= 2 else [n.hostname for n in cucm]
        groups: list[CmGroupSpec] = []
        count = min(self.phones.groups, len(processing))
        for i in range(count):
            backup = i + count if len(processing) >= 2 * count else (i + 1) % len(processing)
            members = [processing[i], processing[backup], pub]
            groups.append(CmGroupSpec(name=f"CMG-{i + 1}", members=list(dict.fromkeys(members))))
        return groups

    def resolved_device_pools(self) -> list[DevicePoolSpec]:
        """The device pools: as given, or one per CM group sharing ``phones.count``."""
        if self.device_pools is not None:
            return list(self.device_pools)
        groups = self.resolved_cm_groups()
        pools: list[DevicePoolSpec] = []
        for i, g in enumerate(groups):
            count = self.phones.count // len(groups) + (
                1 if i < self.phones.count % len(groups) else 0
            )
            sip = round(count * self.phones.sip_fraction)
            pools.append(
                DevicePoolSpec(name=f"DP-{i + 1}", cm_group=g.name, sccp=count - sip, sip=sip)
            )
        return pools

    @property
    def adcs_address(self) -> str:
        """Loopback address of the ADCS twin."""
        if self.adcs.address:
            return self.adcs.address
        return str(ipaddress.ip_network(self.network).network_address + self.adcs.host)

    def address_of(self, index: int) -> str:
        """Loopback address of the node at ``index``."""
        node = self.nodes[index]
        if node.address:
            return node.address
        net = ipaddress.ip_network(self.network)
        return str(net.network_address + self.first_host + index)

    def fqdn(self, hostname: str) -> str:
        """Fully qualified name of a node."""
        return f"{hostname}.{self.domain}"

    @field_validator("version")
    @classmethod
    def _release(cls, value: str) -> str:
        match = RELEASE_RE.fullmatch(value.strip())
        if match is None:
            raise ValueError(
                f"{value!r} is not a CUCM version: major.minor.maintenance.build-patch, "
                "e.g. 12.5.1.16900-48"
            )
        release = (int(match["major"]), int(match["minor"]))
        if not (OLDEST_RELEASE <= release <= NEWEST_RELEASE):
            raise ValueError(f"the lab models CUCM 10.5 through 15, not {release[0]}.{release[1]}")
        return value.strip()

    @property
    def major_version(self) -> float:
        """``14.0`` for ``14.0.1.13900-155``."""
        parts = self.version.split(".")
        return float(f"{parts[0]}.{parts[1]}")

    @property
    def build(self) -> tuple[int, ...]:
        """``(14, 0, 1, 13900, 155)`` for ``14.0.1.13900-155``: compares with the builds of
        :mod:`lab.facts` (``CLI_MULTI_SAN_IMPORT_REFUSED_SINCE``...)."""
        return version_tuple(self.version)


def load(path: str | Path | None = None, version: str | None = None) -> TopologySpec:
    """Load a topology YAML file, or the default topology shipped with the lab.

    ``version``: run the cluster on this CUCM release instead of the file's (to rehearse a
    renewal on the release of a real cluster).
    """
    if path is None:
        text = resources.files("lab").joinpath("default_topology.yaml").read_text()
    else:
        text = Path(path).read_text()
    data = yaml.safe_load(text)
    if version is not None and isinstance(data, dict):
        data["version"] = version
    return TopologySpec.model_validate(data)
