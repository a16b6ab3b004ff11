"""An orjson transcoder under which UUIDs, aware datetimes, dates, Decimals, tuples and
the domain's value objects round-trip exactly.

Non-JSON values are written as one-key tagged objects (``{"__uuid__": "…"}``); plain
dicts never use keys starting with ``__`` so a tag can never be mistaken for data.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import orjson
from eventsourcing.persistence import Transcoder

from casestore.domain.evolution import event_key
from casestore.domain.upcasters import registry
from casestore.domain.values import VALUE_TYPES

_VALUE_CLASSES: dict[str, type[Any]] = {cls.__name__: cls for cls in VALUE_TYPES}


def _encode(obj: Any) -> Any:
    """The JSON-ready form of one value: dispatched on its exact type (the hot path of
    every write), with the ``isinstance`` walk kept only for subclasses."""
    kind = type(obj)
    if kind in _PLAIN:
        return obj
    encoder = _ENCODERS.get(kind)
    if encoder is not None:
        return encoder(obj)
    return _encode_subclass(obj)


def _encode_dict(obj: dict[Any, Any]) -> dict[str, Any]:
    return {str(k): v if type(v) in _PLAIN else _encode(v) for k, v in obj.items()}


def _encode_list(obj: list[Any]) -> list[Any]:
    return [v if type(v) in _PLAIN else _encode(v) for v in obj]


def _encode_datetime(obj: datetime) -> dict[str, str]:
    if obj.tzinfo is None:
        raise TypeError(f"naive datetime {obj!r} cannot be stored; use an aware one")
    return {"__datetime__": obj.isoformat()}


def _value_encoder(cls: type[Any]) -> Callable[[Any], Any]:
    """A value object as ``{"__value__": name, "fields": {…}}``, plus ``"version": n`` once
    its class is past version 1 (so that an upcaster knows which shape it reads)."""
    names = tuple(f.name for f in dataclasses.fields(cls))
    tag = cls.__name__
    version = getattr(cls, "class_version", 1)

    def encode(obj: Any) -> dict[str, Any]:
        return {"__value__": tag, "fields": {n: _encode(getattr(obj, n)) for n in names}}

    def encode_versioned(obj: Any) -> dict[str, Any]:
        return {
            "__value__": tag,
            "fields": {n: _encode(getattr(obj, n)) for n in names},
            "version": version,
        }

    return encode if version == 1 else encode_versioned


def _encode_subclass(obj: Any) -> Any:
    if isinstance(obj, (str, bool, int, float)):
        return obj
    for cls in (dict, list, datetime, date, Decimal, tuple, UUID):
        if isinstance(obj, cls):
            return _ENCODERS[cls](obj)
    raise TypeError(f"cannot store a value of type {type(obj).__name__}")


_PLAIN: frozenset[type[Any]] = frozenset({str, int, bool, float, type(None)})
_ENCODERS: dict[type[Any], Callable[[Any], Any]] = {
    dict: _encode_dict,
    list: _encode_list,
    UUID: lambda obj: {"__uuid__": obj.hex},
    datetime: _encode_datetime,
    date: lambda obj: {"__date__": obj.isoformat()},
    Decimal: lambda obj: {"__decimal__": str(obj)},
    tuple: lambda obj: {"__tuple__": [_encode(v) for v in obj]},
    **{cls: _value_encoder(cls) for cls in VALUE_TYPES},
}


_DECODERS: dict[str, Callable[[Any], Any]] = {
    "__uuid__": UUID,
    "__datetime__": datetime.fromisoformat,
    "__date__": date.fromisoformat,
    "__decimal__": Decimal,
    "__tuple__": lambda items: tuple(_decode(v) for v in items),
}


def _decode(obj: Any) -> Any:
    if isinstance(obj, list):
        return [_decode(v) for v in obj]
    if not isinstance(obj, dict):
        return obj
    if len(obj) == 1:
        ((key, value),) = obj.items()
        decoder = _DECODERS.get(key)
        if decoder is not None:
            return decoder(value)
    if "__value__" in obj:
        cls = _VALUE_CLASSES[obj["__value__"]]
        return cls(**{k: _decode(v) for k, v in obj["fields"].items()})
    return {k: _decode(v) for k, v in obj.items()}


class OrjsonTranscoder(Transcoder):
    """Compact, deterministic (sorted keys) JSON via orjson."""

    def encode(self, obj: Any) -> bytes:
        return orjson.dumps(_encode(obj), option=orjson.OPT_SORT_KEYS)

    @staticmethod
    def ready(obj: Any) -> Any:
        """``obj`` in its JSON-ready form (fresh dicts and lists; what :meth:`encode`
        writes), for a caller that changes it before :meth:`dump` (sealing personal
        fields, ``fieldcrypt``)."""
        return _encode(obj)

    @staticmethod
    def dump(ready: Any) -> bytes:
        """The stored bytes of a JSON-ready value: ``dump(ready(x)) == encode(x)``."""
        return orjson.dumps(ready, option=orjson.OPT_SORT_KEYS)

    def decode(self, data: bytes) -> Any:
        return _decode(orjson.loads(data))

    def decode_event(self, topic: str, data: bytes) -> Any:
        """A stored event's state in today's shape: upcast by the one decoding registry
        (docs/events.md) on the stored JSON, then its values constructed."""
        return _decode(registry().upcast(event_key(topic), orjson.loads(data)))
