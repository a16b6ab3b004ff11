"""The one decoding registry: every stored event is brought to today's shape here (docs/events.md).

Both sides read the log through it: the write side's mapper (aggregates, exports) and the
read side's :class:`~casestore.projections.engine.events.LogEvent` (projections, the stream). It
works on the stored JSON *before* anything is constructed from it — the transcoder's
tagged form (``{"__value__": "Party", "fields": {…}}``, ``{"__datetime__": "…"}``) — so a
value object gains a required field before ``Party(**fields)`` runs, and the read side,
which never constructs objects, sees exactly the fields the aggregates see.

Four kinds of change, in the order they are applied to one stored event:

1. the topic: an event class renamed or moved (``rename_event``);
2. value objects, wherever they sit in the state: each ``{"__value__": …}`` carries its
   class version (absent = 1) and is stepped up to the current one (``value_step``);
3. the event's ``class_version`` (absent = 1, eventsourcing's convention) stepped up with
   ``event_step`` / ``rename_field`` / ``add_field``;
4. fields added later *with a default* are filled in for older events (no version needed).

The stored bytes never change: the hash chain covers them, and upcasting happens on every
read. Pure: stdlib only (the domain imports no infrastructure).
"""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
from collections.abc import Callable, Iterator
from typing import Any, Final

State = dict[str, Any]
Step = Callable[[State], None]

#: A default the registry can write into old stored JSON as it is (no transcoder tags).
_PLAIN_DEFAULTS = (str, int, float, bool, type(None))
#: Fields eventsourcing keeps outside the stored state or sets itself.
_FRAME_FIELDS: Final = frozenset({"originator_id", "originator_version", "timestamp"})


def event_key(topic: str) -> str:
    """``Case.Submitted`` from ``casestore.domain.case:Case.Submitted``."""
    return topic.rsplit(":", 1)[-1]


class SchemaRegistry:
    """Upcasters by event key (``"Case.Corrected"``) and by value class name (``"Party"``)."""

    def __init__(self) -> None:
        self.topics: dict[str, str] = {}
        self.event_steps: dict[str, dict[int, Step]] = {}
        self.value_steps: dict[str, dict[int, Step]] = {}
        self._defaults: dict[str, tuple[tuple[str, Any], ...]] = {}
        self._current: dict[str, int] = {}

    # -- declaring changes ---------------------------------------------------------------

    def rename_event(self, old_topic: str, new_topic: str) -> None:
        """Events stored under ``old_topic`` are read as ``new_topic`` (a renamed class)."""
        self.topics[old_topic] = new_topic

    def event_step(self, key: str, from_version: int, step: Step) -> None:
        """``step`` turns the stored state of ``key`` at ``from_version`` into the next one."""
        steps = self.event_steps.setdefault(key, {})
        if from_version in steps:
            raise ValueError(f"{key} already has an upcaster from v{from_version}")
        steps[from_version] = step
        self._current.pop(key, None)

    def rename_field(self, key: str, from_version: int, old: str, new: str) -> None:
        """Version ``from_version + 1`` of ``key`` calls field ``old`` ``new``."""

        def step(state: State) -> None:
            if old in state:
                state[new] = state.pop(old)

        self.event_step(key, from_version, step)

    def add_field(self, key: str, from_version: int, name: str, value: Any) -> None:
        """Version ``from_version + 1`` of ``key`` has a field ``name`` (``value`` for older)."""

        def step(state: State) -> None:
            state.setdefault(name, value)

        self.event_step(key, from_version, step)

    def value_step(self, name: str, from_version: int, step: Step) -> None:
        """``step`` turns the stored fields of value class ``name`` at ``from_version`` into
        the next version's, before the value object is constructed."""
        steps = self.value_steps.setdefault(name, {})
        if from_version in steps:
            raise ValueError(f"value {name} already has an upcaster from v{from_version}")
        steps[from_version] = step

    def defaults_for(self, key: str, defaults: dict[str, Any]) -> None:
        """Fields of ``key`` added with a default: filled in for events stored before them."""
        merged = {**dict(self._defaults.get(key, ())), **defaults}
        self._defaults[key] = tuple(merged.items())

    # -- reading -------------------------------------------------------------------------

    def current_topic(self, topic: str) -> str:
        """The topic an event stored under ``topic`` is read as today."""
        seen = 0
        while topic in self.topics and seen < 32:
            topic = self.topics[topic]
            seen += 1
        return topic

    def current_version(self, key: str) -> int:
        """The class version of ``key`` that stored events are brought up to."""
        version = self._current.get(key)
        if version is None:
            steps = self.event_steps.get(key, {})
            version = 1
            while version in steps:
                version += 1
            self._current[key] = version
        return version

    def readable(self, key: str, version: int) -> str | None:
        """Why an event ``key`` at class ``version`` cannot be brought to today's shape, or
        None when it can (a version from 1 up to the current one)."""
        current = self.current_version(key)
        if version < 1:
            return f"{key} has no class version {version} (versions start at 1)"
        if version > current:
            return (
                f"{key} at class version {version} is newer than this casestore reads "
                f"(it upcasts {key} up to version {current}): written by a newer casestore?"
            )
        return None

    def step_up(self, key: str, state: State, version: int) -> State:
        """The fields of event ``key`` at class ``version`` stepped up to the current
        version (in place): the event's own upcasters, without value objects or defaults.
        The importer runs an export line's plain ``data`` through it."""
        steps = self.event_steps.get(key)
        if steps:
            while version in steps:
                steps[version](state)
                version += 1
        return state

    def step_up_plain_values(self, plain: State, stored: State) -> State:
        """The value objects in ``plain`` (an export line's data: untagged) stepped up to
        their current versions (in place), each from the version its stored form in
        ``stored`` (the same event's stored JSON: tagged, ``"version"`` absent = 1) says."""
        if self.value_steps:
            _step_plain(plain, stored, self.value_steps)
        return plain

    def upcast(self, key: str, state: State) -> State:
        """The stored (tagged) JSON ``state`` of event ``key`` in today's shape (in place)."""
        if self.value_steps:
            _upcast_values(state, self.value_steps)
        stored_version = state.pop("class_version", 1)
        steps = self.event_steps.get(key)
        if steps:  # ``step_up`` inline: this runs once per event a projection decodes
            while stored_version in steps:
                steps[stored_version](state)
                stored_version += 1
        defaults = self._defaults.get(key)
        if defaults:
            for name, value in defaults:
                if name not in state:
                    state[name] = value
        return state


