"""Literal checks of the bounds at the door (issue 12 items 1 and 4), from the README."""

from __future__ import annotations

from tests.api.support import Api, walk


def test_year_one_and_year_9999_claims_are_refused_in_both_languages(api: Api) -> None:
    before = api.head()
    for when in ("0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59Z"):
        r = api.post("/cases", "clerk", json={"item_code": "XK-003", "occurred_at": when,
                                               "applicant": {"name": "张三",
                                                             "id_type": "resident_id",
                                                             "id_number": "110101199001011234",
                                                             "phone": "13800000000"}})
        assert r.status_code == 422, r.text
        detail = r.json()["detail"]
        assert "occurred_at" in detail and ("最早" in detail or "不得晚于" in detail), detail
    assert api.head() == before


def test_query_days_moments_cursors_and_event_ids_are_bounded(api_workers: Api) -> None:
    api = api_workers
    case_id = api.submit()["case_id"]
    api.sync()
    for url, params in [
        ("/compliance/overdue", {"today": "9999-12-31"}),
        ("/supervision/flags", {"today": "0001-01-01"}),
        (f"/cases/{case_id}/clock", {"as_of": "9999-12-31T00:00:00Z"}),
        (f"/cases/{case_id}", {"as_of": "0001-01-01T00:00:00+14:00"}),
        ("/cases", {"cursor": "OTk5OTk5OTk5OTk5OTk5OTk5OTk5OTk5fHg="}),  # 9…9|x, base64
    ]:
        r = api.get(url, "inspector", params=params)
        assert r.status_code == 422, (url, r.status_code, r.text)
    for bad in ("²", "99999999999999999999", "-1"):
        r = api.get("/stream", "clerk", headers={"Last-Event-ID": bad.encode()})
        assert r.status_code == 422 and "Last-Event-ID" in r.json()["detail"]


def test_if_match_is_compared_strongly(api: Api) -> None:
    case_id = api.submit()["case_id"]
    before = api.head()
    r = api.post(f"/cases/{case_id}/accept", "clerk", json={}, headers={"If-Match": 'W/"1"'})
    assert r.status_code == 412 and api.head() == before
    r = api.post(f"/cases/{case_id}/accept", "clerk", json={}, headers={"If-Match": '"1"'})
    assert r.status_code == 200


def test_a_write_without_a_token_is_401_before_its_body_is_read(api: Api) -> None:
    case_id = api.submit()["case_id"]
    walk(api, case_id, upto="accept")
    for body in (b"{not json", b'{"missing": []}'):
        r = api.request("POST", f"/cases/{case_id}/accept", content=body,
                        headers={"Content-Type": "application/json"})
        assert r.status_code == 401, r.text
        r = api.request("POST", f"/cases/{case_id}/accept", content=body,
                        headers={"Content-Type": "application/json",
                                 "Authorization": "Bearer forged.token"})
        assert r.status_code == 401, r.text
