"""``casestore project verify NAME``: the live view is what its log prefix derives.

The live view's rows and position are read in one snapshot; the projection is then
rebuilt from the log up to exactly that position into a scratch target, and a canonical
digest of every table's rows (in primary-key order, each value in a fixed encoding) is
compared between the two. Equal digests show the view is derived from the log's first
*position* events — a prefix whose Merkle root the signed checkpoints cover (the CLI
prints the tree root at that size beside the digests).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field
from typing import Any

import orjson

from ..engine.base import Projection, physical
from ..engine.db import TRACKING, ViewDB, create_target, drop_target
from .logsource import LogSource
from .port import EventLog
from .registry import get_projection
from .worker import Worker


@dataclass(frozen=True)
class ViewDigest:
    """The canonical digest of one target's rows at a position."""

    position: int
    tables: dict[str, str] = field(default_factory=dict)  # logical table -> hex digest
    rows: dict[str, int] = field(default_factory=dict)

    @property
    def digest(self) -> str:
        h = hashlib.sha256()
        for name in sorted(self.tables):
            h.update(f"{name}:{self.tables[name]}\n".encode())
        return h.hexdigest()


@dataclass(frozen=True)
class ProjectionCheck:
    name: str
    live: ViewDigest
    rebuilt: ViewDigest

    @property
    def ok(self) -> bool:
        return self.live.tables == self.rebuilt.tables

    def differing(self) -> list[str]:
        return sorted(t for t in self.live.tables if self.live.tables[t] != self.rebuilt.tables[t])


def _encode(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"b": bytes(value).hex()}
    if isinstance(value, float):
        return {"f": value.hex()}  # exact, whatever the backend's float text
    return value


def view_digest(db: ViewDB, projection: Projection[Any], target: str = "") -> ViewDigest:
    """Position and per-table digests of one target, read in a single snapshot."""
    tables: dict[str, str] = {}
    counts: dict[str, int] = {}
    key = physical(projection.name, target)
    with db.transaction() as tx:
        if db.backend == "postgres":
            tx.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        found = tx.execute(f"SELECT position FROM {TRACKING} WHERE key = %s", (key,))
        if not found:
            raise LookupError(f"projection target {key} does not exist")
        position = int(found[0][0])
        for table in projection.tables:
            name = physical(table.name, target)
            cols = ", ".join(table.column_names)
            order = ", ".join(table.primary_key)
            h = hashlib.sha256()
            n = 0
            for row in tx.execute(f"SELECT {cols} FROM {name} ORDER BY {order}"):
                h.update(orjson.dumps([_encode(v) for v in row]))
                h.update(b"\n")
                n += 1
            tables[table.name], counts[table.name] = h.hexdigest(), n
    return ViewDigest(position, tables, counts)


def verify_projection(log: EventLog, name: str, *, batch: int = 10_000) -> ProjectionCheck:
    """Rebuild ``name`` up to the live view's position beside it and compare digests."""
    projection = get_projection(name)
    db = ViewDB(log.db_url)
    source = LogSource(log)
    scratch = "v" + secrets.token_hex(4)
    try:
        live = view_digest(db, projection)
        create_target(db, projection, scratch, kind="scratch", upto=live.position, indexes=False)
        try:
            Worker(
                source, db, projection, target=scratch, batch=batch, upto=live.position
            ).catch_up()
            rebuilt = view_digest(db, projection, scratch)
        finally:
            drop_target(db, projection, scratch)
        return ProjectionCheck(name, live, rebuilt)
    finally:
        source.close()
        db.close()
