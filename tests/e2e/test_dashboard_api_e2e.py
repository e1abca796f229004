"""The dashboard's read API and live updates against the real stack: the in-flight list and
its filters from visibility, the server-sent events that follow a renewal, and what happens
without signing in."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.client import Client, WorkflowExecutionStatus

from lab.server import Lab
from lab.timing import FAST
from tests.e2e.conftest import FAST_OPTIONS, Handle, Stack
from tests.e2e.dashboard_service import running_service, set_change_policy
from tests.lab.conftest import LabHandle, lab_spec
from workers.settings import UcrenewSettings
from workers.starting import start_renewal
from workflows.models import ApprovalInput, RenewalInput
from workflows.renewal import CertRenewalWorkflow

pytestmark = pytest.mark.e2e

USERS = {"rita": ["voice-engineers"], "alice": ["voice-cab"], "sam": ["voice-engineers"]}


async def events(response: httpx.Response) -> AsyncIterator[dict[str, Any]]:
    """The ``rows`` events of a server-sent event stream."""
    kind, data = "", ""
    async for line in response.aiter_lines():
        if line.startswith("event: "):
            kind = line[7:]
        elif line.startswith("data: "):
            data = line[6:]
        elif not line and kind:
            if kind == "rows":
                yield json.loads(data)
            kind, data = "", ""


async def next_event(stream: AsyncIterator[dict[str, Any]], timeout: float = 30.0) -> Any:
    return await asyncio.wait_for(anext(stream), timeout)


async def end(*handles: Handle) -> None:
    for handle in handles:
        with contextlib.suppress(Exception):
            if (await handle.describe()).status == WorkflowExecutionStatus.RUNNING:
                await handle.terminate("test over")


async def test_list_filters_and_live_events(stack: Stack, tmp_path: Path) -> None:
    set_change_policy(
        stack.settings.inventory,  # type: ignore[arg-type]
        stack.lab.cluster_entry.name,
        {"approvals": {"plan": {"approver_groups": ["voice-cab"], "required": 1}}},
    )
    async with (
        stack.worker(),
        running_service(stack.client, stack.settings, tmp_path / "svc", USERS) as service,
        httpx.AsyncClient(base_url=service.base_url, timeout=30) as http,
    ):
        mine = await stack.start(requested_by="rita")
        # no worker polls its queue: it stays in flight with the attributes of its start
        other_queue = f"nobody-{uuid.uuid4()}"
        other = await start_renewal(
            stack.client,
            RenewalInput(
                change_id=f"CHG-{uuid.uuid4().hex[:10]}", cluster="elsewhere", requested_by="sam"
            ),
            task_queue=other_queue,
        )
        try:
            plan = (await stack.wait_for(mine, "approval")).plan
            assert plan is not None
            # nobody signed in: 401 JSON for the API, the sign-in page for pages
            refused = await http.get("/api/v1/renewals")
            assert refused.status_code == 401
            assert refused.json()["error"]["code"] == "not-signed-in"
            page = await http.get("/", follow_redirects=False)
            assert page.status_code in (302, 303, 307) and "/login" in page.headers["location"]

            rita = service.headers("rita")
            listed = (await http.get("/api/v1/renewals", headers=rita)).json()
            ids = {r["change_id"] for r in listed["rows"]}
            assert {mine.id, other.id} <= ids
            row = next(r for r in listed["rows"] if r["change_id"] == mine.id)
            assert row["phase"] == "approve-plan" and row["awaiting"] == "approval"
            assert row["waiting_on"] == ["voice-cab"] and row["requester"] == "rita"
            assert row["purposes"] == ["tomcat"] and row["url"].endswith(f"/renewals/{mine.id}")

            for query, expected in (
                ({"requester": "rita"}, {mine.id}),
                ({"waiting_on": "voice-cab"}, {mine.id}),
                ({"phase": "approve-plan", "cluster": stack.lab.cluster_entry.name}, {mine.id}),
                ({"cluster": "elsewhere"}, {other.id}),
                ({"requester": "nobody' OR WorkflowId != '"}, set()),
            ):
                got = (await http.get("/api/v1/renewals", params=query, headers=rita)).json()
                assert {r["change_id"] for r in got["rows"]} == expected, query

            async with http.stream(
                "GET", "/api/v1/events", params={"requester": "rita"}, headers=rita
            ) as stream:
                assert stream.headers["content-type"].startswith("text/event-stream")
                rows = events(stream)
                first = await next_event(rows)
                assert first["snapshot"] is True
                assert [r["change_id"] for r in first["changed"]] == [mine.id]

                await mine.execute_update(
                    CertRenewalWorkflow.approve,
                    ApprovalInput(
                        principal="alice",
                        groups=["voice-cab"],
                        comment="ok",
                        plan_hash=plan.plan_hash,
                    ),
                )
                while True:
                    update = await next_event(rows)
                    assert all(r["change_id"] == mine.id for r in update["changed"])
                    if update["changed"] and update["changed"][0]["phase"] != "approve-plan":
                        break
                await mine.terminate("test over")
                while mine.id not in (await next_event(rows))["removed"]:
                    pass

            page = await http.get(f"/renewals/{mine.id}", headers=rita)
            assert page.status_code == 200 and "terminated" in page.text
            # no worker polls the other's queue: its page says what Temporal recorded
            unanswered = await http.get(f"/renewals/{other.id}", headers=rita)
            assert unanswered.status_code == 200
            assert f"no worker is polling task queue {other_queue}" in unanswered.text
            assert "sam" in unanswered.text and "discover" in unanswered.text
            missing = await http.get("/renewals/CHG-none", headers=rita)
            assert missing.status_code == 404 and "no renewal with change id" in missing.text
        finally:
            await end(mine, other)


async def test_a_callmanager_change_reports_its_restarts_and_phones(
    dev_server_env: Client, tmp_path: Path
) -> None:
    spec = lab_spec(version="12.5.1.14900-63", sso_enabled=False, phones={"count": 120})
    async with Lab(spec, tmp_path / "state" / "lab", FAST) as running:
        settings = UcrenewSettings(
            state_dir=tmp_path / "state", inventory=tmp_path / "state" / "lab" / "inventory.yaml"
        )
        stack = Stack(LabHandle(running), dev_server_env, settings, f"dash-{uuid.uuid4()}")
        async with (
            stack.worker(),
            running_service(stack.client, settings, tmp_path / "svc", USERS) as service,
            httpx.AsyncClient(base_url=service.base_url, timeout=30) as http,
        ):
            handle = await stack.start(
                purposes=["CallManager"],
                requested_by="rita",
                windows=[stack.open_window()],
                options=FAST_OPTIONS.model_copy(update={"health_poll_seconds": 0.05}),
            )
            try:
                await stack.approve_impact(handle)
                final = await handle.result()
                assert final.phase == "done", final.error
                assert final.plan is not None and final.plan.restarts is not None
                total = sum(len(n.services) for w in final.plan.restarts.waves for n in w.nodes)
                page = await http.get(f"/renewals/{handle.id}", headers=service.headers("rita"))
                assert page.status_code == 200
                progress = page.text.split('id="progress">', 1)[1].split("<", 1)[0]
                # every service restart counted; the phones back at the last gate's look
                assert progress.startswith(f"restarts {total}/{total}, phones back "), progress
                back, baseline = progress.rsplit(" ", 1)[1].replace(",", "").split("/")
                assert int(baseline) > 0 and int(back) >= int(baseline) * 0.9
                assert "wave-done" in page.text
            finally:
                await end(handle)
