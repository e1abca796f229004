"""The VOS platform CLI command interpreter of a twin node, independent of the SSH transport.

:class:`CliInterpreter` reads one command line at a time from a :class:`Terminal` and writes
what the real CLI prints (cucm-interfaces.md §7.2), acting on the node logged in to through
the :class:`~lab.cluster.Cluster` API. Everything the reference marks [INF] comes from
:mod:`lab.facts`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import re
from collections.abc import Awaitable, Callable
from typing import Protocol

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa

from lab import facts, pki
from lab.errors import LabError
from lab.frontends import sql
from lab.frontends.base import Twin
from lab.nodes import Action, Node, ServiceState

Handler = Callable[[list[str]], Awaitable[None]]

_ACTION_WORDS: dict[str, tuple[str, str]] = {
    "restart": ("restarting", "restarted"),
    "start": ("starting", "started"),
    "stop": ("stopping", "stopped"),
}
_END_CERT = "-----END CERTIFICATE-----"


class SessionClosed(Exception):
    """The terminal went away while a command was reading input."""


class Terminal(Protocol):
    """What the interpreter needs from a session: write text, read a line."""

    def write(self, text: str) -> None:
        """Write text; ``\\n`` ends a line."""

    async def readline(self) -> str | None:
        """The next input line without its end, or None at end of input."""


def version_tuple(version: str) -> tuple[int, ...]:
    """``(14, 0, 1, 13900, 155)`` for ``14.0.1.13900-155``."""
    return tuple(int(p) for p in re.split(r"[.-]", version) if p.isdigit())


def format_table(columns: list[str], rows: list[dict[str, str]]) -> list[str]:
    """``run sql`` output: header, ``=`` underline, rows, each column padded to its width."""
    widths = [max([len(c), *(len(r.get(c, "")) for r in rows)]) for c in columns]

    def line(cells: list[str]) -> str:
        return " ".join(cell.ljust(w) for cell, w in zip(cells, widths, strict=True)).rstrip()

    out = [line(columns), " ".join("=" * w for w in widths)]
    out.extend(line([r.get(c, "") for c in columns]) for r in rows)
    return out


def _cli_date(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).strftime("%a %b %d %H:%M:%S UTC %Y")


class CliInterpreter:
    """Runs VOS CLI commands on one node for one session."""

    def __init__(self, lab: Twin, node: Node, term: Terminal) -> None:
        self.lab = lab
        self.cluster = lab.cluster
        self.node = node
        self.term = term
        self.pagination = True
        self._commands: list[tuple[tuple[str, ...], Handler]] = [
            (("utils", "service", "list"), self._service_list),
            (("utils", "service", "restart"), self._service_restart),
            (("utils", "service", "start"), self._service_start),
            (("utils", "service", "stop"), self._service_stop),
            (("utils", "sso", "status"), self._sso_status),
            (("utils", "sso", "disable"), self._sso_disable),
            (("utils", "sso", "enable"), self._sso_enable),
            (("utils", "ctl", "update", "ctlfile"), self._ctl_update),
            (("utils", "dbreplication", "runtimestate"), self._dbreplication),
            (("show", "cert", "list"), self._cert_list),
            (("show", "cert", "own"), self._cert_show_own),
            (("show", "cert", "trust"), self._cert_show_trust),
            (("show", "csr", "own"), self._csr_show),
            (("set", "csr", "gen"), self._csr_gen),
            (("set", "cert", "import"), self._cert_import),
            (("show", "ctl"), self._show_ctl),
            (("show", "network", "cluster"), self._network_cluster),
            (("run", "sql"), self._run_sql),
            (("set", "cli", "pagination"), self._pagination),
        ]
        self._commands.sort(key=lambda c: -len(c[0]))

    # -- plumbing -----------------------------------------------------------------------

    def say(self, *lines: str) -> None:
        """Write whole lines."""
        for line in lines:
            self.term.write(line + "\n")

    async def ask(self, prompt: str) -> str:
        """Print a prompt (no line end) and read the answer."""
        self.term.write(prompt)
        answer = await self.term.readline()
        if answer is None:
            raise SessionClosed
        return answer

    def fail(self, *lines: str) -> None:
        """Print an error and the generic failure line."""
        self.say(*lines, facts.CLI_FAILED_LINE)

    @property
    def version(self) -> tuple[int, ...]:
        """The cluster version as a comparable tuple."""
        return version_tuple(self.cluster.spec.version)

    async def execute(self, line: str) -> bool:
        """Run one command line; False when the session should end.

        Raises:
            lab.frontends.base.ResponseLost: A ``response-lost`` fault fired after the change
                was applied; the transport must drop the session without writing more.
            SessionClosed: Input ended while the command was asking a question.
        """
        tokens = line.split()
        if not tokens:
            return True
        lowered = [t.lower() for t in tokens]
        if lowered in (["exit"], ["quit"]):
            return False
        self.lab.journal.record("cli.command", self.node.hostname, command=" ".join(tokens))
        for words, handler in self._commands:
            if tuple(lowered[: len(words)]) == words:
                await handler(tokens[len(words) :])
                return True
        self.say(facts.CLI_INVALID_COMMAND)
        return True

    # -- services -----------------------------------------------------------------------

    async def _service_list(self, args: list[str]) -> None:
        if args:
            self.say(facts.CLI_INVALID_COMMAND)
            return
        self.say(
            "Requesting service status, please wait...",
            "Service Manager is running",
            "Getting list of all services",
            ">> Return code = 0",
        )
        self.say(*(f"{s.name}{s.cli_form()}" for s in self.node.services.values()))
        self.say(facts.CLI_PRIMARY_NODE_LINE, "Command successful")

    async def _service_restart(self, args: list[str]) -> None:
        await self._service_control("restart", args)

    async def _service_start(self, args: list[str]) -> None:
        await self._service_control("start", args)

    async def _service_stop(self, args: list[str]) -> None:
        await self._service_control("stop", args)

    def _resolve_service(self, args: list[str]) -> ServiceState | None:
        wanted = " ".join(args).lower()
        return next((s for s in self.node.services.values() if s.name.lower() == wanted), None)

    async def _service_control(self, action: Action, args: list[str]) -> None:
        if not args:
            self.say(facts.CLI_INVALID_COMMAND)
            return
        svc = self._resolve_service(args)
        if svc is None:
            self.fail(facts.CLI_UNKNOWN_SERVICE.format(name=" ".join(args)))
            return
        name = svc.name
        if not svc.activated:
            self.fail(f"{name}{svc.cli_form()}")
            return
        updates: asyncio.Queue[tuple[str, bool]] = asyncio.Queue()

        async def watch(node: Node, state: ServiceState, old: str, new: str) -> None:
            if node is self.node and state.name == name:
                updates.put_nowait((new, state.failed))

        # A hook sees every transition, even ones shorter than a scheduling tick.
        self.cluster.hooks.append(watch)
        try:
            try:
                self.cluster.control(self.node, name, action, origin="cli")
            except LabError as exc:
                self.fail(exc.message)
                return
            self.lab.lose_response(
                self.node, "service-restart" if action == "restart" else "service-control"
            )
            doing, done = _ACTION_WORDS[action]
            self.say(
                f"Do not press Ctrl+C while the service is {doing}. If the service has not "
                f"{done} properly, execute the same command again.",
                "Service Manager is running",
            )
            await self._stream(svc, action, updates)
        finally:
            self.cluster.hooks.remove(watch)

    async def _stream(
        self, svc: ServiceState, action: Action, updates: asyncio.Queue[tuple[str, bool]]
    ) -> None:
        timing = self.cluster.timing
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timing.cli_service_wait
        early = facts.SUBSCRIBER_RESTART_RETURNS_EARLY and not self.node.publisher
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                self.say(facts.CLI_SERVICE_WAIT_EXPIRED.format(name=svc.name))
                return
            try:
                status, failed = await asyncio.wait_for(
                    updates.get(), min(timing.cli_progress_interval, remaining)
                )
            except TimeoutError:
                if not svc.transitioning and updates.empty():
                    return
                if svc.status in ("Starting", "Stopping"):
                    self.say(f"{svc.name}[{svc.status.upper()}]")
                continue
            if status == "Stopping":
                self.say(f"{svc.name}[STOPPING]")
            elif status == "Stopped" and failed:
                self.fail(f"{svc.name}[{facts.CLI_SERVICE_FAILED_STATE}]")
                return
            elif status == "Stopped" and action == "stop":
                self.say(f"{svc.name}[STOPPED]")
                return
            elif status == "Starting":
                self.say(f"{svc.name}[STARTING]")
                if early:
                    return
            elif status == "Started":
                self.say(f"{svc.name}[STARTED]")
                return

    # -- SSO ----------------------------------------------------------------------------

    async def _sso_status(self, args: list[str]) -> None:
        cluster = self.cluster
        if cluster.sso_enabled:
            started = self.lab.journal.entries("lab.started")
            imported = (
                _cli_date(dt.datetime.fromtimestamp(started[0].at, dt.UTC))
                if started
                else facts.SSO_NOT_APPLICABLE
            )
            status = facts.SSO_STATUS_ENABLED
            test = facts.SSO_TEST_BROKEN if cluster.sso_broken else facts.SSO_TEST_PASSED
        else:
            status, imported, test = (
                facts.SSO_STATUS_DISABLED,
                facts.SSO_NOT_APPLICABLE,
                facts.SSO_NOT_APPLICABLE,
            )
        status_line, imported_line, test_line = facts.SSO_STATUS_LINES
        self.say(
            status_line.format(status=status),
            imported_line.format(imported=imported),
            test_line.format(test=test),
        )

    async def _sso_disable(self, args: list[str]) -> None:
        if not self.cluster.sso_enabled:
            self.say(facts.SSO_ALREADY_DISABLED)
            return
        self.say(*facts.SSO_DISABLE_APPS)
        answer = await self.ask(facts.SSO_DISABLE_PROMPT)
        if answer.strip() != "Yes":
            self.say(facts.SSO_DISABLE_ABORTED)
            return
        self.cluster.sso_disable(origin="cli")
        self.lab.lose_response(self.node, "sso-disable")
        self.say(facts.SSO_DISABLE_DONE)

    async def _sso_enable(self, args: list[str]) -> None:
        self.say(facts.SSO_ENABLE_GUI_ONLY)

    # -- certificates -------------------------------------------------------------------

    async def _cert_list(self, args: list[str]) -> None:
        kind = args[0].lower() if len(args) == 1 else ""
        if kind == "own":
            self.say(
                *(f"{unit}/{unit}.pem: {kc.description}" for unit, kc in self.node.own.items())
            )
        elif kind == "trust":
            self.say(
                *(
                    f"{store}/{file}: {entry.description}"
                    for store, entries in self.node.trust.items()
                    for file, entry in entries.items()
                )
            )
        else:
            self.say(facts.CLI_INVALID_COMMAND)

    async def _cert_show_own(self, args: list[str]) -> None:
        if len(args) != 1:
            self.say(facts.CLI_INVALID_COMMAND)
            return
        unit, _, file = args[0].partition("/")
        kc = self.node.own.get(unit)
        if kc is None or file not in ("", f"{unit}.pem"):
            self.fail(facts.CLI_CERT_NOT_FOUND.format(path=args[0]))
            return
        self.say(*self._dump(kc.cert))

    async def _cert_show_trust(self, args: list[str]) -> None:
        if len(args) != 1:
            self.say(facts.CLI_INVALID_COMMAND)
            return
        store, _, file = args[0].partition("/")
        entry = self.node.trust.get(store, {}).get(file)
        if entry is None:
            self.fail(facts.CLI_CERT_NOT_FOUND.format(path=args[0]))
            return
        self.say(*self._dump(entry.cert))

    def _dump(self, cert: x509.Certificate) -> list[str]:
        bcfips = self.version >= facts.CLI_BCFIPS_LABELS_SINCE
        issuer, start, final, subject = (
            ("IssuerDN", "Start Date", "Final Date", "SubjectDN")
            if bcfips
            else ("Issuer Name", "Validity From", "           To", "Subject Name")
        )
        key = "RSA" if isinstance(cert.public_key(), rsa.RSAPublicKey) else "EC"
        digest = cert.signature_hash_algorithm
        sans = pki.san_dns(cert)
        lines = [
            "[",
            "  Version: V3",
            f"  Serial Number: {pki.serial_hex(cert)}",
            f"  SignatureAlgorithm: {digest.name.upper() if digest else 'NONE'}with{key}",
            f"  {issuer}: {cert.issuer.rfc4514_string()}",
            f"  {start}: {_cli_date(cert.not_valid_before_utc)}",
            f"  {final}: {_cli_date(cert.not_valid_after_utc)}",
            f"  {subject}: {cert.subject.rfc4514_string()}",
            f"  Key: {key} ({pki.key_size(cert)} bits)",
            f"  Extensions: {len(cert.extensions)} present",
        ]
        if sans:
            lines += [
                "  [",
                "     Extension: SubjectAlternativeName (OID.2.5.29.17)",
                "     Critical: false",
                *(f"     [DNSName: {name}]" for name in sans),
                "  ]",
            ]
        lines.append("]")
        return lines

    async def _csr_gen(self, args: list[str]) -> None:
        if len(args) != 1:
            self.say(facts.CLI_INVALID_COMMAND)
            return
        unit = args[0]
        if self.version >= facts.CLI_INCLUDE_OU_SINCE:
            answer = (await self.ask(facts.CLI_INCLUDE_OU_PROMPT)).strip().lower()
            if answer not in ("yes", "no"):
                self.fail(facts.CLI_INVALID_COMMAND)
                return
        ecdsa = unit.endswith("-ECDSA")
        try:
            self.cluster.generate_csr(
                self.node,
                unit,
                facts.REST_SINGLE_SERVER_DISTRIBUTION,
                key_type="ec" if ecdsa else "rsa",
                key_length=256 if ecdsa else 2048,
            )
        except LabError as exc:
            self.fail(exc.message)
            return
        self.say(facts.CLI_CSR_GENERATED.format(unit=unit))

    async def _csr_show(self, args: list[str]) -> None:
        if len(args) != 1:
            self.say(facts.CLI_INVALID_COMMAND)
            return
        pending = self.node.pending.get(args[0])
        if pending is None:
            self.fail(facts.CLI_NO_CSR.format(unit=args[0]))
            return
        self.say(*pki.pem(pending.csr).strip().splitlines())

    async def _cert_import(self, args: list[str]) -> None:
        if len(args) not in (2, 3) or args[0].lower() not in ("own", "trust"):
            self.say(facts.CLI_INVALID_COMMAND)
            return
        kind, unit = args[0].lower(), args[1]
        self.say(facts.CLI_PASTE_PROMPT)
        lines: list[str] = []
        while True:
            line = await self.term.readline()
            if line is None:
                raise SessionClosed
            lines.append(line.strip())
            if _END_CERT in line:
                break
        pem = "\n".join(line for line in lines if line) + "\n"
        try:
            if kind == "trust":
                self.cluster.upload_trust(self.node, [unit], [pem], "Trust Certificate")
            else:
                if self.version >= facts.CLI_MULTI_SAN_IMPORT_REFUSED_SINCE and self._multi_san(
                    pem
                ):
                    self.fail(facts.CLI_MULTI_SAN_IMPORT_REFUSED)
                    return
                self.cluster.upload_identity(self.node, unit, [pem])
        except LabError as exc:
            self.fail(exc.message)
            return
        self.say(*(line.format(unit=unit) for line in facts.CLI_CERT_IMPORTED))

    def _multi_san(self, pem: str) -> bool:
        try:
            leaf = pki.parse_certificates(pem)[0]
        except pki.PkiError:
            return False
        fqdns = {n.fqdn.lower() for n in self.cluster.nodes}
        return len({name.lower() for name in pki.san_dns(leaf)} & fqdns) > 1

    # -- CTL ----------------------------------------------------------------------------

    async def _ctl_update(self, args: list[str]) -> None:
        if args:
            self.say(facts.CLI_INVALID_COMMAND)
            return
        if not (self.node.publisher and self.node.product == "cucm"):
            self.fail(facts.CLI_CTL_NOT_PUBLISHER)
            return
        answer = await self.ask(
            "This operation updates the CTLFile. Do you want to continue? (y/n):"
        )
        if answer.strip().lower() not in ("y", "yes"):
            self.say(facts.CLI_CTL_ABORTED)
            return
        self.say("Updating CTL file")
        try:
            self.cluster.ctl_update(self.node)
        except LabError as exc:
            self.fail(exc.message)
            return
        self.say(
            "CTL file Updated",
            "Please Restart the TFTP and Cisco CallManager services on all nodes in the "
            "cluster that run these services",
        )

    async def _show_ctl(self, args: list[str]) -> None:
        ctl = self.cluster.ctl
        if self.cluster.security_mode != 1 and ctl is None:
            self.say(
                "Length of CTL file: 0",
                "CTL File not found. Please run CTLClient plugin or run the CLI - utils ctl.. "
                "to generate the CTL file.",
                "Error occured while parsing the CTL file.",
            )
            return
        signer = self.cluster.publisher.own["CallManager"].cert
        serial = (ctl or {}).get("signer_serial") or pki.serial_hex(signer)
        updated = (ctl or {}).get("updated", "")
        tftp = [n for n in self.cluster.nodes if n.product == "cucm" and n.started("Cisco Tftp")]
        body = f"{serial}|{updated}|{','.join(n.hostname for n in tftp)}".encode()
        self.say(
            "The checksum value of the CTL file:",
            f"{hashlib.md5(body, usedforsecurity=False).hexdigest()}(MD5)",
            f"{hashlib.sha1(body, usedforsecurity=False).hexdigest()}(SHA1)",
            "",
            f"Length of CTL file: {1024 + 512 * len(tftp)}",
            f"The CTL File was last modified on {updated or 'installation'}",
            "",
            "Parse CTL File",
            "----------------",
            "Version:        1.2",
            f"SignerID:       {serial}",
            f"Number of records: {len(tftp)}",
        )
        for i, n in enumerate(tftp, start=1):
            self.say(
                "",
                f"CTL Record #:{i}",
                "----",
                "FUNCTION    CCM+TFTP",
                f"DNSNAME     {n.fqdn}",
                f"IP ADDRESS  {n.address}",
                f"SERIALNUMBER {pki.serial_hex(n.own['CallManager'].cert)}",
            )
        self.say("", "The CTL file was verified successfully.")

    # -- cluster ------------------------------------------------------------------------

    async def _network_cluster(self, args: list[str]) -> None:
        cluster = self.cluster
        for n in cluster.nodes:
            kind = "callmanager" if n.product == "cucm" else "cups"
            db = "DBPub" if n.publisher else "DBSub"
            role = "Publisher" if n.publisher and n.product == "cucm" else "Subscriber"
            if n is self.node:
                auth = "authenticated"
            elif cluster.reachable(n):
                auth = "authenticated using TCP since " + _cli_date(cluster.now())
            else:
                auth = facts.CLI_NETWORK_NOT_AUTHENTICATED
            self.say(f"{n.address} {n.fqdn} {n.hostname} {role} {kind} {db} {auth}")
        if self.node.publisher and self.node.product == "cucm":
            self.say("", "Server Table (processnode) Entries", "----------------------------------")
            self.say(*(n.fqdn for n in cluster.nodes))
        self.say("", "Successful")

    async def _dbreplication(self, args: list[str]) -> None:
        cluster = self.cluster
        await asyncio.sleep(cluster.timing.dbreplication_delay)
        members = [
            n
            for n in cluster.nodes
            if not facts.DBREPLICATION_SAME_PRODUCT_ONLY or n.product == self.node.product
        ]
        pub = next(n for n in members if n.publisher)
        states = {n.hostname: cluster.db_replication_state(n) for n in members}
        tables = facts.DBREPLICATION_TABLES
        self.say(
            "",
            "DB and Replication Services: ALL RUNNING",
            "",
            "DB CLI Status: No other dbreplication CLI is running...",
            "",
            f"Cluster Replication State: Replication status command COMPLETED {tables} tables "
            f"checked out of {tables}",
            "Last Completed Table: typedbversion",
        )
        if any(s != 2 for s in states.values()):
            self.say(facts.DBREPLICATION_ERRORS_LINE)
        self.say(
            "",
            f"DB Version: ccm{cluster.spec.version.replace('.', '_').replace('-', '_')}",
            "Repltimeout set to: 300s",
            "PROCESS option set to: 1",
            "",
            f"Cluster Detailed View from {self.node.hostname} ({len(members)} Servers):",
            "",
        )
        width = max(len("SERVER-NAME"), *(len(n.hostname) for n in members))
        heads = [
            ("SERVER-NAME", width),
            ("IP ADDRESS", 15),
            ("PING(msec)", 10),
            ("RPC?", 4),
            ("STATUS", 13),
            ("QUEUE", 5),
            ("TABLES", 6),
            ("LOOP?", 5),
        ]
        self.say(" ".join(h.ljust(w) for h, w in heads) + " (RTMT) & details")
        self.say(" ".join("-" * w for _, w in heads) + " -----------------")
        for n in members:
            state = states[n.hostname]
            reachable = cluster.reachable(n)
            detail = facts.DBREPLICATION_DETAIL.get(state, "")
            cells = [
                n.hostname,
                n.address,
                f"{0.05 + 0.03 * n.index:.3f}" if reachable else "-",
                "Yes" if reachable else "No",
                "Connected" if reachable else "Not Connected",
                "0",
                "match" if state == 2 else "N/A",
                "Yes" if state == 2 else "No",
            ]
            row = " ".join(c.ljust(w) for c, (_, w) in zip(cells, heads, strict=True))
            self.say(f"{row} ({state}) {'PUB ' if n is pub else ''}{detail}")

    async def _run_sql(self, args: list[str]) -> None:
        if not args:
            self.say(facts.CLI_INVALID_COMMAND)
            return
        query = " ".join(args)
        try:
            parsed = sql.parse(query)
            rows = sql.execute(self.cluster, query)
        except sql.SqlError as exc:
            self.say(exc.message)
            return
        table = sql.TABLES[parsed.table]
        columns = list(table.columns if parsed.columns == ("*",) else parsed.columns)
        self.say(*format_table(columns, rows))

    async def _pagination(self, args: list[str]) -> None:
        mode = args[0].lower() if len(args) == 1 else ""
        if mode not in ("on", "off"):
            self.say(facts.CLI_INVALID_COMMAND)
            return
        self.pagination = mode == "on"
        self.say(facts.CLI_PAGINATION_ON if self.pagination else facts.CLI_PAGINATION_OFF)
