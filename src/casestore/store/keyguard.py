"""The group commit's check that the data keys a batch was sealed under are still live.

The write side remembers the data keys it used (``subjectkeys``), so a command seals
without reading the key table; a remembered key may since have been destroyed by a
forget in any process. Each stored event names the existing keys it was sealed under
(``TimedStoredEvent.sealed_under``), and the commit checks them inside its own write
transaction, where a forget's destruction cannot interleave:

- SQLite: the batch's one INSERT writes its rows only if every key is live (its own
  transaction: no ``BEGIN``/``COMMIT`` around a separate check, :func:`insert_checked`),
  or, in an explicit transaction that cannot fold it, one indexed read after ``BEGIN
  IMMEDIATE`` (either way under the write lock a forget's destruction takes too);
- PostgreSQL: the append function reads those keys after it took the writers' advisory
  lock, which a forget takes before it destroys keys, so a forget either committed before
  (the read sees it) or waits for the batch's commit; a destroyed key fails the call
  (see :func:`key_ids_to_check`). A key absent from the table is not caught there; none
  can be remembered (keys are remembered from table reads and committed appends, and
  rows are never deleted). (Schema version 2 ran a statement of its own ahead of the
  function that share-locked the key rows: parsed, planned and locking per batch, it
  cost a delivery on PostgreSQL ~180 µs.)

Either way nothing of the batch is written when a key is gone: the requests sealed under
one fail with :class:`~casestore.store.keyerrors.KeysGone` (their append seals again
from the table, see ``FieldCrypt.sealing``) and the rest of the batch is committed anew
(:func:`failing_alone`). A forget is rare, so the redo costs nothing in the common case.

A new subject's key is made without reading the table; the key table's unique partial
index (``keytable.LIVE_INDEX``) refuses it when the subject has a live key already, which
fails the batch the same way (:class:`~casestore.store.keyerrors.KeysTaken`, blamed on the
requests that bring a new key for that subject; SQLite :func:`write_side_rows`,
PostgreSQL :func:`raise_if_gone`).
"""

from __future__ import annotations

import functools
import re
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Final

from casestore.store.batch import AppendRequest, SideRow
from casestore.store.keyerrors import KeysGone, KeysStale, KeysTaken
from casestore.store.keytable import INSERT_KEY, KEYS, LIVE_INDEX

#: The SQLSTATE of the append function's refusal of a destroyed key (``RAISE``), and the
#: text its message starts with, the key ids following (see :func:`raise_if_gone`).
GONE_STATE: Final = "22P02"
_UNIQUE: Final = "23505"  # unique_violation: a second live key of a subject (LIVE_INDEX)
GONE_MARK: Final = "casestore: data key destroyed: "
_KEY_ID: Final = re.compile(r"[0-9a-f]{16}")
_TAKEN_REF: Final = re.compile(r"\(ref\)=\(([0-9a-f]+)\)")
#: Most keys one checked INSERT names (far below SQLite's variable limit, with its rows).
CHECK_IN_INSERT_MAX: Final = 500


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


def insert_checked(
    conn: sqlite3.Connection, sql: str, values: Sequence[Any], rows: int, key_ids: Sequence[str]
) -> None:
    """Run ``sql`` (one multi-row ``INSERT ... VALUES`` of ``rows`` rows) so that it writes
    nothing unless every key is live: :class:`KeysGone` when it wrote nothing. Outside an
    explicit transaction the statement is a transaction of its own, so a batch whose
    events were sealed under remembered keys pays one statement, as a batch in clear."""
    cursor = conn.execute(_checked(sql, len(key_ids), rows), [*values, *key_ids])
    if cursor.rowcount != rows:  # SQLite's changes(): 0, the check failed
        live = {
            str(r[0])
            for r in conn.execute(
                f"SELECT key_id FROM {KEYS} WHERE key_id IN ({','.join('?' * len(key_ids))}) "
                "AND wrapped IS NOT NULL",
                list(key_ids),
            )
        }
        raise KeysGone(set(key_ids) - live or set(key_ids))


