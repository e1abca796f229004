"""Payload models of the CUCM activities: what discovery saw, and each step's input and result.

Like activities.models, every model here crosses the Temporal boundary: fields are added only
with defaults, datetimes are UTC, and nothing here holds a secret (credentials stay in the
inventory as references, resolved inside activities).
"""

from __future__ import annotations

import ipaddress
from typing import Literal

from pydantic import BaseModel, Field, model_validator

from activities.catalog import TOMCAT, Purpose
from activities.cert_paths import LEGACY_PATH, CertificatePath, Interface
from activities.clients.inventory import CertificatesEntry, ClusterEntry, short_name
from activities.clients.itsm.models import ItsmConfig
from activities.clients.notify.models import NotificationPolicy
from activities.models import CertificateInfo, CsrInfo, UtcDatetime

__all__ = ["CertificatePath", "Purpose"]

# --------------------------------------------------------------------------------------------
# Discovery
# --------------------------------------------------------------------------------------------


class ServiceState(BaseModel):
    """A service as Control Center reports it."""

    name: str
    status: str = Field(description="Started | Stopped | Starting | Stopping | Unknown")
    activated: bool = True
    uptime: int = -1


class NtpState(BaseModel):
    """``utils ntp status`` of one node."""

    synchronised: bool
    stratum: int | None = None
    server: str | None = Field(default=None, description="the server the node follows")


class DiskPartition(BaseModel):
    """One partition of ``show status``; ``logging`` is the common partition (/common)."""

    name: str
    total_kb: int
    used_kb: int
    free_kb: int
    used_percent: int


class CoreFile(BaseModel):
    """A core file of ``utils core active list``."""

    name: str
    created: UtcDatetime | None = None
    size_kb: int | None = None


class NodeHealth(BaseModel):
    """What the commands administrators run before a change showed on one node (CLI).

    Each reading is either there or replaced by an ``*_error`` saying why it could not be read.
    """

    ntp: NtpState | None = None
    ntp_error: str | None = None
    partitions: list[DiskPartition] = Field(default_factory=list)
    disk_error: str | None = None
    core_files: list[CoreFile] = Field(default_factory=list)
    cores_error: str | None = None
    product_version: str | None = None
    uptime: str | None = Field(default=None, description="as show status prints it")

    def partition(self, name: str) -> DiskPartition | None:
        """A partition by name (``active``, ``inactive``, ``logging``), None when not shown."""
        return next((p for p in self.partitions if p.name == name), None)


class BackupRun(BaseModel):
    """One DRS backup of ``utils disaster_recovery history backup``."""

    completed: UtcDatetime
    result: str = Field(description="SUCCESS, or what a failed backup shows (ERROR)")
    tar: str = ""

    @property
    def succeeded(self) -> bool:
        """Whether the backup completed successfully."""
        return self.result.upper() == "SUCCESS"


class BackupHealth(BaseModel):
    """The cluster's DRS backups as the CUCM publisher's Master Agent remembers them."""

    latest: BackupRun | None = Field(default=None, description="the most recent backup")
    last_success: UtcDatetime | None = None
    runs: int = 0


def hostname_matches(fqdn: str, reported: str) -> bool:
    """Whether the host name a node reports about itself is the inventory node ``fqdn``.

    A node reports its short host name (``show status``) or its FQDN, in whatever case; a
    trailing dot is ignored. A short name is compared with the FQDN's first label, an FQDN
    with the whole FQDN. An inventory node named by IP address matches no host name.
    """
    wanted = fqdn.strip().rstrip(".").lower()
    got = reported.strip().rstrip(".").lower()
    if not wanted or not got:
        return False
    if "." in got and short_name(got) != got:
        return got == wanted
    return got == short_name(wanted)


class NodeIdentity(BaseModel):
    """Who answered at an inventory node's address: what the node says about itself.

    Attributes:
        node: The inventory FQDN the connection was meant for.
        address: Where the connection went (the inventory's address, else the FQDN).
        hostname: The host name the node reported (``show status``); empty when unread.
        ssh_host_key: The SSH host key it presented (``SHA256:…``); empty when unread.
    """

    node: str
    address: str = ""
    hostname: str = ""
    ssh_host_key: str = ""

    @property
    def confirmed(self) -> bool:
        """Whether the node reported a host name that is the inventory node's."""
        return bool(self.hostname) and hostname_matches(self.node, self.hostname)


