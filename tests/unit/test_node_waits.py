"""Waiting on a node: the status entry a long step leaves while it runs, and how ``show``,
``watch`` and the dashboard's renewal page say it."""

from __future__ import annotations

import asyncio
import html
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from rich.console import Console

from console.render import status_view, waiting_lines
from service.dashboard.router import PHASES, templates
from service.principal import Principal
from service.readmodel import RenewalDetail, RenewalRow
from workflows.models import RenewalOptions, RenewalStatus
from workflows.node_waits import NodeWait, duration_text, waiting_on
from workflows.ui_metadata import current_details

SINCE = datetime(2026, 11, 30, 23, 10, tzinfo=UTC)
SUB1 = "cucm-sub1.lab.example.com"


def status(*waits: NodeWait) -> RenewalStatus:
    return RenewalStatus(
        change_id="CHG1",
        cluster="lab",
        purposes=["tomcat"],
        ca="local",
        requested_by="alice",
        phase="restarts",
        waiting=list(waits),
    )


def tomcat_restart(since: datetime = SINCE) -> NodeWait:
    return NodeWait(node=SUB1, step="restart", service="Cisco Tomcat", since=since)


@pytest.mark.parametrize(
    ("elapsed", "text"),
    [
        (timedelta(seconds=42), "42 s"),
        (timedelta(seconds=61), "1 minute"),
        (timedelta(minutes=50, seconds=59), "50 minutes"),
        (timedelta(hours=2, minutes=5), "2 h 05 min"),
        (timedelta(seconds=-3), "0 s"),
    ],
)
def test_how_long_a_step_has_waited(elapsed: timedelta, text: str) -> None:
    assert duration_text(elapsed) == text


def test_the_wait_says_node_step_service_and_since_when() -> None:
    wait = tomcat_restart()
    assert wait.text(SINCE + timedelta(minutes=7, seconds=30)) == (
        f"waiting on {SUB1} for 7 minutes: restart of Cisco Tomcat (since 23:10:00 UTC)"
    )
    csr = NodeWait(node="cucm-pub", step="csr", service="tomcat", since=SINCE)
    assert csr.what() == "CSR generation (tomcat)"


async def test_a_wait_is_listed_while_its_step_runs_and_gone_after() -> None:
    st = status()
    release = asyncio.Event()

    async def step() -> str:
        await release.wait()
        return "done"

    task = asyncio.create_task(waiting_on(st, SINCE, SUB1, "restart", step(), "Cisco Tomcat"))
    await asyncio.sleep(0)
    assert st.waiting == [tomcat_restart()]
    release.set()
    assert await task == "done"
    assert st.waiting == []


async def test_a_failed_step_leaves_no_wait_behind() -> None:
    st = status()

    async def step() -> None:
        raise RuntimeError("the node refused")

    with pytest.raises(RuntimeError):
        await waiting_on(st, SINCE, SUB1, "upload-cert", step(), "tomcat")
    assert st.waiting == []


def test_an_evicted_run_makes_no_workflow_call() -> None:
    """A worker evicting a cached run closes its coroutine outside the workflow's event loop
    (GeneratorExit at the await): the wait must then call nothing, or the SDK's
    "Not in workflow event loop" error escapes as an unraisable exception. A failed step
    still refreshes the details (above)."""
    st = status()
    calls: list[int] = []

    class Suspend:
        def __await__(self):  # type: ignore[no-untyped-def]
            yield

    async def step() -> None:
        await Suspend()

    coro = waiting_on(st, SINCE, SUB1, "restart", step(), "Cisco Tomcat", lambda: calls.append(1))
    coro.send(None)  # runs up to the step's suspension: the wait is shown
    assert calls == [1]
    coro.close()  # what eviction does
    assert calls == [1]


async def test_two_equal_waits_at_once_end_one_by_one() -> None:
    st = status()
    first, second = asyncio.Event(), asyncio.Event()
    a = asyncio.create_task(waiting_on(st, SINCE, SUB1, "verify", first.wait()))
    b = asyncio.create_task(waiting_on(st, SINCE, SUB1, "verify", second.wait()))
    await asyncio.sleep(0)
    assert len(st.waiting) == 2
    first.set()
    await a
    assert len(st.waiting) == 1
    second.set()
    await b
    assert st.waiting == []


def test_show_and_watch_print_the_wait() -> None:
    out = Console(width=200, record=True)
    out.print(status_view(status(tomcat_restart(datetime.now(UTC) - timedelta(minutes=12)))))
    shown = out.export_text()
    assert f"waiting on {SUB1} for 12 minutes: restart of Cisco Tomcat" in shown


def test_a_long_wait_stands_out() -> None:
    now = SINCE + timedelta(minutes=6)
    (slow,) = waiting_lines(status(tomcat_restart()), now)
    (fresh,) = waiting_lines(status(tomcat_restart(now - timedelta(seconds=20))), now)
    assert slow.style == "yellow" and fresh.style == "cyan"


def test_the_renewal_page_shows_the_wait() -> None:
    st = status(tomcat_restart(datetime.now(UTC) - timedelta(minutes=3)))
    row = RenewalRow(change_id="CHG1", cluster="lab")
    detail = RenewalDetail(change_id="CHG1", execution_status="running", status=st, row=row)
    page = templates.get_template("renewal.html").render(
        request=SimpleNamespace(session={}),
        principal=Principal(name="rita", groups=[], via="password"),
        now=datetime.now(UTC),
        phases=PHASES,
        d=detail,
        s=st,
        row=row,
        actions=[],
        required=0,
        gate_approvals={},
        policy_error="",
        decisions=[],
    )
    cell = html.unescape(
        page[page.index('id="node-waits"') : page.index("</dd>", page.index('id="node-waits"'))]
    )
    assert f"waiting on {SUB1} for 3 min: restart of Cisco Tomcat" in cell


def test_the_default_restart_timeout_fits_a_tomcat_restart() -> None:
    """``utils service restart Cisco Tomcat`` takes 1-4 min and the web applications up to two
    more; Cisco's own clients budget 240-600 s (cucm-interfaces.md §13). A hung Tomcat is
    reported after this, once, not after three attempts of 15 minutes."""
    opts = RenewalOptions()
    assert 360 <= opts.restart_timeout_seconds <= 600
    assert opts.step_heartbeat_seconds <= 60


def test_the_temporal_ui_current_details_name_the_node() -> None:
    details = current_details(status(tomcat_restart()))
    assert f"**On a node** {SUB1}: restart of Cisco Tomcat since 2026-11-30 23:10:00 UTC" in details
    assert "**On a node**" not in current_details(status())


async def test_the_change_callback_runs_when_a_wait_begins_and_ends() -> None:
    st = status()
    seen: list[int] = []

    async def step() -> None:
        seen.append(len(st.waiting))

    await waiting_on(st, SINCE, SUB1, "csr", step(), on_change=lambda: seen.append(len(st.waiting)))
    assert seen == [1, 1, 0]
