"""Raw baselines, measured in a scratch table of the same database as the store.

- single-row transactions: one INSERT and one COMMIT per row (psycopg on PostgreSQL,
  the ``sqlite3`` module with the store's journal mode and synchronous setting on
  SQLite), from 1 and from 8 connections at once;
- an ordered scan of the scratch table in pages of 10,000 (the shape the store's log
  reader uses);
- a point read by primary key (latency).

The row looks like an event: a UUID, a version, a topic and ~200 bytes of state.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import psycopg

STATE = os.urandom(200)
TOPIC = "casestore.domain.case:Case.ReviewRecorded"
PG_TABLE = "bench_raw_events"
SQLITE_TABLE = "bench_raw_events"


def run_threads(
    workers: int, seconds: float, work: Callable[[int, Callable[[], bool]], int]
) -> float:
    """Run ``work(index, keep_going)`` in ``workers`` threads; total operations per second."""
    barrier = threading.Barrier(workers + 1)
    counts = [0] * workers
    deadline = [0.0]

    def keep_going() -> bool:
        return time.perf_counter() < deadline[0]

    def body(index: int) -> None:
        barrier.wait()
        counts[index] = work(index, keep_going)

    threads = [threading.Thread(target=body, args=(i,), daemon=True) for i in range(workers)]
    for thread in threads:
        thread.start()
    deadline[0] = time.perf_counter() + seconds
    started = time.perf_counter()
    barrier.wait()
    for thread in threads:
        thread.join()
    return sum(counts) / (time.perf_counter() - started)


def percentiles(samples: list[float]) -> dict[str, float]:
    """p50 and p99 of latencies, in milliseconds."""
    ordered = sorted(samples)
    if not ordered:
        return {"p50_ms": 0.0, "p99_ms": 0.0}

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

    return {"p50_ms": at(0.50), "p99_ms": at(0.99)}


# --------------------------------------------------------------------------- PostgreSQL


def pg_conninfo(url: str) -> str:
    """A libpq URL psycopg accepts (``postgresql://``)."""
    return "postgresql://" + url.split("://", 1)[1] if url.startswith("postgres://") else url


def pg_prepare(url: str) -> None:
    with psycopg.connect(pg_conninfo(url), autocommit=True) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {PG_TABLE}")
        conn.execute(
            f"CREATE TABLE {PG_TABLE} (id bigserial PRIMARY KEY, originator_id uuid NOT NULL, "
            "version bigint NOT NULL, topic text NOT NULL, state bytea NOT NULL)"
        )


def pg_inserts(url: str, workers: int, seconds: float) -> float:
    """Single-row INSERT + COMMIT transactions per second over ``workers`` connections."""
    sql = f"INSERT INTO {PG_TABLE} (originator_id, version, topic, state) VALUES (%s, %s, %s, %s)"

    def work(index: int, keep_going: Callable[[], bool]) -> int:
        done = 0
        oid = uuid.uuid4()
        with psycopg.connect(pg_conninfo(url)) as conn:
            while keep_going():
                conn.execute(sql, (oid, done, TOPIC, STATE), prepare=True)
                conn.commit()
                done += 1
        return done

    return run_threads(workers, seconds, work)


def pg_fill(url: str, rows: int) -> None:
    """COPY ``rows`` rows so the scan reads as many rows as the store's log holds."""
    with psycopg.connect(pg_conninfo(url)) as conn, conn.cursor() as cur:
        with cur.copy(f"COPY {PG_TABLE} (originator_id, version, topic, state) FROM STDIN") as cp:
            oid = uuid.uuid4()
            for n in range(rows):
                cp.write_row((oid, n, TOPIC, STATE))
        conn.commit()


def pg_scan(url: str) -> dict[str, float]:
    """Rows per second of an ordered scan in pages of 10,000 (keyset, binary)."""
    sql = (
        f"SELECT id, originator_id, version, topic, state FROM {PG_TABLE} "
        "WHERE id > %s ORDER BY id LIMIT 10000"
    )
    rows, last = 0, 0
    started = time.perf_counter()
    with psycopg.connect(pg_conninfo(url)) as conn, conn.cursor(binary=True) as cur:
        while True:
            page = cur.execute(sql, (last,), prepare=True).fetchall()
            rows += len(page)
            if len(page) < 10000:
                break
            last = page[-1][0]
    elapsed = time.perf_counter() - started
    return {"rows": rows, "rows_per_s": rows / elapsed if elapsed else 0.0}


def pg_point_reads(url: str, samples: int) -> dict[str, float]:
    """Latency of reading one row by primary key."""
    with psycopg.connect(pg_conninfo(url)) as conn:
        top = conn.execute(f"SELECT max(id) FROM {PG_TABLE}").fetchone()
        high = int(top[0]) if top and top[0] else 1
        times = []
        for n in range(samples):
            started = time.perf_counter()
            conn.execute(
                f"SELECT state FROM {PG_TABLE} WHERE id = %s",
                (1 + (n * 7919) % high,),
                prepare=True,
            ).fetchone()
            times.append(time.perf_counter() - started)
    return percentiles(times)


def pg_drop(url: str) -> None:
    with psycopg.connect(pg_conninfo(url), autocommit=True) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {PG_TABLE}")


# --------------------------------------------------------------------------- SQLite


def sqlite_connect(path: str, journal_mode: str, synchronous: int) -> sqlite3.Connection:
    """A connection configured like the store's."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
    conn.execute(f"PRAGMA journal_mode={journal_mode}")
    conn.execute(f"PRAGMA synchronous={synchronous}")
    return conn


def sqlite_prepare(path: str, journal_mode: str, synchronous: int) -> None:
    conn = sqlite_connect(path, journal_mode, synchronous)
    conn.execute(f"DROP TABLE IF EXISTS {SQLITE_TABLE}")
    conn.execute(
        f"CREATE TABLE {SQLITE_TABLE} (id INTEGER PRIMARY KEY, originator_id TEXT NOT NULL, "
        "version INTEGER NOT NULL, topic TEXT NOT NULL, state BLOB NOT NULL)"
    )
    conn.close()


def sqlite_inserts(path: str, settings: tuple[str, int], workers: int, seconds: float) -> float:
    """Single-row BEGIN IMMEDIATE / INSERT / COMMIT transactions per second."""
    sql = f"INSERT INTO {SQLITE_TABLE} (originator_id, version, topic, state) VALUES (?, ?, ?, ?)"

    def work(index: int, keep_going: Callable[[], bool]) -> int:
        conn = sqlite_connect(path, *settings)
        oid, done = uuid.uuid4().hex, 0
        while keep_going():
            conn.execute("BEGIN IMMEDIATE")
            conn.execute(sql, (oid, done, TOPIC, STATE))
            conn.execute("COMMIT")
            done += 1
        conn.close()
        return done

    return run_threads(workers, seconds, work)


def sqlite_fill(path: str, settings: tuple[str, int], rows: int) -> None:
    conn = sqlite_connect(path, *settings)
    oid = uuid.uuid4().hex
    conn.execute("BEGIN")
    conn.executemany(
        f"INSERT INTO {SQLITE_TABLE} (originator_id, version, topic, state) VALUES (?, ?, ?, ?)",
        ((oid, n, TOPIC, STATE) for n in range(rows)),
    )
    conn.execute("COMMIT")
    conn.close()


def sqlite_scan(path: str, settings: tuple[str, int]) -> dict[str, float]:
    conn = sqlite_connect(path, *settings)
    sql = (
        f"SELECT id, originator_id, version, topic, state FROM {SQLITE_TABLE} "
        "WHERE id > ? ORDER BY id LIMIT 10000"
    )
    rows, last = 0, 0
    started = time.perf_counter()
    while True:
        page = conn.execute(sql, (last,)).fetchall()
        rows += len(page)
        if len(page) < 10000:
            break
        last = page[-1][0]
    elapsed = time.perf_counter() - started
    conn.close()
    return {"rows": rows, "rows_per_s": rows / elapsed if elapsed else 0.0}


def sqlite_point_reads(path: str, settings: tuple[str, int], samples: int) -> dict[str, float]:
    conn = sqlite_connect(path, *settings)
    high = int(conn.execute(f"SELECT max(id) FROM {SQLITE_TABLE}").fetchone()[0] or 1)
    times = []
    for n in range(samples):
        started = time.perf_counter()
        conn.execute(
            f"SELECT state FROM {SQLITE_TABLE} WHERE id = ?", (1 + (n * 7919) % high,)
        ).fetchone()
        times.append(time.perf_counter() - started)
    conn.close()
    return percentiles(times)


def sqlite_settings(path: str) -> tuple[str, int]:
    """The journal mode and synchronous level the store's connections use."""
    from casestore.bootstrap import open_store

    app = open_store(f"sqlite:///{path}")
    with app.recorder.datastore.get_connection(commit=False) as conn:  # type: ignore[attr-defined]
        raw: Any = conn._sqlite_conn
        mode = raw.execute("PRAGMA journal_mode").fetchone()[0]
        sync = raw.execute("PRAGMA synchronous").fetchone()[0]
    app.close()
    return str(mode), int(sync)