def named_by_address(fqdn: str) -> bool:
    """Whether the inventory names the node by IP address: no host name can be compared."""
    try:
        ipaddress.ip_address(fqdn.strip())
    except ValueError:
        return False
    return True


def answered_as_other(fqdn: str, reported: str) -> bool:
    """Whether a host name a node reported says it is not the inventory node ``fqdn``.

    An empty name (not read) says nothing; nor does any name for a node the inventory names
    by IP address (its host key still identifies it).
    """
    if not reported.strip() or named_by_address(fqdn):
        return False
    return not hostname_matches(fqdn, reported)


def identity_mismatch(node: str, address: str, answered_by: str) -> str:
    """The one wording of "the node that answered is another": names all three."""
    return (
        f"inventory node {node} (address {address}) answered as {answered_by}: the address "
        f"reaches another node (a typo in the inventory or a stale DNS record); fix the "
        f"address of {node} in the inventory"
    )


class NodeSnapshot(BaseModel):
    """What discovery saw on one node."""

    fqdn: str
    product: Literal["cucm", "imp"] = "cucm"
    role: Literal["publisher", "subscriber"] = "subscriber"
    https_ok: bool = False
    https_error: str | None = None
    ssh_ok: bool = False
    ssh_error: str | None = None
    services: list[ServiceState] = Field(default_factory=list)
    services_error: str | None = None
    certificates: dict[str, CertificateInfo] = Field(
        default_factory=dict, description="served identity per purpose (tomcat: port 8443)"
    )
    certificate_verified: bool = False
    certificate_error: str | None = None
    installed: dict[str, CertificateInfo] = Field(
        default_factory=dict,
        description="installed identity per purpose (certmgr REST): served once its service "
        "restarts",
    )
    certificate_errors: dict[str, str] = Field(
        default_factory=dict, description="purpose -> why its certificate could not be read"
    )

    def current(self, purpose: str) -> CertificateInfo | None:
        """The certificate of ``purpose`` the node serves, else the one installed (None when
        neither could be read)."""
        return self.certificates.get(purpose) or self.installed.get(purpose)

    health: NodeHealth | None = Field(
        default=None, description="pre-change health over the CLI; None: not read (older)"
    )
    identity: NodeIdentity | None = Field(
        default=None,
        description="who answered at the node's address over SSH; None: not read (older)",
    )
    identity_error: str | None = Field(
        default=None, description="another node answered at the address (refused in preflight)"
    )

    @property
    def hostname(self) -> str:
        """Short host name (an address stays whole)."""
        return short_name(self.fqdn)

    def service(self, name: str) -> ServiceState | None:
        """A service by name, None when not reported."""
        return next((s for s in self.services if s.name == name), None)


class ClusterIdentity(BaseModel):
    """Who a cluster is, as the cluster itself reports it (not as the inventory names it):
    its CUCM publisher's processnode row in AXL listProcessNode.

    Two inventory entries that reach the same cluster (another name, other addresses) read the
    same identity; the one-change-per-cluster lock is keyed on it.
    """

    publisher: str = Field(description="the publisher's processnode name, as configured")
    publisher_uuid: str = Field(
        default="", description="the publisher's processnode pkid, lower case, no braces"
    )


