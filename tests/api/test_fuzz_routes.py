"""The routes ``test_fuzz_bounds`` does not reach, under the same extreme values (issue 12).

Bundles and their extension, enquiries and their commands, windows (register, revise,
party post, duty), awards (grant, revoke), free services, the survey notice and cost,
reject and withdraw, the public evaluation, cosignatures and stream tickets; and the query
routes for monthly and yearly reports, exports, notices, staff, the log's checkpoints and
proofs, the case list as of a moment or position, and the survey list. Same assertions:
never a 5xx, never an append on a refusal, and afterwards every projection at lag 0 with
nothing parked. A route table check fails when a command route is added without being
fuzzed here or in ``test_fuzz_bounds``.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.api.support import APPLICANT, BODIES, LIFECYCLE, Api, make_api, walk
from tests.api.test_fuzz_bounds import DAYS, ETAGS, NUMBERS, TEXT_NUMBERS, TIMES

#: Status codes seen across this fuzz run (the closing note reports the 5xx count).
SEEN: Counter[int] = Counter()
#: (method, path, status) -> count, printed so a route answering only 422 stands out.
BY_ROUTE: Counter[tuple[str, str, int]] = Counter()

#: Every POST route template fuzzed, here or in ``test_fuzz_bounds`` (written by hand:
#: a new command route must be added to a fuzz test before this list).
FUZZED_POSTS = {
    "/cases",
    "/dashboard/as-of",
    *(f"/cases/{{case_id}}/{action}" for action, _, _ in LIFECYCLE),
    "/cases/{case_id}/reject",
    "/cases/{case_id}/withdraw",
    "/cases/{case_id}/service",
    "/bundles",
    "/bundles/{bundle_id}/extend",
    "/enquiries",
    "/enquiries/{enquiry_id}/answer",
    "/enquiries/{enquiry_id}/refer",
    "/enquiries/{enquiry_id}/close",
    "/windows",
    "/windows/{code}/revise",
    "/windows/{code}/party-post",
    "/windows/{code}/duty",
    "/awards",
    "/awards/{award_id}/revoke",
    "/public/cases/{case_no}/evaluate",
    "/log/cosignatures",
    "/stream/tickets",
}


def test_every_command_route_is_in_the_fuzzed_set(tmp_path: Path) -> None:
    api = make_api(tmp_path / "routes.db")
    try:
        paths: dict[str, dict[str, Any]] = api.app.openapi()["paths"]
        posts = {path for path, ops in paths.items() if {"post", "put", "patch"} & set(ops)}
        assert posts, "no command routes found in the OpenAPI document"
        assert posts <= FUZZED_POSTS, sorted(posts - FUZZED_POSTS)
        assert "delete" not in {op for ops in paths.values() for op in ops}
    finally:
        api.close()


@pytest.mark.parametrize(
    "as_of", ["9999-12-31", "0001-01-01", "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59Z"]
)
def test_staff_as_of_out_of_range_is_a_422_problem(tmp_path: Path, as_of: str) -> None:
    """Found by the fuzz below: ``GET /staff?as_of=9999-12-31`` answered 500 (the day's end
    overflowed); a day or instant outside the query bounds is a 422 problem."""
    api = make_api(tmp_path / "staff.db")
    try:
        for url in ("/staff", "/staff/clerk-1"):
            r = api.get(url, "inspector", params={"as_of": as_of})
            assert r.status_code == 422, (url, r.text)
            assert r.headers["content-type"].startswith("application/problem+json")
        assert api.head() > 0
    finally:
        api.close()


def _check(api: Api, response: Any, before: int | None = None) -> None:
    SEEN[response.status_code] += 1
    BY_ROUTE[(response.request.method, response.request.url.path, response.status_code)] += 1
    assert response.status_code < 500, (response.request.url, response.text[:300])
    if before is not None and response.status_code >= 400:
        assert api.head() == before, ("a refusal appended", response.text[:300])


def _command(api: Api, url: str, role: str | None, body: Any, headers: dict[str, Any]) -> None:
    before = api.head()
    _check(api, api.post(url, role, json=body, headers=headers), before)


#: GET routes left to other tests: streams never end without a limit (``test_fuzz_bounds``
#: sends ``/stream`` a bad Last-Event-ID); health, metrics and the schema take no input.
UNSWEPT = {"/stream", "/health", "/metrics", "/openapi.json", "/log/checkpoint"}
#: Valid values for the parameters a route requires, so the others are reached.
REQUIRED = {"month": "2025-09", "year": "2025", "since": "2025-09-01", "until": "2025-09-30"}


def _extreme(name: str, schema: dict[str, Any], values: dict[str, Any]) -> Any:
    """The fuzz value for one query parameter, chosen by its declared type and name."""
    kinds = [schema, *schema.get("anyOf", [])]
    types = {k.get("type") for k in kinds}
    formats = {k.get("format") for k in kinds}
    if types & {"integer", "number"}:
        return values["number"]
    if "date" in formats:
        return values["day"]
    if "date-time" in formats or name == "as_of":
        return values["when"]
    if name == "month":
        return values["day"][:7]
    if name == "year":
        return values["day"][:4]
    return values["text_number"]


def _queries(
    api: Api, ids: dict[str, str], when: str, day: str, number: int, text_number: str
) -> list[tuple[str, str | None, dict[str, Any]]]:
    """Every GET route of the OpenAPI document, once per query parameter with that one
    parameter extreme (required ones otherwise valid), path ids filled from ``ids``."""
    values = {"when": when, "day": day, "number": number, "text_number": text_number}
    out: list[tuple[str, str | None, dict[str, Any]]] = []
    for path, ops in api.app.openapi()["paths"].items():
        if "get" not in ops or path in UNSWEPT or path.startswith(("/static", "/docs")):
            continue
        role = None if path.startswith("/public") else "inspector"
        url = path.format(**ids)
        params = [p for p in ops["get"].get("parameters", []) if p["in"] == "query"]
        base = {
            p["name"]: REQUIRED.get(p["name"], ids.get(p["name"], ""))
            for p in params
            if p.get("required")
        }
        if path == "/public/subject-report":
            base |= {"case_no": ids["case_no"]}
        out.append((url, role, base))
        for p in params:
            out.append((url, role, base | {p["name"]: _extreme(p["name"], p["schema"], values)}))
    out += [
        ("/staff", "inspector", {"as_of": day, "role": "approver"}),
        ("/cases", "clerk", {"as_of": when, "at_position": number}),
        ("/log/checkpoints", "auditor", {"after": text_number}),
    ]
    return out


@pytest.mark.slow
def test_more_routes_never_5xx_never_append_and_views_stay_whole(tmp_path: Path) -> None:
    api = make_api(tmp_path / "fuzz-routes.db", workers=True)
    try:
        case = api.submit()
        case_id = case["case_id"]
        walk(api, case_id, upto="survey-schedule")
        spare = api.submit()  # for reject / withdraw
        bundle_body = {"bundle_code": "YJS-001", "applicant": APPLICANT}
        bundle = api.post("/bundles", "clerk", json=bundle_body).json()["bundle_id"]
        enquiry_body = {"kind": "request", "topic": "营业执照办理"}
        enquiry = api.post("/enquiries", "clerk", json=enquiry_body).json()["enquiry_id"]
        window = {"code": "G01", "name": "绿色通道", "window_type": "green_channel"}
        assert api.post("/windows", "admin", json=window).status_code == 201
        award_body = {"kind": "silk_banner", "recipient_kind": "window", "recipient": "G01"}
        award = api.post("/awards", "admin", json=award_body).json()["award_id"]
        api.sync(timeout=120)
        ids = {
            "case_id": case_id,
            "case_no": case["case_no"],
            "code": case["query_code"],
            "bundle_id": bundle,
            "enquiry_id": enquiry,
            "staff_id": "clerk-1",
            "kind": "acceptance",
        }

        @settings(
            max_examples=20,
            deadline=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        @given(
            when=TIMES,
            day=DAYS,
            number=NUMBERS,
            text_number=TEXT_NUMBERS,
            etag=st.one_of(st.none(), ETAGS),
            key=st.sampled_from(["k-1", "k-2", None]),
        )
        def one(
            when: str, day: str, number: int, text_number: str, etag: str | None, key: str | None
        ) -> None:
            headers: dict[str, Any] = {"If-Match": etag.encode("utf-8")} if etag else {}
            if key:
                headers["Idempotency-Key"] = key
            plain = {"Idempotency-Key": key} if key else {}
            commands: list[tuple[str, str | None, Any, dict[str, Any]]] = [
                ("/bundles", "clerk", bundle_body | {"materials": [text_number]}, plain),
                (
                    f"/bundles/{bundle}/extend",
                    "approver",
                    {
                        "reason": "会审",
                        "approved_by": "副县长 王某",
                        "approval_document": "旬政审〔2025〕3号",
                        "occurred_at": when,
                    },
                    headers,
                ),
                ("/enquiries", "clerk", enquiry_body | {"occurred_at": when}, plain),
                (
                    f"/enquiries/{enquiry}/answer",
                    "clerk",
                    {"answer": "已答复", "occurred_at": when},
                    headers,
                ),
                (
                    f"/enquiries/{enquiry}/refer",
                    "clerk",
                    {"to_unit": "市场监管局", "occurred_at": when},
                    headers,
                ),
                (
                    f"/enquiries/{enquiry}/close",
                    "clerk",
                    {"outcome": "resolved", "occurred_at": when},
                    headers,
                ),
                ("/windows", "admin", window | {"code": f"N{number % 1000}"}, plain),
                (
                    "/windows/G01/revise",
                    "admin",
                    {"name": text_number, "window_type": "green_channel"},
                    headers,
                ),
                (
                    "/windows/G01/party-post",
                    "admin",
                    {"staff_id": "clerk-1", "staff_name": text_number},
                    headers,
                ),
                (
                    "/windows/G01/duty",
                    "admin",
                    {"day": day, "staff_id": "approver-1", "staff_name": "赵六"},
                    headers,
                ),
                ("/awards", "admin", award_body | {"occurred_at": when}, plain),
                (f"/awards/{award}/revoke", "admin", {"reason": text_number}, headers),
                (
                    f"/cases/{case_id}/service",
                    "clerk",
                    {
                        "service": "copying",
                        "units": number,
                        "charged_fen": number,
                        "bureau_cost_fen": number,
                        "occurred_at": when,
                    },
                    headers,
                ),
                (
                    f"/cases/{case_id}/survey-schedule",
                    "surveyor",
                    {
                        "requirements": ["经营场所平面图"],
                        "survey_days": number,
                        "notified_at": when,
                        "notice_method": "electronic",
                        "occurred_at": when,
                    },
                    headers,
                ),
                (
                    f"/cases/{case_id}/survey-result",
                    "surveyor",
                    BODIES["survey-result"] | {"cost_fen": number, "occurred_at": when},
                    headers,
                ),
                (
                    f"/cases/{spare['case_id']}/reject",
                    "clerk",
                    BODIES["reject"] | {"occurred_at": when},
                    headers,
                ),
                (
                    f"/cases/{spare['case_id']}/withdraw",
                    "clerk",
                    BODIES["withdraw"] | {"occurred_at": when},
                    headers,
                ),
                (
                    f"/public/cases/{case['case_no']}/evaluate?code={case['query_code']}",
                    None,
                    {"level": number, "occurred_at": when},
                    plain,
                ),
                ("/log/cosignatures", "auditor", {"size": number, "note": text_number}, plain),
                ("/stream/tickets", "clerk", None, plain),
            ]
            for url, role, body, sent in commands:
                _command(api, url, role, body, sent)
            for url, role, params in _queries(api, ids, when, day, number, text_number):
                _check(api, api.get(url, role, params=params))

        one()
        api.sync(timeout=120)
        health = api.get("/health").json()
        assert health["status"] == "ok", health
        for name, view in health["projections"].items():
            assert view["lag"] == 0 and view["parked"] == [], (name, view)
        print(f"fuzz statuses: {dict(SEEN)}")
        for (method, path, status), count in sorted(BY_ROUTE.items()):
            print(f"  {method} {path} {status}: {count}")
        assert not [code for code in SEEN if code >= 500]
    finally:
        api.close()
