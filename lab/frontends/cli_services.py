"""VOS CLI commands on services, SSO and the session: ``utils service``, ``utils sso``, pagination.

Each command is a function of the :class:`~lab.frontends.cli_session.CliSession` it runs in
and its arguments; :mod:`lab.frontends.cli_commands` maps command words to them.
"""

from __future__ import annotations

import asyncio
import datetime as dt

from lab import facts
from lab.errors import LabError
from lab.frontends.cli_session import CliSession, cli_date
from lab.nodes import Action, Node, ServiceState

_ACTION_WORDS: dict[str, tuple[str, str]] = {
    "restart": ("restarting", "restarted"),
    "start": ("starting", "started"),
    "stop": ("stopping", "stopped"),
}


async def service_list(cli: CliSession, args: list[str]) -> None:
    """``utils service list``."""
    if args:
        cli.say(facts.CLI_INVALID_COMMAND)
        return
    cli.say(
        "Requesting service status, please wait...",
        "Service Manager is running",
        "Getting list of all services",
        ">> Return code = 0",
    )
    # In name order, as VOS lists its services (cucm-interfaces.md S23).
    services = sorted(cli.node.services.values(), key=lambda s: s.name)
    cli.say(*(f"{s.name}{s.cli_form()}" for s in services))
    cli.say(facts.CLI_PRIMARY_NODE_LINE, "Command successful")


async def service_restart(cli: CliSession, args: list[str]) -> None:
    """``utils service restart <name>``, streaming the states until it ends."""
    await _service_control(cli, "restart", args)


async def service_start(cli: CliSession, args: list[str]) -> None:
    """``utils service start <name>``."""
    await _service_control(cli, "start", args)


async def service_stop(cli: CliSession, args: list[str]) -> None:
    """``utils service stop <name>``."""
    await _service_control(cli, "stop", args)


def _resolve_service(cli: CliSession, args: list[str]) -> ServiceState | None:
    wanted = " ".join(args).lower()
    return next((s for s in cli.node.services.values() if s.name.lower() == wanted), None)


async def _service_control(cli: CliSession, action: Action, args: list[str]) -> None:
    if not args:
        cli.say(facts.CLI_INVALID_COMMAND)
        return
    svc = _resolve_service(cli, args)
    if svc is None:
        cli.fail(facts.CLI_UNKNOWN_SERVICE.format(name=" ".join(args)))
        return
    name = svc.name
    if not svc.activated:
        cli.fail(f"{name}{svc.cli_form()}")
        return
    updates: asyncio.Queue[tuple[str, bool]] = asyncio.Queue()

    async def watch(node: Node, state: ServiceState, old: str, new: str) -> None:
        if node is cli.node and state.name == name:
            updates.put_nowait((new, state.failed))

    # A hook sees every transition, even ones shorter than a scheduling tick.
    cli.cluster.hooks.append(watch)
    try:
        try:
            cli.cluster.control(cli.node, name, action, origin="cli")
        except LabError as exc:
            cli.fail(exc.message)
            return
        cli.lab.lose_response(
            cli.node, "service-restart" if action == "restart" else "service-control"
        )
        doing, done = _ACTION_WORDS[action]
        cli.say(
            f"Do not press Ctrl+C while the service is {doing}. If the service has not "
            f"{done} properly, execute the same command again.",
            "Service Manager is running",
        )
        await _stream(cli, svc, action, updates)
    finally:
        cli.cluster.hooks.remove(watch)


async def _stream(
    cli: CliSession,
    svc: ServiceState,
    action: Action,
    updates: asyncio.Queue[tuple[str, bool]],
) -> None:
    timing = cli.cluster.timing
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timing.cli_service_wait
    early = facts.SUBSCRIBER_RESTART_RETURNS_EARLY and not cli.node.publisher
    while True:
        remaining = deadline - loop.time()
        if remaining <= 0:
            cli.say(facts.CLI_SERVICE_WAIT_EXPIRED.format(name=svc.name))
            return
        try:
            status, failed = await asyncio.wait_for(
                updates.get(), min(timing.cli_progress_interval, remaining)
            )
        except TimeoutError:
            if not svc.transitioning and updates.empty():
                return
            if svc.status in ("Starting", "Stopping"):
                cli.say(f"{svc.name}[{svc.status.upper()}]")
            continue
        if status == "Stopping":
            cli.say(f"{svc.name}[STOPPING]")
        elif status == "Stopped" and failed:
            cli.fail(f"{svc.name}[{facts.CLI_SERVICE_FAILED_STATE}]")
            return
        elif status == "Stopped" and action == "stop":
            cli.say(f"{svc.name}[STOPPED]")
            return
        elif status == "Starting":
            cli.say(f"{svc.name}[STARTING]")
            if early:
                return
        elif status == "Started":
            cli.say(f"{svc.name}[STARTED]")
            return


async def sso_status(cli: CliSession, args: list[str]) -> None:
    """``utils sso status``."""
    cluster = cli.cluster
    if cluster.sso_enabled:
        started = cli.lab.journal.entries("lab.started")
        imported = (
            cli_date(dt.datetime.fromtimestamp(started[0].at, dt.UTC))
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
    cli.say(
        status_line.format(status=status),
        imported_line.format(imported=imported),
        test_line.format(test=test),
    )


async def sso_disable(cli: CliSession, args: list[str]) -> None:
    """``utils sso disable``, after a Yes at the prompt."""
    if not cli.cluster.sso_enabled:
        cli.say(facts.SSO_ALREADY_DISABLED)
        return
    cli.say(*facts.SSO_DISABLE_APPS)
    answer = await cli.ask(facts.SSO_DISABLE_PROMPT)
    if answer.strip() != "Yes":
        cli.say(facts.SSO_DISABLE_ABORTED)
        return
    cli.cluster.sso_disable(origin="cli")
    cli.lab.lose_response(cli.node, "sso-disable")
    cli.say(facts.SSO_DISABLE_DONE)


async def sso_enable(cli: CliSession, args: list[str]) -> None:
    """``utils sso enable``: real CUCM allows it only in the GUI."""
    cli.say(facts.SSO_ENABLE_GUI_ONLY)


async def pagination(cli: CliSession, args: list[str]) -> None:
    """``set cli pagination on|off``."""
    mode = args[0].lower() if len(args) == 1 else ""
    if mode not in ("on", "off"):
        cli.say(facts.CLI_INVALID_COMMAND)
        return
    cli.pagination = mode == "on"
    cli.say(facts.CLI_PAGINATION_ON if cli.pagination else facts.CLI_PAGINATION_OFF)
