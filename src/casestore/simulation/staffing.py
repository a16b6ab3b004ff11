"""The simulated bureau's staff in the log, and every simulated command on their grants.

:func:`enrol_roster` enrols the admin first, then everyone with their role (and
window), so authority in the log matches who acts in the history. :class:`Granted`
then resolves the actor of every live step from those grants, as the API resolves a
caller (:meth:`casestore.authority.Authority.acting`, held to the commit): a step by
someone who holds no fitting grant at that moment stops the simulation instead of
writing history no one was authorised to make. Imported history (``import:`` steps,
the importer's path) and the applicant's own evaluation are not staff commands.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from casestore.authority import Authority
from casestore.domain.staff import GRANTABLE
from casestore.domain.values import Actor
from casestore.simulation.world import Roster


def enrol_roster(authority: Authority, roster: Roster) -> None:
    """The admin first, then every member with their one role and window."""
    admin = roster.admin
    authority.enroll(admin.staff_id, name=admin.name, first_admin=True)
    for actor in roster.everyone():
        authority.enroll(actor.staff_id, name=actor.name, by=admin.staff_id)
        authority.grant(
            actor.staff_id,
            actor.role,
            by=admin.staff_id,
            window=actor.window,
            reason="岗位任命（模拟）",
        )


class Granted:
    """Simulated commands under the grants in force (the planned actor must match them)."""

    def __init__(self, authority: Authority) -> None:
        self.authority = authority

    @contextmanager
    def acting(self, planned: Actor, action: str) -> Iterator[Actor]:
        """The planned actor, once the log's grants admit them for ``action`` now."""
        if planned.role not in GRANTABLE:  # the applicant evaluating, the system
            yield planned
            return
        with self.authority.acting(planned.staff_id, action, planned.role) as actor:
            if actor != planned:
                raise RuntimeError(f"the plan's actor {planned} is not as granted: {actor}")
            yield actor
