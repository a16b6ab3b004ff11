"""Query endpoints: one case (now and as it stood), events, clocks, the applicant's view,
the catalogue, audit, masking by role, health and metrics."""

from __future__ import annotations

from datetime import datetime

import orjson
import pytest

from tests.api.support import APPLICANT, BODIES, STAFF_ROLES, Api, walk

ID, PHONE = APPLICANT["id_number"], APPLICANT["phone"]
#: Written by hand from the README ("Roles and problem types"): who sees each in full,
#: and what everyone else sees.
FULL_ID_NUMBER = {"clerk", "reviewer", "approver", "dispatcher", "admin"}
FULL_PHONE = {"clerk", "surveyor", "dispatcher", "admin"}
MASKED_ID, MASKED_PHONE = "110***********1234", "138****1111"


def test_a_case_now_and_as_it_stood(api: Api) -> None:
    case = api.submit()
    cid = case["case_id"]
    submitted_at = api.clock.now
    api.clock.advance(hours=2)
    api.command(cid, "accept", "clerk", {})
    now = api.get(f"/cases/{cid}", "reviewer")
    assert now.status_code == 200 and now.headers["etag"] == '"2"'
    assert now.json()["stage"] == "accepted" and now.json()["accepted_on"] == "2025-09-01"
    then = api.get(f"/cases/{cid}", "reviewer", params={"as_of": submitted_at.isoformat()})
    assert then.json()["stage"] == "received" and then.json()["version"] == 1
    at = api.get(f"/cases/{cid}", "reviewer", params={"at_position": case["position"]})
    assert at.json()["version"] == 1
    before = api.get(f"/cases/{cid}", "reviewer", params={"at_position": 1})
    assert before.status_code == 404
    both = {"at_position": 1, "as_of": submitted_at.isoformat()}
    assert api.get(f"/cases/{cid}", "reviewer", params=both).status_code == 422
    naive = {"as_of": "2025-09-01T09:00:00"}
    assert api.get(f"/cases/{cid}", "reviewer", params=naive).status_code == 422
    unknown = "/cases/00000000-0000-4000-8000-000000000000"
    assert api.get(unknown, "clerk").status_code == 404


def test_events_list_every_event_with_actor_and_times(api: Api) -> None:
    case = api.submit()
    walk(api, case["case_id"], upto="review")
    events = api.get(f"/cases/{case['case_id']}/events", "inspector").json()
    assert [e["type"] for e in events] == [
        "Submitted",
        "SupplementRequested",
        "SupplementReceived",
        "Accepted",
    ]
    assert [e["version"] for e in events] == [1, 2, 3, 4]
    assert events[1]["actor"]["role"] == "clerk"
    assert events[1]["data"]["missing"] == ["营业执照副本"]
    assert "query_code_hash" not in events[0]["data"]
    as_of = api.get(
        f"/cases/{case['case_id']}/events", "inspector", params={"at_position": case["position"]}
    )
    assert len(as_of.json()) == 1


@pytest.mark.parametrize("role", STAFF_ROLES)
def test_personal_data_is_masked_by_role(api: Api, role: str) -> None:
    case = api.submit()
    view = api.get(f"/cases/{case['case_id']}", role).json()
    events = api.get(f"/cases/{case['case_id']}/events", role).json()
    for applicant in (view["applicant"], events[0]["data"]["applicant"]):
        assert applicant["id_number"] == (ID if role in FULL_ID_NUMBER else MASKED_ID), role
        assert applicant["phone"] == (PHONE if role in FULL_PHONE else MASKED_PHONE), role


