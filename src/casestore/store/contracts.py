"""eventsourcing's persistence contracts where casestore extends its recorders.

- :func:`sqlite_errors`: ``sqlite3`` errors leave a recorder as eventsourcing's
  ``PersistenceError`` subclasses (as its own SQLite transactions translate them), so
  callers catch one family on both backends (a full disk is an ``OperationalError``).
- :func:`check_request`: one caller's events and idempotency key checked before they
  join a group-commit batch, so a malformed request fails alone (``DataError``) and
  never the batch it would have shared with others.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from uuid import UUID

import eventsourcing.persistence as es
from eventsourcing.persistence import StoredEvent

#: Topics are ``module:Class.Event`` names (the PostgreSQL append writes them as literals).
TOPIC = re.compile(r"^[A-Za-z0-9_.:]{1,500}$")
_INT64 = 2**63
_KEY_MAX = 500

_SQLITE: tuple[tuple[type[Exception], type[es.PersistenceError]], ...] = (
    (sqlite3.InterfaceError, es.InterfaceError),
    (sqlite3.DataError, es.DataError),
    (sqlite3.OperationalError, es.OperationalError),
    (sqlite3.IntegrityError, es.IntegrityError),
    (sqlite3.InternalError, es.InternalError),
    (sqlite3.ProgrammingError, es.ProgrammingError),
    (sqlite3.NotSupportedError, es.NotSupportedError),
    (sqlite3.DatabaseError, es.DatabaseError),
    (sqlite3.Error, es.PersistenceError),
)


def translate_sqlite(error: sqlite3.Error) -> es.PersistenceError:
    """The eventsourcing error for a ``sqlite3`` one (most specific class first)."""
    for theirs, ours in _SQLITE:
        if isinstance(error, theirs):
            translated = ours(str(error))
            translated.__cause__ = error
            return translated
    return es.PersistenceError(str(error))  # pragma: no cover - sqlite3.Error is last


@contextmanager
def sqlite_errors() -> Iterator[None]:
    """Re-raise ``sqlite3`` errors as eventsourcing's persistence errors."""
    try:
        yield
    except sqlite3.Error as e:
        raise translate_sqlite(e) from e


def check_request(events: Sequence[StoredEvent], idempotency_key: object) -> None:
    """Refuse (``DataError``) a request no recorder could write, before it joins a batch."""
    for ev in events:
        oid = ev.originator_id
        if not isinstance(oid, UUID):
            try:
                UUID(str(oid))
            except ValueError:
                raise es.DataError(f"originator id {oid!r} is not a UUID") from None
        version = ev.originator_version
        if isinstance(version, bool) or not isinstance(version, int) or not 0 < version < _INT64:
            raise es.DataError(f"originator version {version!r} is not a positive 64-bit int")
        if not isinstance(ev.topic, str) or not TOPIC.match(ev.topic):
            raise es.DataError(f"topic {ev.topic!r} is not a module:Class name")
        if not isinstance(ev.state, bytes):
            raise es.DataError("stored state must be bytes")
        micros = getattr(ev, "recorded_at_us", 0)
        if isinstance(micros, bool) or not isinstance(micros, int) or abs(micros) >= _INT64:
            raise es.DataError(f"recorded_at {micros!r} is not a 64-bit microsecond count")
    if idempotency_key is not None:
        check_key(idempotency_key)


def check_key(idempotency_key: object) -> None:
    """Refuse (``DataError``) an idempotency key no table could hold."""
    if (
        not isinstance(idempotency_key, str)
        or not 0 < len(idempotency_key) <= _KEY_MAX
        or "\x00" in idempotency_key
    ):
        raise es.DataError("an idempotency key is 1-500 characters without NUL")
