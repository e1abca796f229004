"""Twin of the few ServiceNow REST Table API endpoints ucrenew's ITSM adapter uses.

Real HTTP(S) on loopback, as ServiceNow documents the Table API
(https://docs.servicenow.com/bundle/utah-api-reference/page/integrate/inbound-rest/concept/c_TableAPI.html):

* ``GET /api/now/table/change_request``: ``sysparm_query`` (``field=value`` terms joined by
  ``^``, plus ``ORDERBY``), ``sysparm_fields``, ``sysparm_limit``, ``sysparm_offset``,
  ``sysparm_display_value`` (``false`` | ``true`` | ``all``: ``{"display_value", "value"}``
  per field), ``sysparm_exclude_reference_link``; answers ``{"result": [...]}`` with
  ``X-Total-Count``; no match is 200 with an empty list.
* ``GET /api/now/table/change_request/<sys_id>`` and ``PATCH`` of the same: journal fields
  (``work_notes``, ``comments``) append an entry rather than replace; moving to Closed (3)
  without ``close_code`` and ``close_notes`` is refused like the instance's data policy.
* Any other table is 400 ``Invalid table``; errors are ``{"error": {"message", "detail"},
  "status": "failure"}``; HTTP Basic (or an OAuth bearer token) is checked on every call.

Records are seeded from a YAML fixture (``servicenow_records.yaml``); every update is kept in
:attr:`ServiceNowTwin.updates` (and served on ``GET /twin/updates``) so tests and operators
can see what was written. This module imports nothing of ucrenew.
"""

from __future__ import annotations

import base64
import datetime as dt
import hmac
import ipaddress
import re
import secrets
import ssl
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

__all__ = ["DEFAULT_RECORDS", "ServiceNowTwin", "TwinUpdate", "load_records"]

DEFAULT_RECORDS = Path(__file__).with_name("servicenow_records.yaml")
TABLE = "change_request"
STATE_LABELS = {
    "-5": "New",
    "-4": "Assess",
    "-3": "Authorize",
    "-2": "Scheduled",
    "-1": "Implement",
    "0": "Review",
    "3": "Closed",
    "4": "Canceled",
}
APPROVAL_LABELS = {
    "not requested": "Not Yet Requested",
    "requested": "Requested",
    "approved": "Approved",
    "rejected": "Rejected",
}
CLOSE_CODES = ("successful", "successful_issues", "unsuccessful")
JOURNAL_FIELDS = ("work_notes", "comments")
REFERENCE_FIELDS = {"cmdb_ci": "cmdb_ci", "assignment_group": "sys_user_group"}
_TIME = "%Y-%m-%d %H:%M:%S"
_RELATIVE = re.compile(r"([+-])(\d+)([smhd])")


def _error(status: int, message: str, detail: str | None) -> web.Response:
    return web.json_response(
        {"error": {"message": message, "detail": detail}, "status": "failure"}, status=status
    )