class ClusterSnapshot(BaseModel):
    """Everything discovery learnt about a cluster, at one moment."""

    cluster: str
    taken_at: UtcDatetime
    version: str | None = None
    domain: str = ""
    publisher: str = ""
    nodes: list[NodeSnapshot] = Field(default_factory=list)
    axl_nodes: list[str] = Field(default_factory=list, description="process nodes known to AXL")
    axl_error: str | None = None
    identity: ClusterIdentity | None = Field(
        default=None,
        description="the cluster's identity from AXL; None when AXL could not be read, or "
        "in snapshots taken before it was read",
    )
    sso_enabled: bool | None = None
    sso_error: str | None = None
    security_mode: int | None = None
    db_replication: dict[str, int] = Field(
        default_factory=dict, description="inventory FQDN -> RTMT replication state"
    )
    db_replication_error: str | None = None
    cm_groups: list[CmGroupInfo] = Field(default_factory=list)
    cm_groups_error: str | None = None
    registrations: RegistrationSnapshot | None = None
    registrations_error: str | None = None
    backup: BackupHealth | None = Field(
        default=None, description="DRS backups (CUCM publisher); None: not read (older)"
    )
    backup_error: str | None = None
    certificates: CertificatesEntry = Field(
        default_factory=CertificatesEntry,
        description="the inventory's certificates: block (distribution, interface)",
    )

    def replication_state(self, node: NodeSnapshot) -> int | None:
        """The node's DB replication state; snapshots taken before node names were mapped to
        inventory FQDNs keyed it by short host name."""
        state = self.db_replication.get(node.fqdn)
        return state if state is not None else self.db_replication.get(node.hostname)

    def node(self, fqdn: str) -> NodeSnapshot:
        """A node by FQDN or short name."""
        for n in self.nodes:
            if fqdn in (n.fqdn, n.hostname):
                return n
        raise KeyError(fqdn)


# --------------------------------------------------------------------------------------------
# Steps
# --------------------------------------------------------------------------------------------


class ClusterRef(BaseModel):
    """Names a cluster of the inventory (the activity resolves everything else)."""

    cluster: str
    extra_roots_pem: list[str] = Field(
        default_factory=list, description="CA roots to trust beyond the inventory's (public)"
    )


class DiscoverRequest(ClusterRef):
    """Discover a cluster, reading the certificates of the change's purposes."""

    purposes: list[Purpose] = Field(
        default_factory=list,
        description="purposes whose certificates discovery reads on every node of their SAN "
        "(served and installed); tomcat's served one is always read",
    )


class NodeRef(ClusterRef):
    """Names one node of a cluster."""

    node: str


class SsoResult(BaseModel):
    """SSO state before and after a step."""

    was_enabled: bool
    enabled: bool
    changed: bool = False
    detail: str = ""
    attempt: int = Field(
        default=1, description="the activity attempt that answered (>1: a retry's read-back)"
    )


class CsrRequest(ClusterRef):
    """Generate a CSR: multi-server (SAN) on the purpose's publisher, or one node's own."""

    purpose: Purpose = "tomcat"
    key_length: int = Field(
        default=2048,
        description="RSA bits; for an EC key 256 or 384 (any other value asks for 256)",
    )
    key_type: Literal["rsa", "ec"] | None = Field(
        default=None, description="None: the purpose's (ec for the ECDSA purposes)"
    )
    hash_algorithm: str = "sha256"
    other_domains: list[str] = Field(default_factory=list)
    path: CertificatePath = Field(
        default=LEGACY_PATH, description="the interfaces of the change's certificate steps"
    )
    node: str | None = Field(
        default=None, description="per-node path: the node (FQDN); None: the purpose's publisher"
    )
    expected_nodes: list[str] = Field(
        default_factory=list,
        description="nodes (FQDN) the CSR must reach; a miss is retried as a transient fault "
        "(empty: the renewal checks the result itself)",
    )


class CsrResult(BaseModel):
    """A CSR pending on the cluster."""

    csr_pem: str
    info: CsrInfo
    exported_nodes: list[str]
    message: str = ""


class TrustUploadRequest(ClusterRef):
    """Upload CA certificates (root first) into ``<purpose>-trust``."""

    purpose: Purpose = "tomcat"
    ca_pems: list[str] = Field(description="root first, then intermediates")
    path: CertificatePath = Field(
        default=LEGACY_PATH, description="the interfaces of the change's certificate steps"
    )


class TrustUploadResult(BaseModel):
    """What the trust upload did."""

    uploaded: list[str] = Field(default_factory=list, description="subjects uploaded")
    skipped: list[str] = Field(default_factory=list, description="subjects already present")
    attempt: int = Field(
        default=1, description="the activity attempt that answered (>1: a retry's read-back)"
    )


class TrustPresence(BaseModel):
    """Which CA certificates of a chain a trust store lacks (read only, before an upload)."""

    missing: list[str] = Field(default_factory=list, description="subjects not in the store")
    present: list[str] = Field(default_factory=list, description="subjects already there")


