"""The inventory (``clusters.yaml``): the clusters ucrenew manages and how to reach them.

Credentials are references (``env:NAME``, ``file:PATH``) resolved only inside activities,
never literal passwords. This module never imports temporalio.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import threading
from collections import OrderedDict
from datetime import date, datetime, time
from pathlib import Path
from typing import Literal, Self

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from activities import catalog
from activities.clients.itsm.models import ItsmConfig, ItsmOverride
from activities.clients.notify.config import (
    Channel,
    EmailChannel,
    NotificationsEntry,
    NotificationSettings,
    effective_settings,
)
from activities.clients.secrets import SecretRef, resolve_secret_ref
from activities.clients.validation import describe_validation_error, describe_yaml_error


class InventoryError(ValueError):
    """The inventory file is missing, malformed, or names an unknown cluster or node."""


def short_name(name: str) -> str:
    """``cucm-sub1`` for ``cucm-sub1.example.com``; an IP address stays whole."""
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return name.split(".", 1)[0]
    return name


class NodeEntry(BaseModel):
    """One server of a cluster."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    fqdn: str
    product: Literal["cucm", "imp"] = "cucm"
    role: Literal["publisher", "subscriber"] = "subscriber"
    address: str | None = Field(default=None, description="connect here instead of DNS")
    https_port: int = 8443
    rest_port: int = 443
    ssh_port: int = 22
    sip_tls_port: int = Field(default=5061, description="SIP TLS (CallManager) on CUCM nodes")
    xmpp_c2s_port: int = Field(default=5222, description="XMPP client-to-server on IM&P")
    xmpp_s2s_port: int = Field(default=5269, description="XMPP server-to-server on IM&P")

    @property
    def hostname(self) -> str:
        """The short host name; a node named by IP address keeps its address whole."""
        return short_name(self.fqdn)

    def answers_to(self, name: str) -> bool:
        """Whether ``name``, as CUCM or an operator spells this server, means this node.

        CUCM names a server by FQDN, host name or IP address (System > Server), in whatever
        case it was typed: all three are accepted, compared case-insensitively.
        """
        wanted = name.strip().rstrip(".").lower()
        spellings = {self.fqdn.lower(), self.hostname.lower()}
        if self.address:
            spellings.add(self.address.lower())
        return bool(wanted) and wanted in spellings

    def port_of(self, listener: str) -> int:
        """The port of a listener: ``https``, ``sip_tls``, ``xmpp_c2s`` or ``xmpp_s2s``."""
        port: int = getattr(self, f"{listener}_port")
        return port

    @property
    def connect_host(self) -> str:
        """Where sockets go: the address override, else the FQDN."""
        return self.address or self.fqdn


class Account(BaseModel):
    """A user name and a reference to its password."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    username: str
    password: SecretRef = Field(description="secret reference: env:NAME or file:PATH")


class Credentials(BaseModel):
    """The accounts ucrenew uses: the OS platform admin (CLI, certmgr REST) and an application
    user with AXL and serviceability roles (AXL, Control Center, RisPort)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    os_admin: Account
    app_user: Account


