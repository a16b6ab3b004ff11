"""The group commit's check that the data keys a batch was sealed under are still live.

The write side remembers the data keys it used (``subjectkeys``), so a command seals
without reading the key table; a remembered key may since have been destroyed by a
forget in any process. Each stored event names the existing keys it was sealed under
(``TimedStoredEvent.sealed_under``), and the commit checks them inside its own write
transaction, where a forget's destruction cannot interleave:

- SQLite: one indexed read after ``BEGIN IMMEDIATE`` (the forget destroys keys under the
  same database write lock);
- PostgreSQL: a statement ahead of the batch's that takes a share lock on those key rows
  (a concurrent forget's ``UPDATE`` waits for the batch to commit, or the batch sees its
  committed result: under READ COMMITTED a locking read returns the row's latest
  version) and fails on a destroyed one (see :func:`pg_guard`). A key absent from the
  table is not caught there; none can be remembered (keys are remembered from table
  reads and committed appends, and rows are never deleted).

Either way nothing of the batch is written when a key is gone: the requests sealed under
one fail with :class:`~casestore.store.subjectkeys.KeysGone` (their append seals again
from the table, see ``FieldCrypt.sealing``) and the rest of the batch is committed anew
(:func:`failing_alone`). A forget is rare, so the redo costs nothing in the common case.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Final

from casestore.store.batch import AppendRequest
from casestore.store.keytable import KEYS
from casestore.store.subjectkeys import KeysGone

SQLSTATE: Final = "22P02"  # invalid_text_representation: the marked cast below
_MARK: Final = "casestore: data key destroyed: "
_KEY_ID: Final = re.compile(r"[0-9a-f]{16}")


def sealed_under(requests: Iterable[AppendRequest]) -> list[str]:
    """The existing keys the requests' events were sealed under, each once, sorted."""
    return sorted({k for r in requests for ev in r.events for k in getattr(ev, "sealed_under", ())})


def check_sqlite(conn: sqlite3.Connection, key_ids: Sequence[str]) -> None:
    """Inside the writer's transaction: :class:`KeysGone` unless every key is live."""
    live: set[str] = set()
    for start in range(0, len(key_ids), 500):
        chunk = key_ids[start : start + 500]
        marks = ",".join("?" * len(chunk))
        live.update(
            str(r[0])
            for r in conn.execute(
                f"SELECT key_id FROM {KEYS} WHERE key_id IN ({marks}) AND wrapped IS NOT NULL",
                chunk,
            )
        )
    if len(live) != len(key_ids):
        raise KeysGone(set(key_ids) - live)


def pg_guard(requests: Iterable[AppendRequest]) -> str:
    """The PostgreSQL statement (with its ``;``) that checks the keys, or ``""``.

    One plain statement (a ``DO`` block cost a millisecond or more per batch to compile):
    it share-locks the key rows and, for a destroyed one, casts a marked text to an
    integer, which fails the statement (SQLSTATE 22P02) with the key id in the message."""
    key_ids = sealed_under(requests)
    if not key_ids:
        return ""
    if not all(_KEY_ID.fullmatch(k) for k in key_ids):
        raise ValueError("a data key id is not 16 hex digits")
    wanted = "ARRAY[" + ",".join(f"'{k}'" for k in key_ids) + "]::text[]"
    return (
        f"SELECT CASE WHEN wrapped IS NULL THEN ('{_MARK}' || key_id)::int END FROM {KEYS} "
        f"WHERE key_id = ANY({wanted}) ORDER BY key_id FOR SHARE; "
    )


def raise_if_gone(error: Any) -> None:
    """A PostgreSQL error raised by :func:`pg_guard` as :class:`KeysGone`."""
    message = str(getattr(getattr(error, "diag", None), "message_primary", None) or error)
    if getattr(error, "sqlstate", None) == SQLSTATE and _MARK in message:
        named = message.partition(_MARK)[2]
        raise KeysGone(set(_KEY_ID.findall(named))) from error


def failing_alone(
    commit: Callable[[list[AppendRequest]], None],
) -> Callable[[list[AppendRequest]], None]:
    """``commit`` where a batch refused by the key check (nothing written) fails only the
    requests sealed under a key gone, and the others are committed again."""

    def guarded(batch: list[AppendRequest]) -> None:
        while batch:
            try:
                commit(batch)
                return
            except KeysGone as gone:
                rest = []
                for request in batch:
                    used = {k for ev in request.events for k in getattr(ev, "sealed_under", ())}
                    if used & gone.key_ids:
                        request.error = KeysGone(set(used & gone.key_ids))
                    elif request.error is None:
                        rest.append(request)
                if len(rest) == len(batch):  # nothing to blame: do not loop
                    raise
                batch = rest

    return guarded