def _when(text: object, now: dt.datetime) -> str:
    """A fixture time: absolute, or ``now`` with offsets (``now-1h``, ``now+1d+4h``)."""
    raw = str(text).strip()
    if not raw.startswith("now"):
        return dt.datetime.strptime(raw, _TIME).strftime(_TIME)
    at = now
    rest = raw[3:]
    for sign, amount, unit in _RELATIVE.findall(rest):
        delta = dt.timedelta(
            **{{"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}[unit]: int(amount)}
        )
        at = at + delta if sign == "+" else at - delta
    if _RELATIVE.sub("", rest):
        raise ValueError(f"cannot read the time {raw!r} (e.g. now, now-1h, now+1d+4h)")
    return at.strftime(_TIME)


def load_records(
    path: Path = DEFAULT_RECORDS, now: dt.datetime | None = None
) -> list[dict[str, str]]:
    """The change records of a fixture, relative times made absolute (UTC).

    Raises:
        ValueError: The file is not a ``records:`` list of mappings with a ``number``, or a
            time cannot be read.
        OSError: The file cannot be read.
        yaml.YAMLError: The file is not YAML.
    """
    moment = (now or dt.datetime.now(dt.UTC)).replace(microsecond=0)
    data = yaml.safe_load(Path(path).read_text()) or {}
    records = data.get("records", []) if isinstance(data, dict) else None
    if not isinstance(records, list):
        raise ValueError(f"{path}: expected a mapping with a records: list")
    rows: list[dict[str, str]] = []
    for i, raw in enumerate(records):
        if not isinstance(raw, dict) or not raw.get("number"):
            raise ValueError(f"{path}: records[{i}] must be a mapping with a number")
        row = {str(k): ("" if v is None else str(v)) for k, v in raw.items()}
        for key in ("start_date", "end_date"):
            if row.get(key):
                row[key] = _when(row[key], moment)
        rows.append(row)
    return rows


@dataclass
class TwinUpdate:
    """One PATCH the twin accepted: which record, the fields sent, when."""

    number: str
    sys_id: str
    fields: dict[str, Any]
    at: str


@dataclass
class _Record:
    values: dict[str, str]
    journal: dict[str, list[str]] = field(default_factory=dict)


class ServiceNowTwin:
    """A ServiceNow instance's change_request table over the Table API, on loopback.

    Attributes:
        username: The Basic account ucrenew uses.
        password: Its password (also written to :attr:`password_file`, mode 0600).
        token: An OAuth bearer token accepted instead, when set.
        updates: Every accepted PATCH, in order.
        outage: When set, every API call answers this HTTP status (an instance outage).
    """

    def __init__(
        self,
        directory: Path,
        records: list[dict[str, str]] | None = None,
        *,
        address: str = "127.0.0.1",
        port: int = 0,
        tls: bool = True,
        username: str = "ucrenew.integration",
        token: str | None = None,
        empty_as_404: bool = False,
    ) -> None:
        """Prepare the twin; nothing is bound until :meth:`start`.

        Args:
            directory: Where the TLS files and the password file are written.
            records: Seed rows (see :func:`load_records`); the default fixture when None.
            address: Loopback address to bind.
            port: TCP port (0: any free port).
            tls: Serve HTTPS with a self-signed certificate (:attr:`ca_file` trusts it).
            username: The Basic account.
            token: An OAuth bearer token to accept too.
            empty_as_404: Answer a query without a match with 404 "No Record found", as older
                releases do, instead of 200 with an empty list.
        """
        if not ipaddress.ip_address(address).is_loopback:
            raise ValueError(f"the ServiceNow twin binds loopback addresses only, not {address}")
        self.directory = Path(directory)
        self.address = address
        self.port = port
        self.tls = tls
        self.username = username
        self.password = secrets.token_urlsafe(18)
        self.token = token
        self.updates: list[TwinUpdate] = []
        self.outage: int | None = None
        self.empty_as_404 = empty_as_404
        self._records: dict[str, _Record] = {}
        for row in load_records() if records is None else records:
            self.add(row)
        self._runner: web.AppRunner | None = None

    # -- records ---------------------------------------------------------------------------

    def add(self, row: dict[str, str]) -> str:
        """Add a change record; returns its sys_id."""
        values = {k: str(v) for k, v in row.items()}
        values.setdefault("sys_id", uuid.uuid4().hex)
        values.setdefault("state", "-5")
        values.setdefault("approval", "not requested")
        for key in (
            "cmdb_ci",
            "assignment_group",
            "short_description",
            "close_code",
            "close_notes",
            "start_date",
            "end_date",
        ):
            values.setdefault(key, "")
        self._records[values["sys_id"]] = _Record(values)
        return values["sys_id"]

    def update(self, number: str, **fields: str) -> None:
        """Change a record as a change manager would in the UI (not an API update: it is not
        listed in :attr:`updates`)."""
        sys_id = self.record(number)["sys_id"]
        self._records[sys_id].values.update(fields)

    def record(self, number: str) -> dict[str, str]:
        """A record's current values by number."""
        for rec in self._records.values():
            if rec.values.get("number") == number:
                return dict(rec.values)
        raise KeyError(number)

    def work_notes(self, number: str) -> list[str]:
        """The work notes journalled on a record, oldest first."""
        rec = self._records[self.record(number)["sys_id"]]
        return list(rec.journal.get("work_notes", []))

    # -- files -------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The instance's base URL (what the inventory's ``itsm.url`` names)."""
        return f"{'https' if self.tls else 'http'}://{self.address}:{self.port}"

    @property
    def ca_file(self) -> Path:
        """PEM of the twin's self-signed TLS certificate (the ``itsm.ca_file`` to trust)."""
        return self.directory / "servicenow-ca.pem"

    @property
    def password_file(self) -> Path:
        """The account's password, mode 0600 (``file:`` reference for the inventory)."""
        return self.directory / "servicenow-password"

    # -- lifecycle -----------------------------------------------------------------------------

    async def __aenter__(self) -> ServiceNowTwin:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> ServiceNowTwin:
        """Write the password (and TLS) files, then listen."""
        self.directory.mkdir(parents=True, exist_ok=True)
        self.password_file.write_text(self.password)
        self.password_file.chmod(0o600)
        ctx = self._tls_context() if self.tls else None
        app = web.Application(middlewares=[self._middleware])
        app.router.add_get("/api/now/table/{table}", self._list)
        app.router.add_get("/api/now/table/{table}/{sys_id}", self._get_one)
        app.router.add_patch("/api/now/table/{table}/{sys_id}", self._patch)
        app.router.add_put("/api/now/table/{table}/{sys_id}", self._patch)
        app.router.add_get("/twin/updates", self._updates)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.address, self.port, ssl_context=ctx)
        await site.start()
        addresses = self._runner.addresses
        if addresses:
            self.port = int(addresses[0][1])
        return self

    async def stop(self) -> None:
        """Stop listening."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def _tls_context(self) -> ssl.SSLContext:
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "servicenow twin")])
        now = dt.datetime.now(dt.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=30))
            .add_extension(
                x509.SubjectAlternativeName(
                    [x509.IPAddress(ipaddress.ip_address(self.address)), x509.DNSName("localhost")]
                ),
                critical=False,
            )
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256())
        )
        cert_pem = cert.public_bytes(serialization.Encoding.PEM)
        self.ca_file.write_bytes(cert_pem)
        key_file = self.directory / "servicenow-tls.key"
        key_file.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        key_file.chmod(0o600)
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(self.ca_file, key_file)
        return ctx

    # -- HTTP -----------------------------------------------------------------------------------

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if request.path.startswith("/twin/"):
            response: web.StreamResponse = await handler(request)
            return response
        if self.outage is not None:
            return _error(self.outage, "Service Unavailable", "the instance is unavailable")
        if not self._authorised(request.headers.get("Authorization", "")):
            return _error(401, "User Not Authenticated", "Required to provide Auth information")
        if request.match_info.get("table") not in (None, TABLE):
            return _error(400, f"Invalid table {request.match_info['table']}", None)
        response = await handler(request)
        return response

    def _authorised(self, header: str) -> bool:
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer" and self.token is not None:
            return hmac.compare_digest(value.strip(), self.token)
        if scheme.lower() != "basic":
            return False
        try:
            user, _, password = base64.b64decode(value.strip()).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return False
        return hmac.compare_digest(user, self.username) and hmac.compare_digest(
            password, self.password
        )

    async def _list(self, request: web.Request) -> web.Response:
        q = request.query
        terms = [t for t in q.get("sysparm_query", "").split("^") if t]
        rows = [r for r in self._records.values() if all(_matches(r, t) for t in terms)]
        order = [t for t in terms if t.startswith("ORDERBY")]
        for term in reversed(order):
            desc = term.startswith("ORDERBYDESC")
            key = term.removeprefix("ORDERBYDESC" if desc else "ORDERBY")
            rows.sort(key=_sort_key(key), reverse=desc)
        try:
            offset = int(q.get("sysparm_offset", "0"))
            limit = int(q.get("sysparm_limit", "10000"))
        except ValueError:
            return _error(400, "Invalid parameter", "sysparm_limit and sysparm_offset are numbers")
        if not rows and self.empty_as_404:
            return _not_found()
        page = rows[offset : offset + limit]
        body = [self._render(r, q) for r in page]
        return web.json_response({"result": body}, headers={"X-Total-Count": str(len(rows))})

    async def _get_one(self, request: web.Request) -> web.Response:
        rec = self._records.get(request.match_info["sys_id"])
        if rec is None:
            return _not_found()
        return web.json_response({"result": self._render(rec, request.query)})

    async def _patch(self, request: web.Request) -> web.Response:
        rec = self._records.get(request.match_info["sys_id"])
        if rec is None:
            return _not_found()
        try:
            body = await request.json()
        except (ValueError, UnicodeDecodeError):
            return _error(400, "Exception while reading request", "The payload is not valid JSON.")
        if not isinstance(body, dict):
            return _error(400, "Exception while reading request", "The payload must be an object.")
        fields = {str(k): "" if v is None else str(v) for k, v in body.items()}
        merged = {**rec.values, **{k: v for k, v in fields.items() if k not in JOURNAL_FIELDS}}
        if merged.get("state") == "3" and rec.values.get("state") != "3":
            missing = [f for f in ("close_code", "close_notes") if not merged.get(f)]
            if missing:
                names = ", ".join(f.replace("_", " ").capitalize() for f in missing)
                return _error(
                    403, "Operation Failed", f"Data Policy Exception: \n {names} are mandatory"
                )
        if merged.get("close_code") and merged["close_code"] not in CLOSE_CODES:
            return _error(403, "Operation Failed", f"Invalid close code {merged['close_code']}")
        for name in JOURNAL_FIELDS:
            if fields.get(name):
                rec.journal.setdefault(name, []).append(fields[name])
        rec.values = merged
        at = dt.datetime.now(dt.UTC).strftime(_TIME)
        rec.values["sys_updated_on"] = at
        self.updates.append(
            TwinUpdate(rec.values.get("number", ""), rec.values["sys_id"], dict(body), at)
        )
        return web.json_response({"result": self._render(rec, request.query)})

    async def _updates(self, request: web.Request) -> web.Response:
        return web.json_response(
            [
                {"number": u.number, "sys_id": u.sys_id, "fields": u.fields, "at": u.at}
                for u in self.updates
            ]
        )

    def _render(self, rec: _Record, q: Any) -> dict[str, Any]:
        wanted = [f for f in q.get("sysparm_fields", "").split(",") if f]
        names = wanted or [*rec.values, *JOURNAL_FIELDS]
        mode = q.get("sysparm_display_value", "false").lower()
        no_link = q.get("sysparm_exclude_reference_link", "false").lower() == "true"
        out: dict[str, Any] = {}
        for name in dict.fromkeys(names):
            value = "" if name in JOURNAL_FIELDS else rec.values.get(name, "")
            display = _display(name, value)
            if mode == "true":
                out[name] = display
            elif mode == "all":
                out[name] = {"display_value": display, "value": value}
            elif name in REFERENCE_FIELDS and value and not no_link:
                link = f"{self.url}/api/now/table/{REFERENCE_FIELDS[name]}/{_ref_id(value)}"
                out[name] = {"link": link, "value": _ref_id(value)}
            elif name in REFERENCE_FIELDS and value:
                out[name] = _ref_id(value)
            else:
                out[name] = value
            if mode == "all" and name in REFERENCE_FIELDS and value and not no_link:
                out[name]["link"] = (
                    f"{self.url}/api/now/table/{REFERENCE_FIELDS[name]}/{_ref_id(value)}"
                )
        return out


def _sort_key(name: str) -> Callable[[_Record], str]:
    def key(rec: _Record) -> str:
        return rec.values.get(name, "")

    return key


def _ref_id(display: str) -> str:
    """A stable sys_id for a referenced record named ``display``."""
    return uuid.uuid5(uuid.NAMESPACE_URL, display).hex


def _display(name: str, value: str) -> str:
    if name == "state":
        return STATE_LABELS.get(value, value)
    if name == "approval":
        return APPROVAL_LABELS.get(value, value)
    return value


def _matches(rec: _Record, term: str) -> bool:
    if term.startswith("ORDERBY"):
        return True
    for op in ("!=", "="):
        if op in term:
            key, _, value = term.partition(op)
            if key not in rec.values:
                return False
            equal = rec.values[key] == value
            return equal if op == "=" else not equal
    return False


def _not_found() -> web.Response:
    return _error(
        404, "No Record found", "Record doesn't exist or ACL restricts the record retrieval"
    )