class TlsTrust(BaseModel):
    """How to trust the nodes' TLS certificates and SSH host keys.

    Relative paths are relative to the inventory file's directory. Besides ``ca_file``,
    ucrenew trusts the CA certificates of the chains it installed on the cluster (its trust
    store, ``activities.clients.trust_store``): this file needs the CAs of certificates
    installed by other means only, e.g. the nodes' self-signed ones before the first renewal.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    ca_file: str | None = Field(
        default=None, description="PEM bundle the nodes' TLS certificates chain to"
    )
    ssh_known_hosts: str | None = None

    def relative_to(self, base_dir: Path) -> TlsTrust:
        """The same trust with relative paths made relative to ``base_dir``."""

        def resolve(path: str | None) -> str | None:
            return str(base_dir / path) if path and not Path(path).is_absolute() else path

        return TlsTrust(
            ca_file=resolve(self.ca_file), ssh_known_hosts=resolve(self.ssh_known_hosts)
        )


class CaEntry(BaseModel):
    """A certificate authority ucrenew can submit CSRs to.

    Backend-specific settings (URL, template, account, hooks) stay as extra fields that the
    backend's builder validates; secrets among them are references, like passwords.
    """

    model_config = ConfigDict(extra="allow", frozen=True)

    name: str
    type: Literal["local", "adcs", "acme"]

    @property
    def settings(self) -> dict[str, object]:
        """The backend-specific fields."""
        return dict(self.model_extra or {})


class ApprovalPolicyEntry(BaseModel):
    """Who approves a gate (``plan`` or ``impact``); validated by the workflow's models.

    Fields left out take the workflow's defaults; unknown ones pass through to it.
    """

    model_config = ConfigDict(extra="allow", frozen=True)

    approver_groups: list[str] | None = None
    required: int | None = None
    forbid_self_approval: bool | None = None
    justification_required: bool | None = None
    expiry_seconds: float | None = None


class WindowEntry(BaseModel):
    """A maintenance window: fixed (``start``, ``end``) or weekly (``days``, ``start``,
    ``duration_seconds``, ``timezone``); validated by the workflow's models."""

    model_config = ConfigDict(extra="allow", frozen=True)

    start: str | None = None
    end: str | None = None
    days: list[str] | None = None
    duration_seconds: float | None = None
    timezone: str | None = None
    label: str | None = None

    @field_validator("start", "end", mode="before")
    @classmethod
    def _as_text(cls, v: object) -> object:
        # YAML reads an unquoted 22:00 as the number 1320 (base 60): refuse rather than guess.
        if isinstance(v, int | float) and not isinstance(v, bool):
            raise ValueError("quote times and dates, e.g. start: '22:00'")
        if isinstance(v, datetime | date | time):
            return v.isoformat()
        return v


class HealthPolicyEntry(BaseModel):
    """``change_policy.health``: what each pre-change health check does when it fails.

    ``stop`` stops the change in preflight, ``warn`` shows it and goes on, ``off`` skips the
    check. Fields left out take the defaults of ``activities.cluster_models.HealthPolicy``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    ntp: Literal["stop", "warn", "off"] | None = None
    backup: Literal["stop", "warn", "off"] | None = None
    backup_max_age_days: float | None = Field(default=None, gt=0)
    disk: Literal["stop", "warn", "off"] | None = None
    disk_warn_percent: int | None = Field(default=None, ge=1, le=100)
    disk_max_percent: int | None = Field(default=None, ge=1, le=100)
    core_files: Literal["stop", "warn", "off"] | None = None
    replication: Literal["stop", "warn", "off"] | None = None

    @model_validator(mode="after")
    def _thresholds(self) -> HealthPolicyEntry:
        warn, stop = self.disk_warn_percent, self.disk_max_percent
        if warn is not None and stop is not None and warn > stop:
            raise ValueError("health: disk_warn_percent must not exceed disk_max_percent")
        return self


class RestartsPolicyEntry(BaseModel):
    """``change_policy.restarts``: how a change without phone impact restarts Cisco Tomcat.

    ``sequential`` (the default) restarts one node at a time, publisher first. ``capped``
    restarts the CUCM publisher alone, then up to ``max_parallel`` nodes at once (at most one
    IM&P node per wave, the IM&P publisher first): shorter changes, with several nodes'
    web administration and Jabber sign-in unavailable at once (``ucrenew plan`` lists it).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    tomcat: Literal["sequential", "capped"] = "sequential"
    max_parallel: int = Field(
        default=2, ge=1, le=50, description="most nodes restarting at once in a capped wave"
    )

    @property
    def tomcat_parallel(self) -> int:
        """Nodes restarting Cisco Tomcat at once after the publisher (1: sequential)."""
        return self.max_parallel if self.tomcat == "capped" else 1


ActionName = Literal["start", "submit-cert", "decide", "confirm-sso", "cancel", "ca-check"]
"""Actions on a change that a cluster's ``change_policy.actions`` may restrict to groups."""


