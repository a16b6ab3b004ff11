"""The Staff aggregate: who works here, and which authority each holds since when.

Authority is in the log, never in a token: a role is held from its ``RoleGranted`` to
its ``RoleRevoked`` (or the member's ``StaffSuspended`` / ``StaffLeft``), so "who could
approve on 30 June" is a question about the log, answered the same way by every
process and by an auditor years later.

Rules (the commands check them; events never refuse):

- only an admin grants or revokes, and never for themselves;
- the admin role needs a second, different admin, neither of them the grantee (四眼原则:
  no one makes an administrator alone): one admin proposes it (``AdminGrantProposed``),
  a second one seconds it by their own act, and only then is it granted (``RoleGranted``
  by the second, ``granted_by`` the first, ``seconded_by`` the second) — except that the
  only admin may make the second one, recorded as seconded by ``system``;
- the very first admin is enrolled by ``casestore staff enroll --first-admin`` while the
  log holds no admin at all (the bootstrap; its grant names ``system`` as granter);
- a suspended member or one who has left holds nothing and is granted nothing;
- a suspension ends with ``StaffReinstated`` (复职), which names the roles in force
  again (those kept through the suspension); leaving is final.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar, Final
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate

from casestore.domain.errors import AlreadyDone, Forbidden, InvalidCommand, OutOfOrder
from casestore.domain.values import ROLES, Actor, require_choice, require_text

#: Roles a staff member can be granted (``system`` and ``applicant`` are not staff).
GRANTABLE: Final = ROLES - {"system", "applicant"}
STAFF_ID_MAX: Final = 64
BOOTSTRAP: Final = "system"


def staff_aggregate_id(staff_id: str) -> UUID:
    """Staff are addressed by their staff id; the aggregate id derives from it."""
    return uuid5(NAMESPACE_URL, f"casestore:staff:{staff_id}")


def check_staff_id(staff_id: str) -> str:
    """A staff id: 1-64 printable characters without spaces."""
    staff_id = require_text(staff_id, "staff_id")
    if len(staff_id) > STAFF_ID_MAX or not staff_id.isprintable() or " " in staff_id:
        raise InvalidCommand(f"staff_id must be 1-{STAFF_ID_MAX} printable characters, no spaces")
    return staff_id


@dataclass(frozen=True)
class Proposal:
    """A grant of the admin role one admin proposed, waiting for a second admin."""

    window: str
    unit: str
    proposed_by: str
    reason: str
    proposed_at: datetime


@dataclass(frozen=True)
class Grant:
    """One role held: where, since when, and on whose authority."""

    role: str
    window: str
    unit: str
    granted_at: datetime
    granted_by: str
    seconded_by: str
    reason: str


class Staff(Aggregate):
    """One member of staff and the roles they hold."""

    class Event(Aggregate.Event):
        actor: Actor

        @property
        def recorded_at(self) -> datetime:
            return self.timestamp

    class StaffEnrolled(Event, Aggregate.Created):
        staff_id: str
        name: str
        unit: str
        first_admin: bool

        def apply(self, staff: Staff) -> None:
            staff.staff_id = self.staff_id
            staff.name = self.name
            staff.unit = self.unit

    class RoleGranted(Event):
        role: str
        window: str
        unit: str
        granted_by: str
        seconded_by: str
        reason: str

        def apply(self, staff: Staff) -> None:
            if self.role == "admin":
                staff.proposal = None
            staff.grants[self.role] = Grant(
                self.role,
                self.window,
                self.unit,
                self.timestamp,
                self.granted_by,
                self.seconded_by,
                self.reason,
            )

    class AdminGrantProposed(Event):
        window: str
        unit: str
        proposed_by: str
        reason: str

        def apply(self, staff: Staff) -> None:
            staff.proposal = Proposal(
                self.window, self.unit, self.proposed_by, self.reason, self.timestamp
            )

    class RoleRevoked(Event):
        role: str
        revoked_by: str
        reason: str

        def apply(self, staff: Staff) -> None:
            staff.grants.pop(self.role, None)

    class StaffSuspended(Event):
        by: str
        reason: str

        def apply(self, staff: Staff) -> None:
            staff.status = "suspended"

    class StaffReinstated(Event):
        by: str
        reason: str
        roles: list[str]

        def apply(self, staff: Staff) -> None:
            staff.status = "active"

    class StaffLeft(Event):
        by: str
        reason: str

        def apply(self, staff: Staff) -> None:
            staff.status = "left"
            staff.grants.clear()

    EVENT_NAMES: ClassVar[tuple[str, ...]] = (
        "StaffEnrolled",
        "RoleGranted",
        "AdminGrantProposed",
        "RoleRevoked",
        "StaffSuspended",
        "StaffReinstated",
        "StaffLeft",
    )

    def __init__(self) -> None:
        self.staff_id = ""
        self.name = ""
        self.unit = ""
        self.status = "active"
        self.grants: dict[str, Grant] = {}
        self.proposal: Proposal | None = None

    # -- reads ---------------------------------------------------------------------------

    @property
    def active(self) -> bool:
        return self.status == "active"

    def roles_in_force(self) -> dict[str, Grant]:
        """The grants that carry authority now (none while suspended or after leaving)."""
        return dict(self.grants) if self.active else {}

    def holds(self, role: str) -> bool:
        return self.active and role in self.grants

    # -- commands ------------------------------------------------------------------------

    @classmethod
    def enroll(
        cls,
        *,
        staff_id: str,
        name: str,
        unit: str = "",
        first_admin: bool = False,
        actor: Actor,
        at: datetime,
    ) -> Staff:
        """A new member of staff, holding no role yet."""
        staff_id = check_staff_id(staff_id)
        return cls._create(
            cls.StaffEnrolled,
            id=staff_aggregate_id(staff_id),
            actor=actor,
            timestamp=at,
            staff_id=staff_id,
            name=require_text(name, "name")[:200],
            unit=unit.strip()[:100],
            first_admin=first_admin,
        )

    def _check_admin_act(self, by: Actor, verb: str) -> None:
        if by.staff_id == self.staff_id:
            raise Forbidden(f"no one may {verb} roles of their own", staff_id=self.staff_id)
        if by.role not in ("admin", BOOTSTRAP):
            raise Forbidden(f"only an admin may {verb} roles", role=by.role)

    def grant(
        self,
        *,
        role: str,
        reason: str,
        actor: Actor,
        at: datetime,
        window: str = "",
        unit: str = "",
        seconded_by: str = "",
    ) -> None:
        """Grant ``role`` at once. The admin role is granted this way only by the bootstrap
        (``system``) or by the only admin making the second (``seconded_by="system"``);
        otherwise it is proposed (:meth:`propose_admin`) and seconded (:meth:`second_admin`)."""
        require_choice(role, GRANTABLE, "role")
        self._check_admin_act(actor, "grant")
        self._check_grantable(role)
        seconded_by = seconded_by.strip()
        if role == "admin" and BOOTSTRAP not in (actor.role, seconded_by):
            raise Forbidden(
                "granting admin needs a second admin: one proposes, another seconds "
                "(casestore staff second)"
            )
        self.trigger_event(
            self.RoleGranted,
            actor=actor,
            timestamp=at,
            role=role,
            window=window.strip()[:64],
            unit=(unit.strip() or self.unit)[:100],
            granted_by=actor.staff_id,
            seconded_by=seconded_by if role == "admin" else "",
            reason=require_text(reason, "reason")[:500],
        )

    def _check_grantable(self, role: str) -> None:
        if not self.active:
            raise OutOfOrder(f"staff {self.staff_id} is {self.status}: no grants")
        if role in self.grants:
            raise AlreadyDone(f"staff {self.staff_id} already holds {role}")

    def propose_admin(
        self, *, reason: str, actor: Actor, at: datetime, window: str = "", unit: str = ""
    ) -> None:
        """The first of the two admins' acts: propose the admin role for this member."""
        self._check_admin_act(actor, "grant")
        self._check_grantable("admin")
        if self.proposal is not None:
            raise AlreadyDone(
                f"admin for {self.staff_id} was proposed by {self.proposal.proposed_by} "
                "and waits for a second admin"
            )
        self.trigger_event(
            self.AdminGrantProposed,
            actor=actor,
            timestamp=at,
            window=window.strip()[:64],
            unit=(unit.strip() or self.unit)[:100],
            proposed_by=actor.staff_id,
            reason=require_text(reason, "reason")[:500],
        )

    def second_admin(self, *, actor: Actor, at: datetime) -> None:
        """The second admin's own act: the proposed admin role is granted now."""
        self._check_admin_act(actor, "second")
        proposal = self.proposal
        if proposal is None:
            raise OutOfOrder(f"no grant of admin to {self.staff_id} waits for a second admin")
        if actor.staff_id == proposal.proposed_by:
            raise Forbidden("the second admin must be someone other than granter and grantee")
        self._check_grantable("admin")
        self.trigger_event(
            self.RoleGranted,
            actor=actor,
            timestamp=at,
            role="admin",
            window=proposal.window,
            unit=proposal.unit,
            granted_by=proposal.proposed_by,
            seconded_by=actor.staff_id,
            reason=proposal.reason,
        )

    def revoke(self, *, role: str, reason: str, actor: Actor, at: datetime) -> None:
        """Withdraw a role the member holds."""
        self._check_admin_act(actor, "revoke")
        if role not in self.grants:
            raise OutOfOrder(f"staff {self.staff_id} does not hold {role}")
        self.trigger_event(
            self.RoleRevoked,
            actor=actor,
            timestamp=at,
            role=role,
            revoked_by=actor.staff_id,
            reason=require_text(reason, "reason")[:500],
        )

    def suspend(self, *, reason: str, actor: Actor, at: datetime) -> None:
        """Suspend every authority of the member (停职): their grants stop counting."""
        self._check_admin_act(actor, "suspend")
        if not self.active:
            raise OutOfOrder(f"staff {self.staff_id} is already {self.status}")
        self.trigger_event(
            self.StaffSuspended,
            actor=actor,
            timestamp=at,
            by=actor.staff_id,
            reason=require_text(reason, "reason")[:500],
        )

    def reinstate(self, *, reason: str, actor: Actor, at: datetime) -> None:
        """End a suspension: the grants kept through it are in force again."""
        self._check_admin_act(actor, "reinstate")
        if self.status != "suspended":
            raise OutOfOrder(f"staff {self.staff_id} is {self.status}, not suspended")
        self.trigger_event(
            self.StaffReinstated,
            actor=actor,
            timestamp=at,
            by=actor.staff_id,
            reason=require_text(reason, "reason")[:500],
            roles=sorted(self.grants),
        )

    def leave(self, *, reason: str, actor: Actor, at: datetime) -> None:
        """The member left the bureau: every grant ends."""
        self._check_admin_act(actor, "record the leaving of")
        if self.status == "left":
            raise AlreadyDone(f"staff {self.staff_id} has already left")
        self.trigger_event(
            self.StaffLeft,
            actor=actor,
            timestamp=at,
            by=actor.staff_id,
            reason=require_text(reason, "reason")[:500],
        )
