"""A tiny SQL engine for AXL ``executeSQLQuery`` over the twin's Informix-like tables.

Grammar (keywords and identifiers case-insensitive, like Informix)::

    SELECT * | col [, col]* FROM table [WHERE col op literal [AND col op literal]*] [;]

``op`` is one of ``= != <> < <= > >=``; a literal is a quoted string or a number. Numbers
compare numerically, strings compare case-sensitively. Tables are built from the cluster on
each query, so they always reflect the current state.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from lab import facts
from lab.cluster import Cluster
from lab.nodes import Node

Row = dict[str, str]
_T = TypeVar("_T", str, float)


class SqlError(Exception):
    """A query the engine refuses, with the Informix error code."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Table:
    """Column names (in order) and a row source."""

    columns: tuple[str, ...]
    rows: Callable[[Cluster], list[Row]]


def _pkid(*parts: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_DNS, "/".join(parts)))


def enterprise_pkid(cluster: Cluster) -> str:
    """pkid of the EnterpriseWideData pseudo-node."""
    return _pkid(cluster.spec.cluster, "EnterpriseWideData")


def node_pkid(cluster: Cluster, hostname: str) -> str:
    """pkid of a node's processnode row (also the uuid listProcessNode shows)."""
    return _pkid(cluster.spec.cluster, "processnode", hostname)


def processnode_name(node: Node, naming: str = "fqdn") -> str:
    """processnode.name of a node, as the topology's ``server_names`` says servers are named."""
    if naming == "address":
        return node.address
    if naming == "hostname":
        return node.hostname
    return facts.PROCESSNODE_NAME.format(fqdn=node.fqdn)


def _processnode(cluster: Cluster) -> list[Row]:
    name, description, _usage, role = facts.ENTERPRISE_WIDE_DATA
    rows = [
        {
            "pkid": enterprise_pkid(cluster),
            "name": name,
            "nodeid": "1",
            "description": description,
            "tkprocessnoderole": str(role),
            "isactive": facts.SQL_TRUE,
        }
    ]
    for i, node in enumerate(cluster.nodes, start=2):
        rows.append(
            {
                "pkid": node_pkid(cluster, node.hostname),
                "name": processnode_name(node, cluster.spec.server_names),
                "nodeid": str(i),
                "description": facts.PROCESSNODE_DESCRIPTION[node.product].format(role=node.role),
                "tkprocessnoderole": "1" if node.product == "cucm" else "2",
                "isactive": facts.SQL_TRUE if cluster.reachable(node) else facts.SQL_FALSE,
            }
        )
    return rows


def _processconfig(cluster: Cluster) -> list[Row]:
    enterprise = enterprise_pkid(cluster)
    params = {
        "ClusterSecurityMode": str(cluster.security_mode),
        "ClusterID": cluster.spec.cluster,
    }
    return [
        {
            "pkid": _pkid(cluster.spec.cluster, "processconfig", name),
            "fkprocessnode": enterprise,
            "paramname": name,
            "paramvalue": value,
        }
        for name, value in params.items()
    ]


def callmanager_pkid(cluster: Cluster, hostname: str) -> str:
    """pkid of a node's CallManager entity (``callmanager`` table)."""
    return _pkid(cluster.spec.cluster, "callmanager", hostname)


def cm_group_pkid(cluster: Cluster, name: str) -> str:
    """pkid of a CallManager group."""
    return _pkid(cluster.spec.cluster, "callmanagergroup", name)


def cm_group_member_pkid(cluster: Cluster, group: str, hostname: str) -> str:
    """pkid of a node's membership of a CallManager group."""
    return _pkid(cluster.spec.cluster, "callmanagergroupmember", group, hostname)


def device_pool_pkid(cluster: Cluster, name: str) -> str:
    """pkid of a device pool."""
    return _pkid(cluster.spec.cluster, "devicepool", name)


def _callmanager(cluster: Cluster) -> list[Row]:
    return [
        {
            "pkid": callmanager_pkid(cluster, n.hostname),
            "name": facts.CALLMANAGER_NAME.format(hostname=n.hostname),
            "description": n.fqdn,
            "fkprocessnode": node_pkid(cluster, n.hostname),
        }
        for n in cluster.nodes
        if n.product == "cucm"
    ]


def _callmanagergroup(cluster: Cluster) -> list[Row]:
    return [
        {
            "pkid": cm_group_pkid(cluster, g.name),
            "name": g.name,
            "tftpdefault": facts.SQL_TRUE if i == 0 else facts.SQL_FALSE,
        }
        for i, g in enumerate(cluster.spec.resolved_cm_groups())
    ]


def _callmanagergroupmember(cluster: Cluster) -> list[Row]:
    return [
        {
            "pkid": cm_group_member_pkid(cluster, g.name, member),
            "fkcallmanagergroup": cm_group_pkid(cluster, g.name),
            "fkcallmanager": callmanager_pkid(cluster, member),
            "priority": str(priority + facts.SQL_CM_GROUP_PRIORITY_BASE),
        }
        for g in cluster.spec.resolved_cm_groups()
        for priority, member in enumerate(g.members)
    ]


