"""The campaign pages in headless Chromium (the system browser through playwright, nothing
downloaded) against the real stack: an operator pauses a campaign with the page's button and
the page follows without a reload; a person outside ``campaigns.operators`` sees no button.
Writes docs/screenshots/campaign.png."""

from __future__ import annotations

import contextlib
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from temporalio.service import RPCError

from tests.e2e.conftest import FAST_OPTIONS, Stack
from tests.e2e.conftest import lab_dir as lab_dir  # the stack's fixtures, shared
from tests.e2e.conftest import stack as stack
from tests.e2e.dashboard_service import running_service
from tests.e2e.test_campaign_e2e import started
from tests.e2e.test_dashboard_browser import SCREENSHOTS, signed_in
from tests.e2e.test_dashboard_browser import browser as browser
from workers.campaigns import start_campaign
from workflows.campaign import CampaignWorkflow
from workflows.campaign_models import CampaignAction, CampaignInput
from workflows.renewal import CertRenewalWorkflow

pytestmark = pytest.mark.e2e

USERS = {"carla": ["voice-ops"], "olga": ["helpdesk"]}


def campaign_operators(inventory: Path, groups: list[str]) -> None:
    data = yaml.safe_load(inventory.read_text(encoding="utf-8"))
    data["campaigns"] = {"operators": groups}
    inventory.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


async def test_operator_pauses_a_campaign_from_its_page(
    stack: Stack, browser: Any, tmp_path: Path
) -> None:
    campaign_operators(stack.settings.inventory_path, ["voice-ops"])
    cluster = stack.lab.cluster_entry.name
    inp = CampaignInput(
        campaign_id=f"CMP-{uuid.uuid4().hex[:8]}",
        purposes=["tomcat"],
        selection={"names": [cluster]},
        requested_by="carla",
        options=FAST_OPTIONS,
    )
    campaign = stack.client.get_workflow_handle_for(CampaignWorkflow.run, inp.campaign_id)
    child = stack.client.get_workflow_handle_for(
        CertRenewalWorkflow.run, f"{inp.campaign_id}-{cluster}"
    )
    contexts: list[Any] = []
    async with (
        stack.worker(),
        running_service(stack.client, stack.settings, tmp_path / "service", USERS) as service,
    ):
        try:
            await start_campaign(stack.client, inp, task_queue=stack.task_queue)
            await started(child)
            await stack.wait_for(child, "sso-confirm")

            carla = await signed_in(browser, service, "carla", contexts)
            await carla.goto("/campaigns")
            await carla.locator(f'a[href="/campaigns/{inp.campaign_id}"]').click()
            row = carla.locator(f'tr[data-cluster="{cluster}"]')
            assert "running" in await row.inner_text()
            assert await row.locator(f'a[href="/renewals/{child.id}"]').count() == 1
            await carla.evaluate("window.__notReloaded = true")
            await carla.locator("#pause-reason").fill("CAB freeze")
            await carla.get_by_role("button", name="Pause").click()
            await carla.locator("#action-result").filter(has_text="pause").wait_for()
            await carla.locator("#resume-form").wait_for()
            assert await carla.locator("#campaign-phase").inner_text() == "paused"
            assert (
                "paused by carla: CAB freeze" in await carla.locator("#paused-reason").inner_text()
            )
            assert await carla.evaluate("window.__notReloaded") is True
            await carla.screenshot(path=str(SCREENSHOTS / "campaign.png"), full_page=True)

            olga = await signed_in(browser, service, "olga", contexts)
            await olga.goto(f"/campaigns/{inp.campaign_id}")
            assert await olga.locator("form.action").count() == 0
            assert "paused" in await olga.locator("#campaign-phase").inner_text()
        finally:
            for context in contexts:
                await context.close()
            with contextlib.suppress(RPCError):
                if (await campaign.describe()).close_time is None:
                    await campaign.execute_update(
                        CampaignWorkflow.abort,
                        CampaignAction(principal="e2e", reason="test over", cancel_running=True),
                    )
                    await campaign.result()
            with contextlib.suppress(RPCError):
                if (await child.describe()).close_time is None:
                    await child.terminate("test over")
