"""Every route family through a real ``casestore serve`` (SQLite and PostgreSQL).

Expected values are written from the README and SPEC (stages, roles, problem types), never
read back from the server's own tables.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta
from typing import Any

import httpx
import orjson
import pytest

from casestore.domain.values import BUREAU_TZ
from tests.api.support import APPLICANT, LIFECYCLE, OTHER_BODIES

from .conftest import Served, cli

ID_NUMBER = str(APPLICANT["id_number"])


def _submit(served: Served, item: str = "XK-003") -> dict[str, Any]:
    with served.client("clerk") as c:
        r = c.post("/cases", json={"item_code": item, "applicant": APPLICANT})
    assert r.status_code == 201, (r.text, served.log_tail())
    case: dict[str, Any] = r.json()
    return case


def _sse(text: str) -> list[dict[str, Any]]:
    events, current = [], {}
    for line in text.splitlines():
        if not line:
            if "data" in current:
                events.append(current)
            current = {}
        elif line.startswith("id: "):
            current["id"] = int(line[4:])
        elif line.startswith("data: "):
            current["data"] = orjson.loads(line[6:])
    return events


def test_health_web_pages_and_openapi(served: Served) -> None:
    with served.client() as c:
        health = c.get("/health").json()
        assert health["status"] == "ok" and health["store"]["backend"] == served.backend
        assert health["workers"] is (served.backend == "sqlite")
        for page in ("/", "/dashboard"):
            r = c.get(page)
            assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
        assert c.get("/static/board.js").status_code == 200
        assert c.get("/static/..%2Fapp.py").status_code == 404
        assert "/cases/{case_id}/accept" in c.get("/openapi.json").json()["paths"]
        metrics = c.get("/metrics")
        assert metrics.headers["content-type"].startswith("text/plain")
        assert "casestore_log_head_position" in metrics.text


def test_a_case_walks_through_every_command_kind(served: Served) -> None:
    case = _submit(served)
    assert case["version"] == 1 and len(case["query_code"]) == 6
    version = 1
    for action, role, body in LIFECYCLE:
        with served.client(role) as c:
            r = c.post(f"/cases/{case['case_id']}/{action}", json=body)
        assert r.status_code == 200, (action, r.text)
        version += 1
        assert r.json()["version"] == version, action
    with served.client("admin") as c:
        view = c.get(f"/cases/{case['case_id']}").json()
    assert view["stage"] == "delivered"
    assert view["evaluation_level"] == 5 and view["bad_review_handled"] is True
    assert view["corrections"] == 1 and view["extensions"] == 1


@pytest.mark.parametrize(("action", "stage"), [("reject", "rejected"), ("withdraw", "withdrawn")])
def test_reject_and_withdraw_close_a_case(served: Served, action: str, stage: str) -> None:
    case = _submit(served)
    with served.client("clerk") as c:
        r = c.post(f"/cases/{case['case_id']}/{action}", json=OTHER_BODIES[action])
        assert r.status_code == 200, r.text
        assert c.get(f"/cases/{case['case_id']}").json()["stage"] == stage


def test_refusals_are_problems_and_change_nothing(served: Served) -> None:
    case = _submit(served)
    with served.client("clerk") as c:
        head = c.get("/health").json()["store"]["head"]
        decide = c.post(f"/cases/{case['case_id']}/decide", json={"outcome": "approve"})
        assert decide.status_code == 403
        assert decide.headers["content-type"] == "application/problem+json"
        stale = c.post(f"/cases/{case['case_id']}/accept", json={}, headers={"If-Match": '"7"'})
        assert stale.status_code in (409, 412)
        assert c.post("/cases", json={"item_code": "XK-003"}).status_code == 422
        assert c.get("/health").json()["store"]["head"] == head
    with served.client() as anonymous:
        assert anonymous.get(f"/cases/{case['case_id']}").status_code == 401
        forged = {"Authorization": "Bearer " + served.tokens["clerk"][:-4] + "AAAA"}
        assert anonymous.get(f"/cases/{case['case_id']}", headers=forged).status_code == 401


def test_bundle_intake_and_extension(served: Served) -> None:
    with served.client("clerk") as c:
        r = c.post("/bundles", json={"bundle_code": "YJS-001", "applicant": APPLICANT})
    assert r.status_code == 201, r.text
    bundle = r.json()
    children = bundle["children"]
    assert sorted(children) == ["XK-001", "XK-003", "XK-019"]
    assert all(child["query_code"] for child in children.values())
    with served.client("approver") as c:
        approval = {"approved_by": "县人民政府 王副县长", "approval_document": "县政办〔2026〕1号"}
        unapproved = c.post(f"/bundles/{bundle['bundle_id']}/extend", json={"reason": "联合审查"})
        assert unapproved.status_code == 422  # Art. 42 ¶2: 本级人民政府负责人 must approve
        extended = c.post(
            f"/bundles/{bundle['bundle_id']}/extend", json={"reason": "联合审查", **approval}
        )
        assert extended.status_code == 200, extended.text
        again = c.post(
            f"/bundles/{bundle['bundle_id']}/extend", json={"reason": "再次", **approval}
        )
        assert again.status_code == 409
    served.settle()
    with served.client("clerk") as c:
        view = c.get(f"/bundles/{bundle['bundle_id']}").json()
    assert view["code"] == "YJS-001" and len(view["children"]) == 3
    # Art. 42 ¶2: the joint 45 working days, extended once by 15.
    assert view["clock"]["statutory"]["extension_days"] == 15


def test_queries_read_the_projections(served: Served) -> None:
    case = _submit(served)
    with served.client("clerk") as c:
        c.post(f"/cases/{case['case_id']}/accept", json={}).raise_for_status()
    served.settle()
    cid = case["case_id"]
    with served.client("clerk") as c:
        listed = c.get("/cases", params={"stage": "accepted", "limit": 500}).json()
        assert cid in [row["case_id"] for row in listed["items"]]
        events = c.get(f"/cases/{cid}/events").json()
        assert [e["type"] for e in events] == ["Submitted", "Accepted"]
        assert ID_NUMBER in c.get(f"/cases/{cid}").text  # a clerk sees it in full
        assert c.get(f"/cases/{cid}/timeline").status_code == 200
        clock = c.get(f"/cases/{cid}/clock").json()
        assert clock["case_id"] == cid
        then = c.get(f"/cases/{cid}", params={"at_position": case["position"]})
        assert then.json()["stage"] == "received" and then.headers["ETag"] == '"1"'
        assert c.get("/compliance/summary").status_code == 200
        assert c.get("/compliance/overdue").status_code == 200
        assert c.get("/evaluations/summary").status_code == 200
        assert c.get("/supervision/flags").status_code == 403  # inspectors, auditors, admins
    with served.client("inspector") as c:
        assert c.get("/supervision/flags").status_code == 200
        masked = c.get(f"/cases/{cid}").json()["applicant"]["id_number"]
        assert masked == "110***********1234"  # README "Personal data": masked for inspectors
    with served.client() as c:
        items = c.get("/items").json()
        assert len(items) == 22 and items[0]["code"] == "XK-001"
        assert c.get("/items/XK-003").json()["statutory_days"] == 10
        board = c.get("/board/cases")
        assert board.status_code == 200 and case["case_no"] in board.text
        assert APPLICANT["name"] not in board.text


def test_audit_routes(served: Served) -> None:
    _submit(served)
    with served.client("auditor") as c:
        digest = c.get("/audit/digest").json()
        report = c.get("/audit/verify", params={"digest": digest["digest"]}).json()
        assert report["ok"] is True and report["digest_checked"] is True
        export = c.get("/audit/export", params={"after": digest["position"] - 2})
        assert export.headers["content-type"].startswith("application/x-ndjson")
        lines = [orjson.loads(line) for line in export.content.splitlines()]
        assert [x["position"] for x in lines][:2] == [digest["position"] - 1, digest["position"]]
    with served.client("clerk") as c:
        assert c.get("/audit/digest").status_code == 403
    # The auditor's own tool agrees with the served log (the CLI on the same database).
    assert cli("verify", "--db", served.db).startswith("INTACT")


def test_the_public_page_and_the_applicants_evaluation(served: Served) -> None:
    case = _submit(served)
    url = f"/public/cases/{case['case_no']}"
    with served.client() as c:
        r = c.get(url, params={"code": case["query_code"]})
        assert r.status_code == 200, r.text
        assert r.json()["stage"] == "received"
        assert APPLICANT["name"] not in r.text and ID_NUMBER not in r.text
        wrong = "000000" if case["query_code"] != "000000" else "111111"
        assert c.get(url, params={"code": wrong}).status_code == 404
        code = {"code": case["query_code"]}
        assert (
            c.post(f"{url}/evaluate", params={"code": wrong}, json={"level": 4}).status_code == 404
        )
        assert c.post(f"{url}/evaluate", params=code, json={"level": 9}).status_code == 422
        assert c.post(f"{url}/evaluate", params=code, json={"level": 4}).status_code == 200
        assert c.post(f"{url}/evaluate", params=code, json={"level": 4}).status_code == 409


def test_the_stream_replays_and_follows(served: Served) -> None:
    first = _submit(served)
    with served.client("clerk") as c:
        replay = c.get("/stream", params={"case": first["case_id"], "after": 0, "limit": 1})
    assert replay.headers["content-type"].startswith("text/event-stream")
    events = _sse(replay.text)
    assert [e["data"]["event"] for e in events] == ["Submitted"]
    assert events[0]["data"]["case_no"] == first["case_no"]

    # Live: follow the stream, then append; the new event arrives on the open connection.
    seen: list[dict[str, Any]] = []
    opened = threading.Event()
    head = served.settle()["store"]["head"]

    def follow() -> None:
        with (
            served.client("clerk") as c,
            c.stream("GET", "/stream", params={"after": head}, timeout=60) as r,
        ):
            opened.set()
            buffer = ""
            for chunk in r.iter_text():
                buffer += chunk.replace("\r\n", "\n")
                *complete, buffer = buffer.split("\n\n")
                seen.extend(_sse("\n\n".join(complete) + "\n\n"))
                if any(e["data"].get("event") == "Accepted" for e in seen):
                    return

    reader = threading.Thread(target=follow, daemon=True)
    reader.start()
    assert opened.wait(30)
    with served.client("clerk") as c:
        c.post(f"/cases/{first['case_id']}/accept", json={}).raise_for_status()
    reader.join(60)
    assert not reader.is_alive(), served.log_tail()
    accepted = [e for e in seen if e["data"].get("event") == "Accepted"]
    assert accepted and accepted[0]["data"]["case_id"] == first["case_id"]
    assert accepted[0]["data"]["stage"] == "accepted" and accepted[0]["id"] > head


def test_the_dashboard_as_of_a_past_day(served: Served) -> None:
    _submit(served)
    served.settle()
    with served.client("admin") as c:
        yesterday = (datetime.now(BUREAU_TZ) - timedelta(days=1)).date().isoformat()
        r = c.post("/dashboard/as-of", params={"day": yesterday})
        assert r.status_code == 200, r.text
        assert r.json()["day"] == yesterday and r.json()["target"]
        today = c.post("/dashboard/as-of", params={"day": yesterday[:8] + "99"})
        assert today.status_code == 422


def test_unknown_routes_are_problems(served: Served) -> None:
    with served.client() as c:
        r = c.get("/nowhere")
    assert r.status_code == 404
    assert r.headers["content-type"] == "application/problem+json"
    with pytest.raises(httpx.HTTPStatusError):
        r.raise_for_status()


def test_each_request_writes_one_access_line(served: Served) -> None:
    """The served process logs every request once, as a JSON line on stderr (README
    "Logs"), also when the route refuses it; the lines are written in batches, so they
    are read back after a short wait."""
    ids = {"created": f"e2e-access-{served.backend}-1", "refused": f"e2e-access-{served.backend}-2"}
    with served.client("clerk") as c:
        created = c.post(
            "/cases",
            json={"item_code": "XK-003", "applicant": APPLICANT},
            headers={"X-Request-ID": ids["created"]},
        )
        refused = c.get(
            f"/cases/{created.json()['case_id']}?verison=3",
            headers={"X-Request-ID": ids["refused"]},
        )
    assert (created.status_code, refused.status_code) == (201, 400), refused.text
    deadline = time.monotonic() + 30
    while True:
        lines = [orjson.loads(line) for line in served.logs[-1].read_bytes().splitlines()
                 if line.startswith(b"{") and b"e2e-access-" in line]  # fmt: skip
        found = {k: [ln for ln in lines if ln.get("request_id") == v] for k, v in ids.items()}
        if all(found.values()) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert [len(v) for v in found.values()] == [1, 1], (found, served.log_tail())
    line = found["created"][0]
    assert line["logger"] == "casestore.api.access" and line["msg"] == "request"
    assert (line["method"], line["path"], line["route"], line["status"]) == (
        "POST", "/cases", "/cases", 201
    )  # fmt: skip
    assert line["staff_id"] == "e2e-clerk" and line["ms"] > 0
    line = found["refused"][0]
    assert (line["method"], line["route"], line["status"]) == ("GET", "/cases/{case_id}", 400)
