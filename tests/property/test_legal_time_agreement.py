"""For random cases, the write side's judgement of an extension's timeliness and the read
side's flags agree (issue 19): an extension the service accepts never raises S10, and one
it refuses as late is exactly what S10 flags once entered as history.

Random: receipt day and hour (2025, including holidays and 调休 weekends), the 补正 path,
timely or late acceptance (deemed acceptance), up to two Art. 45 suspensions (closed or
still open), the day and hour of the extension, and the office-hours configuration.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from casestore.projections.facts.casefacts import CaseFacts
from casestore.projections.readmodels.supervision.rules import case_flags
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from casestore.domain import DeadlinePassed
from casestore.domain.values import BUREAU_TZ, local_date
from casestore.service import CASE_COMMANDS, CaseService, Extend, SubmitCase
from casestore.store.application import CasestoreApp
from casestore.timelimits import ClockConfig
from tests.conftest import ADMIN, APPLICANT, APPROVER, CATALOGUE, CLERK, REVIEWER, FakeClock


@pytest.fixture(scope="module")
def desk() -> Iterator[tuple[CaseService, FakeClock]]:
    with tempfile.TemporaryDirectory() as tmp:
        app = CasestoreApp(f"sqlite:///{Path(tmp) / 'law.db'}")
        clock = FakeClock()
        service = CaseService(app, clock=clock)
        service.load_catalogue(CATALOGUE, ADMIN)
        yield service, clock
        app.close()


def moment(day: int, minutes: int) -> datetime:
    base = datetime(2025, 1, 2, tzinfo=BUREAU_TZ) + timedelta(days=day)
    return base + timedelta(minutes=minutes)


@st.composite
def histories(draw: st.DrawFn) -> dict[str, Any]:
    minutes = st.integers(min_value=8 * 60, max_value=20 * 60)
    received = draw(st.integers(min_value=0, max_value=330))
    steps: list[tuple[int, int, str, dict[str, Any]]] = []
    day = received
    if draw(st.booleans()):
        day += draw(st.integers(min_value=0, max_value=9))
        steps.append((day, draw(minutes), "supplement-request", {"missing": ["材料"]}))
        day += draw(st.integers(min_value=0, max_value=9))
        steps.append((day, draw(minutes), "supplement", {"materials": ["材料"]}))
    day += draw(st.integers(min_value=0, max_value=12))
    steps.append((day, draw(minutes), "accept", {}))
    for _ in range(draw(st.integers(min_value=0, max_value=2))):
        day += draw(st.integers(min_value=0, max_value=15))
        steps.append(
            (day, draw(minutes), "suspend", {"kind": "expert_review", "legal_basis": "45"})
        )
        length = draw(st.one_of(st.none(), st.integers(min_value=0, max_value=12)))
        if length is None:
            break
        day += length
        steps.append((day, draw(minutes), "resume", {"result": "完成"}))
    day += draw(st.integers(min_value=0, max_value=25))
    extend = (day, draw(minutes))
    # Half the time aim at the statutory due day itself (where the close-of-business rule
    # and the last-day rules decide), at an hour around the closing time.
    aim = draw(st.one_of(st.none(), st.integers(min_value=16 * 60, max_value=19 * 60)))
    cfg = ClockConfig(
        after_hours_next_day=draw(st.booleans()),
        close_of_business=draw(st.booleans()),
        office_closes=draw(st.sampled_from(["17:00", "17:30", "18:00"])),
    )
    item = draw(st.sampled_from(["XK-007", "XK-011", "XK-017"]))
    return {
        "received": (received, draw(minutes)),
        "steps": steps,
        "extend": extend,
        "aim": aim,
        "cfg": cfg,
        "item": item,
    }


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(histories())
def test_write_side_extension_judgement_agrees_with_s10(
    desk: tuple[CaseService, FakeClock], history: dict[str, Any]
) -> None:
    service, clock = desk
    cfg: ClockConfig = history["cfg"]
    service.clock_config = cfg
    last = moment(*history["received"])
    # Business times are claimed (occurred_at); the server clock stays after all of them.
    clock.now = max(clock.now, datetime(2026, 12, 1, tzinfo=BUREAU_TZ))
    cid = service.handle(
        SubmitCase(actor=CLERK, item_code=history["item"], applicant=APPLICANT, occurred_at=last)
    ).case_id
    roles = {"suspend": REVIEWER, "resume": REVIEWER}
    for day, minutes, action, payload in history["steps"]:
        when = max(moment(day, minutes), last + timedelta(minutes=1))
        last = when
        actor = roles.get(action, CLERK)
        service.handle(CASE_COMMANDS[action](actor=actor, case_id=cid, occurred_at=when, **payload))
    granted_at = max(moment(*history["extend"]), last + timedelta(minutes=1))
    if history["aim"] is not None:
        due = service.statutory_due(service.case(cid), local_date(last))
        aimed = datetime.combine(due, datetime.min.time(), BUREAU_TZ)
        granted_at = max(aimed + timedelta(minutes=history["aim"]), last + timedelta(minutes=1))
    payload = {"days": 5, "reason": "情况复杂"}
    try:
        service.handle(
            Extend(actor=APPROVER, case_id=cid, days=5, reason="情况复杂", occurred_at=granted_at)
        )
        refused = False
    except DeadlinePassed:
        refused = True
        case = service.case(cid)
        case.record_imported(
            "ExtensionGranted",
            actor=APPROVER,
            at=clock(),
            occurred_at=granted_at,
            fields=payload,
        )
        service.app.save(case)
    event("refused as late" if refused else "granted")
    events = service.app.domain_events(cid)
    facts = CaseFacts.fold(str(cid), [(e, e.originator_version) for e in events])
    today = local_date(granted_at)
    late = [
        f
        for f in case_flags(facts, service.calendar, today, cfg)
        if f.rule == "S10" and "after the statutory due" in f.detail
    ]
    assert bool(late) == refused, (history, [f.detail for f in late])
    # The statutory due the write side judged against is the read side's S10 basis.
    if refused:
        due = service.statutory_due(service.case(cid), today)
        assert f"after the statutory due {due}" in late[0].detail
