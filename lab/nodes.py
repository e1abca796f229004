"""One server of the twin: its services and its certificate stores.

:class:`Node` holds what a node has (services, identity certificates installed and active,
trust stores, pending CSRs) and the rules that involve that node alone; rules across nodes
live in :class:`~lab.cluster.Cluster`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from cryptography import x509

from lab import facts, pki
from lab.catalog import TRUST_STORE
from lab.errors import LabError

Status = Literal["Started", "Stopped", "Starting", "Stopping"]
Action = Literal["start", "stop", "restart"]

#: Longest issuer chain followed through a trust store.
_MAX_CHAIN = 8


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

    # -- trust stores ---------------------------------------------------------------------

    def add_trust(self, store: str, cert: x509.Certificate, description: str) -> str:
        """Put a CA certificate in a trust store of this node.

        Returns:
            ``added``; ``exists`` (same subject and serial); ``replaced`` (same subject, a
            later validity start wins, §1.2); ``not-applied`` (same subject, not later).
        """
        entries = self.trust[store]
        for name, entry in list(entries.items()):
            if entry.cert.subject != cert.subject:
                continue
            if entry.cert.serial_number == cert.serial_number:
                return "exists"
            if cert.not_valid_before_utc > entry.cert.not_valid_before_utc:
                del entries[name]
                new = pki.TrustEntry(cert, description)
                entries[new.file_name] = new
                return "replaced"
            return "not-applied"
        new = pki.TrustEntry(cert, description)
        entries[new.file_name] = new
        return "added"

    def trusted_issuer(self, store: str, leaf: x509.Certificate) -> str:
        """CN of the issuer of ``leaf``, once its chain reaches a root in ``store``.

        Raises:
            LabError: A certificate of the chain has no issuer in the store, or the chain is
                too long.
        """
        entries = [e.cert for e in self.trust[store].values()]
        current = leaf
        first_issuer: str | None = None
        for _ in range(_MAX_CHAIN):
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

    def ecdsa_twin(self, purpose: str) -> tuple[pki.KeyedCert, list[x509.Certificate]] | None:
        """The active ECDSA identity a listener of ``purpose`` serves as well, with its chain;
        None where the node has none (before 14, or an IM&P XMPP purpose)."""
        twin = f"{purpose}-ECDSA"
        if twin not in self.active:
            return None
        return self.active[twin], self.served_chain(twin)

    def served_chain(self, purpose: str) -> list[x509.Certificate]:
        """The CA certificates a TLS server sends after the active leaf of ``purpose``."""
        if not facts.TLS_SERVES_CHAIN_FROM_TRUST:
            return []
        entries = [e.cert for e in self.trust[TRUST_STORE[purpose]].values()]
        chain: list[x509.Certificate] = []
        current = self.active[purpose].cert
        for _ in range(_MAX_CHAIN):
            if pki.is_self_signed(current):
                break
            issuer = next((c for c in entries if pki.issued_by(current, c)), None)
            if issuer is None or pki.is_self_signed(issuer):
                break
            chain.append(issuer)
            current = issuer
        return chain

    # -- state ------------------------------------------------------------------------------

    def state(self, reachable: bool, db_replication: int, now: float) -> dict[str, Any]:
        """A JSON-able picture of the node (one entry of the cluster's state)."""
        return {
            "hostname": self.hostname,
            "fqdn": self.fqdn,
            "address": self.address,
            "product": self.product,
            "role": self.role,
            "reachable": reachable,
            "db_replication": db_replication,
            "services": {
                s.name: {
                    "activated": s.activated,
                    "status": s.status,
                    "failed": s.failed,
                    "uptime": s.uptime(now),
                }
                for s in self.services.values()
            },
            "own": {p: _certificate_state(kc) for p, kc in self.own.items()},
            "active": {p: _certificate_state(kc) for p, kc in self.active.items()},
            "pending_csr": {
                p: {"tracking_id": c.tracking_id, "multi_server": c.multi_server}
                for p, c in self.pending.items()
            },
            "trust": {store: sorted(entries) for store, entries in self.trust.items() if entries},
        }


def _certificate_state(kc: pki.KeyedCert) -> dict[str, Any]:
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


#: Called on every service state change: node, service, old status, new status.
StateHook = Callable[[Node, ServiceState, str, str], Awaitable[None]]