class CertUploadRequest(ClusterRef):
    """Upload the signed certificate for the pending CSR."""

    purpose: Purpose = "tomcat"
    certificate_pem: str
    chain_pems: list[str] = Field(default_factory=list, description="intermediates then root")
    expected_nodes: list[str]
    path: CertificatePath = Field(
        default=LEGACY_PATH, description="the interfaces of the change's certificate steps"
    )
    node: str | None = Field(
        default=None, description="per-node path: the node (FQDN); None: the purpose's publisher"
    )


class CertUploadResult(BaseModel):
    """Where the certificate is installed, and where its chain is trusted from now on."""

    installed_nodes: list[str]
    already_installed: bool = False
    message: str = ""
    trust_file: str = Field(default="", description="the cluster's trust store, when recorded")
    trust_added: list[str] = Field(
        default_factory=list, description="subjects of the CA certificates newly trusted there"
    )
    attempt: int = Field(
        default=1, description="the activity attempt that answered (>1: a retry's read-back)"
    )


class InstalledChain(BaseModel):
    """The chain a change installed for one purpose, and the nodes verified to serve it."""

    purpose: Purpose
    ca_pems: list[str] = Field(default_factory=list, description="the chain's CA certificates")
    verified_nodes: list[str] = Field(default_factory=list)


class TrustSettleRequest(ClusterRef):
    """After verification: trust the installed chains, retire the CAs they replaced."""

    chains: list[InstalledChain] = Field(default_factory=list)


class TrustSettleResult(BaseModel):
    """What settling the cluster's trust store changed (subjects)."""

    trust_file: str = ""
    added: list[str] = Field(default_factory=list)
    retired: list[str] = Field(default_factory=list)
    kept: list[str] = Field(default_factory=list)
    detail: str = ""


class RestartRequest(NodeRef):
    """Restart a service on a node and wait until it serves again."""

    service: str = TOMCAT
    not_before: UtcDatetime = Field(
        description="a start after this instant counts as the restart already done"
    )
    timeout_seconds: float = 600.0
    poll_seconds: float = 5.0
    expected_host_key: str = Field(
        default="", description="the node's SSH host key pinned at discovery; empty: none"
    )


class RegenerateRequest(NodeRef):
    """Regenerate a purpose's certificate self-signed on one node (``set cert regen``)."""

    purpose: Purpose = "tomcat"


class RegenerateResult(BaseModel):
    """A regenerated self-signed certificate, installed (served after the restarts)."""

    node: str
    purpose: Purpose
    detail: str = ""


class RestartResult(BaseModel):
    """A completed restart."""

    node: str
    service: str
    already_done: bool = False
    seconds: float = 0.0
    answered_by: str = Field(
        default="", description="the host name the node reported before the restart"
    )
    attempt: int = Field(
        default=1, description="the activity attempt that answered (>1: a retry's read-back)"
    )


class VerifyRequest(NodeRef):
    """Check what the node serves on a port."""

    port: int = Field(default=0, description="0: the purpose's port from the inventory")
    purpose: Purpose = "tomcat"
    expected_fingerprint: str
    expected_host_key: str = Field(
        default="", description="the node's SSH host key pinned at discovery; empty: none"
    )


class VerifyResult(BaseModel):
    """What the node serves."""

    node: str
    port: int
    served_fingerprint: str
    served_serial: str
    fqdn_in_san: bool
    chain_valid: bool
    ok: bool
    detail: str = ""
    login_page: str = Field(
        default="", description="tomcat: the administration login page the node answered with"
    )
    answered_by: str = Field(
        default="", description="the host name the node reported when it was verified"
    )


class NodeCertState(BaseModel):
    """Where one node stands: installed and served certificates."""

    node: str
    served_serial: str | None = None
    served_fingerprint: str | None = None
    error: str | None = None
    served_by_purpose: dict[str, str] = Field(
        default_factory=dict, description="purpose -> serial served on its listener"
    )
    errors_by_purpose: dict[str, str] = Field(default_factory=dict)


class AssessRequest(ClusterRef):
    """Assess the cluster, reading what each node serves for the change's purposes."""

    purposes: list[Purpose] = Field(default_factory=list)


