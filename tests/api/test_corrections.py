"""Corrections are bitemporal: views show the corrected value with a mark and a link, a view
as of before the correction shows what was known then, the timeline shows both sides with
who and why, and a corrected phone is masked like the phone (SPEC §3.2 ``Corrected``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from casestore.cli import app as cli
from tests.api.support import APPLICANT, Api, make_api

OLD, NEW = APPLICANT["phone"], "13900002222"


@pytest.fixture
def corrected(tmp_path: Path) -> Iterator[tuple[Api, str, str, Path]]:
    api = make_api(tmp_path / "api.db", workers=True)
    case_id = api.submit()["case_id"]
    api.clock.advance(hours=1)
    api.command(case_id, "accept", "clerk", {})
    api.clock.advance(hours=1)
    before = api.clock.now.isoformat()
    api.clock.advance(hours=1)
    fix = {
        "corrects_version": 1,
        "fact": "applicant.phone",
        "wrong_value": OLD,
        "correct_value": NEW,
        "reason": "申请人联系电话登记错误",
    }
    api.command(case_id, "correct", "clerk", fix)
    api.sync()
    yield api, case_id, before.replace("+", "%2B"), tmp_path / "api.db"
    api.close()


def test_the_case_shows_the_corrected_value_marked_and_linked(corrected: Any) -> None:
    api, case_id, _, _ = corrected
    view = api.get(f"/cases/{case_id}", "clerk").json()
    assert view["applicant"]["phone"] == NEW
    mark = view["corrected"]["applicant.phone"]
    assert (mark["value"], mark["was"], mark["version"], mark["shown"]) == (NEW, OLD, 3, True)
    assert mark["by"]["staff_id"] and mark["reason"] == "申请人联系电话登记错误"
    linked = api.get(mark["link"], "clerk").json()
    assert linked[-1]["type"] == "Corrected" and linked[-1]["version"] == 3


def test_as_of_before_the_correction_shows_what_was_known_then(corrected: Any) -> None:
    api, case_id, before, _ = corrected
    for query in (f"as_of={before}", "version=2"):
        view = api.get(f"/cases/{case_id}?{query}", "clerk").json()
        assert view["applicant"]["phone"] == OLD and view["corrected"] == {}, query
        timeline = api.get(f"/cases/{case_id}/timeline?{query}", "clerk").json()
        assert all("corrected_by" not in r and "correction" not in r for r in timeline)
        events = api.get(f"/cases/{case_id}/events?{query}", "clerk").json()
        assert [e["type"] for e in events] == ["Submitted", "Accepted"]


def test_the_timeline_shows_both_sides_with_who_and_why(corrected: Any) -> None:
    api, case_id, _, _ = corrected
    rows = {r["version"]: r for r in api.get(f"/cases/{case_id}/timeline", "clerk").json()}
    assert rows[1]["corrected_by"] == [
        {"version": 3, "fact": "applicant.phone", "link": f"/cases/{case_id}/events?version=3"}
    ]
    fix = rows[3]["correction"]
    assert (fix["fact"], fix["was"], fix["value"]) == ("applicant.phone", OLD, NEW)
    assert fix["by"]["role"] == "clerk" and fix["reason"] == "申请人联系电话登记错误"
    assert rows[3]["actor_staff"] == fix["by"]["staff_id"]


def test_a_corrected_phone_is_masked_like_the_phone(corrected: Any) -> None:
    api, case_id, _, _ = corrected
    masked_new, masked_old = "139****2222", OLD[:3] + "****" + OLD[-4:]
    view = api.get(f"/cases/{case_id}", "auditor").json()
    assert view["applicant"]["phone"] == masked_new
    mark = view["corrected"]["applicant.phone"]
    assert (mark["value"], mark["was"]) == (masked_new, masked_old)
    (event,) = [
        e for e in api.get(f"/cases/{case_id}/events", "auditor").json() if e["type"] == "Corrected"
    ]
    assert (event["data"]["correct_value"], event["data"]["wrong_value"]) == (
        masked_new,
        masked_old,
    )
    rows = api.get(f"/cases/{case_id}/timeline", "inspector").json()
    assert rows[-1]["correction"]["value"] == masked_new
    assert NEW not in orjson.dumps(rows).decode() and NEW not in str(view)


def test_case_show_prints_both_sides_of_the_correction(corrected: Any) -> None:
    _, case_id, before, db = corrected
    runner = CliRunner()
    now = runner.invoke(cli, ["case", "show", case_id, "--db", f"sqlite:///{db}"])
    assert now.exit_code == 0, now.output
    assert orjson.loads(now.output)["applicant"]["phone"] == NEW
    then = runner.invoke(
        cli,
        ["case", "show", case_id, "--as-of", before.replace("%2B", "+"), "--db", f"sqlite:///{db}"],
    )
    assert then.exit_code == 0, then.output
    assert orjson.loads(then.output)["applicant"]["phone"] == OLD
    first = runner.invoke(
        cli, ["case", "show", case_id, "--version", "1", "--db", f"sqlite:///{db}"]
    )
    assert orjson.loads(first.output)["version"] == 1


def test_the_status_row_shows_a_corrected_name_and_channel_as_known_at_each_moment(
    tmp_path: Path,
) -> None:
    """case_status (``GET /cases``) folds corrections too: the corrected name masked as any
    name, the corrected channel searchable, each marked and linked; a copy of the view
    built up to a moment before the correction (``project rebuild --until``) has neither."""
    from casestore.projections.runtime.commands import rebuild_projection

    api = make_api(tmp_path / "api.db", workers=True)
    try:
        case_id = api.submit(channel="window")["case_id"]
        api.clock.advance(hours=1)
        before = api.clock.now
        api.clock.advance(hours=1)
        for fact, wrong, right in (
            ("applicant.name", "李四", "欧阳娜娜"),
            ("channel", "window", "online"),
        ):
            api.command(
                case_id,
                "correct",
                "clerk",
                {
                    "corrects_version": 1,
                    "fact": fact,
                    "wrong_value": wrong,
                    "correct_value": right,
                    "reason": "登记错误",
                },
            )
        api.sync()
        (row,) = api.get("/cases?channel=online", "clerk").json()["items"]
        assert (row["case_id"], row["applicant_masked"], row["channel"]) == (
            case_id,
            "欧***",
            "online",
        )
        assert row["corrected"] == {
            "applicant.name": {
                "version": 2,
                "shown": True,
                "link": f"/cases/{case_id}/events?version=2",
            },
            "channel": {"version": 3, "shown": True, "link": f"/cases/{case_id}/events?version=3"},
        }
        assert api.get("/cases?channel=window", "clerk").json()["items"] == []

        rebuild_projection(api.state.service.app, "case_status", until=before, target="before")
        (then,) = api.get("/cases?target=before", "clerk").json()["items"]
        assert (then["applicant_masked"], then["channel"], then["corrected"]) == (
            "李*",
            "window",
            {},
        )
        # The same look back through the API itself (GET /cases?as_of=), before and after.
        moment = before.isoformat().replace("+", "%2B")
        (asof,) = api.get(f"/cases?as_of={moment}", "clerk").json()["items"]
        assert (asof["applicant_masked"], asof["channel"], asof["corrected"]) == (
            "李*",
            "window",
            {},
        )
        later = api.clock.now.isoformat().replace("+", "%2B")
        (after,) = api.get(f"/cases?as_of={later}&channel=online", "clerk").json()["items"]
        assert (after["applicant_masked"], after["corrected"]) == ("欧***", row["corrected"])
    finally:
        api.close()
