"""The case list as it stood at a past moment or log position, through the API the server
builds (``GET /cases?as_of=T`` / ``?at_position=P``; before, only ``casestore project
rebuild case_status --until T --target NAME`` could show it).

Expected lists are written from the story the test tells (which case was submitted and
accepted before which moment), not read from the view under test.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from casestore.api.caselist_asof import KEEP, PREFIX

from casestore.domain.access import Access
from tests.api.support import Api, make_api


def at(moment: datetime) -> str:
    return moment.isoformat().replace("+", "%2B")


def listed(response: Any) -> list[tuple[str, str]]:
    assert response.status_code == 200, response.text
    return [(r["case_no"], r["stage"]) for r in response.json()["items"]]


def reads_recorded(api: Api) -> list[Any]:
    app = api.state.service.app
    return [e for _, e in app.iter_events() if isinstance(e, Access.AccessRecorded)]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.pg)])
def story(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    """Case A submitted, then accepted; an hour later case B submitted; an hour later A
    reviewed. The moments looked back at lie half-way between (the test clock ticks).
    On SQLite and on PostgreSQL (the as-of target is built in the views' database)."""
    where: Any = tmp_path / "api.db"
    if request.param == "postgres":
        where = request.getfixturevalue("pg_db_url")
    api = make_api(where, workers=True)
    start = api.clock.now
    a = api.submit()
    api.clock.advance(hours=1)
    api.command(a["case_id"], "accept", "clerk", {})
    accepted_at, accepted_head = api.clock.now + timedelta(minutes=30), api.head()
    api.clock.advance(hours=1)
    b = api.submit()
    api.clock.advance(hours=1)
    b_submitted_at = api.clock.now - timedelta(minutes=30)
    api.command(a["case_id"], "review", "reviewer", {"stage_name": "审查", "opinion": "pass"})
    api.sync()
    yield api, a, b, start, accepted_at, accepted_head, b_submitted_at
    api.close()


def test_the_list_as_it_stood_at_a_moment_and_at_a_position(story: Any) -> None:
    api, a, b, start, accepted_at, accepted_head, b_submitted_at = story
    now = listed(api.get("/cases", "clerk"))
    assert now == [(b["case_no"], "received"), (a["case_no"], "under_review")]

    then = api.get(f"/cases?as_of={at(accepted_at)}", "clerk")
    assert listed(then) == [(a["case_no"], "accepted")]  # B not yet submitted, A not reviewed
    assert then.json()["position"] == accepted_head
    assert then.json()["items"][0]["deadline"] is None  # no clocks of then on a past list
    by_position = api.get(f"/cases?at_position={accepted_head}", "clerk")
    assert by_position.json() == then.json()

    before = api.get(f"/cases?as_of={at(start.replace(year=start.year - 1))}", "clerk")
    assert listed(before) == [] and before.json()["position"] == 0

    filtered = api.get(f"/cases?as_of={at(accepted_at)}&stage=received", "clerk")
    assert listed(filtered) == []  # A was accepted by then
    first = api.get(f"/cases?as_of={at(b_submitted_at)}&limit=1", "clerk")
    assert listed(first) == [(b["case_no"], "received")]  # newest first, as the live list
    cursor = first.json()["next_cursor"]
    second = api.get(f"/cases?as_of={at(b_submitted_at)}&limit=1&cursor={cursor}", "clerk")
    assert listed(second) == [(a["case_no"], "accepted")]  # not yet reviewed then
    assert second.json()["next_cursor"] is None
    # The live list is untouched by the look back.
    assert listed(api.get("/cases", "clerk")) == now


def test_an_auditors_look_back_at_the_list_is_recorded(story: Any) -> None:
    api, a, _, _, accepted_at, _, _ = story
    before = len(reads_recorded(api))
    assert api.get(f"/cases?as_of={at(accepted_at)}", "clerk").status_code == 200
    assert len(reads_recorded(api)) == before  # a clerk's list read is not a reconstruction
    r = api.get(f"/cases?as_of={at(accepted_at)}", "auditor", headers={"X-Purpose": "annual audit"})
    assert r.status_code == 200, r.text
    (record,) = reads_recorded(api)[before:]
    assert record.route == "GET /cases" and record.purpose == "annual audit"
    assert [str(c) for c in record.case_ids] == [a["case_id"]]
    assert record.actor.role == "auditor"


def test_bad_look_backs_are_refused_and_change_nothing(story: Any) -> None:
    api, _, _, _, accepted_at, accepted_head, _ = story
    head = api.head()
    for url, status in (
        (f"/cases?as_of={at(accepted_at)}&at_position=1", 422),
        (f"/cases?as_of={at(accepted_at)}&target=asof_x", 422),
        ("/cases?as_of=2025-03-01T09:00:00", 422),  # no offset
        ("/cases?as_of=yesterday", 422),
        ("/cases?at_position=-1", 422),
        (f"/cases?at_position={2**62 + 1}", 422),
        (f"/cases?at_position={head + 1}", 404),  # not written yet
        (f"/cases?as_at={at(accepted_at)}", 400),  # an unknown parameter is never ignored
    ):
        r = api.get(url, "clerk")
        assert r.status_code == status, (url, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
    assert api.head() == head  # nothing appended
    assert api.get("/cases?as_of=2025-03-01T09:00:00%2B08:00").status_code == 401  # no token
    assert accepted_head < head


def test_only_the_newest_past_lists_are_kept(story: Any) -> None:
    api, *_ = story
    head = api.head()
    for position in range(1, min(head, KEEP + 3) + 1):
        assert api.get(f"/cases?at_position={position}", "clerk").status_code == 200
    kept = {r.target for r in api.state.read.db.all_tracking() if r.target.startswith(PREFIX)}
    assert len(kept) == KEEP
    assert f"{PREFIX}{min(head, KEEP + 3)}" in kept and f"{PREFIX}1" not in kept
