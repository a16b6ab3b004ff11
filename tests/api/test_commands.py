"""Command endpoints: every action, errors, If-Match, Idempotency-Key (who may issue
which command: ``test_role_matrix.py``)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from uuid import uuid4

import pytest
from casestore.api.problems import PROBLEM_BASE

from tests.api.support import (
    APPLICANT,
    BODIES,
    LIFECYCLE,
    Api,
    auth,
    make_api,
    token,
    walk,
)


def problem_type(response: object) -> str:
    body = response.json()  # type: ignore[attr-defined]
    assert response.headers["content-type"] == "application/problem+json"  # type: ignore[attr-defined]
    assert body["status"] == response.status_code  # type: ignore[attr-defined]
    return str(body["type"]).removeprefix(PROBLEM_BASE)


def test_a_case_walks_through_every_action(api: Api) -> None:
    case = api.submit()
    assert case["version"] == 1 and case["case_no"].startswith("XY")
    assert len(case["query_code"]) == 6
    version = 1
    for action, role, body in LIFECYCLE:
        result = api.command(case["case_id"], action, role, body)
        version += 1
        assert result["version"] == version, action
        assert result["duplicate"] is False
    view = api.get(f"/cases/{case['case_id']}", "admin").json()
    assert view["stage"] == "delivered"
    assert view["evaluation_level"] == 5 and view["bad_review_handled"] is True
    assert view["corrections"] == 1 and view["extensions"] == 1


@pytest.mark.parametrize("action", ["reject", "withdraw"])
def test_reject_and_withdraw_close_a_case(api: Api, action: str) -> None:
    case = api.submit()
    api.command(case["case_id"], action, "clerk", BODIES[action])
    stage = api.get(f"/cases/{case['case_id']}", "clerk").json()["stage"]
    assert stage == {"reject": "rejected", "withdraw": "withdrawn"}[action]


def test_applicant_tokens_and_bad_tokens_are_refused(api: Api) -> None:
    case = api.submit()
    url = f"/cases/{case['case_id']}/evaluate"
    body = BODIES["evaluate"]
    before = api.head()
    assert api.post(url, "applicant", json=body).status_code == 403
    r = api.post(url, json=body)
    assert r.status_code == 401 and problem_type(r) == "unauthorized"
    assert r.headers["www-authenticate"].startswith("Bearer")
    forged = token("admin")[:-3] + "AAA"
    r = api.post(url, json=body, headers={"Authorization": f"Bearer {forged}"})
    assert r.status_code == 401
    other = auth("admin")["Authorization"].replace("Bearer ", "Basic ")
    assert api.post(url, json=body, headers={"Authorization": other}).status_code == 401
    assert api.head() == before


def test_if_match_stale_version_is_412_and_appends_nothing(api: Api) -> None:
    case = api.submit()
    url = f"/cases/{case['case_id']}/accept"
    before = api.head()
    r = api.post(url, "clerk", json={}, headers={"If-Match": '"7"'})
    assert r.status_code == 412 and problem_type(r) == "precondition-failed"
    assert r.json()["current_version"] == 1
    assert api.head() == before
    r = api.post(url, "clerk", json={}, headers={"If-Match": "W/x"})
    assert r.status_code == 400 and problem_type(r) == "bad-precondition"
    r = api.post(url, "clerk", json={}, headers={"If-Match": '"1"'})
    assert r.status_code == 200 and r.headers["etag"] == '"2"'
    r = api.post(f"/cases/{case['case_id']}/review", "reviewer", json=BODIES["review"])
    assert r.status_code == 200
    r = api.post(url, "clerk", json={}, headers={"If-Match": '"2"'})
    assert r.status_code == 412 and r.json()["current_version"] == 3


def test_idempotency_key_replays_the_first_response(api: Api) -> None:
    case = api.submit()
    url = f"/cases/{case['case_id']}/accept"
    key = {"Idempotency-Key": "accept-1"}
    first = api.post(url, "clerk", json={}, headers=key)
    head = api.head()
    again = api.post(url, "clerk", json={}, headers=key)
    assert again.status_code == 200 and again.headers["idempotent-replayed"] == "true"
    assert {**again.json(), "duplicate": False} == first.json()
    assert api.head() == head
    # The same key from another staff member is another command (keys are per caller).
    other = api.post(url, json={}, headers={**key, **auth("clerk", staff="clerk-2")})
    assert other.status_code == 409 and problem_type(other) == "out-of-order"


def test_a_replay_after_the_case_moved_on_is_the_first_answer_whole(api: Api) -> None:
    """A retry that arrives after other commands moved the case on gets the first
    command's answer, whole: its version (2, not the case's current 4), its ETag and its
    body, field for field; only ``duplicate`` and the replay header say it is a replay."""
    case = api.submit()
    url = f"/cases/{case['case_id']}/accept"
    key = {"Idempotency-Key": "accept-then-more"}
    first = api.post(url, "clerk", json={}, headers=key)
    assert first.status_code == 200 and first.headers["etag"] == '"2"'
    assert first.json()["version"] == 2
    review = {"stage_name": "审查", "opinion": "pass"}
    assert api.post(f"/cases/{case['case_id']}/review", "reviewer", json=review).status_code == 200
    assert api.post(f"/cases/{case['case_id']}/review", "reviewer", json=review).status_code == 200
    assert api.get(f"/cases/{case['case_id']}", "clerk").json()["version"] == 4
    head = api.head()
    again = api.post(url, "clerk", json={}, headers=key)
    assert again.status_code == 200
    assert again.headers["idempotent-replayed"] == "true"
    assert again.headers["etag"] == '"2"'
    assert again.json()["version"] == 2
    assert again.json()["duplicate"] is True and first.json()["duplicate"] is False
    assert {**again.json(), "duplicate": False} == first.json()
    assert api.head() == head


def test_a_replayed_submission_names_the_same_case(api: Api) -> None:
    body = {"item_code": "XK-003", "applicant": APPLICANT}
    headers = {"Idempotency-Key": "intake-42"}
    first = api.post("/cases", "clerk", json=body, headers=headers)
    head = api.head()
    for _ in range(3):
        again = api.post("/cases", "clerk", json=body, headers=headers)
        assert again.status_code == 201
        data = again.json()
        assert data["case_id"] == first.json()["case_id"]
        assert data["case_no"] == first.json()["case_no"]
        assert data["duplicate"] is True and data["query_code"] is None
    assert api.head() == head


@pytest.mark.parametrize(
    ("action", "body", "slug"),
    [
        ("accept", {"notice_no": 5}, "validation-error"),
        ("accept", {"surprise": True}, "validation-error"),
        ("review", {"stage_name": "审查", "opinion": "maybe"}, "validation-error"),
        ("extend", {"days": "5", "reason": "x"}, "validation-error"),
        ("extend", {"days": 99, "reason": "x"}, "validation-error"),
        ("accept", {"occurred_at": "2025-09-01T09:00:00"}, "validation-error"),
        ("accept", {"occurred_at": "2099-01-01T00:00:00+08:00"}, "invalid-command"),
        ("decide", {"outcome": "approve"}, "out-of-order"),
        ("resume", {"result": "x"}, "out-of-order"),
        ("survey-result", {"participants": [], "conclusion": "pass"}, "validation-error"),
        ("seal", {**BODIES["seal"], "document_sha256": "A" * 64}, "validation-error"),
    ],
)
def test_bad_input_gets_a_problem_and_appends_nothing(
    api: Api, action: str, body: dict[str, object], slug: str
) -> None:
    case = api.submit()
    before = api.head()
    role = {a: r for a, r, _ in LIFECYCLE}[action]
    r = api.post(f"/cases/{case['case_id']}/{action}", role, json=body)
    assert problem_type(r) == slug, r.text
    assert r.status_code in (409, 422)
    assert api.head() == before


def test_malformed_json_and_lone_surrogates_are_422(api: Api) -> None:
    case = api.submit()
    url = f"/cases/{case['case_id']}/withdraw"
    before = api.head()
    headers = {**auth("clerk"), "Content-Type": "application/json"}
    r = api.post(url, content=b'{"reason": "\\ud800"}', headers=headers)
    assert r.status_code == 422 and problem_type(r) == "validation-error"
    r = api.post(url, content=b'{"reason": ', headers=headers)
    assert r.status_code == 422
    r = api.post(url, content=b"[]", headers=headers)
    assert r.status_code == 422
    assert api.head() == before


def test_domain_rules_map_to_their_problem_types(api: Api) -> None:
    case = api.submit()
    cid = case["case_id"]
    walk(api, cid, upto="extend")
    # Wrong seal, unknown case, unknown item, an extension after the statutory deadline.
    before = api.head()
    api.clock.advance(days=60)
    r = api.post(f"/cases/{cid}/extend", "approver", json=BODIES["extend"])
    assert r.status_code == 409 and problem_type(r) == "deadline-passed"
    r = api.post(f"/cases/{cid}/decide", "approver", json={"outcome": "deny"})
    assert r.status_code == 422 and problem_type(r) == "invalid-command"
    api.command(cid, "decide", "approver", {"outcome": "approve"})
    r = api.post(f"/cases/{cid}/decide", "approver", json={"outcome": "approve"})
    assert r.status_code == 409 and problem_type(r) == "out-of-order"
    before = api.head()
    r = api.post(f"/cases/{cid}/seal", "sealer", json={**BODIES["seal"], "seal_id": "OTHER"})
    assert r.status_code == 422 and problem_type(r) == "invalid-command"
    api.command(cid, "seal", "sealer", BODIES["seal"])
    r = api.post(f"/cases/{cid}/seal", "sealer", json=BODIES["seal"])
    assert r.status_code == 409 and problem_type(r) == "already-done"
    before = api.head()
    r = api.post("/cases/00000000-0000-4000-8000-000000000000/accept", "clerk", json={})
    assert r.status_code == 404 and problem_type(r) == "not-found"
    r = api.post("/cases", "clerk", json={"item_code": "NOPE", "applicant": APPLICANT})
    assert r.status_code == 404
    r = api.post("/cases/not-a-uuid/accept", "clerk", json={})
    assert r.status_code == 422
    assert api.head() == before


def test_recorded_at_comes_from_the_server_and_occurred_at_from_the_client(api: Api) -> None:
    case = api.submit()
    claimed = "2025-08-29T10:00:00+08:00"
    api.command(case["case_id"], "accept", "clerk", {"occurred_at": claimed})
    accepted_at = api.clock.now
    events = api.get(f"/cases/{case['case_id']}/events", "clerk").json()
    accepted = events[-1]
    assert accepted["type"] == "Accepted"
    assert datetime.fromisoformat(accepted["occurred_at"]) == datetime.fromisoformat(claimed)
    assert datetime.fromisoformat(accepted["recorded_at"]) == accepted_at
    r = api.post(
        f"/cases/{case['case_id']}/review",
        "reviewer",
        json={**BODIES["review"], "recorded_at": claimed},
    )
    assert r.status_code == 422


def test_nul_in_the_url_is_refused_before_any_route(api: Api) -> None:
    r = api.get("/cases", "clerk", params={"window": "W\x0001"})
    assert r.status_code == 422 and problem_type(r) == "validation-error"
    assert api.get("/items/XK%00", "clerk").status_code == 422


def test_an_idempotent_retry_is_answered_after_a_restart(tmp_path: Path) -> None:
    first = make_api(tmp_path / "restart.db")
    case = first.submit()
    key = {"Idempotency-Key": "accept-after-restart"}
    r1 = first.post(f"/cases/{case['case_id']}/accept", "clerk", json={}, headers=key)
    first.close()
    second = make_api(tmp_path / "restart.db")
    try:
        head = second.head()
        r2 = second.post(f"/cases/{case['case_id']}/accept", "clerk", json={}, headers=key)
        assert r2.status_code == 200 and r2.json()["duplicate"] is True
        assert r2.json()["position"] == r1.json()["position"]
        assert r2.json()["version"] == r1.json()["version"] == 2
        assert second.head() == head
    finally:
        second.close()


def test_a_bundle_is_taken_in_once_with_a_case_per_item(api_workers: Api) -> None:
    """POST /bundles: one intake, a child case per item with its number and query code;
    a retry with the same Idempotency-Key appends nothing and names the same cases
    (without codes); an unknown bundle is a 404 and appends nothing."""
    api = api_workers
    body = {"bundle_code": "YJS-001", "applicant": APPLICANT, "materials": ["申请表"]}
    before = api.head()
    r = api.post("/bundles", "clerk", json=body, headers={"Idempotency-Key": "b-1"})
    assert r.status_code == 201, r.text
    opened = r.json()
    assert r.headers["Location"] == f"/bundles/{opened['bundle_id']}"
    children = opened["children"]
    assert len(children) >= 2 and opened["position"] == api.head() > before
    for code, child in children.items():
        assert len(child["query_code"]) == 6
        public = api.get(f"/public/cases/{child['case_no']}", params={"code": child["query_code"]})
        assert public.status_code == 200, code
        case = api.get(f"/cases/{child['case_id']}", "clerk").json()
        assert case["item_code"] == code and case["bundle_id"] == opened["bundle_id"]
    head = api.head()
    again = api.post("/bundles", "clerk", json=body, headers={"Idempotency-Key": "b-1"})
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    replay = again.json()
    assert replay["bundle_id"] == opened["bundle_id"] and replay["duplicate"] is True
    assert {c: v["case_id"] for c, v in replay["children"].items()} == {
        c: v["case_id"] for c, v in children.items()
    }
    assert all(v["query_code"] is None for v in replay["children"].values())
    assert api.head() == head
    missing = api.post("/bundles", "clerk", json={**body, "bundle_code": "YJS-999"})
    assert missing.status_code == 404 and api.head() == head
    assert api.post("/bundles", "reviewer", json=body).status_code == 403
    assert api.post("/bundles", "clerk", json={**body, "extra": 1}).status_code == 422
    api.sync()
    progress = api.get(f"/bundles/{opened['bundle_id']}", "clerk")
    assert progress.status_code == 200, progress.text
    assert api.head() == head


def test_an_approver_extends_a_bundle_once(api_workers: Api) -> None:
    """POST /bundles/{id}/extend: 45 → 60 working days on the joint clock, once; only an
    approver; a stale If-Match is a 412 and a replayed key appends nothing."""
    api = api_workers
    body = {"bundle_code": "YJS-001", "applicant": APPLICANT}
    bundle = api.post("/bundles", "clerk", json=body).json()["bundle_id"]
    url = f"/bundles/{bundle}/extend"
    head = api.head()
    ok = {"reason": "会审", "approved_by": "副县长 王某", "approval_document": "旬政审〔2025〕3号"}
    assert api.post(url, "clerk", json=ok).status_code == 403
    assert api.post(url, "approver", json={}).status_code == 422
    assert api.post(url, "approver", json={"reason": "会审"}).status_code == 422  # no approval
    stale = api.post(url, "approver", json=ok, headers={"If-Match": '"7"'})
    assert stale.status_code == 412 and stale.json()["current_version"] == 1
    unknown = api.post(f"/bundles/{uuid4()}/extend", "approver", json=ok)
    assert unknown.status_code == 404
    assert api.head() == head
    key = {"Idempotency-Key": "ext-1"}
    r = api.post(url, "approver", json={**ok, "reason": "需现场会审"}, headers=key)
    assert r.status_code == 200, r.text
    assert r.json()["bundle_id"] == bundle and r.json()["version"] == 2
    assert r.json()["position"] == api.head() == head + 1
    again = api.post(url, "approver", json={**ok, "reason": "需现场会审"}, headers=key)
    assert again.json()["duplicate"] is True and api.head() == head + 1
    twice = api.post(url, "approver", json={**ok, "reason": "再次"})
    assert twice.status_code == 409 and twice.json()["type"].endswith("/already-done")
    api.sync()
    clock = api.get(f"/bundles/{bundle}", "clerk").json()["clock"]["statutory"]
    assert clock["days"] == 60 and clock["extension_days"] == 15
