"""Every command and query route under extreme and malformed values (issue 12).

Years 1 and 9999, ±14:00 offsets, huge and negative integers, non-ASCII digits, weak
ETags, a reused Idempotency-Key with another body: never a 5xx, never an append on a
refusal, and afterwards every projection at lag 0 with nothing parked.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.api.support import BODIES, LIFECYCLE, make_api, walk

pytestmark = pytest.mark.slow

#: Status codes seen across the fuzz run (the closing note reports the 5xx count).
SEEN: Counter[int] = Counter()

TIMES = st.sampled_from(
    [
        "0001-01-01T00:00:00+14:00",
        "0001-01-01T00:00:00Z",
        "9999-12-31T23:59:59.999999-14:00",
        "9999-12-31T00:00:00Z",
        "1900-01-01T00:00:00+14:00",
        "1989-12-31T23:59:59+08:00",
        "2100-01-01T00:00:00+08:00",
        "2025-09-01T09:00:00+14:00",
        "2025-09-01T09:00:00-14:00",
        "２０２５-０９-０１T09:00:00+08:00",
        "2025-09-01",
        "not a time",
        "",
    ]
)
DAYS = st.sampled_from(
    ["0001-01-01", "9999-12-31", "1899-12-31", "2100-01-01", "２０２５-０１-０１", "2025-13-01",
     "2025-09-01", "-1"]
)
NUMBERS = st.one_of(
    st.sampled_from([0, -1, 2**31, 2**62, 2**63, 2**64, 10**30, -(10**30)]),
    st.integers(min_value=-(2**70), max_value=2**70),
)
TEXT_NUMBERS = st.sampled_from(["²", "١٢٣", "１２３", "9" * 40, "-5", " 7 ", "0x10", "1e9"])
ETAGS = st.sampled_from(['W/"1"', 'W/"99999999999999999999"', '"99999999999999999999"', "*",
                         '"１"', '"1", "2"', "W/x", '"0"'])


def _check(api: Any, response: Any, before: int | None = None) -> None:
    SEEN[response.status_code] += 1
    assert response.status_code < 500, (response.request.url, response.text[:300])
    if before is not None and response.status_code >= 400:
        assert api.head() == before, ("a refusal appended", response.text[:300])


def test_extreme_values_never_5xx_never_append_and_views_stay_whole(tmp_path: Path) -> None:
    api = make_api(tmp_path / "fuzz.db", workers=True)
    try:
        case_id = api.submit()["case_id"]
        walk(api, case_id, upto="review")
        # every view built once before the first read: a view not built yet answers 503
        # (truthfully), which on a loaded machine the first example could meet
        api.sync(timeout=120)
        actions = [a for a, _, _ in LIFECYCLE]
        roles = dict((a, r) for a, r, _ in LIFECYCLE)

        @settings(max_examples=60, deadline=None, derandomize=True,
                  suppress_health_check=list(HealthCheck))
        @given(
            action=st.sampled_from(actions),
            when=TIMES,
            day=DAYS,
            number=NUMBERS,
            text_number=TEXT_NUMBERS,
            etag=ETAGS,
            key=st.sampled_from(["k-1", "k-2", None]),
        )
        def one(action: str, when: str, day: str, number: int, text_number: str, etag: str,
                key: str | None) -> None:
            headers: dict[str, Any] = {"If-Match": etag.encode("utf-8")}
            if key:
                headers["Idempotency-Key"] = key
            before = api.head()
            body = dict(BODIES[action]) | {"occurred_at": when}
            if action == "extend":
                body["days"] = number
            r = api.post(f"/cases/{case_id}/{action}", roles[action], json=body,
                         headers=headers)
            _check(api, r, before if r.status_code >= 400 else None)
            before = api.head()
            r = api.post("/cases", "clerk", headers={"Idempotency-Key": key or "sub"},
                         json={"item_code": "XK-003", "occurred_at": when,
                               "applicant": {"name": "张三", "id_type": "resident_id",
                                             "id_number": "110101199001011234",
                                             "phone": "13800000000"}})
            _check(api, r, before if r.status_code >= 400 else None)
            for url, params in [
                ("/compliance/overdue", {"today": day}),
                ("/compliance/summary", {"today": day}),
                ("/supervision/flags", {"today": day}),
                ("/evaluations/summary", {"today": day}),
                (f"/cases/{case_id}", {"as_of": when}),
                (f"/cases/{case_id}/clock", {"as_of": when}),
                (f"/cases/{case_id}", {"at_position": number}),
                ("/cases", {"cursor": text_number}),
                ("/audit/export", {"after": number}),
                ("/audit/digest", {"position": number}),
            ]:
                _check(api, api.get(url, "inspector", params=params))
            # A resumable stream: a bad Last-Event-ID is refused before streaming starts; a
            # good one below the head yields one event (limit=1) and closes.
            r = api.get("/stream", "clerk", params={"limit": 1},
                        headers={"Last-Event-ID": text_number.encode("utf-8")})
            _check(api, r)
            _check(api, api.post("/dashboard/as-of", "inspector", params={"day": day}))

        one()
        api.sync(timeout=120)
        health = api.get("/health").json()
        assert health["status"] == "ok", health
        for name, view in health["projections"].items():
            assert view["lag"] == 0 and view["parked"] == [], (name, view)
        print(f"fuzz statuses: {dict(SEEN)}")
        assert not [code for code in SEEN if code >= 500]
    finally:
        api.close()
