"""The key table's layouts 2 (session 8) and 3 (a key's row names the aggregate it was
made for: no link for it): a key table made by the code before (layout 1: rowid tables,
full ``ref`` and ``destroyed_us`` indexes, a link for every aggregate) is migrated when
a process first opens it — every row kept, every key still opening its tokens, a forget still
forgetting — and opening it again changes nothing (SQLite, and PostgreSQL under ``-m pg``).

Layout 1 is written here by hand, as ``keytable.py`` of ``land8`` created it."""

from __future__ import annotations

import sqlite3
from typing import Any

import psycopg
import pytest

from casestore.service import CaseService, SubmitCase
from casestore.store.application import CasestoreApp
from casestore.store.audit import verify
from casestore.store.schema import backend_of
from tests.conftest import APPLICANT, CLERK
from tests.integration.test_forget import ERASED, OTHER, forgetting, world

__all__ = ["world"]  # the fixture, shared with test_forget.py

KEYS, LINKS = "casestore_subject_keys", "casestore_subject_links"
LAYOUT_1 = (  # land8's keytable._DDL and _LIVE_DDL
    f"CREATE TABLE {KEYS} (key_id TEXT PRIMARY KEY, ref TEXT NOT NULL, "
    "wrapped BLOB, master_kid TEXT NOT NULL, created_us BIGINT NOT NULL, destroyed_us BIGINT)",
    f"CREATE INDEX {KEYS}_ref ON {KEYS} (ref)",
    f"CREATE INDEX {KEYS}_destroyed ON {KEYS} (destroyed_us)",
    f"CREATE TABLE {LINKS} (owner_id TEXT NOT NULL, party TEXT NOT NULL, "
    "key_id TEXT NOT NULL, PRIMARY KEY (owner_id, party))",
    f"CREATE INDEX {LINKS}_key ON {LINKS} (key_id)",
    f"CREATE UNIQUE INDEX {KEYS}_live ON {KEYS} (ref) WHERE wrapped IS NOT NULL",
)
#: The indexes of layout 2 that are not a primary key's (written by hand).
LAYOUT_2_INDEXES = {f"{KEYS}_live", f"{KEYS}_gone", f"{LINKS}_key"}
KEY_COLUMNS = "key_id, ref, wrapped, master_kid, created_us, destroyed_us"


def _sql(url: str, statements: list[str]) -> list[list[tuple[Any, ...]]]:
    """Run statements straight on the database (no casestore code), one transaction."""
    if backend_of(url) == "sqlite":
        conn = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
        try:
            conn.execute("BEGIN IMMEDIATE")
            out = [[tuple(r) for r in conn.execute(s)] for s in statements]
            conn.execute("COMMIT")
            return out
        finally:
            conn.close()
    with psycopg.connect(url, autocommit=False) as pg:
        out = []
        for s in statements:
            cur = pg.execute(s.replace("BLOB", "bytea"))
            out.append([tuple(r) for r in cur.fetchall()] if cur.description else [])
        return out


def _checkpoint(url: str) -> None:
    conn = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
    finally:
        conn.close()


def _to_layout_1(url: str) -> None:
    """Put the key table back as the code before made it, rows and all (on PostgreSQL
    the tables are alike in both layouts: only the indexes differ)."""
    owners = (  # layout 3 names a key's own aggregate in its row; before, a link did
        f"INSERT INTO {LINKS} (owner_id, party, key_id) SELECT owner_id, party, key_id "
        f"FROM {{}} WHERE owner_id IS NOT NULL"
    )
    if backend_of(url) != "sqlite":
        drop = [f"DROP INDEX {KEYS}_gone", f"DROP INDEX {KEYS}_live", f"DROP INDEX {LINKS}_key"]
        columns = f"ALTER TABLE {KEYS} DROP COLUMN owner_id, DROP COLUMN party"
        _sql(url, [owners.format(KEYS), columns, *drop, *(s for s in LAYOUT_1 if "INDEX" in s)])
        return
    _sql(
        url,
        [
            f"ALTER TABLE {KEYS} RENAME TO old_keys",
            f"ALTER TABLE {LINKS} RENAME TO old_links",
            f"DROP INDEX {KEYS}_live",
            f"DROP INDEX {KEYS}_gone",
            f"DROP INDEX {LINKS}_key",
            *LAYOUT_1,
            f"INSERT INTO {KEYS} ({KEY_COLUMNS}) SELECT {KEY_COLUMNS} FROM old_keys",
            f"INSERT INTO {LINKS} SELECT owner_id, party, key_id FROM old_links",
            owners.format("old_keys"),
            "DROP TABLE old_keys",
            "DROP TABLE old_links",
        ],
    )


