"""One case's whole life as time-stamped steps, planned ahead from its own seeded generator.

A plan is a list of :class:`Step` in time order: the intake, the handling before
acceptance (补正 notice and supplements, rejection, acceptance) and then, from
:mod:`.lifecycle`, everything after acceptance. Staff steps fall in office hours on
working days (see :mod:`.world`). Planning stops at the end of the simulated period,
leaving the case in progress. A seeded anomaly (see :mod:`.anomalies`) bends one part
of the plan; steps whose action starts with ``import:`` are breaches no live command
accepts and go through ``Case.record_imported``, as the importer does.
"""

from __future__ import annotations

import contextlib
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from casestore.domain.values import Party, local_date
from casestore.simulation import world
from casestore.simulation.lifecycle import (
    SITTING_DELIVERY,
    AfterAcceptance,
    Beyond,
    CaseKey,
    Life,
    Step,
)
from casestore.simulation.world import Roster, WorkTime, maybe, pick

__all__ = ["CHANNEL_WEIGHTS", "CaseKey", "CasePlanner", "Intake", "Step"]

CHANNEL_WEIGHTS = {
    "window": 0.40,
    "online": 0.20,
    "mobile": 0.12,
    "mail": 0.04,
    "appointment": 0.08,
    "home_visit": 0.03,
    "cross_province": 0.04,
    "extended": 0.07,  # the window, in extended hours (rest days or weekday evenings)
    "bundle": 0.04,  # a 一件事 bundle taken in at the window
}

#: Share of bundles whose joint clock an approver extends (联合会审), and the reason given.
BUNDLE_EXTENDED = 0.25
EXTEND_REASON = {"reason": "多部门联合会审，需延长十五个工作日"}
#: Channels where the applicant sits at a window while the clerk handles the intake.
SITTING = frozenset({"window", "appointment", "home_visit", "extended"})
_REJECTION = {
    "reasons": ["申请事项不属于本机关职权范围"],
    "legal_basis": "《中华人民共和国行政许可法》第三十二条",
    "apply_instead": "安康市市场监督管理局",
}


@dataclass(frozen=True)
class Intake:
    """One application (or bundle) entering the hall."""

    n: int
    at: datetime
    channel: str
    code: str  # item code, or the bundle code
    agent: bool


