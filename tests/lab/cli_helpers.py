"""CLI commands only the lab's tests run: ucrenew itself never needs them.

:class:`LabCli` is the production :class:`CucmCli` with typed helpers for cluster listings,
certificate listings and SQL.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from activities.clients.cucm.cli import CucmCli

CERT_LIST_RE = re.compile(r"^(?P<unit>[^/\s:]+)/(?P<file>[^:\s]+):\s*(?P<description>.*)$")
NETWORK_CLUSTER_RE = re.compile(
    r"^(?P<address>\S+)\s+(?P<fqdn>\S+)\s+(?P<hostname>\S+)\s+(?P<role>Publisher|Subscriber)\s+"
    r"(?P<node_type>\S+)\s+(?P<db_role>DBPub|DBSub)\s+(?P<auth>.*)$"
)
#: ``show network cluster`` shows a node the local one cannot reach as "not authenticated".
NOT_AUTHENTICATED_RE = re.compile(r"not authenticated", re.IGNORECASE)


@dataclass(frozen=True)
class ClusterMember:
    """One line of ``show network cluster``."""

    address: str
    fqdn: str
    hostname: str
    role: str
    node_type: str
    db_role: str
    authenticated: bool


@dataclass(frozen=True)
class CertListEntry:
    """One line of ``show cert list own|trust``."""

    unit: str
    file: str
    description: str

    @property
    def path(self) -> str:
        """``<unit>/<file>`` as ``show cert own`` takes it."""
        return f"{self.unit}/{self.file}"


class LabCli(CucmCli):
    """A CLI session with the commands only tests use."""

    async def show_network_cluster(self) -> list[ClusterMember]:
        """``show network cluster``: every node with its roles."""
        command = "show network cluster"
        output = await self.run(command)
        members = [
            ClusterMember(
                address=m["address"],
                fqdn=m["fqdn"],
                hostname=m["hostname"],
                role=m["role"],
                node_type=m["node_type"],
                db_role=m["db_role"],
                authenticated=not NOT_AUTHENTICATED_RE.search(m["auth"]),
            )
            for line in output.splitlines()
            if (m := NETWORK_CLUSTER_RE.match(line.strip()))
        ]
        if not members:
            raise self._unexpected(command, output)
        return members

    async def run_sql(self, query: str) -> list[dict[str, str]]:
        """``run sql <query>``: rows as column -> value (fixed-width table parsed)."""
        command = f"run sql {query}"
        output = await self.run(command)
        lines = output.splitlines()
        underline = next(
            (i for i, line in enumerate(lines) if line.strip() and set(line.strip()) <= {"=", " "}),
            None,
        )
        if underline is None or underline == 0:
            raise self._unexpected(command, output)
        spans = [(m.start(), m.end()) for m in re.finditer(r"=+", lines[underline])]
        header = lines[underline - 1]
        names = [header[a:b].strip() for a, b in spans]
        rows: list[dict[str, str]] = []
        for line in lines[underline + 1 :]:
            if not line.strip():
                continue
            cells = [
                line[a : (spans[i + 1][0] if i + 1 < len(spans) else len(line))].strip()
                for i, (a, _) in enumerate(spans)
            ]
            rows.append(dict(zip(names, cells, strict=True)))
        return rows

    async def show_cert_list(self, kind: Literal["own", "trust"]) -> list[CertListEntry]:
        """``show cert list own|trust``."""
        command = f"show cert list {kind}"
        output = await self.run(command)
        return [
            CertListEntry(m["unit"], m["file"], m["description"].strip())
            for line in output.splitlines()
            if (m := CERT_LIST_RE.match(line.strip()))
        ]
