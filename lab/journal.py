"""The journal: an ordered record of every state change in the twin.

Tests and benchmarks use it as the oracle of what really happened on the cluster (what was
uploaded where, which service restarted when), independent of what any client believed.
"""

from __future__ import annotations

import itertools
import threading
import time
from typing import Any

from pydantic import BaseModel, Field


class JournalEntry(BaseModel):
    """One state change."""

    seq: int
    at: float = Field(description="wall-clock seconds since the epoch")
    kind: str
    node: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)


class Journal:
    """Append-only, thread-safe list of :class:`JournalEntry`."""

    def __init__(self) -> None:
        self._entries: list[JournalEntry] = []
        self._seq = itertools.count(1)
        self._lock = threading.Lock()

    def record(self, kind: str, node: str | None = None, /, **data: Any) -> JournalEntry:
        """Append an entry and return it."""
        with self._lock:
            entry = JournalEntry(
                seq=next(self._seq), at=time.time(), kind=kind, node=node, data=data
            )
            self._entries.append(entry)
            return entry

    def entries(
        self, kind: str | None = None, node: str | None = None, since: int = 0
    ) -> list[JournalEntry]:
        """Entries after sequence number ``since``, optionally of one kind and/or node."""
        with self._lock:
            return [
                e
                for e in self._entries
                if e.seq > since
                and (kind is None or e.kind == kind or e.kind.startswith(kind + "."))
                and (node is None or e.node == node)
            ]

    @property
    def last_seq(self) -> int:
        """Sequence number of the newest entry (0 when empty)."""
        with self._lock:
            return self._entries[-1].seq if self._entries else 0
