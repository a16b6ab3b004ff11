"""A CaseService whose randomness is seeded and whose commands leave saving to the caller.

:class:`~casestore.service.CaseService` draws case ids with ``uuid4`` and case numbers
and query codes with ``secrets``; a simulated history must be a function of its seed,
so :class:`SeededCaseService` passes :class:`SeededDraws`, which draws all three from
``self.rng`` (the simulator points it at each case's own generator). Its commands run
the service's permission check and handler on an in-memory aggregate and return; the
simulator collects the pending events of many commands and appends them in one
transaction, in time order.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from uuid import UUID

from casestore.domain import Actor, Bundle, Case, InvalidCommand, Party
from casestore.domain.index import CaseNumber
from casestore.domain.roles import check_permission
from casestore.service import _CROCKFORD, CaseService, Draws
from casestore.store.application import CasestoreApp


def seeded_uuid(rng: random.Random) -> UUID:
    """A version-4 UUID drawn from ``rng``."""
    return UUID(int=rng.getrandbits(128), version=4)


class SeededDraws(Draws):
    """Ids, case-number suffixes and query codes from a settable generator.

    Suffixes are never repeated within a run: the simulator builds many cases before
    saving them, so the store's collision retry cannot catch a repeat in time.
    """

    def __init__(self) -> None:
        self.rng = random.Random(0)
        self.used_suffixes: set[str] = set()

    def uuid(self) -> UUID:
        return seeded_uuid(self.rng)

    def case_suffix(self) -> str:
        while True:
            suffix = "".join(self.rng.choice(_CROCKFORD) for _ in range(6))
            if suffix not in self.used_suffixes:
                self.used_suffixes.add(suffix)
                return suffix

    def query_code(self) -> str:
        return f"{self.rng.randrange(10**6):06d}"


class SeededCaseService(CaseService):
    """The service with a settable clock (``now``) and seeded ids, numbers and codes."""

    def __init__(self, app: CasestoreApp, start: datetime) -> None:
        self.seeded = SeededDraws()
        super().__init__(app, clock=lambda: self.now, draws=self.seeded)
        self.now = start
        self.query_codes: dict[UUID, str] = {}

    @property
    def rng(self) -> random.Random:
        """The generator new ids, numbers and codes are drawn from (set per case)."""
        return self.seeded.rng

    @rng.setter
    def rng(self, value: random.Random) -> None:
        self.seeded.rng = value

    def _new_case(
        self,
        actor: Actor,
        item_code: str,
        party: Party,
        occurred_at: datetime | None,
        bundle_id: UUID | None,
        fields: dict[str, Any],
    ) -> tuple[Case, CaseNumber, str]:
        case, index, code = super()._new_case(
            actor, item_code, party, occurred_at, bundle_id, fields
        )
        self.query_codes[case.id] = code
        return case, index, code

    def intake(
        self, actor: Actor, item_code: str, party: Party, fields: Mapping[str, Any]
    ) -> tuple[Case, CaseNumber]:
        """Take in one application (not saved)."""
        check_permission("submit", actor)
        self.item(item_code)
        case, index, _ = self._new_case(actor, item_code, party, None, None, dict(fields))
        return case, index

    def intake_bundle(
        self, actor: Actor, bundle_code: str, party: Party, channel: str, materials: list[str]
    ) -> tuple[Bundle, list[tuple[Case, CaseNumber]]]:
        """One 一件事 intake: the bundle and its child cases (not saved)."""
        check_permission("submit-bundle", actor)
        bundle, children = self._new_bundle(actor, bundle_code, party, channel, list(materials))
        return bundle, [(case, index) for case, index, _ in children]

    def run(
        self,
        action: str,
        case: Case,
        actor: Actor,
        payload: Mapping[str, Any],
        occurred_at: datetime | None = None,
    ) -> None:
        """Check and apply one command to an in-memory case (not saved)."""
        handler = self._handlers[action]
        check_permission(action, actor)
        extra: dict[str, Any] = {"actor": actor, "at": self.clock()}
        if action != "correct":
            extra["occurred_at"] = occurred_at
        try:
            handler(case, **dict(payload), **extra)
        except TypeError as e:
            raise InvalidCommand(f"{action}: {e}") from None
