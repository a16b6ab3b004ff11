"""The ``/stream`` hub (``api/stream.py``) itself: one reader of the log for every client.

- Many clients, woken together, each see every status change exactly once and in log
  order while commands are written from several threads (so commits arrive in group
  batches and wake the one reader), including clients that resume from a position
  (``Last-Event-ID``) and one whose cursor is older than the hub's buffer (it reads the
  log itself, then joins the shared buffer), with the buffer trimmed under them.
- An item says what the domain event says: for every ``Case`` event of every golden log
  (every schema version, upcasters included), the item the hub builds from the stored
  JSON (personal fields left sealed) is the item built from the decoded domain event.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any
from uuid import UUID

import orjson
import pytest
from casestore.api.stream import StreamHub

from casestore.domain.stages import INITIAL, next_stage
from casestore.service import CaseService
from casestore.service.commands import Accept, Review, SubmitCase
from casestore.store.application import CasestoreApp
from casestore.timeutil import from_micros
from tests.conftest import APPLICANT, CLERK, REVIEWER
from tests.golden import replay
from tests.hubwatch import listening, reach

CASE = "casestore.domain.case:Case."


def _case_positions(service: CaseService, after: int) -> list[int]:
    return [r.position for r in service.log_rows(after) if r.topic.startswith(CASE)]


async def _follow(hub: StreamHub, cursor: int, done: threading.Event, end: list[int]) -> list[int]:
    """A client: read after ``cursor`` until the writers are done and it reached the end."""
    got: list[int] = []
    while not (done.is_set() and end and cursor >= end[0]):
        items, cursor = await hub.read_after(cursor, limit=7)
        got += [item.position for item in items]
        if not items:
            await hub.wait_beyond(cursor, 0.2)
    return got


def test_many_clients_see_every_status_change_once_and_in_order(service: CaseService) -> None:
    cases: list[UUID] = []
    for _ in range(6):
        new = service.handle(SubmitCase(actor=CLERK, item_code="XK-003", applicant=APPLICANT))
        service.handle(Accept(case_id=new.case_id, actor=CLERK))
        cases.append(new.case_id)
    before, _ = service.head()

    def write(mine: list[UUID]) -> None:
        for _ in range(5):
            for case_id in mine:
                service.handle(
                    Review(case_id=case_id, actor=REVIEWER, stage_name="审查", opinion="pass")
                )

    async def scenario() -> tuple[int, dict[int, list[int]]]:
        hub = StreamHub(
            service, service.app, buffer=4
        )  # trimmed again and again while the clients read
        await hub.start()
        try:
            start = hub.position
            done, end = threading.Event(), []
            cursors = [start] * 8 + [0, 3, start - 1]  # live, from the start, resumed
            clients = [asyncio.create_task(_follow(hub, c, done, end)) for c in cursors]
            writers = [threading.Thread(target=write, args=(cases[i::3],)) for i in range(3)]
            for w in writers:
                w.start()
            await asyncio.to_thread(lambda: [w.join() for w in writers])
            head, _ = await asyncio.to_thread(service.head)
            end.append(head)
            done.set()
            async with asyncio.timeout(60):
                seen = await asyncio.gather(*clients)
            return head, dict(zip(range(len(cursors)), seen, strict=True)) | {-1: cursors}
        finally:
            await hub.stop()

    head, seen = asyncio.run(scenario())
    cursors = seen.pop(-1)
    assert head == before + 6 * 5
    for n, got in seen.items():
        want = [p for p in _case_positions(service, cursors[n]) if p <= head]
        assert got == want, f"client {n} from {cursors[n]}"


def _domain_item(service: CaseService, row: Any, stages: dict[UUID, tuple[Any, str]]) -> Any:
    """The item as the stream built it from the decoded domain event (the oracle)."""
    event = service.decode(row)
    name = type(event).__name__
    if row.version == 1:
        first, stage = event, INITIAL
    else:
        first, stage = stages[row.originator_id]
    stage = next_stage(stage, name, getattr(event, "outcome", None))
    stages[row.originator_id] = (first, stage)
    return {
        "position": row.position,
        "case_id": str(row.originator_id),
        "case_no": first.case_no,
        "item_code": first.item_code,
        "window": first.actor.window,
        "event": name,
        "version": row.version,
        "stage": stage,
        "recorded_at": from_micros(row.recorded_at_us).isoformat(),
        "occurred_at": event.occurred_at.isoformat() if event.occurred_at else None,
        "actor": {"staff_id": event.actor.staff_id, "role": event.actor.role},
    }


@pytest.mark.parametrize("version", replay.versions())
def test_an_item_says_what_the_domain_event_says(version: str, tmp_path: Any) -> None:
    url = f"sqlite:///{tmp_path / 'golden.db'}"
    replay.load(version, url)
    app = CasestoreApp(url)
    service = CaseService(app)

    async def items() -> list[Any]:
        hub = StreamHub(service, app)
        await hub.start()  # at the head: everything before it is read on demand
        try:
            out, cursor = [], 0
            while cursor < hub.position:
                chunk, cursor = await hub.read_after(cursor, limit=500)
                out += chunk
            return out
        finally:
            await hub.stop()

    try:
        got = asyncio.run(items())
        stages: dict[UUID, tuple[Any, str]] = {}
        rows = [r for r in service.log_rows(0) if r.topic.startswith(CASE)]
        assert rows, "the golden log has case events"
        want = [_domain_item(service, r, stages) for r in rows]
        assert [orjson.loads(i.data) for i in got] == want
        assert [i.position for i in got] == [r.position for r in rows]
        assert all(i.frame.startswith(b"id: %d\r\n" % i.position) for i in got)
    finally:
        app.close()


def test_the_hub_takes_this_process_commits_without_reading_the_log(
    service: CaseService,
) -> None:
    """Commits of this process reach the stream as the batches' rows (never read back),
    and give exactly the items the domain events say; another process's commit is read."""
    cases = [
        service.handle(SubmitCase(actor=CLERK, item_code="XK-003", applicant=APPLICANT)).case_id
        for _ in range(4)
    ]

    def write(case_id: UUID) -> None:
        service.handle(Accept(case_id=case_id, actor=CLERK))
        for _ in range(4):
            service.handle(
                Review(case_id=case_id, actor=REVIEWER, stage_name="审查", opinion="pass")
            )

    async def scenario() -> tuple[int, int, list[Any], int]:
        # No periodic read during the writes: only a handed batch can move the hub.
        hub = StreamHub(service, service.app, poll_seconds=600)
        await hub.start()
        try:
            await asyncio.to_thread(listening, hub)
            start, before = hub.position, hub.rows_read
            writers = [threading.Thread(target=write, args=(c,)) for c in cases]
            for w in writers:
                w.start()
            await asyncio.to_thread(lambda: [w.join() for w in writers])
            head, _ = await asyncio.to_thread(service.head)
            await reach(hub, head)
            items, cursor = await hub.read_after(start, limit=1000)
            assert cursor == head
            return start, hub.rows_read - before, items, head
        finally:
            await hub.stop()

    start, read, items, head = asyncio.run(scenario())
    assert head == start + 4 * 5
    assert read == 0, "the hub read back commits this process handed it"
    stages: dict[UUID, tuple[Any, str]] = {}
    rows = [r for r in service.log_rows(0) if r.topic.startswith(CASE)]
    want = [_domain_item(service, r, stages) for r in rows]
    assert [orjson.loads(i.data) for i in items] == [w for w in want if w["position"] > start]


def test_the_hub_reads_another_process_commits(service: CaseService, clock: Any) -> None:
    case_id = service.handle(
        SubmitCase(actor=CLERK, item_code="XK-003", applicant=APPLICANT)
    ).case_id

    async def scenario() -> tuple[int, list[Any]]:
        hub = StreamHub(service, service.app, poll_seconds=0.2)
        await hub.start()
        try:
            start, before = hub.position, hub.rows_read
            other = CasestoreApp(service.app.db_url)
            try:
                done = await asyncio.to_thread(
                    CaseService(other, clock=clock).handle, Accept(case_id=case_id, actor=CLERK)
                )
            finally:
                other.close()
            await reach(hub, done.position)
            items, _ = await hub.read_after(start)
            return hub.rows_read - before, items
        finally:
            await hub.stop()

    read, items = asyncio.run(scenario())
    assert read >= 1
    assert [orjson.loads(i.data)["event"] for i in items] == ["Accepted"]
    assert [orjson.loads(i.data)["stage"] for i in items] == ["accepted"]
