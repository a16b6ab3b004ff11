"""``casestore project verify NAME``: the live view is what its log prefix derives.

The live view's rows and position are read in one snapshot; the projection is then
rebuilt from the log up to exactly that position into a scratch target, and a canonical
digest of every table's rows (in primary-key order, each value in a fixed encoding) is
compared between the two. Equal digests show the view is derived from the log's first
*position* events — a prefix whose Merkle root the signed checkpoints cover.

The view's recorded tree (``tree_size``, ``tree_root``, written with its position; see
``runtime.treebind``) is read in the same snapshot and its root compared with the stored
tree's root at that size: a difference means the events the view was built from are
not the ones the tree (and the checkpoints signed over it) now holds. A root not yet
recorded, or a tree not yet grown to that size, cannot be compared and is reported so.
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
from .treebind import frontier_levels, frontier_root
from .worker import Worker


@dataclass(frozen=True)
class ViewDigest:
    """The canonical digest of one target's rows at a position."""

    position: int
    tables: dict[str, str] = field(default_factory=dict)  # logical table -> hex digest
    rows: dict[str, int] = field(default_factory=dict)
    tree_size: int | None = None  # the tree the target recorded it was built to
    tree_root: bytes | None = None

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
    tree_root: bytes | None = None  # the stored tree's root at the live view's position

    @property
    def root_ok(self) -> bool | None:
        """Recorded root = the tree's at that size (None: one of them is not there yet)."""
        recorded = self.live.tree_root if self.live.tree_size == self.live.position else None
        if recorded is None or self.tree_root is None:
            return None
        return recorded == self.tree_root

    @property
    def ok(self) -> bool:
        return self.live.tables == self.rebuilt.tables and self.root_ok is not False

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
        found = tx.execute(
            f"SELECT position, tree_size, tree_root FROM {TRACKING} WHERE key = %s", (key,)
        )
        if not found:
            raise LookupError(f"projection target {key} does not exist")
        position = int(found[0][0])
        size = None if found[0][1] is None else int(found[0][1])
        root = None if found[0][2] is None else bytes(found[0][2])
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
    return ViewDigest(position, tables, counts, size, root)


def stored_tree_root(log: EventLog, size: int) -> bytes | None:
    """The stored tree's root at ``size`` leaves (None: not grown that far yet)."""
    hashes = log.tree_frontier(size)
    levels = frontier_levels(size)
    if hashes is None or len(hashes) != len(levels):
        return None
    return frontier_root(list(zip(levels, hashes, strict=True)))


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
        return ProjectionCheck(name, live, rebuilt, stored_tree_root(log, live.position))
    finally:
        source.close()
        db.close()
