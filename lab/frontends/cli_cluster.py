"""VOS CLI commands on the cluster: ``show network cluster``, ``utils dbreplication``, ``run sql``.

Each command is a function of the :class:`~lab.frontends.cli_session.CliSession` it runs in
and its arguments; :mod:`lab.frontends.cli_commands` maps command words to them.
"""

from __future__ import annotations

import asyncio

from lab import facts
from lab.frontends import sql
from lab.frontends.cli_session import CliSession, cli_date


def format_table(columns: list[str], rows: list[dict[str, str]]) -> list[str]:
    """``run sql`` output: header, ``=`` underline, rows, each column padded to its width."""
    widths = [max([len(c), *(len(r.get(c, "")) for r in rows)]) for c in columns]

    def line(cells: list[str]) -> str:
        return " ".join(cell.ljust(w) for cell, w in zip(cells, widths, strict=True)).rstrip()

    out = [line(columns), " ".join("=" * w for w in widths)]
    out.extend(line([r.get(c, "") for c in columns]) for r in rows)
    return out


async def network_cluster(cli: CliSession, args: list[str]) -> None:
    """``show network cluster``."""
    cluster = cli.cluster
    for n in cluster.nodes:
        kind = "callmanager" if n.product == "cucm" else "cups"
        db = "DBPub" if n.publisher else "DBSub"
        role = "Publisher" if n.publisher and n.product == "cucm" else "Subscriber"
        if n is cli.node:
            auth = "authenticated"
        elif cluster.reachable(n):
            auth = "authenticated using TCP since " + cli_date(cluster.now())
        else:
            auth = facts.CLI_NETWORK_NOT_AUTHENTICATED
        cli.say(f"{n.address} {n.fqdn} {n.hostname} {role} {kind} {db} {auth}")
    if cli.node.publisher and cli.node.product == "cucm":
        cli.say("", "Server Table (processnode) Entries", "----------------------------------")
        cli.say(*(n.fqdn for n in cluster.nodes))
    cli.say("", "Successful")


async def dbreplication(cli: CliSession, args: list[str]) -> None:
    """``utils dbreplication runtimestate``."""
    cluster = cli.cluster
    await asyncio.sleep(cluster.timing.dbreplication_delay)
    members = [
        n
        for n in cluster.nodes
        if not facts.DBREPLICATION_SAME_PRODUCT_ONLY or n.product == cli.node.product
    ]
    pub = next(n for n in members if n.publisher)
    states = {n.hostname: cluster.db_replication_state(n) for n in members}
    tables = facts.DBREPLICATION_TABLES
    cli.say(
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
        cli.say(facts.DBREPLICATION_ERRORS_LINE)
    cli.say(
        "",
        f"DB Version: ccm{cluster.spec.version.replace('.', '_').replace('-', '_')}",
        "Repltimeout set to: 300s",
        "PROCESS option set to: 1",
        "",
        f"Cluster Detailed View from {cli.node.hostname} ({len(members)} Servers):",
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
    cli.say(" ".join(h.ljust(w) for h, w in heads) + " (RTMT) & details")
    cli.say(" ".join("-" * w for _, w in heads) + " -----------------")
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
        cli.say(f"{row} ({state}) {'PUB ' if n is pub else ''}{detail}")


async def run_sql(cli: CliSession, args: list[str]) -> None:
    """``run sql <query>`` over :mod:`lab.frontends.sql`."""
    if not args:
        cli.say(facts.CLI_INVALID_COMMAND)
        return
    query = " ".join(args)
    try:
        parsed = sql.parse(query)
        rows = sql.execute(cli.cluster, query)
    except sql.SqlError as exc:
        cli.say(exc.message)
        return
    table = sql.TABLES[parsed.table]
    columns = list(table.columns if parsed.columns == ("*",) else parsed.columns)
    cli.say(*format_table(columns, rows))
