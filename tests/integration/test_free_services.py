"""Free services and fees (issue 17 item 4): 免费刻章, 免费邮寄, 限价复印 recorded per case
with the cost to the applicant and to the bureau; S19 flags a charge above the declared
price, on both backends, through the stored log and the supervision projection.

Declared prices (README): seal engraving and mailing free, copying at most 50 fen a page.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from uuid import UUID

import pytest
from casestore.projections.engine.db import ViewDB, create_target
from casestore.projections.readmodels.supervision.projection import (
    SupervisionProjection,
    SupervisionView,
)
from casestore.projections.runtime.logsource import LogSource
from casestore.projections.runtime.worker import Worker

from casestore.domain import Forbidden, InvalidCommand
from casestore.domain.values import BUREAU_TZ
from casestore.service import CaseService, SubmitCase
from casestore.service.commands import Accept, ProvideService
from casestore.store.application import CasestoreApp
from casestore.timelimits.supervision_config import SupervisionConfig
from tests.conftest import APPLICANT, CLERK, DISPATCHER, REVIEWER, FakeClock


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=BUREAU_TZ)


def _case(service: CaseService, clock: FakeClock) -> UUID:
    clock.now = at("2025-10-09T09:00")
    case_id = service.handle(
        SubmitCase(actor=CLERK, item_code="XK-003", applicant=APPLICANT)
    ).case_id
    service.handle(Accept(actor=CLERK, case_id=case_id))
    return case_id


def _give(svc: CaseService, case_id: UUID, actor: Any = CLERK, **fields: Any) -> int:
    return svc.handle(ProvideService(actor=actor, case_id=case_id, **fields)).position


def _flags(
    url: str, config: SupervisionConfig | None = None, target: str = ""
) -> list[dict[str, Any]]:
    app = CasestoreApp(url)
    source, db = LogSource(app), ViewDB(url)
    projection = SupervisionProjection(config=config)
    try:
        create_target(db, projection, target, kind="target" if target else "live")
        Worker(source, db, projection, target=target, batch=3).catch_up()
        return SupervisionView(db, target=target).flags(rule="S19", today=date(2025, 10, 10))
    finally:
        source.close()
        app.close()
        db.close()


def test_services_are_recorded_with_both_costs(service: CaseService, clock: FakeClock) -> None:
    case_id = _case(service, clock)
    _give(service, case_id, service="seal_engraving", units=2, bureau_cost_fen=6000)
    _give(
        service,
        case_id,
        DISPATCHER,
        service="mailing",
        charged_fen=0,
        bureau_cost_fen=1200,
        note="SF1001",
    )
    _give(service, case_id, service="copying", units=10, charged_fen=500, bureau_cost_fen=300)
    given = [e for e in service.events(case_id) if type(e).__name__ == "ServiceProvided"]
    assert [(e.service, e.units, e.charged_fen, e.bureau_cost_fen) for e in given] == [
        ("seal_engraving", 2, 0, 6000),
        ("mailing", 1, 0, 1200),
        ("copying", 10, 500, 300),
    ]
    assert given[1].note == "SF1001" and given[1].actor == DISPATCHER


@pytest.mark.parametrize(
    "bad",
    [
        {"service": "notary"},
        {"service": "copying", "units": 0},
        {"service": "copying", "units": 10_001},
        {"service": "mailing", "charged_fen": -1},
        {"service": "mailing", "bureau_cost_fen": 100_000_001},
        {"service": "mailing", "charged_fen": True},
        {"service": "mailing", "note": "x" * 2001},  # the domain's bound, not only the API's
        {"service": "mailing", "note": "号" * 2001},  # characters, not bytes
    ],
)
def test_a_bad_record_is_refused_and_nothing_appended(
    service: CaseService, clock: FakeClock, bad: dict[str, Any]
) -> None:
    case_id = _case(service, clock)
    head = service.head()[0]
    with pytest.raises(InvalidCommand):
        _give(service, case_id, **bad)
    assert service.head()[0] == head


def test_a_note_of_2000_characters_is_kept_whole(service: CaseService, clock: FakeClock) -> None:
    case_id = _case(service, clock)
    _give(service, case_id, service="mailing", note="号" * 2000)
    assert service.app.domain_events(case_id)[-1].note == "号" * 2000


def test_a_reviewer_may_not_record_a_service(service: CaseService, clock: FakeClock) -> None:
    case_id = _case(service, clock)
    with pytest.raises(Forbidden):
        _give(service, case_id, REVIEWER, service="mailing")


def test_s19_flags_a_charge_above_the_declared_price(
    service: CaseService, clock: FakeClock, store_url: str
) -> None:
    free = _case(service, clock)
    clock.now = at("2025-10-09T11:00")
    _give(service, free, service="seal_engraving", units=1, bureau_cost_fen=3000)  # free: ok
    charged = _give(service, free, service="mailing", charged_fen=1500, bureau_cost_fen=1500)
    capped = _case(service, clock)
    clock.now = at("2025-10-09T15:30")
    _give(service, capped, service="copying", units=10, charged_fen=500)  # 10 × 50: at the cap
    over = _give(service, capped, service="copying", units=10, charged_fen=501)

    flags = _flags(store_url)
    by_case = {f["case_id"]: f for f in flags}
    assert set(by_case) == {str(free), str(capped)}
    mailing, copying = by_case[str(free)], by_case[str(capped)]
    assert mailing["severity"] == "high" and mailing["evidence"] == [charged]
    # the inspector reads Chinese; the English and the machine-readable fields stay
    assert mailing["detail"] == "邮寄1件收费1500分，该服务已公布为免费"
    assert mailing["title_zh"] == "免费或限价惠民服务超标准收费"
    assert mailing["detail_en"] == "mailing: charged 1500 fen for 1 unit(s), declared free"
    assert mailing["detail_facts"] == {
        "key": "S19",
        "service": "mailing",
        "charged": 1500,
        "units": 1,
        "price": 0,
    }
    assert mailing["raised_at"].startswith("2025-10-09T03:00:00")  # 11:00 in the bureau
    assert copying["evidence"] == [over]
    assert copying["detail"] == "复印10页收费501分，公布限价每页50分"
    assert copying["detail_en"] == (
        "copying: charged 501 fen for 10 unit(s), declared at most 50 fen per unit"
    )
    # a bureau that declares copying free too flags the 500 fen as well
    strict = _flags(store_url, SupervisionConfig(copying_price_fen=0), target="strict")
    assert sorted(f["evidence"][0] for f in strict if f["case_id"] == str(capped)) == sorted(
        [over - 1, over]
    )
