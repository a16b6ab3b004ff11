"""An exhausted connection pool answers 503 ``unavailable`` with Retry-After, appends
nothing, and the service takes commands again once connections come back (issue 12,
item 3). PostgreSQL only: SQLite has no pool.

The pool is made small through the settings a bureau would set (one connection plus one
overflow, a one-second wait), then every connection it can lend is borrowed by the test.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg_pool
import pytest
from casestore.api.app import create_app
from casestore.api.deps import ApiState

from casestore.domain.values import Actor
from casestore.settings import load_settings
from tests.api.support import APPLICANT, CATALOGUE, SECRET, Api, SimClock

pytestmark = pytest.mark.pg


@pytest.fixture
def small_pool_api(pg_app_db_url: str) -> Iterator[Api]:
    settings = load_settings(
        {}, db=pg_app_db_url, secret=SECRET, db_pool_size=1, db_connect_timeout=1
    )
    clock = SimClock()
    app = create_app(settings, clock=clock)
    state: ApiState = app.state.casestore
    state.service.load_catalogue(CATALOGUE, Actor("catalogue", "admin"))
    api = Api(app, clock)
    yield api
    api.close()


def _borrow_all(pool: Any) -> list[Any]:
    held = []
    while True:
        try:
            held.append(pool.getconn(timeout=0.5))
        except psycopg_pool.PoolTimeout:
            return held


def test_an_exhausted_pool_answers_503_and_appends_nothing(small_pool_api: Api) -> None:
    api = small_pool_api
    body = {"item_code": "XK-003", "applicant": APPLICANT}
    first = api.post("/cases", "clerk", json=body, headers={"Idempotency-Key": "pool-0"})
    assert first.status_code == 201, first.text
    state: ApiState = api.app.state.casestore
    pool = state.service.app.recorder.datastore.pool
    head = api.head()
    held = _borrow_all(pool)
    try:
        assert held, "the test could not borrow a connection"
        refused = api.post("/cases", "clerk", json=body, headers={"Idempotency-Key": "pool-1"})
        assert refused.status_code == 503, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert refused.json()["type"].endswith("/unavailable")
        assert int(refused.headers["Retry-After"]) > 0
        accept = api.post(f"/cases/{first.json()['case_id']}/accept", "clerk", json={})
        assert accept.status_code == 503, accept.text
    finally:
        for conn in held:
            pool.putconn(conn)
    assert api.head() == head  # nothing was appended while the pool was exhausted
    # Connections back: the same key now submits, once.
    again = api.post("/cases", "clerk", json=body, headers={"Idempotency-Key": "pool-1"})
    assert again.status_code == 201, again.text
    assert api.head() > head
    replay = api.post("/cases", "clerk", json=body, headers={"Idempotency-Key": "pool-1"})
    assert replay.json()["case_id"] == again.json()["case_id"]
