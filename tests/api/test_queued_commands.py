"""A command queued behind a group-commit batch that does not finish answers 503
``unavailable`` with Retry-After once ``CASESTORE_COMMIT_QUEUE_WAIT`` has passed, and
appends nothing; the command inside the batch completes, once, when the batch does
(issue 12, item 3).

The batch is held by the test (the recorder's commit waits on an event before it
writes), so "the database has not finished" is a fact here, not a timing; the bound is
set small through the settings so the queued command reaches it at once.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from casestore.api.app import create_app
from casestore.api.deps import ApiState

from casestore.domain.values import Actor
from casestore.settings import load_settings
from tests.api.support import (
    APPLICANT,
    CATALOGUE,
    SECRET,
    STAFF_ROLES,
    Api,
    SimClock,
    auth,
    enrol_issued,
    token,
)

BODY = {"item_code": "XK-003", "applicant": APPLICANT}


class Gate:
    """Wraps the recorder's commit: the next batch waits for ``release`` before writing."""

    def __init__(self, commit: Any) -> None:
        self.commit = commit
        self.armed = False
        self.entered = threading.Event()
        self.release = threading.Event()
        self.batches: list[int] = []

    def __call__(self, batch: list[Any]) -> None:
        self.batches.append(len(batch))
        if self.armed:
            self.armed = False
            self.entered.set()
            assert self.release.wait(60)
        self.commit(batch)


@pytest.fixture
def gated(tmp_path: Path) -> Iterator[tuple[Api, Gate]]:
    settings = load_settings(
        {}, db=f"sqlite:///{tmp_path / 'q.db'}", secret=SECRET, commit_queue_wait=0.05
    )
    clock = SimClock()
    app = create_app(settings, clock=clock)
    state: ApiState = app.state.casestore
    state.service.load_catalogue(CATALOGUE, Actor("catalogue", "admin"))
    api = Api(app, clock)
    for role in STAFF_ROLES:  # every role's usual member enrolled up front, as make_api does
        token(role)
    enrol_issued(state.authority, api._enrolled)
    committer = state.service.app.recorder.committer
    assert committer.queue_wait == 0.05  # the setting reached the group commit
    gate = Gate(committer._commit)
    committer._commit = gate
    yield api, gate
    gate.release.set()
    api.close()


def test_a_command_queued_behind_a_hung_batch_answers_503_and_the_hung_one_lands_once(
    gated: tuple[Api, Gate],
) -> None:
    api, gate = gated
    case = api.submit()  # enrols the clerk and warms every path
    head = api.head()
    headers = auth("clerk")

    async def scenario() -> tuple[Any, Any, int]:
        gate.armed = True
        first = asyncio.create_task(
            api.client.post("/cases", headers={**headers, "Idempotency-Key": "q-1"}, json=BODY)
        )
        assert await asyncio.to_thread(gate.entered.wait, 60)
        queued = await api.client.post(f"/cases/{case['case_id']}/accept", headers=headers, json={})
        during = api.head()
        gate.release.set()
        return await first, queued, during

    first, queued, during = api.run(scenario())
    assert queued.status_code == 503, queued.text
    assert queued.headers["content-type"].startswith("application/problem+json")
    assert queued.json()["type"].endswith("/unavailable")
    assert "nothing was written" in queued.json()["detail"]
    assert queued.headers["Retry-After"]
    assert during == head  # the queued command appended nothing (the hung one not yet)
    assert first.status_code == 201, first.text
    assert api.head() == head + 2  # the case and its number: the hung command, once
    assert gate.batches[-1] == 1  # the queued command never reached the writer
    view = api.get(f"/cases/{case['case_id']}", "sealer").json()  # masked: no trace
    assert view["stage"] == "received" and view["version"] == 1
    again = api.post("/cases", "clerk", json=BODY, headers={"Idempotency-Key": "q-1"})
    assert again.json()["case_id"] == first.json()["case_id"] and api.head() == head + 2
    retried = api.post(f"/cases/{case['case_id']}/accept", "clerk", json={})
    assert retried.status_code == 200 and retried.json()["version"] == 2  # a retry lands
