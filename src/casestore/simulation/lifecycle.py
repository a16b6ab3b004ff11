"""A case's life after acceptance: review, survey, suspension, extension, decision, seal,
delivery, evaluation, bad-review handling, follow-up and the odd correction.

Steps are paced against the case's own promised date: each step takes a share of the
working days left, so most cases are decided on time (a troubled window runs late a
little more often) and the seeded anomalies stand out. The legal dates come from
:func:`casestore.timelimits.decision_clock`, with the suspensions and extension the
plan itself made.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from casestore.domain.values import ART45_PAUSE_KINDS, Actor, Party, SurveyParticipant, local_date
from casestore.simulation import world
from casestore.simulation.world import Roster, WorkTime, maybe, pick
from casestore.timelimits.calendar import WorkingCalendar
from casestore.timelimits.config import ClockConfig
from casestore.timelimits.legaltime import AcceptanceFacts, decision_start
from casestore.timelimits.rules import Suspension, decision_clock

CaseKey = tuple[int, int]  # (intake number, child index within a bundle)

#: About half of all results are mailed (free of charge); at a sitting fewer are.
DELIVERY_WEIGHTS = {"mail": 0.55, "window_pickup": 0.25, "electronic": 0.2}
SITTING_DELIVERY = {"mail": 0.4, "window_pickup": 0.5, "electronic": 0.1}
_SUSPEND_KINDS = sorted(ART45_PAUSE_KINDS - {"tender", "auction", "quarantine"})
_EVAL_CHANNELS = {"window_pad": 0.35, "sms": 0.3, "app": 0.2, "web": 0.1, "qr_code": 0.05}
_COMMENTS = {
    1: "办事效率高",
    2: "服务热情",
    3: "还可以",
    4: "等待时间太长",
    5: "多次跑腿，很不满意",
}
_DENIAL = {
    "reasons": ["申请材料与现场核查情况不符"],
    "remedies": "可于六十日内申请行政复议或六个月内提起行政诉讼",
}


@dataclass
class Step:
    """One command at one moment (``at`` is the server clock, ``occurred_at`` a claim)."""

    at: datetime
    key: CaseKey
    action: str
    actor: Actor
    payload: dict[str, Any]
    occurred_at: datetime | None = None


class Beyond(Exception):
    """The plan reached the end of the simulated period."""


@dataclass
class Life:
    """The builder of one case's plan: its generator, item, clock and steps so far."""

    key: CaseKey
    rng: random.Random
    item: dict[str, Any]
    t: datetime
    horizon: datetime
    party: Party
    clerk: Actor
    trouble: float = 1.0
    steps: list[Step] = field(default_factory=list)

    def add(
        self,
        at: datetime,
        action: str,
        actor: Actor,
        payload: dict[str, Any] | None = None,
        occurred_at: datetime | None = None,
    ) -> datetime:
        """Append a step (never before the previous one); :class:`Beyond` past the period."""
        at = max(at, self.t + timedelta(seconds=1))
        if at >= self.horizon:
            raise Beyond
        self.steps.append(Step(at, self.key, action, actor, payload or {}, occurred_at))
        self.t = at
        return at

    @property
    def today(self) -> date:
        return local_date(self.t)


