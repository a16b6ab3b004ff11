"""Reads leave a trace; grants decide; tokens stay out of URLs; query codes stay secret."""

from __future__ import annotations

import base64
import hashlib
import re
from uuid import UUID

import orjson

from tests.api.support import APPLICANT, STAFF_ROLES, Api, auth, token, walk

#: By hand from the README's matrix: roles that see an ID number or phone in full.
UNMASKED = {"clerk", "reviewer", "approver", "surveyor", "dispatcher", "admin"}


def _trail(api: Api, after: int) -> list[dict]:
    return [
        {"role": e.actor.role, "staff": e.actor.staff_id, "route": e.route, "cases": e.case_ids}
        for row, e in api.state.service.app.iter_events(after)
        if type(e).__name__ == "AccessRecorded"
    ]


def test_every_unmasked_read_is_recorded_and_masked_reads_are_not(api: Api) -> None:
    case = api.submit()
    case_id = case["case_id"]
    for role in STAFF_ROLES:
        for url in (f"/cases/{case_id}", f"/cases/{case_id}/events"):
            before = api.head()
            r = api.get(url, role)
            assert r.status_code == 200
            shows_full = APPLICANT["id_number"] in r.text or APPLICANT["phone"] in r.text
            assert shows_full == (role in UNMASKED), (role, url)
            trail = _trail(api, before)
            if shows_full:
                assert trail == [
                    {
                        "role": role,
                        "staff": f"{role}-1",
                        "route": f"GET /cases/{{case_id}}{url.split(case_id)[1]}",
                        "cases": [UUID(case_id)],
                    }
                ]
            else:
                assert trail == [], (role, url)


def test_as_of_reconstructions_by_auditors_and_inspectors_are_recorded(api: Api) -> None:
    case = api.submit()
    for role in ("auditor", "inspector", "sealer"):
        before = api.head()
        r = api.get(f"/cases/{case['case_id']}", role, params={"at_position": before})
        assert r.status_code == 200 and APPLICANT["id_number"] not in r.text
        assert len(_trail(api, before)) == (0 if role == "sealer" else 1), role


def test_inspectors_state_a_purpose(api: Api) -> None:
    case = api.submit()
    url = f"/cases/{case['case_id']}"
    r = api.get(url, headers=auth("inspector"))
    assert r.status_code == 400 and r.json()["type"].endswith("/purpose-required")
    before = api.head()
    purpose = "%E4%B8%93%E9%A1%B9%E6%A3%80%E6%9F%A5"  # 专项检查, percent-encoded UTF-8
    r = api.get(
        url, headers={**auth("inspector"), "X-Purpose": purpose}, params={"at_position": before}
    )
    assert r.status_code == 200
    [event] = [e for _, e in api.state.service.app.iter_events(before)]
    assert event.purpose == "专项检查" and event.actor.role == "inspector"


def test_access_lists_for_inspectors_and_for_the_applicant(api_workers: Api) -> None:
    api = api_workers
    case = api.submit()
    api.get(f"/cases/{case['case_id']}", "reviewer")
    api.get(f"/cases/{case['case_id']}", "sealer")  # masked: no trace
    api.sync()
    trail = api.get("/audit/access", "inspector", params={"case": case["case_id"]}).json()
    assert [(a["staff_id"], a["role"]) for a in trail["items"]] == [("reviewer-1", "reviewer")]
    public = api.get(f"/public/cases/{case['case_no']}/access", params={"code": case["query_code"]})
    assert public.status_code == 200
    [entry] = public.json()["accesses"]
    assert set(entry) == {"recorded_at", "staff_id", "role", "route"}
    assert (entry["staff_id"], entry["role"]) == ("reviewer-1", "reviewer")
    assert "reviewer reviewer-1" not in public.text  # no staff names
    wrong = api.get(f"/public/cases/{case['case_no']}/access", params={"code": "000000"})
    assert wrong.status_code == 404


