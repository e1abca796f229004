"""The ServiceNow adapter against the lab's twin of the Table API, over real HTTPS.

The twin follows ServiceNow's Table API documentation
(https://docs.servicenow.com/bundle/utah-api-reference/page/integrate/inbound-rest/concept/c_TableAPI.html,
and for ``sysparm_display_value`` true | false | all:
https://docs.servicenow.com/bundle/geneva-servicenow-platform/page/integrate/inbound_rest/reference/r_TableAPI-PUT.html):
``{"result": [...]}`` on GET (an empty list when nothing matches), ``{"result": {...}}`` on
PATCH, and ``{"error": {"message", "detail"}, "status": "failure"}`` with 400/401/403/404.
"""

from __future__ import annotations

import ssl
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from activities.clients.itsm.errors import (
    ItsmAuthError,
    ItsmRecordNotFound,
    ItsmUnavailable,
)
from activities.clients.itsm.factory import itsm_client
from activities.clients.itsm.models import ItsmConfig, TimeRange, WriteBack
from activities.clients.itsm.servicenow import ServiceNowItsm
from lab.servicenow import ServiceNowTwin

NOW = datetime.now(UTC)


def config(twin: ServiceNowTwin, **extra: Any) -> ItsmConfig:
    data: dict[str, Any] = {
        "kind": "servicenow",
        "url": twin.url,
        "credentials": {"username": twin.username, "password": f"file:{twin.password_file}"},
        "ca_file": str(twin.ca_file),
        **extra,
    }
    return ItsmConfig.model_validate(data)


def client(twin: ServiceNowTwin, **extra: Any) -> ServiceNowItsm:
    made = itsm_client(config(twin, **extra))
    assert isinstance(made, ServiceNowItsm)
    return made


async def test_implementable_record_is_allowed(twin: ServiceNowTwin) -> None:
    check = await client(twin, match={"ci": "CUCM-LAB"}).check("CHG0030001", "lab", NOW)
    assert check.found and check.allowed, check.reasons
    record = check.record
    assert record is not None
    assert (record.state, record.state_label, record.approval) == ("-1", "Implement", "approved")
    assert record.ref == twin.record("CHG0030001")["sys_id"]
    assert record.ci == "cucm-lab"
    assert record.assignment_group == "Voice Engineering"
    assert record.planned_start is not None and record.planned_start < NOW


async def test_missing_record_is_an_answer_not_an_error(twin: ServiceNowTwin) -> None:
    check = await client(twin).check("CHG9999999", "lab", NOW)
    assert not check.found and not check.allowed
    assert [r.code for r in check.reasons] == ["change-record-not-found"]
    assert "CHG9999999" in check.reasons[0].message


async def test_missing_record_on_a_release_that_answers_404(twin: ServiceNowTwin) -> None:
    twin.empty_as_404 = True
    try:
        check = await client(twin).check("CHG9999999", "lab", NOW)
    finally:
        twin.empty_as_404 = False
    assert not check.found
    assert [r.code for r in check.reasons] == ["change-record-not-found"]


async def test_record_awaiting_authorisation_is_not_implementable(twin: ServiceNowTwin) -> None:
    check = await client(twin).check("CHG0030002", "lab", NOW)
    assert check.found and not check.allowed
    codes = [r.code for r in check.reasons]
    assert codes.count("change-record-not-approved") == 2  # state Authorize, approval requested
    assert "change-record-outside-window" in codes
    assert any("'Authorize'" in r.message for r in check.reasons)


async def test_window_in_the_past_and_maintenance_windows_outside(twin: ServiceNowTwin) -> None:
    past = await client(twin, implement_states=["Scheduled"]).check("CHG0030003", "lab", NOW)
    assert [r.code for r in past.reasons] == ["change-record-outside-window"]
    later = TimeRange(start=NOW + timedelta(days=2), end=NOW + timedelta(days=2, hours=2))
    current = await client(twin).check("CHG0030001", "lab", NOW, [later])
    assert [r.code for r in current.reasons] == ["change-record-outside-window"]
    assert "maintenance window" in current.reasons[0].message


async def test_ci_and_group_must_match_when_configured(twin: ServiceNowTwin) -> None:
    check = await client(twin, match={"ci": "cucm-other", "assignment_group": "Network"}).check(
        "CHG0030001", "lab", NOW
    )
    assert [r.code for r in check.reasons] == [
        "change-record-wrong-ci",
        "change-record-wrong-group",
    ]


async def test_wrong_password_is_an_auth_error_without_the_secret(
    twin: ServiceNowTwin, tmp_path: Path
) -> None:
    wrong = tmp_path / "wrong"
    wrong.write_text("not-the-password-sentinel")
    bad = itsm_client(
        config(twin, credentials={"username": twin.username, "password": f"file:{wrong}"})
    )
    with pytest.raises(ItsmAuthError) as caught:
        await bad.check("CHG0030001", "lab", NOW)
    assert caught.value.http_status == 401 and not caught.value.retryable
    assert "User Not Authenticated" in str(caught.value)
    assert "not-the-password-sentinel" not in str(caught.value)


