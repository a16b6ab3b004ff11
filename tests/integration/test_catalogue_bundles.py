"""Catalogue revisions never rewrite an accepted case's limits; bundles open atomically."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from casestore.cli import app as cli
from casestore.domain import Bundle, Case, Forbidden, InvalidCommand, Item, NotFound, item_id
from casestore.service import Accept, CaseService, LoadCatalogue, SubmitBundle, SubmitCase
from casestore.store.application import CasestoreApp
from tests.conftest import ADMIN, APPLICANT, APPROVER, CATALOGUE, CLERK, FakeClock


def test_revision_is_audited_and_old_cases_keep_their_limits(
        app: CasestoreApp, service: CaseService, clock: FakeClock) -> None:
    early = service.handle(SubmitCase(actor=CLERK, item_code="XK-003", applicant=APPLICANT))
    service.handle(Accept(case_id=early.case_id, actor=CLERK))
    item = app.get(Item, item_id("XK-003"))
    old_promised = item.spec["promised_days"]
    item.revise(changes={"promised_days": old_promised + 3}, reason="承诺时限调整", actor=ADMIN,
                at=clock())
    app.save(item)
    late = service.handle(SubmitCase(actor=CLERK, item_code="XK-003", applicant=APPLICANT))
    service.handle(Accept(case_id=late.case_id, actor=CLERK))
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

    assert service.load_catalogue(CATALOGUE, ADMIN) == {
        "items": {"published": 0, "revised": 0, "unchanged": 22},
        "bundles": {"published": 0, "revised": 0, "unchanged": 22},
    }
    with pytest.raises(Forbidden):
        service.load_catalogue(CATALOGUE, CLERK)


def test_unknown_item_is_refused(app: CasestoreApp, service: CaseService) -> None:
    head = app.log.head()
    with pytest.raises(NotFound):
        service.handle(SubmitCase(actor=CLERK, item_code="NOPE", applicant=APPLICANT))
    assert app.log.head() == head


def test_bundle_opens_children_in_one_transaction(app: CasestoreApp,
                                                  service: CaseService) -> None:
    head = app.log.head()[0]
    opened = service.handle(
        SubmitBundle(actor=CLERK, bundle_code="YJS-001", applicant=APPLICANT, materials=["申请书"])
    )
    bundle = app.get(Bundle, opened.bundle_id)
    assert set(bundle.children) == {"XK-001", "XK-003", "XK-019"}
    for code, child in opened.children.items():
        case = app.get(Case, child.case_id)
        assert (case.item_code, case.bundle_id) == (code, bundle.id)
    assert app.log.head()[0] == head + 1 + 2 * 3  # bundle + (case, number) per item
    bundle.extend(reason="联合审查", approved_by="副县长 张三",
                  approval_document="旬政审〔2025〕1号", joint_due=date(2025, 5, 8),
                  in_time=True, actor=APPROVER, at=FakeClock()())
    app.save(bundle)
    assert app.get(Bundle, bundle.id).extended


def test_a_bundle_published_by_the_cli_opens_in_a_process_that_never_loaded_it(
        store_url: str, tmp_path: Path) -> None:
    """The 404 "no bundle YJS-001" of a served process: bundle definitions live in the log."""
    catalogue = json.loads(CATALOGUE.read_text(encoding="utf-8"))
    result = CliRunner().invoke(cli, ["catalogue", "load", str(CATALOGUE), "--db", store_url])
    assert result.exit_code == 0, result.output
    served = CaseService(CasestoreApp(store_url))  # like `casestore serve`: loads nothing
    try:
        opened = served.handle(SubmitBundle(actor=CLERK, bundle_code="YJS-001",
                                            applicant=APPLICANT))
        assert set(opened.children) == {"XK-001", "XK-003", "XK-019"}
        bundle = served.bundle(opened.bundle_id)
        first = served.events(bundle.id)[0]
        assert (first.name, first.promised_days) == ("开办餐馆一件事", 10)
        # a revision published later by another process reaches the served one
        catalogue["bundles"][0]["promised_days"] = 8
        revised = tmp_path / "revised.json"
        revised.write_text(json.dumps(catalogue, ensure_ascii=False), encoding="utf-8")
        result = CliRunner().invoke(cli, ["catalogue", "load", str(revised), "--db", store_url])
        assert result.exit_code == 0, result.output
        assert "'bundles': {'published': 0, 'revised': 1, 'unchanged': 21}" in result.output
        again = served.handle(SubmitBundle(actor=CLERK, bundle_code="YJS-001",
                                           applicant=APPLICANT))
        assert served.events(again.bundle_id)[0].promised_days == 8
        assert served.events(bundle.id)[0].promised_days == 10  # an opened bundle keeps its own
        with pytest.raises(NotFound, match="no bundle YJS-404"):
            served.handle(SubmitBundle(actor=CLERK, bundle_code="YJS-404", applicant=APPLICANT))
    finally:
        served.close()


def test_a_bundle_definition_is_validated_and_refused_whole(service: CaseService,
                                                           app: CasestoreApp) -> None:
    head = app.log.head()
    bad_item = {"code": "YJS-900", "name": "坏", "items": ["XK-001", "XK-404"],
                "statutory_days": 45, "promised_days": 5}
    one_item = {**bad_item, "items": ["XK-001"]}
    new_item = {"code": "XK-900", "name": "新事项", "kind": "行政许可", "case_type": "promised",
                "statutory_days": 20, "promised_days": 5, "needs_survey": False,
                "survey_days": 0, "joint": False, "materials": [], "pause_kinds": []}
    for bundle in (bad_item, one_item):
        with pytest.raises(InvalidCommand):
            service.handle(LoadCatalogue(actor=ADMIN, items=[new_item], bundles=[bundle]))
    assert app.log.head() == head  # the new item was not published either
    with pytest.raises(Forbidden):
        service.handle(LoadCatalogue(actor=CLERK, items=[new_item]))
