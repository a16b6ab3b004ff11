"""Staff commands (SPEC §10): who works here and which authority each holds.

Same shape as :mod:`casestore.service.commands`: one frozen dataclass per command,
``action`` its name in the role matrix (:mod:`casestore.domain.roles`: admins only),
``actor`` who asks. They are handled by :meth:`casestore.authority.Authority.handle`
rather than :class:`~casestore.service.CaseService`, because a change of authority
takes the member's lock exclusively (it waits for that member's commands in flight and
holds back new ones until its own event is committed) and refreshes the cached grants
every request is authorised against.

The actor's ``staff_id`` must hold admin in the log at that moment (the role written on
the actor is not believed); the one exception is the bootstrap, :class:`EnrollStaff`
with ``first_admin=True`` by :data:`SYSTEM` while the log holds no admin.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from casestore.domain.staff import BOOTSTRAP
from casestore.domain.values import Actor
from casestore.service.commands import Command

#: Who enrols the very first admin (``casestore staff enroll --first-admin``).
SYSTEM: Final = Actor(BOOTSTRAP, BOOTSTRAP)


def by_admin(staff_id: str) -> Actor:
    """The actor of a staff command issued by ``staff_id`` (checked to hold admin)."""
    return Actor(staff_id, "admin")


@dataclass(frozen=True, kw_only=True)
class StaffCommand(Command):
    """A command about one member of staff (addressed by their staff id)."""

    staff_id: str


@dataclass(frozen=True, kw_only=True)
class EnrollStaff(StaffCommand):
    """Enrol a member (holding no role until granted one), or bootstrap the first admin."""

    action = "staff-enroll"
    name: str
    unit: str = ""
    first_admin: bool = False


@dataclass(frozen=True, kw_only=True)
class GrantRole(StaffCommand):
    """Grant a role. The admin role is only proposed by this (四眼原则) unless the actor is
    the only admin: a second admin completes it (:class:`SecondAdminGrant`); a script
    naming ``seconded_by`` makes both acts, each by its own admin."""

    action = "staff-grant"
    role: str
    reason: str
    window: str = ""
    unit: str = ""
    seconded_by: str = ""


@dataclass(frozen=True, kw_only=True)
class SecondAdminGrant(StaffCommand):
    """A second admin's own act completing a proposed grant of the admin role."""

    action = "staff-second"


@dataclass(frozen=True, kw_only=True)
class RevokeRole(StaffCommand):
    """Withdraw a role: it stops working at once (within a second in other processes)."""

    action = "staff-revoke"
    role: str
    reason: str


@dataclass(frozen=True, kw_only=True)
class SuspendStaff(StaffCommand):
    """Suspend every authority of a member (停职); their grants are kept, not in force."""

    action = "staff-suspend"
    reason: str


@dataclass(frozen=True, kw_only=True)
class ReinstateStaff(StaffCommand):
    """End a suspension (复职): the grants kept through it are in force again."""

    action = "staff-reinstate"
    reason: str


@dataclass(frozen=True, kw_only=True)
class RecordLeaving(StaffCommand):
    """The member left the bureau: every grant ends."""

    action = "staff-leave"
    reason: str


#: Every staff command by action (``casestore staff VERB``).
STAFF_COMMANDS: Final[dict[str, type[StaffCommand]]] = {
    cls.action: cls
    for cls in (
        EnrollStaff,
        GrantRole,
        SecondAdminGrant,
        RevokeRole,
        SuspendStaff,
        ReinstateStaff,
        RecordLeaving,
    )
}
