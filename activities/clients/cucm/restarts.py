"""Restarting a service on a node, at most once per change, and waiting until it serves again.

:class:`ServiceRestart` reads back before it acts: a service whose start time lies after
``not_before`` counts as restarted already, and a restart still under way (an interrupted
earlier attempt's) is waited for instead of repeated. Cisco Tomcat restarts over SSH, since
Control Center is served by Tomcat; every other service restarts through Control Center.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from activities import catalog
from activities.clients.cucm.cli import CucmCli
from activities.clients.cucm.controlcenter import ControlCenterClient, ServiceStatus
from activities.clients.cucm.errors import (
    CucmError,
    CucmServiceTimeout,
    CucmUnreachable,
    ServiceFailedToStart,
    ServiceHung,
    ServiceNotActivated,
    ServiceNotServing,
)
from activities.clients.cucm.tls import probe_tls
from activities.clients.cucm.transport import BasicAuth, NodeEndpoint


def _ignore(_: str) -> None:
    return None


def _unprefixed(exc: CucmError) -> str:
    """The error's message without the node its ``str`` starts with (said again around it)."""
    text = str(exc)
    prefix = f"{exc.node}: " if exc.node else ""
    return text[len(prefix) :] if prefix and text.startswith(prefix) else text


@dataclass(frozen=True)
class ServiceRestart:
    """One service's restart on one node; :meth:`run` does it.

    Attributes:
        endpoint: The node.
        service: Exact service name, e.g. ``Cisco CallManager``.
        app_user: The serviceability application user (Control Center).
        os_admin: The OS platform admin (CLI).
        not_before: A start after this instant counts as the restart already done.
        timeout: Seconds the restart may take.
        poll_interval: Seconds between status polls.
        progress: Called with a line about each state seen.
    """

    endpoint: NodeEndpoint
    service: str
    app_user: BasicAuth
    os_admin: BasicAuth
    not_before: datetime
    timeout: float = 600.0
    poll_interval: float = 5.0
    progress: Callable[[str], object] = _ignore

    @property
    def node(self) -> str:
        """FQDN of the node."""
        return self.endpoint.fqdn

    async def run(self) -> bool:
        """Restart the service unless that already happened, and wait until it serves again.

        Cisco Tomcat restarts with ``utils service restart`` and the wait ends when HTTPS
        answers; other services restart through Control Center and the wait ends when their
        start time proves the restart. A service that fails to start, or is still starting
        when ``timeout`` runs out, is reported rather than restarted again: another restart
        would fail the same way or wait as long again.

        Returns:
            Whether the restart had happened already, or was under way, so none was started.

        Raises:
            ServiceNotActivated: The service is not activated on the node.
            ServiceFailedToStart: The service ended NOTRUNNING (stopped) after the start.
            ServiceHung: The service was still starting when ``timeout`` ran out.
            ServiceNotServing: Tomcat restarted but HTTPS does not answer within ``timeout``.
            CucmError: Other Control Center or CLI errors (a lost session: retryable).
        """
        try:
            if self.service != catalog.TOMCAT:
                return await self._by_control_center()
            return await self._tomcat()
        except ServiceFailedToStart as exc:
            raise ServiceFailedToStart(
                f"{_unprefixed(exc)}. ucrenew restarts a service once and does not try again: "
                f"find out why it stops there (`utils service list`, the service's trace files "
                f"in RTMT), start it (`utils service start {self.service}`), then retry the "
                "step",
                node=self.node,
                service=self.service,
            ) from None
        except ServiceHung:
            raise
        except ServiceNotServing:
            raise
        except CucmServiceTimeout as exc:
            raise self._hung(_unprefixed(exc)) from None

    def _hung(self, detail: str) -> ServiceHung:
        return ServiceHung(
            f"{detail}: hung while starting, and ucrenew does not restart it again. Look at "
            f"the node (`utils service list`, `show status`), get {self.service} started "
            "there, then retry the step",
            node=self.node,
            service=self.service,
        )

    async def _tomcat(self) -> bool:
        deadline = time.monotonic() + self.timeout
        already = await self.started_after()
        if not already:
            self.progress(f"restarting {self.service} on {self.node}")
            async with CucmCli(self.endpoint, self.os_admin) as shell:
                await shell.restart_service(
                    self.service,
                    timeout=self.timeout,
                    on_progress=self.progress,
                    poll_interval=self.poll_interval,
                )
        self.progress(f"waiting for HTTPS on {self.node}")
        while True:
            try:
                await probe_tls(self.endpoint, self.endpoint.https_port)
                return already
            except CucmUnreachable as exc:
                if time.monotonic() > deadline:
                    raise ServiceNotServing(
                        f"{self.service} restarted on {self.node} but HTTPS does not answer "
                        f"after {self.timeout:.0f}s: {exc}; ucrenew does not restart it again. "
                        f"Check the web applications on {self.node} (`utils service list`, "
                        "https://<node>:8443/), then retry the step",
                        service=self.service,
                        retryable=False,
                    ) from None
                await asyncio.sleep(min(self.poll_interval, 1.0))

    async def started_after(self) -> bool:
        """Whether the service started after ``not_before``, or a restart of it is under way.

        Control Center tells when the service started. While Cisco Tomcat itself restarts it
        does not answer, so the CLI tells whether a restart is in progress: an attempt that
        died mid-restart must wait for that one, not start another. A restart seen under way
        is waited for (up to ``timeout``) and counts once the service is started.

        Raises:
            ServiceHung: The restart under way is still under way after ``timeout``.
        """
        try:
            # Asked once: Control Center does not answer while Tomcat restarts, and the CLI
            # below then tells what it cannot.
            async with ControlCenterClient(self.endpoint, self.app_user, reads=None) as cc:
                statuses = await cc.get_service_status([self.service])
        except CucmError:
            pass
        else:
            for s in statuses:
                if s.name == self.service and s.started_at is not None:
                    # UpTime has whole-second resolution and errs late: a start within a
                    # second before not_before could read as after it; restarts take far longer.
                    return s.started_at > self.not_before.timestamp()
            return False
        deadline = time.monotonic() + self.timeout
        in_progress = False
        async with CucmCli(self.endpoint, self.os_admin) as shell:
            while True:
                line = (await shell.service_list()).get(self.service)
                if line is not None and line.started:
                    return in_progress
                if line is None or line.status not in ("STARTING", "STOPPING"):
                    return False
                if time.monotonic() > deadline:
                    # An earlier attempt's restart hangs: a new one would only be refused
                    # ("Operation is pending") or hang alike.
                    raise self._hung(f"{self.service} still {line.status} after {self.timeout:g} s")
                in_progress = True
                await asyncio.sleep(self.poll_interval)

    async def _by_control_center(self) -> bool:
        async with ControlCenterClient(self.endpoint, self.app_user) as cc:
            before = next(
                (s for s in await cc.get_service_status([self.service]) if s.name == self.service),
                None,
            )
            if before is None or not before.activated:
                raise ServiceNotActivated(
                    f"{self.service} is not activated on {self.node}",
                    service=self.service,
                    retryable=False,
                )
            started = before.started_at
            if started is not None and started > self.not_before.timestamp():
                return True
            self.progress(f"restarting {self.service} on {self.node}")
            if before.status in ("Starting", "Stopping"):
                # A restart is under way (an earlier attempt's): wait for it, do not add one.
                await cc.wait_for_status(
                    self.service,
                    timeout=self.timeout,
                    poll_interval=self.poll_interval,
                    on_poll=self._polled,
                )
                return True
            requested_at = time.time()
            await cc.control_services("Restart", [self.service])
            await cc.wait_for_status(
                self.service,
                started_after=started if started is not None else requested_at,
                timeout=self.timeout,
                poll_interval=self.poll_interval,
                on_poll=self._polled,
            )
        return False

    def _polled(self, status: ServiceStatus) -> None:
        self.progress(f"{status.name} {status.status}")