class CasePlanner(AfterAcceptance):
    """Plans cases against the catalogue, the roster and the calendar."""

    def __init__(
        self,
        items: list[dict[str, Any]],
        bundles: dict[str, dict[str, Any]],
        roster: Roster,
        work: WorkTime,
        horizon: datetime,
    ) -> None:
        self.items = {it["code"]: it for it in items}
        self.index = {it["code"]: i for i, it in enumerate(items)}
        self.bundles = bundles
        self.roster = roster
        self.work = work
        self.cal = work.calendar
        self.horizon = horizon

    def plan(self, intake: Intake, anomaly: str | None, seed: int) -> list[Step]:
        """Every step of one intake up to the end of the period, in time order."""
        rng = random.Random(f"{seed}:plan:{intake.n}")
        party = world.applicant(rng)
        if intake.channel == "bundle":
            return self._plan_bundle(intake, party, rng)
        window = self.roster.window_for(self.index[intake.code])
        life = self._life((intake.n, 0), rng, intake, intake.code, party, window)
        with contextlib.suppress(Beyond):
            self._intake(life, intake, anomaly)
        return life.steps

    def _life(
        self,
        key: CaseKey,
        rng: random.Random,
        intake: Intake,
        code: str,
        party: Party,
        window: world.Window,
    ) -> Life:
        return Life(
            key,
            rng,
            self.items[code],
            intake.at - timedelta(seconds=1),
            self.horizon,
            party,
            rng.choice(window.clerks),
            window.trouble,
        )

    def _plan_bundle(self, intake: Intake, party: Party, rng: random.Random) -> list[Step]:
        """一件事一次办: one intake at the first window, then a life per child case."""
        spec = self.bundles[intake.code]
        window = self.roster.windows[0]
        clerk = rng.choice(window.clerks)
        materials = sorted({m for code in spec["items"] for m in self.items[code]["materials"]})
        payload = {"bundle_code": intake.code, "applicant": party, "materials": materials}
        steps = [Step(intake.at, (intake.n, 0), "submit-bundle", clerk, payload)]
        for child, code in enumerate(spec["items"]):
            life = self._life(
                (intake.n, child), random.Random(rng.random()), intake, code, party, window
            )
            life.t = intake.at
            with contextlib.suppress(Beyond):
                self._handle(life, intake, None, [])
            steps += life.steps
        if maybe(rng, BUNDLE_EXTENDED):
            # 行政许可法 Art. 42 ¶2: the joint 45 working days, +15 once (联合会审).
            at = self.work.office_between(rng, intake.at, 20, 35)
            if at < self.horizon:
                approver = rng.choice(self.roster.approvers)
                steps.append(Step(at, (intake.n, -1), "bundle-extend", approver, EXTEND_REASON))
        steps.sort(key=lambda s: (s.at, s.key))
        return _one_rating_per_visit(steps)

    # -- before acceptance ------------------------------------------------------------------

    def _intake(self, life: Life, intake: Intake, anomaly: str | None) -> None:
        rng, item = life.rng, life.item
        channel = "window" if intake.channel == "extended" else intake.channel
        materials, missing = list(item["materials"]), []
        if anomaly in ("S04", "S05") or maybe(rng, 0.12 * life.trouble):
            cut = rng.randint(1, min(2, len(materials) - 1)) if len(materials) > 1 else 0
            materials, missing = (
                materials[: len(materials) - cut],
                materials[len(materials) - cut :],
            )
            missing = missing or ["补充说明"]
        fields: dict[str, Any] = {
            "item_code": item["code"],
            "applicant": life.party,
            "channel": channel,
            "materials": materials,
            "extended_hours": intake.channel == "extended",
        }
        if intake.agent:
            fields["agent"] = world.agent(rng)
        if channel == "appointment":
            fields["appointment_id"] = f"YY{local_date(intake.at):%Y%m%d}{rng.randrange(10**4):04d}"
        if channel == "cross_province":
            fields["receiving_region"] = world.other_region(rng)
            fields["handling_region"] = world.HOME_REGION
        if channel == "window" and life.party.kind == "organisation" and maybe(rng, 0.15):
            fields["priority"] = True  # 招商引资绿色通道: an investing enterprise, handled first
        actor = self.roster.portal if channel in ("online", "mobile") else life.clerk
        life.add(intake.at, "submit", actor, fields)
        self._handle(life, intake, anomaly, missing)

    def _handle(self, life: Life, intake: Intake, anomaly: str | None, missing: list[str]) -> None:
        """补正, rejection or acceptance: within 5 working days (at once at a sitting)."""
        rng, w, clerk = life.rng, self.work, life.clerk
        extended = intake.channel == "extended"
        in_sitting = extended or (intake.channel in SITTING and w.in_office(intake.at))
        if anomaly in ("S03", "S05"):
            first = w.office_between(rng, life.t, 6, 8)
        elif in_sitting:
            first = w.soon(rng, life.t, 120, 900, anytime=extended)
        else:
            first = w.office_between(rng, life.t, 0, 2)
        if missing:
            life.add(first, "supplement-request", clerk, {"missing": missing})
            back = w.office_between(rng, life.t, 1, 5)
            life.add(back, "supplement", clerk, {"materials": missing})
            if anomaly == "S04":  # a second notice: the first was not complete
                again = ["申请人签字页"]
                life.add(
                    w.soon(rng, life.t, 600, 3600), "supplement-request", clerk, {"missing": again}
                )
                back = w.office_between(rng, life.t, 1, 4)
                life.add(back, "supplement", clerk, {"materials": again})
            first = w.soon(rng, life.t, 60, 900, anytime=True)  # accepted on the spot
        if maybe(rng, 0.03) and anomaly is None:
            life.add(first, "reject", clerk, dict(_REJECTION))
            self._aftercare(life, None)
            return
        accepted = life.add(first, "accept", clerk)
        if life.item["case_type"] == "instant":
            self._instant(life, in_sitting)
        elif anomaly == "S15":
            self._rubber_stamp(life, accepted)
        else:
            self._process(life, anomaly, accepted)

    def _instant(self, life: Life, in_sitting: bool) -> None:
        """即办件: decided, sealed and handed over the same day, minutes after acceptance."""
        rng, w, r = life.rng, self.work, self.roster
        decision = {"outcome": "approve"}
        life.add(
            w.soon(rng, life.t, 300, 1500, anytime=True),
            "decide",
            rng.choice(r.approvers),
            decision,
        )
        seal = self._seal_payload(life)
        life.add(w.soon(rng, life.t, 120, 900, anytime=True), "seal", r.sealers[0], seal)
        if in_sitting:
            method = pick(rng, SITTING_DELIVERY)
            self._deliver(life, w.soon(rng, life.t, 60, 600, anytime=True), method)
        else:
            self._deliver(life, w.office_between(rng, life.t, 0, 2), pick(rng, SITTING_DELIVERY))
        self._aftercare(life, "delivered")

    def _rubber_stamp(self, life: Life, accepted: datetime) -> None:
        """S15: a non-instant item accepted and completed within seconds (体外循环)."""
        rng, w, r = life.rng, self.work, self.roster
        decision = {"outcome": "approve"}
        life.add(
            w.soon(rng, accepted, 5, 40, anytime=True), "decide", rng.choice(r.approvers), decision
        )
        seal = self._seal_payload(life)
        life.add(w.soon(rng, life.t, 5, 20, anytime=True), "seal", r.sealers[0], seal)
        self._deliver(life, w.soon(rng, life.t, 5, 20, anytime=True), "electronic")


def _one_rating_per_visit(steps: list[Step]) -> list[Step]:
    """一次一评: a bundle visit is rated once. Keep the first child's evaluation (in time
    order) and drop the other children's, with the bad-review handling and the bad-review
    call that would follow them; other follow-up calls stay (回访 is per case)."""
    rated = next((s.key for s in steps if s.action == "evaluate"), None)
    return [s for s in steps if s.key == rated or not _follows_a_rating(s)]


def _follows_a_rating(step: Step) -> bool:
    if step.action in ("evaluate", "bad-review"):
        return True
    return step.action == "follow-up" and step.payload.get("notes") == "差评回访"