def _upcast_values(node: Any, steps: dict[str, dict[int, Step]]) -> None:
    """Step every tagged value object inside ``node`` up to its current version (in place)."""
    if isinstance(node, dict):
        name = node.get("__value__")
        if name is not None and isinstance(node.get("fields"), dict):
            fields = node["fields"]
            _upcast_values(fields, steps)
            chain = steps.get(name)
            if chain:
                version = node.pop("version", 1)
                while version in chain:
                    chain[version](fields)
                    version += 1
            return
        for value in node.values():
            if isinstance(value, dict | list):
                _upcast_values(value, steps)
    elif isinstance(node, list):
        for value in node:
            if isinstance(value, dict | list):
                _upcast_values(value, steps)


def _step_plain(plain: Any, stored: Any, steps: dict[str, dict[int, Step]]) -> None:
    """:func:`_upcast_values` over a plain copy, reading each value's version beside it."""
    if isinstance(stored, dict) and isinstance(stored.get("__tuple__"), list):
        stored = stored["__tuple__"]
    if isinstance(stored, list) and isinstance(plain, list):
        for inner_plain, inner_stored in zip(plain, stored, strict=False):
            _step_plain(inner_plain, inner_stored, steps)
        return
    if not isinstance(stored, dict) or not isinstance(plain, dict):
        return
    name = stored.get("__value__")
    if name is None:
        for key, value in plain.items():
            _step_plain(value, stored.get(key), steps)
        return
    fields = stored.get("fields")
    fields = fields if isinstance(fields, dict) else {}
    for key, value in plain.items():
        _step_plain(value, fields.get(key), steps)
    chain = steps.get(name)
    version = stored.get("version", 1)
    while chain and version in chain:
        chain[version](plain)
        version += 1


# -- the domain's event classes and their shapes -------------------------------------------


def domain_event_classes() -> dict[str, type[Any]]:
    """Every concrete event class of every aggregate in ``casestore.domain``, by key."""
    from eventsourcing.domain import CanMutateAggregate

    import casestore.domain as package

    for info in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"{package.__name__}.{info.name}")
    found: dict[str, type[Any]] = {}

    def walk(cls: type[Any]) -> None:
        for sub in cls.__subclasses__():
            walk(sub)
            if sub.__module__.startswith("casestore.domain.") and "." in sub.__qualname__:
                found[sub.__qualname__] = sub

    walk(CanMutateAggregate)
    # A base class of other events (``Case.Event``) is never stored itself, nor is the
    # ``Created`` class eventsourcing defines for aggregates created by a named event.
    bases = {b for cls in found.values() for b in cls.__mro__[1:]}
    return {k: v for k, v in sorted(found.items()) if v not in bases and not k.endswith(".Created")}


def _fields(cls: type[Any]) -> Iterator[dataclasses.Field[Any]]:
    for f in dataclasses.fields(cls):
        if f.name not in _FRAME_FIELDS:
            yield f


def _has_default(f: dataclasses.Field[Any]) -> bool:
    return f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING


