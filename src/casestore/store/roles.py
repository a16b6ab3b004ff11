"""Database roles: the application role may read and append, never update or delete.

``grant_app_role`` is run once by the database owner after ``casestore db migrate``
(``casestore db grant ROLE``); the API processes and projection workers then connect as
that role. What it gets, and nothing more:

- the log, the idempotency keys and their bindings: SELECT and INSERT (no UPDATE,
  DELETE, TRUNCATE);
- the verifiable log: checkpoints and cosignatures SELECT and INSERT, tree nodes SELECT
  and INSERT, the tree's head row SELECT, INSERT and UPDATE;
- the schema-version table: SELECT (processes check it at start);
- the subjects' key tables (issue 18): SELECT, INSERT, UPDATE — keys are created with
  the first case of a subject and destroyed (set to NULL) by ``casestore forget``;
- the read side's own tables (tracking, parking, every view): SELECT, INSERT, UPDATE,
  DELETE — the workers maintain them — and the same on tables the owner creates later
  (default privileges), so a view the owner rebuilds blue/green stays writable;
- USAGE on the schema, not CREATE: it cannot create tables. Blue/green rebuilds (a
  projection's version moved, ``project rebuild``) are the owner's, by ``db migrate``.

The append-only triggers stay as a second line of defence for owners and superusers.
"""

from __future__ import annotations

from collections.abc import Sequence

import psycopg
from psycopg import sql

from casestore.store.recorders import BINDINGS_TABLE, EVENTS_TABLE, KEYS_TABLE
from casestore.store.schema import SCHEMA_TABLE
from casestore.store.subjectkeys import KEYS as SUBJECT_KEYS
from casestore.store.subjectkeys import LINKS as SUBJECT_LINKS

APPEND_ONLY_TABLES = (EVENTS_TABLE, KEYS_TABLE, BINDINGS_TABLE)
_READ_SIDE_RIGHTS = "SELECT, INSERT, UPDATE, DELETE"


def grant_app_role(
    admin_url: str,
    role: str,
    password: str | None = None,
    *,
    view_tables: Sequence[str] = (),
) -> None:
    """Create ``role`` if needed and give it exactly the rights listed in the module's doc."""
    ident = sql.Identifier(role)
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
        if not exists:
            stmt = sql.SQL("CREATE ROLE {} LOGIN").format(ident)
            if password:
                stmt += sql.SQL(" PASSWORD {}").format(sql.Literal(password))
            conn.execute(stmt)
        conn.execute(sql.SQL("REVOKE CREATE ON SCHEMA public FROM {}").format(ident))
        conn.execute(sql.SQL("GRANT USAGE ON SCHEMA public TO {}").format(ident))
        for table in APPEND_ONLY_TABLES:
            _set(conn, table, ident, "SELECT, INSERT")
        has_schema = conn.execute("SELECT to_regclass(%s)", (SCHEMA_TABLE,)).fetchone()
        if has_schema and has_schema[0] is not None:
            _set(conn, SCHEMA_TABLE, ident, "SELECT")
        for table in (SUBJECT_KEYS, SUBJECT_LINKS):
            found = conn.execute("SELECT to_regclass(%s)", (table,)).fetchone()
            if found and found[0] is not None:
                _set(conn, table, ident, "SELECT, INSERT, UPDATE")
        for table in view_tables:
            _set(conn, table, ident, _READ_SIDE_RIGHTS)
        conn.execute(
            sql.SQL(
                "ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT " + _READ_SIDE_RIGHTS
                + " ON TABLES TO {}"
            ).format(ident)
        )  # fmt: skip
    _grant_ledger(admin_url, ident)


def _set(conn: psycopg.Connection[object], table: str, ident: sql.Identifier, rights: str) -> None:
    t = sql.Identifier(table)
    conn.execute(sql.SQL("REVOKE ALL ON {} FROM {}").format(t, ident))
    conn.execute(sql.SQL("GRANT " + rights + " ON {} TO {}").format(t, ident))


def _grant_ledger(admin_url: str, ident: sql.Identifier) -> None:
    """The verifiable log's tables (SPEC §9), created here as owner if missing:
    checkpoints and cosignatures append-only like the log; the tree's nodes insert-only;
    its head row the one thing the role may update."""
    from casestore.ledger.store import CHECKPOINTS, COSIGNATURES, HEAD, NODES, LedgerStore

    LedgerStore(admin_url).close()  # creates the tables and triggers if missing
    rights = {CHECKPOINTS: "SELECT, INSERT", COSIGNATURES: "SELECT, INSERT",
              NODES: "SELECT, INSERT", HEAD: "SELECT, INSERT, UPDATE"}  # fmt: skip
    with psycopg.connect(admin_url, autocommit=True) as conn:
        for table, granted in rights.items():
            _set(conn, table, ident, granted)


def reassert_append_only(admin_url: str) -> list[str]:
    """Take UPDATE, DELETE and TRUNCATE on the append-only tables back from every role but
    their owner (a default privilege could have handed them out on a table created by a
    later migration); the ``table: role`` pairs revoked."""
    from casestore.ledger.store import CHECKPOINTS, COSIGNATURES

    tables = [*APPEND_ONLY_TABLES, CHECKPOINTS, COSIGNATURES]
    revoked = []
    with psycopg.connect(admin_url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT DISTINCT g.table_name, g.grantee FROM information_schema.role_table_grants g "
            "JOIN pg_tables t ON t.tablename = g.table_name AND t.schemaname = g.table_schema "
            "WHERE g.table_name = ANY(%s) AND g.privilege_type IN ('UPDATE', 'DELETE', "
            "'TRUNCATE') AND g.grantee <> t.tableowner",
            (tables,),
        ).fetchall()
        for table, grantee in rows:
            conn.execute(
                sql.SQL("REVOKE UPDATE, DELETE, TRUNCATE ON {} FROM {}").format(
                    sql.Identifier(table),
                    sql.SQL("PUBLIC") if grantee == "PUBLIC" else sql.Identifier(grantee),
                )
            )
            revoked.append(f"{table}: {grantee}")
    return revoked