def _open(url: str) -> CasestoreApp:
    """A process opening the store: its first key-table read brings the layout up."""
    app = CasestoreApp(url)
    assert app.subject_keys is not None
    app.subject_keys.refs()
    return app


def _layout(url: str) -> tuple[set[str], set[str]]:
    """(the key tables' secondary indexes, the tables that are WITHOUT ROWID)."""
    if backend_of(url) == "sqlite":
        [rows] = _sql(
            url,
            [
                "SELECT type, name, sql FROM sqlite_schema WHERE tbl_name IN "
                f"('{KEYS}', '{LINKS}') AND sql IS NOT NULL"
            ],
        )
        indexes = {str(n) for t, n, _ in rows if t == "index"}
        no_rowid = {str(n) for t, n, s in rows if t == "table" and "WITHOUT ROWID" in s}
        return indexes, no_rowid
    [rows] = _sql(
        url,
        [
            f"SELECT indexname FROM pg_indexes WHERE tablename IN ('{KEYS}', '{LINKS}') "
            "AND indexname NOT LIKE '%pkey'"
        ],
    )
    return {str(r[0]) for r in rows}, set()


def _rows(url: str) -> list[tuple[Any, ...]]:
    [keys, links] = _sql(
        url,
        [
            f"SELECT {KEY_COLUMNS} FROM {KEYS} ORDER BY key_id",
            f"SELECT owner_id, party, key_id FROM {LINKS} ORDER BY owner_id, party",
        ],
    )
    return [tuple(bytes(v) if isinstance(v, memoryview) else v for v in r) for r in keys + links]


@pytest.fixture(autouse=True)
def _owner(store_url: str) -> None:
    """The test changes the tables as their owner would (not as the application role)."""
    from tests.pgharness import app_role_wanted

    if backend_of(store_url) == "postgres" and app_role_wanted():
        pytest.skip("needs the tables' owner")


def test_a_key_table_of_layout_1_is_migrated_when_first_opened(
    world: tuple[CasestoreApp, CaseService], store_url: str
) -> None:
    app, service = world
    kept = service.handle(SubmitCase(actor=CLERK, item_code="XK-003", applicant=APPLICANT))
    gone = service.handle(SubmitCase(actor=CLERK, item_code="XK-003", applicant=OTHER))
    forgetting(app).forget(
        OTHER.id_number, by="adm-1", approved_by="adm-2", reason="asked", ignore_retention=True
    )
    app.close()
    _to_layout_1(store_url)
    assert _layout(store_url)[0] == {f"{KEYS}_ref", f"{KEYS}_destroyed", f"{KEYS}_live"} | {
        f"{LINKS}_key"
    }
    before = _rows(store_url)
    assert len(before) == 3 + 2  # the ref key, two data keys (one destroyed); two links

    reopened = _open(store_url)  # the same master key (the fixture's environment)
    try:
        first = reopened.domain_events(kept.case_id)[0]
        assert (first.applicant.name, first.applicant.phone) == ("张三", "13800000000")
        erased = reopened.domain_events(gone.case_id)[0]
        assert erased.applicant.name == ERASED
        indexes, no_rowid = _layout(store_url)
        assert indexes == LAYOUT_2_INDEXES
        if backend_of(store_url) == "sqlite":
            assert no_rowid == {KEYS, LINKS}
        assert _rows(store_url) == before  # every row as it was

        # The subject keeps its one live key; a forget still finds and destroys it.
        again = CaseService(reopened, clock=service.clock)
        second = again.handle(SubmitCase(actor=CLERK, item_code="XK-003", applicant=APPLICANT))
        assert reopened.subject_keys is not None
        ref = reopened.subject_keys.ref_of(APPLICANT.id_number)
        owners = reopened.subject_keys.owners(ref)
        assert sorted((o, p) for o, p, _, _ in owners) == sorted(
            [(kept.case_id.hex, "applicant"), (second.case_id.hex, "applicant")]
        )
        assert len({k for _, _, k, _ in owners}) == 1
        forgetting(reopened).forget(
            APPLICANT.id_number,
            by="adm-1",
            approved_by="adm-2",
            reason="asked",
            ignore_retention=True,
        )
        assert reopened.domain_events(second.case_id)[0].applicant.name == ERASED
        assert all(d for _, _, _, d in reopened.subject_keys.owners(ref))
        assert verify(reopened).ok
    finally:
        reopened.close()
    migrated = _rows(store_url), _layout(store_url)
    _open(store_url).close()  # idempotent: opening it again changes nothing
    assert (_rows(store_url), _layout(store_url)) == migrated


