"""Proofs read from the database, with and without the in-memory node cache, on SQLite and
PostgreSQL: every tree size the worker commits up to 300 and every leaf, against RFC
9162's definitions and Go's known answers (issue 13: proofs stay byte-identical while
they read less).

The events are rows of the test's own leaf data (``sha256("casestore test event i")``, the
vectors' leaves) written straight into the event table, so the expected paths come from
the RFC transcription in ``tests/unit/test_merkle_kat.py`` and ``tests/data`` — never from
the tree tables under test.

The leaves under a proof's low nodes come from a leaf tile (16 leaf hashes a row, written
by the tree worker) or, where none is stored, from the events: both paths are checked —
tiles full, the tile under way (no tile yet), a tree grown before tiles (none below some
tile) while it is backfilled, and the tree worker behind the log.
"""

from __future__ import annotations

import base64
import hashlib
import sqlite3
import threading
import time
from uuid import uuid4

import psycopg
import pytest

from casestore.ledger import merkle
from casestore.ledger.store import TILE_LEVEL, LedgerStore
from casestore.ledger.workers import LedgerThread, TreeWorker
from casestore.store.application import CasestoreApp
from casestore.store.config import backend_of, sqlite_name
from tests.unit.test_merkle_kat import MAX, VECTORS, leaf_data, ref_mth, ref_path, ref_proof


def write_events(url: str, first: int, last: int) -> None:
    """Positions ``first``..``last`` whose event hashes are the test leaves."""
    if backend_of(url) == "sqlite":
        with sqlite3.connect(sqlite_name(url)) as conn:
            conn.executemany(
                "INSERT INTO casestore_events (notification_id, originator_id, "
                "originator_version, topic, state, recorded_at, event_hash, chain_hash) "
                "VALUES (?, ?, 1, 'test', x'', 0, ?, x'')",
                [(p, uuid4().hex, leaf_data(p - 1)) for p in range(first, last + 1)],
            )
        return
    with psycopg.connect(url, autocommit=True) as conn, conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO casestore_events (notification_id, originator_id, originator_version, "
            "topic, state, recorded_at, event_hash, chain_hash) "
            "VALUES (%s, %s, 1, 'test', '', now(), %s, '')",
            [(p, uuid4(), leaf_data(p - 1)) for p in range(first, last + 1)],
        )