def _stored_default(key: str, f: dataclasses.Field[Any]) -> Any:
    factory: Any = f.default_factory
    value = f.default if f.default is not dataclasses.MISSING else factory()
    if isinstance(value, list) and not value:
        return []
    if not isinstance(value, _PLAIN_DEFAULTS):
        raise TypeError(
            f"{key}.{f.name}: a field added with a default needs a JSON scalar or [] default "
            f"(got {value!r}); anything else is a new class version with an upcaster"
        )
    return value


def schema_fingerprint() -> dict[str, Any]:
    """Every event class's and value class's fields (name, type, default or not) and version.

    Committed as ``docs/event-shapes.json``; ``tests/unit/test_event_shapes.py`` fails
    when a class changes shape in a way docs/events.md does not allow.
    """
    from casestore.domain.values import VALUE_TYPES

    events = {
        key: {
            "class_version": getattr(cls, "class_version", 1),
            "fields": {f.name: [str(f.type), _has_default(f)] for f in _fields(cls)},
        }
        for key, cls in domain_event_classes().items()
    }
    values = {
        cls.__name__: {
            "class_version": getattr(cls, "class_version", 1),
            "fields": {f.name: [str(f.type), _has_default(f)] for f in dataclasses.fields(cls)},
        }
        for cls in VALUE_TYPES
    }
    return {"events": events, "values": values}


def check_registry(registry: SchemaRegistry) -> list[str]:
    """What is missing between the domain's classes and the registry's upcasters."""
    from casestore.domain.values import VALUE_TYPES

    problems: list[str] = []
    for key, cls in domain_event_classes().items():
        version = getattr(cls, "class_version", 1)
        if registry.current_version(key) != version:
            problems.append(
                f"{key} is class_version {version} but its upcasters reach "
                f"v{registry.current_version(key)}"
            )
    for value_cls in VALUE_TYPES:
        version = getattr(value_cls, "class_version", 1)
        chain = registry.value_steps.get(value_cls.__name__, {})
        missing = [v for v in range(1, version) if v not in chain]
        if missing or any(v >= version for v in chain):
            problems.append(f"value {value_cls.__name__} is v{version}; upcasters {sorted(chain)}")
    return problems


def install_defaults(registry: SchemaRegistry) -> None:
    """Register, for every event class, the defaults of its fields that have one."""
    for key, cls in domain_event_classes().items():
        defaults = {f.name: _stored_default(key, f) for f in _fields(cls) if _has_default(f)}
        if defaults:
            registry.defaults_for(key, defaults)


def shape_problems(
    committed: dict[str, Any], current: dict[str, Any], registry: SchemaRegistry
) -> list[str]:
    """Every change from the committed shapes that docs/events.md does not allow.

    Allowed without a new class version: a new event or value class, and a new field with
    a default. Anything else (a field removed, renamed or retyped, a new required field)
    needs the class version raised, an upcaster from every older version, and the new
    shape committed.
    """
    problems: list[str] = []
    for kind in ("events", "values"):
        for key, old in committed.get(kind, {}).items():
            new = current[kind].get(key)
            if new is None:
                problems.append(
                    f"{key} is gone: events stored under it must still read (keep the class, "
                    f"or rename_event its topic)"
                )
                continue
            if new["class_version"] == old["class_version"]:
                problems.extend(_same_version_changes(key, old["fields"], new["fields"]))
                continue
            steps = (registry.event_steps if kind == "events" else registry.value_steps).get(
                key, {}
            )
            missing = [
                v for v in range(old["class_version"], new["class_version"]) if v not in steps
            ]
            if new["class_version"] < old["class_version"] or missing:
                problems.append(
                    f"{key} went from v{old['class_version']} to v{new['class_version']} "
                    f"without an upcaster from v{missing}"
                )
            else:
                problems.append(
                    f"{key} is now v{new['class_version']} with its upcasters: commit its new "
                    f"shape (python -m casestore.domain.evolution > docs/event-shapes.json)"
                )
    return problems


def _same_version_changes(key: str, old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    problems = []
    for name, (annotation, _) in old.items():
        if name not in new:
            problems.append(f"{key}.{name} was removed or renamed without a new class version")
        elif new[name][0] != annotation:
            problems.append(
                f"{key}.{name} changed type ({annotation} -> {new[name][0]}) without a new "
                f"class version and upcaster"
            )
    for name, (_, has_default) in new.items():
        if name not in old and not has_default:
            problems.append(
                f"{key}.{name} is a new required field: give it a default, or raise the "
                f"class version with an upcaster that fills it for older events"
            )
    return problems


if __name__ == "__main__":  # python -m casestore.domain.evolution > docs/event-shapes.json
    import json
    import sys

    json.dump(schema_fingerprint(), sys.stdout, indent=1, sort_keys=True, ensure_ascii=False)
    sys.stdout.write("\n")