AutoRenewDrift = Literal[
    "node-not-in-san",
    "self-signed",
    "differs-between-nodes",
    "name-mismatch",
    "ca-expiring",
    "not-from-last-change",
]
"""Drift kinds of the fleet scan that may start a renewal on their own (``on_drift``); a
certificate past its threshold or expired always does."""

DEFAULT_AUTO_RENEW_DRIFT: tuple[AutoRenewDrift, ...] = (
    "node-not-in-san",
    "self-signed",
    "name-mismatch",
    "ca-expiring",
)


class AutoRenewEntry(BaseModel):
    """``change_policy.auto_renew``: when the fleet scan starts a renewal of the cluster on
    its own (docs/operator-guide.md, "Renewals the scan starts")."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = False
    purposes: list[str] = Field(
        default_factory=list, description="purposes watched; empty: every purpose it has"
    )
    threshold_days: int | None = Field(
        default=None,
        ge=0,
        description="renew with this many days left; None: a third of the lifetime left",
    )
    on_drift: list[AutoRenewDrift] = Field(
        default_factory=lambda: list(DEFAULT_AUTO_RENEW_DRIFT),
        description="drift kinds that start a renewal before the threshold",
    )
    ca: Literal["local", "manual", "adcs", "acme"] = "local"
    ca_name: str | None = None
    ca_template: str | None = None
    require_plan_approval: bool = True
    ca_warning_days: int = Field(
        default=60, ge=0, description="a CA of the chain expiring within this is drift"
    )

    @field_validator("purposes")
    @classmethod
    def _known_purposes(cls, v: list[str]) -> list[str]:
        unknown = [p for p in v if p not in catalog.PURPOSES]
        if unknown:
            raise ValueError(
                f"unknown purpose(s) {', '.join(unknown)} (known: {', '.join(catalog.PURPOSES)})"
            )
        return v


class ChangePolicyEntry(BaseModel):
    """A cluster's ``change_policy:`` block: approvals per gate, windows, health gates, and
    the pre-change health checks."""

    model_config = ConfigDict(extra="allow", frozen=True)

    approvals: dict[str, ApprovalPolicyEntry] = Field(default_factory=dict)
    windows: list[WindowEntry] = Field(default_factory=list)
    health_tolerance: float | None = Field(default=None, ge=0.0, le=1.0)
    health_timeout_seconds: float | None = Field(default=None, gt=0)
    health: HealthPolicyEntry | None = None
    restarts: RestartsPolicyEntry | None = None
    actions: dict[ActionName, list[str]] = Field(
        default_factory=dict,
        description="action -> groups that may take it through the service; empty or absent: "
        "any signed-in person (approve and reject follow the approver groups of the gate)",
    )
    auto_renew: AutoRenewEntry | None = Field(
        default=None, description="renewals the fleet scan starts on its own; None: never"
    )


class CertificatesEntry(BaseModel):
    """A cluster's ``certificates:`` block: how its certificates are renewed.

    Attributes:
        distribution: ``multi-server``: one SAN certificate for the nodes of a purpose (Cisco's
            procedure); ``per-node``: one single-server certificate per node, each signed and
            installed on its own node, in the same change.
        interface: ``auto``: what the cluster's release offers (docs/releases.md);
            ``rest``, ``os-admin`` or ``cli`` to insist on one (refused by the plan where the
            release does not offer it).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    distribution: Literal["multi-server", "per-node"] = "multi-server"
    interface: Literal["auto", "rest", "os-admin", "cli"] = "auto"


