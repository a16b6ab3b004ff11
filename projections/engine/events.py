"""Log events as projections see them: ids, type, actor, times, hashes, lazily decoded state."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final

import msgspec
import orjson
from msgspec.structs import astuple

from casestore.domain.upcasters import registry
from casestore.domain.values import BUREAU_TZ

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def tagged_plain(value: Any) -> Any:
    """The transcoder's tagged JSON as plain JSON values (UUIDs, times and dates as strings)."""
    if isinstance(value, dict):
        if len(value) == 1:
            ((key, inner),) = value.items()
            if key == "__uuid__":
                h = str(inner)
                return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
            if key in ("__datetime__", "__date__", "__decimal__"):
                return inner
            if key == "__tuple__":
                return [tagged_plain(v) if isinstance(v, _NESTED) else v for v in inner]
        if "__value__" in value:
            value = value["fields"]
        # a scalar is itself: no call for it (a value object's fields are mostly scalars)
        return {k: tagged_plain(v) if isinstance(v, _NESTED) else v for k, v in value.items()}
    if isinstance(value, list):
        return [tagged_plain(v) if isinstance(v, _NESTED) else v for v in value]
    return value


_NESTED = (dict, list)


def iso_to_micros(text: str) -> int:
    """Microseconds since the epoch of an ISO-8601 aware timestamp."""
    return (datetime.fromisoformat(text) - EPOCH) // timedelta(microseconds=1)


def micros_to_datetime(micros: int) -> datetime:
    """An aware UTC datetime from microseconds since the epoch."""
    return EPOCH + timedelta(microseconds=micros)


_DAY_US = 86_400_000_000
_BUREAU_OFFSET_US = int(BUREAU_TZ.utcoffset(None).total_seconds()) * 1_000_000  # type: ignore[union-attr]
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


