"""``ucrenew check``: post-change checks of a renewal, run when the operator asks.

CSCup28852 makes phones reset every 7 minutes once a multi-server CallManager certificate is
active. Seeing it takes one full reset period after the change's own resets, so it is not a
step of the workflow (which would hold the change open that long after its window's work is
done): the operator runs this after a CallManager change, as often as wanted. It looks at the
phones' registration times in RisPort twice, ``--window`` seconds apart (default: a little
over 7 minutes), and also prints the findings the renewal recorded (re-issue needs,
CSCur97909 leftovers, CSCus47235).
"""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Annotated

import typer

from activities.catalog import CSCUP28852_PERIOD_SECONDS
from console.common import (
    CliError,
    ExitCode,
    configure_cli_logging,
    console,
    run_async,
    settings,
    status_of,
)

if TYPE_CHECKING:
    from workflows.caveats import PhoneResetCheck
    from workflows.models import Problem

#: A look one reset period plus a margin after the first sees a reset if there is one.
DEFAULT_WINDOW = CSCUP28852_PERIOD_SECONDS + 60.0


async def watch_phone_resets(cluster: str, window: float) -> PhoneResetCheck:
    """Two RisPort looks ``window`` seconds apart on the cluster's CUCM publisher.

    Raises:
        CliError: the inventory or RisPort could not be read.
    """
    from activities.clients.ca.errors import CaConfigurationError
    from activities.clients.cucm.discovery import endpoint
    from activities.clients.cucm.errors import CucmError
    from activities.clients.cucm.phone_watch import registration_times
    from activities.clients.cucm.transport import credentials
    from activities.clients.inventory import InventoryError, load_inventory
    from workers.wiring import inventory_path, local_ca
    from workflows.caveats import cscup28852_check

    s = settings()
    try:
        inventory = load_inventory(inventory_path(s))
        entry = inventory.cluster(cluster)
    except (InventoryError, KeyError, OSError) as exc:
        raise CliError(f"cannot read the inventory for cluster {cluster}: {exc}") from None
    try:
        roots = [local_ca(s).root_pem]
    except CaConfigurationError as exc:
        raise CliError(str(exc)) from None
    ep = endpoint(entry, entry.publisher_node, roots)
    auth = credentials(inventory, entry, "app_user")
    try:
        before = await registration_times(ep, auth)
        await asyncio.sleep(window)
        after = await registration_times(ep, auth)
    except CucmError as exc:
        raise CliError(f"RisPort on {entry.publisher_node.fqdn}: {exc}") from None
    return cscup28852_check(before, after, window)


@run_async
async def check(
    change_id: str,
    window: Annotated[
        float,
        typer.Option(
            min=0.0,
            help="seconds between the two looks at the phones (CSCup28852 resets every 420 s)",
        ),
    ] = DEFAULT_WINDOW,
    json_out: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """After a change: are phones resetting every 7 minutes (CSCup28852)? Plus the findings
    the renewal recorded. Exit 3 when something needs attention."""
    from rich.table import Table

    from console.render import findings_table

    configure_cli_logging()
    status = await status_of(change_id)
    phones: PhoneResetCheck | None = None
    if "CallManager" in status.purposes:
        if not json_out:
            console.print(f"watching the phones' registrations for {window:g} s (CSCup28852)…")
        phones = await watch_phone_resets(status.cluster, window)
    findings: list[Problem] = list(status.findings)
    if phones is not None and phones.finding is not None:
        findings.append(phones.finding)
    if json_out:
        typer.echo(
            json.dumps(
                {
                    "change": change_id,
                    "phase": status.phase,
                    "phone_resets": phones.model_dump() if phones else None,
                    "findings": [f.model_dump() for f in findings],
                },
                indent=2,
            )
        )
    else:
        table = Table(title=f"post-change checks of {change_id} ({status.phase})")
        table.add_column("check")
        table.add_column("result", overflow="fold")
        if phones is None:
            table.add_row("CSCup28852", "not applicable: the change renews no CallManager")
        else:
            table.add_row(
                "CSCup28852",
                f"{phones.re_registered} of {phones.watched} registered phones registered "
                f"again within {phones.window_seconds:g} s"
                + (" — SUSPECTED" if phones.finding else " — none seen")
                + (
                    f" (shorter than the {CSCUP28852_PERIOD_SECONDS:g} s reset period: a "
                    "reset may fall outside it)"
                    if window < CSCUP28852_PERIOD_SECONDS
                    else ""
                ),
            )
        console.print(table)
        if findings:
            console.print(findings_table(findings))
    if findings:
        raise typer.Exit(ExitCode.REFUSED)