class ClusterEntry(BaseModel):
    """One cluster."""

    model_config = ConfigDict(extra="allow", frozen=True)

    name: str
    version: str | None = None
    tags: list[str] = Field(
        default_factory=list, description="labels campaigns select clusters by (tag=NAME)"
    )
    domain: str
    publisher: str
    nodes: list[NodeEntry]
    credentials: Credentials
    tls: TlsTrust = Field(default_factory=TlsTrust)
    change_policy: ChangePolicyEntry | None = None
    certificates: CertificatesEntry = Field(default_factory=CertificatesEntry)
    itsm: ItsmOverride | None = Field(
        default=None, description="this cluster's change system: replaces top-level itsm fields"
    )
    notifications: NotificationsEntry | None = Field(
        default=None, description="overrides of the top-level notifications: block"
    )

    def node(self, name: str) -> NodeEntry:
        """A node by FQDN, short host name or address (any case)."""
        node = self.find_node(name)
        if node is None:
            raise InventoryError(f"cluster {self.name} has no node {name!r}")
        return node

    def find_node(self, name: str) -> NodeEntry | None:
        """The node ``name`` means (see :meth:`NodeEntry.answers_to`), or None."""
        return next((n for n in self.nodes if n.answers_to(name)), None)

    def canonical(self, name: str) -> str:
        """The inventory FQDN of the server CUCM calls ``name``; an unknown name as given.

        Every node name that comes from CUCM (AXL process nodes, RisPort, CLI and REST
        banners) passes through here once, at the edge, so the rest of ucrenew compares
        inventory FQDNs only.
        """
        node = self.find_node(name)
        return node.fqdn if node is not None else name.strip()

    @property
    def publisher_node(self) -> NodeEntry:
        """The CUCM publisher."""
        return self.node(self.publisher)


class CampaignsEntry(BaseModel):
    """The top-level ``campaigns:`` block: who may run campaigns through the service."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    operators: list[str] = Field(
        default_factory=list,
        description="groups that may start, pause, resume and abort campaigns through the "
        "service; empty: any signed-in person",
    )


class Inventory(BaseModel):
    """All clusters."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    clusters: list[ClusterEntry]
    cas: list[CaEntry] = Field(default_factory=list)
    itsm: ItsmConfig | None = Field(
        default=None, description="the change system change records are checked in (itsm.md)"
    )
    notifications: NotificationsEntry | None = Field(
        default=None, description="who is told about renewals (defaults for every cluster)"
    )
    campaigns: CampaignsEntry = Field(
        default_factory=CampaignsEntry, description="who may run campaigns (campaigns.md)"
    )
    base_dir: str = Field(default=".", exclude=True)

    @model_validator(mode="after")
    def _tls_paths_from_base_dir(self) -> Self:
        # TLS files are named relative to the inventory, like file: secrets (not the cwd).
        base = Path(self.base_dir)
        clusters = [c.model_copy(update={"tls": c.tls.relative_to(base)}) for c in self.clusters]
        object.__setattr__(self, "clusters", clusters)  # frozen: set the derived value once
        for c in clusters:
            try:
                self.itsm_for(c.name)
            except ValidationError as exc:
                raise ValueError(
                    f"cluster {c.name}: its itsm block with the top-level one is invalid: "
                    f"{describe_validation_error(exc)}"
                ) from None
        return self

    def itsm_for(self, cluster: str) -> ItsmConfig | None:
        """The change system of ``cluster``: the top-level ``itsm:`` with the cluster's own
        fields over it; None when neither is set or the cluster says ``enabled: false``.

        Raises:
            InventoryError: ``cluster`` is unknown.
            pydantic.ValidationError: the combination is incomplete (checked at load).
        """
        override = self.cluster(cluster).itsm
        if override is None:
            return self.itsm
        if not override.enabled:
            return None
        fields = override.model_dump(exclude_unset=True, exclude={"enabled"})
        base = self.itsm.model_dump(exclude_unset=True) if self.itsm is not None else {}
        return ItsmConfig.model_validate({**base, **fields})

    def ca(self, kind: str, name: str | None = None) -> CaEntry:
        """A CA by name, or the first of its type when no name is given."""
        for entry in self.cas:
            if (name is None and entry.type == kind) or entry.name == name:
                if entry.type != kind:
                    raise InventoryError(f"CA {name!r} is of type {entry.type}, not {kind}")
                return entry
        known = ", ".join(f"{c.name} ({c.type})" for c in self.cas) or "none"
        wanted = f"named {name!r}" if name else f"of type {kind}"
        raise InventoryError(f"no CA {wanted} in the inventory (known: {known})")

    def cluster(self, name: str) -> ClusterEntry:
        """A cluster by name."""
        for c in self.clusters:
            if c.name == name:
                return c
        known = ", ".join(c.name for c in self.clusters) or "none"
        raise InventoryError(f"no cluster named {name!r} in the inventory (known: {known})")

    def password(self, account: Account) -> str:
        """Resolve an account's password reference (inside activities only)."""
        return resolve_secret_ref(account.password, base_dir=self.base_dir)

    def secret(self, ref: SecretRef) -> str:
        """Resolve any secret reference of the inventory (``file:`` relative to it)."""
        return resolve_secret_ref(ref, base_dir=self.base_dir)

    def notification_settings(self, cluster: str) -> NotificationSettings:
        """The cluster's notifications: its own block over the top-level one; an e-mail
        channel's ``ca_file`` relative to the inventory."""
        settings = effective_settings(self.notifications, self.cluster(cluster).notifications)
        base = Path(self.base_dir)
        channels: list[Channel] = []
        for c in settings.channels:
            if isinstance(c, EmailChannel) and c.ca_file and not Path(c.ca_file).is_absolute():
                c = c.model_copy(update={"ca_file": str(base / c.ca_file)})
            channels.append(c)
        return settings.model_copy(update={"channels": channels})


