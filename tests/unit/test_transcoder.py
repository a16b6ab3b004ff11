"""The orjson transcoder round-trips every event class exactly (hypothesis)."""

from __future__ import annotations

import dataclasses
import typing
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from uuid import UUID

from hypothesis import given, settings
from hypothesis import strategies as st

from casestore.domain import Bundle, Case, Item
from casestore.domain.index import CaseNumber
from casestore.domain.values import Actor, ItemLimits, Party, SurveyParticipant
from casestore.store.mapper import TimedMapper
from casestore.store.transcoder import OrjsonTranscoder

aware = st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2100, 1, 1),
                     timezones=st.sampled_from([UTC, timezone(timedelta(hours=8)),
                                                timezone(timedelta(hours=-5, minutes=-30))]))
text = st.text(max_size=20)
scalars: st.SearchStrategy[Any] = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**53), 2**53), text, st.uuids(), aware,
    st.dates(), st.decimals(allow_nan=False, allow_infinity=False))
nested = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(alphabet="abcxyz", max_size=5), inner,
                                                 max_size=4)), max_leaves=12)
actors = st.builds(Actor, staff_id=st.text(min_size=1, alphabet="abc123"),
                   role=st.sampled_from(["clerk", "approver"]), name=text, window=text)
parties = st.builds(Party, name=st.text(min_size=1, alphabet="张三李四"),
                    id_type=st.just("resident_id"), id_number=st.text(min_size=1, alphabet="0123X"),
                    phone=text)
participants = st.builds(SurveyParticipant, name=st.just("孙一"),
                         party=st.sampled_from(["approval_bureau", "regulator", "applicant"]),
                         staff_id=text)
limits = st.builds(ItemLimits, statutory_days=st.integers(0, 60), promised_days=st.integers(0, 60),
                   pause_kinds=st.lists(text, max_size=3).map(tuple))

BY_TYPE: dict[Any, st.SearchStrategy[Any]] = {
    Actor: actors, Party: parties, ItemLimits: limits, str: text, int: st.integers(0, 10**6),
    bool: st.booleans(), datetime: aware, date: st.dates(), UUID: st.uuids(),
    datetime | None: st.none() | aware, Party | None: st.none() | parties,
    UUID | None: st.none() | st.uuids(), date | None: st.none() | st.dates(),
    list[str]: st.lists(text, max_size=3), list[SurveyParticipant]: st.lists(participants,
                                                                            max_size=3),
    dict[str, Any]: st.dictionaries(st.text(alphabet="abc", max_size=4), nested, max_size=3),
    dict[str, UUID]: st.dictionaries(st.text(alphabet="XK-0123", max_size=6), st.uuids(),
                                     max_size=3),
}
EVENT_CLASSES = [getattr(Case, n) for n in Case.EVENT_NAMES] + [
    Item.Published, Item.Revised, Bundle.Opened, Bundle.ExtensionGranted, CaseNumber.Registered]


def event_strategy(cls: type[Any]) -> st.SearchStrategy[Any]:
    hints = typing.get_type_hints(cls)
    fields = {f.name: BY_TYPE[hints[f.name]] for f in dataclasses.fields(cls)
              if f.name not in ("originator_id", "originator_version", "originator_topic")}
    fields["originator_id"] = st.uuids()
    fields["originator_version"] = st.integers(1, 1000)
    if "originator_topic" in {f.name for f in dataclasses.fields(cls)}:
        fields["originator_topic"] = st.just("casestore.domain.case:Case")
    return st.builds(cls, **fields)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(EVENT_CLASSES).flatmap(event_strategy))
def test_every_event_class_round_trips_exactly(event: Any) -> None:
    mapper = TimedMapper(transcoder=OrjsonTranscoder())
    stored = mapper.to_stored_event(event)
    again = mapper.to_domain_event(stored)
    assert type(again) is type(event)
    assert vars(again) == vars(event)
    for name, value in vars(event).items():  # aware datetimes keep their offset
        if isinstance(value, datetime):
            assert getattr(again, name).utcoffset() == value.utcoffset()


@settings(max_examples=300, deadline=None)
@given(nested)
def test_nested_values_round_trip(value: Any) -> None:
    t = OrjsonTranscoder()
    assert t.decode(t.encode({"v": value})) == {"v": value}


def test_decimal_keeps_its_exponent() -> None:
    t = OrjsonTranscoder()
    assert str(t.decode(t.encode({"d": Decimal("1.50")}))["d"]) == "1.50"


def test_naive_datetime_is_refused() -> None:
    import pytest

    with pytest.raises(TypeError, match="naive"):
        OrjsonTranscoder().encode({"t": datetime(2025, 1, 1)})
