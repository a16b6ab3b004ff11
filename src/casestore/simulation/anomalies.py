"""The seeded share of every supervision anomaly (S01–S15, S17–S19), so supervision views are never
empty.

Each case-level rule has a rate, the kind of item it needs and how many working days
the case needs before the end of the simulated period for the breach to have happened
by then. :func:`assign` picks the cases for each rule (at least ``minimum`` of each
when eligible cases exist) from the simulator's seeded generator. S14 (an item whose
promised limit exceeds its statutory one) is a catalogue revision, not a case, and is
planned by the simulator itself.

=====  ==========================================================================
rule   how the simulator produces it
=====  ==========================================================================
S01    decided after the promised date, before the statutory one
S02    decided after the statutory date (no extension)
S03    neither accepted, rejected nor 补正-noticed within 5 working days
S04    a second supplement notice (一次性告知 broken)
S05    the supplement notice itself comes after 5 working days
S06    a decision entered days after the time it claims (back-dated entry)
S07    a decision claiming a time before the review recorded just before it
S08    a survey-requiring item decided without any survey
S09    a survey conclusion without the applicant party (or with one staff member),
       recorded through the import path (a live command refuses it)
S10    an extension after the statutory date, or granted by a non-approver (import path)
S11    a suspension of a kind the item does not allow (import path)
S12    delivery more than 10 working days after the approving decision
S13    a bad review handled late, or never
S14    a catalogue item revised to promise more days than the law allows
S15    accepted and decided within seconds on a non-instant item
S17    an Art. 45 suspension without the written notice to the applicant
S18    a bad review (差评) never called back (回访)
S19    copying charged above the declared 限价 (a free or price-capped service)
=====  ==========================================================================
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

Needs = Literal["any", "promised", "survey", "plain"]


@dataclass(frozen=True)
class Rule:
    """How often a case-level anomaly is seeded and what it needs."""

    rate: float
    needs: Needs
    extra_days: int  # working days needed beyond the item's statutory limit
    import_path: bool = False


RULES: dict[str, Rule] = {
    "S01": Rule(0.025, "promised", 4),
    "S02": Rule(0.01, "promised", 10),
    "S03": Rule(0.01, "any", 14),
    "S04": Rule(0.01, "any", 16),
    "S05": Rule(0.01, "any", 14),
    "S06": Rule(0.012, "promised", 10),
    "S07": Rule(0.01, "promised", 4),
    "S08": Rule(0.012, "survey", 4),
    "S09": Rule(0.01, "survey", 4, import_path=True),
    "S10": Rule(0.01, "promised", 10, import_path=True),
    "S11": Rule(0.01, "promised", 12, import_path=True),
    "S12": Rule(0.01, "promised", 20),
    "S13": Rule(0.012, "promised", 22),
    "S15": Rule(0.008, "plain", 4),
    "S17": Rule(0.01, "promised", 12),
    "S18": Rule(0.01, "promised", 22),
    "S19": Rule(0.008, "promised", 4),
}
#: The catalogue-level rule, seeded by one item revision.
CATALOGUE_RULE = "S14"
ALL_RULES = (*RULES, CATALOGUE_RULE)


@dataclass(frozen=True)
class Candidate:
    """What :func:`assign` needs to know about one single-item intake."""

    n: int
    item: dict[str, Any]
    room: int  # working days from intake to the end of the period


def eligible(rule: Rule, item: dict[str, Any], room: int) -> bool:
    """Whether a case of ``item`` with ``room`` working days left can carry ``rule``."""
    instant = item["case_type"] == "instant"
    if rule.needs == "promised" and instant:
        return False
    if rule.needs == "survey" and (instant or not item["needs_survey"]):
        return False
    if rule.needs == "plain" and (instant or item["needs_survey"]):
        return False
    return room >= int(item["statutory_days"]) + rule.extra_days


def assign(
    candidates: Sequence[Candidate], cases: int, rng: random.Random, minimum: int = 2
) -> dict[int, str]:
    """Intake number -> rule id; one anomaly per case at most."""
    chosen: dict[int, str] = {}
    for rule_id, rule in RULES.items():
        pool = [c.n for c in candidates if c.n not in chosen and eligible(rule, c.item, c.room)]
        want = max(minimum, round(rule.rate * cases))
        for n in rng.sample(pool, min(want, len(pool))):
            chosen[n] = rule_id
    return chosen
