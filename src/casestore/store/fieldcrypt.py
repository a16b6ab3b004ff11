"""Personal fields sealed under their subject's data key, in the stored JSON.

The classification of :mod:`casestore.domain.personal` says which fields are personal;
each such string is stored as a token ``enc1:<key id>:<base64url(nonce ‖ AES-GCM)>`` and
everything else stays in clear, so projections, supervision and ``verify`` read events
without keys. Reading replaces each token by its plaintext, by :data:`ERASED` when the
key was destroyed (``casestore forget``), or by :data:`SEALED` when this process has no
key table or master key for it. Hashes cover the stored bytes, tokens included.

Whose key: an intake event's ``applicant`` and ``agent`` use the key of their own ID
number (linked to the new aggregate); every later personal field of a case (survey
participants, the recipient, a correction's values) uses the case's applicant's key.
Sealing writes nothing: a new key or link is returned with the sealed state and
written in the event's own transaction (``SubjectKey.rows``). One append is one unit
(:meth:`FieldCrypt.append`): its unwritten keys are forgotten when it ends.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import functools
import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Final
from uuid import UUID

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from casestore.domain.errors import SubjectErased
from casestore.domain.personal import ERASED, PERSONAL_FIELDS, SEALED, path_kinds
from casestore.store.subjectkeys import KeyRow, KeyUnavailable, SubjectKey, SubjectKeys

PREFIX: Final = "enc1:"
_TOKEN: Final = re.compile(rb'"enc1:([0-9a-f]{16}):([A-Za-z0-9_-]+)"')
_FROM_URLSAFE: Final = bytes.maketrans(b"-_", b"+/")
#: A token's replacement for readers without the key (a template: backslashes escaped).
_SEALED_JSON: Final = orjson.dumps(SEALED).replace(b"\\", b"\\\\")
#: Events that create an aggregate and name its parties (their keys are linked to it).
INTAKE: Final = frozenset({"Case.Submitted", "Bundle.Opened"})
PARTIES: Final = ("applicant", "agent")
_CORRECTION_VALUES: Final = ("wrong_value", "correct_value")
__all__ = ["ERASED", "SEALED", "FieldCrypt", "Opener", "is_token", "key_ids", "seal_tokens"]


def is_token(value: object) -> bool:
    return isinstance(value, str) and value.startswith(PREFIX)


def _seal(key: SubjectKey, value: str) -> str:
    nonce = os.urandom(12)
    sealed = nonce + key.aead.encrypt(nonce, value.encode(), key.key_id.encode())
    return f"{PREFIX}{key.key_id}:{base64.urlsafe_b64encode(sealed).decode().rstrip('=')}"


def _open(aead: AESGCM, key_id: str, body: bytes) -> str:
    sealed = binascii.a2b_base64(body.translate(_FROM_URLSAFE) + b"=" * (-len(body) % 4))
    return aead.decrypt(sealed[:12], sealed[12:], key_id.encode()).decode()


def seal_tokens(data: bytes) -> bytes:
    """Stored JSON with every token shown sealed (〔已加密〕), no key needed: what a reader of
    no personal field sees (one substitution, no look-up)."""
    return _TOKEN.sub(_SEALED_JSON, data) if b'"enc1:' in data else data


def _replace(obj: Any, parts: list[str], fn: Any) -> Any:
    """``obj`` with the strings at a dotted path (``[]`` = each element) passed to ``fn``."""
    if not parts:
        return fn(obj) if isinstance(obj, str) and obj and not is_token(obj) else obj
    head, rest = parts[0], parts[1:]
    name, each = head.removesuffix("[]"), head.endswith("[]")

    def inner(value: Any) -> Any:
        if each and isinstance(value, list | tuple):
            return type(value)(_replace(v, rest, fn) for v in value)
        return _replace(value, rest, fn)

    if isinstance(obj, dict):
        return {**obj, name: inner(obj[name])} if name in obj else obj
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type) and hasattr(obj, name):
        return dataclasses.replace(obj, **{name: inner(getattr(obj, name))})
    return obj


class FieldCrypt:
    """Seals an event's personal fields on the way in and opens tokens on the way out."""

    def __init__(self, keys: SubjectKeys) -> None:
        self.keys = keys

    def seal(
        self, event_name: str, owner: UUID, state: dict[str, Any]
    ) -> tuple[dict[str, Any], tuple[KeyRow, ...]]:
        """A copy of an event's state with its personal strings sealed, and the key-table
        rows (a new key, a new link) to write in the same transaction as the event."""
        fields = PERSONAL_FIELDS.get(event_name)
        corrected = event_name.endswith(".Corrected") and bool(
            path_kinds(str(state.get("fact") or state.get("field") or ""))
        )
        if not fields and not corrected:
            return state, ()
        if event_name in INTAKE:
            return self._seal_intake(owner, state, fields or {})
        key = self._case_key(owner)
        if key is None:  # an aggregate from before encryption was turned on: stays clear
            return state, ()
        paths = list(fields or ()) + (list(_CORRECTION_VALUES) if corrected else [])
        for path in paths:
            state = _replace(state, path.split("."), lambda v: _seal(key, v))
        return state, key.rows

    def _seal_intake(
        self, owner: UUID, state: dict[str, Any], fields: Any
    ) -> tuple[dict[str, Any], tuple[KeyRow, ...]]:
        rows: tuple[KeyRow, ...] = ()
        for party in PARTIES:
            value = state.get(party)
            subject = getattr(value, "id_number", None)
            if not subject:
                continue
            key = self.keys.live_key(str(subject), owner.hex, party)
            rows += key.rows
            for path in fields:
                if path.startswith(party + "."):
                    state = _replace(state, path.split("."), lambda v, k=key: _seal(k, v))
        return state, rows

    def _case_key(self, owner: UUID) -> SubjectKey | None:
        try:
            return self.keys.linked_key(owner.hex)
        except KeyUnavailable:
            raise SubjectErased(
                "the applicant of this case has been forgotten: no personal data can be "
                "added to it",
                case_id=str(owner),
            ) from None

    @contextmanager
    def append(self) -> Iterator[None]:
        """One append (the events sealed, then committed or failed): afterwards the keys
        and links it made unwritten are forgotten (see ``SubjectKeys.live_key``)."""
        try:
            yield
        finally:
            self.keys.end_append()

    def opener(
        self, states: list[bytes] | None = None, fields: frozenset[str] | None = None
    ) -> Opener:
        """A token opener for one read or one batch of a scan (whose stored ``states``
        are given to fetch the keys they name in one query). With ``fields`` (the last
        parts of field paths: ``name``) only the tokens of those fields are opened, and
        only their keys fetched; every other token is shown sealed."""
        pattern = _TOKEN if fields is None else _fields_pattern(fields)
        opener = Opener(self.keys, pattern)
        if states:
            wanted = {
                m.group(1).decode()
                for data in states
                if b'"enc1:' in data
                for m in pattern.finditer(bytes(data))
            }
            for key_id in self.keys.prefetch(wanted):
                opener.missing[key_id] = ERASED
        return opener


