"""What a renewal waits on now: one entry per step that runs on a node, while it runs.

A restart of a hung Cisco Tomcat, a CSR that a slow publisher takes minutes to export, an
upload, the CTL update, phones re-registering: each is one activity that may run for minutes
with nothing else to see. The workflow records here which node, which step and service, and
since when (``workflow.now()``, so the status query stays deterministic); ``ucrenew show``,
``watch`` and the dashboard say "waiting on node X for N minutes" from it, with their own
clock. Pure: no Temporal, no I/O.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Literal, Protocol, TypeVar

from pydantic import BaseModel, Field

from activities.models import UtcDatetime

WaitStep = Literal[
    "csr",
    "csr-check",
    "sso-disable",
    "upload-trust",
    "upload-cert",
    "ctl-update",
    "restart",
    "verify",
    "phones",
    "regenerate",
]

STEP_TEXT: dict[str, str] = {
    "csr": "CSR generation",
    "csr-check": "reading the pending CSR",
    "sso-disable": "utils sso disable",
    "upload-trust": "CA certificate upload",
    "upload-cert": "certificate upload",
    "ctl-update": "utils ctl update CTLFile",
    "restart": "restart",
    "verify": "verification",
    "phones": "phones re-registering",
    "regenerate": "set cert regen",
}

T = TypeVar("T")


class NodeWait(BaseModel):
    """A step that runs on one node now.

    Attributes:
        node: the node's FQDN (as in the inventory).
        step: what runs there.
        service: the service restarted, or the purpose of a CSR or upload.
        since: when the step began (workflow time, UTC).
    """

    node: str
    step: WaitStep
    service: str = Field(default="", description="the service restarted or the purpose")
    since: UtcDatetime

    def what(self) -> str:
        """The step in words, e.g. ``restart of Cisco Tomcat``."""
        text = STEP_TEXT.get(self.step, self.step)
        if self.step == "restart" and self.service:
            return f"restart of {self.service}"
        return f"{text} ({self.service})" if self.service else text

    def text(self, now: datetime) -> str:
        """``waiting on <node> for N minutes: <step> (since HH:MM UTC)``, for ``now``."""
        return (
            f"waiting on {self.node} for {duration_text(now - self.since)}: {self.what()} "
            f"(since {self.since:%H:%M:%S} UTC)"
        )


def duration_text(elapsed: timedelta) -> str:
    """``42 s``, ``1 minute``, ``7 minutes``, ``2 h 05 min``: how long a step has waited."""
    seconds = max(int(elapsed.total_seconds()), 0)
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    return f"{minutes // 60} h {minutes % 60:02d} min"


class _HasWaits(Protocol):
    waiting: list[NodeWait]


async def waiting_on(
    status: _HasWaits,
    now: datetime,
    node: str,
    step: WaitStep,
    work: Awaitable[T],
    service: str = "",
    on_change: Callable[[], None] | None = None,
) -> T:
    """Await ``work`` with a :class:`NodeWait` in ``status.waiting`` while it runs.

    Args:
        status: the renewal's status (its ``waiting`` list).
        now: the workflow's time (``workflow.now()``).
        node: the node the step runs on.
        step: what runs there.
        work: the step, typically ``run_activity(...)`` not awaited yet.
        service: the service restarted, or the purpose.
        on_change: called when the wait is added and when it is gone (the Temporal UI's
            current details are refreshed from the status).
    """
    wait = NodeWait(node=node, step=step, service=service, since=now)
    status.waiting.append(wait)
    if on_change is not None:
        on_change()
    try:
        result = await work
    except GeneratorExit:
        # The worker is evicting this run from its cache and closes the coroutine outside the
        # workflow's event loop: no workflow call may be made, and the run's state is dropped.
        raise
    except BaseException:
        _gone(status, wait, on_change)
        raise
    _gone(status, wait, on_change)
    return result


def _gone(status: _HasWaits, wait: NodeWait, on_change: Callable[[], None] | None) -> None:
    # By identity: two waits may be equal (the same step on the same node at once).
    status.waiting[:] = [w for w in status.waiting if w is not wait]
    if on_change is not None:
        on_change()