class ClusterAssessment(BaseModel):
    """Where the cluster stands, for the final report of any exit path."""

    nodes: list[NodeCertState] = Field(default_factory=list)
    sso_enabled: bool | None = None
    sso_error: str | None = None


class LeftoverRequest(ClusterRef):
    """Look for self-signed certificates a multi-server upload left behind (CSCur97909)."""

    purposes: list[Purpose]
    readback: Interface = Field(
        default="rest", description="where the nodes' certificates are read (by release)"
    )


class LeftoverCertificate(BaseModel):
    """A node's former self-signed identity, still in a trust store though no node uses it."""

    purpose: Purpose
    store: str = Field(description="trust store, e.g. tomcat-trust")
    file_name: str
    subject_cn: str
    owner: str = Field(description="inventory FQDN of the node the certificate was issued to")
    serial: str
    not_after: UtcDatetime | None = None
    nodes: list[str] = Field(default_factory=list, description="FQDNs whose store holds it")
    fingerprint: str = Field(default="", description="SHA-256 fingerprint (hex) when read")


class LeftoverResult(BaseModel):
    """What the trust stores still hold, and the nodes that could not be read."""

    leftovers: list[LeftoverCertificate] = Field(default_factory=list)
    errors: dict[str, str] = Field(default_factory=dict, description="node FQDN -> error")


class ValidateRequest(BaseModel):
    """Validate a signed certificate against the CSR before any upload."""

    certificate_pem: str
    chain_pem: str | None = None
    csr_pem: str
    expected_dns: list[str]
    now: UtcDatetime
    min_remaining_days: int = 30


class OtherRenewalsRequest(BaseModel):
    """Look for renewals of the cluster other than this one."""

    cluster: str
    exclude_change_id: str


class LeftoverChange(BaseModel):
    """A finished change of the cluster that left work to an operator (its
    ``RenewalOutstanding`` search attribute)."""

    change_id: str
    status: str = Field(description="how it ended: failed, cancelled, terminated, ...")
    outstanding: list[str] = Field(
        default_factory=list, description="what is left, e.g. sso-disabled, tomcat@cucm-sub1"
    )


class LockHolderRequest(BaseModel):
    """Who holds a cluster's lock (the lock workflow's id)."""

    lock_id: str


class LockReleaseRequest(BaseModel):
    """End a cluster's lock held by ``holder`` (the renewal's change id)."""

    lock_id: str
    holder: str


class LockHolder(BaseModel):
    """The change that holds a cluster's lock, as Temporal describes it.

    ``change_id`` is empty when the lock is no longer held (its holder ended meanwhile).
    """

    change_id: str = ""
    cluster: str = Field(default="", description="the holder's inventory cluster name")
    phase: str = Field(default="", description="the holder's phase (RenewalPhase)")


class OtherRenewalsResult(BaseModel):
    """Running renewals of the same cluster, and finished ones that left work behind."""

    change_ids: list[str] = Field(default_factory=list)
    leftovers: list[LeftoverChange] = Field(
        default_factory=list,
        description="changes that ended since the cluster's last completed one and left "
        "something outstanding (older workers do not fill it)",
    )


class PendingCsrRequest(ClusterRef):
    """Is the CSR that was signed still the one pending on the publisher?"""

    purpose: Purpose = "tomcat"
    csr_pem: str
    path: CertificatePath = Field(
        default=LEGACY_PATH, description="the interfaces of the change's certificate steps"
    )
    node: str | None = Field(
        default=None, description="per-node path: the node (FQDN); None: the purpose's publisher"
    )


class PendingCsrResult(BaseModel):
    """The answer, with what is pending instead."""

    matches: bool
    pending_key_fingerprint: str | None = None
    detail: str = ""


# --------------------------------------------------------------------------------------------
# Phone-impacting changes (CallManager, IM&P)
# --------------------------------------------------------------------------------------------


class CmGroupInfo(BaseModel):
    """A Unified CM group: its members in priority order and the phones it serves."""

    name: str
    members: list[str] = Field(description="node FQDNs, primary first")
    phones: int = 0
    phones_source: str = Field(
        default="",
        description="axl-sql: configured phones per device pool; risport: registered phones "
        "attributed to the group whose highest-ranked member holds them",
    )


