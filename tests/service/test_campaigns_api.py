"""The campaign API and pages (``/api/v1/campaigns``, ``/campaigns``) on the dev server
(listing needs its visibility) with the campaign's stub renewals: start, read, pause,
resume and abort as the signed-in person, refused to people outside
``campaigns.operators``, and the pages' rows and buttons."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest_asyncio
from temporalio.client import Client
from temporalio.worker import Worker

from service.app import create_app
from service.settings import ServiceSettings
from tests.service.conftest import USERS, asgi_client, sign_in
from tests.workflows.test_campaign import Fleet, StubRenewal, fleet_of
from workers.settings import UcrenewSettings
from workflows.campaign import CampaignWorkflow

INVENTORY = """\
campaigns:
  operators: [change-board]
clusters:
- name: lab
  domain: lab.example.com
  publisher: cucm-pub.lab.example.com
  nodes:
  - fqdn: cucm-pub.lab.example.com
    role: publisher
  credentials:
    os_admin: {username: admin, password: "env:UCR_TEST_OS"}
    app_user: {username: axl, password: "env:UCR_TEST_APP"}
"""


@pytest_asyncio.fixture(loop_scope="session")
async def app(
    dev_server_env: Client,
    make_settings: Callable[..., ServiceSettings],
    tmp_path: Path,
    task_queue: str,
) -> AsyncIterator[Any]:
    inventory = tmp_path / "clusters.yaml"
    inventory.write_text(INVENTORY)
    settings = make_settings(
        ucrenew=UcrenewSettings(
            state_dir=tmp_path / "state", inventory=inventory, task_queue=task_queue
        )
    )
    fleet: Fleet = fleet_of(4)
    async with Worker(
        dev_server_env,
        task_queue=task_queue,
        workflows=[CampaignWorkflow, StubRenewal],
        activities=fleet.activities(),
    ):
        yield create_app(settings, client=dev_server_env)


async def as_(app: Any, name: str) -> httpx.AsyncClient:
    async with asgi_client(app) as c:
        r = await c.post("/api/v1/tokens", json={"username": name, "password": USERS[name][0]})
    assert r.status_code == 200, r.text
    client = asgi_client(app)
    client.headers["Authorization"] = f"Bearer {r.json()['token']}"
    return client


START = {"purposes": ["tomcat"], "selection": {"tags": ["emea"]}, "limit": 1}


async def test_operators_start_pause_resume_and_abort(app: Any) -> None:
    cid = f"CMP-{uuid.uuid4().hex[:6]}"
    board = await as_(app, "approver1")
    outsider = await as_(app, "outsider")
    async with board, outsider:
        refused = await outsider.post("/api/v1/campaigns", json={"campaign_id": cid, **START})
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "not-permitted"
        assert "campaigns.operators" in refused.json()["error"]["message"]

        started = await board.post("/api/v1/campaigns", json={"campaign_id": cid, **START})
        assert started.status_code == 201, started.text
        assert started.json()["status"]["requested_by"] == "approver1"
        taken = await board.post("/api/v1/campaigns", json={"campaign_id": cid, **START})
        assert (taken.status_code, taken.json()["error"]["code"]) == (409, "campaign-id-taken")

        no = await outsider.post(f"/api/v1/campaigns/{cid}/pause", json={"reason": "x"})
        assert no.status_code == 403
        paused = await board.post(f"/api/v1/campaigns/{cid}/pause", json={"reason": "freeze"})
        assert paused.status_code == 200, paused.text
        assert paused.json()["status"]["phase"] == "paused"
        assert paused.json()["allowed_actions"] == ["resume", "abort"]
        again = await board.post(f"/api/v1/campaigns/{cid}/pause", json={"reason": "x"})
        assert (again.status_code, again.json()["error"]["code"]) == (409, "refused")

        view = await outsider.get(f"/api/v1/campaigns/{cid}")
        assert view.status_code == 200
        assert view.json()["allowed_actions"] == []  # may read, not act
        assert view.json()["status"]["paused_reason"] == "paused by approver1: freeze"

        resumed = await board.post(f"/api/v1/campaigns/{cid}/resume", json={"reason": "go"})
        assert resumed.json()["status"]["phase"] == "running"
        aborted = await board.post(
            f"/api/v1/campaigns/{cid}/abort", json={"reason": "done here", "cancel_running": True}
        )
        assert aborted.status_code == 200, aborted.text
        assert aborted.json()["status"]["abort_reason"] == "approver1: done here"
        audit = [(e["principal"], e["action"]) for e in aborted.json()["status"]["audit"]]
        assert audit[1:] == [
            ("approver1", "paused"),
            ("approver1", "resumed"),
            ("approver1", "aborted (cancelling running renewals)"),
        ]

        listed = await outsider.get("/api/v1/campaigns")
        assert listed.status_code == 200
        assert cid in [c["campaign_id"] for c in listed.json()["campaigns"]]
        assert listed.json()["may_start"] is False

        missing = await board.get("/api/v1/campaigns/CMP-none")
        assert missing.status_code == 404
        bad = await board.post(f"/api/v1/campaigns/{cid}/explode", json={"reason": "x"})
        assert bad.status_code == 422


async def test_pages_show_progress_rows_and_buttons_to_operators_only(app: Any) -> None:
    cid = f"CMP-{uuid.uuid4().hex[:6]}"
    board = await as_(app, "approver1")
    async with board:
        r = await board.post("/api/v1/campaigns", json={"campaign_id": cid, **START})
        assert r.status_code == 201, r.text
    try:
        async with asgi_client(app) as browser:
            await sign_in(browser, "approver1")
            page = await browser.get(f"/campaigns/{cid}")
            assert page.status_code == 200
            assert 'id="pause-form"' in page.text and 'id="abort-form"' in page.text
            assert 'data-cluster="c0"' in page.text and 'data-cluster="c3"' not in page.text
            listing = await browser.get("/campaigns")
            assert f'href="/campaigns/{cid}"' in listing.text
            missing = await browser.get("/campaigns/CMP-none")
            assert missing.status_code == 404
        async with asgi_client(app) as browser:
            await sign_in(browser, "outsider")
            page = await browser.get(f"/campaigns/{cid}")
            assert page.status_code == 200
            assert "pause-form" not in page.text
            assert "Nothing you can do on this campaign now." in page.text
    finally:
        async with await as_(app, "approver1") as board:
            await board.post(
                f"/api/v1/campaigns/{cid}/abort",
                json={"reason": "test over", "cancel_running": True},
            )
