"""回访满意率 totalled on ``GET /evaluations/summary``, overall and by window."""

from __future__ import annotations

from tests.api.support import Api, walk


def test_follow_up_satisfaction_is_totalled(api_workers: Api) -> None:
    api = api_workers
    happy, unhappy = api.submit(), api.submit()
    walk(api, happy["case_id"])  # ... bad review handled, follow-up satisfied
    walk(api, unhappy["case_id"], upto="follow-up")
    api.command(unhappy["case_id"], "follow-up", "clerk", {"satisfied": False, "notes": "不满意"})
    api.sync()
    body = api.get("/evaluations/summary", "inspector").json()
    assert body["follow_ups"] == {
        "follow_ups": 2,
        "satisfied": 1,
        "satisfaction_rate": 0.5,
        "by_window": [{"window": "W01", "follow_ups": 2, "satisfied": 1, "satisfaction_rate": 0.5}],
    }