class RegistrationSnapshot(BaseModel):
    """Phone registrations across the cluster at one moment (RisPort70)."""

    taken_at: UtcDatetime
    total: int
    registered: int
    per_node: dict[str, int] = Field(
        default_factory=dict, description="inventory FQDN -> registered phones"
    )
    unregistered_sample: list[str] = Field(default_factory=list, description="at most 50 names")


class RegistrationGateRequest(ClusterRef):
    """Wait until phones are back after a restart wave."""

    baseline_registered: int
    tolerance: float = Field(default=0.02, description="fraction of the baseline allowed missing")
    timeout_seconds: float = 900.0
    poll_seconds: float = 15.0
    drain_nodes: list[str] = Field(
        default_factory=list,
        description="FQDNs of the nodes the next wave restarts: wait until they hold no more "
        "phones than at home (phones failed over to them have fallen back)",
    )
    home_per_node: dict[str, int] = Field(
        default_factory=dict, description="inventory FQDN -> registered phones before any wave"
    )


class RegistrationGateResult(BaseModel):
    """How the gate ended (not raised: the workflow asks an operator when it fails)."""

    ok: bool
    registered: int
    expected: int
    waited_seconds: float = 0.0
    unregistered_sample: list[str] = Field(default_factory=list)
    lingering: dict[str, int] = Field(
        default_factory=dict,
        description="drain node -> phones above its home count still registered there",
    )


class RegisteredPhonesRequest(ClusterRef):
    """Which registered phones to list (RisPort70 on the CUCM publisher)."""

    nodes: list[str] = Field(default_factory=list, description="node FQDNs; empty: every node")
    protocol: Literal["Any", "SCCP", "SIP"] = "Any"


class RegisteredPhones(BaseModel):
    """Phones registered right now, by the FQDN of the node holding the registration."""

    taken_at: UtcDatetime
    by_node: dict[str, list[str]] = Field(
        default_factory=dict, description="node FQDN -> sorted device names"
    )


class PhoneResetRequest(ClusterRef):
    """Reset phones through AXL doDeviceReset: each reboots and fetches its config, ITL and CTL."""

    names: list[str] = Field(min_length=1)
    concurrency: int = Field(default=8, ge=1, le=32)


class PhoneResetResult(BaseModel):
    """What a reset batch did."""

    requested: int
    reset: int
    not_found: list[str] = Field(default_factory=list)


class PhoneBatchRequest(ClusterRef):
    """Select the next batch of registered phones by cursor (RisPort70) and reset it (AXL).

    The names stay on the worker: the workflow's history holds the cursor, not the phones, so
    a change on a cluster of tens of thousands of phones keeps a small history.
    """

    after: str = Field(default="", description="cursor: only device names sorting after it")
    size: int = Field(ge=1, description="phones in the batch at most")
    candidates: list[str] = Field(
        default_factory=list,
        description="only these device names (the late sweep); empty: every registered phone",
    )
    concurrency: int = Field(default=8, ge=1, le=32)


class PhoneBatchResult(BaseModel):
    """What a cursor-selected reset batch did, in counts (and the new cursor)."""

    requested: int = Field(description="phones selected (registered, after the cursor)")
    reset: int
    not_found: list[str] = Field(default_factory=list, description="at most 5 names")
    last: str = Field(default="", description="the batch's last name: the next cursor")
    more: bool = Field(default=False, description="registered phones remain after ``last``")
    skipped: list[str] = Field(
        default_factory=list,
        description="phones of the batch's name range RisPort lists as not registered: the "
        "late sweep looks for them again",
    )
    registered: int = Field(
        default=0, description="phones registered when the batch was selected (its baseline)"
    )
    per_node: dict[str, int] = Field(
        default_factory=dict, description="node FQDN -> registered phones at selection"
    )
    sample: list[str] = Field(default_factory=list, description="the batch's first names (3)")


class CtlResult(BaseModel):
    """``utils ctl update CTLFile`` on the publisher."""

    updated: bool
    detail: str = ""
    already_done: bool = Field(
        default=False,
        description="show ctl already listed the installed CallManager certificate: not run",
    )
    attempt: int = Field(
        default=1, description="the activity attempt that answered (>1: a retry's read-back)"
    )


