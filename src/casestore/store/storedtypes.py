"""Stored values of the wrong type in an event row (``integrity.verify_rows`` names them).

SQLite stores whatever a table gives it, whatever the column's declared type: a backup
whose event table was rebuilt with ``state TEXT`` holds text where the log recorded
bytes, and every hash over it failed with a TypeError (``restore`` exited 3 naming
nothing). Such a row is an alteration of the log; these helpers say what is wrong with
it and give the chains around it values of the right type to go on with.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from casestore.store.integrity import LogRow

#: What each stored column of an event must hold, as SQLite names storage classes.
_STORED_AS = (
    ("version", int, "INTEGER"),
    ("state", bytes, "BLOB"),
    ("recorded_at_us", int, "INTEGER"),
    ("event_hash", bytes, "BLOB"),
    ("chain_hash", bytes, "BLOB"),
)
_SQL_NAMES = {bytes: "BLOB", str: "TEXT", int: "INTEGER", float: "REAL", type(None): "NULL"}


def malformed(row: LogRow) -> str | None:
    """What is wrong with the types of a stored event's values, or None.

    SQLite keeps whatever a changed table gives it: a ``state`` column altered to TEXT
    (or a value cast to it) holds text, not the bytes the event was recorded and hashed
    as. That is an alteration of the log, named here instead of failing on the first
    hash computed over it."""
    wrong = [
        f"{name} is stored as {_SQL_NAMES.get(type(value), type(value).__name__)}, not {sql}"
        for name, kind, sql in _STORED_AS
        if type(value := getattr(row, name)) is not kind
    ]
    if not wrong:
        return None
    return (
        "; ".join(wrong) + " (the event table was altered: these are not the values the "
        "event was recorded and hashed as)"
    )


def _as_bytes(value: object) -> bytes:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    if isinstance(value, str):
        return value.encode("utf-8", "surrogateescape")
    return b"" if value is None else str(value).encode()


def _as_int(value: object) -> int:
    try:
        return int(value)  # type: ignore[call-overload,no-any-return]
    except (TypeError, ValueError):
        return 0


def coerced(row: LogRow) -> LogRow:
    """The row with each value in its stored type (text as its UTF-8 bytes), so the
    chains around a malformed event are still followed and checked."""
    return replace(
        row,
        version=_as_int(row.version),
        state=_as_bytes(row.state),
        recorded_at_us=_as_int(row.recorded_at_us),
        event_hash=_as_bytes(row.event_hash),
        chain_hash=_as_bytes(row.chain_hash),
    )
