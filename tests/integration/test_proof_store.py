"""Proofs read from the database, with and without the in-memory node cache, on SQLite and
PostgreSQL: every tree size the worker commits up to 300 and every leaf, against RFC
9162's definitions and Go's known answers (issue 13: proofs stay byte-identical while
they read less).

The events are rows of the test's own leaf data (``sha256("casestore test event i")``, the
vectors' leaves) written straight into the event table, so the expected paths come from
the RFC transcription in ``tests/unit/test_merkle_kat.py`` and ``tests/data`` — never from
the tree tables under test.
"""

from __future__ import annotations

import base64
import sqlite3
from uuid import uuid4

import psycopg
import pytest

from casestore.ledger import merkle
from casestore.ledger.store import LedgerStore
from casestore.ledger.workers import TreeWorker
from casestore.store.application import CasestoreApp
from casestore.store.config import backend_of, sqlite_name
from tests.unit.test_merkle_kat import LEAVES, MAX, VECTORS, ref_mth, ref_path, ref_proof


def write_events(url: str, first: int, last: int) -> None:
    """Positions ``first``..``last`` whose event hashes are the test leaves."""
    if backend_of(url) == "sqlite":
        with sqlite3.connect(sqlite_name(url)) as conn:
            conn.executemany(
                "INSERT INTO casestore_events (notification_id, originator_id, "
                "originator_version, topic, state, recorded_at, event_hash, chain_hash) "
                "VALUES (?, ?, 1, 'test', x'', 0, ?, x'')",
                [(p, uuid4().hex, LEAVES[p - 1]) for p in range(first, last + 1)],
            )
        return
    with psycopg.connect(url, autocommit=True) as conn, conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO casestore_events (notification_id, originator_id, originator_version, "
            "topic, state, recorded_at, event_hash, chain_hash) "
            "VALUES (%s, %s, 1, 'test', '', now(), %s, '')",
            [(p, uuid4(), LEAVES[p - 1]) for p in range(first, last + 1)],
        )


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
        assert tight.cache is not None and tight.cache.lowest > 4  # it did give levels up
        assert cached.cache is not None and cached.cache.lowest == 4
        assert cached.cache.size_bytes() == 32 * sum(MAX >> lv for lv in range(4, 9))
        for store in stores:  # older sizes after the cache grew past them; Go's answers
            for case in VECTORS["inclusion"]:
                n, i = case["size"], case["index"]
                path = merkle.inclusion_proof(i, n, store.read_nodes)
                assert [base64.b64encode(h).decode() for h in path] == case["proof"], (n, i)
            with pytest.raises(LookupError):  # beyond the tree: an error, never a wrong proof
                merkle.inclusion_proof(3, MAX + 20, store.read_nodes)
    finally:
        for store in stores:
            store.close()
