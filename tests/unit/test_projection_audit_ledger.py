"""audit timelines and activity; the ledger's checkpoints and its alarm on a broken chain."""

from __future__ import annotations

import sqlite3
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

from casestore.projections.engine.base import local_day
from casestore.projections.engine.db import ViewDB
from casestore.projections.readmodels.audit import PROJECTION as AUDIT
from casestore.projections.readmodels.audit import AuditView
from casestore.projections.readmodels.ledger import LedgerProjection, LedgerView
from casestore.projections.runtime.logsource import LogSource
from casestore.projections.runtime.worker import rebuild_into

from casestore.domain import Case
from casestore.domain.values import Party
from casestore.service import Accept, Review, SubmitCase
from casestore.store.audit import digest
from casestore.timeutil import to_micros
from tests.integration.test_projection_workload import (
    CLERKS,
    REVIEWER,
    SimClock,
    drive,
    open_service,
)


def test_timeline_lists_every_event_with_actor_times_and_hash(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/a.db"
    clock = SimClock()
    service = open_service(url, clock)
    sub = service.handle(
        SubmitCase(
            actor=CLERKS[0],
            item_code="XK-003",
            applicant=Party(**{"name": "李四", "id_type": "resident_id", "id_number": "1"}),
        )
    )
    claimed = clock.now - timedelta(days=2)
    service.handle(Accept(case_id=sub.case_id, actor=CLERKS[0], occurred_at=claimed))
    service.handle(Review(case_id=sub.case_id, actor=REVIEWER, stage_name="审查", opinion="pass"))
    db = ViewDB(url)
    source = LogSource(service.app)
    rebuild_into(source, db, AUDIT)
    timeline = AuditView(db).timeline(str(sub.case_id))
    events = service.app.domain_events(sub.case_id)
    assert [t["event_type"] for t in timeline] == ["Submitted", "Accepted", "ReviewRecorded"]
    assert [t["recorded_at"] for t in timeline] == [e.timestamp for e in events]
    assert [t["actor_staff"] for t in timeline] == ["c1", "c1", "r1"]
    accepted = timeline[1]
    assert accepted["occurred_at"] == claimed and accepted["backdated_seconds"] > 2 * 86400 - 5
    log = {row.position: row for row in service.app.log.iter_log()}
    assert all(t["event_hash"] == log[t["position"]].event_hash.hex() for t in timeline)
    source.close()
    db.close()


def test_activity_counts_each_staff_members_events_per_day(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/act.db"
    service = open_service(url)
    ids = drive(service, 30, seed=5)
    db = ViewDB(url)
    source = LogSource(service.app)
    rebuild_into(source, db, AUDIT, batch=17)
    expected: Counter[tuple[str, str]] = Counter()
    for cid in ids:
        for event in service.app.domain_events(cid):
            expected[(event.actor.staff_id, local_day(to_micros(event.timestamp)).isoformat())] += 1
    view = AuditView(db)
    for staff in {s for s, _ in expected}:
        activity = view.actor_activity(staff)
        assert {d["day"]: d["events"] for d in activity["days"]} == {
            day: n for (s, day), n in expected.items() if s == staff
        }
    first_day = min(day for _, day in expected)
    busiest = view.activity_on(date.fromisoformat(first_day))
    assert busiest[0]["events"] == max(n for (_, d), n in expected.items() if d == first_day)
    mine = view.by_actor("r1", limit=1000)
    assert mine and all(r["actor_staff"] == "r1" for r in mine)
    source.close()
    db.close()


def test_ledger_checkpoints_match_the_store_digest(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/l.db"
    service = open_service(url)
    drive(service, 15, seed=2)
    db = ViewDB(url)
    source = LogSource(service.app)
    rebuild_into(source, db, LedgerProjection(interval=10), batch=13)
    view = LedgerView(db)
    points = view.checkpoints()
    head = service.app.log.head()[0]
    assert [p["position"] for p in points if not p["head"]] == list(range(10, head + 1, 10))
    assert points[-1]["head"] == (head % 10 != 0) and points[-1]["position"] == head
    for point in points:
        assert point["digest"] == digest(service.app, point["position"])["digest"]
    nearest = view.at(head - 1)
    assert nearest is not None and nearest["position"] == (head - 1) // 10 * 10
    assert nearest["digest"] == digest(service.app, nearest["position"])["digest"]
    assert view.alarms() == []
    source.close()
    db.close()


def test_a_broken_link_raises_one_alarm_and_the_ledger_carries_on(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/t.db"
    service = open_service(url)
    ids = drive(service, 5, seed=2)
    victim = service.app.domain_events(ids[2])[0]
    path = tmp_path / "t.db"
    raw = sqlite3.connect(path)
    with raw:  # an attacker with file access bypasses the append-only triggers
        raw.execute("DROP TRIGGER casestore_events_no_update")
        raw.execute(
            "UPDATE casestore_events SET event_hash = zeroblob(32) "
            "WHERE originator_id = ? AND originator_version = 1",
            (victim.originator_id.hex,),
        )
        (position,) = raw.execute(
            "SELECT notification_id FROM casestore_events WHERE originator_id = ? "
            "AND originator_version = 1",
            (victim.originator_id.hex,),
        ).fetchone()
    raw.close()
    db = ViewDB(url)
    source = LogSource(service.app)
    rebuild_into(source, db, LedgerProjection(interval=5))
    alarms = LedgerView(db).alarms()
    assert [(a["position"], a["kind"]) for a in alarms] == [(position, "chain")]
    assert alarms[0]["aggregate_id"] == str(victim.originator_id)
    head = LedgerView(db).head()
    assert head is not None and head["position"] == service.app.log.head()[0]
    assert isinstance(service.app.get(Case, ids[0]), Case)
    source.close()
    db.close()
