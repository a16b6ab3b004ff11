""" "Who could approve on day D" from the access projection equals a simple model of
grants and revocations (hypothesis: random histories of grants, revocations,
suspensions, reinstatements and leavings over several days)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from tempfile import TemporaryDirectory

from casestore.projections.engine.db import ViewDB
from casestore.projections.readmodels.access import PROJECTION, AccessView
from casestore.projections.runtime.logsource import LogSource
from casestore.projections.runtime.worker import rebuild_into
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from casestore.authority import Authority
from casestore.domain.errors import CasestoreError
from casestore.domain.values import BUREAU_TZ
from casestore.store.application import CasestoreApp
from casestore.timeutil import to_micros

STAFF = ("s1", "s2", "s3")
ROLES = ("approver", "reviewer")
DAY0 = date(2026, 6, 1)
ops = st.lists(
    st.tuples(
        st.sampled_from(["grant", "revoke", "suspend", "reinstate", "leave"]),
        st.sampled_from(STAFF),
        st.sampled_from(ROLES),
        st.integers(min_value=0, max_value=5),  # day offset
        st.integers(min_value=9, max_value=17),  # hour
    ),
    max_size=14,
)


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 5, 30, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@contextmanager
def _store() -> Iterator[tuple[CasestoreApp, str]]:
    with TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'g.db'}"
        app = CasestoreApp(url)
        try:
            yield app, url
        finally:
            app.close()


def _model(history: list[tuple[str, str, str, datetime]], role: str, day: date) -> set[str]:
    """Who held ``role`` at some moment of ``day``: replay the history by hand (a grant
    is kept through a suspension, out of force, and in force again on reinstatement)."""
    start = datetime.combine(day, time.min, BUREAU_TZ)
    end = start + timedelta(days=1)
    kept: dict[str, set[str]] = {}  # staff -> roles granted and not revoked
    since: dict[str, datetime] = {}  # staff -> in force since (for this role)
    out: set[str] = set()

    def stop(staff: str, at: datetime) -> None:
        began = since.pop(staff, None)
        if began is not None and began < end and at > start:
            out.add(staff)

    for op, staff, r, at in history:
        roles = kept.setdefault(staff, set())
        if op == "grant":
            roles.add(r)
            if r == role:
                since[staff] = at
        elif op == "revoke":
            roles.discard(r)
            if r == role:
                stop(staff, at)
        elif op == "suspend":
            stop(staff, at)
        elif op == "reinstate":
            if role in roles:
                since[staff] = at
        else:  # leave
            roles.clear()
            stop(staff, at)
    out |= {s for s, began in since.items() if began < end}
    return out


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops)
def test_who_held_a_role_on_a_day_matches_the_model(steps: list[tuple]) -> None:
    with _store() as (app, url):
        clock = Clock()
        authority = Authority(app, clock)
        authority.enroll("adm", name="admin", first_admin=True)
        for s in STAFF:
            authority.enroll(s, name=s, by="adm")
        history: list[tuple[str, str, str, datetime]] = []
        tick = itertools.count()
        for op, staff, role, day, hour in sorted(steps, key=lambda s: (s[3], s[4])):
            at = datetime.combine(DAY0 + timedelta(days=day), time(hour), BUREAU_TZ)
            clock.now = max(clock.now + timedelta(seconds=1), at + timedelta(seconds=next(tick)))
            try:
                if op == "grant":
                    authority.grant(staff, role, by="adm", reason="r")
                elif op == "revoke":
                    authority.revoke(staff, role, by="adm", reason="r")
                elif op == "suspend":
                    authority.suspend(staff, by="adm", reason="r")
                elif op == "reinstate":
                    authority.reinstate(staff, by="adm", reason="r")
                else:
                    authority.leave(staff, by="adm", reason="r")
            except CasestoreError:
                continue  # refused by a rule: nothing happened
            history.append((op, staff, role, clock.now))
        db = ViewDB(url)
        source = LogSource(app)
        try:
            rebuild_into(source, db, PROJECTION)
            view = AccessView(db)
            for role, offset in itertools.product(ROLES, range(-1, 7)):
                day = DAY0 + timedelta(days=offset)
                start = datetime.combine(day, time.min, BUREAU_TZ)
                end = start + timedelta(days=1) - timedelta(microseconds=1)
                found = {
                    r["staff_id"] for r in view.holders(role, to_micros(start), to_micros(end))
                }
                assert found == _model(history, role, day), (role, day, history)
        finally:
            source.close()
            db.close()
