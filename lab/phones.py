"""Phones of the twin: registration, failover and fallback, certificate resets, and metrics.

Phones (SCCP and SIP) sit in device pools whose Unified CM groups order up to three CUCM nodes
(cucm-interfaces.md §9, operations-facts.md B1). The :class:`PhoneSystem` follows the
cluster's service hooks: when Cisco CallManager leaves Started on a node (or the node becomes
unreachable) its phones drop, and after a per-phone detection delay (SCCP near-immediate on a
clean stop, SIP up to its keepalive) they register with the best running member of their
group, through a per-node token bucket that bounds the registration rate. When the primary
returns they fall back after a delay. After a CallManager certificate change, phones reset to
fetch the new ITL once TFTP serves it (AXL doDeviceReset resets them on request too); in mixed
mode a secure phone only registers with a node whose active CallManager certificate is in its
CTL (see lab/facts.py for the [INF] rules).

One scheduler task drives every phone: a heap of timed events and per-node admission queues,
so thousands of phones cost no task each. Every registration change is journalled as batch
entries (``phone.registered`` / ``phone.unregistered`` with the node and the phone names); the
metrics are computed from the journal alone (:func:`lab.phone_metrics.phone_metrics`). The
phones themselves are :mod:`lab.phone_model`.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import time
from collections import defaultdict, deque
from collections.abc import Sequence
from dataclasses import dataclass, field

from lab import facts, pki
from lab.catalog import activating_services
from lab.cluster import Cluster
from lab.journal import Journal
from lab.nodes import Node, ServiceState
from lab.phone_metrics import PhoneMetrics, phone_metrics
from lab.phone_model import REGISTERED, UNREGISTERED, Phone, build_phones

TFTP = "Cisco Tftp"


@dataclass
class DeviceResets:
    """What :meth:`PhoneSystem.reset_devices` did with each name it was given.

    Attributes:
        reset: Registered phones now resetting.
        undelivered: Known phones that were not registered: nothing was sent to them.
        already_resetting: Phones that were resetting already (left alone).
        unknown: Names of no phone of the lab.
    """

    reset: list[str] = field(default_factory=list)
    undelivered: list[str] = field(default_factory=list)
    already_resetting: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)


class PhoneSystem:
    """Every phone of a cluster and the scheduler that moves them.

    Args:
        cluster: The twin cluster (services, certificates, CTL, reachability).
        journal: Where registration changes are recorded.
    """

    def __init__(self, cluster: Cluster, journal: Journal) -> None:
        self.cluster = cluster
        self.journal = journal
        self.timing = cluster.timing.phones
        spec = cluster.spec
        self.groups = {g.name: tuple(g.members) for g in spec.resolved_cm_groups()}
        self.pools = {p.name: p.cm_group for p in spec.resolved_device_pools()}
        self.phones: list[Phone] = []
        self.by_name: dict[str, Phone] = {}
        self._build()
        self._heap: list[tuple[float, int, str, Phone | None, int]] = []
        self._seq = itertools.count()
        self._queues: dict[str, deque[tuple[Phone, int, str, float]]] = defaultdict(deque)
        self._tat: dict[str, float] = defaultdict(float)
        self._usable: dict[str, bool] = {}
        self._reset_queue: deque[tuple[Phone, str]] = deque()
        self._reset_running = False
        self._cscup_running = False
        self._batches: dict[tuple[str, str | None, str], list[str]] = defaultdict(list)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._initial_ctl = self._active_fingerprints()
        self.served_itl = self._installed_fingerprints()

    # -- construction -------------------------------------------------------------------

    def _build(self) -> None:
        for phone in build_phones(self.cluster.spec):
            self.phones.append(phone)
            self.by_name[phone.name] = phone

    # -- lifecycle ----------------------------------------------------------------------

    def start(self) -> None:
        """Register every phone with its best running group member and start the scheduler."""
        now = time.time()
        for phone in self.phones:
            phone.itl = self.served_itl
            phone.trusted = self._initial_ctl
        self._usable = {n.hostname: self._node_usable(n) for n in self._cucm_nodes()}
        for phone in self.phones:
            target = self._target(phone)
            if target is None:
                phone.waiting = True
                self._batch("phone.unregistered", None, "no-callmanager", phone)
                continue
            phone.node = target
            phone.attempts = 1
            phone.records[target] = (REGISTERED, now, facts.RIS_STATUS_REASON_NONE)
            self._batch("phone.registered", target, "initial", phone)
        self._flush()
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def close(self) -> None:
        """Stop the scheduler."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    # -- cluster events -----------------------------------------------------------------

    async def on_service_state(self, node: Node, svc: ServiceState, old: str, new: str) -> None:
        """Cluster hook: react to a service state change."""
        if svc.name == TFTP and new == "Started":
            self.served_itl = self._installed_fingerprints()
        activator = activating_services(self.cluster.spec.major_version).get("CallManager")
        if svc.name == activator and old == "Started" and new != "Started":
            self._drop_tls_sessions(node)
        self.reconcile()

    def _drop_tls_sessions(self, node: Node) -> None:
        # The service serving the CallManager certificate restarts: secure phones lose their
        # TLS session and must validate the node's certificate again to re-register.
        now = asyncio.get_running_loop().time()
        stamp = time.time()
        for phone in self.phones:
            if phone.node != node.hostname or not self._secure(phone):
                continue
            phone.node = None
            phone.epoch += 1
            phone.records[node.hostname] = (UNREGISTERED, stamp, facts.RIS_STATUS_REASON_NONE)
            self._batch("phone.unregistered", node.hostname, "tls-restart", phone)
            self._schedule(now + self._detection_delay(phone, True), "attempt", phone)

    def reconcile(self) -> None:
        """Bring phones in line with the cluster: drops, fallbacks, resets, blocked phones.

        Called on every service change and fault change; cheap enough for thousands of phones.
        """
        now = asyncio.get_running_loop().time()
        for node in self._cucm_nodes():
            usable = self._node_usable(node)
            was = self._usable.get(node.hostname, usable)
            self._usable[node.hostname] = usable
            if was and not usable:
                self._drop_node(node, now)
        self._check_resets(now)
        self._check_cscup(now)
        self._retry_waiting(now)
        self._flush()
        self._wake.set()

    def _drop_node(self, node: Node, now: float) -> None:
        reachable = self.cluster.reachable(node)
        reason = "callmanager-stopped" if reachable else "node-unreachable"
        stamp = time.time()
        for phone in self.phones:
            if phone.node != node.hostname:
                continue
            phone.node = None
            phone.epoch += 1
            phone.records[node.hostname] = (UNREGISTERED, stamp, facts.RIS_STATUS_REASON_NONE)
            self._batch("phone.unregistered", node.hostname, reason, phone)
            self._schedule(now + self._detection_delay(phone, reachable), "attempt", phone)

    def _maybe_fallback(self, phone: Phone, now: float) -> None:
        if phone.node is None or phone.fallback_epoch == phone.epoch:
            return
        better = self._target(phone)
        if better is not None and phone.rank(better) < phone.rank(phone.node):
            phone.fallback_epoch = phone.epoch
            self._schedule(now + self.timing.fallback_delay, "fallback", phone)

    def _retry_waiting(self, now: float) -> None:
        for phone in self.phones:
            if phone.node is not None:
                self._maybe_fallback(phone, now)
                continue
            if not phone.waiting or phone.resetting:
                continue
            self._refresh_ctl(phone)
            if self._target(phone) is not None:
                phone.waiting = False
                self._schedule(now, "attempt", phone)

    def _check_resets(self, now: float) -> None:
        spec = self.cluster.spec
        if not spec.phones.reset_on_certificate_update:
            return
        if spec.major_version < facts.ITL_AUTO_RESET_SINCE:
            return
        news = self.served_itl & self._active_fingerprints()
        queued = False
        for phone in self.phones:
            if phone.reset_queued or phone.resetting or not (news - phone.itl):
                continue
            phone.reset_queued = True
            self._reset_queue.append((phone, "itl"))
            queued = True
        if queued:
            self._start_resets(now)

    def _check_cscup(self, now: float) -> None:
        if self._cscup_running or not self.cluster.spec.phones.cscup28852:
            return
        multi = any(
            (kc := n.active.get("CallManager")) is not None and kc.multi_server
            for n in self._cucm_nodes()
        )
        if multi or not facts.CSCUP28852_NEEDS_MULTI_SERVER:
            self._cscup_running = True
            self.journal.record("phone.cscup28852", None, started=True)
            self._schedule(now + self.timing.cscup28852_interval, "cscup", None)

    # -- scheduler ----------------------------------------------------------------------

    def _schedule(self, due: float, kind: str, phone: Phone | None) -> None:
        epoch = phone.epoch if phone is not None else 0
        heapq.heappush(self._heap, (due, next(self._seq), kind, phone, epoch))

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            now = loop.time()
            self._process(now)
            self._wake.clear()
            delay = self._next_delay(loop.time())
            if delay is None:
                await self._wake.wait()
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), max(delay, self.timing.tick))

    def _next_delay(self, now: float) -> float | None:
        dues = [self._heap[0][0]] if self._heap else []
        for hostname, queue in self._queues.items():
            if queue:
                dues.append(max(self._tat[hostname], queue[0][3]) - self._tau())
        if not dues:
            return None
        return max(0.0, min(dues) - now)

    def _process(self, now: float) -> None:
        while self._heap and self._heap[0][0] <= now:
            _due, _seq, kind, phone, epoch = heapq.heappop(self._heap)
            if phone is None:
                if kind == "cscup":
                    self._cscup_wave(now)
                elif kind == "reset-batch":
                    self._reset_batch(now)
                continue
            if epoch != phone.epoch:
                continue
            if kind == "attempt":
                self._attempt(phone)
            elif kind == "fallback":
                self._fallback(phone)
            elif kind == "reset-done":
                self._reset_done(phone)
        self._admit(now)
        self._flush()

    def _attempt(self, phone: Phone) -> None:
        if phone.node is not None:
            return
        target = self._target(phone)
        if target is None:
            phone.waiting = True
            if self._blocked_by_ctl(phone) and not phone.rejected:
                phone.rejected = True
                self._batch("phone.rejected", None, "ctl-mismatch", phone)
                last = self._latest_record(phone)
                if last is not None:
                    node, (status, stamp, _) = last
                    phone.records[node] = (status, stamp, facts.RIS_STATUS_REASON_CTL)
            return
        phone.attempts += 1
        self._enqueue(target, phone, "register")

    def _fallback(self, phone: Phone) -> None:
        phone.fallback_epoch = -1
        if phone.node is None:
            return
        target = self._target(phone)
        if target is not None and phone.rank(target) < phone.rank(phone.node):
            self._enqueue(target, phone, "fallback")

    def _enqueue(self, hostname: str, phone: Phone, kind: str) -> None:
        now = asyncio.get_running_loop().time()
        self._queues[hostname].append((phone, phone.epoch, kind, now))

    def _tau(self) -> float:
        return self.timing.registration_burst / self.timing.registration_rate_sccp

    def _admit(self, now: float) -> None:
        tau = self._tau()
        stamp = time.time()
        for hostname, queue in list(self._queues.items()):
            node = self.cluster.node(hostname)
            while queue:
                phone, epoch, kind, queued_at = queue[0]
                if epoch != phone.epoch or (kind == "register" and phone.node is not None):
                    queue.popleft()
                    continue
                if not self._usable_for(phone, node):
                    queue.popleft()
                    if kind == "register":
                        self._attempt(phone)
                    continue
                # The node admits a waiting phone at the slot it was due, even when the
                # scheduler wakes later than that: a late wake-up must not lose capacity.
                tat = max(self._tat[hostname], queued_at)
                if tat - now > tau:
                    break
                queue.popleft()
                rate = (
                    self.timing.registration_rate_sip
                    if phone.protocol == "SIP"
                    else self.timing.registration_rate_sccp
                )
                self._tat[hostname] = tat + 1.0 / rate
                previous = phone.node
                if previous is not None:
                    phone.records[previous] = (UNREGISTERED, stamp, facts.RIS_STATUS_REASON_NONE)
                phone.node = hostname
                phone.waiting = False
                phone.rejected = False
                phone.epoch += 1
                phone.records[hostname] = (REGISTERED, stamp, facts.RIS_STATUS_REASON_NONE)
                reason = "fallback" if kind == "fallback" else "failover"
                if kind == "register" and phone.rank(hostname) == 0:
                    reason = "registered"
                self._batch("phone.registered", hostname, reason, phone)
                # The primary may have come back while this phone was failing over.
                self._maybe_fallback(phone, now)

    # -- resets -------------------------------------------------------------------------

    def _start_resets(self, now: float) -> None:
        if not self._reset_running:
            self._reset_running = True
            self._schedule(now, "reset-batch", None)

    def _reset_batch(self, now: float) -> None:
        stamp = time.time()
        for _ in range(self.timing.reset_batch):
            if not self._reset_queue:
                break
            phone, why = self._reset_queue.popleft()
            phone.reset_queued = False
            if phone.node is not None:
                phone.records[phone.node] = (UNREGISTERED, stamp, facts.RIS_STATUS_REASON_NONE)
                self._batch("phone.unregistered", phone.node, f"reset:{why}", phone)
            phone.node = None
            phone.waiting = False
            phone.resetting = True
            phone.epoch += 1
            self._schedule(now + self.timing.reset_duration, "reset-done", phone)
        if self._reset_queue:
            self._schedule(now + self.timing.reset_interval, "reset-batch", None)
        else:
            self._reset_running = False

    def reset_devices(self, names: Sequence[str], why: str = "axl") -> DeviceResets:
        """Reset phones on request (AXL doDeviceReset), as CUCM does when told to.

        Each registered phone drops its registration (journalled as ``reset:<why>``), reboots
        for ``reset_duration``, then fetches the served ITL and the current CTL and registers
        through the normal path. An unregistered phone cannot be reached: nothing happens to
        it (journalled as ``phone.reset-undelivered``). A phone already resetting is left
        alone, and a phone waiting for an automatic reset after a certificate update is taken
        out of that queue: this reset is the one it was waiting for.

        Args:
            names: Device names (exact).
            why: What asked for the resets (the journal reason is ``reset:<why>``).

        Returns:
            What happened to each name.
        """
        now = asyncio.get_running_loop().time()
        stamp = time.time()
        outcome = DeviceResets()
        started: set[Phone] = set()
        for name in names:
            phone = self.by_name.get(name)
            if phone is None:
                outcome.unknown.append(name)
                continue
            if phone.resetting:
                outcome.already_resetting.append(name)
                continue
            if phone.node is None:
                outcome.undelivered.append(name)
                self._batch("phone.reset-undelivered", None, f"reset:{why}", phone)
                continue
            phone.records[phone.node] = (UNREGISTERED, stamp, facts.RIS_STATUS_REASON_NONE)
            self._batch("phone.unregistered", phone.node, f"reset:{why}", phone)
            phone.node = None
            phone.waiting = False
            phone.resetting = True
            phone.reset_queued = False
            phone.epoch += 1
            self._schedule(now + self.timing.reset_duration, "reset-done", phone)
            started.add(phone)
            outcome.reset.append(name)
        if started and self._reset_queue:
            self._reset_queue = deque(e for e in self._reset_queue if e[0] not in started)
        self._flush()
        self._wake.set()
        return outcome

    def _reset_done(self, phone: Phone) -> None:
        phone.resetting = False
        phone.itl = self.served_itl
        self._refresh_ctl(phone)
        self._attempt(phone)

    def _cscup_wave(self, now: float) -> None:
        for phone in self.phones:
            if not (phone.reset_queued or phone.resetting):
                phone.reset_queued = True
                self._reset_queue.append((phone, "cscup28852"))
        self._start_resets(now)
        self._schedule(now + self.timing.cscup28852_interval, "cscup", None)

    # -- trust and targets --------------------------------------------------------------

    def _cucm_nodes(self) -> list[Node]:
        return [n for n in self.cluster.nodes if n.product == "cucm"]

    def _node_usable(self, node: Node) -> bool:
        return self.cluster.reachable(node) and all(
            node.started(s) for s in facts.PHONE_REGISTRATION_SERVICES
        )

    def _active_fingerprints(self) -> frozenset[str]:
        return frozenset(
            pki.fingerprint(kc.cert)
            for n in self._cucm_nodes()
            if (kc := n.active.get("CallManager")) is not None
        )

    def _installed_fingerprints(self) -> frozenset[str]:
        return frozenset(
            pki.fingerprint(kc.cert)
            for n in self._cucm_nodes()
            if (kc := n.own.get("CallManager")) is not None
        )

    def current_ctl(self) -> frozenset[str]:
        """CallManager fingerprints of the CTL file TFTP serves."""
        ctl = self.cluster.ctl
        if ctl and "callmanager_fingerprints" in ctl:
            return frozenset(ctl["callmanager_fingerprints"])
        return self._initial_ctl

    def _secure(self, phone: Phone) -> bool:
        return phone.secure and self.cluster.security_mode == 1

    def _refresh_ctl(self, phone: Phone) -> None:
        if not self._secure(phone):
            return
        ctl = self.current_ctl()
        if ctl & phone.trusted:
            phone.trusted = ctl

    def _usable_for(self, phone: Phone, node: Node) -> bool:
        if not self._node_usable(node):
            return False
        if not self._secure(phone):
            return True
        # TLS registrations go through the service serving the CallManager certificate.
        activator = activating_services(self.cluster.spec.major_version).get("CallManager")
        if activator in node.services and not node.started(activator):
            return False
        return self._can_trust(phone, node)

    def _can_trust(self, phone: Phone, node: Node) -> bool:
        if not self._secure(phone):
            return True
        kc = node.active.get("CallManager")
        return kc is not None and pki.fingerprint(kc.cert) in phone.trusted

    def _target(self, phone: Phone) -> str | None:
        for hostname in phone.members:
            node = self.cluster.node(hostname)
            if self._usable_for(phone, node):
                return hostname
        return None

    def _blocked_by_ctl(self, phone: Phone) -> bool:
        return self._secure(phone) and any(
            self._node_usable(self.cluster.node(h)) for h in phone.members
        )

    def _detection_delay(self, phone: Phone, clean: bool) -> float:
        t = self.timing
        if phone.protocol == "SIP":
            return t.sip_register_delta + (t.sip_keepalive - t.sip_register_delta) * phone.phase
        if clean:
            return t.sccp_failover * phone.phase
        low, high = facts.SCCP_MISSED_KEEPALIVES
        return t.sccp_keepalive * (low + (high - low) * phone.phase)

    @staticmethod
    def _latest_record(phone: Phone) -> tuple[str, tuple[str, float, int]] | None:
        if not phone.records:
            return None
        return max(phone.records.items(), key=lambda item: item[1][1])

    # -- journal ------------------------------------------------------------------------

    def _batch(self, kind: str, node: str | None, reason: str, phone: Phone) -> None:
        self._batches[(kind, node, reason)].append(phone.name)

    def _flush(self) -> None:
        batches, self._batches = self._batches, defaultdict(list)
        for (kind, node, reason), names in batches.items():
            self.journal.record(kind, node, phones=names, reason=reason, count=len(names))

    # -- views --------------------------------------------------------------------------

    def ris_records(self, now: float | None = None) -> list[tuple[Phone, str, str, float, int]]:
        """Every RIS record still listed: (phone, node, status, epoch seconds, reason)."""
        now = time.time() if now is None else now
        retention = facts.RIS_UNREGISTERED_RETENTION * (self.timing.sip_keepalive / 120.0)
        out: list[tuple[Phone, str, str, float, int]] = []
        for phone in self.phones:
            for node, (status, stamp, reason) in phone.records.items():
                if status == UNREGISTERED and now - stamp > retention:
                    continue
                out.append((phone, node, status, stamp, reason))
        return out

    def snapshot(self) -> dict[str, object]:
        """Counts per node, unregistered phones, groups and pools (for the control API)."""
        per_node: dict[str, int] = {n.hostname: 0 for n in self._cucm_nodes()}
        unregistered: list[str] = []
        for phone in self.phones:
            if phone.node is None:
                unregistered.append(phone.name)
            else:
                per_node[phone.node] += 1
        return {
            "total": len(self.phones),
            "registered": per_node,
            "unregistered": unregistered,
            "cm_groups": {name: list(members) for name, members in self.groups.items()},
            "device_pools": dict(self.pools),
        }

    def metrics(self, since: float = 0.0, until: float | None = None) -> PhoneMetrics:
        """Metrics of the window from this lab's journal (``until`` defaults to now)."""
        until = time.time() if until is None else until
        entries = self.journal.entries("phone")
        return phone_metrics(entries, since, until)

    def peak_unregistered_fraction(self, since: float = 0.0, until: float | None = None) -> float:
        """Largest fraction of the phones unregistered at the same moment in the window."""
        return self.metrics(since, until).peak_unregistered_fraction
