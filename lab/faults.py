"""Faults injected into the twin through the out-of-band control API.

A fault is a rule: a kind, an optional node (None = every node), an optional target (a
service name, an operation or an interface), a rate and a count. Frontends ask
:meth:`FaultSet.take` at the points where a real cluster can fail; a fault with a count is
consumed each time it fires.
"""

from __future__ import annotations

import itertools
import random
import threading
import time
from typing import Any, Literal

from pydantic import BaseModel, Field

FaultKind = Literal[
    # the node's ports refuse connections (HTTPS and SSH)
    "unreachable",
    # a service that is started ends NOTRUNNING instead of STARTED
    "service-fail-start",
    # a service that is started stays STARTING until the fault is cleared
    "service-hang",
    # HTTP 5xx on an interface (rest | soap | axl | any) at a rate; params: status (503),
    # retry_after (seconds, sent as Retry-After), retry_after_form (``http-date``: sent as
    # the date that many seconds from now)
    "http-error",
    # SOAP fault (Server.userException) on soap/axl at a rate
    "soap-fault",
    # added latency (seconds) on an interface
    "latency",
    # the operation is applied but the connection drops before the response
    "response-lost",
    # the operation (target: one of OPERATIONS over REST or the OS Administration pages) waits
    # before it takes effect until the fault is cleared: a node that takes minutes to
    # generate or distribute a certificate
    "operation-hang",
    # Control Center / RisPort realtime throttle fault
    "throttle",
    # DB replication broken on the node: replicated trust does not reach it
    "dbreplication-broken",
    # Platform Administrative Web Service stopped on the node
    "paws-down",
    # SSH password authentication refused
    "ssh-auth-fail",
    # pre-change health (lab/health.py): the node's clock is not synchronised (on the CUCM
    # publisher: every node, since they all take their time from it)
    "ntp-unsynchronised",
    # a partition fills up; params: partition (logging = the common partition), percent (97)
    "disk-full",
    # a service crashed and left a core file; params: process (ccm)
    "core-dump",
    # the latest DRS backups ended in ERROR; params: runs (1)
    "drs-backup-failed",
    # no DRS backup ran for a while; params: days since the last one (30)
    "drs-backup-old",
    # a web application (target: ccmadmin, cmplatform, ccmservice, cupadmin) is not deployed:
    # Tomcat answers 404 for it
    "webapp-down",
    # the web sessions of an application (target: cmplatform) end: the next request that
    # brings one finds it expired and gets the login form (count: how many requests)
    "session-expired",
]

#: Operations that ``response-lost`` can target.
OPERATIONS = (
    "csr",
    "upload-identity",
    "upload-trust",
    "service-restart",
    "service-control",
    "sso-disable",
    "device-reset",
)


class Fault(BaseModel):
    """One injected fault."""

    id: int = 0
    kind: FaultKind
    node: str | None = None
    target: str | None = Field(
        default=None, description="service name, operation or interface the fault applies to"
    )
    rate: float = Field(default=1.0, ge=0.0, le=1.0)
    count: int | None = Field(default=None, ge=1, description="fires this many times, then ends")
    params: dict[str, Any] = Field(default_factory=dict)
    fired: int = 0
    added_at: float | None = Field(
        default=None, description="when the fault was injected (epoch seconds, set by the lab)"
    )


class FaultSet:
    """The active faults of a lab."""

    def __init__(self, seed: int | None = None) -> None:
        self._faults: dict[int, Fault] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._random = random.Random(seed)

    def add(self, fault: Fault) -> Fault:
        """Activate a fault; returns it with its id."""
        with self._lock:
            stored = fault.model_copy(
                update={"id": next(self._ids), "fired": 0, "added_at": time.time()}
            )
            self._faults[stored.id] = stored
            return stored

    def clear(self, fault_id: int | None = None) -> list[Fault]:
        """Remove one fault, or all of them; returns what was removed."""
        with self._lock:
            if fault_id is None:
                removed = list(self._faults.values())
                self._faults.clear()
                return removed
            f = self._faults.pop(fault_id, None)
            return [f] if f else []

    def active(self) -> list[Fault]:
        """All active faults."""
        with self._lock:
            return list(self._faults.values())

    def has(self, kind: str, node: str | None, target: str | None = None) -> Fault | None:
        """A matching fault without consuming it (for state-like faults)."""
        with self._lock:
            return self._match(kind, node, target)

    def take(self, kind: str, node: str | None, target: str | None = None) -> Fault | None:
        """A matching fault that fires now (rate drawn, count consumed), else None."""
        with self._lock:
            fault = self._match(kind, node, target)
            if fault is None or self._random.random() >= fault.rate:
                return None
            fault.fired += 1
            if fault.count is not None and fault.fired >= fault.count:
                del self._faults[fault.id]
            return fault

    def _match(self, kind: str, node: str | None, target: str | None) -> Fault | None:
        for f in self._faults.values():
            if f.kind != kind:
                continue
            if f.node is not None and f.node != node:
                continue
            if f.target is not None and f.target not in (target, "any"):
                continue
            return f
        return None
