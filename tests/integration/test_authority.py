"""Authority from the grants in force: a revocation during a burst of commands stops
every later one, in this process exactly and in another within a second (SPEC §10)."""

from __future__ import annotations

import threading
import time

import pytest

from casestore.authority import Authority
from casestore.domain import Actor
from casestore.domain.errors import Forbidden, OutOfOrder
from casestore.domain.staff import staff_aggregate_id
from casestore.service import CaseService, SubmitCase
from casestore.service.staff import (
    GrantRole,
    ReinstateStaff,
    RevokeRole,
    StaffCommand,
    SuspendStaff,
    by_admin,
)
from casestore.store.application import CasestoreApp
from tests.conftest import APPLICANT, CATALOGUE, FakeClock


def _setup(url: str) -> tuple[CasestoreApp, CaseService, Authority]:
    app = CasestoreApp(url)
    clock = FakeClock()
    service = CaseService(app, clock=clock)
    return app, service, Authority(app, clock)


def _bootstrap(authority: Authority) -> None:
    authority.enroll("adm-1", name="局长", first_admin=True)
    authority.enroll("adm-2", name="副局长", by="adm-1")
    authority.enroll("clerk-9", name="窗口九", by="adm-1")
    authority.grant("clerk-9", "clerk", by="adm-1", window="W09", reason="任命")


