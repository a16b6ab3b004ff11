"""Authority at the moment of each request: the grants in force, from the log.

Every command and every read names a staff member (from their token) and is allowed
by the roles that member holds *now* in the log, never by anything the token says.

Timing guarantees:

- **In this process, exactly.** A command holds its staff member's lock (shared) from
  the authority check until its events are committed; a revocation, suspension or
  leaving holds it exclusively until its own event is committed and the cached member
  updated. So no command of that member commits after the revocation's position on
  the strength of the revoked grant.
- **Across processes, within a second.** A cached member is re-checked against the
  log when older than :data:`FRESH_SECONDS` (one indexed look-up of the member's
  current version; reloaded only when it moved).

(Over 400 lines on purpose: the authority check and the staff commands share the
member locks and the cached members; apart, the lock discipline would be split in two.)

Staff commands (:mod:`casestore.service.staff`: enrol, grant, revoke, suspend,
reinstate, leave) are handled here too (:meth:`Authority.handle`): they are checked
against the same grants (only admins grant; never themselves; admin needs a second).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from casestore.domain.errors import Forbidden, InvalidCommand, NotFound
from casestore.domain.roles import PERMISSIONS
from casestore.domain.staff import BOOTSTRAP, Grant, Staff, staff_aggregate_id
from casestore.domain.values import Actor
from casestore.service.staff import (
    SYSTEM,
    EnrollStaff,
    GrantRole,
    RecordLeaving,
    ReinstateStaff,
    RevokeRole,
    SecondAdminGrant,
    StaffCommand,
    SuspendStaff,
    by_admin,
)
from casestore.store.application import CasestoreApp
from casestore.store.batch import VersionConflict
from casestore.timeutil import to_micros

FRESH_SECONDS: Final = 0.5
#: When a member holds several roles and the request does not say which (``X-Act-As``),
#: the first of these that fits is used (its masking and its name in the trail).
ROLE_ORDER: Final = (
    "admin",
    "clerk",
    "dispatcher",
    "approver",
    "reviewer",
    "surveyor",
    "sealer",
    "inspector",
    "auditor",
)
_TOPIC_GRANTED: Final = "casestore.domain.staff:Staff.RoleGranted"
#: Far beyond any recorded_at (9999-12-31): "the version now".
_UNUSED_MICROS: Final = 253_402_300_799_000_000


class NotEnrolled(Forbidden):
    """The token names someone who is not (or no longer) staff with any authority."""

    code = "forbidden"


class _SharedLock:
    """Many holders at once, or one exclusive holder; a waiting writer goes first."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writer = False
        self._writers_waiting = 0

    @contextmanager
    def shared(self) -> Iterator[None]:
        with self._cond:
            while self._writer or self._writers_waiting:
                self._cond.wait()
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                if not self._readers:
                    self._cond.notify_all()

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        with self._cond:
            self._writers_waiting += 1
            while self._writer or self._readers:
                self._cond.wait()
            self._writers_waiting -= 1
            self._writer = True
        try:
            yield
        finally:
            with self._cond:
                self._writer = False
                self._cond.notify_all()


@dataclass(frozen=True)
class _Cached:
    staff: Staff | None
    version: int
    checked: float


