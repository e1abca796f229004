"""A tiny SQL engine for AXL ``executeSQLQuery`` over the twin's Informix-like tables.

One SELECT over one table or an ANSI join of several (grammar in :func:`parse`): enough for
what AXL clients ask of processnode, processconfig, callmanager, callmanagergroup,
callmanagergroupmember and devicepool. Numbers compare numerically, strings
case-sensitively, NULL (a left outer join's missing side) never. Tables are built from the
cluster on each query, so they always reflect the current state.
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
    """pkid of a node's processnode row (also the uuid listProcessNode shows); unique to this
    twin (``facts.PROCESSNODE_PKID_PER_INSTALL``)."""
    if facts.PROCESSNODE_PKID_PER_INSTALL:
        return _pkid(cluster.spec.cluster, cluster.spec.network, "processnode", hostname)
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
#: Words that end a select item or a table reference rather than name an alias.
_KEYWORDS = frozenset({"from", "where", "join", "inner", "left", "outer", "on", "and", "as"})


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str


@dataclass(frozen=True)
class Ref:
    """A column reference: ``column`` or ``qualifier.column`` (a table name or alias)."""

    qualifier: str | None
    column: str

    @classmethod
    def parse(cls, word: str) -> Ref:
        """``cmg.name`` or ``name``, lower-cased as Informix folds identifiers."""
        qualifier, _, column = word.lower().rpartition(".")
        return cls(qualifier or None, column)


@dataclass(frozen=True)
class Condition:
    """``ref op literal`` or ``ref op ref``."""

    left: Ref
    op: str
    value: str | Ref
    numeric: bool = False


@dataclass(frozen=True)
class Source:
    """A table of the FROM clause: its alias, and for a joined table how it is joined."""

    table: str
    alias: str
    outer: bool = False
    on: tuple[Condition, ...] = ()


@dataclass(frozen=True)
class Query:
    """A parsed SELECT.

    Attributes:
        columns: The output column names, or ``("*",)``.
        table: The first table of the FROM clause.
    """

    columns: tuple[str, ...]
    table: str
    items: tuple[tuple[Ref, str], ...]
    sources: tuple[Source, ...]
    where: tuple[Condition, ...]


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


class _Parser:
    def __init__(self, sql: str) -> None:
        self.tokens = _tokenize(sql)
        self.pos = 0

    def peek(self, text: str | None = None) -> _Token | None:
        tok = self.tokens[self.pos] if self.pos < len(self.tokens) else None
        if text is not None and (tok is None or tok.text.lower() != text):
            return None
        return tok

    def take(self, kind: str, text: str | None = None) -> _Token:
        tok = self.peek()
        if tok is None or tok.kind != kind or (text and tok.text.lower() != text):
            raise SqlError(*facts.SQL_SYNTAX_ERROR)
        self.pos += 1
        return tok

    def name(self) -> str | None:
        """An optional alias: a word that is not a keyword."""
        tok = self.peek()
        if tok is None or tok.kind != "word" or tok.text.lower() in _KEYWORDS:
            return None
        self.pos += 1
        return tok.text.lower()

    def item(self) -> tuple[Ref, str]:
        ref = Ref.parse(self.take("word").text)
        if self.peek("as"):
            self.pos += 1
            return ref, self.take("word").text.lower()
        return ref, self.name() or ref.column

    def source(self, outer: bool = False, joined: bool = False) -> Source:
        table = self.take("word").text.lower()
        alias = self.name() or table
        on: tuple[Condition, ...] = ()
        if joined:
            self.take("word", "on")
            on = self.conditions()
        return Source(table, alias, outer, on)

    def conditions(self) -> tuple[Condition, ...]:
        found = [self.condition()]
        while self.peek("and"):
            self.pos += 1
            found.append(self.condition())
        return tuple(found)

    def condition(self) -> Condition:
        left = Ref.parse(self.take("word").text)
        op = self.take("op").text
        tok = self.peek()
        if tok is None or tok.kind not in ("str", "num", "word"):
            raise SqlError(*facts.SQL_SYNTAX_ERROR)
        self.pos += 1
        if tok.kind == "word":
            return Condition(left, op, Ref.parse(tok.text))
        if tok.kind == "str":
            return Condition(left, op, tok.text[1:-1].replace("''", "'"))
        return Condition(left, op, tok.text, numeric=True)

    def join(self) -> Source | None:
        """``[INNER] JOIN t [a] ON ...`` or ``LEFT [OUTER] JOIN t [a] ON ...``, if next."""
        outer = False
        if self.peek("left"):
            self.pos += 1
            outer = True
            if self.peek("outer"):
                self.pos += 1
        elif self.peek("inner"):
            self.pos += 1
        elif not self.peek("join"):
            return None
        self.take("word", "join")
        return self.source(outer, joined=True)

    def query(self) -> Query:
        self.take("word", "select")
        items: list[tuple[Ref, str]] = []
        if self.peek("*"):
            self.take("punct")
        else:
            items.append(self.item())
            while self.peek(","):
                self.take("punct")
                items.append(self.item())
        self.take("word", "from")
        sources = [self.source()]
        while (joined := self.join()) is not None:
            sources.append(joined)
        where: tuple[Condition, ...] = ()
        if self.peek() is not None:
            self.take("word", "where")
            where = self.conditions()
        if self.peek() is not None:
            raise SqlError(*facts.SQL_SYNTAX_ERROR)
        columns = tuple(label for _, label in items) or ("*",)
        return Query(columns, sources[0].table, tuple(items), tuple(sources), where)


def parse(sql: str) -> Query:
    """Parse one SELECT; SqlError for anything else.

    Grammar (keywords and identifiers case-insensitive, like Informix)::

        SELECT * | ref [[AS] label] [, ...] FROM table [alias]
            [{[INNER] JOIN | LEFT [OUTER] JOIN} table [alias] ON cond [AND cond]*]*
            [WHERE cond [AND cond]*] [;]

    ``ref`` is ``column`` or ``alias.column``; ``cond`` is ``ref op literal`` or
    ``ref op ref``, ``op`` one of ``= != <> < <= > >=``, a literal a quoted string or a number.
    """
    return _Parser(sql).query()


#: A row of a join: each source's row by alias, None where a left outer join found none.
_Joined = dict[str, Row | None]


class _Resolver:
    """Finds the source of each column reference, as Informix does, or raises its error."""

    def __init__(self, sources: tuple[Source, ...]) -> None:
        self.sources = sources
        self.aliases = {s.alias: TABLES[s.table] for s in sources}

    def __call__(self, ref: Ref) -> str:
        if ref.qualifier is not None:
            table = self.aliases.get(ref.qualifier)
            if table is not None and ref.column in table.columns:
                return ref.qualifier
        else:
            owners = [a for a, t in self.aliases.items() if ref.column in t.columns]
            if len(owners) > 1:
                code, template = facts.SQL_AMBIGUOUS_COLUMN
                raise SqlError(code, template.format(column=ref.column))
            if owners:
                return owners[0]
        code, template = facts.SQL_UNKNOWN_COLUMN
        name = f"{ref.qualifier}.{ref.column}" if ref.qualifier else ref.column
        raise SqlError(code, template.format(column=name))


def _value(joined: _Joined, alias: str, column: str) -> str | None:
    row = joined[alias]
    return None if row is None else row[column]


def _holds(cond: Condition, joined: _Joined, resolve: _Resolver) -> bool:
    left = _value(joined, resolve(cond.left), cond.left.column)
    if isinstance(cond.value, Ref):
        right = _value(joined, resolve(cond.value), cond.value.column)
    else:
        right = cond.value
    if left is None or right is None:
        return False  # NULL compares as unknown
    if not cond.numeric:
        return _compare(cond.op, left, right)
    try:
        return _compare(cond.op, float(left), float(right))
    except ValueError:
        return False


def execute(cluster: Cluster, sql: str) -> list[Row]:
    """Run a SELECT against the cluster; rows keep the selected column order, NULL as ""."""
    query = parse(sql)
    for source in query.sources:
        if source.table not in TABLES:
            code, template = facts.SQL_UNKNOWN_TABLE
            raise SqlError(code, template.format(table=source.table))
    resolve = _Resolver(query.sources)
    items = query.items or tuple(
        (Ref(s.alias, c), c) for s in query.sources for c in TABLES[s.table].columns
    )
    owners = [resolve(ref) for ref, _ in items]
    for cond in (*query.where, *(c for s in query.sources for c in s.on)):
        resolve(cond.left)
        if isinstance(cond.value, Ref):
            resolve(cond.value)
    first, *joins = query.sources
    rows: list[_Joined] = [{first.alias: r} for r in TABLES[first.table].rows(cluster)]
    for source in joins:
        right = TABLES[source.table].rows(cluster)
        joined: list[_Joined] = []
        for row in rows:
            found = [
                {**row, source.alias: r}
                for r in right
                if all(_holds(c, {**row, source.alias: r}, resolve) for c in source.on)
            ]
            joined.extend(found or ([{**row, source.alias: None}] if source.outer else []))
        rows = joined
    return [
        {
            label: _value(row, owner, ref.column) or ""
            for (ref, label), owner in zip(items, owners, strict=True)
        }
        for row in rows
        if all(_holds(c, row, resolve) for c in query.where)
    ]