def test_revocation_during_a_burst_stops_every_later_command(store_url: str) -> None:
    app, service, authority = _setup(store_url)
    service.load_catalogue(CATALOGUE, Actor("catalogue", "admin"))
    _bootstrap(authority)
    done: list[int] = []
    refused: list[int] = []
    lock = threading.Lock()
    revoke_after = 40
    applicant = APPLICANT
    errors: list[BaseException] = []

    def writer() -> None:
        for _ in range(200):
            try:
                with authority.acting("clerk-9", "submit") as actor:
                    command = SubmitCase(actor=actor, item_code="XK-003", applicant=applicant)
                    sub = service.handle(command)
            except Forbidden:
                with lock:
                    refused.append(1)
                return
            except BaseException as e:  # a bug, not a refusal: fail the test, not hang it
                errors.append(e)
                return
            with lock:
                done.append(sub.position)

    threads = [threading.Thread(target=writer) for _ in range(6)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 120
    while len(done) < revoke_after and not errors and time.monotonic() < deadline:
        time.sleep(0.001)
    assert not errors, errors
    revoked_at = authority.revoke("clerk-9", "clerk", by="adm-1", reason="调离窗口")
    for t in threads:
        t.join()
    assert len(refused) == 6  # every writer was stopped by the revocation
    assert len(done) >= revoke_after
    # The log itself: no event by clerk-9 after the revocation's position.
    by_clerk = [
        row.position
        for row, ev in app.iter_events(0)
        if getattr(ev, "actor", None) and ev.actor.staff_id == "clerk-9"
    ]
    assert by_clerk and max(by_clerk) < revoked_at
    assert sorted(done) == sorted({p for p in done})
    app.close()


def test_a_revocation_in_another_process_takes_effect_within_a_second(sqlite_url: str) -> None:
    app_a, _, authority_a = _setup(sqlite_url)
    _bootstrap(authority_a)
    app_b, _, authority_b = _setup(sqlite_url)
    with authority_a.acting("clerk-9", "accept") as actor:
        assert actor == Actor("clerk-9", "clerk", "窗口九", "W09")
    authority_b.revoke("clerk-9", "clerk", by="adm-1", reason="停止授权")
    time.sleep(1.0)
    with pytest.raises(Forbidden), authority_a.acting("clerk-9", "accept"):
        pass
    app_a.close()
    app_b.close()


def test_self_grant_and_lone_admin_grants_are_refused(sqlite_url: str) -> None:
    app, _, authority = _setup(sqlite_url)
    _bootstrap(authority)
    with pytest.raises(Forbidden, match="their own"):
        authority.grant("adm-1", "approver", by="adm-1", reason="自己")
    authority.grant("adm-2", "admin", by="adm-1", reason="the only admin makes a second")
    assert authority.grants("adm-2")["admin"].seconded_by == "system"
    # now there are two: four eyes — adm-1 alone only proposes
    authority.grant("clerk-9", "admin", by="adm-1", reason="x")
    assert "admin" not in authority.grants("clerk-9")
    with pytest.raises(Forbidden, match="other than"):
        authority.second("clerk-9", by="adm-1")
    authority.enroll("adm-3", name="三", by="adm-1")
    with pytest.raises(Forbidden, match="holds no role"):  # adm-3 is not an admin
        authority.second("clerk-9", by="adm-3")
    with pytest.raises(Forbidden, match="other than"):  # a script naming the proposer
        authority.grant("adm-3", "admin", by="adm-1", seconded_by="adm-1", reason="x")
    authority.second("clerk-9", by="adm-2")
    grant = authority.grants("clerk-9")["admin"]
    assert (grant.granted_by, grant.seconded_by) == ("adm-1", "adm-2")
    authority.enroll("clerk-8", name="八", by="adm-1")
    authority.grant("clerk-8", "clerk", by="adm-1", reason="x")
    with pytest.raises(Forbidden):  # a clerk grants nothing
        authority.grant("adm-3", "approver", by="clerk-8", reason="x")
    with pytest.raises(Forbidden, match="no admin"):
        authority.enroll("adm-9", name="又一个", first_admin=True)
    app.close()


def test_the_first_admin_bootstraps_and_needs_a_second_for_the_next(sqlite_url: str) -> None:
    app, _, authority = _setup(sqlite_url)
    _bootstrap(authority)
    authority.grant("adm-2", "approver", by="adm-1", reason="兼任")
    authority.enroll("adm-3", name="三", by="adm-1")
    with pytest.raises(Forbidden):  # adm-2 holds approver, not admin: cannot second
        authority.grant("adm-3", "admin", by="adm-1", seconded_by="adm-2", reason="x")
    events = [type(e).__name__ for e in app.domain_events(staff_aggregate_id("adm-1"))]
    assert events == ["StaffEnrolled", "RoleGranted"]
    assert authority.grants("adm-1")["admin"].granted_by == "system"
    app.close()


def test_staff_commands_are_typed_and_a_reinstatement_restores_authority(sqlite_url: str) -> None:
    """Suspend (停职) stops a member at once, reinstate (复职) gives back what was kept;
    every staff change is a typed command the authority handles (SPEC §10)."""
    app, service, authority = _setup(sqlite_url)
    service.load_catalogue(CATALOGUE, Actor("catalogue", "admin"))
    _bootstrap(authority)
    authority.handle(
        GrantRole(actor=by_admin("adm-1"), staff_id="clerk-9", role="dispatcher", reason="兼")
    )
    authority.handle(SuspendStaff(actor=by_admin("adm-1"), staff_id="clerk-9", reason="调查"))
    with pytest.raises(Forbidden, match="holds no role"), authority.acting("clerk-9", "submit"):
        pass
    authority.handle(
        RevokeRole(actor=by_admin("adm-1"), staff_id="clerk-9", role="dispatcher", reason="x")
    )
    with pytest.raises(Forbidden, match="holds no role"):  # suspended: not even for oneself
        authority.handle(ReinstateStaff(actor=by_admin("clerk-9"), staff_id="clerk-9", reason="x"))
    authority.handle(ReinstateStaff(actor=by_admin("adm-1"), staff_id="clerk-9", reason="结论"))
    with authority.acting("clerk-9", "submit") as actor:
        assert actor == Actor("clerk-9", "clerk", "窗口九", "W09")
        service.handle(SubmitCase(actor=actor, item_code="XK-003", applicant=APPLICANT))
    assert set(authority.grants("clerk-9")) == {"clerk"}  # the revoked one stays revoked
    events = [type(e).__name__ for e in app.domain_events(staff_aggregate_id("clerk-9"))]
    assert events[-3:] == ["StaffSuspended", "RoleRevoked", "StaffReinstated"]
    with pytest.raises(OutOfOrder):  # only a suspension ends in reinstatement
        authority.reinstate("clerk-9", by="adm-1", reason="again")
    with pytest.raises(TypeError):  # a command class the authority does not know
        authority.handle(StaffCommand(actor=by_admin("adm-1"), staff_id="clerk-9"))
    app.close()