HealthLevel = Literal["stop", "warn", "off"]


class HealthPolicy(BaseModel):
    """What the pre-change health checks do when one fails: ``stop`` the change (an error of
    preflight), ``warn`` (shown, the change goes on) or ``off`` (not checked). A reading that
    could not be taken is a warning unless its check is off (DB replication: its level)."""

    ntp: HealthLevel = "stop"
    backup: HealthLevel = "stop"
    backup_max_age_days: float = Field(default=7.0, gt=0)
    disk: HealthLevel = "stop"
    disk_warn_percent: int = Field(default=90, ge=1, le=100)
    disk_max_percent: int = Field(default=95, ge=1, le=100)
    core_files: HealthLevel = "warn"
    replication: HealthLevel = "stop"

    @model_validator(mode="after")
    def _warn_below_max(self) -> HealthPolicy:
        # A maximum set below the default warning threshold leaves no warning band.
        self.disk_warn_percent = min(self.disk_warn_percent, self.disk_max_percent)
        return self


class ItsmPolicy(BaseModel):
    """What the workflow needs of a cluster's ``itsm:`` block (no URL, no secret reference).

    Attributes:
        kind: ``servicenow`` or ``webhook``.
        block: A failed change-record check stops the change (else it warns).
        write_back_attempts: Attempts of the outcome write-back before it is given up.
        write_back_initial_seconds: First retry interval (doubling).
        write_back_maximum_seconds: Longest retry interval.
    """

    kind: str
    block: bool = True
    write_back_attempts: int = 8
    write_back_initial_seconds: float = 5.0
    write_back_maximum_seconds: float = 300.0

    @classmethod
    def of(cls, config: ItsmConfig | None) -> ItsmPolicy | None:
        """The policy of a resolved ``itsm:`` configuration; None without one."""
        if config is None:
            return None
        return cls(
            kind=config.kind,
            block=config.block,
            write_back_attempts=config.write_back.attempts,
            write_back_initial_seconds=config.write_back.initial_interval_seconds,
            write_back_maximum_seconds=config.write_back.maximum_interval_seconds,
        )


class ChangePolicy(BaseModel):
    """A cluster's change policy from the inventory, as plain data (the workflow validates it
    into its approval and window models)."""

    approvals: dict[str, dict[str, object]] = Field(
        default_factory=dict, description="gate (plan | impact) -> approval policy fields"
    )
    windows: list[dict[str, object]] = Field(default_factory=list)
    health_tolerance: float = 0.02
    health_timeout_seconds: float = 900.0
    health: HealthPolicy = Field(default_factory=HealthPolicy)
    itsm: ItsmPolicy | None = Field(
        default=None, description="the cluster's change system; None: no change-record check"
    )
    notifications: NotificationPolicy = Field(
        default_factory=NotificationPolicy,
        description="the events the cluster's channels get and the CA wait threshold",
    )
    tomcat_parallel: int = Field(
        default=1,
        ge=1,
        description="change_policy.restarts: Cisco Tomcat restarts at once after the "
        "publisher in a change without phone impact (1: one node at a time)",
    )

    @classmethod
    def of(cls, cluster: ClusterEntry) -> ChangePolicy:
        """The cluster's ``change_policy:`` block, defaults where absent."""
        entry = cluster.change_policy
        if entry is None:
            return cls()
        policy = cls(
            approvals={
                gate: {**a.model_dump(exclude_none=True), "gate": gate}
                for gate, a in entry.approvals.items()
            },
            windows=[w.model_dump(exclude_none=True) for w in entry.windows],
        )
        if entry.health_tolerance is not None:
            policy.health_tolerance = entry.health_tolerance
        if entry.health_timeout_seconds is not None:
            policy.health_timeout_seconds = entry.health_timeout_seconds
        if entry.health is not None:
            policy.health = HealthPolicy.model_validate(entry.health.model_dump(exclude_none=True))
        if entry.restarts is not None:
            policy.tomcat_parallel = entry.restarts.tomcat_parallel
        return policy


ClusterSnapshot.model_rebuild()
