"""The case command routes' quick path (``api/routes/quickroute.py``): plain requests are
answered without FastAPI's dependency resolution, everything else the declared way, and
both answer alike (statuses, problem bodies and headers written from the README and
SPEC §11: ETag, Idempotent-Replayed, 412 with current_version, 422 with errors)."""

from __future__ import annotations

from typing import Any

import pytest
from casestore.api.routes import quickroute

from tests.api.support import Api, auth

REVIEW = {"stage_name": "审查", "opinion": "pass"}


@pytest.fixture
def paths(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Which path answered each command request: "quick" or "declared"."""
    seen: list[str] = []
    quick = quickroute._quick

    async def spy(request: Any, command: Any) -> Any:
        try:
            response = await quick(request, command)
        except Exception:  # a refusal raised by the quick path's work
            seen.append("quick")
            raise
        seen.append("declared" if response is None else "quick")
        return response

    monkeypatch.setattr(quickroute, "_quick", spy)
    return seen


def _accepted(api: Api) -> str:
    case_id: str = api.submit()["case_id"]
    api.command(case_id, "accept", "clerk", {})
    return case_id


def _review(api: Api, case_id: str, headers: dict[str, str], body: Any = REVIEW, tail: str = ""):  # type: ignore[no-untyped-def]
    return api.request("POST", f"/cases/{case_id}/review{tail}", headers=headers, json=body)


def test_plain_commands_take_the_quick_path_and_answer_as_declared(
    api: Api, paths: list[str]
) -> None:
    case_id = _accepted(api)
    paths.clear()
    r = _review(api, case_id, auth("reviewer"))
    assert r.status_code == 200, r.text
    assert r.json() == {"case_id": case_id, "version": 3, "position": r.json()["position"],
                        "duplicate": False}  # fmt: skip
    assert r.headers["etag"] == '"3"' and "idempotent-replayed" not in r.headers
    assert r.headers["content-type"] == "application/json"
    lower = {"Authorization": "bearer " + auth("reviewer")["Authorization"][7:]}
    assert _review(api, case_id, lower).status_code == 200  # the scheme is case-blind
    keyed = {**auth("reviewer"), "Idempotency-Key": "k-1"}
    first, again = _review(api, case_id, keyed), _review(api, case_id, keyed)
    assert first.json()["duplicate"] is False and again.json()["duplicate"] is True
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json()["position"] == first.json()["position"]
    assert _review(api, case_id, {**auth("reviewer"), "If-Match": '"5"'}).status_code == 200
    assert paths == ["quick"] * 5


def test_refusals_from_the_work_are_the_same_problems(api: Api, paths: list[str]) -> None:
    case_id = _accepted(api)
    paths.clear()
    stale = _review(api, case_id, {**auth("reviewer"), "If-Match": '"1"'})
    assert stale.status_code == 412 and stale.json()["current_version"] == 2
    bad_tag = _review(api, case_id, {**auth("reviewer"), "If-Match": "abc"})
    assert bad_tag.status_code == 400 and bad_tag.json()["type"].endswith("/bad-precondition")
    unheld = _review(api, case_id, {**auth("reviewer"), "X-Act-As": "approver"})
    assert unheld.status_code == 403 and unheld.json()["role"] == "approver"
    purpose = _review(api, case_id, {**auth("reviewer"), "X-Purpose": "%00"})
    assert purpose.status_code == 422 and "X-Purpose" in purpose.json()["detail"]
    key = _review(api, case_id, {**auth("reviewer"), "Idempotency-Key": "a b"})
    assert key.status_code == 422 and "Idempotency-Key" in key.json()["detail"]
    for r in (stale, bad_tag, unheld, purpose, key):
        assert r.headers["content-type"] == "application/problem+json"
    assert paths == ["quick"] * 5


def test_requests_the_declaration_refuses_go_the_declared_way(api: Api, paths: list[str]) -> None:
    case_id = _accepted(api)
    paths.clear()
    reviewer = auth("reviewer")
    long_role = _review(api, case_id, {**reviewer, "X-Act-As": "x" * 33})
    assert long_role.status_code == 422
    assert [e["loc"] for e in long_role.json()["errors"]] == [["header", "X-Act-As"]]
    both = _review(api, case_id, {**reviewer, "X-Purpose": "p" * 2001}, {"stage_name": 5})
    assert [e["loc"] for e in both.json()["errors"]] == [
        ["header", "X-Purpose"], ["body", "stage_name"], ["body", "opinion"]
    ]  # fmt: skip
    query = _review(api, case_id, reviewer, tail="?verison=3")
    assert query.status_code == 400 and query.json()["type"].endswith("/unknown-parameter")
    path = api.request("POST", "/cases/not-a-uuid/review", headers=reviewer, json=REVIEW)
    assert path.status_code == 422 and path.json()["errors"][0]["loc"] == ["path", "case_id"]
    text = api.request(
        "POST", f"/cases/{case_id}/review", headers={**reviewer, "Content-Type": "text/plain"},
        content=b'{"stage_name": "x", "opinion": "pass"}',
    )  # fmt: skip
    assert text.status_code == 422
    missing = api.request("POST", f"/cases/{case_id}/review", headers=reviewer)
    assert missing.status_code == 422
    assert paths == ["declared"] * 6
    # the declared way still runs the command when it is valid after all (an id in hex)
    hexed = case_id.replace("-", "")
    upper = api.request("POST", f"/cases/{hexed}/review", headers=reviewer, json=REVIEW)
    assert upper.status_code == 200 and upper.json()["case_id"] == case_id
    assert paths[-1] == "declared"