def local_day(micros: int) -> date:
    """The bureau's calendar date (UTC+8, no daylight saving) of an instant."""
    return date.fromordinal(_EPOCH_ORDINAL + (micros + _BUREAU_OFFSET_US) // _DAY_US)


_DAY_ISO: dict[int, str] = {}


def local_day_iso(micros: int) -> str:
    """``local_day(micros).isoformat()``, cached per day (hot in per-day aggregates)."""
    number = (micros + _BUREAU_OFFSET_US) // _DAY_US
    text = _DAY_ISO.get(number)
    if text is None:
        text = _DAY_ISO[number] = date.fromordinal(_EPOCH_ORDINAL + number).isoformat()
    return text


class _ActorFields(msgspec.Struct):
    staff_id: str = ""
    role: str = ""
    name: str = ""
    window: str = ""


class _Actor(msgspec.Struct):
    fields: _ActorFields | msgspec.UnsetType = msgspec.UNSET


class _Head(msgspec.Struct):
    """The part of every stored state that (almost) every read model reads: who and when.
    Every other field of the document is skipped by the decoder without being built."""

    actor: _Actor | msgspec.UnsetType | None = msgspec.UNSET
    occurred_at: Any = msgspec.UNSET
    class_version: int = 1


_decode_head = msgspec.json.Decoder(_Head).decode
_HEAD_FIELDS: Final = len(_Head.__struct_fields__)
_UNSET: Final[Any] = msgspec.UNSET
_UNKNOWN: Final[Any] = object()

_DECODERS: dict[tuple[str, ...], Callable[[bytes], Any]] = {}


def narrow_decoder(names: tuple[str, ...]) -> Callable[[bytes], Any]:
    """A decoder of the head (actor, ``occurred_at``, class version) and of the named
    top-level fields, each kept as its tagged JSON value, for :meth:`LogEvent.fields`;
    every other field of the document is skipped unbuilt. One per set of names."""
    decode = _DECODERS.get(names)
    if decode is None:
        clash = set(names) & set(_Head.__struct_fields__)
        if clash or len(set(names)) != len(names):
            raise ValueError(f"narrow_decoder: bad field names {names!r}")
        struct = msgspec.defstruct(
            "_Narrow",
            [(n, Any, msgspec.UNSET) for n in names],
            bases=(_Head,),
            namespace={"names": names},  # a class attribute, not a field
            gc=False,  # holds decoded JSON only (no cycles): not one more object to track
        )
        decode = _DECODERS[names] = msgspec.json.Decoder(struct).decode
    return decode


_TOPIC_PARTS: dict[str, tuple[str, str, str]] = {}


def topic_parts(topic: str) -> tuple[str, str, str]:
    """('Case', 'Submitted', 'Case.Submitted') from 'casestore.domain.case:Case.Submitted'.

    A topic renamed since it was stored is read under today's name (the decoding registry).
    """
    parts = _TOPIC_PARTS.get(topic)
    if parts is None:
        qualname = registry().current_topic(topic).rsplit(":", 1)[-1]
        aggregate, _, kind = qualname.rpartition(".")
        parts = _TOPIC_PARTS[topic] = (aggregate, kind, f"{aggregate}.{kind}")
    return parts


class Fields(dict[str, Any]):
    """Fields of one event as plain JSON (:meth:`LogEvent.fields`): those decoded
    narrowly, and any other name from the event's whole decode, on first asking."""

    __slots__ = ("event",)
    event: LogEvent

    def __missing__(self, name: str) -> Any:
        return self.event.plain(name)


class LogEvent:
    """One event of the global log as a projection sees it (state decoded on demand).

    ``key`` is ``"<Aggregate>.<Event>"`` (e.g. ``"Case.Submitted"``), the key of
    :attr:`Projection.handlers`. ``raw`` is the stored JSON with the transcoder's tags
    kept (cheap); :meth:`plain` gives a field as plain JSON. Both are in today's shape:
    the stored JSON passes through the one decoding registry (docs/events.md) that the
    write side's mapper uses, so no handler ever reads a field an upcaster has not seen.
    """

    __slots__ = (
        "_actor",
        "_occurred",
        "_raw",
        "aggregate",
        "aggregate_id",
        "chain_hash",
        "event_hash",
        "key",
        "position",
        "recorded_at_us",
        "state",
        "topic",
        "type",
        "unwrap",
        "version",
    )

    def __init__(
        self,
        position: int,
        aggregate_id: str,
        version: int,
        topic: str,
        state: bytes,
        recorded_at_us: int,
        event_hash: bytes,
        chain_hash: bytes,
        unwrap: Callable[[bytes], bytes] | None = None,
    ) -> None:
        self.position = position
        self.aggregate_id = aggregate_id  # canonical UUID text, as stored in views
        self.version = version
        self.topic = topic
        self.aggregate, self.type, self.key = topic_parts(topic)
        self.state = state
        self.recorded_at_us = recorded_at_us
        self.event_hash = event_hash
        self.chain_hash = chain_hash
        self.unwrap = unwrap
        self._raw: dict[str, Any] | None = None
        self._actor: dict[str, str] | None = None
        self._occurred: Any = _UNKNOWN

    @classmethod
    def many(
        cls,
        rows: list[Any],
        unwraps: list[Callable[[bytes], bytes] | None],
        ids: Mapping[Any, str] | None = None,
    ) -> list[LogEvent]:
        """One event per stored row ``(position, aggregate id, version, topic, state,
        recorded_at_us, event_hash, chain_hash)`` with its unwrap, the id looked up in
        ``ids`` (stored id -> canonical text, every id of ``rows``) when given: what
        ``__init__`` does, without a call per event (a page's thousands of events are
        the read side's largest cost after the fetch itself)."""
        new = object.__new__
        parts_of: dict[str, tuple[str, str, str]] = {}
        out: list[LogEvent] = []
        append = out.append
        for r, unwrap in zip(rows, unwraps, strict=True):
            topic = r[3]
            parts = parts_of.get(topic)
            if parts is None:
                parts = parts_of[topic] = topic_parts(topic)
            event = new(cls)
            event.position = r[0]
            event.aggregate_id = r[1] if ids is None else ids[r[1]]
            event.version = r[2]
            event.topic = topic
            event.aggregate, event.type, event.key = parts
            event.state = r[4]
            event.recorded_at_us = r[5]
            event.event_hash = r[6]
            event.chain_hash = r[7]
            event.unwrap = unwrap
            event._raw = None
            event._actor = None
            event._occurred = _UNKNOWN
            append(event)
        return out

    @property
    def raw(self) -> dict[str, Any]:
        """The stored state as tagged JSON (decrypted/decompressed when configured), upcast."""
        raw = self._raw
        if raw is None:
            data = self.unwrap(self.state) if self.unwrap is not None else self.state
            raw = self._raw = registry().upcast(self.key, orjson.loads(data))
        return raw

    def plain(self, field: str, default: Any = None) -> Any:
        """One field of the event as plain JSON (UUIDs, times and dates as strings)."""
        value = self.raw.get(field, default)
        return tagged_plain(value) if isinstance(value, (dict, list)) else value

    def actor(self) -> dict[str, str]:
        """The actor's staff_id, role, name and window ('' when the event has none).

        Computed once per event and shared: treat it as read-only.
        """
        known = self._actor
        if known is not None:
            return known
        if self._raw is None and self._head():
            return self._actor  # type: ignore[return-value]  # set by _head
        raw = self._raw if self._raw is not None else self.raw
        try:
            fields = raw["actor"]["fields"]
            known = {
                "staff_id": fields["staff_id"],
                "role": fields["role"],
                "name": fields["name"],
                "window": fields["window"],
            }
        except (KeyError, TypeError):  # an event without a (complete) actor
            actor = raw.get("actor")
            fields = actor.get("fields", {}) if isinstance(actor, dict) else {}
            known = {k: str(fields.get(k, "")) for k in ("staff_id", "role", "name", "window")}
        self._actor = known
        return known

    def _head(self) -> bool:
        """The actor and ``occurred_at`` from a narrow decode of the stored state (only
        those fields are built; the rest of the document is skipped), or False when only
        the whole decode can say what they are: the decode refused the document or a type
        (a field of a shape the narrow decoder does not know), a field is absent (the
        registry may default it), or an upcaster applies (an event step at the stored
        class version, any value-object step). What it answers is what :meth:`actor` and
        :attr:`occurred_at_us` read from :attr:`raw`: read models that need no other
        field (audit, most case events of the status board) skip the whole decode, the
        largest cost of a rebuild on SQLite after the fetch itself."""
        return self._narrow(_decode_head) is not None

    def fields(self, decode: Callable[[bytes], Any]) -> Fields | None:
        """The fields a :func:`narrow_decoder` names, as :meth:`plain` gives them (the
        actor and ``occurred_at`` cached beside them), from a narrow decode of the stored
        state; None when only the whole decode can say (as for :meth:`_head`, or a named
        field is absent: the registry may default it), or when the whole state is
        already decoded (then :meth:`plain` is as cheap). A name it was not asked for
        is read from the whole decode (``fields[name]`` is ``plain(name)`` for any name)."""
        if self._raw is not None:
            return None
        head = self._narrow(decode)
        if head is None:
            return None
        values = astuple(head)[_HEAD_FIELDS:]  # the named ones, after the head's
        if _UNSET in values:
            return None
        out = Fields(zip(head.names, values, strict=True))
        out.event = self
        for name, value in zip(head.names, values, strict=True):
            if isinstance(value, (dict, list)):  # tagged: plain, as ``plain`` gives it
                out[name] = tagged_plain(value)
        return out

    def _narrow(self, decode: Callable[[bytes], Any]) -> Any:
        """A narrow decode (``_decode_head`` or a :func:`narrow_decoder`'s) of the stored
        state with the actor and ``occurred_at`` set from it, or None (see :meth:`_head`)."""
        schema = registry()
        if schema.value_steps:
            return None
        unwrap = self.unwrap
        try:
            head = decode(self.state if unwrap is None else unwrap(self.state))
        except msgspec.DecodeError:
            return None
        actor = head.actor
        occurred = head.occurred_at
        if actor is _UNSET or occurred is _UNSET:
            return None
        steps = schema.event_steps.get(self.key)
        if steps is not None and head.class_version in steps:
            return None
        f = actor.fields if isinstance(actor, _Actor) else None  # None: no actor
        if isinstance(f, _ActorFields):
            self._actor = {
                "staff_id": f.staff_id,
                "role": f.role,
                "name": f.name,
                "window": f.window,
            }
        else:  # no actor, or one without fields
            self._actor = {"staff_id": "", "role": "", "name": "", "window": ""}
        self._occurred = None if occurred is None else _occurred_us(occurred)
        return head

    @property
    def occurred_at_us(self) -> int | None:
        """The claimed business time, when it was entered separately."""
        known = self._occurred
        if known is not _UNKNOWN:
            return known  # type: ignore[no-any-return]
        if self._raw is None and self._head():
            return self._occurred  # type: ignore[no-any-return]
        raw = self._raw if self._raw is not None else self.raw
        known = self._occurred = _occurred_us(raw.get("occurred_at"))
        return known  # type: ignore[no-any-return]

    @property
    def business_at_us(self) -> int:
        """``occurred_at`` when given, else ``recorded_at`` (what the domain uses for dates)."""
        occurred = self.occurred_at_us
        return self.recorded_at_us if occurred is None else occurred

    @property
    def recorded_at(self) -> datetime:
        return micros_to_datetime(self.recorded_at_us)

    def __repr__(self) -> str:
        return f"LogEvent({self.position}, {self.key}, {self.aggregate_id} v{self.version})"


def _occurred_us(value: Any) -> int | None:
    """An event's ``occurred_at`` (tagged JSON) as microseconds, None when not given."""
    if isinstance(value, dict) and "__datetime__" in value:
        return iso_to_micros(value["__datetime__"])
    return None
