"""Where the verifiable log keeps its state, beside the events in the same database.

Tables (created on first use, on SQLite and PostgreSQL alike):

- ``casestore_merkle_nodes (level, idx, hash)``: the complete subtrees of the tree from
  level :data:`STORED_FROM` up, and the *leaf tiles*: rows at level :data:`TILE_LEVEL`
  (−1), one per 16 leaves, holding their 16 leaf hashes (512 bytes; like a tlog tile of
  height 4 at level 0). Lower levels are folded from a tile when a proof needs them
  (at most ``2**STORED_FROM`` leaves per node), which keeps the tree's write volume to
  two rows per 16 events. The last, incomplete 16 leaves have no tile yet, nor have the
  leaves of a tree grown before tiles until :meth:`LedgerStore.backfill_tiles` reaches
  them: those are re-hashed from the events' stored hashes (the same statement reads
  whichever exists). A store that serves proofs keeps the stored nodes in memory
  (``cache_nodes``, :mod:`.nodecache`), so an inclusion proof reads one tile row in one
  statement, and a case proof makes two round trips (checkpoint, cosignatures and the
  case's events; then their tiles).
- ``casestore_merkle_head (id, size, root)``: how far the tree has grown.
- ``casestore_checkpoints (tree_size, root_hash, note, signed_at_us)`` and
  ``casestore_cosignatures (tree_size, witness, line, received_at_us)``: every signed
  checkpoint and every witness cosignature received, append-only in the database itself
  (triggers refuse UPDATE, DELETE and TRUNCATE, as for the event table).

Tree nodes are derived data and are not append-only: a tree can be regrown from the log.

(Over 400 lines on purpose: each read is written for both backends side by side.)
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from casestore.ledger.merkle import NodeKey, leaf_hash, node_hash
from casestore.ledger.nodecache import DEFAULT_BUDGET, NodeCache
from casestore.ledger.schema import (
    CHECKPOINTS,
    COSIGNATURES,
    HEAD,
    NODES,
    PG_SCHEMA,
    SQLITE_SCHEMA,
    STORED_FROM,
    TILE_LEVEL,
    TILE_WIDTH,
)
from casestore.store.config import backend_of, eventsourcing_env
from casestore.store.logbase import EVENTS_TABLE

__all__ = [
    "CHECKPOINTS",
    "COSIGNATURES",
    "HEAD",
    "NODES",
    "STORED_FROM",
    "TILE_LEVEL",
    "TILE_WIDTH",
    "CaseEventRow",
    "LedgerStore",
    "StoredCheckpoint",
]


@dataclass(frozen=True)
class StoredCheckpoint:
    """One signed checkpoint as kept."""

    tree_size: int
    root_hash: bytes
    note: str
    signed_at_us: int


@dataclass(frozen=True)
class CaseEventRow:
    """One event of a case with what a case proof carries."""

    position: int
    version: int
    topic: str
    state: bytes
    recorded_at_us: int
    event_hash: bytes


class LedgerStore:
    """Connections to the event database for the tree, checkpoints and cosignatures."""

    def __init__(
        self, url: str, *, pool_size: int = 4, cache_nodes: bool = False,
        cache_budget: int = DEFAULT_BUDGET,
    ) -> None:  # fmt: skip
        """``cache_nodes``: keep the stored nodes in memory (:mod:`.nodecache`) for a
        process that serves many proofs; a one-off reader or the tree worker needs none."""
        self.url = url
        self.cache = NodeCache(STORED_FROM, cache_budget) if cache_nodes else None
        self.backend = backend_of(url)
        self._local = threading.local()
        self._sqlite: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._pool: Any = None
        if self.backend == "postgres":
            from psycopg_pool import ConnectionPool

            self._pool = ConnectionPool(
                url, min_size=1, max_size=pool_size, kwargs={"autocommit": True},
                name="casestore-ledger", open=True, configure=_no_jit,
            )  # fmt: skip
        self.ensure_schema()

    # -- connections -------------------------------------------------------------------

    @contextlib.contextmanager
    def connection(self) -> Iterator[Any]:
        if self.backend == "postgres":
            with self._pool.connection() as conn:
                yield conn
            return
        conn = getattr(self._local, "conn", None)
        if conn is None:
            name = eventsourcing_env(self.url)["SQLITE_DBNAME"]
            conn = sqlite3.connect(
                name, timeout=30, isolation_level=None, check_same_thread=False,
                uri=name.startswith("file:"),
            )  # fmt: skip
            self._local.conn = conn
            with self._lock:
                self._sqlite.append(conn)
        yield conn

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Any]:
        with self.connection() as conn:
            if self.backend == "postgres":
                with conn.transaction():
                    yield conn
                return
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def _rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self.connection() as conn:
            if self.backend == "sqlite":
                return list(conn.execute(sql.replace("%s", "?"), params).fetchall())
            return list(conn.execute(sql, params).fetchall())

    def ensure_schema(self) -> None:
        """Create the tables and triggers once (by the owner: an application role that may
        only read and insert finds them there and changes nothing)."""
        with self.transaction() as conn:
            if self.backend == "postgres":
                conn.execute("SELECT pg_advisory_xact_lock(hashtext('casestore-ledger-schema'))")
                found = conn.execute(
                    "SELECT count(*) FROM pg_trigger WHERE tgname = %s",
                    (f"{COSIGNATURES}_no_truncate",),
                ).fetchone()
                if found and found[0]:
                    return
            for statement in PG_SCHEMA if self.backend == "postgres" else SQLITE_SCHEMA:
                conn.execute(statement)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
        with self._lock:
            for conn in self._sqlite:
                conn.close()
            self._sqlite.clear()
        self._local = threading.local()

    # -- the tree ----------------------------------------------------------------------

    def head(self) -> tuple[int, bytes | None]:
        """(tree size, root) as grown so far; (0, None) before the first leaf."""
        rows = self._rows(f"SELECT size, root FROM {HEAD} WHERE id = 1")
        return (int(rows[0][0]), bytes(rows[0][1])) if rows else (0, None)

    def event_hashes(self, after: int, limit: int) -> list[tuple[int, bytes]]:
        """(position, event hash) of up to ``limit`` events after a position, in order."""
        sql = (
            f"SELECT notification_id, event_hash FROM {EVENTS_TABLE} "
            "WHERE notification_id > %s ORDER BY notification_id LIMIT %s"
        )
        return [(int(p), bytes(h)) for p, h in self._rows(sql, (after, limit))]

    def read_nodes(self, keys: Iterable[NodeKey]) -> Mapping[NodeKey, bytes]:
        """The hashes of complete subtrees by (level, index): stored, or recomputed low ones.

        One statement on PostgreSQL, none when the cache holds everything: the leaf tiles
        under the low nodes the cache does not hold (one row each, or the tile's 16-event
        range where no tile is stored yet), the stored nodes the cache does not hold, and —
        when a node or tile lies past the end of what the cache holds — what the tree grew
        since the cache was last extended.
        """
        keys = list(keys)
        low = [k for k in keys if k[0] < STORED_FROM]
        high = [k for k in keys if k[0] >= STORED_FROM]
        cache = self.cache
        out: dict[NodeKey, bytes] = {}
        by_key, refresh = high, None
        if cache is not None and high:
            cache.fit(max((index + 1) << level for level, index in high))
            out, by_key, extend = cache.split(high)
            if extend:
                refresh = cache.wanted(max(level for level, _ in high))
        blocks = sorted({(index << level) >> STORED_FROM for level, index in low})
        held: dict[int, bytes] = {}
        tiles = None
        if cache is not None and blocks:
            held, blocks, tiles = cache.tiles_for(blocks)
        leaves, nodes, fresh = self._read_tree(blocks, by_key, refresh, tiles)
        leaves.update(held)
        out.update(nodes)
        if cache is not None and fresh:
            cache.add(sorted(fresh))
            for key in high:
                if key not in out and (h := cache.get(key)) is not None:
                    out[key] = h
        for level, index in low:
            first = index << level
            span = [leaves.get(i) for i in range(first, first + (1 << level))]
            if all(h is not None for h in span):
                out[(level, index)] = _fold([h for h in span if h is not None])
        return out

    def _tile_leaves(self, rows: Iterable[tuple[Any, Any, Any]]) -> dict[int, bytes]:
        """Leaf index → leaf hash from rows ``(kind, key, hash)``: kind 3 a tile (key: its
        index), kind 0 an event (key: its position, hash: its event hash)."""
        leaves: dict[int, bytes] = {}
        for kind, key, h in rows:
            h = bytes(h)
            if kind == 3:
                if len(h) == TILE_WIDTH * 32:  # anything else is no tile: LookupError later
                    first = int(key) * TILE_WIDTH
                    for j in range(TILE_WIDTH):
                        leaves[first + j] = h[32 * j : 32 * j + 32]
            else:
                leaves[int(key) - 1] = leaf_hash(h)
        return leaves

    def _read_tree(
        self,
        blocks: list[int],
        by_key: list[NodeKey],
        refresh: tuple[list[int], list[int]] | None,
        tiles: int | None = None,
    ) -> tuple[dict[int, bytes], dict[NodeKey, bytes], list[tuple[int, int, bytes]]]:
        """(leaf index → leaf hash under the blocks, nodes by key, nodes and tiles read to
        extend the cache: ``refresh`` levels from their first indices, the tiles from
        ``tiles`` on) in one round trip on PostgreSQL. A block's leaves come from its tile, or,
        where none is stored (yet), from its events' hashes."""
        width = TILE_WIDTH
        leaves: dict[int, bytes] = {}
        nodes: dict[NodeKey, bytes] = {}
        fresh: list[tuple[int, int, bytes]] = []
        if self.backend == "postgres":
            if len(blocks) == 1 and not by_key and not refresh and tiles is None:  # most proofs
                first = blocks[0] * width + 1  # positions: leaf index + 1
                sql = (  # the events only when the tile is not there (a one-time filter)
                    f"WITH t AS MATERIALIZED (SELECT hash FROM {NODES} WHERE level = "
                    f"{TILE_LEVEL} AND idx = %s) SELECT 3, %s::bigint, hash FROM t UNION ALL "
                    f"SELECT 0, notification_id, event_hash FROM {EVENTS_TABLE} "
                    "WHERE notification_id BETWEEN %s AND %s AND NOT EXISTS (SELECT FROM t)"
                )
                rows = self._rows(sql, (blocks[0], blocks[0], first, first + width - 1))
                return self._tile_leaves(rows), nodes, fresh
            parts: list[str] = []
            params: list[Any] = []
            if blocks:
                parts.append(
                    f"SELECT 3, 0, n.idx, n.hash FROM unnest(%s::bigint[]) AS b(t) "
                    f"JOIN {NODES} n ON n.level = {TILE_LEVEL} AND n.idx = b.t"
                )
                # LATERAL … LIMIT: one index range per block without a tile, and a row
                # estimate the planner gets right (a bare BETWEEN join looked like a
                # million rows).
                parts.append(
                    f"SELECT 0, 0, e.notification_id, e.event_hash FROM unnest(%s::bigint[]) "
                    f"AS b(t) CROSS JOIN LATERAL (SELECT notification_id, event_hash "
                    f"FROM {EVENTS_TABLE} WHERE notification_id BETWEEN b.t * {width} + 1 "
                    f"AND b.t * {width} + {width} ORDER BY notification_id LIMIT {width}) e "
                    f"WHERE NOT EXISTS (SELECT FROM {NODES} n WHERE n.level = {TILE_LEVEL} "
                    "AND n.idx = b.t)"
                )
                params += [blocks, blocks]
            if by_key:
                parts.append(
                    "SELECT 1, n.level, n.idx, n.hash FROM unnest(%s::int[], %s::bigint[]) "
                    f"AS k(level, idx) JOIN {NODES} n ON n.level = k.level AND n.idx = k.idx"
                )
                params += [[k[0] for k in by_key], [k[1] for k in by_key]]
            if refresh:
                parts.append(  # one index range per level (a join scanned the table)
                    "SELECT 2, n.level, n.idx, n.hash FROM unnest(%s::int[], %s::bigint[]) "
                    f"AS k(level, lo) CROSS JOIN LATERAL (SELECT level, idx, hash FROM {NODES} "
                    "WHERE level = k.level AND idx >= k.lo ORDER BY idx) n"
                )
                params += [refresh[0], refresh[1]]
            if tiles is not None:
                parts.append(
                    f"(SELECT 2, level, idx, hash FROM {NODES} WHERE level = {TILE_LEVEL} "
                    "AND idx >= %s ORDER BY idx)"
                )
                params.append(tiles)
            if not parts:
                return leaves, nodes, fresh
            low: list[tuple[Any, Any, Any]] = []
            for kind, lv, ix, h in self._rows(" UNION ALL ".join(parts), tuple(params)):
                if kind in (0, 3):
                    low.append((kind, ix, h))
                elif kind == 1:
                    nodes[(int(lv), int(ix))] = bytes(h)
                else:
                    fresh.append((int(lv), int(ix), bytes(h)))
            return self._tile_leaves(low), nodes, fresh
        if blocks:
            marks = ", ".join(["%s"] * len(blocks))
            sql = f"SELECT 3, idx, hash FROM {NODES} WHERE level = {TILE_LEVEL} AND idx IN "
            sql += f"({marks})"
            found = self._rows(sql, tuple(blocks))
            rest = sorted(set(blocks) - {int(t) for _, t, h in found if len(h) == width * 32})
            where = " OR ".join(["notification_id BETWEEN %s AND %s"] * len(rest))
            sql = f"SELECT 0, notification_id, event_hash FROM {EVENTS_TABLE} WHERE {where}"
            bounds = tuple(v for b in rest for v in (b * width + 1, b * width + width))
            leaves = self._tile_leaves([*found, *(self._rows(sql, bounds) if rest else [])])
        if by_key:
            marks = ", ".join(["(%s, %s)"] * len(by_key))
            sql = f"SELECT level, idx, hash FROM {NODES} WHERE (level, idx) IN (VALUES {marks})"
            flat = tuple(v for k in by_key for v in k)
            nodes = {(int(lv), int(ix)): bytes(h) for lv, ix, h in self._rows(sql, flat)}
        for level, first in zip(*refresh, strict=True) if refresh else ():
            sql = f"SELECT level, idx, hash FROM {NODES} WHERE level = %s AND idx >= %s"
            fresh += [(int(lv), int(ix), bytes(h)) for lv, ix, h in self._rows(sql, (level, first))]
        if tiles is not None:
            sql = f"SELECT level, idx, hash FROM {NODES} WHERE level = %s AND idx >= %s "
            sql += "ORDER BY idx"
            rows = self._rows(sql, (TILE_LEVEL, tiles))
            fresh += [(int(lv), int(ix), bytes(h)) for lv, ix, h in rows]
        return leaves, nodes, fresh

    def grow(
        self, expected: int, nodes: list[tuple[int, int, bytes]], size: int, root: bytes
    ) -> bool:
        """Store new nodes and the new head if the tree is still at ``expected`` leaves."""
        stored = [(lv, ix, h) for lv, ix, h in nodes if lv >= STORED_FROM or lv == TILE_LEVEL]
        with self.transaction() as conn:
            sql = f"SELECT size FROM {HEAD} WHERE id = 1"
            if self.backend == "postgres":
                row = conn.execute(sql + " FOR UPDATE").fetchone()
            else:
                row = conn.execute(sql).fetchone()
            if (int(row[0]) if row else 0) != expected:
                return False  # another worker grew it meanwhile
            if self.backend == "postgres":
                if stored:
                    with (
                        conn.cursor() as cur,
                        cur.copy(f"COPY {NODES} (level, idx, hash) FROM STDIN") as copy,
                    ):
                        for n in stored:
                            copy.write_row(n)
                conn.execute(
                    f"INSERT INTO {HEAD} (id, size, root) VALUES (1, %s, %s) ON CONFLICT (id) "
                    "DO UPDATE SET size = excluded.size, root = excluded.root",
                    (size, root),
                )
            else:
                conn.executemany(f"INSERT INTO {NODES} (level, idx, hash) VALUES (?, ?, ?)", stored)
                conn.execute(
                    f"INSERT OR REPLACE INTO {HEAD} (id, size, root) VALUES (1, ?, ?)",
                    (size, root),
                )
        return True

    #: Tiles a :meth:`backfill_tiles` transaction writes at most (16,384 events' hashes).
    backfill_limit = 1024

    def backfill_tiles(self, limit: int | None = None) -> int:
        """Write up to ``limit`` of the leaf tiles a tree grown before tiles lacks; how
        many were written (0: none is missing).

        The tree worker writes a tile whenever 16 leaves complete, so the tiles stored
        are those from some tile up to the head; this writes the ones just below the
        lowest (highest first, so they stay gap-free), under the head's lock like
        :meth:`grow`. Until it is done, proofs re-hash those leaves from the events.
        """
        with self.transaction() as conn:
            sql = f"SELECT size FROM {HEAD} WHERE id = 1"
            mark = "%s"
            if self.backend == "postgres":
                row = conn.execute(sql + " FOR UPDATE").fetchone()
            else:
                row, mark = conn.execute(sql).fetchone(), "?"
            if row is None:
                return 0
            sql = f"SELECT min(idx) FROM {NODES} WHERE level = {TILE_LEVEL}"
            lowest = conn.execute(sql).fetchone()[0]
            top = int(row[0]) // TILE_WIDTH if lowest is None else int(lowest)
            low = max(0, top - (self.backfill_limit if limit is None else limit))
            if top <= low:
                return 0
            sql = (
                f"SELECT notification_id, event_hash FROM {EVENTS_TABLE} WHERE notification_id "
                f"BETWEEN {mark} AND {mark} ORDER BY notification_id"
            )
            first, last = low * TILE_WIDTH + 1, top * TILE_WIDTH
            rows = conn.execute(sql, (first, last)).fetchall()
            if len(rows) != last - first + 1 or int(rows[-1][0]) != last:
                raise RuntimeError(f"the log has a gap between positions {first} and {last}")
            hashes = [leaf_hash(bytes(h)) for _, h in rows]
            tiles = [
                (TILE_LEVEL, low + t, b"".join(hashes[t * TILE_WIDTH : (t + 1) * TILE_WIDTH]))
                for t in range(top - low)
            ]
            if self.backend == "postgres":
                with (
                    conn.cursor() as cur,
                    cur.copy(f"COPY {NODES} (level, idx, hash) FROM STDIN") as copy,
                ):
                    for tile in tiles:
                        copy.write_row(tile)
            else:
                conn.executemany(f"INSERT INTO {NODES} (level, idx, hash) VALUES (?, ?, ?)", tiles)
        return top - low

    # -- checkpoints and cosignatures ----------------------------------------------------

    def add_checkpoint(self, size: int, root: bytes, note: str) -> bool:
        """Keep a signed checkpoint; False when one of that size is already kept."""
        sql = (
            f"INSERT INTO {CHECKPOINTS} (tree_size, root_hash, note, signed_at_us) "
            "VALUES (%s, %s, %s, %s) ON CONFLICT (tree_size) DO NOTHING"
        )
        with self.transaction() as conn:
            if self.backend == "sqlite":
                sql = sql.replace("%s", "?")
            cur = conn.execute(sql, (size, root, note, time.time_ns() // 1000))
            return bool(cur.rowcount)

    def _checkpoints(self, where: str, params: tuple[Any, ...]) -> list[StoredCheckpoint]:
        sql = f"SELECT tree_size, root_hash, note, signed_at_us FROM {CHECKPOINTS} {where}"
        return [
            StoredCheckpoint(int(s), bytes(r), str(n), int(t))
            for s, r, n, t in self._rows(sql, params)
        ]

    def latest_checkpoint(self) -> StoredCheckpoint | None:
        found = self._checkpoints("ORDER BY tree_size DESC LIMIT 1", ())
        return found[0] if found else None

    def checkpoint(self, size: int) -> StoredCheckpoint | None:
        found = self._checkpoints("WHERE tree_size = %s", (size,))
        return found[0] if found else None

    def checkpoint_covering(self, position: int) -> StoredCheckpoint | None:
        """The first signed checkpoint whose tree holds the log up to ``position`` (the
        smallest size >= it: once one exists the answer never changes), else the latest
        (it covers only a prefix), else None."""
        found = self._checkpoints(
            "WHERE tree_size >= %s ORDER BY tree_size LIMIT 1", (position,)
        ) or self._checkpoints("ORDER BY tree_size DESC LIMIT 1", ())
        return found[0] if found else None

    def checkpoints_after(self, size: int, limit: int) -> list[StoredCheckpoint]:
        return self._checkpoints("WHERE tree_size > %s ORDER BY tree_size LIMIT %s", (size, limit))

    def add_cosignature(self, size: int, witness: str, line: str) -> bool:
        sql = (
            f"INSERT INTO {COSIGNATURES} (tree_size, witness, line, received_at_us) "
            "VALUES (%s, %s, %s, %s) ON CONFLICT (tree_size, witness) DO NOTHING"
        )
        with self.transaction() as conn:
            if self.backend == "sqlite":
                sql = sql.replace("%s", "?")
            cur = conn.execute(sql, (size, witness, line, time.time_ns() // 1000))
            return bool(cur.rowcount)

    def cosignature_lines(self, size: int) -> list[str]:
        sql = f"SELECT line FROM {COSIGNATURES} WHERE tree_size = %s ORDER BY witness"
        return [str(line) for (line,) in self._rows(sql, (size,))]

    # -- events for case proofs ----------------------------------------------------------

    def case_at_latest(
        self, case_id: str
    ) -> tuple[StoredCheckpoint | None, str, list[CaseEventRow]]:
        """(latest checkpoint, its cosignature lines, the case's events it covers in
        version order): what a case proof needs before its paths, in one round trip on
        PostgreSQL."""
        if self.backend == "sqlite":
            latest = self.latest_checkpoint()
            if latest is None:
                return None, "", []
            sql = (
                "SELECT notification_id, originator_version, topic, state, recorded_at, "
                f"event_hash FROM {EVENTS_TABLE} WHERE originator_id = %s "
                "AND notification_id <= %s ORDER BY originator_version"
            )
            rows = self._rows(sql, (case_id.replace("-", ""), latest.tree_size))
            lines = "".join(self.cosignature_lines(latest.tree_size))
            return latest, lines, [_case_row(r) for r in rows]
        sql = (
            f"WITH cp AS (SELECT * FROM {CHECKPOINTS} ORDER BY tree_size DESC LIMIT 1) "
            "SELECT cp.tree_size, cp.root_hash, cp.note, cp.signed_at_us, "
            "(SELECT coalesce(string_agg(c.line, '' ORDER BY c.witness), '') "
            f"FROM {COSIGNATURES} c WHERE c.tree_size = cp.tree_size), "
            "e.notification_id, e.originator_version, e.topic, e.state, "
            "(extract(epoch from e.recorded_at) * 1000000)::bigint, e.event_hash "
            f"FROM cp LEFT JOIN {EVENTS_TABLE} e ON e.originator_id = %s "
            "AND e.notification_id <= cp.tree_size ORDER BY e.originator_version"
        )
        found = self._rows(sql, (case_id,))
        if not found:
            return None, "", []
        size, root, note, at, lines = found[0][:5]
        checkpoint = StoredCheckpoint(int(size), bytes(root), str(note), int(at))
        return checkpoint, str(lines), [_case_row(r[5:]) for r in found if r[5] is not None]


def _no_jit(conn: Any) -> None:
    """Short indexed reads only: never pay for JIT compilation (it cost a case proof
    9–90 ms when a misestimated plan crossed ``jit_above_cost``)."""
    conn.execute("SET jit = off")


def _case_row(r: tuple[Any, ...]) -> CaseEventRow:
    p, v, t, state, us, h = r
    return CaseEventRow(int(p), int(v), str(t), bytes(state), int(us), bytes(h))


def _fold(leaves: list[bytes]) -> bytes:
    """The hash of a complete subtree over leaf hashes (a power-of-two count)."""
    level = leaves
    while len(level) > 1:
        level = [node_hash(level[i], level[i + 1]) for i in range(0, len(level), 2)]
    return level[0]
