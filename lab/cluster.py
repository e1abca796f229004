"""State and behaviour of a twin cluster: nodes, services, certificate stores, SSO.

The frontends (REST, SOAP, SSH) translate protocol requests into calls on :class:`Cluster`
and its errors into protocol errors; all rules of cucm-interfaces.md §1.2 and §14.2 live here,
so every interface sees one consistent cluster.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from cryptography import x509

from lab import facts, pki
from lab.catalog import (
    NOT_ACTIVATED_BY_DEFAULT,
    PAWS,
    PURPOSES_BY_PRODUCT,
    SAN_PRODUCTS,
    TOMCAT,
    TRUST_STORE,
    TRUST_STORES,
    activating_services,
    services_for,
)
from lab.faults import FaultSet
from lab.journal import Journal
from lab.timing import TimingProfile
from lab.topology import TopologySpec

Status = Literal["Started", "Stopped", "Starting", "Stopping"]
Action = Literal["start", "stop", "restart"]


class LabError(Exception):
    """A request the cluster refuses, with the HTTP status a REST frontend would answer."""

    def __init__(self, status: int, message: str, code: str = "error") -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code


@dataclass
class ServiceState:
    """One service of one node."""

    name: str
    group: str
    deployable: bool
    service_type: str
    activated: bool = True
    status: Status = "Started"
    commanded_out: bool = False
    failed: bool = False
    start_time: float | None = None
    task: asyncio.Task[None] | None = None

    def uptime(self, now: float) -> int:
        """Seconds since start, -1 when not started (as Control Center reports)."""
        if self.status != "Started" or self.start_time is None:
            return -1
        return int(now - self.start_time)

    def cli_form(self) -> str:
        """``[STARTED]``, ``[STOPPED]  Service Not Activated`` … as ``utils service list`` shows."""
        if not self.activated:
            return "[STOPPED]  Service Not Activated"
        if self.failed:
            return "[NOTRUNNING]"
        if self.status == "Stopped" and self.commanded_out:
            return "[STOPPED]  Commanded Out of Service"
        return f"[{self.status.upper()}]"

    @property
    def transitioning(self) -> bool:
        """Whether a start/stop/restart is in progress."""
        return self.task is not None and not self.task.done()


@dataclass
class Node:
    """One server of the cluster."""

    index: int
    hostname: str
    fqdn: str
    address: str
    product: str
    publisher: bool
    services: dict[str, ServiceState] = field(default_factory=dict)
    own: dict[str, pki.KeyedCert] = field(default_factory=dict)
    active: dict[str, pki.KeyedCert] = field(default_factory=dict)
    trust: dict[str, dict[str, pki.TrustEntry]] = field(default_factory=dict)
    pending: dict[str, pki.PendingCsr] = field(default_factory=dict)

    @property
    def role(self) -> str:
        """``Publisher`` or ``Subscriber`` (as AXL nodeUsage and ``show network cluster``)."""
        return "Publisher" if self.publisher else "Subscriber"

    def service(self, name: str) -> ServiceState:
        """A service by exact name; LabError when the node has no such service."""
        try:
            return self.services[name]
        except KeyError:
            raise LabError(404, f"No such service: {name}", "no-such-service") from None

    def started(self, name: str) -> bool:
        """Whether the service exists, is activated and Started."""
        svc = self.services.get(name)
        return bool(svc and svc.activated and svc.status == "Started" and not svc.failed)


StateHook = Callable[["Node", ServiceState, str, str], Awaitable[None]]


class Cluster:
    """A running twin cluster."""

    def __init__(
        self,
        spec: TopologySpec,
        timing: TimingProfile,
        journal: Journal | None = None,
        faults: FaultSet | None = None,
    ) -> None:
        self.spec = spec
        self.timing = timing
        self.journal = journal or Journal()
        self.faults = faults or FaultSet(seed=spec.seed)
        self.sso_enabled = spec.sso_enabled
        self.sso_broken = False
        self.security_mode = spec.security_mode
        self.ctl: dict[str, Any] | None = None
        self.nodes: list[Node] = []
        self.hooks: list[StateHook] = []
        self._changed = asyncio.Event()
        self._replication_backlog: list[tuple[str, str, x509.Certificate, str]] = []
        self._build()

    # -- construction -------------------------------------------------------------------

    def _build(self) -> None:
        spec = self.spec
        now = self.now()
        for i, ns in enumerate(spec.nodes):
            # A cluster's services have been up for days, not since the lab process started:
            # uptimes (and so start times) look like a real node's.
            booted = time.time() - facts.INITIAL_UPTIME_SECONDS - 3600 * i
            node = Node(
                index=i,
                hostname=ns.hostname,
                fqdn=spec.fqdn(ns.hostname),
                address=spec.address_of(i),
                product=ns.product,
                publisher=ns.publisher,
            )
            for sd in services_for(ns.product, ns.publisher, spec.major_version):
                activated = (
                    sd.name not in NOT_ACTIVATED_BY_DEFAULT and sd.name not in ns.deactivated
                )
                node.services[sd.name] = ServiceState(
                    name=sd.name,
                    group=sd.group,
                    deployable=sd.deployable,
                    service_type=sd.service_type,
                    activated=activated,
                    status="Started" if activated else "Stopped",
                    start_time=booted if activated else None,
                )
            node.trust = {store: {} for store in TRUST_STORES}
            for purpose in PURPOSES_BY_PRODUCT[ns.product]:
                key = pki.new_key("rsa", 2048)
                cert = pki.self_signed(key, node.fqdn, [node.fqdn], now, spec.cert_validity_days)
                kc = pki.KeyedCert(cert, key, "Self-signed certificate generated by system")
                node.own[purpose] = kc
                node.active[purpose] = kc
            self.nodes.append(node)
        # Each node's self-signed identities are trusted cluster-wide, as after install.
        for node in self.nodes:
            for purpose, kc in node.own.items():
                for other in self.nodes:
                    other.trust[TRUST_STORE[purpose]].setdefault(
                        pki.TrustEntry(kc.cert, "Trust Certificate").file_name,
                        pki.TrustEntry(kc.cert, "Trust Certificate"),
                    )
        self.journal.record(
            "lab.started", cluster=spec.cluster, nodes=[n.hostname for n in self.nodes]
        )

    # -- lookups ------------------------------------------------------------------------

    @staticmethod
    def now() -> dt.datetime:
        """Wall-clock now, UTC."""
        return dt.datetime.now(dt.UTC)

    def node(self, name: str) -> Node:
        """A node by hostname, FQDN or address."""
        for n in self.nodes:
            if name in (n.hostname, n.fqdn, n.address):
                return n
        raise LabError(404, f"unknown node {name!r}", "unknown-node")

    @property
    def publisher(self) -> Node:
        """The CUCM publisher."""
        return next(n for n in self.nodes if n.product == "cucm" and n.publisher)

    def product_publisher(self, product: str) -> Node:
        """The publisher of ``product`` (cucm or imp)."""
        return next(n for n in self.nodes if n.product == product and n.publisher)

    def reachable(self, node: Node) -> bool:
        """False while an ``unreachable`` fault isolates the node."""
        return self.faults.has("unreachable", node.hostname) is None

    def db_replication_state(self, node: Node) -> int:
        """RTMT replication state: 2 good, 4 setup failed/dropped."""
        return 4 if self.faults.has("dbreplication-broken", node.hostname) else 2

    def serving(self, node: Node) -> bool:
        """Whether the node can take part in a certificate export or distribution."""
        return self.reachable(node) and node.started(TOMCAT) and node.started(PAWS)

    # -- change notification ------------------------------------------------------------

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait_change(self, timeout: float | None = None) -> None:  # noqa: ASYNC109
        """Wait until any service state changes (or the timeout passes)."""
        event = self._changed
        try:
            await asyncio.wait_for(event.wait(), timeout)
        except TimeoutError:
            return

    # -- services -----------------------------------------------------------------------

    def control(self, node: Node, name: str, action: Action, origin: str) -> ServiceState:
        """Start, stop or restart a service asynchronously; returns at once.

        Raises LabError for a service that is not activated, already in the asked state, or in
        the middle of another transition (the Control Center reason codes map from ``code``).
        """
        svc = node.service(name)
        if not svc.activated:
            raise LabError(409, "Service Not Activated", "not-activated")
        if svc.transitioning:
            raise LabError(409, "Operation is pending", "pending")
        if action == "start" and svc.status == "Started" and not svc.failed:
            raise LabError(409, "Component already started", "already-started")
        if action == "stop" and svc.status == "Stopped":
            raise LabError(409, "Component already stopped", "already-stopped")
        self.journal.record(
            "service.control", node.hostname, service=name, action=action, origin=origin
        )
        svc.task = asyncio.get_running_loop().create_task(self._transition(node, svc, action))
        return svc

    async def _transition(self, node: Node, svc: ServiceState, action: Action) -> None:
        timing = self.timing.for_service(svc.name)
        if action in ("stop", "restart") and (svc.status != "Stopped" or svc.failed):
            svc.failed = False
            await self._set(node, svc, "Stopping")
            await asyncio.sleep(timing.stopping)
            svc.start_time = None
            await self._set(node, svc, "Stopped")
        svc.commanded_out = action == "stop"
        if action == "stop":
            return
        svc.failed = False
        await self._set(node, svc, "Starting")
        # Faults are plain rules without events: a hang is polled until it is cleared.
        while self.faults.has("service-hang", node.hostname, svc.name):  # noqa: ASYNC110
            await asyncio.sleep(0.02)
        await asyncio.sleep(timing.starting)
        if self.faults.take("service-fail-start", node.hostname, svc.name):
            svc.failed = True
            await self._set(node, svc, "Stopped")
            return
        svc.start_time = time.time()
        self._activate_certificates(node, svc.name)
        await self._set(node, svc, "Started")

    async def _set(self, node: Node, svc: ServiceState, status: Status) -> None:
        old = svc.status
        svc.status = status
        self.journal.record(
            "service.state",
            node.hostname,
            service=svc.name,
            previous=old,
            status=status,
            failed=svc.failed,
        )
        for hook in self.hooks:
            await hook(node, svc, old, status)
        self._notify()

    def _activate_certificates(self, node: Node, service: str) -> None:
        for purpose, activator in activating_services(self.spec.major_version).items():
            if activator != service or purpose not in node.own:
                continue
            installed = node.own[purpose]
            if node.active.get(purpose) is installed:
                continue
            node.active[purpose] = installed
            self.journal.record(
                "cert.activated",
                node.hostname,
                purpose=purpose,
                serial=pki.serial_hex(installed.cert),
                fingerprint=pki.fingerprint(installed.cert),
            )
            if purpose.startswith("tomcat") and self.sso_enabled and not self.sso_broken:
                self.sso_broken = True
                self.journal.record(
                    "sso.broken",
                    node.hostname,
                    reason="tomcat certificate changed while SAML SSO was enabled",
                )

    def set_paws(self, node: Node, running: bool) -> None:
        """Out-of-band: stop or start Platform Administrative Web Service at once."""
        svc = node.service(PAWS)
        svc.status = "Started" if running else "Stopped"
        svc.commanded_out = not running
        svc.start_time = time.time() if running else None
        self.journal.record("service.state", node.hostname, service=PAWS, status=svc.status)
        self._notify()

    # -- CSR ----------------------------------------------------------------------------

    def generate_csr(
        self,
        node: Node,
        purpose: str,
        distribution: str,
        common_name: str | None = None,
        key_type: str = "rsa",
        key_length: int = 2048,
        hash_name: str = "sha256",
        alt_names: list[str] | None = None,
    ) -> tuple[pki.PendingCsr, list[Node]]:
        """Generate a CSR; returns it and the nodes it was exported to."""
        base = purpose.removesuffix("-ECDSA")
        if base not in PURPOSES_BY_PRODUCT[node.product]:
            raise LabError(400, f"Invalid service {purpose!r} for this server", "bad-service")
        try:
            key = pki.new_key(key_type, key_length)
            pki.hash_algorithm(hash_name)
        except pki.PkiError as exc:
            raise LabError(400, str(exc), "bad-request") from None
        alt = [a for a in (alt_names or []) if a]
        if distribution == facts.REST_MULTI_SERVER_DISTRIBUTION:
            if not node.publisher:
                raise LabError(
                    400,
                    "A multi-server (SAN) CSR can be generated only on the publisher",
                    "not-publisher",
                )
            products = SAN_PRODUCTS[purpose]
            targets = [n for n in self.nodes if n.product in products]
            cn = common_name or facts.MULTI_SERVER_CN.format(
                host=node.hostname, domain=self.spec.domain
            )
            exported = [t for t in targets if t is node or self.serving(t)]
            multi = True
        elif distribution in (facts.REST_SINGLE_SERVER_DISTRIBUTION, node.hostname, node.fqdn):
            targets = [node]
            cn = common_name or node.fqdn
            exported = [node]
            multi = False
        else:
            raise LabError(400, f"Invalid distribution {distribution!r}", "bad-distribution")
        names = [t.fqdn for t in targets] + alt
        if facts.csr_cn_in_san(self.spec.version):
            names.insert(0, cn)
        san = list(dict.fromkeys(names))
        try:
            csr = pki.make_csr(key, cn, san, hash_name)
        except pki.PkiError as exc:
            raise LabError(400, str(exc), "bad-request") from None
        pending = pki.PendingCsr(
            csr=csr,
            key=key,
            purpose=purpose,
            multi_server=multi,
            san_nodes=[t.hostname for t in targets],
            generated_at=self.now(),
        )
        for t in exported:
            t.pending[purpose] = pending
        self.journal.record(
            "csr.generated",
            node.hostname,
            purpose=purpose,
            distribution=distribution,
            common_name=cn,
            san=san,
            exported=[t.hostname for t in exported],
            tracking_id=pending.tracking_id,
        )
        return pending, exported

    # -- trust --------------------------------------------------------------------------

    def upload_trust(
        self, node: Node, services: list[str], pems: list[str], description: str
    ) -> list[dict[str, Any]]:
        """Import CA certificates into ``<service>-trust``; returns one outcome per cert/store."""
        stores = []
        for s in services:
            store = s if s.endswith("-trust") else TRUST_STORE.get(s, f"{s}-trust")
            if store not in TRUST_STORES:
                raise LabError(400, f"Invalid service {s!r}", "bad-service")
            stores.append(store)
        if not stores or not pems:
            raise LabError(400, "service and certificates are required", "bad-request")
        certs = self._parse(pems)
        for c in certs:
            if pki.key_size(c) > 4096:
                raise LabError(400, "Key size larger than 4096 bits is not supported", "key-size")
        outcomes: list[dict[str, Any]] = []
        for store in stores:
            for cert in certs:
                outcome = self._add_trust(node, store, cert, description)
                targets = [node]
                if store in facts.REPLICATED_TRUST_STORES and outcome in ("added", "replaced"):
                    for other in self.nodes:
                        if other is node:
                            continue
                        if self.db_replication_state(other) != 2:
                            self._replication_backlog.append(
                                (other.hostname, store, cert, description)
                            )
                            continue
                        self._add_trust(other, store, cert, description)
                        targets.append(other)
                outcomes.append(
                    {
                        "store": store,
                        "subject": pki.common_name(cert.subject),
                        "serial": pki.serial_hex(cert),
                        "fileName": pki.TrustEntry(cert, description).file_name,
                        "outcome": outcome,
                        "nodes": [t.hostname for t in targets],
                    }
                )
                self.journal.record(
                    "trust.uploaded",
                    node.hostname,
                    store=store,
                    subject=pki.common_name(cert.subject),
                    serial=pki.serial_hex(cert),
                    fingerprint=pki.fingerprint(cert),
                    outcome=outcome,
                    nodes=[t.hostname for t in targets],
                )
        if all(o["outcome"] == "exists" for o in outcomes):
            raise LabError(
                facts.REST_TRUST_DUPLICATE_STATUS,
                facts.REST_TRUST_DUPLICATE_MESSAGE.format(store=", ".join(stores)),
                "duplicate",
            )
        return outcomes

    def _add_trust(self, node: Node, store: str, cert: x509.Certificate, description: str) -> str:
        entries = node.trust[store]
        for name, entry in list(entries.items()):
            if entry.cert.subject != cert.subject:
                continue
            if entry.cert.serial_number == cert.serial_number:
                return "exists"
            # Same subject, different serial: the later validity start wins (§1.2).
            if cert.not_valid_before_utc > entry.cert.not_valid_before_utc:
                del entries[name]
                new = pki.TrustEntry(cert, description)
                entries[new.file_name] = new
                return "replaced"
            return "not-applied"
        new = pki.TrustEntry(cert, description)
        entries[new.file_name] = new
        return "added"

    def replay_replication(self) -> None:
        """Apply trust uploads a node missed while its DB replication was broken."""
        backlog, self._replication_backlog = self._replication_backlog, []
        for hostname, store, cert, description in backlog:
            node = self.node(hostname)
            if self.db_replication_state(node) != 2:
                self._replication_backlog.append((hostname, store, cert, description))
                continue
            outcome = self._add_trust(node, store, cert, description)
            self.journal.record(
                "trust.replicated",
                hostname,
                store=store,
                serial=pki.serial_hex(cert),
                outcome=outcome,
            )

    # -- identity -----------------------------------------------------------------------

    def upload_identity(self, node: Node, purpose: str, pems: list[str]) -> list[Node]:
        """Install a signed certificate for the CSR pending on ``node``; returns where."""
        if purpose.removesuffix("-ECDSA") not in PURPOSES_BY_PRODUCT[node.product]:
            raise LabError(400, f"Invalid service {purpose!r} for this server", "bad-service")
        certs = self._parse(pems)
        leaf = certs[0]
        names = [pki.common_name(leaf.subject), *pki.san_dns(leaf)]
        if any(n.startswith("*") for n in names):
            raise LabError(400, "Wildcard certificates are not supported", "wildcard")
        if pki.key_size(leaf) > 4096:
            raise LabError(400, "Key size larger than 4096 bits is not supported", "key-size")
        pending = node.pending.get(purpose)
        if pending is None or pki.public_key_der(leaf) != pki.public_key_der(pending.csr):
            raise LabError(500, facts.REST_STALE_CSR_MESSAGE.format(service=purpose), "stale-csr")
        store = TRUST_STORE[purpose]
        issuer_cn = self._check_chain(node, store, leaf)
        if pending.multi_server:
            targets = [
                n
                for n in self.nodes
                if n.hostname in pending.san_nodes
                and n.pending.get(purpose) is pending
                and (n is node or self.serving(n))
            ]
        else:
            targets = [node]
        for t in targets:
            t.own[purpose] = pki.KeyedCert(
                leaf, pending.key, f"Certificate Signed by {issuer_cn}", pending.multi_server
            )
            del t.pending[purpose]
        self.journal.record(
            "identity.uploaded",
            node.hostname,
            purpose=purpose,
            serial=pki.serial_hex(leaf),
            fingerprint=pki.fingerprint(leaf),
            nodes=[t.hostname for t in targets],
        )
        return targets

    def _check_chain(self, node: Node, store: str, leaf: x509.Certificate) -> str:
        entries = [e.cert for e in node.trust[store].values()]
        current = leaf
        first_issuer: str | None = None
        for _ in range(8):
            issuer = next((c for c in entries if pki.issued_by(current, c)), None)
            if issuer is None:
                raise LabError(
                    400,
                    facts.REST_ISSUER_NOT_TRUSTED_MESSAGE.format(
                        issuer=pki.common_name(current.issuer), store=store
                    ),
                    "issuer-not-trusted",
                )
            first_issuer = first_issuer or pki.common_name(issuer.subject)
            if pki.is_self_signed(issuer):
                return first_issuer
            current = issuer
        raise LabError(400, "Certificate chain too long", "chain-too-long")

    @staticmethod
    def _parse(pems: list[str]) -> list[x509.Certificate]:
        certs: list[x509.Certificate] = []
        for p in pems:
            try:
                certs.extend(pki.parse_certificates(p))
            except pki.PkiError:
                raise LabError(400, facts.REST_BAD_FORMAT_MESSAGE, "bad-format") from None
        if not certs:
            raise LabError(400, facts.REST_BAD_FORMAT_MESSAGE, "bad-format")
        return certs

    def regenerate_pending_csr(self, node: Node, purpose: str) -> pki.PendingCsr:
        """Out-of-band: someone generates a new CSR on the box, making the signed one stale."""
        old = node.pending.get(purpose)
        distribution = (
            facts.REST_MULTI_SERVER_DISTRIBUTION
            if old and old.multi_server
            else facts.REST_SINGLE_SERVER_DISTRIBUTION
        )
        target = self.product_publisher(node.product) if old and old.multi_server else node
        pending, _ = self.generate_csr(target, purpose, distribution)
        return pending

    # -- certificate views (read-only) ---------------------------------------------------

    def identity(self, node: Node, purpose: str) -> pki.KeyedCert:
        """The identity certificate *installed* for ``purpose`` (not necessarily the active one)."""
        try:
            return node.own[purpose]
        except KeyError:
            raise LabError(
                400, f"Invalid service {purpose!r} for this server", "bad-service"
            ) from None

    def trust_entries(self, node: Node, service: str) -> tuple[str, list[pki.TrustEntry]]:
        """The trust store ``service`` names (``tomcat`` or ``tomcat-trust``) and its entries."""
        store = service if service.endswith("-trust") else f"{service}-trust"
        if store not in TRUST_STORES:
            raise LabError(400, f"Invalid service {service!r}", "bad-service")
        return store, list(node.trust[store].values())

    def served_chain(self, node: Node, purpose: str) -> list[x509.Certificate]:
        """The CA certificates a TLS server sends after the active leaf of ``purpose``."""
        if not facts.TLS_SERVES_CHAIN_FROM_TRUST:
            return []
        entries = [e.cert for e in node.trust[TRUST_STORE[purpose]].values()]
        chain: list[x509.Certificate] = []
        current = node.active[purpose].cert
        for _ in range(8):
            if pki.is_self_signed(current):
                break
            issuer = next((c for c in entries if pki.issued_by(current, c)), None)
            if issuer is None or pki.is_self_signed(issuer):
                break
            chain.append(issuer)
            current = issuer
        return chain

    # -- SSO, CTL -----------------------------------------------------------------------

    def sso_disable(self, origin: str) -> None:
        """``utils sso disable``."""
        self.sso_enabled = False
        self.sso_broken = False
        self.journal.record("sso.disabled", None, origin=origin)

    def sso_enable(self, origin: str) -> None:
        """Enable SSO as an administrator does in the GUI (out of band in the lab)."""
        self.sso_enabled = True
        self.sso_broken = False
        self.journal.record("sso.enabled", None, origin=origin)

    def ctl_update(self, node: Node) -> None:
        """``utils ctl update CTLFile`` on the publisher."""
        if not node.publisher or node.product != "cucm":
            raise LabError(400, "This command is allowed only on the publisher", "not-publisher")
        cm = self.publisher.own.get("CallManager")
        self.ctl = {
            "updated": self.now().isoformat(),
            "signer_serial": pki.serial_hex(cm.cert) if cm else None,
            # The certificates the new CTL lists: each node's installed and active CallManager.
            "callmanager_fingerprints": sorted(
                {
                    pki.fingerprint(kc.cert)
                    for n in self.nodes
                    for kc in (n.own.get("CallManager"), n.active.get("CallManager"))
                    if kc is not None
                }
            ),
        }
        self.journal.record("ctl.updated", node.hostname, **self.ctl)

    # -- state --------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        """A JSON-able picture of the whole cluster (for the control API and tests)."""

        def cert(kc: pki.KeyedCert) -> dict[str, Any]:
            return {
                "serial": pki.serial_hex(kc.cert),
                "fingerprint": pki.fingerprint(kc.cert),
                "subject": pki.common_name(kc.cert.subject),
                "issuer": pki.common_name(kc.cert.issuer),
                "san": pki.san_dns(kc.cert),
                "not_after": kc.cert.not_valid_after_utc.isoformat(),
                "self_signed": pki.is_self_signed(kc.cert),
                "multi_server": kc.multi_server,
            }

        now = time.time()
        return {
            "cluster": self.spec.cluster,
            "version": self.spec.version,
            "domain": self.spec.domain,
            "sso": {"enabled": self.sso_enabled, "broken": self.sso_broken},
            "security_mode": self.security_mode,
            "ctl": self.ctl,
            "nodes": [
                {
                    "hostname": n.hostname,
                    "fqdn": n.fqdn,
                    "address": n.address,
                    "product": n.product,
                    "role": n.role,
                    "reachable": self.reachable(n),
                    "db_replication": self.db_replication_state(n),
                    "services": {
                        s.name: {
                            "activated": s.activated,
                            "status": s.status,
                            "failed": s.failed,
                            "uptime": s.uptime(now),
                        }
                        for s in n.services.values()
                    },
                    "own": {p: cert(kc) for p, kc in n.own.items()},
                    "active": {p: cert(kc) for p, kc in n.active.items()},
                    "pending_csr": {
                        p: {"tracking_id": c.tracking_id, "multi_server": c.multi_server}
                        for p, c in n.pending.items()
                    },
                    "trust": {
                        store: sorted(entries) for store, entries in n.trust.items() if entries
                    },
                }
                for n in self.nodes
            ],
        }