@functools.lru_cache(maxsize=256)
def _checked(sql: str, keys: int, rows: int) -> str:
    """``sql`` as an ``INSERT ... SELECT`` of its rows that selects nothing unless every
    key is live: one row (a command's one event, the usual batch) as a bare ``SELECT``,
    several from their ``VALUES`` table."""
    head, values, tail = sql.partition(" VALUES ")
    if not values or keys > CHECK_IN_INSERT_MAX:
        raise ValueError("a multi-row INSERT ... VALUES and at most 500 keys expected")
    marks = ",".join("?" * keys)
    check = (
        f"(SELECT count(*) FROM {KEYS} WHERE key_id IN ({marks}) AND wrapped IS NOT NULL) = {keys}"
    )
    if rows == 1:
        return f"{head} SELECT {tail.strip().removeprefix('(').removesuffix(')')} WHERE {check}"
    return f"{head} SELECT * FROM (VALUES {tail}) WHERE {check}"


def write_side_rows(conn: sqlite3.Connection, rows: Iterable[SideRow]) -> None:
    """Inside the writer's transaction: the batch's side rows; :class:`KeysTaken` when a
    new key's subject has a live key already (the unique index refused it)."""
    for sql, params in rows:
        try:
            conn.execute(sql, params)
        except sqlite3.IntegrityError as e:
            if sql != INSERT_KEY:
                raise
            raise KeysTaken({str(params[1])}) from e


def new_refs(request: AppendRequest) -> set[str]:
    """The subjects (refs) a request brings a new data key for."""
    return {
        str(params[1])
        for ev in request.events
        for sql, params in getattr(ev, "side_rows", ())
        if sql == INSERT_KEY
    }


def key_ids_to_check(requests: Iterable[AppendRequest]) -> list[str]:
    """The keys PostgreSQL's append function checks (its ``p_live``): those the requests
    were sealed under, each 16 hex digits (so safe as literals), sorted.

    The function checks them after it took the writers' lock, which a forget's
    destruction takes too (``SubjectKeys.destroy``): a plain indexed read there sees every
    destruction committed before, and none can commit before the batch does. A destroyed
    one fails the call (SQLSTATE 22P02, the key ids after :data:`GONE_MARK`)."""
    key_ids = sealed_under(requests)
    if not all(_KEY_ID.fullmatch(k) for k in key_ids):
        raise ValueError("a data key id is not 16 hex digits")
    return key_ids


def raise_if_gone(error: Any) -> None:
    """A PostgreSQL error raised by the append function's key check as :class:`KeysGone`
    (see :func:`key_ids_to_check`); a new key
    refused by the one-live-key index as :class:`KeysTaken`."""
    diag = getattr(error, "diag", None)
    message = str(getattr(diag, "message_primary", None) or error)
    sqlstate = getattr(error, "sqlstate", None)
    if sqlstate == GONE_STATE and GONE_MARK in message:
        named = message.partition(GONE_MARK)[2]
        raise KeysGone(set(_KEY_ID.findall(named))) from error
    if sqlstate == _UNIQUE and getattr(diag, "constraint_name", None) == LIVE_INDEX:
        detail = str(getattr(diag, "message_detail", None) or "")
        raise KeysTaken(set(_TAKEN_REF.findall(detail))) from error


def failing_alone(
    commit: Callable[[list[AppendRequest]], None],
) -> Callable[[list[AppendRequest]], None]:
    """``commit`` where a batch refused by the key check (nothing written) fails only the
    requests sealed under a key gone, or bringing a new key for a subject that has one,
    and the others are committed again."""

    def guarded(batch: list[AppendRequest]) -> None:
        while batch:
            try:
                commit(batch)
                return
            except KeysStale as stale:
                rest = []
                for request in batch:
                    error = _blamed(request, stale)
                    if error is not None:
                        request.error = error
                    elif request.error is None:
                        rest.append(request)
                if len(rest) == len(batch):  # nothing to blame: do not loop
                    raise
                batch = rest

    return guarded


def _blamed(request: AppendRequest, stale: KeysStale) -> KeysStale | None:
    """The error of ``request`` if the key check's finding is about it, else ``None``."""
    if isinstance(stale, KeysGone):
        used = {k for ev in request.events for k in getattr(ev, "sealed_under", ())}
        return KeysGone(set(used & stale.key_ids)) if used & stale.key_ids else None
    if isinstance(stale, KeysTaken):
        taken = new_refs(request) & stale.refs
        return KeysTaken(taken) if taken else None
    return None
