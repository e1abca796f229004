"""State and behaviour of a twin cluster: nodes, services, certificate stores, SSO.

The frontends (REST, SOAP, SSH) translate protocol requests into calls on :class:`Cluster`
and its errors into protocol errors; the rules of cucm-interfaces.md §1.2 and §14.2 live here
and, for what involves one node alone, in :mod:`lab.nodes`, so every interface sees one
consistent cluster.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from typing import Any

from cryptography import x509

from lab import facts, pki
from lab.catalog import (
    PAWS,
    SAN_PRODUCTS,
    TOMCAT,
    TRUST_STORE,
    TRUST_STORES,
    activating_services,
    identity_purposes,
    services_for,
)
from lab.errors import LabError
from lab.faults import FaultSet
from lab.journal import Journal
from lab.nodes import Action, Node, ServiceState, StateHook, Status
from lab.timing import TimingProfile
from lab.topology import TopologySpec


class Cluster:
    """A running twin cluster."""

    def __init__(
        self,
        spec: TopologySpec,
        timing: TimingProfile,
        journal: Journal | None = None,
        faults: FaultSet | None = None,
        install_keys: pki.InstallKeys | None = None,
    ) -> None:
        """``install_keys``: keys to install the nodes with, shared with other twins (see
        :class:`~lab.pki.InstallKeys`); None: new keys."""
        self.spec = spec
        self.install_keys = install_keys
        self.timing = timing
        #: When the twin came up: schedules (DRS backups) are anchored here, not at each read.
        self.built_at = self.now().replace(microsecond=0)
        self.journal = journal or Journal()
        self.faults = faults or FaultSet(seed=spec.seed)
        self.sso_enabled = spec.sso_enabled
        self.sso_broken = False
        self.security_mode = spec.security_mode
        self.ctl: dict[str, Any] | None = None
        self.nodes: list[Node] = []
        self.hooks: list[StateHook] = []
        self._replication_backlog: list[tuple[str, str, x509.Certificate, str]] = []
        self._build()
        #: The CTL records a mixed-mode installation starts with (before any update).
        self.install_ctl_records = self._ctl_records()

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
                initial = "not-activated" if sd.name in ns.deactivated else sd.initial(ns.publisher)
                running = initial == "started"
                node.services[sd.name] = ServiceState(
                    name=sd.name,
                    group=sd.group,
                    deployable=sd.deployable,
                    service_type=sd.service_type,
                    activated=initial != "not-activated",
                    status="Started" if running else "Stopped",
                    commanded_out=initial == "stopped",
                    start_time=booted if running else None,
                )
            node.trust = {store: {} for store in TRUST_STORES}
            for purpose in identity_purposes(ns.product, spec.major_version):
                kc = self._self_signed(node, purpose, now, install=True)
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

    def _self_signed(
        self, node: Node, purpose: str, now: dt.datetime, install: bool = False
    ) -> pki.KeyedCert:
        """A new key and a self-signed certificate for ``purpose`` on ``node``, as CUCM
        generates them at install and on ``set cert regen`` (at install, the key comes from
        the shared install keys when the cluster has them)."""
        if purpose.endswith("-ECDSA"):
            key_type, key_length = "ec", facts.SELF_SIGNED_ECDSA_KEY_LENGTH
            cn = facts.SELF_SIGNED_ECDSA_CN.format(host=node.hostname, domain=self.spec.domain)
        else:
            key_type, key_length, cn = "rsa", 2048, node.fqdn
        if install and self.install_keys is not None:
            key = self.install_keys.key(node.index, purpose, key_type, key_length)
        else:
            key = pki.new_key(key_type, key_length)
        cert = pki.self_signed(key, cn, [node.fqdn], now, self.spec.cert_validity_days)
        return pki.KeyedCert(cert, key, "Self-signed certificate generated by system")

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

    # -- CSR ----------------------------------------------------------------------------

    def generate_csr(
        self,
        node: Node,
        purpose: str,
        distribution: str,
        common_name: str | None = None,
        key_type: str | None = None,
        key_length: int | None = None,
        hash_name: str = "sha256",
        alt_names: list[str] | None = None,
    ) -> tuple[pki.PendingCsr, list[Node]]:
        """Generate a CSR; returns it and the nodes it was exported to.

        The key is the purpose's when not given: EC 256 for an ECDSA purpose, RSA 2048 else.
        """
        if purpose not in identity_purposes(node.product, self.spec.major_version):
            raise LabError(400, f"Invalid service {purpose!r} for this server", "bad-service")
        ecdsa = purpose.endswith("-ECDSA")
        key_type = key_type or ("ec" if ecdsa else "rsa")
        if (key_type.lower() in ("ec", "ecdsa")) != ecdsa:
            raise LabError(
                400, facts.CSR_KEY_TYPE_MISMATCH.format(key_type=key_type, service=purpose), "key"
            )
        key_length = key_length or (facts.SELF_SIGNED_ECDSA_KEY_LENGTH if ecdsa else 2048)
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
            default_cn = (
                facts.MULTI_SERVER_CN_ECDSA if purpose.endswith("-ECDSA") else facts.MULTI_SERVER_CN
            )
            cn = common_name or default_cn.format(host=node.hostname, domain=self.spec.domain)
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
                outcome = node.add_trust(store, cert, description)
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
                        other.add_trust(store, cert, description)
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

    def delete_trust(self, node: Node, store: str, file_name: str) -> list[Node]:
        """Delete a trust certificate from ``node``'s ``store``; returns the nodes it left.

        In the stores of :data:`lab.facts.DELETE_CLUSTER_WIDE_TRUST_STORES` the deletion
        reaches every node holding the same certificate (same file name), in the others this
        node only (cucm-interfaces.md §1.2).

        Raises:
            LabError: 404 when this node's store has no such file.
        """
        entry = node.trust.get(store, {}).get(file_name)
        if entry is None:
            raise LabError(
                404, facts.CLI_CERT_NOT_FOUND.format(path=f"{store}/{file_name}"), "not-found"
            )
        targets = [node]
        if store in facts.DELETE_CLUSTER_WIDE_TRUST_STORES:
            targets += [
                other
                for other in self.nodes
                if other is not node and file_name in other.trust.get(store, {})
            ]
        for target in targets:
            del target.trust[store][file_name]
        self.journal.record(
            "trust.deleted",
            node.hostname,
            store=store,
            file_name=file_name,
            subject=pki.common_name(entry.cert.subject),
            serial=pki.serial_hex(entry.cert),
            fingerprint=pki.fingerprint(entry.cert),
            nodes=[t.hostname for t in targets],
        )
        return targets

    def replay_replication(self) -> None:
        """Apply trust uploads a node missed while its DB replication was broken."""
        backlog, self._replication_backlog = self._replication_backlog, []
        for hostname, store, cert, description in backlog:
            node = self.node(hostname)
            if self.db_replication_state(node) != 2:
                self._replication_backlog.append((hostname, store, cert, description))
                continue
            outcome = node.add_trust(store, cert, description)
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
        if purpose not in identity_purposes(node.product, self.spec.major_version):
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
        issuer_cn = node.trusted_issuer(store, leaf)
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

    def regenerate_self_signed(self, node: Node, purpose: str) -> pki.KeyedCert:
        """``set cert regen <purpose>`` on ``node``: a new self-signed certificate replaces
        the installed one, CA-signed or not (§1.2), and any CSR pending for it [INF]; it is
        trusted cluster-wide as the install-time one is [INF] and served once the purpose's
        services restart."""
        if purpose not in identity_purposes(node.product, self.spec.major_version):
            raise LabError(400, f"Invalid service {purpose!r} for this server", "bad-service")
        kc = self._self_signed(node, purpose, self.now())
        node.own[purpose] = kc
        node.pending.pop(purpose, None)
        entry = pki.TrustEntry(kc.cert, "Trust Certificate")
        for other in self.nodes:
            other.trust[TRUST_STORE[purpose]].setdefault(entry.file_name, entry)
        self.journal.record(
            "identity.regenerated",
            node.hostname,
            purpose=purpose,
            serial=pki.serial_hex(kc.cert),
            fingerprint=pki.fingerprint(kc.cert),
        )
        return kc

    def multi_san(self, pem: str) -> bool:
        """Whether a certificate's SAN names more than one node of the cluster (a multi-SAN
        certificate, which 14SU2 and later accept from the GUI only, §1.2); False for
        anything that does not parse (the upload itself refuses it)."""
        try:
            leaf = pki.parse_certificates(pem)[0]
        except pki.PkiError:
            return False
        fqdns = {n.fqdn.lower() for n in self.nodes}
        return len({name.lower() for name in pki.san_dns(leaf)} & fqdns) > 1

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
        # A purpose names its trust store as on upload: cup-xmpp-s2s pairs with cup-xmpp-trust.
        store = (
            service if service.endswith("-trust") else TRUST_STORE.get(service, f"{service}-trust")
        )
        if store not in TRUST_STORES:
            raise LabError(400, f"Invalid service {service!r}", "bad-service")
        return store, list(node.trust[store].values())

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
            "records": self._ctl_records(),
        }
        self.journal.record("ctl.updated", node.hostname, **self.ctl)

    def _ctl_records(self) -> list[dict[str, str]]:
        """One CCM+TFTP record per node running Cisco Tftp, with the serial number of its
        installed CallManager certificate now: ``show ctl`` prints the file as it was written,
        not the certificates installed since (tech note 118893, "show ctl")."""
        return [
            {
                "hostname": n.hostname,
                "fqdn": n.fqdn,
                "address": n.address,
                "serial": pki.serial_hex(n.own["CallManager"].cert),
            }
            for n in self.nodes
            if n.product == "cucm" and n.started("Cisco Tftp") and "CallManager" in n.own
        ]

    # -- state --------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        """A JSON-able picture of the whole cluster (for the control API and tests)."""
        now = time.time()
        return {
            "cluster": self.spec.cluster,
            "version": self.spec.version,
            "domain": self.spec.domain,
            "sso": {"enabled": self.sso_enabled, "broken": self.sso_broken},
            "security_mode": self.security_mode,
            "ctl": self.ctl,
            "nodes": [
                n.state(self.reachable(n), self.db_replication_state(n), now) for n in self.nodes
            ],
        }
