"""``/enquiries`` over HTTP: commands, views, S16 in ``/supervision/flags``, bad input."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.api.support import Api


def test_an_enquiry_through_http_and_its_s16_flag(api_workers: Api) -> None:
    api = api_workers
    api.clock.now = datetime(2025, 9, 30, 2, 0, tzinfo=UTC)  # 10:00 in the bureau
    body = {
        "kind": "request",
        "topic": "招商项目用地手续咨询",
        "service_window": "招商引资绿色通道",
    }
    r = api.post("/enquiries", "clerk", json=body)
    assert r.status_code == 201, r.text
    late = r.json()["enquiry_id"]
    assert r.headers["Location"] == f"/enquiries/{late}"
    quick = api.post("/enquiries", "clerk", json={"kind": "consultation", "topic": "营业执照"})
    quick_id = quick.json()["enquiry_id"]
    r = api.post(f"/enquiries/{quick_id}/answer", "clerk", json={"answer": "当场答复"})
    assert r.status_code == 200, r.text
    assert r.json()["version"] == 2
    api.sync()
    one = api.get(f"/enquiries/{late}?today=2025-10-15", "inspector").json()
    assert (one["due"], one["status"], one["overdue"]) == ("2025-10-14", "open", True)
    assert one["service_window"] == "招商引资绿色通道"
    flags = api.get("/supervision/flags?rule=S16&today=2025-10-15", "inspector").json()
    assert [(f["rule"], f["enquiry_id"]) for f in flags["flags"]] == [("S16", late)]
    everything = api.get("/supervision/flags?today=2025-10-15", "inspector").json()
    assert late in [f.get("enquiry_id") for f in everything["flags"]]
    assert (
        api.get("/supervision/flags?rule=S16&today=2025-10-14", "inspector").json()["flags"] == []
    )
    summary = api.get("/enquiries/summary?today=2025-10-15", "clerk").json()
    assert (summary["received"], summary["answered"], summary["late"]) == (2, 1, 1)


def test_refusals_change_nothing(api: Api) -> None:
    head = api.head()
    r = api.post("/enquiries", "clerk", json={"kind": "gossip", "topic": "x"})
    assert r.status_code == 422
    r = api.post("/enquiries", "clerk", json={"kind": "request", "topic": "x" * 201})
    assert r.status_code == 422
    r = api.post("/enquiries", "inspector", json={"kind": "request", "topic": "x"})
    assert r.status_code == 403
    made = api.post("/enquiries", "clerk", json={"kind": "request", "topic": "x"}).json()
    assert api.head() == head + 1
    r = api.post(f"/enquiries/{made['enquiry_id']}/close", "clerk", json={"outcome": "resolved"})
    assert r.status_code in (400, 422), r.text
    r = api.post(
        f"/enquiries/{made['enquiry_id']}/answer",
        "clerk",
        json={"answer": "ok"},
        headers={"If-Match": '"7"'},
    )
    assert r.status_code == 412
    r = api.post(
        "/enquiries/00000000-0000-0000-0000-000000000000/answer", "clerk", json={"answer": "a"}
    )
    assert r.status_code == 404
    assert api.head() == head + 1


def test_the_monthly_report_over_http(api_workers: Api) -> None:
    api = api_workers
    api.clock.now = datetime(2025, 10, 20, 2, 0, tzinfo=UTC)
    api.post("/enquiries", "clerk", json={"kind": "request", "topic": "用地"})
    r = api.get("/reports/monthly?month=2025-10", "inspector")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["month"] == "2025-10" and body["position"] == api.head()
    received = next(f for f in body["figures"] if f["key"] == "enquiries_received")
    assert received["value"] == 1
    assert received["command"] == (
        f"casestore report monthly --month 2025-10 --at-position {body['position']} "
        "--figure enquiries_received"
    )
    pdf = api.get("/reports/monthly?month=2025-10&format=pdf", "inspector")
    assert pdf.headers["content-type"] == "application/pdf" and pdf.content[:5] == b"%PDF-"
    xlsx = api.get("/reports/monthly?month=2025-10&format=xlsx", "inspector")
    assert xlsx.content[:2] == b"PK"
    assert api.get("/reports/monthly?month=2025-13", "inspector").status_code in (400, 422)
    assert api.get("/reports/monthly?month=2025-10", None).status_code == 401


def test_a_retried_enquiry_appends_once_and_a_reused_key_is_refused(api: Api) -> None:
    body = {"kind": "request", "topic": "营业执照办理咨询"}
    key = {"Idempotency-Key": "enq-1"}
    first = api.post("/enquiries", "clerk", json=body, headers=key)
    head = api.head()
    again = api.post("/enquiries", "clerk", json=body, headers=key)
    assert again.json()["enquiry_id"] == first.json()["enquiry_id"]
    assert again.headers["Idempotent-Replayed"] == "true" and api.head() == head
    other = api.post("/enquiries", "clerk", json={**body, "topic": "另一件事"}, headers=key)
    assert other.status_code == 422 and api.head() == head


def test_every_practice_event_reads_in_the_audit_export(api: Api) -> None:
    assert (
        api.post(
            "/windows",
            "admin",
            json={"code": "G01", "name": "绿色通道", "window_type": "green_channel"},
        ).status_code
        == 201
    )
    made = api.post("/enquiries", "clerk", json={"kind": "request", "topic": "x"}).json()
    api.post(f"/enquiries/{made['enquiry_id']}/answer", "clerk", json={"answer": "y"})
    award = {"kind": "silk_banner", "recipient_kind": "window", "recipient": "G01"}
    assert api.post("/awards", "clerk", json=award).status_code == 201
    exported = api.get("/audit/export", "auditor")
    assert exported.status_code == 200, exported.text
    types = [line for line in exported.text.splitlines() if line.strip()]
    assert any("Registered" in t for t in types) and any("Granted" in t for t in types)