async def test_oauth_bearer_token(twin: ServiceNowTwin, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SN_TOKEN", "oauth-token-for-tests")
    made = itsm_client(config(twin, credentials=None, token="env:SN_TOKEN"))
    assert (await made.check("CHG0030001", "lab", NOW)).allowed
    monkeypatch.setenv("SN_TOKEN", "expired-token")
    with pytest.raises(ItsmAuthError):
        await itsm_client(config(twin, credentials=None, token="env:SN_TOKEN")).check(
            "CHG0030001", "lab", NOW
        )


async def test_tls_is_verified_against_the_configured_bundle(twin: ServiceNowTwin) -> None:
    with pytest.raises(ItsmUnavailable, match=r"SSL|certificate|ConnectError"):
        await client(twin, ca_file=None).check("CHG0030001", "lab", NOW)


async def test_outage_is_retryable(twin: ServiceNowTwin) -> None:
    twin.outage = 503
    try:
        with pytest.raises(ItsmUnavailable) as caught:
            await client(twin).check("CHG0030001", "lab", NOW)
    finally:
        twin.outage = None
    assert caught.value.retryable and caught.value.http_status == 503


async def test_write_back_appends_a_work_note_with_the_link(twin: ServiceNowTwin) -> None:
    outcome = WriteBack(
        change_id="CHG0030001",
        outcome="failed",
        summary="preflight failed, nothing was changed on the cluster",
        link="https://ucrenew.example.net/renewals/CHG0030001",
        work_notes=["problem: cucm-sub1 does not answer HTTPS"],
    )
    detail = await client(twin).write_back("CHG0030001", outcome)
    assert detail == "work note on CHG0030001"
    notes = twin.work_notes("CHG0030001")
    assert len(notes) == 1
    assert "https://ucrenew.example.net/renewals/CHG0030001" in notes[0]
    assert "cucm-sub1 does not answer HTTPS" in notes[0]
    assert twin.record("CHG0030001")["state"] == "-1"  # no state configured for failed
    assert twin.updates[-1].fields == {"work_notes": notes[0]}


async def test_write_back_closes_with_the_configured_state(twin: ServiceNowTwin) -> None:
    sn = client(twin, close_states={"done": "3"})
    outcome = WriteBack(change_id="CHG0030001", outcome="done", summary="renewed tomcat")
    assert await sn.write_back("CHG0030001", outcome) == "work note on CHG0030001, state set to 3"
    record = twin.record("CHG0030001")
    assert (record["state"], record["close_code"]) == ("3", "successful")
    assert "renewed tomcat" in record["close_notes"]


async def test_write_back_to_a_missing_record(twin: ServiceNowTwin) -> None:
    outcome = WriteBack(change_id="CHG7777777", outcome="done", summary="x")
    with pytest.raises(ItsmRecordNotFound):
        await client(twin).write_back("CHG7777777", outcome)
    assert twin.updates == []


async def test_change_id_cannot_inject_query_terms(twin: ServiceNowTwin) -> None:
    check = await client(twin).check("CHG0030002^ORnumber=CHG0030001", "lab", NOW)
    assert not check.found


# -- the twin itself, as the Table API documentation describes it ---------------------------


def raw(twin: ServiceNowTwin) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=twin.url,
        verify=ssl.create_default_context(cafile=str(twin.ca_file)),
        auth=(twin.username, twin.password),
    )


async def test_twin_error_bodies(twin: ServiceNowTwin) -> None:
    async with raw(twin) as http:
        unauth = await http.get("/api/now/table/change_request", auth=("x", "y"))
        table = await http.get("/api/now/table/no_such_table")
        missing = await http.patch("/api/now/table/change_request/0123", json={"state": "3"})
    assert unauth.status_code == 401
    assert unauth.json() == {
        "error": {
            "message": "User Not Authenticated",
            "detail": "Required to provide Auth information",
        },
        "status": "failure",
    }
    assert table.status_code == 400 and table.json()["error"]["message"].startswith("Invalid table")
    assert missing.status_code == 404 and missing.json()["error"]["message"] == "No Record found"


async def test_twin_sysparms(twin: ServiceNowTwin) -> None:
    async with raw(twin) as http:
        none = await http.get(
            "/api/now/table/change_request", params={"sysparm_query": "number=CHG0"}
        )
        one = await http.get(
            "/api/now/table/change_request",
            params={
                "sysparm_query": "approval=approved^ORDERBYDESCnumber",
                "sysparm_fields": "number,state,cmdb_ci",
                "sysparm_limit": "1",
                "sysparm_display_value": "all",
            },
        )
    assert none.status_code == 200 and none.json() == {"result": []}
    assert one.headers["X-Total-Count"] == "2"
    [row] = one.json()["result"]
    assert set(row) == {"number", "state", "cmdb_ci"}
    assert row["number"]["value"] == "CHG0030003"
    assert row["state"] == {"display_value": "Scheduled", "value": "-2"}
    assert row["cmdb_ci"]["display_value"] == "cucm-lab" and "link" in row["cmdb_ci"]


async def test_twin_refuses_closing_without_close_code(twin: ServiceNowTwin) -> None:
    sys_id = twin.record("CHG0030001")["sys_id"]
    async with raw(twin) as http:
        refused = await http.patch(f"/api/now/table/change_request/{sys_id}", json={"state": "3"})
        listed = await http.get("/twin/updates")
    assert refused.status_code == 403
    assert "Data Policy Exception" in refused.json()["error"]["detail"]
    assert twin.record("CHG0030001")["state"] == "-1"
    assert listed.json() == []
