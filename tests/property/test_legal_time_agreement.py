"""For random cases, the write side's judgement of an extension's timeliness and the read
side's flags agree (issue 19): an extension the service accepts never raises S10, and one
it refuses as late is exactly what S10 flags once entered as history.

Random: receipt day and hour (2025, including holidays and 调休 weekends), the 补正 path,
timely or late acceptance (deemed acceptance), up to two Art. 45 suspensions (closed or
still open), the day and hour of the extension, and the office-hours configuration.
The same for a bundle's joint extension (Art. 42 ¶2): its children's Art. 45 pauses, the
moment of the extension and the close-of-business rule; the service's refusal and the
``bundles`` view's ``extension.in_time`` agree.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from casestore.projections.engine.db import ViewDB, create_target
from casestore.projections.facts.casefacts import CaseFacts
from casestore.projections.readmodels.bundles import PROJECTION as BUNDLES
from casestore.projections.readmodels.bundles import BundleView
from casestore.projections.readmodels.supervision.rules import case_flags
from casestore.projections.runtime.logsource import LogSource
from casestore.projections.runtime.worker import Worker
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from casestore.domain import DeadlinePassed
from casestore.domain.clocks import bundle_due
from casestore.domain.values import BUREAU_TZ, local_date
from casestore.service import (
    CASE_COMMANDS,
    CaseService,
    Extend,
    ExtendBundle,
    SubmitBundle,
    SubmitCase,
)
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


# -- bundles: the joint extension (Art. 42 ¶2) ------------------------------------------

APPROVAL = {"approved_by": "旬阳市人民政府副市长 王某", "approval_document": "旬政审〔2025〕7号"}


@st.composite
def bundle_histories(draw: st.DrawFn) -> dict[str, Any]:
    minutes = st.integers(min_value=8 * 60, max_value=20 * 60)
    opened = draw(st.integers(min_value=0, max_value=300))
    steps: list[tuple[str, int, int, str, dict[str, Any]]] = []
    order: list[tuple[int, int]] = []  # (day, step of its child): a child's steps stay in order
    for child in draw(st.lists(st.sampled_from(CHILDREN), min_size=1, max_size=2, unique=True)):
        day = opened + draw(st.integers(min_value=0, max_value=5))
        steps.append((child, day, draw(minutes), "accept", {}))
        order.append((day, 0))
        for _ in range(draw(st.integers(min_value=0, max_value=2))):
            day += draw(st.integers(min_value=0, max_value=30))
            pause = {"kind": "testing", "legal_basis": "45"}
            steps.append((child, day, draw(minutes), "suspend", pause))
            order.append((day, len(order)))
            length = draw(st.one_of(st.none(), st.integers(min_value=0, max_value=15)))
            if length is None:
                break
            day += length
            steps.append((child, day, draw(minutes), "resume", {"result": "完成"}))
            order.append((day, len(order)))
    steps = [step for _, step in sorted(zip(order, steps, strict=True), key=lambda p: p[0])]
    return {
        "opened": (opened, draw(minutes)),
        "steps": steps,
        "extend": (opened + draw(st.integers(min_value=40, max_value=100)), draw(minutes)),
        "aim": draw(st.one_of(st.none(), st.integers(min_value=16 * 60, max_value=19 * 60))),
        "cfg": ClockConfig(
            close_of_business=draw(st.booleans()),
            office_closes=draw(st.sampled_from(["17:00", "17:30", "18:00"])),
        ),
    }


CHILDREN = ("XK-002", "XK-003", "XK-017")


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(bundle_histories())
def test_write_side_bundle_extension_judgement_agrees_with_the_bundle_view(
    history: dict[str, Any],
) -> None:
    cfg: ClockConfig = history["cfg"]
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bundle.db'}"
        clock = FakeClock()
        service = CaseService(CasestoreApp(url), clock=clock, clock_config=cfg)
        source, db = LogSource(service.app), ViewDB(url)
        try:
            clock.now = moment(*history["opened"])  # a bundle opens at the server's time
            service.load_catalogue(CATALOGUE, ADMIN)
            opened = service.handle(
                SubmitBundle(actor=CLERK, bundle_code="YJS-002", applicant=APPLICANT)
            )
            clock.now = datetime(2026, 12, 1, tzinfo=BUREAU_TZ)  # later acts are claimed
            last = moment(*history["opened"])
            roles = {"suspend": REVIEWER, "resume": REVIEWER}
            for child, day, minutes, action, payload in history["steps"]:
                last = max(moment(day, minutes), last + timedelta(minutes=1))
                command = CASE_COMMANDS[action](
                    actor=roles.get(action, CLERK),
                    case_id=opened.children[child].case_id,
                    occurred_at=last,
                    **payload,
                )
                service.handle(command)
            granted_at = max(moment(*history["extend"]), last + timedelta(minutes=1))
            bundle = service.bundle(opened.bundle_id)
            if history["aim"] is not None:
                assert bundle.opened_on is not None
                children = service.bundle_children(bundle)
                due = bundle_due(
                    bundle.opened_on, 45, children, local_date(last), service.calendar
                ).due
                aimed = datetime.combine(due, datetime.min.time(), BUREAU_TZ)
                granted_at = max(aimed + timedelta(minutes=history["aim"]), granted_at)
                granted_at = min(granted_at, clock.now)
            try:
                service.handle(
                    ExtendBundle(
                        actor=APPROVER,
                        bundle_id=opened.bundle_id,
                        reason="联合会审",
                        occurred_at=granted_at,
                        **APPROVAL,
                    )
                )
                refused = False
            except DeadlinePassed:
                refused = True  # stored anyway, as the service did before issue 19
                bundle.extend(
                    reason="联合会审",
                    joint_due=date.max,
                    in_time=True,
                    actor=APPROVER,
                    at=clock(),
                    occurred_at=granted_at,
                    **APPROVAL,
                )
                service.app.save(bundle)
            event("bundle extension refused as late" if refused else "bundle extension granted")
            create_target(db, BUNDLES)
            Worker(source, db, BUNDLES).catch_up()
            view = BundleView(db, calendar=service.calendar, config=cfg)
            extension = view.get(str(opened.bundle_id), local_date(granted_at))["clock"][
                "statutory"
            ]["extension"]
            assert extension["in_time"] is not refused, (history, extension)
        finally:
            source.close()
            db.close()
            service.close()