def test_the_clock_explains_each_deadline(api: Api) -> None:
    case = api.submit()
    walk(api, case["case_id"], upto="review")
    clock = api.get(f"/cases/{case['case_id']}/clock", "clerk").json()
    promised = clock["promised"]
    assert promised["start"] == "2025-09-01" and promised["days"] == 5
    assert promised["due"] == "2025-09-08"  # 5 working days after Monday 1 Sep 2025
    assert promised["explanation"]["due"] == promised["due"]
    assert promised["explanation"]["excluded"][0] == {"date": "2025-09-06", "reason": "周末"}
    assert clock["statutory"]["days"] == 10
    assert clock["warning"] == "green"
    api.clock.advance(days=6)
    later = api.get(f"/cases/{case['case_id']}/clock", "clerk").json()
    assert later["warning"] == "yellow" and later["remaining"] == 1
    api.clock.advance(days=10)
    assert api.get(f"/cases/{case['case_id']}/clock", "clerk").json()["warning"] == "red"
    then = api.get(
        f"/cases/{case['case_id']}/clock", "clerk", params={"as_of": "2025-09-02T12:00:00+08:00"}
    ).json()
    assert then["today"] == "2025-09-02" and then["warning"] == "green"


def test_the_applicant_view_has_no_personal_data(api: Api) -> None:
    case = api.submit()
    walk(api, case["case_id"], upto="evaluate")
    url = f"/public/cases/{case['case_no']}"
    r = api.get(url, params={"code": case["query_code"]})
    assert r.status_code == 200
    text = r.text
    for secret in (APPLICANT["name"], ID, PHONE, "clerk-1", "S01", "王五", "SF1001"):
        assert secret not in text
    view = r.json()
    assert view["stage"] == "delivered" and view["outcome"] == "approve"
    assert [s["type"] for s in view["steps"]][:2] == ["Submitted", "SupplementRequested"]
    wrong = api.get(url, params={"code": "000000" if case["query_code"] != "000000" else "1"})
    unknown = api.get("/public/cases/XY20250901ZZZZZZ", params={"code": case["query_code"]})
    assert wrong.status_code == unknown.status_code == 404
    assert wrong.json()["detail"] == unknown.json()["detail"]
    assert api.get(url).status_code == 422


def test_the_applicant_evaluates_once(api: Api) -> None:
    case = api.submit()
    walk(api, case["case_id"], upto="evaluate")
    url = f"/public/cases/{case['case_no']}/evaluate"
    code = {"code": case["query_code"]}
    before = api.head()
    assert api.post(url, params={"code": "x"}, json={"level": 1}).status_code == 404
    assert api.post(url, params=code, json={"level": 9}).status_code == 422
    assert api.head() == before
    r = api.post(url, params=code, json={"level": 2, "comment": "很快"})
    assert r.status_code == 200 and r.json()["position"] == before + 1
    events = api.get(f"/cases/{case['case_id']}/events", "admin").json()
    assert events[-1]["type"] == "Evaluated" and events[-1]["actor"]["role"] == "applicant"
    assert events[-1]["data"] == {"level": 2, "channel": "online", "comment": "很快"}
    again = api.post(url, params=code, json={"level": 2})
    assert again.status_code == 409


def test_the_catalogue_is_public(api: Api) -> None:
    items = api.get("/items").json()
    assert len(items) == 22 and items[0]["code"] == "XK-001"
    item = api.get("/items/XK-003").json()
    assert item["promised_days"] == 5 and item["statutory_days"] == 10
    assert api.get("/items/NOPE").status_code == 404


def test_audit_digest_verify_and_export(api: Api) -> None:
    case = api.submit()
    api.command(case["case_id"], "accept", "clerk", {})
    digest = api.get("/audit/digest", "auditor").json()
    assert digest["position"] == api.head()
    report = api.get("/audit/verify", "auditor", params={"digest": digest["digest"]}).json()
    assert report["ok"] is True and report["digest_checked"] is True
    assert report["events"] == api.head()
    bad = api.get("/audit/verify", "auditor", params={"digest": "nonsense"})
    assert bad.status_code == 422
    past = api.get("/audit/digest", "inspector", params={"position": 3}).json()
    assert past["position"] == 3
    assert api.get("/audit/digest", "auditor", params={"position": 10**9}).status_code == 404
    export = api.get("/audit/export", "auditor")
    assert export.headers["content-type"].startswith("application/x-ndjson")
    lines = [orjson.loads(line) for line in export.content.splitlines()]
    assert [x["position"] for x in lines] == list(range(1, api.head() + 1))
    assert lines[-1]["type"] == "AccessRecorded"  # the export's own trace comes first
    submitted = next(x for x in lines if x["type"] == "Submitted")
    assert submitted["data"]["applicant"]["id_number"] == MASKED_ID
    assert "stored_b64" not in submitted and len(submitted["event_hash"]) == 64
    full = [orjson.loads(x) for x in api.get("/audit/export", "admin").content.splitlines()]
    assert all("stored_b64" in x for x in full)
    tail = api.get("/audit/export", "auditor", params={"after": api.head() - 1}).content
    assert [orjson.loads(x)["type"] for x in tail.splitlines()] == [
        "AccessRecorded",
        "AccessRecorded",
    ]


