"""The group commit's check that the data keys a batch was sealed under are still live.

The write side remembers the data keys it used (``subjectkeys``), so a command seals
without reading the key table; a remembered key may since have been destroyed by a
forget in any process. Each stored event names the existing keys it was sealed under
(``TimedStoredEvent.sealed_under``), and the commit checks them inside its own write
transaction, where a forget's destruction cannot interleave:

- SQLite: one indexed read after ``BEGIN IMMEDIATE`` (the forget destroys keys under the
  same database write lock);
- PostgreSQL: a ``DO`` block ahead of the batch's statement that takes a share lock on
  those key rows (a concurrent forget's ``UPDATE`` waits for the batch to commit, or the
  batch sees its committed result) and raises ``CSK01`` naming the keys gone.

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

SQLSTATE: Final = "CSK01"
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
    """The PostgreSQL statement (with its ``;``) that checks the keys, or ``""``."""
    key_ids = sealed_under(requests)
    if not key_ids:
        return ""
    if not all(_KEY_ID.fullmatch(k) for k in key_ids):
        raise ValueError("a data key id is not 16 hex digits")
    wanted = "ARRAY[" + ",".join(f"'{k}'" for k in key_ids) + "]::text[]"
    return (
        "DO $casestore_keys$ DECLARE gone text; BEGIN "
        f"PERFORM 1 FROM {KEYS} WHERE key_id = ANY({wanted}) ORDER BY key_id FOR SHARE; "
        f"SELECT string_agg(w.k, ',') INTO gone FROM unnest({wanted}) AS w(k) WHERE NOT EXISTS "
        f"(SELECT 1 FROM {KEYS} WHERE key_id = w.k AND wrapped IS NOT NULL); "
        "IF gone IS NOT NULL THEN RAISE EXCEPTION 'casestore: data keys destroyed: %', gone "
        f"USING ERRCODE = '{SQLSTATE}'; END IF; END $casestore_keys$; "
    )


def raise_if_gone(error: Any) -> None:
    """A PostgreSQL error raised by :func:`pg_guard` as :class:`KeysGone`."""
    if getattr(error, "sqlstate", None) == SQLSTATE:
        message = getattr(getattr(error, "diag", None), "message_primary", None) or str(error)
        named = message.partition("destroyed:")[2].split()
        raise KeysGone(set(_KEY_ID.findall(named[0] if named else ""))) from error


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
