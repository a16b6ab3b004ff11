"""Database roles: the application role may read and append, never update or delete.

``grant_app_role`` is run once by a database owner (``casestore db grant``); the API
and workers then connect as that role. The append-only triggers stay as a second line
of defence for owners and superusers.
"""

from __future__ import annotations

import psycopg
from psycopg import sql

from casestore.store.recorders import BINDINGS_TABLE, EVENTS_TABLE, KEYS_TABLE

APPEND_ONLY_TABLES = (EVENTS_TABLE, KEYS_TABLE, BINDINGS_TABLE)


def grant_app_role(admin_url: str, role: str, password: str | None = None) -> None:
    """Create ``role`` if needed and give it SELECT+INSERT (only) on the log tables.

    Projection tables are the read side's own: the role gets full rights on the schema's
    other tables so workers can maintain them.
    """
    ident = sql.Identifier(role)
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
        if not exists:
            stmt = sql.SQL("CREATE ROLE {} LOGIN").format(ident)
            if password:
                stmt += sql.SQL(" PASSWORD {}").format(sql.Literal(password))
            conn.execute(stmt)
        conn.execute(sql.SQL("GRANT USAGE, CREATE ON SCHEMA public TO {}").format(ident))
        for table in APPEND_ONLY_TABLES:
            t = sql.Identifier(table)
            conn.execute(sql.SQL("REVOKE ALL ON {} FROM {}").format(t, ident))
            conn.execute(sql.SQL("GRANT SELECT, INSERT ON {} TO {}").format(t, ident))
    _grant_ledger(admin_url, ident)


def _grant_ledger(admin_url: str, ident: sql.Identifier) -> None:
    """The verifiable log's tables (SPEC §9), created here as owner: checkpoints and
    cosignatures append-only like the log; the tree's nodes insert-only; its head row
    the one thing the role may update."""
    from casestore.ledger.store import CHECKPOINTS, COSIGNATURES, HEAD, NODES, LedgerStore

    LedgerStore(admin_url).close()  # creates the tables and triggers if missing
    rights = {CHECKPOINTS: "SELECT, INSERT", COSIGNATURES: "SELECT, INSERT",
              NODES: "SELECT, INSERT", HEAD: "SELECT, INSERT, UPDATE"}  # fmt: skip
    with psycopg.connect(admin_url, autocommit=True) as conn:
        for table, granted in rights.items():
            t = sql.Identifier(table)
            conn.execute(sql.SQL("REVOKE ALL ON {} FROM {}").format(t, ident))
            conn.execute(sql.SQL("GRANT " + granted + " ON {} TO {}").format(t, ident))
