"""case_status: one row per case that agrees with the aggregate, searchable page by page."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from casestore.projections.engine.base import LogEvent
from casestore.projections.engine.db import ViewDB, create_target, snapshot
from casestore.projections.readmodels.case_status.projection import (
    PROJECTION,
    CaseStatusProjection,
    CaseStatusView,
    mask_name,
)
from casestore.projections.runtime.logsource import LogSource
from casestore.projections.runtime.worker import Worker, rebuild_into

from casestore.domain import Case, InvalidCommand
from casestore.domain.values import Party
from casestore.service import CaseService, SubmitBundle
from tests.integration.test_projection_workload import CLERKS, drive, open_service

#: The README's case statuses ("Read side"), by stage, written by hand; an open
#: suspension shows as ``suspended`` until the case closes.
STATUS = {
    "received": "pending",
    "supplementing": "pending",
    "accepted": "in_progress",
    "under_review": "in_progress",
    "decided": "in_progress",
    "sealed": "in_progress",
    "delivered": "completed",
    "rejected": "rejected",
    "withdrawn": "withdrawn",
    "denied": "denied",
}
CLOSED = {"delivered", "rejected", "withdrawn", "denied"}


def expected_status(stage: str, suspended: bool) -> str:
    return "suspended" if suspended and stage not in CLOSED else STATUS[stage]


@pytest.fixture
def built(tmp_path: Path) -> Iterator[tuple[CaseService, ViewDB, list[Any]]]:
    url = f"sqlite:///{tmp_path}/cs.db"
    service = open_service(url)
    ids = drive(service, 40, seed=17)
    db = ViewDB(url)
    source = LogSource(service.app)
    rebuild_into(source, db, PROJECTION, batch=33)
    yield service, db, ids
    source.close()
    db.close()


def test_every_row_agrees_with_its_aggregate(built: tuple[CaseService, ViewDB, list[Any]]) -> None:
    service, db, ids = built
    view = CaseStatusView(db)
    for cid in ids:
        case = service.app.get(Case, cid)
        row = view.get(str(cid))
        assert row is not None
        assert (row["case_no"], row["item_code"], row["stage"], row["version"]) == (
            case.case_no,
            case.item_code,
            case.stage,
            case.version,
        )
        assert row["status"] == expected_status(case.stage, case.suspended), case.stage
        assert row["suspended"] is case.suspended
        assert row["accepted_on"] == (case.accepted_on.isoformat() if case.accepted_on else None)
        assert row["item_name"]  # from the catalogue
        assert row["applicant_masked"] == "王**"
        assert view.by_case_no(case.case_no) == row
    assert view.get("00000000-0000-0000-0000-000000000000") is None


def test_no_personal_data_is_stored(built: tuple[CaseService, ViewDB, list[Any]]) -> None:
    _, db, _ = built
    text = repr(snapshot(db, PROJECTION))
    assert "110101199001011234" not in text and "王小明" not in text


def test_search_pages_through_every_case_once_newest_first(
    built: tuple[CaseService, ViewDB, list[Any]],
) -> None:
    _, db, ids = built
    view = CaseStatusView(db)
    seen: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = view.search(limit=7, cursor=cursor)
        seen += page.items
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert sorted(r["case_id"] for r in seen) == sorted(str(i) for i in ids)
    keys = [(r["submitted_at"], r["case_id"]) for r in seen]
    assert keys == sorted(keys, reverse=True)
    window = CLERKS[0].window
    in_window = view.search(window=window, limit=500).items
    assert in_window and all(r["intake_window"] == window for r in in_window)
    assert view.counts("window")[window] == len(in_window)
    completed = view.search(status="completed", limit=500).items
    assert all(r["stage"] == "delivered" for r in completed)
    assert sum(view.counts("status").values()) == len(ids)


def test_search_refuses_bad_input(built: tuple[CaseService, ViewDB, list[Any]]) -> None:
    view = CaseStatusView(built[1])
    with pytest.raises(InvalidCommand):
        view.search(cursor="not-a-cursor")
    with pytest.raises(InvalidCommand):
        view.search(colour="red")
    with pytest.raises(InvalidCommand):
        view.search(limit=0)
    with pytest.raises(InvalidCommand):
        view.counts("applicant_masked")


def test_changes_list_each_case_once_in_log_order(
    built: tuple[CaseService, ViewDB, list[Any]],
) -> None:
    _, db, ids = built
    view = CaseStatusView(db)
    changes = view.changes(0, limit=1000)
    assert len(changes) == len(ids)
    positions = [c["last_position"] for c in changes]
    assert positions == sorted(positions)
    middle = positions[len(positions) // 2]
    assert [c["last_position"] for c in view.changes(middle, limit=1000)] == [
        p for p in positions if p > middle
    ]
    one = changes[0]["case_id"]
    assert [c["case_id"] for c in view.changes(0, case_id=one)] == [one]


def test_row_hooks_fill_extra_columns(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/hooks.db"
    service = open_service(url)
    drive(service, 5, seed=1)

    def warn(row: dict[str, Any], event: LogEvent) -> None:
        row["warning"] = "yellow" if row["stage"] == "accepted" else None

    CaseStatusProjection.row_hooks.append(warn)
    db = ViewDB(url)
    source = LogSource(service.app)
    try:
        rebuild_into(source, db, PROJECTION)
    finally:
        CaseStatusProjection.row_hooks.remove(warn)
    rows = CaseStatusView(db).search(limit=50).items
    assert {r["warning"] for r in rows if r["stage"] == "accepted"} == {"yellow"}
    assert all(r["warning"] is None for r in rows if r["stage"] != "accepted")
    source.close()
    db.close()


def test_bundle_children_carry_their_bundle(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/b.db"
    service = open_service(url)
    opened = service.handle(SubmitBundle(actor=CLERKS[0], bundle_code="YJS-001", applicant=Party(**{
            "name": "某餐饮有限公司",
            "id_type": "uscc",
            "id_number": "91X",
            "kind": "organisation",
        })))
    db = ViewDB(url)
    source = LogSource(service.app)
    rebuild_into(source, db, PROJECTION)
    rows = CaseStatusView(db).search(bundle_id=str(opened.bundle_id), limit=50).items
    assert len(rows) == len(opened.children) >= 2
    assert {r["applicant_masked"] for r in rows} == {"某餐饮有限公司"}  # organisations are public
    source.close()
    db.close()


def test_masking() -> None:
    assert mask_name("欧阳娜娜") == "欧***"
    assert mask_name("Ann Lee") == "A** ***"
    assert mask_name("") == ""
    assert mask_name("某公司", "organisation") == "某公司"


@pytest.mark.parametrize("cache", [0, 3, 20_000])
def test_row_cache_and_write_behind_do_not_change_the_view(
    built: tuple[CaseService, ViewDB, list[Any]], cache: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A tiny cache evicts (and writes behind) all the time; none gives the same rows."""
    service, db, _ = built
    expected = snapshot(db, PROJECTION)
    monkeypatch.setattr("casestore.projections.readmodels.case_status.projection.ROW_CACHE", cache)
    source = LogSource(service.app)
    rebuild_into(source, db, PROJECTION, target="small", batch=7)
    assert snapshot(db, PROJECTION, "small") == expected
    worker = Worker(source, db, PROJECTION, target="small", batch=5)
    assert worker.position == service.app.log.head()[0]
    source.close()


def test_live_batches_with_a_tiny_cache_equal_a_rebuild(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path}/live.db"
    service = open_service(url)
    db = ViewDB(url)
    source = LogSource(service.app)
    monkeypatch.setattr("casestore.projections.readmodels.case_status.projection.LIVE_ROW_CACHE", 2)
    create_target(db, PROJECTION)
    worker = Worker(source, db, PROJECTION, batch=3)
    for seed in range(4):
        drive(service, 6, seed=seed)
        worker.catch_up()
    live = snapshot(db, PROJECTION)
    monkeypatch.setattr("casestore.projections.readmodels.case_status.projection.ROW_CACHE", 0)
    monkeypatch.setattr("casestore.projections.readmodels.case_status.projection.LIVE_ROW_CACHE", 0)
    rebuild_into(source, db, PROJECTION, target="check")
    assert live == snapshot(db, PROJECTION, "check")
    source.close()
    db.close()
