"""The stream hub's fallback for a batch handed over without rows (PostgreSQL).

The group commit hands this process's committed rows to the hub, rebuilding each event's
``recorded_at`` from what the append function reports (``_hand_over_outcomes`` in
``store/pg_recorder.py``). When it cannot — a request of several events stamped behind
the log's last ``recorded_at`` (the clock stepped back), with the floor unknown because
another process wrote the position before — the batch is handed with ``rows=None`` and
the hub reads those positions back. Forced here by exactly that sequence, the stream
must still carry exactly the committed ``Case`` events, in order, once each, with the
times the log holds (floored, not the stepped-back clock's).
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

import orjson
import pytest
from casestore.api.stream import StreamHub

from casestore.service import Accept, CaseService, Review, SubmitCase
from casestore.store.application import CasestoreApp
from tests.conftest import ADMIN, APPLICANT, CATALOGUE, CLERK, REVIEWER, FakeClock
from tests.hubwatch import Handed, listening, reach

pytestmark = pytest.mark.pg


def test_a_batch_handed_without_rows_reaches_the_stream_once_in_order(
    pg_db_url: str, clock: FakeClock
) -> None:
    app = CasestoreApp(pg_db_url)
    try:
        service = CaseService(app, clock=clock)
        service.load_catalogue(CATALOGUE, ADMIN)
        case_id = service.handle(
            SubmitCase(actor=CLERK, item_code="XK-003", applicant=APPLICANT)
        ).case_id
        service.handle(Accept(case_id=case_id, actor=CLERK))

        async def scenario() -> tuple[int, int, list[Any], Any, int]:
            # no periodic read: the handed batch and the other process's NOTIFY move it
            hub = StreamHub(service, service.app, poll_seconds=600)
            await hub.start()
            try:
                await asyncio.to_thread(listening, hub)
                start, before = hub.position, hub.rows_read
                other = CasestoreApp(pg_db_url)  # another process writes the next position
                try:
                    await asyncio.to_thread(
                        CaseService(other, clock=clock).handle,
                        Review(case_id=case_id, actor=REVIEWER, stage_name="审查", opinion="pass"),
                    )
                finally:
                    other.close()
                # published (read on its NOTIFY) first, so only the handed batch can move the hub
                await reach(hub, start + 1)
                clock.advance(hours=-1)  # then this server's clock steps back an hour
                submitted = await asyncio.to_thread(
                    service.handle,
                    SubmitCase(actor=CLERK, item_code="XK-003", applicant=APPLICANT),
                )
                head, _ = await asyncio.to_thread(service.head)
                await reach(hub, head)
                items, cursor = await hub.read_after(start, limit=1000)
                assert cursor == head
                return start, hub.rows_read - before, items, submitted, head
            finally:
                await hub.stop()

        with Handed(app) as handed:
            start, read, items, submitted, head = asyncio.run(scenario())
    finally:
        app.close()

    # The path under test ran: this process's one batch after start came without rows.
    ours = [b for b in handed.batches if b.last > start]
    assert [(b.first, b.last, b.rows) for b in ours] == [(start + 2, head, None)]
    assert head - start >= 3  # the other's review, then the submission's several events
    assert read == head - start  # everything after start was read from the log, once
    data = [orjson.loads(item.data) for item in items]
    # Exactly the committed Case events, in log order, once each: the review written by
    # the other process, then the new case's submission (its other events are not Case's).
    assert [(d["event"], d["case_id"], d["version"]) for d in data] == [
        ("ReviewRecorded", str(case_id), 3),
        ("Submitted", str(submitted.case_id), 1),
    ]
    assert [d["position"] for d in data] == sorted({d["position"] for d in data})
    assert data[0]["position"] == start + 1 and start + 2 <= data[1]["position"] <= head
    # The submission's time is the log's floored one, not the stepped-back clock reading:
    # never earlier than the review before it.
    review_at, submitted_at = (datetime.fromisoformat(d["recorded_at"]) for d in data)
    assert submitted_at >= review_at
    assert submitted_at - review_at < timedelta(minutes=1)
