"""Event classes change shape only as docs/events.md allows (docs/event-shapes.json)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from casestore.domain.evolution import SchemaRegistry, schema_fingerprint, shape_problems
from casestore.domain.upcasters import registry

COMMITTED = Path(__file__).resolve().parents[2] / "docs" / "event-shapes.json"


def committed() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(COMMITTED.read_text("utf-8"))
    return data


def test_no_event_or_value_class_changed_shape_without_a_version_and_upcaster() -> None:
    problems = shape_problems(committed(), schema_fingerprint(), registry())
    assert problems == [], "\n".join(problems)


# Hand-written shapes: what each kind of change looks like to the check.
OLD = {
    "events": {
        "Case.ReviewRecorded": {
            "class_version": 1,
            "fields": {"stage_name": ["str", False], "comment": ["str", False]},
        }
    },
    "values": {"Party": {"class_version": 1, "fields": {"name": ["str", False]}}},
}


def changed(path: tuple[str, ...], value: Any) -> dict[str, Any]:
    new = copy.deepcopy(OLD)
    node: Any = new
    for key in path[:-1]:
        node = node[key]
    if value is None:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return new


REVIEW = ("events", "Case.ReviewRecorded", "fields")


@pytest.mark.parametrize(
    ("new", "says"),
    [
        (changed((*REVIEW, "comment"), None), "Case.ReviewRecorded.comment was removed or renamed"),
        (changed((*REVIEW, "comment"), ["int", False]), "changed type (str -> int)"),
        (changed((*REVIEW, "level"), ["int", False]), "level is a new required field"),
        (
            changed(("values", "Party", "fields", "nationality"), ["str", False]),
            "Party.nationality is a new required field",
        ),
        (changed(("events", "Case.ReviewRecorded"), None), "Case.ReviewRecorded is gone"),
        (
            changed(("events", "Case.ReviewRecorded", "class_version"), 2),
            "without an upcaster from v[1]",
        ),
    ],
)
def test_a_change_docs_events_md_forbids_is_named(new: dict[str, Any], says: str) -> None:
    problems = shape_problems(OLD, new, SchemaRegistry())
    assert len(problems) == 1 and says in problems[0], problems


def test_an_optional_field_and_a_new_event_class_need_no_version() -> None:
    new = changed((*REVIEW, "remarks"), ["str", True])
    new["events"]["Staff.StaffEnrolled"] = {"class_version": 1, "fields": {}}
    new["values"]["Party"]["fields"]["nationality"] = ["str", True]
    assert shape_problems(OLD, new, SchemaRegistry()) == []


def test_a_new_version_with_its_upcaster_asks_only_that_its_shape_be_committed() -> None:
    new = changed((*REVIEW, "comment"), None)
    new["events"]["Case.ReviewRecorded"]["fields"]["remarks"] = ["str", False]
    new["events"]["Case.ReviewRecorded"]["class_version"] = 2
    upcast = SchemaRegistry()
    upcast.rename_field("Case.ReviewRecorded", 1, "comment", "remarks")
    (problem,) = shape_problems(OLD, new, upcast)
    assert "is now v2 with its upcasters: commit its new shape" in problem
    assert shape_problems(new, new, upcast) == []


def test_the_registry_steps_stored_json_in_order() -> None:
    r = SchemaRegistry()
    r.rename_field("Case.ReviewRecorded", 1, "comment", "remarks")
    r.add_field("Case.ReviewRecorded", 2, "level", 3)
    r.value_step("Party", 1, lambda fields: fields.setdefault("nationality", "CN"))
    r.defaults_for("Case.ReviewRecorded", {"channel": ""})
    party = {"__value__": "Party", "fields": {"name": "张三"}}
    stored = {"comment": "ok", "applicant": party, "others": [copy.deepcopy(party)]}
    state = r.upcast("Case.ReviewRecorded", stored)
    assert state == {
        "remarks": "ok",
        "level": 3,
        "channel": "",
        "applicant": {"__value__": "Party", "fields": {"name": "张三", "nationality": "CN"}},
        "others": [{"__value__": "Party", "fields": {"name": "张三", "nationality": "CN"}}],
    }
    assert r.current_version("Case.ReviewRecorded") == 3
    # A stored v2 event skips the v1 step; a v2 value skips the value's v1 step.
    fresh = {"__value__": "Party", "fields": {"name": "张三"}, "version": 2}
    v2 = {"remarks": "kept", "class_version": 2, "applicant": fresh}
    assert r.upcast("Case.ReviewRecorded", v2)["applicant"]["fields"] == {"name": "张三"}
    assert v2["remarks"] == "kept" and v2["level"] == 3
