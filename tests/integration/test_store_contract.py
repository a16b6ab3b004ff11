"""The same store contract on SQLite and on PostgreSQL (throwaway cluster or CASESTORE_TEST_PG)."""

from __future__ import annotations

import sqlite3
import threading
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from uuid import uuid4

import psycopg
import pytest
from typer.testing import CliRunner

from casestore.cli import app as cli
from casestore.domain import Case, ConcurrencyConflict, InvalidCommand, NotFound, OutOfOrder
from casestore.service import Accept, CaseService, Decide, Review, SubmitCase, Withdraw
from casestore.store.application import CasestoreApp
from casestore.store.audit import digest, verify
from tests.conftest import ADMIN, APPLICANT, APPROVER, CATALOGUE, CLERK, REVIEWER, FakeClock

T = "casestore_events"


def raw(url: str, statement: str) -> None:
    """Run SQL outside casestore, as the database owner/superuser."""
    if url.startswith("sqlite"):
        with sqlite3.connect(urlsplit(url).path) as conn:
            conn.executescript(statement)
    else:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(statement)  # type: ignore[arg-type]


def new_case(service: CaseService, item: str = "XK-003") -> tuple:  # type: ignore[type-arg]
    sub = service.handle(SubmitCase(actor=CLERK, item_code=item, applicant=APPLICANT))
    return sub.case_id, sub


def test_commands_append_and_reload(app: CasestoreApp, service: CaseService) -> None:
    case_id, sub = new_case(service)
    assert sub.case_no.startswith("XY") and len(sub.query_code) == 6
    service.handle(Accept(case_id=case_id, actor=CLERK))
    service.handle(Review(case_id=case_id, actor=REVIEWER, stage_name="审查", opinion="pass"))
    fresh = CasestoreApp(app.db_url)  # a restarted process: cold cache
    case = fresh.get(Case, case_id)
    assert (case.stage, case.version) == ("under_review", 3)
    assert [e.originator_version for e in fresh.domain_events(case_id)] == [1, 2, 3]
    assert CaseService(fresh).check_query_code(sub.case_no, sub.query_code).id == case_id
    with pytest.raises(NotFound):
        CaseService(fresh).check_query_code(sub.case_no, "000000" if sub.query_code != "000000"
                                            else "111111")
    fresh.close()


def test_time_travel_by_moment_and_position(service: CaseService, clock: FakeClock) -> None:
    case_id, _ = new_case(service)
    clock.advance(hours=1)
    before_accept = clock.now
    clock.advance(hours=1)
    accepted = service.handle(Accept(case_id=case_id, actor=CLERK))
    service.handle(Review(case_id=case_id, actor=REVIEWER, stage_name="审查", opinion="pass"))
    assert service.case(case_id, as_of=before_accept).stage == "received"
    assert service.case(case_id, at_position=accepted.position).stage == "accepted"
    assert service.case(case_id).stage == "under_review"
    with pytest.raises(NotFound):
        service.case(case_id, as_of=before_accept - timedelta(days=1))


def test_refused_command_appends_nothing(app: CasestoreApp, service: CaseService) -> None:
    case_id, _ = new_case(service)
    head = app.log.head()
    with pytest.raises(OutOfOrder):
        service.handle(Decide(case_id=case_id, actor=APPROVER, outcome="approve"))
    with pytest.raises(InvalidCommand):
        service.handle(Withdraw(case_id=case_id, actor=CLERK, reason=" "))
    with pytest.raises(TypeError):  # a field no command has is a bug, not a refusal
        service.handle(
            Review(case_id=case_id, actor=REVIEWER, stage_name="x", bogus=1)  # type: ignore[call-arg]
        )
    assert app.log.head() == head


def test_stale_version_is_a_conflict(app: CasestoreApp, service: CaseService) -> None:
    case_id, _ = new_case(service)
    service.handle(Accept(case_id=case_id, actor=CLERK, expected_version=1))
    head = app.log.head()
    with pytest.raises(ConcurrencyConflict):
        service.handle(
            Review(
                case_id=case_id,
                actor=REVIEWER,
                stage_name="审查",
                opinion="pass",
                expected_version=1,
            )
        )
    assert app.log.head() == head


def test_idempotency_key_appends_once(app: CasestoreApp, service: CaseService) -> None:
    case_id, _ = new_case(service)
    first = service.handle(Accept(case_id=case_id, actor=CLERK, idempotency_key="k-accept-1"))
    again = CaseService(CasestoreApp(app.db_url)).handle(
        Accept(case_id=case_id, actor=CLERK, idempotency_key="k-accept-1")
    )
    assert (again.version, again.position, again.duplicate) == (first.version, first.position,
                                                                True)
    assert len(app.domain_events(case_id)) == 2


