"""The group commit's key check (``keyguard``) on its own: the SQLite INSERT that writes
nothing when a key is gone, the new key refused for a subject with a live key, and
PostgreSQL's errors read back as the requests to blame."""

from __future__ import annotations

import sqlite3
from types import SimpleNamespace

import pytest

from casestore.store.keyerrors import KeysGone, KeysTaken
from casestore.store.keyguard import GONE_MARK, insert_checked, raise_if_gone, write_side_rows
from casestore.store.keytable import _INDEXES, _LIVE_DDL, INSERT_KEY, KEYS, LIVE_INDEX, _tables

INSERT = "INSERT INTO events (position, state) VALUES (?,?),(?,?)"


class PgError(Exception):
    """What psycopg's errors carry that the check reads: the SQLSTATE and diagnostics."""

    def __init__(self, sqlstate: str, **diag: str) -> None:
        super().__init__(diag.get("message_primary", ""))
        self.sqlstate = sqlstate
        self.diag = SimpleNamespace(**diag)


@pytest.fixture
def conn() -> sqlite3.Connection:
    db = sqlite3.connect(":memory:", isolation_level=None)
    for statement in (*_tables("sqlite"), *_INDEXES, _LIVE_DDL):
        db.execute(statement)
    db.execute("CREATE TABLE events (position INTEGER PRIMARY KEY, state BLOB)")
    for key_id, ref, wrapped in (("a" * 16, "r1", b"w"), ("b" * 16, "r2", None)):
        db.execute(
            f"INSERT INTO {KEYS} (key_id, ref, wrapped, master_kid, created_us) "
            "VALUES (?, ?, ?, 'm', 1)",
            (key_id, ref, wrapped),
        )
    return db


def test_the_checked_insert_writes_its_rows_when_every_key_is_live(
    conn: sqlite3.Connection,
) -> None:
    insert_checked(conn, INSERT, [1, b"x", 2, b"y"], 2, ["a" * 16])
    assert conn.execute("SELECT position, state FROM events").fetchall() == [(1, b"x"), (2, b"y")]


@pytest.mark.parametrize("key_ids", [["a" * 16, "b" * 16], ["c" * 16]])
def test_the_checked_insert_writes_nothing_when_a_key_is_destroyed_or_unknown(
    conn: sqlite3.Connection, key_ids: list[str]
) -> None:
    with pytest.raises(KeysGone) as gone:
        insert_checked(conn, INSERT, [1, b"x", 2, b"y"], 2, key_ids)
    assert gone.value.key_ids == set(key_ids) - {"a" * 16}
    assert conn.execute("SELECT count(*) FROM events").fetchone() == (0,)


@pytest.mark.parametrize(
    ("key_ids", "written"), [(["a" * 16], 1), (["b" * 16], 0), (["c" * 16], 0)]
)
def test_the_checked_insert_of_one_row_writes_it_only_when_its_key_is_live(
    conn: sqlite3.Connection, key_ids: list[str], written: int
) -> None:
    """One row (a command's one event, the usual batch) is checked as a bare SELECT."""
    one = "INSERT INTO events (position, state) VALUES (?,?)"
    if written:
        insert_checked(conn, one, [1, b"x"], 1, key_ids)
    else:
        with pytest.raises(KeysGone) as gone:
            insert_checked(conn, one, [1, b"x"], 1, key_ids)
        assert gone.value.key_ids == set(key_ids)
    assert conn.execute("SELECT count(*) FROM events").fetchone() == (written,)


def test_a_second_live_key_of_a_subject_is_refused_as_taken(conn: sqlite3.Connection) -> None:
    """r2's key was destroyed: a new one is fine; r1 has a live key: a new one is not."""
    write_side_rows(conn, [(INSERT_KEY, ("d" * 16, "r2", b"w", "m", 2, None, None))])
    with pytest.raises(KeysTaken) as taken:
        write_side_rows(conn, [(INSERT_KEY, ("e" * 16, "r1", b"w", "m", 3, "o", "applicant"))])
    assert taken.value.refs == {"r1"}
    write_side_rows(conn, [(INSERT_KEY, ("d" * 16, "r2", b"w", "m", 2, None, None))])  # idempotent


def test_postgresql_errors_name_the_keys_gone_and_the_subjects_taken() -> None:
    marked = PgError(
        "22P02",
        message_primary='invalid input syntax for type integer: "casestore: data key '
        f'destroyed: {"f" * 16}"',
    )
    with pytest.raises(KeysGone) as gone:
        raise_if_gone(marked)
    assert gone.value.key_ids == {"f" * 16}
    raised = PgError("22P02", message_primary=f"{GONE_MARK}{'a' * 16},{'b' * 16}")
    with pytest.raises(KeysGone) as both:  # the append function's RAISE (schema version 3)
        raise_if_gone(raised)
    assert both.value.key_ids == {"a" * 16, "b" * 16}
    unique = PgError(
        "23505",
        message_primary=f'duplicate key value violates unique constraint "{LIVE_INDEX}"',
        constraint_name=LIVE_INDEX,
        message_detail="Key (ref)=(0a1b2c) already exists.",
    )
    with pytest.raises(KeysTaken) as taken:
        raise_if_gone(unique)
    assert taken.value.refs == {"0a1b2c"}
    other = PgError("23505", constraint_name="casestore_events_pkey")
    raise_if_gone(other)  # not the key check's: left to the caller