def test_the_migration_leaves_no_copy_of_a_wrapped_key_in_the_file(
    world: tuple[CasestoreApp, CaseService], store_url: str
) -> None:
    """The old table's pages are freed with ``secure_delete``: after the rebuild (and a
    checkpoint) each wrapped key is in the file once, in the new table (SQLite only),
    even where the build's default leaves freed pages as they were."""
    if backend_of(store_url) != "sqlite":
        pytest.skip("a SQLite file's free pages")
    app, service = world
    service.handle(SubmitCase(actor=CLERK, item_code="XK-003", applicant=APPLICANT))
    app.close()
    _to_layout_1(store_url)
    _checkpoint(store_url)
    [wrapped] = _sql(store_url, [f"SELECT wrapped FROM {KEYS} WHERE key_id <> '_ref'"])
    connect = sqlite3.connect

    def insecure(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        conn = connect(*args, **kwargs)  # as a build without SQLITE_SECURE_DELETE has it
        conn.execute("PRAGMA secure_delete = OFF")
        return conn

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sqlite3, "connect", insecure)
        _open(store_url).close()
    _checkpoint(store_url)
    data = open(store_url.removeprefix("sqlite:///"), "rb").read()  # noqa: SIM115
    assert [data.count(bytes(w[0])) for w in wrapped] == [1]


def test_a_layout_1_table_with_two_live_keys_of_a_subject_keeps_its_ref_index(
    world: tuple[CasestoreApp, CaseService], store_url: str
) -> None:
    """Two processes' intakes of one new subject before the live index could leave two
    live keys: the live index cannot be made, the full ``ref`` index stays for look-ups,
    and the case's key still opens its tokens."""
    app, service = world
    one = service.handle(SubmitCase(actor=CLERK, item_code="XK-003", applicant=APPLICANT))
    app.close()
    _to_layout_1(store_url)
    _sql(
        store_url,
        [
            f"DROP INDEX {KEYS}_live",
            # a second key of the subject: its id differs in the first digit (always)
            f"INSERT INTO {KEYS} ({KEY_COLUMNS}) SELECT CASE WHEN key_id LIKE 'f%' THEN 'e' "
            "ELSE 'f' END || substr(key_id, 2), ref, "
            f"wrapped, master_kid, created_us + 1, NULL FROM {KEYS} WHERE key_id <> '_ref'",
        ],
    )
    reopened = _open(store_url)
    try:
        assert reopened.domain_events(one.case_id)[0].applicant.name == "张三"
        assert _layout(store_url)[0] == {f"{KEYS}_ref", f"{KEYS}_gone", f"{LINKS}_key"}
    finally:
        reopened.close()


def test_layout_3_a_new_subjects_key_names_its_case_and_a_further_case_is_linked(
    world: tuple[CasestoreApp, CaseService], store_url: str
) -> None:
    """A new subject's intake writes one key-table row: its key, naming the case and the
    party (no link). The subject's next case is linked to that key; the subject's owners
    are both. Another process, which never saw the first case, finds its key from the
    case's first event and seals a correction on it under that key."""
    from tests.integration.test_forget_cache import correct_phone, tokens_under

    app, service = world
    first = service.handle(SubmitCase(actor=CLERK, item_code="XK-003", applicant=APPLICANT))
    [[(key_id, owner, party)]] = _sql(
        store_url, [f"SELECT key_id, owner_id, party FROM {KEYS} WHERE key_id <> '_ref'"]
    )
    assert (owner, party) == (first.case_id.hex, "applicant")
    assert _sql(store_url, [f"SELECT count(*) FROM {LINKS}"]) == [[(0,)]]
    second = service.handle(SubmitCase(actor=CLERK, item_code="XK-003", applicant=APPLICANT))
    assert _sql(store_url, [f"SELECT owner_id, party, key_id FROM {LINKS}"]) == [
        [(second.case_id.hex, "applicant", key_id)]
    ]
    assert app.subject_keys is not None
    ref = app.subject_keys.ref_of(APPLICANT.id_number)
    assert app.subject_keys.owners(ref) == sorted(
        [
            (first.case_id.hex, "applicant", key_id, False),
            (second.case_id.hex, "applicant", key_id, False),
        ]
    )
    app.close()

    other = _open(store_url)  # another process: nothing remembered
    try:
        assert other.subject_keys is not None
        assert other.subject_keys.ref_of_owner(first.case_id.hex) == ref
        head = other.log.head()[0]
        CaseService(other, clock=service.clock).handle(correct_phone(first.case_id, "13900000009"))
        assert tokens_under(other, key_id, head) == 1
        assert other.domain_events(first.case_id)[-1].correct_value == "13900000009"
        assert other.subject_keys.linked_key(first.case_id.hex).key_id == key_id  # type: ignore[union-attr]
    finally:
        other.close()
