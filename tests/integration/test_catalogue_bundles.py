"""Catalogue revisions never rewrite an accepted case's limits; bundles open atomically."""

from __future__ import annotations

import pytest

from casestore.domain import Bundle, Case, Forbidden, InvalidCommand, Item, NotFound, item_id
from casestore.service import CaseService
from casestore.store.application import CasestoreApp
from tests.conftest import ADMIN, APPLICANT, APPROVER, CLERK, FakeClock


def test_revision_is_audited_and_old_cases_keep_their_limits(
        app: CasestoreApp, service: CaseService, clock: FakeClock) -> None:
    early = service.submit(CLERK, item_code="XK-003", applicant=APPLICANT)
    service.execute("accept", early.case_id, CLERK)
    item = app.get(Item, item_id("XK-003"))
    old_promised = item.spec["promised_days"]
    item.revise(changes={"promised_days": old_promised + 3}, reason="承诺时限调整", actor=ADMIN,
                at=clock())
    app.save(item)
    late = service.submit(CLERK, item_code="XK-003", applicant=APPLICANT)
    service.execute("accept", late.case_id, CLERK)
    assert service.case(early.case_id).limits.promised_days == old_promised  # type: ignore[union-attr]
    assert service.case(late.case_id).limits.promised_days == old_promised + 3  # type: ignore[union-attr]
    revised = app.domain_events(item_id("XK-003"))[-1]
    assert isinstance(revised, Item.Revised) and revised.actor == ADMIN
    assert revised.changes == {"promised_days": old_promised + 3}
    with pytest.raises(InvalidCommand):
        item.revise(changes={"promised_days": old_promised + 3}, reason="无变化", actor=ADMIN,
                    at=clock())


def test_reloading_the_catalogue_is_idempotent(service: CaseService) -> None:
    from tests.conftest import CATALOGUE

    assert service.load_catalogue(CATALOGUE, ADMIN) == {"published": 0, "revised": 0,
                                                         "unchanged": 22}
    with pytest.raises(Forbidden):
        service.load_catalogue(CATALOGUE, CLERK)


def test_unknown_item_is_refused(app: CasestoreApp, service: CaseService) -> None:
    head = app.log.head()
    with pytest.raises(NotFound):
        service.submit(CLERK, item_code="NOPE", applicant=APPLICANT)
    assert app.log.head() == head


def test_bundle_opens_children_in_one_transaction(app: CasestoreApp,
                                                  service: CaseService) -> None:
    head = app.log.head()[0]
    opened = service.submit_bundle(CLERK, bundle_code="YJS-001", applicant=APPLICANT,
                                   materials=["申请书"])
    bundle = app.get(Bundle, opened["bundle_id"])
    assert set(bundle.children) == {"XK-001", "XK-003", "XK-019"}
    for code, child in opened["children"].items():
        case = app.get(Case, child["case_id"])
        assert (case.item_code, case.bundle_id) == (code, bundle.id)
    assert app.log.head()[0] == head + 1 + 2 * 3  # bundle + (case, number) per item
    bundle.extend(reason="联合审查", actor=APPROVER, at=FakeClock()())
    app.save(bundle)
    assert app.get(Bundle, bundle.id).extended
