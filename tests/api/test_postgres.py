"""The same API over PostgreSQL (embedded workers): commands, time travel, views, stream."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.api.support import APPLICANT, BODIES, Api, make_api, walk
from tests.api.test_stream import parse_sse

pytestmark = pytest.mark.pg


@pytest.fixture
def pg_api(pg_app_db_url: str) -> Iterator[Api]:
    client = make_api(pg_app_db_url, workers=True)
    yield client
    client.close()


def test_the_api_over_postgresql(pg_api: Api) -> None:
    api = pg_api
    case = api.submit()
    cid = case["case_id"]
    walk(api, cid, upto="extend")
    key = {"Idempotency-Key": "pg-decide"}
    first = api.post(f"/cases/{cid}/decide", "approver", json=BODIES["decide"], headers=key)
    head = api.head()
    again = api.post(f"/cases/{cid}/decide", "approver", json=BODIES["decide"], headers=key)
    assert first.status_code == again.status_code == 200 and again.json()["duplicate"]
    assert api.head() == head
    stale = api.post(
        f"/cases/{cid}/seal", "sealer", json=BODIES["seal"], headers={"If-Match": '"3"'}
    )
    assert stale.status_code == 412 and api.head() == head
    then = api.get(f"/cases/{cid}", "clerk", params={"at_position": case["position"]}).json()
    assert then["stage"] == "received"
    clock = api.get(f"/cases/{cid}/clock", "clerk").json()
    assert clock["promised"]["done_on"] is not None and clock["promised"]["explanation"]
    api.sync()
    timeline = api.get(f"/cases/{cid}/timeline", "auditor").json()
    assert [t["version"] for t in timeline] == list(range(1, 11))
    listed = api.get("/cases", "clerk", params={"window": "W01"}).json()["items"]
    assert [r["case_id"] for r in listed] == [cid]
    assert api.get("/cases", "clerk", params={"window": "W\x0001"}).status_code == 422
    assert api.get("/cases", "clerk", params={"window": "窗口\U0001f600"}).json()["items"] == []
    flags = api.get("/supervision/flags", "inspector", params={"case": cid}).json()
    assert flags["today"] == "2025-09-01"
    events = parse_sse(api.get("/stream", "clerk", params={"after": 0, "limit": 10}).text)
    assert [e["data"]["version"] for e in events] == list(range(1, 11))
    assert APPLICANT["id_number"] not in api.get(f"/cases/{cid}", "sealer").text
    assert api.get("/audit/verify", "auditor").json()["ok"] is True


def test_the_stream_carries_events_written_by_another_process(pg_api: Api) -> None:
    """Another writer (its own store, as another API process would have) on the same
    database: its commits reach this process's stream (NOTIFY wakes the hub)."""
    from casestore.domain import Actor, Party
    from casestore.service import CaseService, SubmitCase
    from casestore.store.application import CasestoreApp

    api = pg_api
    start = api.head()
    other = CasestoreApp(api.state.db_url)
    try:
        clerk = Actor("clerk-other", "clerk", window="W09")
        submitted = CaseService(other).handle(
            SubmitCase(actor=clerk, item_code="XK-001", applicant=Party(**APPLICANT))
        )
    finally:
        other.close()
    r = api.get("/stream", "clerk", params={"after": start, "window": "W09", "limit": 1})
    (event,) = parse_sse(r.text)
    assert event["data"]["case_id"] == str(submitted.case_id)


def test_views_can_be_read_from_a_read_only_copy(pg_app_db_url: str) -> None:
    """CASESTORE_READ_DB: the views answer from a server that refuses every write (as a
    hot standby does); here the same database through read-only sessions."""
    read_only = pg_app_db_url + "?options=-c%20default_transaction_read_only%3Don"
    api = make_api(pg_app_db_url, workers=True, read_db_url=read_only)
    try:
        case = api.submit()
        api.command(case["case_id"], "accept", "clerk", {})
        api.sync()
        listed = api.get("/cases", "clerk").json()["items"]
        assert [r["case_id"] for r in listed] == [case["case_id"]]
        assert api.get("/compliance/summary", "admin").status_code == 200
        timeline = api.get(f"/cases/{case['case_id']}/timeline", "auditor").json()
        assert len(timeline) == 2
        api.sync()  # the auditor's timeline read appended its AccessRecorded
        assert api.get("/health").json()["projections"]["case_status"]["lag"] == 0
    finally:
        api.close()