class AfterAcceptance:
    """Plans everything from acceptance on (mixed into the case planner)."""

    roster: Roster
    work: WorkTime
    cal: WorkingCalendar
    #: The write side's clock settings (the simulator sets its service's).
    clock_config: ClockConfig = ClockConfig()

    def _paced(self, life: Life, due: date, share: float, floor: int = 0) -> datetime:
        """Office time within ``share`` of the working days left before ``due``."""
        left = max(0, self.cal.working_days_between(life.today, due))
        return self.work.office(
            life.rng, life.t, life.rng.randint(floor, max(floor, int(left * share)))
        )

    def _process(self, life: Life, anomaly: str | None, accepted: datetime) -> None:
        rng, r, item = life.rng, self.roster, life.item
        reviewer, approver = rng.choice(r.reviewers), rng.choice(r.approvers)
        accepted_on = self._decision_start(life, accepted)
        if maybe(rng, 0.01) and anomaly is None:
            reason = {"reason": "申请人主动撤回申请"}
            life.add(self.work.office_between(rng, life.t, 1, 3), "withdraw", life.clerk, reason)
            self._aftercare(life, None)
            return
        _, promised = self._dues(life, accepted_on, [], 0)
        if item["needs_survey"] and anomaly != "S08":
            self._survey(life, anomaly, promised)
        review = {"stage_name": "审查", "opinion": "pass", "comment": "材料齐全，符合法定形式"}
        life.add(self._paced(life, promised, 0.4), "review", reviewer, review)
        if anomaly == "S19" or maybe(rng, 0.08):
            self._copying(life, overcharged=anomaly == "S19")
        suspensions: list[Suspension] = []
        if anomaly in ("S11", "S17") or maybe(rng, 0.05):
            suspensions.append(
                self._suspend(life, reviewer, anomaly == "S11", unnotified=anomaly == "S17")
            )
        statutory, promised = self._dues(life, accepted_on, suspensions, 0)
        extension = 0
        if anomaly == "S10" or maybe(rng, 0.03):
            extension = self._extend(life, approver, statutory, anomaly == "S10")
            statutory, promised = self._dues(life, accepted_on, suspensions, extension)
        self._decide(
            life, approver, anomaly, self._decision_day(life, anomaly, promised, statutory)
        )

    def _decision_start(self, life: Life, accepted: datetime) -> date:
        """Where the write side starts the decision clocks: the acceptance, or the receipt
        when the acceptance came after the Art. 32 window (deemed acceptance)."""
        received, first, back, answer = None, None, None, None
        for step in life.steps:
            if step.action == "submit":
                received = step.occurred_at or step.at
            elif step.action in ("supplement-request", "accept"):
                name = "SupplementRequested" if step.action != "accept" else "Accepted"
                first = first or (name, step.occurred_at or step.at)
            if step.action == "supplement":
                back = step.occurred_at or step.at
            elif step.action == "accept":
                answer = answer or ("Accepted", step.occurred_at or step.at)
        if received is None:  # pragma: no cover - every plan starts with its intake
            return local_date(accepted)
        facts = AcceptanceFacts(received, first, back, answer)
        cfg, on = self.clock_config, local_date(accepted)
        start = decision_start(facts, accepted, False, on, self.cal, cfg)
        return local_date(accepted) if start is None else start.day

    def _dues(
        self, life: Life, accepted_on: date, suspensions: list[Suspension], extension: int
    ) -> tuple[date, date]:
        item = life.item
        clocks = decision_clock(
            accepted_on,
            int(item["statutory_days"]),
            int(item["promised_days"]),
            suspensions,
            extension,
            self.cal,
            joint=bool(item["joint"]),
        )
        return clocks.statutory.due, clocks.promised.due

    def _survey(self, life: Life, anomaly: str | None, promised: date) -> None:
        """A three-party joint survey (联合踏勘): scheduled with its one-time notice, then held."""
        rng, r = life.rng, self.roster
        surveyor = rng.choice(r.surveyors)
        days = int(life.item["survey_days"]) or 5
        notice = {
            "requirements": ["经营场所平面图", "消防安全条件", "卫生设施"],
            "survey_days": days,
        }
        life.add(self._paced(life, promised, 0.2), "survey-schedule", surveyor, notice)
        staff = rng.sample(r.surveyors, 2)
        regulator = rng.choice(r.regulators)
        people = [
            SurveyParticipant(staff[0].name, "approval_bureau", staff[0].staff_id),
            SurveyParticipant(staff[1].name, "approval_bureau", staff[1].staff_id),
            SurveyParticipant(regulator.name, "regulator", regulator.staff_id),
            SurveyParticipant(world.person_name(rng), "applicant"),
        ]
        conclusion = pick(rng, {"pass": 0.9, "rectify": 0.08, "fail": 0.02})
        left = max(1, self.cal.working_days_between(life.today, promised))
        at = self.work.office(rng, life.t, rng.randint(0, min(days, max(1, left // 2))))
        if anomaly == "S09":
            # Evidence of a breach no live command accepts: the applicant's side absent,
            # or a single staff member with the regulator's (non-staff) representative.
            if maybe(rng, 0.5):
                people = people[:3]
            else:
                people = [people[0], SurveyParticipant(regulator.name, "regulator"), people[3]]
            fields = {"participants": people, "conclusion": conclusion, "findings": "现场核查"}
            life.add(at, "import:SurveyConducted", surveyor, fields)
            return
        result = {
            "participants": people,
            "conclusion": conclusion,
            "findings": "现场情况与申请材料一致",
        }
        life.add(at, "survey-result", surveyor, result)

    def _suspend(
        self, life: Life, reviewer: Actor, forbidden: bool, *, unnotified: bool = False
    ) -> Suspension:
        """An Art. 45 special procedure (or, seeded, a kind the law does not allow)."""
        rng, w = life.rng, self.work
        planned = w.office_between(rng, life.t, 0, 1)
        if forbidden:
            kind = rng.choice(["supplement_after_acceptance", "public_notice", "negotiation"])
            fields = {"kind": kind, "legal_basis": "内部请示", "notified_at": None}
            start = life.add(planned, "import:ClockSuspended", reviewer, fields)
        else:
            kind = rng.choice(_SUSPEND_KINDS)
            basis = "《中华人民共和国行政许可法》第四十五条"
            payload = {"kind": kind, "legal_basis": basis, "notified_at": planned}
            if unnotified:  # seeded S17: no written notice of the time needed
                payload["notified_at"] = None
            else:
                payload.update(notice_method="in_person", expected_days=rng.randint(3, 10))
            start = life.add(planned, "suspend", reviewer, payload)
        result = {"result": "特别程序结束"}
        end = life.add(w.office_between(rng, life.t, 2, 8), "resume", reviewer, result)
        return Suspension(local_date(start), local_date(end), kind)

    def _extend(self, life: Life, approver: Actor, statutory: date, breach: bool) -> int:
        """An extension (延长审批) before the statutory date; seeded: after it, or not by an
        approver (both only through the import path)."""
        rng, w = life.rng, self.work
        days = rng.randint(5, 10)
        payload = {"days": days, "reason": "情况复杂，需延长审查期限"}
        if breach and maybe(rng, 0.5):
            late = self.cal.add_working_days(max(statutory, life.today), rng.randint(1, 3))
            life.add(w.office_on(rng, late, life.t), "import:ExtensionGranted", approver, payload)
        elif breach:
            reviewer = rng.choice(self.roster.reviewers)
            life.add(w.office(rng, life.t), "import:ExtensionGranted", reviewer, payload)
        elif life.today < statutory:
            life.add(w.office_between(rng, life.t, 0, 1), "extend", approver, payload)
        else:
            return 0
        return days

    def _decision_day(
        self, life: Life, anomaly: str | None, promised: date, statutory: date
    ) -> date:
        rng, cal, today = life.rng, self.cal, life.today
        if anomaly == "S02":
            return cal.add_working_days(max(today, statutory), rng.randint(1, 5))
        if anomaly == "S01" and promised < statutory:
            low = max(today, promised)
            return cal.add_working_days(
                low, rng.randint(1, max(1, cal.working_days_between(low, statutory)))
            )
        if today >= promised or maybe(rng, 0.02 * life.trouble):
            return cal.add_working_days(today, rng.randint(0, 2))
        return cal.add_working_days(
            today, rng.randint(0, cal.working_days_between(today, promised))
        )

    def _decide(self, life: Life, approver: Actor, anomaly: str | None, day: date) -> None:
        rng, w = life.rng, self.work
        opinion = {"stage_name": "审核", "opinion": "pass"}
        reviewed = life.add(w.office_on(rng, day, life.t), "review", approver, opinion)
        deny = maybe(rng, 0.05)
        payload: dict[str, Any] = {"outcome": "deny" if deny else "approve"}
        if deny:
            payload |= _DENIAL
        occurred: datetime | None = None
        at = w.soon(rng, reviewed, 600, 3600)
        if anomaly == "S07":  # claims a time before the review it follows
            occurred = reviewed - timedelta(minutes=rng.randint(20, 60))
            at = w.soon(rng, reviewed, 300, 1200, anytime=True)
        elif anomaly == "S06":  # entered days after the time it claims
            occurred = at
            at = w.office_between(rng, at, 3, 6)
        decided = life.add(at, "decide", approver, payload, occurred)
        if deny:
            self._aftercare(life, "denied")
            return
        seal = self._seal_payload(life)
        life.add(w.office_between(rng, life.t, 0, 1), "seal", self.roster.sealers[0], seal)
        if anomaly == "S12":
            when = w.office_between(rng, decided, 11, 15)
        else:
            when = w.office_between(rng, life.t, 0, 3)
        self._deliver(life, when, pick(rng, DELIVERY_WEIGHTS))
        self._aftercare(life, "delivered", bad=anomaly in ("S13", "S18"), silent=anomaly == "S18")

    # -- closing --------------------------------------------------------------------------

    def _seal_payload(self, life: Life) -> dict[str, Any]:
        serial = life.rng.randrange(10**6)
        year = life.today.year
        document = f"旬审批许字〔{year}〕{serial:06d}号"
        return {
            "seal_id": "XZSP-SEAL-001",
            "document_no": document,
            "certificate_no": f"ZS{year}{serial:06d}",
            "valid_until": date(year + 5, 12, 31),
            "document_sha256": hashlib.sha256(document.encode()).hexdigest(),
        }

    def _deliver(self, life: Life, at: datetime, method: str) -> None:
        """送达: mailed free of charge with a tracking number, picked up, or electronic."""
        rng = life.rng
        tracking = ""
        if method == "mail":
            tracking = rng.choice(["EMS", "SF"]) + f"{rng.randrange(10**12):012d}"
        payload = {"method": method, "recipient": life.party.name, "tracking_no": tracking}
        dispatcher = rng.choice(self.roster.dispatchers)
        life.add(at, "deliver", dispatcher, payload)
        if method == "mail":  # 免费邮寄: the bureau pays the postage
            cost = {"service": "mailing", "bureau_cost_fen": rng.randrange(800, 1600, 100)}
            life.add(life.t, "service", dispatcher, {**cost, "note": tracking})
        if maybe(rng, 0.05):  # 免费刻章 for a new business, at the bureau's cost
            units = rng.randint(1, 3)
            seal = {"service": "seal_engraving", "units": units, "bureau_cost_fen": 4000 * units}
            life.add(life.t, "service", life.clerk, seal)

    def _copying(self, life: Life, overcharged: bool) -> None:
        """限价复印 of the applicant's papers (seeded S19: charged over the cap)."""
        pages = life.rng.randint(2, 20)
        per_page = 100 if overcharged else life.rng.choice((0, 20, 50))
        payload = {
            "service": "copying",
            "units": pages,
            "charged_fen": pages * per_page,
            "bureau_cost_fen": pages * 8,
            "note": "复印申请材料",
        }
        life.add(life.t, "service", life.clerk, payload)

    def _aftercare(
        self, life: Life, closed: str | None, bad: bool = False, silent: bool = False
    ) -> None:
        """Evaluation (好差评), bad-review handling, follow-up (回访) and the odd correction."""
        rng, w, party = life.rng, self.work, life.party
        if bad or maybe(rng, 0.7 if closed else 0.3):
            trouble = life.trouble
            weights = {"1": 0.7, "2": 0.2, "3": 0.06, "4": 0.03 * trouble, "5": 0.01 * trouble}
            level = rng.choice([4, 5]) if bad else int(pick(rng, weights))
            channel = pick(rng, _EVAL_CHANNELS)
            if channel == "window_pad":
                at, actor = w.office(rng, life.t), life.clerk
            else:
                at = w.applicant_time(rng, life.t, rng.randint(0, 3))
                # as the public API records an applicant: no name (an actor is never
                # sealed, so a name there would outlive a forget of the subject)
                actor = Actor("applicant", "applicant")
            review = {"level": level, "channel": channel, "comment": _COMMENTS[level]}
            evaluated = life.add(at, "evaluate", actor, review)
            if level >= 4 and not (bad and maybe(rng, 0.4)):  # seeded: late, or never
                low, high = (7, 12) if bad else (1, 4)
                handling = {
                    "verification": "经核实，情况属实",
                    "rectification": "已约谈窗口人员并优化流程",
                }
                when = w.office_between(rng, evaluated, low, high)
                life.add(when, "bad-review", rng.choice(self.roster.approvers), handling)
            if level >= 4 and not silent:  # 回访 within a working day (seeded S18: never)
                call = {"satisfied": maybe(rng, 0.5), "notes": "差评回访"}
                life.add(w.office_between(rng, evaluated, 0, 1), "follow-up", life.clerk, call)
                return
        if maybe(rng, 0.15) and not silent:
            call = {"satisfied": maybe(rng, 0.9), "notes": "电话回访"}
            life.add(w.office_between(rng, life.t, 2, 10), "follow-up", life.clerk, call)
        if maybe(rng, 0.005):
            fixed = party.phone[:-1] + str((int(party.phone[-1]) + 1) % 10)
            correction = {
                "corrects_version": 1,
                "fact": "applicant.phone",
                "wrong_value": party.phone,
                "correct_value": fixed,
                "reason": "申请人联系电话登记错误",
            }
            life.add(w.office_between(rng, life.t, 1, 5), "correct", life.clerk, correction)
