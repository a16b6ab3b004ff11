"""``LogEvent.actor`` and ``occurred_at_us`` from the narrow decode: the same answers as
the whole decode, and the whole decode whenever only it can say (upcasters, defaults,
shapes the narrow decoder does not know)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from casestore.projections.engine import events
from casestore.projections.engine.events import LogEvent

from casestore.domain.evolution import SchemaRegistry

TOPIC = "casestore.domain.case:Case.Sealed"
CLERK = {"staff_id": "c1", "role": "clerk", "name": "clerk 1", "window": "W01"}
NOBODY = {"staff_id": "", "role": "", "name": "", "window": ""}


def _event(state: dict[str, Any]) -> LogEvent:
    return LogEvent(
        7, "0" * 8 + "-0000-0000-0000-" + "0" * 12, 3, TOPIC, orjson.dumps(state), 5, b"h", b"c"
    )


def _actor(fields: Any) -> dict[str, Any]:
    return {"__value__": "Actor", "fields": fields}


@pytest.mark.parametrize(
    ("state", "actor", "occurred"),
    [
        (
            {"actor": _actor(CLERK), "occurred_at": None, "seal_id": "S", "x": [1, {"y": 2}]},
            CLERK,
            None,
        ),
        (
            {"actor": _actor(CLERK), "occurred_at": {"__datetime__": "2025-03-03T01:00:00+00:00"}},
            CLERK,
            1740963600000000,
        ),
        (
            {
                "actor": _actor({"staff_id": "r1", "role": "reviewer", "name": "r"}),
                "occurred_at": {"__datetime__": "2024-12-31T16:30:00.000250+00:00"},
            },
            {"staff_id": "r1", "role": "reviewer", "name": "r", "window": ""},
            1735662600000250,
        ),
        ({"actor": None, "occurred_at": None}, NOBODY, None),
        ({"actor": {"__value__": "Actor"}, "occurred_at": "yesterday"}, NOBODY, None),
    ],
)
def test_the_narrow_decode_answers_without_decoding_the_whole_state(
    state: dict[str, Any], actor: dict[str, str], occurred: int | None
) -> None:
    event = _event(state)
    assert event.actor() == actor
    assert event.occurred_at_us == occurred
    assert event._raw is None  # the whole state was never built
    assert event.business_at_us == (5 if occurred is None else occurred)


@pytest.mark.parametrize(
    ("state", "actor"),
    [
        # a role that is not text: the narrow decoder refuses it, the whole decode keeps it
        ({"actor": _actor({**CLERK, "role": 5}), "occurred_at": None}, {**CLERK, "role": 5}),
        ({"actor": "someone", "occurred_at": None}, NOBODY),
        ({"actor": _actor(CLERK)}, CLERK),  # occurred_at absent: a default may fill it
        ({"occurred_at": None}, NOBODY),  # no actor
    ],
)
def test_shapes_the_narrow_decoder_does_not_know_take_the_whole_decode(
    state: dict[str, Any], actor: dict[str, Any]
) -> None:
    event = _event(state)
    assert event.actor() == actor
    assert event.occurred_at_us is None
    assert event._raw is not None


def test_an_upcaster_or_a_default_is_applied_before_the_actor_is_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A registry of changes the domain does not have (trial() would refuse them).
    def new_staff(fields: dict[str, Any]) -> None:
        fields["staff_id"] = "c9"

    def new_actor(state: dict[str, Any]) -> None:
        state["actor"] = _actor({**CLERK, "staff_id": "c8"})

    changed = SchemaRegistry()
    changed.value_step("Actor", 1, new_staff)
    changed.defaults_for(
        "Case.Sealed", {"occurred_at": {"__datetime__": "2025-03-03T01:00:00+00:00"}}
    )
    monkeypatch.setattr(events, "registry", lambda: changed)
    stored = _event({"actor": _actor(CLERK)})
    assert stored.actor() == {**CLERK, "staff_id": "c9"}
    assert stored.occurred_at_us == 1740963600000000

    stepped = SchemaRegistry()
    stepped.event_step("Case.Sealed", 1, new_actor)
    monkeypatch.setattr(events, "registry", lambda: stepped)
    assert _event({"actor": _actor(CLERK), "occurred_at": None}).actor()["staff_id"] == "c8"
    at_v2 = _event({"actor": _actor(CLERK), "occurred_at": None, "class_version": 2})
    assert at_v2.actor() == CLERK  # no step from v2: read as stored
    assert at_v2._raw is None


def test_a_state_stored_before_an_event_step_takes_the_whole_decode() -> None:
    # Case.Corrected v1 -> v2 renames ``field`` to ``fact`` (casestore.domain.upcasters)
    state = {"actor": _actor(CLERK), "occurred_at": None, "field": "materials"}
    event = LogEvent(
        7, "x", 3, "casestore.domain.case:Case.Corrected", orjson.dumps(state), 5, b"", b""
    )
    assert event.actor() == CLERK
    assert event._raw is not None and event._raw["fact"] == "materials"
    state = {**state, "class_version": 2, "fact": "materials"}
    event = LogEvent(
        7, "x", 3, "casestore.domain.case:Case.Corrected", orjson.dumps(state), 5, b"", b""
    )
    assert event.actor() == CLERK
    assert event._raw is None