def _devicepool(cluster: Cluster) -> list[Row]:
    return [
        {
            "pkid": device_pool_pkid(cluster, p.name),
            "name": p.name,
            "fkcallmanagergroup": cm_group_pkid(cluster, p.cm_group),
        }
        for p in cluster.spec.resolved_device_pools()
    ]


TABLES: dict[str, Table] = {
    "processnode": Table(
        ("pkid", "name", "nodeid", "description", "tkprocessnoderole", "isactive"), _processnode
    ),
    "processconfig": Table(("pkid", "fkprocessnode", "paramname", "paramvalue"), _processconfig),
    "callmanager": Table(("pkid", "name", "description", "fkprocessnode"), _callmanager),
    "callmanagergroup": Table(("pkid", "name", "tftpdefault"), _callmanagergroup),
    "callmanagergroupmember": Table(
        ("pkid", "fkcallmanagergroup", "fkcallmanager", "priority"), _callmanagergroupmember
    ),
    "devicepool": Table(("pkid", "name", "fkcallmanagergroup"), _devicepool),
}

_TOKEN = re.compile(
    r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<num>-?\d+(?:\.\d+)?)|(?P<op><>|!=|<=|>=|=|<|>)"
    r"|(?P<punct>[,*;])|(?P<word>[A-Za-z_][A-Za-z0-9_.]*))"
)


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str


@dataclass(frozen=True)
class Condition:
    """``column op literal``."""

    column: str
    op: str
    value: str
    numeric: bool

    def matches(self, row: Row) -> bool:
        """Whether the row satisfies the condition."""
        cell = row[self.column]
        if not self.numeric:
            return _compare(self.op, cell, self.value)
        try:
            return _compare(self.op, float(cell), float(self.value))
        except ValueError:
            return False


def _compare(op: str, left: _T, right: _T) -> bool:
    match op:
        case "=":
            return left == right
        case "!=" | "<>":
            return left != right
        case "<":
            return left < right
        case "<=":
            return left <= right
        case ">":
            return left > right
        case _:
            return left >= right


@dataclass(frozen=True)
class Query:
    """A parsed SELECT."""

    columns: tuple[str, ...]
    table: str
    where: tuple[Condition, ...]


def _tokenize(sql: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    text = sql.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            raise SqlError(*facts.SQL_SYNTAX_ERROR)
        kind = m.lastgroup
        assert kind is not None
        tokens.append(_Token(kind, m.group(kind)))
        pos = m.end()
    if tokens and tokens[-1].text == ";":
        tokens.pop()
    return tokens


def parse(sql: str) -> Query:
    """Parse one SELECT; SqlError for anything else."""
    tokens = _tokenize(sql)
    pos = 0

    def peek() -> _Token | None:
        return tokens[pos] if pos < len(tokens) else None

    def take(kind: str, text: str | None = None) -> _Token:
        nonlocal pos
        tok = peek()
        if tok is None or tok.kind != kind or (text and tok.text.lower() != text):
            raise SqlError(*facts.SQL_SYNTAX_ERROR)
        pos += 1
        return tok

    take("word", "select")
    columns: list[str] = []
    if (tok := peek()) is not None and tok.text == "*":
        take("punct")
        columns.append("*")
    else:
        columns.append(take("word").text.lower())
        while (tok := peek()) is not None and tok.text == ",":
            take("punct")
            columns.append(take("word").text.lower())
    take("word", "from")
    table = take("word").text.lower()
    where: list[Condition] = []
    if peek() is not None:
        take("word", "where")
        while True:
            column = take("word").text.lower()
            op = take("op").text
            lit = peek()
            if lit is None or lit.kind not in ("str", "num"):
                raise SqlError(*facts.SQL_SYNTAX_ERROR)
            pos += 1
            if lit.kind == "str":
                where.append(Condition(column, op, lit.text[1:-1].replace("''", "'"), False))
            else:
                where.append(Condition(column, op, lit.text, True))
            if peek() is None:
                break
            take("word", "and")
    return Query(tuple(columns), table, tuple(where))


def execute(cluster: Cluster, sql: str) -> list[Row]:
    """Run a SELECT against the cluster; rows keep the selected column order."""
    query = parse(sql)
    table = TABLES.get(query.table)
    if table is None:
        code, template = facts.SQL_UNKNOWN_TABLE
        raise SqlError(code, template.format(table=query.table))
    columns = table.columns if query.columns == ("*",) else query.columns
    for column in (*columns, *(c.column for c in query.where)):
        if column not in table.columns:
            code, template = facts.SQL_UNKNOWN_COLUMN
            raise SqlError(code, template.format(column=column))
    return [
        {c: row[c] for c in columns}
        for row in table.rows(cluster)
        if all(cond.matches(row) for cond in query.where)
    ]