def load_inventory(path: str | Path) -> Inventory:
    """Read and validate an inventory file, every time (no cache).

    Activities and other frequent readers use :func:`load_inventory_cached` or
    :func:`load_inventory_async`, which parse a file once per version of it.

    Raises:
        InventoryError: The file is missing, not YAML, or does not validate. The message
            names the file, the fields and the reasons, never a value from the file (a
            password written where a reference belongs must not reach logs or history).
    """
    p = Path(path)
    try:
        text = p.read_text()
    except FileNotFoundError:
        raise _not_found(p) from None
    return _parse(p, text)


def _not_found(p: Path) -> InventoryError:
    return InventoryError(
        f"inventory {p} not found: start the lab (`ucrenew lab up`) or point "
        "UCRENEW_INVENTORY at your clusters.yaml"
    )


# libyaml's scanner and parser (same SafeConstructor, so the same data) are about ten times
# faster than the pure-Python ones; PyYAML built without libyaml has only the latter.
_LIBYAML: bool = bool(getattr(yaml, "__with_libyaml__", False))


def _parse(p: Path, text: str) -> Inventory:
    """Validate the text of inventory ``p`` (the messages of :func:`load_inventory`)."""
    try:
        data = yaml.load(text, Loader=yaml.CSafeLoader) if _LIBYAML else yaml.safe_load(text)
    except yaml.YAMLError:
        # libyaml words some problems differently: describe it as the pure loader does.
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise InventoryError(
                f"inventory {p} is not valid YAML: {describe_yaml_error(exc)}"
            ) from None
    if data is not None and not isinstance(data, dict):
        raise InventoryError(f"inventory {p} is invalid: expected a mapping with clusters:")
    try:
        return Inventory.model_validate({**(data or {}), "base_dir": str(p.parent)})
    except ValidationError as exc:
        root = yaml.compose(text)
        raise InventoryError(
            f"inventory {p} is invalid: "
            f"{describe_validation_error(exc, locate=lambda loc: _yaml_line(root, loc))}"
        ) from None


FileIdentity = tuple[int, int, int, int, int]
"""(device, inode, size, mtime_ns, ctime_ns) of one version of a file."""


def file_identity(path: str | Path) -> FileIdentity:
    """The identity of the file at ``path`` now: it changes when the file is edited or
    replaced (an editor's rename, a ``cp`` over it), so a cache keyed by it never serves an
    old version.

    Raises:
        OSError: ``path`` cannot be stat'ed (FileNotFoundError when it does not exist).
    """
    return _identity(os.stat(path))


