"""Personal fields sealed under their subject's data key, in the stored JSON.

The classification of :mod:`casestore.domain.personal` says which fields are personal;
each such string is stored as a token ``enc1:<key id>:<base64url(nonce ‖ AES-GCM)>`` and
everything else stays in clear, so projections, supervision and ``verify`` read events
without keys. Reading replaces each token by its plaintext, by :data:`ERASED` when the
key was destroyed (``casestore forget``), or by :data:`SEALED` when this process has no
key table or master key for it. Hashes cover the stored bytes, tokens included.

Whose key: an intake event's ``applicant`` and ``agent`` use the key of their own ID
number (a new key's row names the new aggregate, an existing key is linked to it); every
later personal field of a case (survey participants, the recipient, a correction's
values) uses the case's applicant's key, the one its intake's tokens name.
Sealing writes nothing: a new key or link is returned with the sealed state and
written in the event's own transaction (``SubjectKey.rows``). One append is one unit
(:meth:`FieldCrypt.sealing`): its unwritten keys are forgotten when it fails, and
remembered when it commits. Keys remembered from earlier appends are checked live by the
commit (``sealed_under``; see ``subjectkeys``).
"""

from __future__ import annotations

import binascii
import functools
import re
from collections.abc import Callable
from typing import Any, Final, TypeGuard, TypeVar
from uuid import UUID

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from casestore.domain.errors import SubjectErased
from casestore.domain.personal import ERASED, PERSONAL_FIELDS, SEALED, path_kinds
from casestore.store.keyerrors import KeysGone, KeysStale, KeyUnavailable
from casestore.store.keytable import INSERT_KEY
from casestore.store.nonces import nonce as random_nonce
from casestore.store.subjectkeys import KeyRow, SubjectKey, SubjectKeys

PREFIX: Final = "enc1:"
_TOKEN: Final = re.compile(rb'"enc1:([0-9a-f]{16}):([A-Za-z0-9_-]+)"')
_FROM_URLSAFE: Final = bytes.maketrans(b"-_", b"+/")
_TO_URLSAFE: Final = bytes.maketrans(b"+/", b"-_")
#: A token's replacement for readers without the key (a template: backslashes escaped).
_SEALED_JSON: Final = orjson.dumps(SEALED).replace(b"\\", b"\\\\")
#: Events that create an aggregate and name its parties (their keys are linked to it).
INTAKE: Final = frozenset({"Case.Submitted", "Bundle.Opened"})
PARTIES: Final = ("applicant", "agent")
_CORRECTION_VALUES: Final = ("wrong_value", "correct_value")
__all__ = [
    "ERASED",
    "SEALED",
    "FieldCrypt",
    "Opener",
    "is_token",
    "key_ids",
    "may_seal",
    "seal_tokens",
]


#: A sealed state: the JSON-ready state, the key-table rows to write with it, and the ids of
#: the existing keys it was sealed under (checked live by the commit).
Sealed = tuple[dict[str, Any], tuple[KeyRow, ...], tuple[str, ...]]
T = TypeVar("T")


def _existing(key: SubjectKey) -> tuple[str, ...]:
    """The key's id unless the key is new (written with this event, live by construction:
    its row comes first, ``SubjectKeys.live_key``)."""
    return () if key.rows and key.rows[0][0] == INSERT_KEY else (key.key_id,)


def is_token(value: object) -> bool:
    return isinstance(value, str) and value.startswith(PREFIX)


def _seal(key: SubjectKey, value: str) -> str:
    nonce = random_nonce()  # unique per key: see ``nonces``
    sealed = nonce + key.aead.encrypt(nonce, value.encode(), key.key_id.encode())
    body = binascii.b2a_base64(sealed, newline=False).translate(_TO_URLSAFE).rstrip(b"=")
    return f"{PREFIX}{key.key_id}:{body.decode()}"


def _open(aead: AESGCM, key_id: str, body: bytes) -> str:
    sealed = binascii.a2b_base64(body.translate(_FROM_URLSAFE) + b"=" * (-len(body) % 4))
    return aead.decrypt(sealed[:12], sealed[12:], key_id.encode()).decode()


def seal_tokens(data: bytes) -> bytes:
    """Stored JSON with every token shown sealed (〔已加密〕), no key needed: what a reader of
    no personal field sees (one substitution, no look-up)."""
    return _TOKEN.sub(_SEALED_JSON, data) if b'"enc1:' in data else data


def _sealable(value: Any) -> TypeGuard[str]:
    return type(value) is str and value != "" and not value.startswith(PREFIX)


def _seal_at(obj: Any, parts: list[str], fn: Callable[[str], str]) -> None:
    """Seal, in place, the strings at a dotted path (``[]`` = each element) of a JSON-ready
    state (the transcoder's form: a value object is ``{"__value__": …, "fields": {…}}``,
    a tuple ``{"__tuple__": […]}``). The state is the transcoder's fresh copy, so nothing
    the domain holds is changed, and no value object is rebuilt (or re-validated)."""
    if type(obj) is dict and "__value__" in obj:
        obj = obj.get("fields")
    if type(obj) is not dict:
        return
    head = parts[0]
    name, each, rest = head.removesuffix("[]"), head.endswith("[]"), parts[1:]
    if name not in obj:
        return
    value = obj[name]
    if each:
        if type(value) is dict and len(value) == 1 and "__tuple__" in value:
            value = value["__tuple__"]
        if type(value) is list:
            for n, item in enumerate(value):
                if rest:
                    _seal_at(item, rest, fn)
                elif _sealable(item):
                    value[n] = fn(item)
            return
    if rest:
        _seal_at(value, rest, fn)
    elif _sealable(value):
        obj[name] = fn(value)


