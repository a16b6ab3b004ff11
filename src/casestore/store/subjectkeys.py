"""Per-subject data keys (crypto-shredding): the key table beside the log.

A *subject* is one person or organisation, named by its ID number or USCC. Each subject
has a data key (AES-256-GCM) that encrypts its personal fields in the log; the data key
is stored only wrapped by the master key (``CASESTORE_CIPHER_KEY``) in the key table
``casestore_subject_keys`` — outside the log and mutable on purpose (backed up with it).
Forgetting a subject destroys its wrapped keys: the ciphertext stays in the log, so every
hash and proof still verifies, and nothing can read it any more.

The log names a subject only by its *ref*, an HMAC-SHA256 of the normalised ID number
under a random ref key kept (wrapped) in the same table, so rotating the master key
re-wraps keys without changing any ref, and a ref cannot be recomputed without the table.

A key's row names the aggregate and party it was made for, and ``casestore_subject_links``
the further aggregates a key protects (a returning applicant's case, a bundle's cases):
together, everything a subject's keys protect (:meth:`SubjectKeys.owners`; key-table
layout 3, see ``keytable``). Later events of a case (survey participants, the recipient,
corrections) are encrypted under its applicant's key, the one the tokens of the case's
first event name (:meth:`SubjectKeys.linked_key`).

A new key and a new link are not written on their own: they ride on the first event
sealed under them (:attr:`SubjectKey.rows`, carried by the stored event) and the
recorder writes them in that event's own transaction, so a key exists exactly when an
event that needs it was committed, and a command pays no second transaction for it.

The write side remembers the keys it used (by subject, by aggregate); the commit checks
them live (``keyguard``), so none destroyed since is sealed under again. A subject it
has not seen gets a new key unread; the commit refuses it if the subject has a live key
(``KeysTaken``: one per subject) and the append is sealed again under that one, read.

(A little over 400 lines: the table's keys, refs, links and the caches over them change
together whenever a key is made, used, destroyed or re-wrapped, so they stay one module.)
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import threading
import time
from collections.abc import Callable
from typing import Final, NamedTuple

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from casestore.store.keyerrors import KeysGone, KeysStale, KeysTaken, KeyUnavailable
from casestore.store.keytable import INSERT_KEY, INSERT_LINK, KEYS, LINKS, KeyRow, KeyTable
from casestore.store.logbase import WRITE_LOCK_KEY

__all__ = [
    "KEYS",
    "LINKS",
    "KeyRow",
    "KeyTable",
    "KeyUnavailable",
    "KeysGone",
    "KeysStale",
    "KeysTaken",
    "SubjectKey",
    "SubjectKeys",
    "master_kid",
    "normalise_subject",
]

_REF_KEY: Final = "_ref"
#: Opened tokens remembered per process (a rebuild opens each one once per projection).
OPENED_MAX: Final = 200_000
#: Keys the write side remembers (by subject and by aggregate), each map cleared when full.
#: An open data key holds ~2.5 KB of OpenSSL's cipher context (measured: 20,000
#: ``AESGCM`` objects, resident size), so the bounds keep each map near 25 MB.
USED_MAX: Final = 10_000
#: Data keys the read side keeps open (by key id), cleared when a batch would pass it.
OPEN_KEYS_MAX: Final = 10_000


def master_kid(master: bytes) -> str:
    """A master key's public name: the first 4 bytes of its SHA-256, in hex."""
    return hashlib.sha256(master).hexdigest()[:8]


def normalise_subject(subject: str) -> str:
    """An ID number or USCC as compared: trimmed, upper case (``x`` check digits)."""
    return subject.strip().upper()


class SubjectKey(NamedTuple):
    """One live data key (a named tuple: several are made per intake, cheaply).

    ``rows`` are what the key table still lacks for it (the key itself when it is new,
    the link to the aggregate being created): they are written in the transaction of
    the event sealed under the key, never before it.
    """

    key_id: str
    ref: str
    aead: AESGCM
    rows: tuple[KeyRow, ...] = ()