class Authority:
    """Who holds what now (cached, re-checked within a second), and the staff commands."""

    def __init__(
        self,
        app: CasestoreApp,
        clock: Callable[[], datetime],
        *,
        fresh_seconds: float = FRESH_SECONDS,
    ) -> None:
        self.app = app
        self.clock = clock
        self.fresh_seconds = fresh_seconds
        self._cache: dict[str, _Cached] = {}
        self._locks: dict[str, _SharedLock] = {}
        self._guard = threading.Lock()

    # -- looking up ----------------------------------------------------------------------

    def _lock(self, staff_id: str) -> _SharedLock:
        with self._guard:
            lock = self._locks.get(staff_id)
            if lock is None:
                lock = self._locks[staff_id] = _SharedLock()
            return lock

    def is_fresh(self, staff_id: str) -> bool:
        """Whether the member's cached grants may be used without asking the store."""
        cached = self._cache.get(staff_id)
        return cached is not None and time.monotonic() - cached.checked < self.fresh_seconds

    def staff(self, staff_id: str, *, fresh: bool = False) -> Staff | None:
        """The member as the log has them now (``None`` when never enrolled)."""
        now = time.monotonic()
        cached = self._cache.get(staff_id)
        if cached is not None and not fresh and now - cached.checked < self.fresh_seconds:
            return cached.staff
        aggregate_id = staff_aggregate_id(staff_id)
        version = self.app.log.version_at(aggregate_id, _UNUSED_MICROS)
        if cached is not None and cached.version == version:
            self._cache[staff_id] = _Cached(cached.staff, version, now)
            return cached.staff
        staff = self.app.get(Staff, aggregate_id) if version else None
        self._cache[staff_id] = _Cached(staff, staff.version if staff else 0, now)
        return staff

    def as_of(self, staff_id: str, moment: datetime) -> tuple[Staff, list[Any]]:
        """The member as the log had them at ``moment``, and their events up to then."""
        aggregate_id = staff_aggregate_id(staff_id)
        version = self.app.log.version_at(aggregate_id, to_micros(moment))
        if not version:
            raise NotFound(f"no staff {staff_id} (then)")
        staff = self.app.get(Staff, aggregate_id, version=version)
        return staff, self.app.domain_events(aggregate_id, upto_version=version)

    def grants(self, staff_id: str) -> dict[str, Grant]:
        staff = self.staff(staff_id)
        return staff.roles_in_force() if staff else {}

    def actor(
        self,
        staff_id: str,
        *,
        allowed: frozenset[str] | None = None,
        act_as: str | None = None,
        what: str = "this",
    ) -> Actor:
        """The caller acting in one of the roles they hold now (and ``allowed`` admits)."""
        staff = self.staff(staff_id)
        if staff is None:
            raise NotEnrolled(f"{staff_id!r} is not enrolled staff", staff_id=staff_id)
        held = staff.roles_in_force()
        if not held:
            raise NotEnrolled(
                f"staff {staff_id} holds no role now ({staff.status})", staff_id=staff_id
            )
        fitting = [r for r in ROLE_ORDER if r in held and (allowed is None or r in allowed)]
        if act_as is not None:
            if act_as not in fitting:
                raise Forbidden(
                    f"staff {staff_id} may not act as {act_as!r} for {what} (holds {sorted(held)})",
                    role=act_as,
                )
            role = act_as
        elif fitting:
            role = fitting[0]
        else:
            allowed_text = sorted(allowed) if allowed is not None else []
            raise Forbidden(
                f"staff {staff_id} holds {sorted(held)}; {what} needs one of {allowed_text}",
                role=next(r for r in ROLE_ORDER if r in held),
            )
        grant = held[role]
        return Actor(staff_id, role, staff.name, grant.window)

    @contextmanager
    def acting(self, staff_id: str, action: str, act_as: str | None = None) -> Iterator[Actor]:
        """Hold the member's authority for one command, from the check to its commit."""
        allowed = PERMISSIONS.get(action)
        if allowed is None:
            raise NotFound(f"no action {action!r}")
        with self._lock(staff_id).shared():
            yield self.actor(staff_id, allowed=allowed, act_as=act_as, what=action)

    # -- staff commands ------------------------------------------------------------------

    def _admin(self, staff_id: str) -> Actor:
        return self.actor(staff_id, allowed=frozenset({"admin"}), what="staff administration")

    def admins(self) -> set[str]:
        """Who holds admin now (a scan of the log for admin grants: staff commands only)."""
        granted = {
            row.originator_id
            for row in self.app.log.iter_log(0)
            if row.topic == _TOPIC_GRANTED and self.app.decode(row).role == "admin"
        }
        holders = set()
        for aggregate_id in granted:
            staff = self.app.get(Staff, aggregate_id)
            if staff.holds("admin"):
                holders.add(staff.staff_id)
        return holders

    def has_admin(self) -> bool:
        """Whether anyone holds admin now (bootstrap only)."""
        return bool(self.admins())

    def handle(self, command: StaffCommand) -> int:
        """Run one staff command (:mod:`casestore.service.staff`); its log position."""
        if isinstance(command, EnrollStaff):
            return self._enroll(command)
        by = command.actor.staff_id
        change: Callable[[Staff, Actor], None]
        at = self.clock
        if isinstance(command, GrantRole) and command.role == "admin":
            return self._grant_admin(command)
        if isinstance(command, GrantRole):

            def change(staff: Staff, actor: Actor) -> None:
                staff.grant(
                    role=command.role,
                    reason=command.reason,
                    actor=actor,
                    at=at(),
                    window=command.window,
                    unit=command.unit,
                )

        elif isinstance(command, SecondAdminGrant):

            def change(staff: Staff, actor: Actor) -> None:
                staff.second_admin(actor=actor, at=at())

        elif isinstance(command, RevokeRole):

            def change(staff: Staff, actor: Actor) -> None:
                staff.revoke(role=command.role, reason=command.reason, actor=actor, at=at())

        elif isinstance(command, SuspendStaff):

            def change(staff: Staff, actor: Actor) -> None:
                staff.suspend(reason=command.reason, actor=actor, at=at())

        elif isinstance(command, ReinstateStaff):

            def change(staff: Staff, actor: Actor) -> None:
                staff.reinstate(reason=command.reason, actor=actor, at=at())

        elif isinstance(command, RecordLeaving):

            def change(staff: Staff, actor: Actor) -> None:
                staff.leave(reason=command.reason, actor=actor, at=at())

        else:
            raise TypeError(f"no handler for {type(command).__name__}")
        return self._change(command.staff_id, by, change)

    def _enroll(self, command: EnrollStaff) -> int:
        """Enrol a member (by an admin), or the very first admin while there is none."""
        if command.first_admin:
            if self.has_admin():
                raise Forbidden("--first-admin only while the log has no admin")
            actor = SYSTEM
        else:
            if command.actor.staff_id == BOOTSTRAP:
                raise InvalidCommand("enrolment names the admin who enrols (--by)")
            actor = self._admin(command.actor.staff_id)
        at = self.clock()
        staff = Staff.enroll(
            staff_id=command.staff_id,
            name=command.name,
            unit=command.unit,
            first_admin=command.first_admin,
            actor=actor,
            at=at,
        )
        if command.first_admin:
            staff.grant(role="admin", reason="first admin (bootstrap)", actor=actor, at=at)
        try:
            positions = self.app.append(staff)
        except VersionConflict:
            raise InvalidCommand(f"staff {command.staff_id} is already enrolled") from None
        self._cache.pop(command.staff_id, None)
        return positions[-1]

    def _grant_admin(self, command: GrantRole) -> int:
        """四眼原则: the only admin makes the second one at once (seconded by ``system``);
        otherwise the grant is proposed and waits for a second admin's own act
        (:class:`SecondAdminGrant`). A script naming ``seconded_by`` does both acts, each
        by its own admin (checked to hold admin now)."""
        by = command.actor.staff_id
        if not command.seconded_by and self.admins() == {by}:

            def lone(staff: Staff, actor: Actor) -> None:
                staff.grant(
                    role="admin",
                    reason=command.reason,
                    actor=actor,
                    at=self.clock(),
                    window=command.window,
                    unit=command.unit,
                    seconded_by=BOOTSTRAP,
                )

            return self._change(command.staff_id, by, lone)

        def propose(staff: Staff, actor: Actor) -> None:
            staff.propose_admin(
                reason=command.reason,
                actor=actor,
                at=self.clock(),
                window=command.window,
                unit=command.unit,
            )

        if command.seconded_by:
            self._admin(command.seconded_by)  # refuse before anything is recorded
            if command.seconded_by in (by, command.staff_id):
                raise Forbidden("the second admin must be someone other than granter and grantee")
        position = self._change(command.staff_id, by, propose)
        if command.seconded_by:
            second = SecondAdminGrant(
                actor=by_admin(command.seconded_by), staff_id=command.staff_id
            )
            position = self.handle(second)
        return position

    def _change(self, staff_id: str, by: str, change: Callable[[Staff, Actor], None]) -> int:
        with self._lock(staff_id).exclusive():
            actor = self._admin(by)
            staff = self.staff(staff_id, fresh=True)
            if staff is None:
                raise NotFound(f"no staff {staff_id}")
            change(staff, actor)
            try:
                positions = self.app.append(staff)
            except VersionConflict:
                self._cache.pop(staff_id, None)
                raise InvalidCommand(f"staff {staff_id} changed meanwhile: retry") from None
            self._cache[staff_id] = _Cached(staff, staff.version, time.monotonic())
            return positions[-1]

    # The same commands by keyword (scripts, tests, the simulator's roster).

    def enroll(
        self,
        staff_id: str,
        *,
        name: str,
        unit: str = "",
        by: str | None = None,
        first_admin: bool = False,
    ) -> int:
        actor = SYSTEM if first_admin or not by else by_admin(by)
        return self.handle(
            EnrollStaff(
                actor=actor, staff_id=staff_id, name=name, unit=unit, first_admin=first_admin
            )
        )

    def grant(
        self,
        staff_id: str,
        role: str,
        *,
        by: str,
        reason: str,
        window: str = "",
        unit: str = "",
        seconded_by: str = "",
    ) -> int:
        return self.handle(
            GrantRole(
                actor=by_admin(by),
                staff_id=staff_id,
                role=role,
                reason=reason,
                window=window,
                unit=unit,
                seconded_by=seconded_by,
            )
        )

    def second(self, staff_id: str, *, by: str) -> int:
        return self.handle(SecondAdminGrant(actor=by_admin(by), staff_id=staff_id))

    def revoke(self, staff_id: str, role: str, *, by: str, reason: str) -> int:
        return self.handle(
            RevokeRole(actor=by_admin(by), staff_id=staff_id, role=role, reason=reason)
        )

    def suspend(self, staff_id: str, *, by: str, reason: str) -> int:
        return self.handle(SuspendStaff(actor=by_admin(by), staff_id=staff_id, reason=reason))

    def reinstate(self, staff_id: str, *, by: str, reason: str) -> int:
        return self.handle(ReinstateStaff(actor=by_admin(by), staff_id=staff_id, reason=reason))

    def leave(self, staff_id: str, *, by: str, reason: str) -> int:
        return self.handle(RecordLeaving(actor=by_admin(by), staff_id=staff_id, reason=reason))
