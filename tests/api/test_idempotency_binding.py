"""An ``Idempotency-Key`` is bound to the request it was first used for (issue 12 item 4).

The same key again with the same request replays the first outcome; with another body,
another route or another target it is refused with 422 ``idempotency-key-reused`` and
nothing is appended — it must never answer with the first request's outcome (once that
returned the case-number index aggregate as if it were a case). Both backends.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.api.support import APPLICANT, BODIES, Api, make_api

REUSED = "https://casestore.example/problems/idempotency-key-reused"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.pg)])
def api(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Api]:
    url = (
        f"sqlite:///{tmp_path / 'keys.db'}"
        if request.param == "sqlite"
        else request.getfixturevalue("pg_app_db_url")
    )
    client = make_api(url)
    yield client
    client.close()


def _refused(api: Api, response: object, head: object) -> None:
    assert response.status_code == 422, response.text  # type: ignore[attr-defined]
    assert response.json()["type"] == REUSED  # type: ignore[attr-defined]
    assert api.head() == head


def test_a_key_is_bound_to_its_first_request(api: Api) -> None:
    a, b = api.submit(), api.submit()
    key = {"Idempotency-Key": "accept-a"}
    first = api.post(f"/cases/{a['case_id']}/accept", "clerk", json={}, headers=key)
    assert first.status_code == 200
    head = api.head()
    # Another target, another route, another body: refused, nothing appended.
    _refused(api, api.post(f"/cases/{b['case_id']}/accept", "clerk", json={}, headers=key), head)
    _refused(
        api,
        api.post(f"/cases/{a['case_id']}/withdraw", "clerk", json={"reason": "撤回"}, headers=key),
        head,
    )
    _refused(
        api,
        api.post(f"/cases/{a['case_id']}/accept", "clerk", json={"notice_no": "N-2"}, headers=key),
        head,
    )
    # The first request itself still replays its own outcome, the first version.
    again = api.post(f"/cases/{a['case_id']}/accept", "clerk", json={}, headers=key)
    assert again.status_code == 200 and again.json()["duplicate"] is True
    assert again.json()["version"] == first.json()["version"] == 2
    assert api.head() == head
    # Case b was never touched by the refused use of the key.
    assert api.get(f"/cases/{b['case_id']}", "clerk").json()["version"] == 1


def test_an_intake_key_cannot_be_replayed_for_another_applicant_or_route(api: Api) -> None:
    key = {"Idempotency-Key": "intake-7"}
    body = {"item_code": "XK-003", "applicant": APPLICANT}
    first = api.post("/cases", "clerk", json=body, headers=key)
    assert first.status_code == 201
    head = api.head()
    other = {**body, "applicant": {**APPLICANT, "name": "王五"}}
    _refused(api, api.post("/cases", "clerk", json=other, headers=key), head)
    bundle = {"bundle_code": "YJS-001", "applicant": APPLICANT}
    _refused(api, api.post("/bundles", "clerk", json=bundle, headers=key), head)
    case_id = first.json()["case_id"]
    _refused(api, api.post(f"/cases/{case_id}/accept", "clerk", json={}, headers=key), head)
    again = api.post("/cases", "clerk", json=body, headers=key)
    assert again.status_code == 201 and again.json()["case_id"] == case_id
    assert api.head() == head


def test_a_refused_first_request_keeps_its_key(api: Api) -> None:
    """A key whose first request was refused stays bound to it: the identical retry is
    refused the same way, another request under that key is 422."""
    case = api.submit()
    key = {"Idempotency-Key": "review-early"}
    url = f"/cases/{case['case_id']}/review"
    early = api.post(url, "reviewer", json=BODIES["review"], headers=key)
    assert early.status_code == 409  # not accepted yet
    head = api.head()
    assert api.post(url, "reviewer", json=BODIES["review"], headers=key).status_code == 409
    other = {**BODIES["review"], "opinion": "return"}
    _refused(api, api.post(url, "reviewer", json=other, headers=key), head)