#: Dotted paths split once (the classification table is fixed).
_PATHS: Final[dict[str, list[list[str]]]] = {
    event: [path.split(".") for path in fields] for event, fields in PERSONAL_FIELDS.items()
}
#: An intake's ``party.leaf`` paths by party (sealed straight in the party's fields).
_LEAVES: Final[dict[str, dict[str, list[str]]]] = {
    event: {p: [path[1] for path in paths if path[0] == p and len(path) == 2] for p in PARTIES}
    for event, paths in _PATHS.items()
    if event in INTAKE
}
_CORRECTION_PATHS: Final = [[name] for name in _CORRECTION_VALUES]
#: An intake's other paths of a party (not ``party.leaf``), by party: sealed by walking.
_DEEP: Final[dict[str, dict[str, list[list[str]]]]] = {
    event: {p: [path for path in paths if path[0] == p and len(path) != 2] for p in PARTIES}
    for event, paths in _PATHS.items()
    if event in INTAKE
}


def may_seal(event_name: str) -> bool:
    """Whether an event of this name can hold personal fields (a classified event, or a
    correction, whose values take the class of the fact it names): the others are
    stored as they are, without a look at their state."""
    return event_name in _PATHS or event_name.endswith(".Corrected")


class FieldCrypt:
    """Seals an event's personal fields on the way in and opens tokens on the way out."""

    def __init__(self, keys: SubjectKeys) -> None:
        self.keys = keys

    def seal(self, event_name: str, owner: UUID, state: dict[str, Any]) -> Sealed:
        """An event's JSON-ready state (``OrjsonTranscoder.ready``) with its personal
        strings sealed in place, the key-table rows (a new key, a new link) to write in
        the same transaction as the event, and the existing keys it was sealed under
        (which the commit checks are still live)."""
        paths = _PATHS.get(event_name)
        if event_name in INTAKE:
            return self._seal_intake(event_name, owner, state)
        corrected = event_name.endswith(".Corrected") and bool(
            path_kinds(str(state.get("fact") or state.get("field") or ""))
        )
        if not paths and not corrected:
            return state, (), ()
        key = self._case_key(owner)
        if key is None:  # an aggregate from before encryption was turned on: stays clear
            return state, (), ()
        seal = functools.partial(_seal, key)
        for parts in (paths or []) + (_CORRECTION_PATHS if corrected else []):
            _seal_at(state, parts, seal)
        return state, key.rows, _existing(key)

    def _seal_intake(self, event: str, owner: UUID, state: dict[str, Any]) -> Sealed:
        rows: tuple[KeyRow, ...] = ()
        under: tuple[str, ...] = ()
        leaves = _LEAVES[event]
        for party in PARTIES:
            value = state.get(party)
            fields = value.get("fields") if type(value) is dict and "__value__" in value else None
            if type(fields) is not dict:
                continue
            subject = fields.get("id_number")
            if not subject or type(subject) is not str or is_token(subject):
                continue
            key = self.keys.live_key(subject, owner.hex, party)
            rows += key.rows
            under += _existing(key)
            for leaf in leaves[party]:  # party.leaf: straight in the party's fields
                value = fields.get(leaf)
                if _sealable(value):
                    fields[leaf] = _seal(key, value)
            deep = _DEEP[event][party]
            if deep:
                seal = functools.partial(_seal, key)
                for parts in deep:
                    _seal_at(state, parts, seal)
        return state, rows, under

    def _case_key(self, owner: UUID) -> SubjectKey | None:
        try:
            return self.keys.linked_key(owner.hex)
        except KeyUnavailable:
            raise SubjectErased(
                "the applicant of this case has been forgotten: no personal data can be "
                "added to it",
                case_id=str(owner),
            ) from None

    def sealing(self, write: Callable[[], T]) -> T:
        """One append: ``write`` seals its events and commits them. Its unwritten keys and
        links are remembered once it committed, forgotten if it failed. If the commit
        found a key destroyed since it was remembered (:class:`KeysGone`: nothing was
        written), everything remembered is dropped and the append is sealed once more from
        the key table (a new key for an intake, ``SubjectErased`` for a case); if it found
        a new key's subject with a live key (:class:`KeysTaken`: another process made it,
        or an earlier one), the append is sealed once more under that one, read."""
        keys = self.keys
        committed = False
        try:
            try:
                result = write()
            except KeysStale as stale:
                keys.end_append()
                if isinstance(stale, KeysGone):
                    keys.forget_used()
                keys.recheck()
                try:
                    result = write()
                except KeysStale as e:  # forgotten again meanwhile: refuse, nothing written
                    raise SubjectErased(
                        "the subject was forgotten while this command was recorded: "
                        "nothing was written"
                    ) from e
            committed = True
            return result
        finally:
            keys.end_append(committed)

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
