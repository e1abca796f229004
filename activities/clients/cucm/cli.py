"""Client of the VOS platform CLI over SSH (cucm-interfaces.md §7).

VOS has no exec channel: every client drives an interactive PTY shell by prompt matching.
:class:`CucmCli` opens one such session (password auth, host key checked against the
inventory's known_hosts), waits for the ``admin:`` prompt, and runs commands one at a time,
answering their questions (y/n, "Yes", paste prompts) from a table of regular expressions.
Typed helpers parse the outputs the renewal needs. Inferred parsing rules live in
:mod:`activities.clients.cucm.inferred`.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import ipaddress
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import asyncssh

from activities.clients import tracing
from activities.clients.cucm import inferred, ssh_logins
from activities.clients.cucm.errors import (
    CucmAuthError,
    CucmCliError,
    CucmHostKeyError,
    CucmResponseLost,
    CucmServiceError,
    CucmServiceTimeout,
    CucmUnreachable,
    CucmWrongNode,
    ServiceFailedToStart,
)
from activities.clients.cucm.transport import BasicAuth, NodeEndpoint

#: The prompt of every platform user (netSSL, aletheiauc).
PROMPT_RE = re.compile(r"(?m)^admin:\s*$")
WELCOME_RE = re.compile(r"Welcome to the Platform Command Line Interface")
#: ``<Service Name>[STATE]<detail>`` as ``utils service list`` and restarts print it.
SERVICE_LINE_RE = re.compile(r"^(?P<name>\S[^\[\]]*?)\[(?P<status>[A-Z]+)\](?P<detail>.*)$")
#: ``set csr gen``: the question 14SU1 and later ask ([DOC S3] option, prompt [CODE S13]).
CSR_INCLUDE_OU_RE = re.compile(r"Include\s+OU\s+in\s+CSR\s*\(\s*yes\s*\|\s*no\s*\)\s*\??", re.I)
#: ``set csr gen`` and ``set cert import`` success lines ([DOC S5]); one public client compares
#: against "Successfully Generated CSR  for tomcat" (two spaces, no period) [CODE S13], so the
#: words are matched whitespace-tolerantly and the period is optional.
CSR_GENERATED_RE = r"Successfully\s+Generated\s+CSR\s+for\s+{unit}\b\.?"
CERT_IMPORTED_RE = r"Successfully\s+imported\s+certificate\s+for\s+{unit}\b\.?"
#: ``set cert regen <unit>`` success line (cucm-interfaces.md §7.2, [DOC S5]).
CERT_REGENERATED_RE = r"Successfully\s+regenerated\s+certificate\s+for\s+{unit}\b\.?"
#: ``set cert import`` asks for the certificate with this line ([DOC S5], [CODE S13]).
PASTE_CERT_RE = re.compile(r"Paste\s+the\s+Certificate\s+and\s+Hit\s+Enter", re.I)
_PEM_CERT_RE = re.compile(r"-----BEGIN CERTIFICATE-----\s.+?-----END CERTIFICATE-----", re.DOTALL)
CTL_CONFIRM_RE = re.compile(r"Do you want to continue\?\s*\(y/n\)\s*:?", re.IGNORECASE)
CTL_UPDATED_RE = re.compile(r"CTL file Updated", re.IGNORECASE)
#: ``show ctl`` record lines, in the tabular form of 12.x/14 (``5  SERIALNUMBER  16  57:6F:..``)
#: and in the two-column form (``SERIALNUMBER 576f..``): the value is the last word [DOC S7].
CTL_SERIAL_RE = re.compile(r"^\s*(?:\d+\s+)?SERIALNUMBER\s+(?:\d+\s+)?(?P<value>\S+)\s*$", re.I)
CTL_DNSNAME_RE = re.compile(r"^\s*(?:\d+\s+)?DNSNAME\s+(?:\d+\s+)?(?P<value>\S+)\s*$", re.I)
CTL_RECORD_RE = re.compile(r"^\s*CTL\s+Record\s+#:\s*\d+", re.I)
CTL_MODIFIED_RE = re.compile(r"The CTL File was last modified on\s+(?P<when>.+?)\s*$", re.I | re.M)
CTL_NOT_FOUND_RE = re.compile(r"CTL File not found|Length of CTL file:\s*0\b", re.I)
DBREPLICATION_ROW_RE = re.compile(
    r"^(?P<host>\S+)\s+(?P<address>\d{1,3}(?:\.\d{1,3}){3})\s+.*\((?P<state>\d)\)"
)
_ANSI_RE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Za-z0-9]|\x1bO.|[\x07\x08]")
#: netSSL sends a newline when "Welcome" was printed but no prompt followed after a while.
BANNER_NUDGE_AFTER = 30.0

Progress = Callable[[str], object]


@dataclass(frozen=True)
class ServiceLine:
    """One service of ``utils service list``.

    Attributes:
        name: Service name, e.g. ``Cisco Tomcat``.
        status: State without brackets: STARTED, STOPPED, STARTING, STOPPING, NOTRUNNING.
        detail: Text after the state, e.g. ``Service Not Activated``.
    """

    name: str
    status: str
    detail: str = ""

    @property
    def started(self) -> bool:
        """Whether the service runs."""
        return self.status == "STARTED"


def normalize_serial(serial: str) -> str:
    """A certificate serial number as lower-case hex without separators or leading zeros
    (``show ctl`` prints ``57:6F:..``, ``show cert list`` file names ``576f..``)."""
    return serial.replace(":", "").replace(" ", "").lower().lstrip("0") or "0"


@dataclass(frozen=True)
class CtlListing:
    """What ``show ctl`` reports of the CTL file.

    Attributes:
        present: Whether there is a CTL file (a non-secure cluster has none).
        last_modified: The file's "last modified" text, as printed.
        records: The CCM+TFTP records as DNS name -> certificate serial (normalized).
    """

    present: bool
    last_modified: str = ""
    records: dict[str, str] = field(default_factory=dict)

    def lists_serial(self, serial: str) -> bool:
        """Whether a record of the file holds the certificate with this serial number."""
        return normalize_serial(serial) in self.records.values()


def parse_show_ctl(output: str) -> CtlListing:
    """``show ctl`` output as a :class:`CtlListing` (records read after the first
    ``CTL Record #``, so the signer's serial in the header is not a record)."""
    if CTL_NOT_FOUND_RE.search(output):
        return CtlListing(present=False)
    modified = CTL_MODIFIED_RE.search(output)
    records: dict[str, str] = {}
    in_record = False
    name = ""
    for line in output.splitlines():
        if CTL_RECORD_RE.match(line):
            in_record, name = True, f"record {len(records) + 1}"
            continue
        if not in_record:
            continue
        if m := CTL_DNSNAME_RE.match(line):
            name = m["value"].lower()
        elif m := CTL_SERIAL_RE.match(line):
            records[name] = normalize_serial(m["value"])
    return CtlListing(
        present=True, last_modified=modified["when"] if modified else "", records=records
    )


@dataclass(frozen=True)
class SsoStatus:
    """What ``utils sso status`` reports.

    Attributes:
        state: ``enabled``, ``disabled``, or ``broken`` (enabled but the SSO test fails).
        test_result: The raw test result text.
    """

    state: Literal["enabled", "disabled", "broken"]
    test_result: str = ""

    @property
    def enabled(self) -> bool:
        """Whether SSO is enabled (working or not)."""
        return self.state != "disabled"


def known_key_names(known_hosts: str, key: asyncssh.SSHKey) -> list[str]:
    """The host names (not addresses, not hashed entries) known_hosts lists ``key`` for."""
    names: list[str] = []
    try:
        lines = Path(known_hosts).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return names
    wanted = key.export_public_key("openssh").split()[1]
    for line in lines:
        fields = line.split()
        if len(fields) < 3 or fields[0].startswith(("#", "@", "|")) or fields[2] != wanted.decode():
            continue
        for pattern in fields[0].split(","):
            host = pattern.removeprefix("[").split("]:", 1)[0].rstrip("]")
            if host and not _is_address(host) and host not in names:
                names.append(host)
    return names


def _is_address(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


class _Timeout(Exception):
    def __init__(self, output: str) -> None:
        super().__init__("no prompt")
        self.output = output


def _clean(raw: str) -> str:
    text = raw.replace("\r\n", "\n").replace("\r", "")
    return _ANSI_RE.sub("", text)


def _echo_end(text: str, command: str) -> int:
    """Where the terminal's echo of ``command`` ends (its newline), -1 until it has arrived.

    The node echoes a line when it reads it, so input typed earlier (an Enter sent to wake
    the banner) can put an echo and an ``admin:`` prompt ahead of the command's own echo.
    """
    at = text.find(command.strip())
    return -1 if at < 0 else text.find("\n", at)


class CucmCli:
    """One interactive CLI session on one node; use as ``async with CucmCli(...) as cli``.

    Args:
        endpoint: Where the node is; ``known_hosts`` of it verifies the host key.
        auth: The OS platform admin account.
        verify_host_key: Set False only to explicitly disable host key checking.
        banner_timeout: Seconds to wait for the first ``admin:`` prompt.
        command_timeout: Default seconds a command may take to return to the prompt.
    """

    def __init__(
        self,
        endpoint: NodeEndpoint,
        auth: BasicAuth,
        *,
        verify_host_key: bool = True,
        banner_timeout: float = 120.0,
        command_timeout: float = 120.0,
    ) -> None:
        self.endpoint = endpoint
        self._auth = auth
        self.verify_host_key = verify_host_key
        self.banner_timeout = banner_timeout
        self.command_timeout = command_timeout
        self._conn: asyncssh.SSHClientConnection | None = None
        self._proc: asyncssh.SSHClientProcess[str] | None = None
        self._broken = False
        #: The SSH host key the node presented (``SHA256:…``), once connected.
        self.host_key = ""

    @property
    def node(self) -> str:
        """FQDN of the node (for errors)."""
        return self.endpoint.fqdn

    async def __aenter__(self) -> CucmCli:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- session ------------------------------------------------------------------------

    async def connect(self) -> None:
        """Open the SSH session, wait for the prompt and turn pagination off.

        Raises:
            CucmAuthError: The password was refused.
            CucmHostKeyError: The host key is not the one in known_hosts.
            CucmUnreachable: No connection, or no prompt within ``banner_timeout``.
        """
        with tracing.call_span("ssh", "login", node=self.node):
            await self._connect()

    async def _connect(self) -> None:
        known_hosts = self.endpoint.known_hosts
        if self.verify_host_key and not known_hosts:
            raise CucmHostKeyError(
                "no SSH known_hosts configured for the node: set tls.ssh_known_hosts of "
                f"cluster {self.endpoint.cluster or '…'} in the inventory",
                node=self.node,
            )
        try:
            self._conn = await self._log_in()
        except asyncssh.HostKeyNotVerifiable as exc:
            port = self.endpoint.ssh_port
            raise CucmHostKeyError(
                f"SSH host key on port {port} does not match {known_hosts} (tls.ssh_known_hosts "
                f"in the inventory): {exc.reason}; if the node was reinstalled or its key "
                f"changed, check the new key out of band and replace the node's line there "
                f"(ssh-keyscan -p {port} {self.endpoint.host})",
                node=self.node,
            ) from None
        except FileNotFoundError as exc:
            if exc.filename != known_hosts:
                raise CucmUnreachable(f"SSH connection failed: {exc}", node=self.node) from None
            raise CucmHostKeyError(
                f"cannot check its SSH host key: {known_hosts} (tls.ssh_known_hosts in the "
                "inventory) does not exist",
                node=self.node,
            ) from None
        except (OSError, TimeoutError, asyncssh.Error) as exc:
            raise CucmUnreachable(
                f"SSH connection failed: {exc.__class__.__name__}", node=self.node
            ) from None
        key = self._conn.get_server_host_key()
        self.host_key = key.get_fingerprint("sha256") if key is not None else ""
        if self.verify_host_key and known_hosts and key is not None:
            try:
                self._check_key_by_name(known_hosts, key)
            except CucmWrongNode:
                await self.close()
                raise
        try:
            self._proc = await self._conn.create_process(
                term_type="vt100", term_size=(250, 100), encoding="utf-8"
            )
        except (OSError, asyncssh.Error) as exc:
            await self.close()
            raise CucmUnreachable(
                f"SSH shell refused: {exc.__class__.__name__}", node=self.node
            ) from None
        await self._wait_banner()
        await self.run("set cli pagination off")

    async def _log_in(self) -> asyncssh.SSHClientConnection:
        """Connect and log in; a refused password is tried again as :mod:`ssh_logins` says.

        Raises:
            CucmAuthError: Every try was refused (how many, and what to check).
        """
        ep, auth = self.endpoint, self._auth
        memory = ssh_logins.LOGINS
        refused = closed = 0
        while True:
            try:
                conn = await asyncssh.connect(
                    ep.host,
                    ep.ssh_port,
                    username=auth.username,
                    password=auth.password,
                    known_hosts=ep.known_hosts if self.verify_host_key else None,
                    client_keys=None,
                    agent_path=None,
                    config=None,
                    preferred_auth=("password", "keyboard-interactive"),
                    connect_timeout=ep.timeout,
                    login_timeout=ep.timeout,
                )
            except ConnectionRefusedError:
                # The port was closed (sshd restarting, a node coming back): nothing reached
                # the node, so asking again a moment later is safe in any step.
                closed += 1
                if closed >= ssh_logins.CLOSED_TRIES:
                    raise
                await ssh_logins.sleep(ssh_logins.WAIT_SECONDS * 2 ** (closed - 1))
                continue
            except asyncssh.PermissionDenied:
                refused += 1
                # Asked after each refusal: a login elsewhere may have vouched meanwhile.
                tries = memory.tries(ep.cluster, self.node, auth.username, auth.password)
                if refused >= tries:
                    raise CucmAuthError(self._password_refused(refused), node=self.node) from None
                await ssh_logins.sleep(
                    min(ssh_logins.WAIT_SECONDS * refused, ssh_logins.MAX_WAIT_SECONDS)
                )
                continue
            memory.accepted(ep.cluster, self.node, auth.username, auth.password)
            return conn

    def _password_refused(self, times: int) -> str:
        """What an operator reads when the node refused every try."""
        user = self._auth.username
        if times == 1:
            return f"SSH password refused for {user}"
        if ssh_logins.LOGINS.known_good(
            self.endpoint.cluster, self.node, user, self._auth.password
        ):
            return (
                f"SSH password refused for {user} {times} times in a row, though the cluster "
                "accepted it shortly before: was the OS administrator's password changed or "
                "the account locked (show account, set accountlocking)? Check it and retry"
            )
        return (
            f"SSH password refused for {user} {times} times in a row: check the OS "
            "administrator's user name and password (credentials.os_admin of the cluster in "
            "the inventory) and that the account is not locked"
        )

    def _check_key_by_name(self, known_hosts: str, key: asyncssh.SSHKey) -> None:
        """The key must be one known_hosts lists for the node's FQDN, when it lists any.

        asyncssh checks the key against the address it connected to; a known_hosts line that
        names the node pins its key to the node itself, so an address that reaches another
        node (a swapped or stale address) is refused even though that node's key is known.
        """
        port = self.endpoint.ssh_port
        try:
            named = asyncssh.read_known_hosts(known_hosts).match(self.node, "", port)[0]
        except (OSError, ValueError, asyncssh.Error):
            return  # asyncssh read the same file moments ago; its own check stands
        if not named or any(k.public_data == key.public_data for k in named):
            return
        owner = next(iter(known_key_names(known_hosts, key)), "")
        where = f"inventory node {self.node} (address {self.endpoint.host})"
        if owner:
            message = (
                f"{where} answered with the SSH host key {known_hosts} lists for {owner}: the "
                "address reaches another node (a typo in the inventory or a stale DNS record); "
                f"fix the address of {self.node} in the inventory"
            )
        else:
            message = (
                f"{where} presented SSH host key {self.host_key}, not the one {known_hosts} "
                f"lists for {self.node}: if the node was reinstalled, check its new key out of "
                "band and replace its line there (tls.ssh_known_hosts in the inventory); else "
                "the address reaches another node: fix it"
            )
        raise CucmWrongNode(
            message,
            node=self.node,
            address=self.endpoint.host,
            answered_by=owner or f"a node with SSH host key {self.host_key}",
        )

    async def close(self) -> None:
        """Leave the CLI and close the connection."""
        proc, conn = self._proc, self._conn
        self._proc, self._conn = None, None
        if proc is not None and not self._broken:
            with contextlib.suppress(OSError, asyncssh.Error):
                proc.stdin.write("exit\n")
        if conn is not None:
            conn.close()
            await conn.wait_closed()

    async def _read(self, timeout: float) -> str:  # noqa: ASYNC109 - per-read budget
        assert self._proc is not None
        try:
            chunk: str = await asyncio.wait_for(self._proc.stdout.read(65536), timeout)
        except TimeoutError:
            raise
        except (OSError, asyncssh.Error) as exc:
            self._broken = True
            raise CucmResponseLost(
                f"SSH session dropped ({exc.__class__.__name__})", node=self.node
            ) from None
        if not chunk:
            self._broken = True
            raise CucmResponseLost("SSH session closed by the node", node=self.node)
        return chunk

    def _write(self, text: str) -> None:
        assert self._proc is not None
        try:
            self._proc.stdin.write(text)
        except (OSError, asyncssh.Error):
            self._broken = True
            raise CucmResponseLost("SSH session closed by the node", node=self.node) from None

    async def _wait_banner(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.banner_timeout
        raw = ""
        nudges = 0
        welcome_at: float | None = None
        first_prompt_at: float | None = None
        while True:
            text = _clean(raw)
            prompts = len(PROMPT_RE.findall(text))
            now = loop.time()
            if prompts and first_prompt_at is None:
                first_prompt_at = now
            # Each nudge makes the CLI print one more prompt: swallow them all (briefly).
            if prompts > nudges or (first_prompt_at is not None and now - first_prompt_at > 5):
                return
            if welcome_at is None and WELCOME_RE.search(text):
                welcome_at = now
            if welcome_at is not None and not prompts and now - welcome_at > BANNER_NUDGE_AFTER:
                self._write("\n")
                nudges += 1
                welcome_at = now
            remaining = deadline - now
            if remaining <= 0:
                await self._abandon()
                raise CucmUnreachable(
                    f"no CLI prompt within {self.banner_timeout:g} s", node=self.node
                )
            try:
                raw += await self._read(min(remaining, 1.0))
            except TimeoutError:
                continue

    async def _abandon(self) -> None:
        self._broken = True
        await self.close()

    async def _exchange(
        self,
        command: str,
        answers: Mapping[str | re.Pattern[str], str],
        timeout: float,  # noqa: ASYNC109 - the prompt must be back by then
        on_line: Callable[[str], object] | None = None,
    ) -> str:
        # Every command goes through here: one span each, named by the command's first words
        # (its arguments, a file name or a value, stay out).
        with tracing.call_span("ssh", " ".join(command.split()[:3]), node=self.node):
            return await self._converse(command, answers, timeout, on_line)

    async def _converse(
        self,
        command: str,
        answers: Mapping[str | re.Pattern[str], str],
        timeout: float,  # noqa: ASYNC109 - the prompt must be back by then
        on_line: Callable[[str], object] | None = None,
    ) -> str:
        if self._proc is None or self._broken:
            raise CucmCliError("the CLI session is closed", node=self.node, command=command)
        compiled = [(re.compile(p) if isinstance(p, str) else p, r) for p, r in answers.items()]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        self._write(command + "\n")
        raw = ""
        scan_from = 0
        lines_seen = 0
        end_of_echo = -1
        while True:
            text = _clean(raw)
            if end_of_echo < 0:
                end_of_echo = _echo_end(text, command)
            body = text[end_of_echo + 1 :] if end_of_echo >= 0 else ""
            if end_of_echo >= 0:
                if on_line is not None:
                    complete = body.split("\n")[:-1]
                    for line in complete[lines_seen:]:
                        result = on_line(line)
                        if inspect.isawaitable(result):
                            await result
                    lines_seen = len(complete)
                prompt = PROMPT_RE.search(body, scan_from)
                if prompt is not None:
                    return body[: prompt.start()]
                for pattern, reply in compiled:
                    asked = pattern.search(body, scan_from)
                    if asked is not None:
                        scan_from = asked.end()
                        self._write(reply.rstrip("\n") + "\n")
                        break
            remaining = deadline - loop.time()
            if remaining <= 0:
                await self._abandon()
                raise _Timeout(body)
            try:
                raw += await self._read(remaining)
            except TimeoutError:
                await self._abandon()
                raise _Timeout(body) from None

    async def run(
        self,
        command: str,
        answers: Mapping[str | re.Pattern[str], str] | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - the prompt must be back by then
    ) -> str:
        """Run one command and return its output (without the echo and the final prompt).

        Args:
            command: The command line, e.g. ``utils service list``.
            answers: Questions the command may ask (regular expressions) and the reply to
                send to each; a multi-line reply (a pasted PEM) is sent as is.
            timeout: Seconds until the prompt must be back (default ``command_timeout``).

        Raises:
            CucmCliError: The CLI rejected the command, or the prompt did not come back in
                time (the session is then closed).
            CucmResponseLost: The session dropped before the prompt came back: the command
                may or may not have been applied.
        """
        budget = self.command_timeout if timeout is None else timeout
        try:
            output = await self._exchange(command, answers or {}, budget)
        except _Timeout:
            raise CucmCliError(
                f"{command!r}: no prompt within {budget:g} s", node=self.node, command=command
            ) from None
        if inferred.CLI_INVALID_COMMAND_RE.search(output):
            raise CucmCliError(
                f"{command!r} rejected: {output.strip()}", node=self.node, command=command
            )
        return output

    def _unexpected(self, command: str, output: str) -> CucmCliError:
        lines = [line for line in output.strip().splitlines() if line.strip()]
        summary = " / ".join(lines[-3:]) if lines else "no output"
        return CucmCliError(
            f"{command!r}: unexpected output: {summary}", node=self.node, command=command
        )

    # -- services -----------------------------------------------------------------------

    async def service_list(
        self,
        timeout: float | None = None,  # noqa: ASYNC109 - the prompt must be back by then
    ) -> dict[str, ServiceLine]:
        """``utils service list`` as service name -> :class:`ServiceLine`."""
        command = "utils service list"
        output = await self.run(command, timeout=timeout)
        services = self._parse_services(output)
        if not services:
            raise self._unexpected(command, output)
        return services

    @staticmethod
    def _parse_services(output: str) -> dict[str, ServiceLine]:
        services: dict[str, ServiceLine] = {}
        for line in output.splitlines():
            m = SERVICE_LINE_RE.match(line.strip())
            if m:
                name = m["name"].strip()
                services[name] = ServiceLine(name, m["status"], m["detail"].strip())
        return services

    async def restart_service(
        self,
        name: str,
        timeout: float = 600.0,  # noqa: ASYNC109 - a polling budget, reported in the error
        on_progress: Progress | None = None,
        poll_interval: float = 5.0,
    ) -> ServiceLine:
        """``utils service restart <name>`` and wait until the service is STARTED.

        Subscribers return to the prompt after ``[STARTING]`` (and the CLI gives up on its
        own after a while): the client then polls ``utils service list`` until STARTED.

        Args:
            name: Exact service name, e.g. ``Cisco Tomcat``.
            timeout: Seconds the whole restart may take.
            on_progress: Called with each state seen (``STOPPING``, ``STARTING``, ...), from
                the restart output and from polling; may be a coroutine function (heartbeat).
            poll_interval: Seconds between ``utils service list`` polls.

        Returns:
            The service line once STARTED.

        Raises:
            CucmServiceError: Not activated or unknown.
            ServiceFailedToStart: The service ended NOTRUNNING (or FAILED, STOPPED).
            CucmServiceTimeout: Not STARTED within ``timeout``.
            CucmResponseLost: The session dropped mid-command (the restart may have happened).
        """
        command = f"utils service restart {name}"
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        states: list[str] = []

        async def report(state: str) -> None:
            if on_progress is not None:
                result = on_progress(state)
                if inspect.isawaitable(result):
                    await result

        async def on_line(line: str) -> None:
            m = SERVICE_LINE_RE.match(line.strip())
            if m and m["name"].strip().lower() == name.lower():
                states.append(m["status"])
                await report(m["status"])

        try:
            output = await self._exchange(command, {}, timeout, on_line)
        except _Timeout:
            raise CucmServiceTimeout(
                f"{name} not STARTED within {timeout:g} s (last state: "
                f"{states[-1] if states else 'none'})",
                node=self.node,
                service=name,
            ) from None
        self._check_control_output(command, name, output, states)
        if states and states[-1] == "STARTED":
            return ServiceLine(name, "STARTED")
        last = states[-1] if states else None
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise CucmServiceTimeout(
                    f"{name} not STARTED within {timeout:g} s (last state: {last})",
                    node=self.node,
                    service=name,
                )
            await asyncio.sleep(min(poll_interval, remaining))
            try:
                services = self._parse_services(
                    await self._exchange("utils service list", {}, max(deadline - loop.time(), 1))
                )
            except _Timeout:
                raise CucmServiceTimeout(
                    f"{name} not STARTED within {timeout:g} s (last state: {last})",
                    node=self.node,
                    service=name,
                ) from None
            line = services.get(name)
            if line is None:
                raise CucmCliError(
                    f"{name} missing from utils service list", node=self.node, command=command
                )
            if line.status != last:
                last = line.status
                await report(line.status)
            if line.started:
                return line
            if line.status in inferred.CLI_SERVICE_FAILED_STATES or line.status == "STOPPED":
                raise ServiceFailedToStart(
                    f"{name} did not start: [{line.status}] {line.detail}".rstrip(),
                    node=self.node,
                    service=name,
                )

    def _check_control_output(
        self, command: str, name: str, output: str, states: list[str]
    ) -> None:
        if inferred.CLI_UNKNOWN_SERVICE_RE.search(output):
            raise CucmServiceError(
                f"{name}: unknown service", node=self.node, service=name, retryable=False
            )
        if "not activated" in output.lower():
            raise CucmServiceError(
                f"{name}: service not activated", node=self.node, service=name, retryable=False
            )
        failed = [s for s in states if s in inferred.CLI_SERVICE_FAILED_STATES]
        if failed:
            raise ServiceFailedToStart(
                f"{name} failed to start [{failed[-1]}]",
                node=self.node,
                service=name,
            )
        if inferred.CLI_FAILED_RE.search(output):
            lines = [line for line in output.strip().splitlines() if line.strip()]
            raise CucmServiceError(
                f"{name}: {' / '.join(lines[-2:])}", node=self.node, service=name
            )
        if not states:
            raise self._unexpected(command, output)

    # -- SSO ----------------------------------------------------------------------------

    async def sso_status(self) -> SsoStatus:
        """``utils sso status``."""
        command = "utils sso status"
        output = await self.run(command)
        status = inferred.SSO_STATUS_RE.search(output)
        if status is None:
            raise self._unexpected(command, output)
        if status["status"].lower() != "enabled":
            return SsoStatus("disabled")
        test = inferred.SSO_TEST_RE.search(output)
        result = test["result"].strip() if test else ""
        if test and not inferred.SSO_TEST_OK_RE.match(result):
            return SsoStatus("broken", result)
        return SsoStatus("enabled", result)

    async def sso_disable(self) -> bool:
        """``utils sso disable``, confirming with "Yes".

        Returns:
            True when SSO was disabled now, False when it was not enabled.

        Raises:
            CucmResponseLost: The session dropped: SSO may or may not be disabled.
        """
        command = "utils sso disable"
        output = await self.run(command, {inferred.SSO_DISABLE_CONFIRM_RE: "Yes"})
        if inferred.SSO_DISABLE_DONE_RE.search(output):
            return True
        if inferred.SSO_NOT_ENABLED_RE.search(output):
            return False
        raise self._unexpected(command, output)

    # -- cluster ------------------------------------------------------------------------

    async def dbreplication_states(
        self,
        timeout: float = 300.0,  # noqa: ASYNC109 - the command is slow by nature
    ) -> dict[str, int]:
        """``utils dbreplication runtimestate`` as host name -> RTMT state (2 = good)."""
        command = "utils dbreplication runtimestate"
        output = await self.run(command, timeout=timeout)
        states = {
            m["host"]: int(m["state"])
            for line in output.splitlines()
            if (m := DBREPLICATION_ROW_RE.match(line.strip()))
        }
        if not states:
            raise self._unexpected(command, output)
        return states

    async def show_ctl(self) -> CtlListing:
        """``show ctl``: the CTL file's records (publisher)."""
        command = "show ctl"
        output = await self.run(command)
        listing = parse_show_ctl(output)
        if listing.present and not listing.records:
            raise self._unexpected(command, output)
        return listing

    async def ctl_update(self) -> None:
        """``utils ctl update CTLFile`` (publisher only), confirming with "y"."""
        command = "utils ctl update CTLFile"
        output = await self.run(command, {CTL_CONFIRM_RE: "y"})
        if not CTL_UPDATED_RE.search(output):
            raise self._unexpected(command, output)

    async def delete_trust_certificate(self, store: str, file_name: str) -> bool:
        """``set cert delete trust <store>/<file>``, confirming; idempotent.

        Returns:
            True when the certificate was deleted, False when the node's store has no such
            file (already gone: nothing to do).

        Raises:
            CucmCliError: The CLI refused the deletion or answered something unexpected.
        """
        command = inferred.CERT_DELETE_TRUST_COMMAND.format(store=store, file=file_name)
        output = await self.run(command, dict(inferred.CERT_DELETE_CONFIRM))
        if inferred.CERT_NOT_FOUND_RE.search(output):
            return False
        if inferred.CERT_DELETED_RE.search(output) and not inferred.CLI_FAILED_RE.search(output):
            return True
        raise self._unexpected(command, output)

    # -- single-server certificates (per-node strategy) ---------------------------------

    async def generate_csr(self, unit: str, *, include_ou: bool = False) -> str:
        """``set csr gen <unit>``: a single-server CSR on this node, replacing any pending one.

        14SU1 and later ask whether to include the OU; it is answered with ``include_ou``.

        Args:
            unit: The purpose, e.g. ``tomcat`` or ``tomcat-ECDSA``.
            include_ou: Answer "yes" to "Include OU in CSR (yes|no)?" when asked.

        Returns:
            The CLI's success line, e.g. "Successfully Generated CSR for tomcat."

        Raises:
            CucmCliError: The CLI did not report success; the message carries its text.
        """
        command = f"set csr gen {unit}"
        output = await self.run(command, {CSR_INCLUDE_OU_RE: "yes" if include_ou else "no"})
        done = re.search(CSR_GENERATED_RE.format(unit=re.escape(unit)), output, re.I)
        if done is None or inferred.CLI_FAILED_RE.search(output):
            raise self._refused(command, output)
        return done.group(0)

    async def show_csr(self, unit: str) -> str | None:
        """``show csr own <unit>``: the CSR pending on this node.

        Returns:
            The CSR as PEM (one line per row, ending in a newline), or None when no CSR is
            pending for ``unit``.

        Raises:
            CucmCliError: Neither a CSR nor a "none pending" answer.
        """
        command = f"show csr own {unit}"
        output = await self.run(command)
        pem = inferred.CSR_PEM_RE.search(output)
        if pem is not None:
            return "\n".join(line.strip() for line in pem.group(0).splitlines()) + "\n"
        if inferred.CSR_NONE_PENDING_RE.search(output):
            return None
        raise self._unexpected(command, output)

    async def import_certificate(self, kind: Literal["own", "trust"], unit: str, pem: str) -> str:
        """``set cert import own|trust <unit>``: paste one PEM certificate at the CLI's prompt.

        ``own`` replaces the node's ``unit`` certificate (it must answer the CSR pending
        there); ``trust`` adds a CA to the ``unit``'s trust store (``tomcat`` →
        ``tomcat-trust``). The new certificate is active once the unit's services restart.

        Args:
            kind: ``own`` (identity) or ``trust``.
            unit: The purpose, e.g. ``tomcat``.
            pem: Exactly one PEM certificate (the CLI reads one per import).

        Returns:
            The CLI's answer from "Successfully imported certificate for <unit>." on.

        Raises:
            ValueError: ``pem`` holds no certificate or more than one.
            CucmCliError: The CLI refused the import (e.g. a multi-SAN certificate on 14SU2
                and later), verbatim in the message; retrying does not help.
            CucmResponseLost: The session dropped after the paste: the import may or may not
                have been applied.
        """
        certs = _PEM_CERT_RE.findall(pem)
        if not certs or (inferred.CERT_IMPORT_ONE_PER_PASTE and len(certs) > 1):
            raise ValueError(f"one PEM certificate per import, got {len(certs)}")
        command = f"set cert import {kind} {unit}"
        pasted = "\n".join(line.strip() for line in certs[0].splitlines() if line.strip())
        output = await self.run(command, {PASTE_CERT_RE: pasted})
        done = re.search(CERT_IMPORTED_RE.format(unit=re.escape(unit)), output, re.I)
        if done is None or inferred.CLI_FAILED_RE.search(output):
            raise self._refused(command, output, retryable=False)
        return "\n".join(line.strip() for line in output[done.start() :].strip().splitlines())

    async def regenerate_certificate(self, unit: str) -> str:
        """``set cert regen <unit>``: a new self-signed certificate and key for the unit on
        this node. It replaces the unit's certificate, CA-signed or not, and is served once
        the unit's services restart.

        Args:
            unit: The purpose, e.g. ``tomcat``.

        Returns:
            The CLI's success line, e.g. "Successfully regenerated certificate for tomcat."

        Raises:
            CucmCliError: The CLI did not report success; the message carries its text.
        """
        command = f"set cert regen {unit}"
        output = await self.run(command)
        done = re.search(CERT_REGENERATED_RE.format(unit=re.escape(unit)), output, re.I)
        if done is None or inferred.CLI_FAILED_RE.search(output):
            raise self._refused(command, output)
        return done.group(0)

    def _refused(self, command: str, output: str, *, retryable: bool = True) -> CucmCliError:
        """The CLI's answer after any pasted certificate, verbatim, as a CucmCliError."""
        end = output.rfind("-----END CERTIFICATE-----")
        if end >= 0:
            output = output[output.find("\n", end) + 1 :] if "\n" in output[end:] else ""
        elif (paste := PASTE_CERT_RE.search(output)) is not None:
            output = output[paste.end() :]
        elif (ou := CSR_INCLUDE_OU_RE.search(output)) is not None:
            output = output[output.find("\n", ou.end()) + 1 :] if "\n" in output[ou.end() :] else ""
        text = "\n".join(line.rstrip() for line in output.strip().splitlines() if line.strip())
        error = CucmCliError(
            f"{command!r} refused: {text or 'no output'}", node=self.node, command=command
        )
        error.retryable = retryable
        return error
