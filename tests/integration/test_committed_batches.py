"""What a batch listener is handed is what the log holds (SQLite and PostgreSQL).

The stream hub publishes this process's commits from the rows each group-commit batch
hands over, without reading them back, so those rows must be the stored rows exactly:
position, aggregate id, version, topic, stored state (personal fields sealed) and
``recorded_at`` — including events the writer stamped later than their clock reading
because the server clock stepped back (on PostgreSQL the append function floors them and
reports only how many and by how much). Every position this process committed is handed
over once; a batch whose times the recorder cannot tell is handed without rows.
"""

from __future__ import annotations

import threading

from casestore.service import Accept, CaseService, Review, SubmitCase
from casestore.store.application import CasestoreApp
from tests.conftest import APPLICANT, CLERK, REVIEWER, FakeClock
from tests.hubwatch import Handed

THREADS = 6
ROUNDS = 5


def test_handed_rows_are_the_rows_the_log_holds(
    app: CasestoreApp, service: CaseService, clock: FakeClock
) -> None:
    with Handed(app) as handed:
        start, _ = app.log.head()
        cases = [
            service.handle(SubmitCase(actor=CLERK, item_code="XK-003", applicant=APPLICANT)).case_id
            for _ in range(THREADS)
        ]
        barrier = threading.Barrier(THREADS)

        def write(n: int) -> None:
            barrier.wait()
            for r in range(ROUNDS):
                if n == 0 and r == 2:
                    clock.advance(hours=-1)  # the server clock steps back under the writers
                if r == 0:
                    service.handle(Accept(case_id=cases[n], actor=CLERK))
                else:
                    service.handle(
                        Review(case_id=cases[n], actor=REVIEWER, stage_name="审查", opinion="pass")
                    )
                # A submission appends more than one event in one request.
                service.handle(SubmitCase(actor=CLERK, item_code="XK-003", applicant=APPLICANT))

        threads = [threading.Thread(target=write, args=(n,)) for n in range(THREADS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert not any(t.is_alive() for t in threads)
        # Another writer (its own recorder) appends: this process's next batch cannot take
        # the floor from its own previous batch.
        other = CasestoreApp(app.db_url)
        try:
            CaseService(other, clock=clock).handle(
                Review(case_id=cases[0], actor=REVIEWER, stage_name="审查", opinion="pass")
            )
        finally:
            other.close()
        clock.advance(hours=-1)
        service.handle(Review(case_id=cases[1], actor=REVIEWER, stage_name="审查", opinion="pass"))

    stored = {
        r.position: (
            r.position,
            str(r.originator_id),
            r.version,
            r.topic,
            r.state,
            r.recorded_at_us,
            r.event_hash,
            r.chain_hash,
        )
        for r in app.log.iter_log(start)
    }
    ours = [p for b in handed.batches for p in range(b.first, b.last + 1)]
    assert sorted(ours) == sorted(set(ours)), "a position handed over twice"
    assert set(stored) - set(ours) == {max(stored) - 1}, "only the other writer's event"
    told = 0
    for batch in handed.batches:
        if batch.rows is None:
            continue
        assert [r[0] for r in batch.rows] == list(range(batch.first, batch.last + 1))
        for row in batch.rows:
            want = stored[row[0]]
            assert tuple(row[:6]) == want[:6]
            # Hashes where the recorder computed them in process (SQLite), else None.
            assert row[6:] in (want[6:], (None, None))
            told += 1
    assert app.log.clock_steps_back >= 2  # the steps back were floored and handed as floored
    assert told >= len(ours) // 2, "most batches hand their rows over"
