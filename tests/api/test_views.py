"""Projection-backed queries (embedded workers): search and paging, timeline, compliance,
supervision, 好差评, bundles; and which roles may read each endpoint."""

from __future__ import annotations

import pytest

from casestore.domain import Actor
from casestore.domain.values import Party
from casestore.service import SubmitBundle
from tests.api.support import APPLICANT, STAFF_ROLES, Api, walk


def _seed(api: Api) -> dict[str, str]:
    """Five cases on two windows at different stages; returns names -> case ids."""
    ids = {}
    for n in range(3):
        ids[f"w1-{n}"] = api.submit()["case_id"]
    r = api.post(
        "/cases",
        json={"item_code": "XK-007", "applicant": APPLICANT, "channel": "online"},
        headers={"Authorization": "Bearer " + _token("clerk", "clerk-9", "W02")},
    )
    ids["w2"] = r.json()["case_id"]
    ids["done"] = api.submit()["case_id"]
    walk(api, ids["done"])
    api.command(ids["w1-0"], "accept", "clerk", {})
    api.sync()
    return ids


def _token(role: str, staff: str, window: str) -> str:
    from tests.api.support import token

    return token(role, staff=staff, window=window)


def test_search_filters_and_pages_with_a_cursor(api_workers: Api) -> None:
    api = api_workers
    ids = _seed(api)
    everything = api.get("/cases", "clerk", params={"limit": 500}).json()
    assert {r["case_id"] for r in everything["items"]} == set(ids.values())
    assert everything["next_cursor"] is None
    w2 = api.get("/cases", "clerk", params={"window": "W02"}).json()["items"]
    assert [r["case_id"] for r in w2] == [ids["w2"]]
    accepted = api.get("/cases", "clerk", params={"stage": "accepted"}).json()["items"]
    assert [r["case_id"] for r in accepted] == [ids["w1-0"]]
    assert accepted[0]["deadline"]["running"] == "decision.promised"
    online = api.get("/cases", "clerk", params={"channel": "online"}).json()["items"]
    assert [r["item_code"] for r in online] == ["XK-007"]
    seen, cursor = [], None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = api.get("/cases", "inspector", params=params).json()
        seen += [r["case_id"] for r in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 5
    assert seen == [r["case_id"] for r in everything["items"]]
    bad = api.get("/cases", "clerk", params={"cursor": "not-a-cursor"})
    assert bad.status_code == 422
    assert api.get("/cases", "clerk", params={"limit": 0}).status_code == 422


def test_search_rows_carry_no_personal_data(api_workers: Api) -> None:
    api = api_workers
    _seed(api)
    text = api.get("/cases", "admin", params={"limit": 500}).text
    assert APPLICANT["id_number"] not in text and APPLICANT["phone"] not in text
    assert APPLICANT["name"] not in text  # a person's name is masked on the status board


def test_timeline_has_positions_and_hashes(api_workers: Api) -> None:
    api = api_workers
    case = api.submit()
    walk(api, case["case_id"], upto="review")
    api.sync()
    timeline = api.get(f"/cases/{case['case_id']}/timeline", "auditor").json()
    assert [t["version"] for t in timeline] == [1, 2, 3, 4]
    positions = [t["position"] for t in timeline]
    assert positions == sorted(positions) and positions[0] <= case["position"]
    assert all(len(t["event_hash"]) == 64 for t in timeline)
    missing = "/cases/00000000-0000-4000-8000-000000000000/timeline"
    assert api.get(missing, "auditor").status_code == 404
    unbuilt = api.get(f"/cases/{case['case_id']}/timeline", "auditor", params={"target": "x"})
    assert unbuilt.status_code == 404
    bad = api.get(f"/cases/{case['case_id']}/timeline", "auditor", params={"target": "no pe"})
    assert bad.status_code == 422


def test_reports_read_their_projections(api_workers: Api) -> None:
    api = api_workers
    ids = _seed(api)
    summary = api.get("/compliance/summary", "admin", params={"group_by": "window"}).json()
    assert summary["total"]["decided"] == 1 and summary["total"]["open"] == 1
    api.clock.advance(days=30)
    overdue = api.get("/compliance/overdue", "admin").json()
    assert {r["case_id"] for r in overdue} >= {ids["w1-0"]}
    flags = api.get("/supervision/flags", "inspector", params={"case": ids["w1-0"]}).json()
    assert {f["rule"] for f in flags["flags"]} >= {"S01", "S02"}
    assert all(f["evidence"] for f in flags["flags"])
    only = api.get("/supervision/flags", "inspector", params={"rule": "S04"}).json()
    assert all(f["rule"] == "S04" for f in only["flags"])
    assert api.get("/supervision/flags", "inspector", params={"rule": "X1"}).status_code == 422
    evaluations = api.get("/evaluations/summary", "admin").json()
    assert evaluations["summary"]["evaluated"] == 1 and evaluations["summary"]["bad_reviews"] == 1
    by_window = api.get("/evaluations/summary", "admin", params={"group_by": "window"}).json()
    assert [g["key"] for g in by_window["summary"]["groups"]] == ["W01", "W02"]
    assert by_window["window_ranking"][0]["window"] == "W01"


def test_a_bundle_shows_its_children(api_workers: Api) -> None:
    api = api_workers
    opened = api.state.service.handle(
        SubmitBundle(
            actor=Actor("clerk-1", "clerk", window="W01"),
            bundle_code="YJS-001",
            applicant=Party(**APPLICANT),
            materials=["申请书"],
        )
    )
    api.sync()
    bundle = api.get(f"/bundles/{opened.bundle_id}", "clerk").json()
    assert bundle["code"] == "YJS-001" and bundle["status"] == "received"
    assert {c["item_code"] for c in bundle["children"]} == {"XK-001", "XK-003", "XK-019"}
    missing = "/bundles/00000000-0000-4000-8000-000000000000"
    assert api.get(missing, "clerk").status_code == 404


def test_views_not_built_yet_are_503_not_500(api: Api) -> None:
    r = api.get("/compliance/summary", "admin")
    assert r.status_code == 503 and r.json()["projection"] == "compliance"
    assert api.get("/cases", "admin").status_code == 503


ENDPOINTS: list[tuple[str, frozenset[str]]] = [
    ("/cases", frozenset(STAFF_ROLES)),
    ("/cases/{id}", frozenset(STAFF_ROLES)),
    ("/cases/{id}/events", frozenset(STAFF_ROLES)),
    ("/cases/{id}/timeline", frozenset(STAFF_ROLES)),
    ("/cases/{id}/clock", frozenset(STAFF_ROLES)),
    ("/compliance/summary", frozenset(STAFF_ROLES)),
    ("/compliance/overdue", frozenset(STAFF_ROLES)),
    ("/evaluations/summary", frozenset(STAFF_ROLES)),
    ("/bundles/{bundle}", frozenset(STAFF_ROLES)),
    ("/supervision/flags", frozenset({"inspector", "auditor", "admin"})),
    ("/audit/digest", frozenset({"inspector", "auditor", "admin"})),
    ("/audit/verify", frozenset({"inspector", "auditor", "admin"})),
    ("/audit/export", frozenset({"inspector", "auditor", "admin"})),
    ("/stream?after=0&limit=1", frozenset(STAFF_ROLES)),
]
PUBLIC = ["/items", "/items/XK-001", "/health", "/metrics", "/openapi.json"]


def test_every_read_endpoint_for_every_role(api_workers: Api) -> None:
    api = api_workers
    case = api.submit()
    bundle = api.state.service.handle(
        SubmitBundle(
            actor=Actor("clerk-1", "clerk"), bundle_code="YJS-002", applicant=Party(**APPLICANT)
        )
    )
    api.sync()
    for template, allowed in ENDPOINTS:
        url = template.format(id=case["case_id"], bundle=bundle.bundle_id)
        assert api.get(url).status_code == 401, url
        for role in STAFF_ROLES:
            r = api.get(url, role)
            assert r.status_code == (200 if role in allowed else 403), (url, role, r.text)
        assert api.get(url, "applicant").status_code == 403
    for url in PUBLIC:
        assert api.get(url).status_code == 200, url
    code = {"code": case["query_code"]}
    assert api.get(f"/public/cases/{case['case_no']}", params=code).status_code == 200


@pytest.mark.parametrize("role", ["auditor", "inspector"])
def test_auditors_and_inspectors_are_read_only(api: Api, role: str) -> None:
    case = api.submit()
    before = api.head()
    from tests.api.support import BODIES

    for action, body in BODIES.items():
        r = api.post(f"/cases/{case['case_id']}/{action}", role, json=body)
        assert r.status_code == 403, action
    r = api.post("/cases", role, json={"item_code": "XK-001", "applicant": APPLICANT})
    assert r.status_code == 403
    assert api.head() == before
