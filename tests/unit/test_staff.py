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


def test_admin_needs_a_second_admin() -> None:
    staff = _staff("adm-2")
    with pytest.raises(Forbidden, match="second admin"):
        staff.grant(role="admin", reason="x", actor=ADMIN, at=T0)
    for second in ("adm-1", "adm-2"):
        with pytest.raises(Forbidden, match="someone other"):
            staff.grant(role="admin", reason="x", actor=ADMIN, at=T0, seconded_by=second)
    staff.grant(role="admin", reason="x", actor=ADMIN, at=T0, seconded_by="adm-3")
    assert staff.grants["admin"].seconded_by == "adm-3"


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
