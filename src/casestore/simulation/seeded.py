"""Seeded draws and a settable clock: what makes a simulated history a function of its seed.

:class:`~casestore.service.CaseService` draws case ids with ``uuid4`` and case numbers
and query codes with ``secrets``; the simulator passes :class:`SeededDraws`, which
draws all three from ``rng`` (pointed at each case's own generator), and a
:class:`SimClock` it moves to each step's moment. It then calls the service's public
entry points (``open_case``, ``open_bundle``, ``decide``) on aggregates it keeps in
memory and appends the pending events of many commands in one transaction, in time
order (``record``).
"""

from __future__ import annotations

import random
from datetime import datetime
from uuid import UUID

from casestore.service import CROCKFORD, Draws


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
            suffix = "".join(self.rng.choice(CROCKFORD) for _ in range(6))
            if suffix not in self.used_suffixes:
                self.used_suffixes.add(suffix)
                return suffix

    def query_code(self) -> str:
        return f"{self.rng.randrange(10**6):06d}"


class SimClock:
    """The simulated server clock: whatever moment it was last set to."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now
