"""The SQLite recorder: the same chain, triggers and group commit (``BEGIN IMMEDIATE``)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from typing import Any
from uuid import UUID

from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteDatastore

from casestore.store.batch import (
    AppendRequest,
    Duplicate,
    GroupCommitter,
    plan_batch,
)
from casestore.store.integrity import LogRow
from casestore.store.logbase import (
    _HEADS_CACHED,
    APPEND_ONLY_MESSAGE,
    EVENTS_TABLE,
    KEYS_TABLE,
    GroupCommitting,
    complete_requests,
)


class CasestoreSQLiteRecorder(GroupCommitting, SQLiteApplicationRecorder):
    """SQLite recorder with the same chain, triggers and group commit (BEGIN IMMEDIATE)."""

    def __init__(self, datastore: SQLiteDatastore, events_table_name: str = EVENTS_TABLE) -> None:
        super().__init__(datastore, events_table_name)
        self.commit_listeners = []
        self.committer = GroupCommitter(self._commit_batch)
        #: (version, event hash) of aggregates this recorder appended to, valid while the
        #: log ends at ``_known_position`` (the position of this recorder's last commit).
        self._heads: dict[UUID, tuple[int, bytes]] = {}
        self._known_position = -1

    def construct_create_table_statements(self) -> list[str]:
        t = self.events_table_name
        guard = f"BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY_MESSAGE} (%s refused)'); END"
        return [
            f"CREATE TABLE IF NOT EXISTS {t} (notification_id INTEGER PRIMARY KEY, "
            "originator_id TEXT NOT NULL, originator_version INTEGER NOT NULL, "
            "topic TEXT NOT NULL, state BLOB NOT NULL, recorded_at INTEGER NOT NULL, "
            "event_hash BLOB NOT NULL, chain_hash BLOB NOT NULL, "
            "UNIQUE (originator_id, originator_version))",
            f"CREATE INDEX IF NOT EXISTS {t}_recorded_at ON {t} (recorded_at)",
            f"CREATE TABLE IF NOT EXISTS {KEYS_TABLE} (key TEXT PRIMARY KEY, "
            "originator_id TEXT NOT NULL, version INTEGER NOT NULL, position INTEGER NOT NULL)",
            f"CREATE TRIGGER IF NOT EXISTS {t}_no_update BEFORE UPDATE ON {t} " + guard % "UPDATE",
            f"CREATE TRIGGER IF NOT EXISTS {t}_no_delete BEFORE DELETE ON {t} " + guard % "DELETE",
            f"CREATE TRIGGER IF NOT EXISTS {KEYS_TABLE}_no_update BEFORE UPDATE ON {KEYS_TABLE} "
            + guard % "UPDATE",
            f"CREATE TRIGGER IF NOT EXISTS {KEYS_TABLE}_no_delete BEFORE DELETE ON {KEYS_TABLE} "
            + guard % "DELETE",
        ]

    def _commit_batch(self, batch: list[AppendRequest]) -> None:
        """One ``BEGIN IMMEDIATE`` transaction for the whole batch.

        Heads come from an in-process cache of this recorder's own commits while the last
        position shows nobody else appended since (any other writer empties it), else
        from the table. SQLite's busy wait polls, so one transaction at a time.
        """
        t = self.events_table_name
        keys = [r.idempotency_key for r in batch if r.idempotency_key]
        with self.datastore.get_connection(commit=True) as conn:
            c = _raw(conn)
            c.execute("BEGIN IMMEDIATE")
            try:
                last = c.execute(
                    f"SELECT notification_id, chain_hash FROM {t} "
                    "ORDER BY notification_id DESC LIMIT 1"
                ).fetchone()
                last_position = last[0] if last else 0
                if last_position != self._known_position or len(self._heads) > _HEADS_CACHED:
                    self._heads.clear()
                heads: dict[UUID, tuple[int, bytes]] = {}
                for oid in {oid for r in batch for oid in r.originator_ids}:
                    head = self._heads.get(oid)
                    if head is None:
                        row = c.execute(
                            f"SELECT originator_version, event_hash FROM {t} "
                            "WHERE originator_id=? ORDER BY originator_version DESC LIMIT 1",
                            (oid.hex,),
                        ).fetchone()
                        head = (row[0], bytes(row[1])) if row else None
                    if head is not None:
                        heads[oid] = head
                used = {}
                for key in keys:
                    r = c.execute(
                        f"SELECT key, originator_id, version, position FROM "
                        f"{KEYS_TABLE} WHERE key=?",
                        (key,),
                    ).fetchone()
                    if r:
                        used[r[0]] = Duplicate(r[0], UUID(r[1]), r[2], r[3])
                plan = plan_batch(
                    batch, heads, last_position, bytes(last[1]) if last else None, used
                )
                rows = [
                    (
                        r.position,
                        r.originator_id.hex,
                        r.version,
                        r.topic,
                        r.state,
                        r.recorded_at_us,
                        r.event_hash,
                        r.chain_hash,
                    )
                    for r in plan.rows
                ]
                insert = (
                    f"INSERT INTO {t} (notification_id, originator_id, originator_version, "
                    "topic, state, recorded_at, event_hash, chain_hash) VALUES (?,?,?,?,?,?,?,?)"
                )
                if len(rows) == 1:
                    c.execute(insert, rows[0])
                elif rows:
                    c.executemany(insert, rows)
                if plan.keys:
                    c.executemany(
                        f"INSERT INTO {KEYS_TABLE} VALUES (?,?,?,?)",
                        [(k, o.hex, v, p) for k, o, v, p in plan.keys],
                    )
                c.execute("COMMIT")
            except BaseException:
                self._heads.clear()
                self._known_position = -1
                if c.in_transaction:
                    c.execute("ROLLBACK")
                raise
        for row in plan.rows:
            self._heads[row.originator_id] = (row.version, row.event_hash)
        self._known_position = plan.rows[-1].position if plan.rows else last_position
        complete_requests(batch, plan)
        if plan.rows:
            self._notify_listeners(plan.rows[-1].position)

    def iter_log(
        self,
        after: int = 0,
        *,
        upto: int | None = None,
        until_us: int | None = None,
        page: int = 10_000,
    ) -> Iterator[LogRow]:
        stop = upto if upto is not None else 2**62
        until = until_us if until_us is not None else 2**62
        position = after
        ids: dict[str, UUID] = {}  # a case's events share one id object (parsing is slow)
        while True:
            with self.datastore.get_connection(commit=False) as conn:
                cursor = _raw(conn).cursor()
                cursor.row_factory = None  # plain tuples
                rows = cursor.execute(
                    f"SELECT notification_id, originator_id, originator_version, topic, state, "
                    f"recorded_at, event_hash, chain_hash FROM {self.events_table_name} "
                    "WHERE notification_id > ? AND notification_id <= ? AND recorded_at <= ? "
                    "ORDER BY notification_id LIMIT ?",
                    (position, stop, until, page),
                ).fetchall()
                cursor.close()
            if len(ids) > 100_000:
                ids.clear()
            for n, hexid, version, topic, state, us, ev_hash, chain in rows:
                oid = ids.get(hexid)
                if oid is None:
                    oid = ids[hexid] = UUID(hexid)
                yield LogRow(n, oid, version, topic, state, us, ev_hash, chain)
            if len(rows) < page:
                return
            position = rows[-1][0]

    def version_at(self, originator_id: UUID, micros: int) -> int:
        return int(
            self._scalar(
                f"SELECT coalesce(max(originator_version), 0) FROM {self.events_table_name} "
                "WHERE originator_id = ? AND recorded_at <= ?",
                (originator_id.hex, micros),
            )
        )

    def version_at_position(self, originator_id: UUID, position: int) -> int:
        return int(
            self._scalar(
                f"SELECT coalesce(max(originator_version), 0) FROM {self.events_table_name} "
                "WHERE originator_id = ? AND notification_id <= ?",
                (originator_id.hex, position),
            )
        )

    def position_at(self, micros: int) -> int:
        return int(
            self._scalar(
                f"SELECT coalesce(max(notification_id), 0) FROM {self.events_table_name} "
                "WHERE recorded_at <= ?",
                (micros,),
            )
        )

    def head(self) -> tuple[int, bytes | None]:
        with self.datastore.get_connection(commit=False) as conn:
            row = (
                _raw(conn)
                .execute(
                    f"SELECT notification_id, chain_hash FROM "
                    f"{self.events_table_name} ORDER BY notification_id DESC "
                    "LIMIT 1"
                )
                .fetchone()
            )
        return (row[0], bytes(row[1])) if row else (0, None)

    def find_key(self, key: str) -> Duplicate | None:
        with self.datastore.get_connection(commit=False) as conn:
            r = (
                _raw(conn)
                .execute(
                    f"SELECT key, originator_id, version, position FROM {KEYS_TABLE} WHERE key = ?",
                    (key,),
                )
                .fetchone()
            )
        return Duplicate(r[0], UUID(r[1]), r[2], r[3]) if r else None

    def _scalar(self, query: str, params: tuple[Any, ...]) -> Any:
        with self.datastore.get_connection(commit=False) as conn:
            row = _raw(conn).execute(query, params).fetchone()
        return row[0]


def _raw(conn: Any) -> sqlite3.Connection:
    """The sqlite3 connection inside eventsourcing's pooled wrapper."""
    raw: sqlite3.Connection = conn._sqlite_conn
    return raw
