"""``LogEvent.fields`` and the facts fold's per-kind narrow decode (``read_event`` with
``narrow``): the fields as ``plain`` gives them, written out by hand, and the whole decode
exactly when only it can say (an upcaster, an absent field, a shape the decoder refuses,
the whole state already decoded)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from casestore.projections.engine import events
from casestore.projections.engine.events import LogEvent, narrow_decoder
from casestore.projections.facts import casefacts
from casestore.projections.facts.casefacts import CaseFacts
from casestore.projections.facts.evidence import read_event

from casestore.domain.evolution import SchemaRegistry

CLERK = {"staff_id": "c1", "role": "clerk", "name": "clerk 1", "window": "W01"}
ACCEPTED = "casestore.domain.case:Case.Accepted"
SUBMITTED = "casestore.domain.case:Case.Submitted"
LIMITS = {
    "__value__": "ItemLimits",
    "fields": {
        "case_type": "promised",
        "catalogue_version": 1,
        "joint": False,
        "needs_survey": False,
        "pause_kinds": {"__tuple__": ["expert_review"]},
        "promised_days": 10,
        "statutory_days": 20,
        "survey_days": 0,
    },
}


def _state(**fields: Any) -> dict[str, Any]:
    return {
        "actor": {"__value__": "Actor", "fields": CLERK},
        "claimed_recorded_at": None,
        "import_batch": None,
        "occurred_at": None,
        "notice_no": "SL-1",
        "timestamp": {"__datetime__": "2026-02-02T00:38:47+00:00"},
        **fields,
    }


def _event(state: dict[str, Any], topic: str = ACCEPTED, position: int = 7) -> LogEvent:
    return LogEvent(
        position, "case-1", 2, topic, orjson.dumps(state), 1_770_000_000_000_000, b"", b""
    )


ACCEPTED_STATE = _state(limits=LIMITS, promised_completion={"__date__": "2026-02-14"})
DECODE = narrow_decoder(("promised_completion", "limits"))


def test_the_named_fields_come_as_plain_json_without_the_whole_decode() -> None:
    event = _event(ACCEPTED_STATE)
    fields = event.fields(DECODE)
    assert fields == {
        "promised_completion": "2026-02-14",
        "limits": {
            "case_type": "promised",
            "catalogue_version": 1,
            "joint": False,
            "needs_survey": False,
            "pause_kinds": ["expert_review"],
            "promised_days": 10,
            "statutory_days": 20,
            "survey_days": 0,
        },
    }
    assert event.actor() == CLERK and event.occurred_at_us is None  # cached beside them
    assert event._raw is None
    # a name the decoder was not given: read from the whole decode, as ``plain`` reads it
    assert fields["notice_no"] == "SL-1"
    assert fields["nothing"] is None
    assert event._raw is not None


def test_a_uuid_and_a_time_are_plain_text() -> None:
    state = _state(
        bundle_id={"__uuid__": "0123456789abcdef0123456789abcdef"},
        occurred_at={"__datetime__": "2026-02-01T09:00:00+00:00"},
    )
    fields = _event(state, SUBMITTED).fields(narrow_decoder(("bundle_id",)))
    assert fields == {"bundle_id": "01234567-89ab-cdef-0123-456789abcdef"}


@pytest.mark.parametrize(
    "state",
    [
        {k: v for k, v in ACCEPTED_STATE.items() if k != "limits"},  # absent: may be defaulted
        {k: v for k, v in ACCEPTED_STATE.items() if k != "occurred_at"},  # the head's own
        {**ACCEPTED_STATE, "class_version": "2"},  # a type the decoder refuses
        {**ACCEPTED_STATE, "actor": {"__value__": "Actor", "fields": {**CLERK, "role": 5}}},
    ],
)
def test_what_the_narrow_decode_cannot_say_is_left_to_the_whole_decode(
    state: dict[str, Any],
) -> None:
    assert _event(state).fields(DECODE) is None


def test_an_upcaster_or_a_decoded_state_means_the_whole_decode(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    decoded = _event(ACCEPTED_STATE)
    assert decoded.raw["notice_no"] == "SL-1"
    assert decoded.fields(DECODE) is None  # plain() is as cheap now

    changed = SchemaRegistry()
    changed.value_step("ItemLimits", 1, lambda fields: None)
    monkeypatch.setattr(events, "registry", lambda: changed)
    assert _event(ACCEPTED_STATE).fields(DECODE) is None

    stepped = SchemaRegistry()
    stepped.event_step("Case.Accepted", 1, lambda state: None)
    monkeypatch.setattr(events, "registry", lambda: stepped)
    assert _event(ACCEPTED_STATE).fields(DECODE) is None
    assert _event({**ACCEPTED_STATE, "class_version": 2}).fields(DECODE) is not None


def test_names_the_head_decodes_itself_are_refused() -> None:
    with pytest.raises(ValueError):
        narrow_decoder(("actor",))
    with pytest.raises(ValueError):
        narrow_decoder(("level", "level"))


IMPORTED = _state(
    limits=LIMITS,
    promised_completion=None,
    import_batch={"__uuid__": "f" * 32},
    claimed_recorded_at={"__datetime__": "2019-05-06T02:00:00+00:00"},
    occurred_at={"__datetime__": "2019-05-06T01:00:00+00:00"},
)


@pytest.mark.parametrize("state", [ACCEPTED_STATE, IMPORTED, _state(limits=LIMITS)])
def test_read_event_gives_the_same_stamp_and_fields_narrow_or_whole(
    state: dict[str, Any],
) -> None:
    narrow = _event(state)
    n_name, n_stamp, n_get = read_event(narrow, None, casefacts._NARROW)
    whole = _event(state)
    w_name, w_stamp, w_get = read_event(whole)
    assert whole._raw is not None
    assert (n_name, n_stamp) == (w_name, w_stamp) == ("Accepted", w_stamp)
    for field in ("limits", "promised_completion", "notice_no"):
        assert n_get(field) == w_get(field)
    if "promised_completion" not in state:  # absent: the whole decode answered
        assert narrow._raw is not None


def test_an_imported_event_keeps_the_legacy_entry_time() -> None:
    event = _event(IMPORTED)
    _, stamp, get = read_event(event, None, casefacts._NARROW)
    assert event._raw is None
    assert stamp.imported
    assert stamp.claimed_recorded_at == datetime(2019, 5, 6, 2, 0, tzinfo=UTC)
    assert stamp.occurred_at == datetime(2019, 5, 6, 1, 0, tzinfo=UTC)
    assert stamp.backdated_seconds == 3600.0
    assert (stamp.staff, stamp.role, stamp.window, stamp.position) == ("c1", "clerk", "W01", 7)
    assert get("limits")["pause_kinds"] == ["expert_review"]


def test_every_handler_reads_only_what_its_kind_decodes() -> None:
    """Each kind's fold, fed a state holding exactly its declared fields (and a trap for
    any other), never falls back to the whole decode."""
    samples: dict[str, dict[str, Any]] = {
        "Submitted": {
            "bundle_id": None,
            "case_no": "N1",
            "item_code": "XK-1",
            "channel": "window",
            "priority": False,
        },
        "Accepted": {"promised_completion": None, "limits": LIMITS},
        "SurveyScheduled": {"survey_days": 5},
        "SurveyConducted": {"participants": [], "conclusion": "pass"},
        "ClockSuspended": {"notified_at": None, "kind": "inspection"},
        "ExtensionGranted": {"days": 3},
        "Decided": {"outcome": "approve"},
        "Delivered": {"method": "mail"},
        "Evaluated": {"level": 4, "channel": "pad"},
        "FollowUpRecorded": {"satisfied": True},
        "Corrected": {"corrects_version": 1, "fact": "x", "class_version": 2},
        "ServiceProvided": {
            "service": "mailing",
            "units": 1,
            "charged_fen": 0,
            "bureau_cost_fen": 9,
        },
    }
    assert set(samples) == set(casefacts._READS)
    for position, name in enumerate(casefacts._HANDLERS, 1):
        event = _event(
            _state(**samples.get(name, {})), f"casestore.domain.case:Case.{name}", position
        )
        facts = CaseFacts.blank("case-1").absorb(event)
        assert event._raw is None, name
        assert facts.last is not None and facts.last.position == position