def test_cache_staleness_across_processes_is_resolved(app: CasestoreApp,
                                                      service: CaseService) -> None:
    """Another process writes; our cached aggregate is stale; we reload and re-decide once."""
    case_id, _ = new_case(service)
    service.handle(Accept(case_id=case_id, actor=CLERK))  # cached at version 2
    other = CaseService(CasestoreApp(app.db_url))
    other.handle(Review(case_id=case_id, actor=REVIEWER, stage_name="一审", opinion="pass"))
    result = service.handle(
        Review(case_id=case_id, actor=REVIEWER, stage_name="二审", opinion="pass")
    )
    assert result.version == 4
    assert [type(e).__name__ for e in app.domain_events(case_id)][-2:] == [
        "ReviewRecorded", "ReviewRecorded"]


def test_race_one_winner_per_version(app: CasestoreApp, service: CaseService) -> None:
    case_id, _ = new_case(service)
    service.handle(Accept(case_id=case_id, actor=CLERK))
    outcomes: list[str] = []
    barrier = threading.Barrier(8)

    def contender(n: int) -> None:
        barrier.wait()
        try:
            service.handle(
                Review(
                    case_id=case_id,
                    actor=REVIEWER,
                    stage_name=f"审查{n}",
                    opinion="pass",
                    expected_version=2,
                )
            )
            outcomes.append("won")
        except ConcurrencyConflict:
            outcomes.append("conflict")

    threads = [threading.Thread(target=contender, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert Counter(outcomes) == {"won": 1, "conflict": 7}
    events = CasestoreApp(app.db_url).domain_events(case_id)
    assert [e.originator_version for e in events] == [1, 2, 3]
    assert verify(app).ok


def test_race_without_expected_version_loses_nothing(app: CasestoreApp,
                                                     service: CaseService) -> None:
    case_id, _ = new_case(service)
    service.handle(Accept(case_id=case_id, actor=CLERK))
    errors: list[Exception] = []

    def reviewer(n: int) -> None:
        for k in range(5):
            try:
                service.handle(
                    Review(case_id=case_id, actor=REVIEWER, stage_name=f"{n}-{k}", opinion="pass")
                )
            except ConcurrencyConflict as e:  # reported, never silent
                errors.append(e)

    threads = [threading.Thread(target=reviewer, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    events = CasestoreApp(app.db_url).domain_events(case_id)
    stages = [e.stage_name for e in events if isinstance(e, Case.ReviewRecorded)]
    assert len(stages) == len(set(stages)) == 40 - len(errors)
    assert [e.originator_version for e in events] == list(range(1, len(events) + 1))


#: Every table the README calls append-only, with a column to try to change.
PROTECTED = (
    (T, "topic"),
    ("casestore_idempotency", "key"),
    ("casestore_idempotency_bindings", "binding"),
)


def test_database_refuses_update_and_delete(app: CasestoreApp, service: CaseService) -> None:
    service.handle(
        SubmitCase(actor=CLERK, item_code="XK-003", applicant=APPLICANT, idempotency_key="k-1")
    )
    url = app.db_url
    for table, column in PROTECTED:
        statements = [f"UPDATE {table} SET {column} = 'x'", f"DELETE FROM {table}"]
        if url.startswith("postgres"):
            statements.append(f"TRUNCATE {table}")
        for statement in statements:
            with pytest.raises((sqlite3.Error, psycopg.Error), match="append-only"):
                raw(url, statement)
    # The key still answers a retried submit with the first case: no second case.
    again = service.handle(
        SubmitCase(actor=CLERK, item_code="XK-003", applicant=APPLICANT, idempotency_key="k-1")
    )
    assert again.duplicate
    assert verify(app).ok


def _unlock(url: str) -> None:
    if url.startswith("sqlite"):
        raw(url, f"DROP TRIGGER {T}_no_update; DROP TRIGGER {T}_no_delete;")
    else:
        raw(url, f"ALTER TABLE {T} DISABLE TRIGGER USER")


def _cli_verify(url: str, *extra: str) -> tuple[int, list[str]]:
    result = CliRunner().invoke(cli, ["verify", "--db", url, *extra])
    return result.exit_code, result.output.strip().splitlines()


@pytest.mark.parametrize("parallel", [False, True], ids=["one-pass", "parallel"])
def test_tampering_is_named_by_verify(
    app: CasestoreApp, service: CaseService, parallel: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if parallel:  # SQLite: check links in worker processes however small the log
        if not app.db_url.startswith("sqlite"):
            pytest.skip("the parallel link check is SQLite's")
        monkeypatch.setattr("casestore.store.sqlite_recorder.PARALLEL_FROM", 0)
    for _ in range(4):
        case_id, _ = new_case(service)
        service.handle(Accept(case_id=case_id, actor=CLERK))
    saved = digest(app)["digest"]
    assert _cli_verify(app.db_url, "--digest", saved)[0] == 0
    assert _cli_verify(app.db_url, "--digest", saved, "--independent")[0] == 0
    wrong = saved[:-4] + ("0000" if not saved.endswith("0000") else "1111")
    for mode in ((), ("--independent",)):
        code, lines = _cli_verify(app.db_url, "--digest", wrong, *mode)
        assert code == 1 and lines[0].startswith("DIGEST: log at position"), mode
        code, lines = _cli_verify(app.db_url, "--digest", "999:" + "0" * 64, *mode)
        assert code == 1 and "no event at the digest's position" in lines[0], mode
    rows = {r.position: r for r in app.log.iter_log()}
    url = app.db_url
    _unlock(url)
    blob = "X'00'" if url.startswith("sqlite") else "'\\x00'::bytea"
    raw(url, f"UPDATE {T} SET state = {blob} WHERE notification_id = 26")
    raw(url, f"DELETE FROM {T} WHERE notification_id = 29")
    raw(url, f"UPDATE {T} SET notification_id = -1 WHERE notification_id = 31;"
        if url.startswith("sqlite") else
        f"UPDATE {T} SET notification_id = -1 WHERE notification_id = 31")
    raw(url, f"UPDATE {T} SET notification_id = 31 WHERE notification_id = 32")
    raw(url, f"UPDATE {T} SET notification_id = 32 WHERE notification_id = -1")
    code, lines = _cli_verify(url, "--digest", saved)
    assert (code, lines) == _cli_verify(url, "--digest", saved, "--independent")
    assert code == 1
    text = "\n".join(lines)
    assert f"ALTERED: case {rows[26].originator_id} version {rows[26].version} at position 26" \
        in text
    assert f"REMOVED: case {rows[29].originator_id}" in text or "at position 30" in text
    assert f"REORDERED: case {rows[31].originator_id} version {rows[31].version} at position 32" \
        in text
    assert f"REORDERED: case {rows[32].originator_id} version {rows[32].version} at position 31" \
        in text
    assert "DIGEST" in text and lines[-1].startswith("TAMPERED")


def test_parallel_link_check_counts_what_the_one_pass_check_counts(
    tmp_path: Path, clock: FakeClock
) -> None:
    """The SQLite worker processes really run (no silent fallback) and agree with the
    in-process pass, on an intact log and after one event's state was altered."""
    from casestore.store.sqlite_links import check_in_parallel

    url = f"sqlite:///{tmp_path}/events.db"
    app = CasestoreApp(url)
    try:
        service = CaseService(app, clock=clock)
        service.load_catalogue(CATALOGUE, ADMIN)
        for _ in range(5):
            case_id, _ = new_case(service)
            service.handle(Accept(case_id=case_id, actor=CLERK))
        recorder: Any = app.recorder
        head, chain = recorder.head()
        path = str(tmp_path / "events.db")
        assert check_in_parallel(path, T, head, 3) is not None
        events, bad, _, last = check_in_parallel(path, T, head, 3) or (0, 0, None, None)
        one_pass = recorder.check_links(3)
        assert (events, bad, last) == (head, 0, (head, chain))
        assert (one_pass.events, one_pass.bad_links, one_pass.last) == (events, bad, last)
        _unlock(url)
        raw(url, f"UPDATE {T} SET state = X'00' WHERE notification_id = {head - 2}")
        found = check_in_parallel(path, T, head, 3)
        assert found is not None and found[1] == 1 == recorder.check_links(3).bad_links
    finally:
        app.close()


def test_export_streams_every_event_with_hashes(app: CasestoreApp, service: CaseService) -> None:
    import orjson

    case_id, _ = new_case(service)
    result = CliRunner().invoke(cli, ["export", "--db", app.db_url])
    lines = [orjson.loads(line) for line in result.output.splitlines()]
    assert [x["position"] for x in lines] == list(range(1, len(lines) + 1))
    mine = [x for x in lines if x["aggregate_id"] == str(case_id)]
    assert mine[0]["type"] == "Submitted" and mine[0]["data"]["case_no"]
    assert all(len(x["event_hash"]) == 64 and len(x["chain_hash"]) == 64 for x in lines)


@pytest.mark.pg
def test_app_role_cannot_update_or_delete(pg_db_url: str) -> None:
    from casestore.store.roles import grant_app_role

    CasestoreApp(pg_db_url).close()  # creates the schema as owner
    role = f"casestore_app_{uuid4().hex[:8]}"
    grant_app_role(pg_db_url, role)
    parts = urlsplit(pg_db_url)
    app_url = parts._replace(netloc=f"{role}@{parts.hostname}:{parts.port}").geturl()
    service = CaseService(CasestoreApp(app_url), clock=FakeClock())
    from tests.conftest import ADMIN, CATALOGUE

    service.load_catalogue(CATALOGUE, ADMIN)
    new_case(service)
    service.handle(  # the role binds and stores a key: INSERT and SELECT suffice
        SubmitCase(actor=CLERK, item_code="XK-003", applicant=APPLICANT, idempotency_key="r-1")
    )
    bindings = "casestore_idempotency_bindings"
    for table in (T, bindings):
        for statement in (
            f"UPDATE {table} SET {'topic' if table == T else 'binding'} = 'x'",
            f"DELETE FROM {table}",
            f"TRUNCATE {table}",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="permission denied"):
                raw(app_url, statement)
    service.app.close()
    raw(pg_db_url, f"REVOKE ALL ON {T}, casestore_idempotency, {bindings} FROM {role}")
    raw(pg_db_url, f"DROP OWNED BY {role}; DROP ROLE {role}")


def test_submit_replay_returns_the_first_case(app: CasestoreApp, service: CaseService) -> None:
    first = service.handle(
        SubmitCase(actor=CLERK, item_code="XK-003", applicant=APPLICANT, idempotency_key="k-s1")
    )
    for _ in range(3):  # the stored outcome may name the case or its number index
        again = service.handle(
            SubmitCase(actor=CLERK, item_code="XK-003", applicant=APPLICANT, idempotency_key="k-s1")
        )
        assert (again.case_id, again.case_no, again.duplicate) == (first.case_id, first.case_no,
                                                                  True)
    assert len(app.domain_events(first.case_id)) == 1


@pytest.mark.pg
def test_a_failed_batch_raises_and_leaves_the_writer_usable(pg_db_url: str) -> None:
    """A batch the server refuses (here: the write lock is held elsewhere past the lock
    timeout) fails its callers with the database's error and appends nothing; the next
    batch on the same connections commits."""
    from eventsourcing.persistence import OperationalError

    from casestore.store.batch import TimedStoredEvent
    from casestore.store.logbase import WRITE_LOCK_KEY

    app = CasestoreApp(pg_db_url)
    oid = uuid4()

    def event(version: int) -> TimedStoredEvent:
        return TimedStoredEvent(oid, version, "t:E", b"{}", 1_700_000_000_000_000)

    try:
        recorder: Any = app.recorder
        recorder._lock_timeout = "200ms"
        with psycopg.connect(pg_db_url, autocommit=True) as holder:
            holder.execute("SELECT pg_advisory_lock(%s)", (WRITE_LOCK_KEY,))
            with pytest.raises(OperationalError, match="lock timeout"):
                recorder.insert_events([event(1)])
            holder.execute("SELECT pg_advisory_unlock(%s)", (WRITE_LOCK_KEY,))
        assert recorder.head() == (0, None)
        assert recorder.insert_events([event(1)]) == [1]
        assert verify(app).ok
    finally:
        app.close()


@pytest.mark.pg
def test_a_lost_writer_connection_fails_one_batch_and_the_next_gets_a_fresh_one(
    pg_db_url: str,
) -> None:
    """The leaders keep their connections between batches; when the server drops one, the
    batch on it fails with a database error (nothing appended) and the next batch commits
    on a new connection."""
    from eventsourcing.persistence import PersistenceError

    from casestore.store.batch import TimedStoredEvent

    app = CasestoreApp(pg_db_url)
    oid = uuid4()

    def event(version: int) -> TimedStoredEvent:
        return TimedStoredEvent(oid, version, "t:E", b"{}", 1_700_000_000_000_000)

    try:
        recorder: Any = app.recorder
        assert recorder.insert_events([event(1)]) == [1]
        (kept,) = recorder._writers
        with psycopg.connect(pg_db_url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (kept.info.backend_pid,))
        with pytest.raises(PersistenceError):
            recorder.insert_events([event(2)])
        assert recorder.head()[0] == 1
        assert recorder.insert_events([event(2)]) == [2]
        assert recorder._writers and recorder._writers[0] is not kept
        assert verify(app).ok
    finally:
        app.close()
