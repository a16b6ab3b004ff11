"""The law at its edges (issue 19) through the HTTP API, on SQLite and PostgreSQL, with the
projections running (flags and the bundle view are read from the read models).

Expected dates are counted by hand (see tests/integration/test_legal_boundaries.py for the
2025 calendar used): nothing here is read back from the code under test.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest

from casestore.domain.values import BUREAU_TZ
from tests.api.support import APPLICANT, CATALOGUE, SECRET, Api, SimClock


def make_api(db: Path | str, *, workers: bool = False) -> Api:
    """``support.make_api`` with the server clock starting 2025-01-01, before every business
    time used here: recorded times stay monotonic, as ``as_of`` reads assume."""
    from casestore.api.app import create_app

    from casestore.domain import Actor

    clock = SimClock(datetime(2025, 1, 1, 1, 0, tzinfo=BUREAU_TZ))
    url = db if isinstance(db, str) else f"sqlite:///{db}"
    app = create_app(url, secret=SECRET, workers=workers, clock=clock)
    app.state.casestore.service.load_catalogue(CATALOGUE, Actor("catalogue", "admin"))
    return Api(app, clock)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=BUREAU_TZ)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.pg)])
def law_api(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Api]:
    url: Path | str = tmp_path / "api.db"
    if request.param == "postgres":
        url = request.getfixturevalue("pg_app_db_url")
    client = make_api(url, workers=True)
    yield client
    client.close()


def submit(api: Api, when: str, item: str = "XK-011") -> str:
    api.clock.now = at(when)
    return str(api.submit(item)["case_id"])


def command(api: Api, cid: str, when: str, action: str, role: str, **body: Any) -> Any:
    api.clock.now = at(when)
    return api.post(f"/cases/{cid}/{action}", role, json=body)


def clock(api: Api, cid: str, day: str) -> dict[str, Any]:
    r = api.get(f"/cases/{cid}/clock", "clerk", params={"as_of": f"{day}T23:00:00+08:00"})
    assert r.status_code == 200, r.text
    data: dict[str, Any] = r.json()
    return data


def rules(api: Api, cid: str, day: str) -> set[str]:
    api.sync()
    r = api.get("/supervision/flags", "inspector", params={"case": cid, "today": day})
    assert r.status_code == 200, r.text
    return {f["rule"] for f in r.json()["flags"]}


def test_extensions_with_a_suspension_and_after_a_deemed_deadline(law_api: Api) -> None:
    api = law_api
    # Accepted 3-3 (due 3-31), suspended 3-27 and still suspended on 4-10: in time.
    cid = submit(api, "2025-03-03T09:00")
    assert command(api, cid, "2025-03-03T10:00", "accept", "clerk").status_code == 200
    r = command(
        api,
        cid,
        "2025-03-27T10:00",
        "suspend",
        "reviewer",
        kind="expert_review",
        legal_basis="行政许可法第四十五条",
        notified_at="2025-03-27T10:00:00+08:00",
        notice_method="mail",
        expected_days=10,
    )
    assert r.status_code == 200, r.text
    r = command(
        api,
        cid,
        "2025-04-10T10:00",
        "extend",
        "approver",
        days=10,
        reason="专家评审意见分歧",
        applicant_told_at="2025-04-10T10:00:00+08:00",
        told_how="electronic",
    )
    assert r.status_code == 200, r.text
    assert "S10" not in rules(api, cid, "2025-04-10")
    # Received Fri 9-26, accepted only 10-31: deemed accepted from 9-26, due 10-30.
    late = submit(api, "2025-09-26T10:00")
    command(api, late, "2025-10-31T10:00", "accept", "clerk")
    head = api.head()
    r = command(api, late, "2025-11-03T10:00", "extend", "approver", days=10, reason="复杂")
    assert r.status_code == 409 and r.json()["type"].endswith("deadline-passed"), r.text
    assert "2025-10-30" in r.json()["detail"] and api.head() == head
    view = clock(api, late, "2025-11-03")
    assert view["deemed_accepted"] and view["statutory"]["due"] == "2025-10-30"
    assert view["statutory"]["article"] == "行政许可法第四十二条第一款"
    assert view["statutory"]["explanation"]["article"] == "行政许可法第四十二条第一款"
    # Bounded at the door: an unknown notice method is a 422 and appends nothing.
    r = command(
        api,
        cid,
        "2025-04-11T10:00",
        "suspend",
        "reviewer",
        kind="hearing",
        legal_basis="45",
        notified_at="2025-04-11T10:00:00+08:00",
        notice_method="fax",
    )
    assert r.status_code == 422


def test_saturday_supplements_and_the_last_day_suspension(law_api: Api) -> None:
    api = law_api
    cid = submit(api, "2025-03-03T09:00")
    command(api, cid, "2025-03-04T10:00", "supplement-request", "clerk", missing=["营业执照副本"])
    command(api, cid, "2025-03-15T10:00", "supplement", "clerk", materials=["营业执照副本"])
    command(api, cid, "2025-03-17T09:00", "accept", "clerk")
    view = clock(api, cid, "2025-03-17")
    assert view["acceptance"]["due"] == "2025-03-17" and not view["acceptance"]["late"]
    assert not view["deemed_accepted"]
    assert "S03" not in rules(api, cid, "2025-03-17")
    # XK-007, 7 working days from 3-10 end 3-19; suspended that day, resumed 3-24.
    last = submit(api, "2025-03-10T09:00", "XK-007")
    command(api, last, "2025-03-10T10:00", "accept", "clerk")
    r = command(
        api,
        last,
        "2025-03-19T10:00",
        "suspend",
        "reviewer",
        kind="expert_review",
        legal_basis="45",
        notified_at="2025-03-19T10:00:00+08:00",
    )
    assert r.status_code == 200, r.text
    command(api, last, "2025-03-24T09:00", "resume", "reviewer", result="完成")
    assert (
        command(api, last, "2025-03-24T10:00", "decide", "approver", outcome="approve").status_code
        == 200
    )
    view = clock(api, last, "2025-03-24")
    assert view["statutory"]["due"] == "2025-03-24" and view["statutory"]["on_time"] is True
    assert any("last counted day" in n for n in view["statutory"]["notes"])
    assert "S02" not in rules(api, last, "2025-03-24")


def test_missing_notice_and_bad_review_without_follow_up(law_api: Api) -> None:
    api = law_api
    cid = submit(api, "2025-03-03T09:00")
    command(api, cid, "2025-03-03T10:00", "accept", "clerk")
    command(api, cid, "2025-03-05T10:00", "suspend", "reviewer", kind="hearing", legal_basis="45")
    # Default 3 working days for the notice: 3-6 3-7 3-10.
    assert "S17" not in rules(api, cid, "2025-03-10")
    assert "S17" in rules(api, cid, "2025-03-11")
    bad = submit(api, "2025-09-26T09:00", "XK-001")
    for when, action, role, body in (
        ("09:10", "accept", "clerk", {}),
        ("09:20", "decide", "approver", {"outcome": "approve"}),
        (
            "09:30",
            "seal",
            "sealer",
            {"seal_id": "XZSP-SEAL-001", "document_no": "XK-9", "document_sha256": "a" * 64},
        ),
        ("09:40", "deliver", "dispatcher", {"method": "window_pickup", "recipient": "李四"}),
        ("10:00", "evaluate", "clerk", {"level": 5, "channel": "window"}),
    ):
        r = command(api, bad, f"2025-09-26T{when}", action, role, **body)
        assert r.status_code == 200, (action, r.text)
    assert "S18" not in rules(api, bad, "2025-09-28")  # Sunday 9-28 is a working day
    assert "S18" in rules(api, bad, "2025-09-29")


def test_bundle_extension_and_a_childs_suspension(law_api: Api) -> None:
    api = law_api
    approval = {
        "approved_by": "旬阳市人民政府副市长 王某",
        "approval_document": "旬政审〔2025〕12号",
    }
    api.clock.now = at("2025-03-03T09:00")
    r = api.post("/bundles", "clerk", json={"bundle_code": "YJS-002", "applicant": APPLICANT})
    assert r.status_code == 201, r.text
    bundle = r.json()["bundle_id"]
    # A second bundle whose child is suspended 4-1..4-8: its joint clock ends 5-14.
    api.clock.now = at("2025-03-03T09:30")
    r = api.post("/bundles", "clerk", json={"bundle_code": "YJS-002", "applicant": APPLICANT})
    other, child = r.json()["bundle_id"], r.json()["children"]["XK-017"]["case_id"]
    command(api, child, "2025-03-04T10:00", "accept", "clerk")
    command(api, child, "2025-04-01T10:00", "suspend", "reviewer", kind="testing", legal_basis="45")
    command(api, child, "2025-04-08T10:00", "resume", "reviewer", result="检测完成")
    # The first bundle: 45 working days from 3-03 end 5-08.
    url = f"/bundles/{bundle}/extend"
    api.clock.now = at("2025-05-09T10:00")
    assert api.post(url, "approver", json={"reason": "会审"}).status_code == 422  # no approval
    head = api.head()
    r = api.post(url, "approver", json={"reason": "会审", **approval})
    assert r.status_code == 409 and "2025-05-08" in r.json()["detail"], r.text
    assert api.head() == head
    api.clock.now = at("2025-05-12T10:00")
    api.sync()
    view = api.get(f"/bundles/{other}", "clerk", params={"today": "2025-05-12"}).json()
    assert view["clock"]["statutory"]["due"] == "2025-05-14"
    assert view["clock"]["statutory"]["article"] == "行政许可法第四十二条第二款"
    api.clock.now = at("2025-05-14T10:00")
    r = api.post(f"/bundles/{other}/extend", "approver", json={"reason": "会审", **approval})
    assert r.status_code == 200, r.text
    api.sync()
    view = api.get(f"/bundles/{other}", "clerk", params={"today": "2025-05-14"}).json()
    assert view["clock"]["statutory"]["approved_by"] == approval["approved_by"]
    assert view["clock"]["statutory"]["extension_days"] == 15
    # Judged by the read side as the write side judged it; 15 more working days after
    # 5-14 (端午 5-31..6-2 off): 5-15 16, 19..23, 26..30, 6-03 04 05.
    extension = view["clock"]["statutory"]["extension"]
    assert (extension["joint_due"], extension["in_time"]) == ("2025-05-14", True)
    assert view["clock"]["statutory"]["due"] == "2025-06-05"


@pytest.mark.parametrize(
    ("setting", "due", "deemed"), [("false", "2025-03-11", True), ("true", "2025-03-12", False)]
)
@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.pg)])
def test_after_hours_receipt_with_each_configuration(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    backend: str,
    setting: str,
    due: str,
    deemed: bool,
) -> None:
    monkeypatch.setenv("CASESTORE_CLOCK_AFTER_HOURS_NEXT_DAY", setting)
    url: Path | str = tmp_path / "api.db"
    if backend == "postgres":
        url = request.getfixturevalue("pg_app_db_url")
    api = make_api(url)
    try:
        cid = submit(api, "2025-03-04T18:00")
        command(api, cid, "2025-03-12T09:00", "accept", "clerk")
        view = clock(api, cid, "2025-03-12")
        assert view["acceptance"]["due"] == due and view["deemed_accepted"] is deemed
        assert any("非工作时间收件顺延" in n for n in view["acceptance"]["notes"]) is not deemed
    finally:
        api.close()


def test_zero_day_deadline_ends_on_the_next_working_day(law_api: Api) -> None:
    # 即办件 XK-001 accepted on Saturday 10-4 (in the 国庆 holiday, extended hours): due 10-9.
    api = law_api
    cid = submit(api, "2025-10-04T10:00", "XK-001")
    command(api, cid, "2025-10-04T10:10", "accept", "clerk")
    view = clock(api, cid, "2025-10-04")
    assert view["promised"]["due"] == "2025-10-09"
    assert date.fromisoformat(view["statutory"]["due"]) > date(2025, 10, 9)
