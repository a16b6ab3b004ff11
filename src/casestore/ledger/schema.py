"""The verifiable log's tables and triggers (see :mod:`casestore.ledger.store`)."""

from __future__ import annotations

from casestore.store.logbase import APPEND_ONLY_MESSAGE

#: Levels below this are not stored as nodes: they are folded from the leaf hashes.
STORED_FROM = 4
#: Leaves per leaf tile: the leaf hashes under one node of level :data:`STORED_FROM`.
TILE_WIDTH = 1 << STORED_FROM
#: The ``level`` of a leaf tile's row in the nodes table (no node has a negative level):
#: ``idx`` is the tile's index ``t`` and ``hash`` the 16 leaf hashes of leaves
#: ``[16·t, 16·t + 16)`` concatenated (512 bytes), written once the 16 leaves exist.
TILE_LEVEL = -1
NODES, HEAD = "casestore_merkle_nodes", "casestore_merkle_head"
CHECKPOINTS, COSIGNATURES = "casestore_checkpoints", "casestore_cosignatures"

SQLITE_SCHEMA = [
    f"CREATE TABLE IF NOT EXISTS {NODES} (level INTEGER NOT NULL, idx INTEGER NOT NULL, "
    "hash BLOB NOT NULL, PRIMARY KEY (level, idx)) WITHOUT ROWID",
    f"CREATE TABLE IF NOT EXISTS {HEAD} (id INTEGER PRIMARY KEY, size INTEGER NOT NULL, "
    "root BLOB NOT NULL)",
    f"CREATE TABLE IF NOT EXISTS {CHECKPOINTS} (tree_size INTEGER PRIMARY KEY, "
    "root_hash BLOB NOT NULL, note TEXT NOT NULL, signed_at_us INTEGER NOT NULL)",
    f"CREATE TABLE IF NOT EXISTS {COSIGNATURES} (tree_size INTEGER NOT NULL, "
    "witness TEXT NOT NULL, line TEXT NOT NULL, received_at_us INTEGER NOT NULL, "
    "PRIMARY KEY (tree_size, witness))",
    *(
        f"CREATE TRIGGER IF NOT EXISTS {t}_no_{op.lower()} BEFORE {op} ON {t} BEGIN "
        f"SELECT RAISE(ABORT, '{APPEND_ONLY_MESSAGE} ({op} refused)'); END"
        for t in (CHECKPOINTS, COSIGNATURES)
        for op in ("UPDATE", "DELETE")
    ),
]
PG_SCHEMA = [
    f"CREATE TABLE IF NOT EXISTS {NODES} (level int NOT NULL, idx bigint NOT NULL, "
    "hash bytea NOT NULL, PRIMARY KEY (level, idx))",
    f"CREATE TABLE IF NOT EXISTS {HEAD} (id int PRIMARY KEY, size bigint NOT NULL, "
    "root bytea NOT NULL)",
    f"CREATE TABLE IF NOT EXISTS {CHECKPOINTS} (tree_size bigint PRIMARY KEY, "
    "root_hash bytea NOT NULL, note text NOT NULL, signed_at_us bigint NOT NULL)",
    f"CREATE TABLE IF NOT EXISTS {COSIGNATURES} (tree_size bigint NOT NULL, "
    "witness text NOT NULL, line text NOT NULL, received_at_us bigint NOT NULL, "
    "PRIMARY KEY (tree_size, witness))",
    "CREATE OR REPLACE FUNCTION casestore_checkpoints_refuse_change() RETURNS trigger "
    f"LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION '{APPEND_ONLY_MESSAGE} (% refused)', "
    "TG_OP USING ERRCODE = 'insufficient_privilege'; END $$",
    *(
        f"CREATE OR REPLACE TRIGGER {t}_no_change BEFORE UPDATE OR DELETE ON {t} "
        "FOR EACH ROW EXECUTE FUNCTION casestore_checkpoints_refuse_change()"
        for t in (CHECKPOINTS, COSIGNATURES)
    ),
    *(
        f"CREATE OR REPLACE TRIGGER {t}_no_truncate BEFORE TRUNCATE ON {t} "
        "FOR EACH STATEMENT EXECUTE FUNCTION casestore_checkpoints_refuse_change()"
        for t in (CHECKPOINTS, COSIGNATURES)
    ),
]