class SubjectKeys:
    """Data keys wrapped by the master key: create, look up, link, destroy, re-wrap."""

    def __init__(
        self, table: KeyTable, master: bytes, first_state: Callable[[str], bytes | None]
    ) -> None:
        self.table = table
        #: An aggregate's first stored event as JSON, its tokens unopened (or ``None``):
        #: the key its parties' fields were sealed under is the one their tokens name.
        self.first_state = first_state
        self.master = AESGCM(master)
        self.kid = master_kid(master)
        self._ref_key: bytes | None = None  # read (and made, the first time) on first use
        self._local = threading.local()  # this thread's unwritten keys (one append)
        #: Unwrapped keys and opened tokens, valid while no key has been destroyed since
        #: they were read (:meth:`refresh`); rotation changes no unwrapped key.
        self.keys: dict[str, AESGCM] = {}
        self.opened: dict[bytes, bytes] = {}
        self._destroyed: int | None = None
        #: The write side's keys (rows empty): a subject's live key by ref, and the key of
        #: an aggregate's party; checked live by the commit of every event sealed under one.
        self.by_ref: dict[str, SubjectKey] = {}
        self.by_owner: dict[tuple[str, str], SubjectKey] = {}

    # -- wrapping ------------------------------------------------------------------------

    def _wrap(
        self, key_id: str, key: bytes, master: AESGCM | None = None, nonce: bytes | None = None
    ) -> bytes:
        nonce = nonce or os.urandom(12)
        return nonce + (master or self.master).encrypt(nonce, key, key_id.encode())

    def _unwrap(self, key_id: str, wrapped: bytes) -> bytes:
        try:
            return self.master.decrypt(wrapped[:12], wrapped[12:], key_id.encode())
        except InvalidTag:
            raise KeyUnavailable(
                f"data key {key_id} is not wrapped by this master key ({self.kid})"
            ) from None

    def ref_of(self, subject: str) -> str:
        """The subject's keyed hash (what the log and the key table name it by):
        HMAC-SHA256 of the normalised subject under the ref key, its first 16 bytes in hex."""
        key = self._ref_key
        if key is None:
            key = self._ref_key = self._load_ref_key()
        return hmac.digest(key, normalise_subject(subject).encode(), "sha256").hex()[:32]

    def _load_ref_key(self) -> bytes:
        found = self.table.read(f"SELECT wrapped FROM {KEYS} WHERE key_id = ?", (_REF_KEY,))
        if found:
            return self._unwrap(_REF_KEY, bytes(found[0][0]))
        key = secrets.token_bytes(32)
        with self.table.cursor() as run:
            run(
                f"INSERT INTO {KEYS} (key_id, ref, wrapped, master_kid, created_us) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (key_id) DO NOTHING",
                (_REF_KEY, _REF_KEY, self._wrap(_REF_KEY, key), self.kid, _now_us()),
            )
        return self._load_ref_key()  # whichever insert won

    # -- caching ---------------------------------------------------------------------------

    def refresh(self) -> None:
        """Drop what this process remembers if any key was destroyed since it was read
        (one indexed count per read or batch; a forget in any process is seen by the
        next read)."""
        found = self.table.read(f"SELECT count(*) FROM {KEYS} WHERE destroyed_us IS NOT NULL")
        destroyed = int(found[0][0])
        if destroyed != self._destroyed:
            self.forget_used()
            self._destroyed = destroyed
        elif len(self.opened) > OPENED_MAX:
            self.opened.clear()

    def forget_used(self) -> None:
        """Drop every key this process remembers (a forget was seen)."""
        self.keys.clear()
        self.opened.clear()
        self.by_ref.clear()
        self.by_owner.clear()

    def _use(self, ref: str, owner: tuple[str, str] | None, key: SubjectKey) -> None:
        """Remember a key known to be in the table (read live, or committed with an event)."""
        bare = SubjectKey(key.key_id, key.ref, key.aead) if key.rows else key
        if len(self.by_ref) >= USED_MAX or len(self.by_owner) >= USED_MAX:
            self.by_ref.clear()
            self.by_owner.clear()
        self.by_ref[ref] = bare
        if owner is not None:
            self.by_owner[owner] = bare

    def prefetch(self, key_ids: set[str]) -> set[str]:
        """Fetch the uncached ones of ``key_ids`` in one query per 500; the destroyed ones."""
        wanted = sorted(k for k in key_ids if k not in self.keys)
        if len(self.keys) + len(wanted) > OPEN_KEYS_MAX:
            self.keys.clear()  # bounded (see OPEN_KEYS_MAX); the batch's own are read below
            wanted = sorted(key_ids)
        destroyed: set[str] = set()
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            marks = ", ".join("?" * len(chunk))
            for key_id, wrapped in self.table.read(
                f"SELECT key_id, wrapped FROM {KEYS} WHERE key_id IN ({marks})", tuple(chunk)
            ):
                if wrapped is None:
                    destroyed.add(str(key_id))
                else:
                    self.keys[str(key_id)] = AESGCM(self._unwrap(str(key_id), bytes(wrapped)))
        return destroyed

    def cached(self, key_id: str) -> AESGCM:
        """A data key (cached until a key is destroyed), or :class:`KeyUnavailable`."""
        aead = self.keys.get(key_id)
        if aead is None:
            if len(self.keys) >= OPEN_KEYS_MAX:
                self.keys.clear()
            aead = self.keys[key_id] = self.key(key_id).aead
        return aead

    # -- data keys -----------------------------------------------------------------------

    def live_key(self, subject: str, owner_id: str = "", party: str = "") -> SubjectKey:
        """The subject's current data key, linked to ``party`` of aggregate ``owner_id``
        when given. Nothing is written here: a new key and the link are the returned
        key's :attr:`~SubjectKey.rows`, written with the event sealed under it; this
        thread's later events of the same append (a bundle's cases, an imported history)
        share them. A subject not used yet gets a new key unread (see the module), or,
        after :meth:`recheck`, its live key from the table."""
        ref = self.ref_of(subject)
        pending = self._pending()
        key = self.by_ref.get(ref)
        if key is None:
            key = self._stored_key(ref) if pending.careful else None
            if key is None:
                key = self._unwritten(ref, pending, owner_id, party)
        if owner_id:
            if not _made_for(key, owner_id, party):  # a further aggregate of the key: a link
                link = (INSERT_LINK, (owner_id, party, key.key_id))
                key = SubjectKey(key.key_id, key.ref, key.aead, (*key.rows, link))
            pending.owners[(owner_id, party)] = key
        return key

    def _stored_key(self, ref: str) -> SubjectKey | None:
        """The subject's live key read from the table (remembered), or ``None``."""
        found = self.table.read(
            f"SELECT key_id, wrapped FROM {KEYS} WHERE ref = ? AND wrapped IS NOT NULL "
            "ORDER BY created_us DESC LIMIT 1",
            (ref,),
        )
        if not found:
            return None
        key_id, wrapped = str(found[0][0]), bytes(found[0][1])
        key = SubjectKey(key_id, ref, AESGCM(self._unwrap(key_id, wrapped)))
        self._use(ref, None, key)
        return key

    def recheck(self) -> None:
        """This thread's append is sealed again after the commit refused it
        (``KeysStale``): read the table for every subject's key instead of making one."""
        self._pending().careful = True

    def _unwritten(self, ref: str, pending: _Pending, owner_id: str, party: str) -> SubjectKey:
        """A new key for a subject with no live key, made for ``party`` of aggregate
        ``owner_id`` (its row names them: layout 3), or the one this thread's append
        already made for it (unless that one was written and destroyed since)."""
        refs = pending.refs
        made = refs.get(ref)
        if made is not None and self._written(made.key_id) is None:
            return made
        fresh = os.urandom(52)  # one call: the key id (8 bytes), the key (32), its nonce (12)
        key_id, key = fresh[:8].hex(), fresh[8:40]
        wrapped = self._wrap(key_id, key, nonce=fresh[40:])
        owner = (owner_id, party) if owner_id else (None, None)
        row = (INSERT_KEY, (key_id, ref, wrapped, self.kid, _now_us(), *owner))
        refs[ref] = created = SubjectKey(key_id, ref, AESGCM(key), (row,))
        return created

    def _written(self, key_id: str) -> bool | None:
        """Whether a key is in the table live (True), destroyed (False), or not yet (None)."""
        found = self.table.read(
            f"SELECT wrapped IS NOT NULL FROM {KEYS} WHERE key_id = ?", (key_id,)
        )
        return bool(found[0][0]) if found else None

    def _pending(self) -> _Pending:
        pending: _Pending | None = getattr(self._local, "pending", None)
        if pending is None:
            pending = self._local.pending = _Pending()
        return pending

    def end_append(self, committed: bool = False) -> None:
        """Forget this thread's unwritten keys and links: its append committed them with
        its events (``committed``: they are remembered as used) or failed (they were never
        used)."""
        pending: _Pending | None = getattr(self._local, "pending", None)
        if pending is None:
            return
        self._local.pending = None
        if committed:
            for ref, key in pending.refs.items():
                self._use(ref, None, key)
            for owner, key in pending.owners.items():
                self._use(key.ref, owner, key)

    def key(self, key_id: str) -> SubjectKey:
        """A data key by id, or :class:`KeyUnavailable` (destroyed or unknown)."""
        found = self.table.read(f"SELECT ref, wrapped FROM {KEYS} WHERE key_id = ?", (key_id,))
        if not found:
            raise KeyUnavailable(f"data key {key_id} is not in this key table")
        if found[0][1] is None:
            raise KeyUnavailable(f"data key {key_id} was destroyed", destroyed=True)
        ref, wrapped = found[0]
        return SubjectKey(key_id, ref, AESGCM(self._unwrap(key_id, bytes(wrapped))))

    def linked_key(self, owner_id: str, party: str = "applicant") -> SubjectKey | None:
        """The key protecting an aggregate's party: the one its first event's tokens of
        that party name; ``None`` when that event holds none (written in clear),
        :class:`KeyUnavailable` when it was destroyed (or is not in the table). An
        aggregate created earlier in this thread's append has no event yet: its key
        comes with the rows."""
        used = self.by_owner.get((owner_id, party))
        if used is not None:
            return used
        pending = self._pending().owners.get((owner_id, party))
        if pending is not None:
            if self._written(pending.key_id) is False:
                raise KeyUnavailable(f"data key {pending.key_id} was destroyed", destroyed=True)
            return pending
        key_id = self._party_key_id(owner_id, party)
        if key_id is None:
            return None
        key = self.key(key_id)
        self._use(key.ref, (owner_id, party), key)
        return key

    def _party_key_id(self, owner_id: str, party: str) -> str | None:
        """The id of the key an aggregate's party was sealed under at its creation."""
        state = self.first_state(owner_id)
        if not state or b'"enc1:' not in state:
            return None
        found = orjson.loads(state).get(party)
        fields = found.get("fields") if isinstance(found, dict) else None
        for value in fields.values() if isinstance(fields, dict) else ():
            if isinstance(value, str) and value.startswith("enc1:"):
                return value.split(":", 2)[1]
        return None

    def ref_of_owner(self, owner_id: str) -> str | None:
        """The ref of an aggregate's applicant."""
        key_id = self._party_key_id(owner_id, "applicant")
        if key_id is None:
            return None
        found = self.table.read(f"SELECT ref FROM {KEYS} WHERE key_id = ?", (key_id,))
        return str(found[0][0]) if found else None

    def owners(self, ref: str) -> list[tuple[str, str, str, bool]]:
        """(owner id, party, key id, destroyed) of everything a subject's keys protect:
        the aggregate each key was made for (layout 3) and those linked to it."""
        found: dict[tuple[str, str], tuple[str, str, str, bool]] = {}
        for live in ("wrapped IS NOT NULL", "destroyed_us IS NOT NULL"):  # a partial index each
            rows = self.table.read(
                f"SELECT k.owner_id, k.party, k.key_id, k.wrapped FROM {KEYS} k "
                f"WHERE k.ref = ? AND k.{live} AND k.owner_id IS NOT NULL UNION ALL "
                f"SELECT l.owner_id, l.party, l.key_id, k.wrapped FROM {KEYS} k "
                f"JOIN {LINKS} l ON l.key_id = k.key_id WHERE k.ref = ? AND k.{live}",
                (ref, ref),
            )
            for o, p, k, w in rows:
                found.setdefault((str(o), str(p)), (str(o), str(p), str(k), w is None))
        return [found[owner] for owner in sorted(found)]

    def refs(self) -> list[str]:
        """Every subject with at least one live key."""
        return [
            str(r[0])
            for r in self.table.read(
                f"SELECT DISTINCT ref FROM {KEYS} WHERE wrapped IS NOT NULL AND key_id <> ?",
                (_REF_KEY,),
            )
        ]

    def destroy(self, ref: str) -> list[str]:
        """Destroy every live data key of a subject; the ids destroyed."""
        with self.table.cursor() as run:
            if self.table.backend == "sqlite":
                run("PRAGMA secure_delete = ON", ())  # overwrite the freed key bytes
            else:  # the writers' lock: no batch checks its keys live (keyguard) meanwhile
                run(f"SELECT pg_advisory_xact_lock({WRITE_LOCK_KEY})", ())
            ids = [
                str(r[0])
                for r in run(
                    f"SELECT key_id FROM {KEYS} WHERE ref = ? AND wrapped IS NOT NULL", (ref,)
                )
            ]
            run(
                f"UPDATE {KEYS} SET wrapped = NULL, destroyed_us = ? "
                "WHERE ref = ? AND wrapped IS NOT NULL",
                (_now_us(), ref),
            )
        self.forget_used()
        return ids

    def rotate(self, new_master: bytes) -> int:
        """Re-wrap every live key (and the ref key) under ``new_master``, in one
        transaction; the log is not touched. The number of keys re-wrapped."""
        self.table.ensure()
        new, new_kid = AESGCM(new_master), master_kid(new_master)
        with self.table.cursor() as run:
            rows = run(f"SELECT key_id, wrapped FROM {KEYS} WHERE wrapped IS NOT NULL", ())
            for key_id, wrapped in rows:
                key = self._unwrap(str(key_id), bytes(wrapped))
                run(
                    f"UPDATE {KEYS} SET wrapped = ?, master_kid = ? WHERE key_id = ?",
                    (self._wrap(str(key_id), key, new), new_kid, key_id),
                )
        self.master, self.kid = new, new_kid
        return len(rows)


def _made_for(key: SubjectKey, owner_id: str, party: str) -> bool:
    """Whether ``key`` is new and its row names this aggregate and party (no link)."""
    if not key.rows or key.rows[0][0] != INSERT_KEY:
        return False
    return key.rows[0][1][5:] == (owner_id, party)


class _Pending:
    """One thread's keys and links made during one append, not yet written."""

    __slots__ = ("careful", "owners", "refs")

    def __init__(self) -> None:
        self.refs: dict[str, SubjectKey] = {}
        self.owners: dict[tuple[str, str], SubjectKey] = {}
        self.careful = False  # sealed again after a refused commit: read, do not make


def _now_us() -> int:
    return time.time_ns() // 1000
