"""The Staff aggregate's rules: who may grant what to whom (SPEC §10)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from casestore.domain import Actor
from casestore.domain.errors import AlreadyDone, Forbidden, InvalidCommand, OutOfOrder
from casestore.domain.staff import Staff, staff_aggregate_id

T0 = datetime(2026, 6, 1, 1, 0, tzinfo=UTC)
ADMIN = Actor("adm-1", "admin")
BOOT = Actor("bootstrap", "system")


def _staff(staff_id: str = "appr-1") -> Staff:
    return Staff.enroll(staff_id=staff_id, name="王审批", unit="审批一科", actor=ADMIN, at=T0)


def test_enrol_and_grant() -> None:
    staff = _staff()
    assert staff.id == staff_aggregate_id("appr-1")
    staff.grant(role="approver", window="W03", reason="任命", actor=ADMIN, at=T0)
    grant = staff.roles_in_force()["approver"]
    assert (grant.window, grant.unit, grant.granted_by) == ("W03", "审批一科", "adm-1")
    assert [type(e).__name__ for e in staff.collect_events()] == ["StaffEnrolled", "RoleGranted"]


def test_self_grant_is_refused() -> None:
    staff = _staff("adm-1")
    with pytest.raises(Forbidden, match="their own"):
        staff.grant(role="approver", reason="x", actor=ADMIN, at=T0)
    with pytest.raises(Forbidden, match="their own"):
        staff.revoke(role="approver", reason="x", actor=ADMIN, at=T0)


def test_only_admins_grant() -> None:
    with pytest.raises(Forbidden, match="only an admin"):
        _staff().grant(role="approver", reason="x", actor=Actor("clerk-1", "clerk"), at=T0)


def test_admin_needs_a_second_admin_by_their_own_act() -> None:
    staff = _staff("adm-2")
    with pytest.raises(Forbidden, match="second admin"):  # no admin is granted at once
        staff.grant(role="admin", reason="x", actor=ADMIN, at=T0)
    with pytest.raises(Forbidden, match="second admin"):  # nor by naming someone
        staff.grant(role="admin", reason="x", actor=ADMIN, at=T0, seconded_by="adm-3")
    with pytest.raises(OutOfOrder, match="waits for a second"):
        staff.second_admin(actor=Actor("adm-3", "admin"), at=T0)
    staff.propose_admin(reason="副局长", actor=ADMIN, at=T0, window="W00")
    assert "admin" not in staff.roles_in_force()  # proposed is not granted
    with pytest.raises(AlreadyDone, match="waits for a second admin"):
        staff.propose_admin(reason="again", actor=Actor("adm-3", "admin"), at=T0)
    with pytest.raises(Forbidden, match="someone other"):  # the proposer cannot second
        staff.second_admin(actor=ADMIN, at=T0)
    with pytest.raises(Forbidden, match="their own"):  # nor the grantee
        staff.second_admin(actor=Actor("adm-2", "admin"), at=T0)
    with pytest.raises(Forbidden, match="only an admin"):
        staff.second_admin(actor=Actor("clerk-1", "clerk"), at=T0)
    staff.second_admin(actor=Actor("adm-3", "admin"), at=T0 + timedelta(minutes=5))
    grant = staff.roles_in_force()["admin"]
    assert (grant.granted_by, grant.seconded_by, grant.reason, grant.window) == (
        "adm-1",
        "adm-3",
        "副局长",
        "W00",
    )
    assert staff.proposal is None
    events = staff.collect_events()
    assert [type(e).__name__ for e in events[-2:]] == ["AdminGrantProposed", "RoleGranted"]
    assert events[-1].actor.staff_id == "adm-3"  # the grant is the second admin's act


def test_the_only_admin_makes_the_second_recorded_as_seconded_by_system() -> None:
    staff = _staff("adm-2")
    staff.grant(role="admin", reason="x", actor=ADMIN, at=T0, seconded_by="system")
    assert staff.grants["admin"].seconded_by == "system"


def test_bootstrap_grants_the_first_admin_alone() -> None:
    staff = Staff.enroll(staff_id="adm-1", name="局长", first_admin=True, actor=BOOT, at=T0)
    staff.grant(role="admin", reason="first admin", actor=BOOT, at=T0)
    assert staff.holds("admin")


def test_revoke_suspend_leave() -> None:
    staff = _staff()
    staff.grant(role="approver", reason="任命", actor=ADMIN, at=T0)
    with pytest.raises(AlreadyDone):
        staff.grant(role="approver", reason="again", actor=ADMIN, at=T0)
    staff.revoke(role="approver", reason="调岗", actor=ADMIN, at=T0 + timedelta(days=1))
    assert not staff.holds("approver")
    with pytest.raises(OutOfOrder):
        staff.revoke(role="approver", reason="again", actor=ADMIN, at=T0)
    staff.grant(role="reviewer", reason="调岗", actor=ADMIN, at=T0)
    staff.suspend(reason="立案审查", actor=ADMIN, at=T0)
    assert staff.roles_in_force() == {}
    with pytest.raises(OutOfOrder):
        staff.grant(role="clerk", reason="x", actor=ADMIN, at=T0)
    staff.leave(reason="调离", actor=ADMIN, at=T0)
    assert staff.grants == {} and staff.status == "left"


@pytest.mark.parametrize("bad", ["", "has space", "x" * 65, "tab\there"])
def test_staff_ids_are_bounded(bad: str) -> None:
    with pytest.raises(InvalidCommand):
        _staff(bad)


def test_unknown_roles_are_refused() -> None:
    with pytest.raises(InvalidCommand):
        _staff().grant(role="applicant", reason="x", actor=ADMIN, at=T0)


def test_reinstatement_ends_a_suspension_with_the_grants_kept_through_it() -> None:
    staff = _staff()
    staff.grant(role="approver", reason="任命", actor=ADMIN, at=T0)
    staff.grant(role="reviewer", reason="任命", actor=ADMIN, at=T0)
    with pytest.raises(OutOfOrder, match="not suspended"):
        staff.reinstate(reason="x", actor=ADMIN, at=T0)
    staff.suspend(reason="停职调查", actor=ADMIN, at=T0)
    assert staff.roles_in_force() == {}
    staff.revoke(role="reviewer", reason="调查期间撤销", actor=ADMIN, at=T0)
    with pytest.raises(Forbidden, match="their own"):
        staff.reinstate(reason="x", actor=Actor("appr-1", "admin"), at=T0)
    staff.reinstate(reason="调查结束", actor=ADMIN, at=T0 + timedelta(days=3))
    assert set(staff.roles_in_force()) == {"approver"}
    last = staff.collect_events()[-1]
    assert isinstance(last, Staff.StaffReinstated)
    assert (last.roles, last.by, last.reason) == (["approver"], "adm-1", "调查结束")


def test_one_who_left_is_not_reinstated() -> None:
    staff = _staff()
    staff.grant(role="approver", reason="任命", actor=ADMIN, at=T0)
    staff.leave(reason="调出", actor=ADMIN, at=T0)
    with pytest.raises(OutOfOrder, match="left, not suspended"):
        staff.reinstate(reason="x", actor=ADMIN, at=T0)