def test_health_and_metrics(api: Api) -> None:
    case = api.submit()
    api.post(f"/cases/{case['case_id']}/decide", "clerk", json=BODIES["decide"])
    health = api.get("/health").json()
    assert health["status"] == "ok" and health["store"]["head"] == api.head()
    metrics = api.get("/metrics")
    assert metrics.headers["content-type"].startswith("text/plain")
    text = metrics.text
    assert 'casestore_commands_total{action="submit",outcome="ok"} 1.0' in text
    assert 'casestore_commands_total{action="decide",outcome="forbidden"} 1.0' in text
    assert 'casestore_command_seconds_count{action="submit"} 1.0' in text
    assert f"casestore_log_head_position {float(api.head())}" in text
    assert 'casestore_http_requests_total{method="POST",route="/cases",status="201"}' in text


def test_responses_carry_a_request_id(api: Api) -> None:
    r = api.get("/health", headers={"X-Request-ID": "abc-123"})
    assert r.headers["x-request-id"] == "abc-123"
    one, two = (api.get("/health").headers["x-request-id"] for _ in range(2))
    assert one != two and len(one) > 12
    assert datetime.fromisoformat(api.get("/items").json()[0]["revised_at"])


def test_guessing_query_codes_is_stopped(api: Api) -> None:
    """Ten wrong codes for one case number lock it for the window (429, Retry-After, even
    for the right code); other case numbers are unaffected; the window passes."""
    from casestore.api.ratelimit import CASE_FAILURES, WINDOW_SECONDS, PublicLimits

    now = [1000.0]
    api.state.public_limits = PublicLimits(clock=lambda: now[0])
    case, other = api.submit(), api.submit()
    url = f"/public/cases/{case['case_no']}"
    right = {"code": case["query_code"]}
    wrong = {"code": "000000" if case["query_code"] != "000000" else "111111"}
    assert api.get(url, params=right).status_code == 200
    for _ in range(CASE_FAILURES):
        assert api.get(url, params=wrong).status_code == 404
    locked = api.get(url, params=right)
    assert locked.status_code == 429
    assert locked.headers["content-type"].startswith("application/problem+json")
    assert locked.json()["type"].endswith("/too-many-attempts")
    assert int(locked.headers["Retry-After"]) == int(WINDOW_SECONDS)
    evaluate = api.post(f"{url}/evaluate", params=right, json={"level": 1})
    assert evaluate.status_code == 429
    mine = api.get(f"/public/cases/{other['case_no']}", params={"code": other["query_code"]})
    assert mine.status_code == 200
    now[0] += WINDOW_SECONDS + 1
    assert api.get(url, params=right).status_code == 200


def test_one_client_guessing_across_case_numbers_is_stopped(api: Api) -> None:
    from casestore.api.ratelimit import CLIENT_FAILURES, PublicLimits

    api.state.public_limits = PublicLimits(clock=lambda: 0.0)
    case = api.submit()
    for n in range(CLIENT_FAILURES):
        assert api.get(f"/public/cases/XY20250901{n:06d}", params={"code": "1"}).status_code == 404
    r = api.get(f"/public/cases/{case['case_no']}", params={"code": case["query_code"]})
    assert r.status_code == 429