def test_who_could_approve_on_a_day(api_workers: Api) -> None:
    api = api_workers
    authority = api.state.authority
    authority.enroll("appr-9", name="临时签批", by="test-admin")
    api.clock.advance(days=1)
    authority.grant("appr-9", "approver", by="test-admin", reason="代理签批")
    granted_day = api.clock.now.date().isoformat()
    api.clock.advance(days=2)
    authority.revoke("appr-9", "approver", by="test-admin", reason="代理结束")
    api.clock.advance(days=2)
    api.sync()
    on = api.get("/staff", "inspector", params={"role": "approver", "as_of": granted_day}).json()
    assert "appr-9" in on["staff"] and "approver-1" in on["staff"]
    later = api.get("/staff", "inspector", params={"role": "approver"}).json()
    assert "appr-9" not in later["staff"]
    member = api.get("/staff/appr-9", "auditor", params={"as_of": granted_day}).json()
    assert list(member["roles"]) == ["approver"]
    assert [h["type"] for h in api.get("/staff/appr-9", "auditor").json()["history"]] == [
        "StaffEnrolled",
        "RoleGranted",
        "RoleRevoked",
    ]


def test_a_revoked_role_stops_working_at_once(api: Api) -> None:
    case = api.submit()
    api.state.authority.revoke("clerk-1", "clerk", by="test-admin", reason="调岗")
    r = api.post(f"/cases/{case['case_id']}/accept", "clerk", json={})
    assert r.status_code == 403
    assert api.get(f"/cases/{case['case_id']}", "clerk").status_code == 403


def test_unknown_and_role_bearing_tokens_get_no_authority(api: Api) -> None:
    from casestore.identity import issue_dev_token
    from tests.api.support import SECRET

    stranger = issue_dev_token(SECRET, "never-enrolled")
    r = api.get("/cases", headers={"Authorization": f"Bearer {stranger}"})
    assert r.status_code == 403
    assert api.get("/cases", headers={"Authorization": "Bearer x.y.z"}).status_code == 401


def test_stream_tickets_are_single_use_and_tokens_in_urls_do_not_work(api: Api) -> None:
    case = api.submit()
    walk(api, case["case_id"], upto="review")
    r = api.post("/stream/tickets", "clerk")
    assert r.status_code == 201 and r.json()["expires_in"] == 60
    ticket = r.json()["ticket"]
    first = api.get("/stream", params={"ticket": ticket, "after": 0, "limit": 1})
    assert first.status_code == 200 and "event: status" in first.text
    again = api.get("/stream", params={"ticket": ticket, "after": 0, "limit": 1})
    assert again.status_code == 401
    in_url = api.get("/stream", params={"access_token": token("clerk"), "limit": 1})
    # A token in the URL is not a parameter of /stream at all (unknown parameters are 400).
    assert in_url.status_code == 400 and "event:" not in in_url.text
    assert in_url.json()["type"].endswith("/unknown-parameter")


def test_the_export_holds_no_query_code_material(api: Api) -> None:
    case = api.submit()
    code = case["query_code"]
    case_id = UUID(case["case_id"])
    for role in ("admin", "auditor"):
        text = api.get("/audit/export", role).text
        assert "query_code" not in text
        blobs = [text]
        for line in text.splitlines():
            stored = orjson.loads(line).get("stored_b64")
            if stored:
                blobs.append(base64.b64decode(stored).decode("utf-8", "replace"))
        hexes = set(re.findall(r"[0-9a-f]{64}", "\n".join(blobs)))
        # Brute force every six-digit code against every hash-shaped string in the export.
        found = [
            c
            for c in (f"{n:06d}" for n in range(10**6))
            if hashlib.sha256(case_id.bytes + c.encode()).hexdigest() in hexes
        ]
        assert found == [] and code not in {c for c in found}
        assert "110***********1234" in text or role == "admin"  # the README's mask
