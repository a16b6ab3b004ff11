"""The casestore recorders (SQLite and PostgreSQL) and their shared names, in one place."""

from casestore.store.logbase import (
    APPEND_FUNCTION,
    APPEND_ONLY_MESSAGE,
    BINDINGS_TABLE,
    EVENTS_TABLE,
    KEYS_TABLE,
    WRITE_LOCK_KEY,
    CommitListener,
    GroupCommitting,
    LogReader,
)
from casestore.store.pg_recorder import CasestorePostgresRecorder
from casestore.store.sqlite_recorder import CasestoreSQLiteRecorder

__all__ = [
    "APPEND_FUNCTION",
    "APPEND_ONLY_MESSAGE",
    "BINDINGS_TABLE",
    "EVENTS_TABLE",
    "KEYS_TABLE",
    "WRITE_LOCK_KEY",
    "CasestorePostgresRecorder",
    "CasestoreSQLiteRecorder",
    "CommitListener",
    "GroupCommitting",
    "LogReader",
]
