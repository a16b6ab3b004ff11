"""Group commit under concurrency: every acknowledged command is in the log exactly once,
every conflict reaches its caller, positions have no gaps, and projections tailing the
writers equal a rebuild from zero (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
from collections import Counter
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from casestore.projections.engine.db import ViewDB, snapshot
from casestore.projections.runtime.live import EmbeddedWorkers
from casestore.projections.runtime.registry import get_projection

from casestore.domain import ConcurrencyConflict
from casestore.domain.errors import IdempotencyKeyReused
from casestore.domain.values import Party
from casestore.service import Accept, CaseService, Review, SubmitCase
from casestore.store.audit import verify
from casestore.store.batch import AppendRequest, GroupCommitter
from tests.integration.test_projection_workload import (
    CLERKS,
    REVIEWER,
    fresh_rebuild,
    open_service,
)

THREADS = 8
COMMANDS_EACH = 24
VIEWS = ["case_status", "audit", "ledger"]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.pg)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/events.db"
    url: str = request.getfixturevalue("pg_db_url")
    return url


def accepted(service: CaseService, count: int) -> list[UUID]:
    ids = []
    for n in range(count):
        sub = service.handle(
            SubmitCase(
                actor=CLERKS[0],
                item_code="XK-007",
                applicant=Party(
                    **{"name": f"applicant {n}", "id_type": "resident_id", "id_number": str(n)}
                ),
                channel="window",
            )
        )
        service.handle(Accept(case_id=sub.case_id, actor=CLERKS[0]))
        ids.append(sub.case_id)
    return ids


def run_writers(service: CaseService, own: list[UUID], hot: list[UUID]) -> list[dict[str, Any]]:
    """Each thread: reviews on its own case, reviews with an expected version on shared
    hot cases (these conflict), and a retry of an idempotency key it already used."""
    outcomes: list[dict[str, Any]] = []
    lock = threading.Lock()
    barrier = threading.Barrier(THREADS)

    def writer(t: int) -> None:
        barrier.wait()
        for i in range(COMMANDS_EACH):
            token = f"t{t}-{i}"
            hot_case = i % 3 == 1
            case_id = hot[i % len(hot)] if hot_case else own[t]
            key = f"key-{token}" if i % 4 == 0 else None
            outcome: dict[str, Any] = {"token": token, "case": case_id, "key": key}
            try:
                expected = service.case(case_id).version if hot_case else None

                def review(
                    comment: str,
                    expected: int | None = expected,
                    case_id: UUID = case_id,
                    key: str | None = key,
                ) -> Any:
                    return service.handle(
                        Review(
                            case_id=case_id,
                            actor=REVIEWER,
                            stage_name="审查",
                            opinion="pass",
                            comment=comment,
                            expected_version=expected,
                            idempotency_key=key,
                        )
                    )

                result = review(token)
                outcome |= {"ok": True, "version": result.version, "position": result.position}
                if key is not None:  # a client retry: same outcome, nothing appended
                    again = review(token)
                    outcome["retry"] = (again.duplicate, again.version, again.position)
                    try:  # the same key on another body is refused, never replayed
                        review(token + "-other")
                        outcome["reused"] = "replayed"
                    except IdempotencyKeyReused:
                        outcome["reused"] = "refused"
            except ConcurrencyConflict:
                outcome["ok"] = False
            with lock:
                outcomes.append(outcome)

    threads = [threading.Thread(target=writer, args=(t,)) for t in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not any(thread.is_alive() for thread in threads)
    return outcomes


def test_acknowledged_commands_are_in_the_log_exactly_once(db_url: str) -> None:
    service = open_service(db_url)
    own = accepted(service, THREADS)
    hot = accepted(service, 2)
    db = ViewDB(db_url)
    with EmbeddedWorkers(service.app, VIEWS, db=db, poll_interval=0.2, batch=50) as workers:
        outcomes = run_writers(service, own, hot)
        head, _ = service.app.log.head()
        assert workers.wait_for(head, timeout=60), workers.positions()
        assert not workers.errors()

    assert len(outcomes) == THREADS * COMMANDS_EACH  # every caller got an answer
    acked = [o for o in outcomes if o["ok"]]
    conflicts = [o for o in outcomes if not o["ok"]]
    assert conflicts, "the hot cases should have produced version conflicts"
    assert all(o["case"] in hot for o in conflicts)  # only expected-version commands conflict

    rows = list(service.app.iter_events())
    assert [row.position for row, _ in rows] == list(range(1, head + 1))  # no gaps
    comments = Counter(
        event.comment for row, event in rows if row.topic.endswith("Case.ReviewRecorded")
    )
    at = {(row.originator_id, row.version): (row.position, event) for row, event in rows}
    for o in acked:
        assert comments[o["token"]] == 1, o
        position, event = at[(o["case"], o["version"])]
        assert position == o["position"] and event.comment == o["token"]
        if o["key"] is not None:
            assert o["retry"] == (True, o["version"], o["position"])
            assert o["reused"] == "refused"
    for o in conflicts:
        assert comments[o["token"]] == 0, o  # a refused command appended nothing
    assert sum(comments.values()) == len(acked)
    assert not any(token.endswith("-other") for token in comments)
    assert verify(service.app).ok

    for name in VIEWS:
        projection = get_projection(name)
        assert snapshot(db, projection) == fresh_rebuild(service.app, db, projection), name
    db.close()


def test_a_conflict_fails_only_its_own_request() -> None:
    """One transaction, three requests: the stale one fails, the others commit."""
    from eventsourcing.persistence import StoredEvent

    from casestore.store.batch import Plan, VersionConflict, plan_batch

    a, b = UUID(int=1), UUID(int=2)

    def event(oid: UUID, version: int) -> StoredEvent:
        return StoredEvent(oid, version, "t:E", b"{}")

    batch = [
        AppendRequest([event(a, 1), event(a, 2)]),
        AppendRequest([event(b, 5)]),  # b is at version 0: stale
        AppendRequest([event(b, 1)]),
    ]
    plan: Plan = plan_batch(batch, {}, 10, None, {})
    assert plan.outcomes[0] == [11, 12]
    assert isinstance(plan.outcomes[1], VersionConflict)
    assert plan.outcomes[2] == [13]
    assert [(r.originator_id, r.version, r.position) for r in plan.rows] == [
        (a, 1, 11),
        (a, 2, 12),
        (b, 1, 13),
    ]


@pytest.mark.parametrize("in_flight", [1, 2])
def test_with_two_in_flight_the_next_batch_starts_while_one_commits(in_flight: int) -> None:
    """``in_flight=2``: requests arriving while a batch commits send their own batch at
    once when there are at least two of them (PostgreSQL then waits for the write lock
    server-side) — a lone request waits for the commit in flight instead, so it does
    not cost a transaction of its own; ``in_flight=1``: they always wait for the
    commit. Either way every request completes with its own outcome."""
    release_first = threading.Event()
    first_committing = threading.Event()
    second_committed = threading.Event()
    calls: list[int] = []
    sizes: list[int] = []

    def commit(batch: list[AppendRequest]) -> None:
        n = len(calls)
        calls.append(n)
        sizes.append(len(batch))
        if n == 0:
            first_committing.set()
            assert release_first.wait(10)
        else:
            second_committed.set()
        for request in batch:
            request.positions = [n]

    committer = GroupCommitter(commit, in_flight=in_flight)
    results: dict[str, list[int]] = {}

    def submit(name: str) -> None:
        results[name] = committer.submit(AppendRequest([]))

    t1 = threading.Thread(target=submit, args=("a",))
    t1.start()
    assert first_committing.wait(10)
    t2 = threading.Thread(target=submit, args=("b",))
    t2.start()
    assert not second_committed.wait(0.3)  # alone, b waits for a's commit
    t3 = threading.Thread(target=submit, args=("c",))
    t3.start()
    assert second_committed.wait(0.5 if in_flight == 1 else 10) == (in_flight == 2)
    release_first.set()
    for thread in (t1, t2, t3):
        thread.join(10)
    assert results == {"a": [0], "b": [1], "c": [1]}
    assert sizes == [1, 2]


def test_writers_with_their_own_caches_interleave_without_a_stale_decision(db_url: str) -> None:
    """Two applications on one store (two processes' worth of caches) append to the same
    aggregates in turn. Each recorder's cached head goes stale every time the other one
    writes; neither may then write a wrong position, chain or version, nor report a
    conflict that is not one, nor accept a version that is taken."""
    from uuid import uuid4

    from casestore.store.application import CasestoreApp
    from casestore.store.batch import TimedStoredEvent, VersionConflict

    one, two = CasestoreApp(db_url), CasestoreApp(db_url)
    try:
        ids = [uuid4(), uuid4()]

        def event(oid: UUID, version: int) -> TimedStoredEvent:
            return TimedStoredEvent(oid, version, "t:E", b"{}", 1_700_000_000_000_000 + version)

        positions: list[int] = []
        for version in range(1, 9):
            writer = (one, two)[version % 2]
            for oid in ids:
                positions += writer.recorder.insert_events([event(oid, version)])
        assert positions == list(range(positions[0], positions[0] + 16))
        # ``one`` last wrote version 7; version 8 is taken by ``two``: a real conflict.
        with pytest.raises(VersionConflict):
            one.recorder.insert_events([event(ids[0], 8)])
        # ``one`` has not seen version 8, yet version 9 is right: no false conflict.
        assert one.recorder.insert_events([event(ids[0], 9)]) == [positions[-1] + 1]
        report = verify(one)
        assert report.ok, report.findings
        assert report.events == positions[-1] + 1
    finally:
        one.close()
        two.close()
