"""The dashboard in headless Chromium (Debian's ``chromium``, driven through playwright with
the system browser: nothing is downloaded) against the real stack: dev server, worker, lab,
and the service on a loopback port with a local users file.

A requester and two approvers (the lab cluster's plan gate needs two of ``voice-cab``) see a
renewal waiting for approval; the requester is refused self-approval; the approvers approve
with the plan hash shown; the open pages follow the renewal as it moves on, without a
reload; a user outside the approver group sees no approve button and is refused by the API.
The run writes docs/screenshots/list.png, renewal.png and fleet.png.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from temporalio.client import WorkflowExecutionStatus

from tests.e2e.conftest import Stack
from tests.e2e.dashboard_service import PASSWORD, RunningService, running_service, set_change_policy
from workers.fleet import run_fleet_scan
from workflows.renewal import CertRenewalWorkflow

pytestmark = pytest.mark.e2e

#: CI sets this: there a missing browser is a failure, never a quiet skip.
REQUIRE_BROWSER = os.environ.get("UCRENEW_REQUIRE_BROWSER") == "1"


def _missing(reason: str) -> None:
    if REQUIRE_BROWSER:
        pytest.fail(f"{reason} (UCRENEW_REQUIRE_BROWSER=1)", pytrace=False)
    pytest.skip(reason)


try:
    import playwright.async_api as playwright_api
except ImportError:
    _missing("playwright is not installed (bash scripts/bootstrap.sh)")

CHROMIUM = os.environ.get("UCRENEW_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
USERS = {
    "rita": ["voice-cab", "voice-engineers"],
    "alice": ["voice-cab"],
    "bob": ["voice-cab", "voice-engineers"],
    "olga": ["voice-ops"],
}


@pytest_asyncio.fixture(loop_scope="session")
async def browser() -> AsyncIterator[Any]:
    if not Path(CHROMIUM).exists():
        _missing(f"no chromium at {CHROMIUM} (apt install chromium)")
    async with playwright_api.async_playwright() as pw:
        b = await pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        try:
            yield b
        finally:
            await b.close()


async def signed_in(browser: Any, service: RunningService, name: str, contexts: list[Any]) -> Any:
    """A page of a fresh browser context, signed in as ``name`` with the password form."""
    context = await browser.new_context(
        base_url=service.base_url, viewport={"width": 1400, "height": 900}
    )
    contexts.append(context)
    page = await context.new_page()
    await page.goto("/")
    assert "/login" in page.url  # nobody signed in yet
    await page.get_by_label("User name").fill(name)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(f"{service.base_url}/")
    return page


async def api_post(page: Any, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """POST from the page as its script does (session cookie and CSRF header)."""
    result: dict[str, Any] = await page.evaluate(
        """async ([path, body]) => {
            const csrf = document.querySelector('meta[name="csrf-token"]').content;
            const r = await fetch(path, {method: "POST", body: JSON.stringify(body),
              headers: {"Content-Type": "application/json", "X-CSRF-Token": csrf}});
            return {status: r.status, body: await r.json()};
        }""",
        [path, body],
    )
    return result["status"], result["body"]


async def test_approvers_approve_a_renewal_the_pages_follow_it_live(
    stack: Stack, browser: Any, tmp_path: Path
) -> None:
    set_change_policy(
        stack.settings.inventory,  # type: ignore[arg-type]
        stack.lab.cluster_entry.name,
        {"approvals": {"plan": {"approver_groups": ["voice-cab"], "required": 2}}},
    )
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    async with (
        stack.worker(),
        running_service(stack.client, stack.settings, tmp_path / "service", USERS) as service,
    ):
        handle = await stack.start(requested_by="rita")
        contexts: list[Any] = []
        try:
            await stack.wait_for(handle, "approval")
            status = await handle.query(CertRenewalWorkflow.get_status)
            assert status.plan is not None
            plan_hash = status.plan.plan_hash

            # the requester sees the renewal waiting for the approver group
            rita = await signed_in(browser, service, "rita", contexts)
            row = rita.locator(f'tr[data-change-id="{handle.id}"]')
            await row.wait_for()
            assert "approve-plan" in await row.locator('[data-col="phase"]').inner_text()
            assert await row.locator('[data-col="waiting_on"]').inner_text() == "voice-cab"
            assert await row.locator('[data-col="requester"]').inner_text() == "rita"
            await rita.screenshot(path=str(SCREENSHOTS / "list.png"), full_page=True)

            # the requester (an approver too) is offered no approval, and the API refuses it
            await rita.goto(f"/renewals/{handle.id}")
            assert await rita.locator("#approve-form").count() == 0
            status, body = await api_post(
                rita, f"/api/v1/renewals/{handle.id}/approve", {"plan_hash": plan_hash}
            )
            assert status == 403 and body["error"]["code"] == "self-approval", body

            # outside the approver group: no approve button, and a 403 from the API
            olga = await signed_in(browser, service, "olga", contexts)
            await olga.goto(f"/renewals/{handle.id}")
            assert await olga.locator("#approve-form").count() == 0
            status, body = await api_post(
                olga, f"/api/v1/renewals/{handle.id}/approve", {"plan_hash": plan_hash}
            )
            assert status == 403 and body["error"]["code"] == "not-an-approver", body

            # the first approver sees the plan and approves the hash shown
            alice = await signed_in(browser, service, "alice", contexts)
            await alice.goto(f"/renewals/{handle.id}")
            assert await alice.locator("#plan-hash").inner_text() == plan_hash
            assert await alice.locator("#approve-hash").inner_text() == plan_hash
            assert await alice.locator("#plan-steps tbody tr").count() > 3
            await alice.evaluate("window.__notReloaded = true")
            await alice.get_by_label("Comment (justification)").fill("CAB-7: plan reviewed")
            await alice.get_by_role("button", name="Approve").click()
            await alice.locator("#action-result").filter(has_text="approve").wait_for()
            await alice.locator("#approve-form").wait_for(state="detached")  # one approval each
            assert "approve-plan" in await alice.locator("#phase").inner_text()
            assert "1 of 2 approvals (alice)" in await alice.locator("#gate-state").inner_text()

            # the second approver approves; every open page follows without a reload
            bob = await signed_in(browser, service, "bob", contexts)
            await bob.goto(f"/renewals/{handle.id}")
            await bob.locator("#approve-form").wait_for()
            await bob.screenshot(path=str(SCREENSHOTS / "renewal.png"), full_page=True)
            await rita.goto("/")
            await rita.locator(f'tr[data-change-id="{handle.id}"]').wait_for()
            await rita.evaluate("window.__notReloaded = true")
            await bob.get_by_label("Comment (justification)").fill("CAB-7: second approver")
            await bob.get_by_role("button", name="Approve").click()

            moved_on = """id => {
                const el = document.querySelector('#phase');
                return el && !el.textContent.includes('approve-plan');
            }"""
            await alice.wait_for_function(moved_on, arg=handle.id, timeout=30_000)
            assert await alice.evaluate("window.__notReloaded") is True
            audit = await alice.locator("#audit").inner_text()
            assert "alice" in audit and "bob" in audit
            in_list = f"""() => {{
                const row = document.querySelector('tr[data-change-id="{handle.id}"]');
                return !row || !row.textContent.includes('approve-plan');
            }}"""
            await rita.wait_for_function(in_list, timeout=30_000)
            assert await rita.evaluate("window.__notReloaded") is True

            # the fleet page from a scan of the lab cluster
            await run_fleet_scan(stack.client, stack.settings, task_queue=stack.task_queue)
            await bob.goto("/fleet")
            await bob.get_by_role("heading", name=stack.lab.cluster_entry.name).wait_for()
            assert await bob.locator("table.fleet tbody tr").count() > 0
            await bob.screenshot(path=str(SCREENSHOTS / "fleet.png"), full_page=True)
        finally:
            for context in contexts:  # their event streams end before the service stops
                await context.close()
            with contextlib.suppress(Exception):
                desc = await handle.describe()
                if desc.status == WorkflowExecutionStatus.RUNNING:
                    await handle.terminate("browser test over")
