"""ServiceNow adapter: the change_request table through the REST Table API.

Two calls, as ServiceNow documents them (Table API, ``/api/now/table/{tableName}``):

* ``GET /api/now/table/change_request?sysparm_query=number=<id>&sysparm_fields=...&
  sysparm_limit=1&sysparm_display_value=all&sysparm_exclude_reference_link=true``: the record,
  each field as ``{"value", "display_value"}`` (a query without a match answers 200 with an
  empty ``result``);
* ``PATCH /api/now/table/change_request/<sys_id>``: ``work_notes`` (journal fields append),
  and when the outcome has a configured state ``state``, ``close_code`` and ``close_notes``.

Authentication is HTTP Basic or an OAuth bearer token, both by secret reference; TLS is
verified against the configured CA bundle or the system's trust. Errors come back as
``{"error": {"message", "detail"}, "status": "failure"}``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime

import httpx

from activities.clients.itsm.base import error_message, json_body, send, tls_verify
from activities.clients.itsm.errors import ItsmProtocolError, ItsmRecordNotFound
from activities.clients.itsm.models import (
    ChangeRecord,
    ChangeRecordCheck,
    ItsmConfig,
    ItsmReason,
    TimeRange,
    WriteBack,
    evaluate,
)

SYSTEM = "servicenow"
TABLE_PATH = "/api/now/table/change_request"
#: The fields the check reads; nothing else is fetched.
FIELDS = (
    "sys_id",
    "number",
    "state",
    "approval",
    "start_date",
    "end_date",
    "cmdb_ci",
    "assignment_group",
    "short_description",
)
#: A change number that cannot smuggle encoded-query operators (``^``, ``=``) into the query.
_NUMBER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
#: A sys_id: 32 hexadecimal digits (it becomes part of the PATCH path).
_SYS_ID = re.compile(r"^[0-9a-f]{32}$")
#: glide_date_time values are UTC in this form.
_GLIDE_TIME = "%Y-%m-%d %H:%M:%S"


class ServiceNowItsm:
    """The ServiceNow Table API adapter (an :class:`~activities.clients.itsm.base.ItsmClient`).

    Args:
        config: The cluster's ``itsm:`` settings (kind ``servicenow``).
        password: The Basic account's password, resolved from its reference by the caller.
        token: The OAuth bearer token, resolved likewise (instead of ``password``).
        transport: An httpx transport (tests); the network otherwise.
    """

    kind = SYSTEM

    def __init__(
        self,
        config: ItsmConfig,
        *,
        password: str | None = None,
        token: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        """Build the adapter; nothing is sent until a call."""
        self._config = config
        self._base = config.url.rstrip("/")
        auth: httpx.Auth | None = None
        headers = {"Accept": "application/json"}
        if config.credentials is not None and password is not None:
            auth = httpx.BasicAuth(config.credentials.username, password)
        elif token is not None:
            headers["Authorization"] = f"Bearer {token}"
        self._auth = auth
        self._headers = headers
        self._verify = tls_verify(SYSTEM, config.ca_file)
        self._transport = transport

    def _client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            auth=self._auth,
            headers=self._headers,
            verify=self._verify,
            timeout=self._config.timeout_seconds,
            transport=self._transport,
            follow_redirects=False,
        )

    async def find(self, change_id: str) -> ChangeRecord | None:
        """The change record numbered ``change_id``, or None."""
        params = {
            "sysparm_query": f"number={change_id}",
            "sysparm_fields": ",".join(FIELDS),
            "sysparm_limit": "1",
            "sysparm_display_value": "all",
            "sysparm_exclude_reference_link": "true",
        }
        async with self._client() as client:
            request = client.build_request("GET", f"{self._base}{TABLE_PATH}", params=params)
            response = await send(SYSTEM, client, request)
        if response.status_code == 404:
            # Older releases answer a query without a match with 404 "No Record found".
            return None
        if response.status_code != 200:
            raise ItsmProtocolError(
                SYSTEM,
                f"{SYSTEM}: reading change_request {change_id} answered "
                f"{response.status_code} ({error_message(response)})",
                http_status=response.status_code,
            )
        body = json_body(SYSTEM, response)
        rows = body.get("result") if isinstance(body, dict) else None
        if not isinstance(rows, list):
            raise ItsmProtocolError(SYSTEM, f"{SYSTEM}: the answer has no result list")
        if not rows:
            return None
        row = rows[0]
        if not isinstance(row, dict):
            raise ItsmProtocolError(SYSTEM, f"{SYSTEM}: a result row is not an object")
        return _record(row, change_id)

    async def check(
        self, change_id: str, cluster: str, now: datetime, windows: Sequence[TimeRange] = ()
    ) -> ChangeRecordCheck:
        """Read the record and judge it (see :func:`~activities.clients.itsm.models.evaluate`)."""
        blocking = self._config.block
        if not _NUMBER.match(change_id):
            return ChangeRecordCheck(
                system=SYSTEM,
                change_id=change_id,
                found=False,
                blocking=blocking,
                reasons=[
                    ItsmReason(
                        code="change-record-not-found",
                        message=(
                            f"change id {change_id!r} cannot be a ServiceNow change number "
                            "(letters, digits, '-', '_' and '.' only)"
                        ),
                    )
                ],
            )
        record = await self.find(change_id)
        if record is None:
            return ChangeRecordCheck(
                system=SYSTEM,
                change_id=change_id,
                found=False,
                blocking=blocking,
                reasons=[
                    ItsmReason(
                        code="change-record-not-found",
                        message=(
                            f"ServiceNow has no change_request numbered {change_id} (or the "
                            "ucrenew account may not read it): start the renewal with the "
                            "change's number"
                        ),
                    )
                ],
            )
        return ChangeRecordCheck(
            system=SYSTEM,
            change_id=change_id,
            found=True,
            blocking=blocking,
            record=record,
            reasons=evaluate(self._config, record, now, windows),
        )

    async def write_back(self, change_id: str, outcome: WriteBack) -> str:
        """Append the work note; with a configured state for the outcome, set the state, its
        close code and the close notes too."""
        record = await self.find(change_id)
        if record is None or not record.ref:
            raise ItsmRecordNotFound(
                SYSTEM, f"{SYSTEM}: no change_request numbered {change_id} to write back to"
            )
        if not _SYS_ID.match(record.ref):
            raise ItsmProtocolError(
                SYSTEM, f"{SYSTEM}: change_request {change_id} has no valid sys_id to update"
            )
        body: dict[str, str] = {"work_notes": outcome.note_text()}
        state = self._config.close_states.get(outcome.outcome)
        if state is not None:
            body["state"] = state
            code = self._config.close_codes.get(outcome.outcome)
            if code:
                body["close_code"] = code
            body["close_notes"] = outcome.note_text()
        async with self._client() as client:
            request = client.build_request(
                "PATCH",
                f"{self._base}{TABLE_PATH}/{record.ref}",
                params={"sysparm_fields": "sys_id,number,state"},
                json=body,
            )
            response = await send(SYSTEM, client, request)
        if response.status_code == 404:
            raise ItsmRecordNotFound(
                SYSTEM,
                f"{SYSTEM}: change_request {change_id} is gone ({error_message(response)})",
                http_status=404,
            )
        if response.status_code != 200:
            raise ItsmProtocolError(
                SYSTEM,
                f"{SYSTEM}: updating change_request {change_id} answered "
                f"{response.status_code} ({error_message(response)})",
                http_status=response.status_code,
            )
        done = f"work note on {change_id}"
        return done + (f", state set to {state}" if state is not None else "")


def _field(row: dict[str, object], name: str) -> tuple[str, str]:
    """(value, display value) of a field read with ``sysparm_display_value=all``."""
    raw = row.get(name)
    if isinstance(raw, dict):
        value, display = raw.get("value"), raw.get("display_value")
        return (str(value) if value is not None else "", str(display) if display else "")
    text = "" if raw is None else str(raw)
    return text, text


def _time(text: str) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.strptime(text, _GLIDE_TIME).replace(tzinfo=UTC)
    except ValueError:
        raise ItsmProtocolError(
            SYSTEM, f"{SYSTEM}: a planned date is not in the form YYYY-MM-DD HH:MM:SS"
        ) from None


def _record(row: dict[str, object], change_id: str) -> ChangeRecord:
    state, state_label = _field(row, "state")
    approval, _ = _field(row, "approval")
    _, ci = _field(row, "cmdb_ci")
    _, group = _field(row, "assignment_group")
    return ChangeRecord(
        number=_field(row, "number")[0] or change_id,
        ref=_field(row, "sys_id")[0],
        state=state,
        state_label=state_label,
        approval=approval,
        planned_start=_time(_field(row, "start_date")[0]),
        planned_end=_time(_field(row, "end_date")[0]),
        ci=ci,
        assignment_group=group,
        short_description=_field(row, "short_description")[1],
    )