def sql(url: str, statement: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    """One statement straight on the database (as the superuser would)."""
    if backend_of(url) == "sqlite":
        with sqlite3.connect(sqlite_name(url)) as conn:
            return list(conn.execute(statement.replace("%s", "?"), params).fetchall())
    with psycopg.connect(url, autocommit=True) as conn:
        cur = conn.execute(statement, params)  # type: ignore[arg-type]
        return list(cur.fetchall()) if cur.description else []


def expected_tile(t: int) -> bytes:
    """Tile ``t`` by hand: the leaf hashes SHA-256(0x00 ‖ data) of leaves 16t..16t+15."""
    return b"".join(
        hashlib.sha256(b"\x00" + leaf_data(i)).digest() for i in range(16 * t, 16 * t + 16)
    )


def tiles(url: str) -> dict[int, bytes]:
    rows = sql(url, f"SELECT idx, hash FROM casestore_merkle_nodes WHERE level = {TILE_LEVEL}")
    return {int(str(i)): bytes(h) for i, h in rows}  # type: ignore[arg-type]


def all_paths_match(stores: tuple[LedgerStore, ...], size: int) -> None:
    expected = [ref_path(i, 0, size) for i in range(size)]
    for store in stores:
        assert merkle.inclusion_proofs(list(range(size)), size, store.read_nodes) == expected
        for i in range(0, size, 7):
            assert merkle.inclusion_proof(i, size, store.read_nodes) == expected[i], (size, i)


def test_stored_proofs_equal_the_rfc_for_every_size_and_leaf(store_url: str) -> None:
    CasestoreApp(store_url).close()  # the event table
    plain = LedgerStore(store_url)
    cached = LedgerStore(store_url, cache_nodes=True)
    # a budget of 20 hashes: the cache gives up its lowest levels as the tree grows, so
    # proofs mix cached nodes, nodes read by key and nodes read to extend the cache
    tight = LedgerStore(store_url, cache_nodes=True, cache_budget=20 * 32)
    stores = (plain, cached, tight)
    tree = TreeWorker(plain, batch=7)
    try:
        size = 0
        while size < MAX:
            step = min(MAX - size, 7 + size % 13)  # uneven batches, each its own commit
            write_events(store_url, size + 1, size + step)
            tree.catch_up()
            size += step
            assert plain.head() == (size, ref_mth(0, size))
            # a tile for every 16 leaves completed, none for the ones under way
            assert tiles(store_url) == {t: expected_tile(t) for t in range(size // 16)}
            expected = [ref_path(i, 0, size) for i in range(size)]
            for store in stores:  # all leaves in one read, as a case proof reads them
                assert merkle.inclusion_proofs(list(range(size)), size, store.read_nodes) == (
                    expected
                ), (size, store.cache)
                for i in {0, size // 3, size - 1}:  # one leaf per read, as /log/inclusion
                    path = merkle.inclusion_proof(i, size, store.read_nodes)
                    assert path == expected[i], (size, i)
                assert merkle.tree_root(size, store.read_nodes) == ref_mth(0, size)
            for m in {1, size // 2, size - 1} - {0}:
                for store in stores:
                    proof = merkle.consistency_proof(m, size, store.read_nodes)
                    assert proof == ref_proof(m, size), (m, size)
        # the cache holds every tile a proof asked for (the tight one gave tiles up)
        assert cached.cache.tile_count() == MAX // 16 and not tight.cache.keep_tiles
        # proofs do read the tiles: a wrong tile gives a wrong path (the test can fail)
        sql(store_url, "UPDATE casestore_merkle_nodes SET hash = %s WHERE level = -1 AND idx = 2",
            (expected_tile(3),))  # fmt: skip
        fresh = LedgerStore(store_url, cache_nodes=True)
        for store in (plain, tight, fresh):
            assert merkle.inclusion_proof(40, MAX, store.read_nodes) != ref_path(40, 0, MAX)
        assert merkle.inclusion_proof(40, MAX, cached.read_nodes) == ref_path(40, 0, MAX)
        fresh.close()
        sql(store_url, "UPDATE casestore_merkle_nodes SET hash = %s WHERE level = -1 AND idx = 2",
            (expected_tile(2),))  # fmt: skip
        # a tree grown before tiles: none below tile 12; proofs read those leaves from the
        # events while the worker backfills them, highest first, a few per transaction (a
        # new cache sees the gap and holds no tiles until they are all there)
        sql(store_url, "DELETE FROM casestore_merkle_nodes WHERE level = -1 AND idx < 12")
        fresh = LedgerStore(store_url, cache_nodes=True)
        assert fresh.cache is not None
        fresh.cache.retry_after = 0
        stores = (*stores, fresh)
        all_paths_match(stores, MAX)
        assert fresh.cache.tile_count() == 0
        lowest = 12
        while written := plain.backfill_tiles(limit=5):
            assert written == min(5, lowest)
            lowest -= written
            assert tiles(store_url) == {t: expected_tile(t) for t in range(lowest, MAX // 16)}
            all_paths_match(stores, MAX)
        assert lowest == 0 and TreeWorker(plain).fill_tiles() == 0
        assert fresh.cache.tile_count() == MAX // 16
        # the tree worker behind the log: the tile under way is complete in the events
        write_events(store_url, MAX + 1, MAX + 40)
        all_paths_match(stores, MAX)
        assert max(tiles(store_url)) == MAX // 16 - 1
        assert tight.cache is not None and tight.cache.lowest > 4  # it did give levels up
        assert cached.cache is not None and cached.cache.lowest == 4
        assert cached.cache.size_bytes() == 32 * sum(MAX >> lv for lv in range(4, 9)) + (
            512 * (MAX // 16)
        )
        for store in stores:  # older sizes after the cache grew past them; Go's answers
            for case in VECTORS["inclusion"]:
                n, i = case["size"], case["index"]
                path = merkle.inclusion_proof(i, n, store.read_nodes)
                assert [base64.b64encode(h).decode() for h in path] == case["proof"], (n, i)
            with pytest.raises(LookupError):  # beyond the tree: an error, never a wrong proof
                merkle.inclusion_proof(3, MAX + 20, store.read_nodes)
        tree.catch_up()  # its first batch starts mid-tile: the tile under way is completed
        assert tiles(store_url) == {t: expected_tile(t) for t in range((MAX + 40) // 16)}
    finally:
        for store in stores:
            store.close()


def test_the_ledger_thread_backfills_an_old_tree_while_it_grows(store_url: str) -> None:
    """A tree grown before tiles (none stored): the ledger worker's thread writes them all,
    a chunk per poll from the head down, while it keeps growing the tree past new events."""
    CasestoreApp(store_url).close()
    store = LedgerStore(store_url)
    write_events(store_url, 1, 200)
    TreeWorker(store).catch_up()
    sql(store_url, "DELETE FROM casestore_merkle_nodes WHERE level = -1")
    store.backfill_limit = 3  # several chunks
    stop = threading.Event()
    thread = LedgerThread(store, None, stop, poll_interval=0.01)
    thread.start()
    try:
        write_events(store_url, 201, MAX)
        deadline = time.monotonic() + 60
        want = {t: expected_tile(t) for t in range(MAX // 16)}
        # the worker knows it is done one poll after the last tile lands (a chunk that
        # finds nothing missing): wait for both
        while time.monotonic() < deadline and not (
            tiles(store_url) == want and thread.tree.tiles_complete
        ):
            time.sleep(0.05)
        assert tiles(store_url) == want
        assert thread.tree.tiles_complete
        assert store.head() == (MAX, ref_mth(0, MAX))
        all_paths_match((store,), MAX)
    finally:
        stop.set()
        thread.join(10)
        store.close()