def _identity(st: os.stat_result) -> FileIdentity:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


class _InventoryCache:
    """Parsed inventories by path, each valid for one :func:`file_identity` of its file.

    A failure is cached too (its message only), so a broken file is not re-parsed on every
    call either. Secret references stay references: the cache never holds a resolved secret.
    Thread-safe: parses run in worker threads, one at a time, and a caller that waited for
    another's parse of the same version reuses it.
    """

    MAX_FILES = 16

    def __init__(self) -> None:
        self._entries: OrderedDict[str, tuple[FileIdentity, Inventory | str]] = OrderedDict()
        self._lock = threading.Lock()
        self.parses = 0

    def lookup(self, path: str | Path) -> Inventory | None:
        """The inventory of the file's current version when it is cached, else None; raises
        the cached InventoryError of a broken version, or the not-found error."""
        key = os.fspath(path)
        try:
            ident = file_identity(key)
        except FileNotFoundError:
            raise _not_found(Path(key)) from None
        entry = self._entries.get(key)
        if entry is None or entry[0] != ident:
            return None
        if isinstance(entry[1], str):
            raise InventoryError(entry[1])
        return entry[1]

    def load(self, path: str | Path) -> Inventory:
        """The inventory of the file's current version, parsing it if not cached."""
        key = os.fspath(path)
        hit = self.lookup(key)
        if hit is not None:
            return hit
        with self._lock:
            hit = self.lookup(key)  # parsed by another thread meanwhile
            if hit is not None:
                return hit
            p = Path(key)
            try:
                with p.open("rb") as f:
                    st = os.fstat(f.fileno())
                    raw = f.read()
            except FileNotFoundError:
                raise _not_found(p) from None
            ident = _identity(st)
            self.parses += 1
            try:
                result: Inventory | str = _parse(p, raw.decode())
            except InventoryError as err:
                result = str(err)
            self._entries[key] = (ident, result)
            self._entries.move_to_end(key)
            while len(self._entries) > self.MAX_FILES:
                self._entries.popitem(last=False)
        if isinstance(result, str):
            raise InventoryError(result)
        return result

    def clear(self) -> None:
        """Forget every parsed inventory."""
        with self._lock:
            self._entries.clear()


_cache = _InventoryCache()


def load_inventory_cached(path: str | Path) -> Inventory:
    """:func:`load_inventory`, parsed once per version of the file.

    The file is stat'ed on every call, so an edited or replaced inventory is read at once;
    otherwise the same (frozen) :class:`Inventory` object is returned. Blocks while parsing:
    async code uses :func:`load_inventory_async`.

    Raises:
        InventoryError: as :func:`load_inventory`, with the same messages.
    """
    return _cache.load(path)


async def load_inventory_async(path: str | Path) -> Inventory:
    """:func:`load_inventory_cached` for async callers: a cached version is returned after
    one ``stat``; a parse (and its validation) runs in a thread, off the event loop.

    Raises:
        InventoryError: as :func:`load_inventory`, with the same messages.
    """
    hit = _cache.lookup(path)
    if hit is not None:
        return hit
    return await asyncio.to_thread(_cache.load, path)


def inventory_parse_count() -> int:
    """How many times the cache parsed a file (for benchmarks and tests)."""
    return _cache.parses


def clear_inventory_cache() -> None:
    """Forget every cached inventory (tests; the cache needs no clearing to see edits)."""
    _cache.clear()


def _yaml_line(root: yaml.Node | None, loc: tuple[int | str, ...]) -> int | None:
    """The 1-based line of the YAML node at pydantic location ``loc`` (or of its nearest
    existing parent, for a missing field)."""
    node = root
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        child: yaml.Node | None = None
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode) and key.value == str(part):
                    child = value
                    line = key.start_mark.line + 1
                    break
        elif (
            isinstance(node, yaml.SequenceNode)
            and isinstance(part, int)
            and 0 <= part < len(node.value)
        ):
            child = node.value[part]
            line = child.start_mark.line + 1
        if child is None:
            break
        node = child
    return line
