"""``casestore staff``: suspension and reinstatement (停职 / 复职) as a user runs them, and
what ``GET /staff?role=`` then says about who held the role on each day."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from casestore.authority import Authority
from casestore.domain.staff import staff_aggregate_id
from casestore.store.application import CasestoreApp

CASESTORE = Path(sys.executable).parent / "casestore"


def _staff(db: str, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CASESTORE), "staff", *argv, "--db", db],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_suspend_reinstate_and_leave_through_the_cli(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'staff.db'}"
    for argv in (
        ("enroll", "adm-1", "--name", "局长", "--first-admin"),
        ("enroll", "appr-7", "--name", "王签批", "--by", "adm-1"),
        ("grant", "appr-7", "approver", "--by", "adm-1", "--reason", "任命"),
        ("suspend", "appr-7", "--by", "adm-1", "--reason", "停职调查"),
        ("reinstate", "appr-7", "--by", "adm-1", "--reason", "调查结束"),
    ):
        done = _staff(db, *argv)
        assert done.returncode == 0, (argv, done.stderr)
        assert "recorded at position" in done.stdout
    app = CasestoreApp(db)
    try:
        authority = Authority(app, lambda: datetime.now(UTC))
        assert set(authority.grants("appr-7")) == {"approver"}
        names = [type(e).__name__ for e in app.domain_events(staff_aggregate_id("appr-7"))]
        assert names == [
            "StaffEnrolled",
            "RoleGranted",
            "StaffSuspended",
            "StaffReinstated",
        ]
    finally:
        app.close()
    refused = _staff(db, "reinstate", "appr-7", "--by", "adm-1", "--reason", "again")
    assert refused.returncode == 1 and "not suspended" in refused.stderr
    assert _staff(db, "leave", "appr-7", "--by", "adm-1", "--reason", "调出").returncode == 0
    refused = _staff(db, "reinstate", "appr-7", "--by", "adm-1", "--reason", "回来")
    assert refused.returncode == 1 and "left, not suspended" in refused.stderr
    self_made = _staff(db, "reinstate", "adm-1", "--by", "adm-1", "--reason", "x")
    assert self_made.returncode == 1


def test_four_eyes_a_second_admin_grants_admin_by_their_own_act(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'four-eyes.db'}"
    for argv in (
        ("enroll", "adm-1", "--name", "局长", "--first-admin"),
        ("enroll", "adm-2", "--name", "副局长", "--by", "adm-1"),
        ("grant", "adm-2", "admin", "--by", "adm-1", "--reason", "the only admin: at once"),
        ("enroll", "adm-3", "--name", "科长", "--by", "adm-1"),
        ("grant", "adm-3", "admin", "--by", "adm-1", "--reason", "提名"),
    ):
        done = _staff(db, *argv)
        assert done.returncode == 0, (argv, done.stderr)
    assert "staff second adm-3" in done.stdout
    app = CasestoreApp(db)
    try:
        authority = Authority(app, lambda: datetime.now(UTC))
        assert authority.grants("adm-2")["admin"].seconded_by == "system"
        assert "admin" not in authority.grants("adm-3")  # proposed, not granted
    finally:
        app.close()
    refused = _staff(db, "second", "adm-3", "--by", "adm-1")  # the proposer
    assert refused.returncode == 1 and "other than" in refused.stderr
    refused = _staff(db, "second", "adm-3", "--by", "adm-3")  # the grantee
    assert refused.returncode == 1
    assert _staff(db, "second", "adm-3", "--by", "adm-2").returncode == 0
    app = CasestoreApp(db)
    try:
        grant = Authority(app, lambda: datetime.now(UTC)).grants("adm-3")["admin"]
        assert (grant.granted_by, grant.seconded_by, grant.reason) == ("adm-1", "adm-2", "提名")
        names = [type(e).__name__ for e in app.domain_events(staff_aggregate_id("adm-3"))]
        assert names == ["StaffEnrolled", "AdminGrantProposed", "RoleGranted"]
    finally:
        app.close()
