"""Copy an event log from SQLite into an empty PostgreSQL store, rows unchanged.

For measuring the same log on both backends (``bench/rebuild.py``) without simulating
it twice: ``casestore simulate`` writes about a thousand events a second, a copy about
a hundred times that. Positions, ids, times, states and hashes are copied as they are,
so the chain verifies on the copy (``casestore verify``) and projections see the same
events in the same order.

Run: ``python -m casestore.bench.copylog sqlite:///log.db postgresql://.../db``.
"""

from __future__ import annotations

import argparse
import sqlite3
import time
from uuid import UUID

import psycopg
from casestore.projections.engine.events import micros_to_datetime

from casestore.bootstrap import open_store
from casestore.store.config import eventsourcing_env
from casestore.store.logbase import EVENTS_TABLE, KEYS_TABLE

_EVENT_COLS = (
    "notification_id, originator_id, originator_version, topic, state, recorded_at, "
    "event_hash, chain_hash"
)
_KEY_COLS = "key, originator_id, version, position"


def copy_log(sqlite_url: str, pg_url: str, *, page: int = 20_000) -> int:
    """Copy every event and idempotency key; the number of events copied."""
    open_store(pg_url).close()  # creates the schema
    lite = sqlite3.connect(eventsourcing_env(sqlite_url)["SQLITE_DBNAME"])
    copied = 0
    try:
        with psycopg.connect(pg_url) as pg:
            (present,) = pg.execute(f"SELECT count(*) FROM {EVENTS_TABLE}").fetchone() or (0,)
            if present:
                raise SystemExit(f"{pg_url} already holds {present} events: copy into an empty one")
            with (
                pg.cursor() as cur,
                cur.copy(f"COPY {EVENTS_TABLE} ({_EVENT_COLS}) FROM STDIN") as copy,
            ):
                after = 0
                while True:
                    rows = lite.execute(
                        f"SELECT {_EVENT_COLS} FROM {EVENTS_TABLE} WHERE notification_id > ? "
                        "ORDER BY notification_id LIMIT ?",
                        (after, page),
                    ).fetchall()
                    if not rows:
                        break
                    for n, oid, version, topic, state, at, eh, ch in rows:
                        copy.write_row(
                            (
                                n,
                                UUID(hex=oid),
                                version,
                                topic,
                                state,
                                micros_to_datetime(at),
                                eh,
                                ch,
                            )
                        )
                    copied += len(rows)
                    after = rows[-1][0]
            with (
                pg.cursor() as cur,
                cur.copy(f"COPY {KEYS_TABLE} ({_KEY_COLS}) FROM STDIN") as copy,
            ):
                for key, oid, version, position in lite.execute(
                    f"SELECT {_KEY_COLS} FROM {KEYS_TABLE}"
                ):
                    copy.write_row((key, UUID(hex=oid), version, position))
            pg.execute(f"ANALYZE {EVENTS_TABLE}")
    finally:
        lite.close()
    return copied


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sqlite_url")
    parser.add_argument("pg_url")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    n = copy_log(args.sqlite_url, args.pg_url)
    print(f"copied {n} events in {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
