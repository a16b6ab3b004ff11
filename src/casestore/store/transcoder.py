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

from casestore.domain.values import VALUE_TYPES

_VALUE_CLASSES: dict[str, type[Any]] = {cls.__name__: cls for cls in VALUE_TYPES}


def _encode(obj: Any) -> Any:
    if obj is None or isinstance(obj, (str, bool, int, float)):
        return obj
    if isinstance(obj, dict):
        return {str(k): _encode(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_encode(v) for v in obj]
    if isinstance(obj, UUID):
        return {"__uuid__": obj.hex}
    if isinstance(obj, datetime):
        if obj.tzinfo is None:
            raise TypeError(f"naive datetime {obj!r} cannot be stored; use an aware one")
        return {"__datetime__": obj.isoformat()}
    if isinstance(obj, date):
        return {"__date__": obj.isoformat()}
    if isinstance(obj, Decimal):
        return {"__decimal__": str(obj)}
    if isinstance(obj, tuple):
        return {"__tuple__": [_encode(v) for v in obj]}
    if dataclasses.is_dataclass(obj) and type(obj).__name__ in _VALUE_CLASSES:
        fields = {f.name: _encode(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
        return {"__value__": type(obj).__name__, "fields": fields}
    raise TypeError(f"cannot store a value of type {type(obj).__name__}")


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

    def decode(self, data: bytes) -> Any:
        return _decode(orjson.loads(data))


def to_plain(obj: Any) -> Any:
    """A JSON-friendly rendering for exports and views (no tags, ISO strings)."""
    if isinstance(obj, dict):
        return {str(k): to_plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_plain(v) for v in obj]
    if isinstance(obj, UUID):
        return str(obj)
    if isinstance(obj, (datetime, date)):
        return obj.isoformat()
    if isinstance(obj, Decimal):
        return str(obj)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    return obj
