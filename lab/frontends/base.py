"""What every frontend of the twin shares: the twin it serves and the gates of a request.

:class:`Twin` is the running twin as the protocol frontends see it: the cluster and its
phones, the journal, the faults, the accounts, and the checks each request goes through
(HTTP Basic, the realtime rate, a ``response-lost`` fault). :class:`lab.server.Lab` is a
``Twin`` that also owns the listeners; frontends depend on this module, never on the server.
"""

from __future__ import annotations

import asyncio
import base64
import secrets
import time

from aiohttp import web

from lab.cluster import Cluster
from lab.faults import FaultSet
from lab.journal import Journal
from lab.nodes import Node
from lab.phones import PhoneSystem
from lab.timing import TimingProfile
from lab.topology import TopologySpec


class ResponseLost(Exception):
    """Raised by a handler after applying a change whose response must be lost (fault)."""


class Twin:
    """The running twin as its frontends see it.

    Attributes:
        spec: The topology the twin was built from.
        timing: Durations of state transitions and protocol delays.
        journal: Every state change, in order.
        faults: The injected faults.
        cluster: Nodes, services and certificates (set once the twin starts).
        phones: The phones and their scheduler (set once the twin starts).
        credentials: Account (``os_admin``, ``app_user``) → (user, password).
    """

    cluster: Cluster
    phones: PhoneSystem

    def __init__(self, spec: TopologySpec, timing: TimingProfile) -> None:
        """Create the journal, the fault set and fresh passwords of the twin's accounts.

        Args:
            spec: The topology.
            timing: The timing profile.
        """
        self.spec = spec
        self.timing = timing
        self.journal = Journal()
        self.faults = FaultSet(seed=spec.seed)
        self.credentials = {
            "os_admin": (spec.os_admin_user, secrets.token_urlsafe(18)),
            "app_user": (spec.app_user, secrets.token_urlsafe(18)),
        }
        self._realtime_calls: dict[str, list[float]] = {}

    def check_auth(self, request: web.Request, account: str, realm: str) -> None:
        """HTTP Basic against one of the lab's accounts; raises 401 with the realm."""
        user, password = self.credentials[account]
        header = request.headers.get("Authorization", "")
        ok = False
        if header.startswith("Basic "):
            try:
                given = base64.b64decode(header[6:]).decode()
            except ValueError:
                given = ""
            u, _, p = given.partition(":")
            ok = secrets.compare_digest(u, user) and secrets.compare_digest(p, password)
        if not ok:
            raise web.HTTPUnauthorized(
                headers={"WWW-Authenticate": f'Basic realm="{realm}"'},
                text="<html><body><h1>HTTP Status 401 - Unauthorized</h1></body></html>",
                content_type="text/html",
            )

    def check_password(self, account: str, username: str, password: str) -> bool:
        """Whether a user name and password are those of one of the lab's accounts."""
        user, expected = self.credentials[account]
        return secrets.compare_digest(username.encode(), user.encode()) and secrets.compare_digest(
            password.encode(), expected.encode()
        )

    def check_ssh_password(self, username: str, password: str) -> bool:
        """Password check of the OS platform admin (the CLI account)."""
        return self.check_password("os_admin", username, password)

    def realtime_throttled(self, node: Node) -> bool:
        """Whether a Control Center / RisPort call on ``node`` exceeds the realtime rate."""
        if self.faults.take("throttle", node.hostname):
            return True
        now = time.monotonic()
        calls = [t for t in self._realtime_calls.get(node.hostname, []) if now - t < 60.0]
        if len(calls) >= self.timing.realtime_rate_per_minute:
            self._realtime_calls[node.hostname] = calls
            return True
        calls.append(now)
        self._realtime_calls[node.hostname] = calls
        return False

    async def hold_operation(self, node: Node, operation: str) -> None:
        """Wait while an ``operation-hang`` fault targets this operation on ``node``.

        Journalled once as ``fault.fired`` when the wait begins, so a test knows the operation
        is held; the operation takes effect once the fault is cleared (if the client is gone
        by then, as a real node finishes what it started).
        """
        if not self.faults.has("operation-hang", node.hostname, operation):
            return
        self.journal.record(
            "fault.fired", node.hostname, kind="operation-hang", operation=operation
        )
        # Faults are plain rules without events: a hang is polled until it is cleared.
        while self.faults.has("operation-hang", node.hostname, operation):  # noqa: ASYNC110
            await asyncio.sleep(0.02)

    def lose_response(self, node: Node, operation: str) -> None:
        """Raise ResponseLost when a ``response-lost`` fault targets this operation now."""
        if self.faults.take("response-lost", node.hostname, operation):
            self.journal.record(
                "fault.fired", node.hostname, kind="response-lost", operation=operation
            )
            raise ResponseLost(operation)


#: The node an HTTPS application serves.
NODE_KEY: web.AppKey[Node] = web.AppKey("node", Node)
#: The twin an HTTPS application belongs to.
LAB_KEY: web.AppKey[Twin] = web.AppKey("lab", Twin)