@functools.lru_cache(maxsize=32)
def _fields_pattern(fields: frozenset[str]) -> re.Pattern[bytes]:
    """Tokens that are the value of one of ``fields`` (``"name":"enc1:…"``), the match
    being the token alone. The look-behinds (fixed width, one per field name) come after
    the token's literal start, so a scan still jumps from ``"enc1:`` to ``"enc1:``."""
    if not fields or not all(re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", f) for f in fields):
        raise ValueError(f"field names expected, not {sorted(fields)!r}")
    start = b'"enc1:'
    behind = b"|".join(b'(?<="' + f.encode() + b'":' + start + b")" for f in sorted(fields))
    assert _TOKEN.pattern.startswith(start)
    return re.compile(start + b"(?:" + behind + b")" + _TOKEN.pattern[len(start) :])


class Opener:
    """Replaces tokens in stored JSON bytes (one read, or one batch of a scan): those
    ``pattern`` matches opened (all by default), any other shown sealed."""

    def __init__(self, keys: SubjectKeys | None, pattern: re.Pattern[bytes] = _TOKEN) -> None:
        self.keys = keys
        self.pattern = pattern
        self.partial = pattern is not _TOKEN
        self.missing: dict[str, str] = {}  # key id -> the placeholder shown instead
        if keys is not None:
            keys.refresh()

    def _token(self, match: re.Match[bytes]) -> bytes:
        keys = self.keys
        if keys is None:
            return orjson.dumps(SEALED)
        token = match.group(0)
        opened = keys.opened.get(token)
        if opened is not None:
            return opened
        key_id = match.group(1).decode()
        if key_id in self.missing:
            return orjson.dumps(self.missing[key_id])
        try:
            opened = orjson.dumps(_open(keys.cached(key_id), key_id, match.group(2)))
        except KeyUnavailable as e:
            self.missing[key_id] = ERASED if e.destroyed else SEALED
            return orjson.dumps(self.missing[key_id])
        except (InvalidTag, ValueError):
            return orjson.dumps(SEALED)
        keys.opened[token] = opened
        return opened

    def __call__(self, data: bytes) -> bytes:
        if b'"enc1:' not in data:
            return data
        data = self.pattern.sub(self._token, data)
        return seal_tokens(data) if self.partial else data


def batch_unwrapper(
    unwrap: Callable[[bytes, Opener | None], bytes],
    fields: FieldCrypt | None,
    personal: bool | frozenset[str],
    *,
    clear: bool,
    direct: bool,
) -> Callable[[list[bytes]], Callable[[bytes], bytes] | None]:
    """``CasestoreApp.unwrapper``: a factory of one batch's unwrap. ``unwrap`` is the
    mapper's (legacy decryption, decompression, then tokens); ``clear``: nothing is ever
    sealed or compressed (the factory answers ``None``); ``direct``: no whole-event cipher
    or compression, so a state that is ``{...}`` goes straight to the tokens."""
    if clear:
        return lambda states: None
    if not personal:
        sealed = Opener(None)

        def sealed_one(data: bytes) -> bytes:
            if direct and data[:1] == b"{":
                return seal_tokens(data)
            return unwrap(data, sealed)

        return lambda states: sealed_one
    named = personal if isinstance(personal, frozenset) else None

    def batch(states: list[bytes]) -> Callable[[bytes], bytes]:
        opener = fields.opener(states, named) if fields else None
        if direct and opener is not None:
            own = opener
            return lambda data: own(data) if data[:1] == b"{" else unwrap(data, own)
        return lambda data: unwrap(data, opener)

    return batch


def key_ids(data: bytes) -> set[str]:
    """The data keys whose tokens a stored event holds (no key needed)."""
    return {m.group(1).decode() for m in _TOKEN.finditer(data)}
