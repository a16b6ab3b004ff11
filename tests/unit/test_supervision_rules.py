"""Supervision rules S01–S15: each raised by a case that breaks it, silent on one that does not.

Cases are driven through the Case aggregate's own commands (and its import path for the
breaches live commands refuse) in memory, on March 2025 (no holidays): Monday 3-3 ...
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any
from uuid import uuid4

import pytest
from casestore.projections.facts.casefacts import CaseFacts, ItemFacts
from casestore.projections.readmodels.supervision.projection import (
    RULES,
    Flag,
    case_flags,
    item_flags,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from casestore.domain import Actor, Case, Item, ItemLimits, Party, SurveyParticipant
from casestore.domain.values import BUREAU_TZ
from casestore.settings import SettingsError, load_settings
from casestore.timelimits import WorkingCalendar
from casestore.timelimits.supervision_config import SupervisionConfig, SupervisionConfigError

CAL = WorkingCalendar(lunar=None)
CLERK = Actor("c1", "clerk", "Clerk One", "W1")
REVIEWER = Actor("r1", "reviewer", "Reviewer", "")
APPROVER = Actor("a1", "approver", "Approver", "")
SURVEYOR = Actor("s1", "surveyor", "Surveyor", "")
SEALER = Actor("k1", "sealer", "Sealer", "")
ADMIN = Actor("ad", "admin", "Admin", "")
PARTY = Party("张三", "resident_id", "110101199001011234")
THREE = [
    SurveyParticipant("甲", "approval_bureau", "s1"),
    SurveyParticipant("乙", "regulator", "s2"),
    SurveyParticipant("丙", "applicant"),
]
PLAIN = ItemLimits(statutory_days=10, promised_days=3)
SURVEYED = ItemLimits(statutory_days=10, promised_days=5, needs_survey=True, survey_days=3)


def at(day: str, hour: int = 10, minute: int = 0, second: int = 0) -> datetime:
    """A local (UTC+8) instant on a March 2025 business day given as 'MM-DD'."""
    return datetime.combine(
        date.fromisoformat(f"2025-{day}"), time(hour, minute, second), BUREAU_TZ
    )


class Story:
    """One case told through the aggregate's commands, collecting (event, position) pairs."""

    position = 0

    def __init__(self, limits: ItemLimits = PLAIN, received: str = "03-03", item: str = "XK-T"):
        self.limits = limits
        self.case = Case.submit(
            case_id=uuid4(),
            case_no="XY-T",
            query_code_hash="h",
            item_code=item,
            applicant=PARTY,
            actor=CLERK,
            at=at(received, 9),
        )
        self.events: list[tuple[Any, int]] = []
        self._collect()

    def _collect(self) -> Story:
        for event in self.case.collect_events():
            Story.position += 1
            self.events.append((event, Story.position))
        return self

    def run(self, command: str, actor: Actor, when: datetime, **kw: Any) -> Story:
        getattr(self.case, command)(actor=actor, at=when, **kw)
        return self._collect()

    def imported(self, name: str, actor: Actor, when: datetime, **fields: Any) -> Story:
        self.case.record_imported(name, actor=actor, at=when, occurred_at=None, fields=fields)
        return self._collect()

    def accept(self, day: str, **kw: Any) -> Story:
        return self.run(
            "accept",
            CLERK,
            kw.pop("when", None) or at(day),
            notice_no="N1",
            limits=self.limits,
            promised_completion=date(2025, 3, 31),
            **kw,
        )

    def survey(self, day: str) -> Story:
        self.run("schedule_survey", SURVEYOR, at(day, 11), requirements=["site"], survey_days=3)
        return self.run(
            "record_survey", SURVEYOR, at(day, 15), participants=THREE, conclusion="pass"
        )

    def decide(self, day: str, outcome: str = "approve", when: datetime | None = None) -> Story:
        extra = {"reasons": ["no"], "remedies": "复议"} if outcome == "deny" else {}
        return self.run("decide", APPROVER, when or at(day, 16), outcome=outcome, **extra)

    def seal_and_deliver(self, sealed: str, delivered: str) -> Story:
        self.run(
            "seal",
            SEALER,
            at(sealed, 17),
            seal_id="S",
            approval_seal_id="S",
            document_no="D1",
            certificate_no="C1",
            valid_until=None,
            document_sha256="a" * 64,
        )
        return self.run(
            "deliver", CLERK, at(delivered, 11), method="window_pickup", recipient="张三"
        )

    def facts(self) -> CaseFacts:
        return CaseFacts.fold(str(self.case.id), self.events)

    def flags(self, today: str = "03-31", **kw: Any) -> list[Flag]:
        return case_flags(self.facts(), CAL, date.fromisoformat(f"2025-{today}"), **kw)

    def rules(self, today: str = "03-31", **kw: Any) -> set[str]:
        return {flag.rule for flag in self.flags(today, **kw)}

    def only(self, rule: str, today: str = "03-31", **kw: Any) -> Flag:
        matching = [f for f in self.flags(today, **kw) if f.rule == rule]
        assert len(matching) == 1, matching
        return matching[0]


def midnight(day: str) -> datetime:
    return datetime.combine(date.fromisoformat(f"2025-{day}"), time(0), BUREAU_TZ)


def test_a_clean_case_raises_nothing() -> None:
    story = Story().accept("03-03").decide("03-05").seal_and_deliver("03-05", "03-06")
    assert story.rules() == set()


# -- S01 / S02: decision clocks --------------------------------------------------------------


def test_s01_decided_after_the_promised_date() -> None:
    # accepted Mon 3-3, promised 3 days → due Thu 3-6; decided Fri 3-7.
    flag = Story().accept("03-03").decide("03-07").only("S01")
    assert flag.raised_at == midnight("03-07")
    assert flag.cleared_at == at("03-07", 16)
    assert flag.severity == "medium" and not flag.open
    assert "due 2025-03-06" in flag.detail


def test_s01_open_while_today_is_past_the_due_date() -> None:
    story = Story().accept("03-03")
    assert "S01" not in story.rules(today="03-06")
    flag = story.only("S01", today="03-07")
    assert flag.open and flag.raised_at == midnight("03-07")


def test_s01_not_raised_on_time() -> None:
    assert "S01" not in Story().accept("03-03").decide("03-06").rules()


def test_s02_decided_after_the_statutory_date() -> None:
    # statutory 10 working days from Mon 3-3 → Mon 3-17.
    story = Story().accept("03-03").decide("03-18")
    assert {"S01", "S02"} <= story.rules()
    assert story.only("S02").severity == "high"
    assert "S02" not in Story().accept("03-03").decide("03-17").rules()


def test_a_valid_extension_moves_the_statutory_date_only() -> None:
    story = Story().accept("03-03")
    story.run("extend", APPROVER, at("03-14"), days=5, reason="complex", statutory_due=date.max)
    story.decide("03-21")  # statutory due 3-17 + 5 working days = 3-24
    assert story.rules() == {"S01"}


def test_an_allowed_suspension_stops_both_clocks() -> None:
    story = Story().accept("03-03")
    story.run("suspend", REVIEWER, at("03-04"), kind="hearing", legal_basis="Art. 46")
    story.run("resume", REVIEWER, at("03-11"), result="heard")
    # 3-5..3-11 (5 working days) not counted: promised due 3-6 → 3-13.
    assert "S01" not in story.decide("03-13").rules()


def test_paused_clock_is_not_overdue() -> None:
    story = Story().accept("03-03")
    story.run("suspend", REVIEWER, at("03-04"), kind="testing", legal_basis="Art. 45")
    assert not story.rules(today="03-28") & {"S01", "S02"}


def test_s01_after_resumption_runs_from_the_moved_due_date() -> None:
    story = Story().accept("03-03")
    story.run("suspend", REVIEWER, at("03-04"), kind="hearing", legal_basis="Art. 46")
    assert not story.rules(today="03-31") & {"S01", "S02"}  # paused for weeks
    story.run("resume", REVIEWER, at("03-11"), result="heard")  # promised due 3-6 → 3-13
    assert "S01" not in story.rules(today="03-13")
    flag = story.only("S01", today="03-14")
    assert flag.open and flag.raised_at == midnight("03-14") and "due 2025-03-13" in flag.detail


def test_a_pause_after_the_promised_deadline_does_not_hide_s01() -> None:
    # promised due 3-6; suspended 3-10: the deadline had passed when the clock stopped.
    story = Story().accept("03-03")
    story.run("suspend", REVIEWER, at("03-10"), kind="hearing", legal_basis="Art. 45")
    flag = story.only("S01", today="03-28")
    assert flag.open and flag.raised_at == midnight("03-07")
    assert "S02" not in story.rules(today="03-28")  # statutory due 3-17, stopped in time
    story.run("resume", REVIEWER, at("03-31", 9), result="heard")
    assert story.decide("03-31").only("S01").cleared_at == at("03-31", 16)


# -- S03 / S04 / S05: acceptance ---------------------------------------------------------------


def test_s03_deemed_accepted_when_nothing_happens_in_five_working_days() -> None:
    # received Mon 3-3 → acceptance due Mon 3-10.
    assert "S03" not in Story().rules(today="03-10")
    flag = Story().only("S03", today="03-11")
    assert flag.open and flag.raised_at == midnight("03-11")
    late = Story().accept("03-12").only("S03")
    assert late.cleared_at == at("03-12")


def test_s03_deemed_acceptance_starts_the_decision_clock_at_receipt() -> None:
    # deemed accepted 3-3: promised due 3-6 although accepted only on 3-12.
    assert {"S03", "S01"} <= Story().accept("03-12").decide("03-13").rules()
    assert "S03" not in Story().accept("03-10").rules()


def test_s03_after_supplements_acceptance_is_due_when_they_arrive() -> None:
    story = Story().run("request_supplement", CLERK, at("03-05"), missing=["图纸"])
    story.run("receive_supplement", CLERK, at("03-20"), materials=["图纸"])
    assert "S03" not in story.rules(today="03-20")
    assert "S03" in story.rules(today="03-21")
    assert "S03" not in story.accept("03-20", when=at("03-20", 15)).rules()


def test_s04_second_supplement_notice() -> None:
    story = Story().run("request_supplement", CLERK, at("03-04"), missing=["a"])
    assert "S04" not in story.rules()
    story.run("receive_supplement", CLERK, at("03-05"), materials=["a"])
    story.run("request_supplement", CLERK, at("03-06"), missing=["b"])
    flag = story.only("S04")
    assert len(flag.evidence) == 2 and flag.raised_at == at("03-06")


def test_s04_threshold_is_configuration() -> None:
    story = Story().run("request_supplement", CLERK, at("03-04"), missing=["a"])
    story.run("receive_supplement", CLERK, at("03-05"), materials=["a"])
    story.run("request_supplement", CLERK, at("03-06"), missing=["b"])
    assert "S04" not in story.rules(config=SupervisionConfig(supplement_notices_allowed=2))


def test_s05_supplement_notice_after_five_working_days() -> None:
    assert "S05" in Story().run("request_supplement", CLERK, at("03-11"), missing=["a"]).rules()
    assert "S05" not in Story().run("request_supplement", CLERK, at("03-10"), missing=["a"]).rules()


# -- S06 / S07: entries ------------------------------------------------------------------------


def test_s06_back_dated_entry_over_the_threshold_and_its_correction() -> None:
    story = Story().accept("03-05", occurred_at=at("03-03", 9, 30))  # 2 days + 30 min
    flag = story.only("S06")
    assert flag.raised_at == at("03-05") and flag.open
    accepted_version = story.case.version
    story.run(
        "correct",
        CLERK,
        at("03-06"),
        corrects_version=accepted_version,
        fact="occurred_at",
        wrong_value="2025-03-03",
        correct_value="2025-03-05",
        reason="typo",
    )
    assert story.only("S06").cleared_at == at("03-06")


def test_s06_not_raised_under_the_threshold_which_is_configuration() -> None:
    story = Story().accept("03-03", when=at("03-03", 12), occurred_at=at("03-03", 10))
    assert "S06" not in story.rules()
    assert "S06" in story.rules(config=SupervisionConfig(backdate_seconds=3600))


def test_s07_later_step_claims_an_earlier_time() -> None:
    story = Story().accept("03-04")
    story.run(
        "record_review",
        REVIEWER,
        at("03-05"),
        stage_name="审查",
        opinion="pass",
        occurred_at=at("03-03", 9, 30),
    )
    flag = story.only("S07")
    assert flag.severity == "high" and len(flag.evidence) == 2


def test_s07_not_raised_for_a_consistent_claim() -> None:
    story = Story().accept("03-04")
    story.run(
        "record_review",
        REVIEWER,
        at("03-05"),
        stage_name="审查",
        opinion="pass",
        occurred_at=at("03-04", 11),
    )
    assert "S07" not in story.rules()


# -- S08 / S09: surveys ------------------------------------------------------------------------


def test_s08_decision_without_the_required_survey() -> None:
    assert "S08" in Story(SURVEYED).accept("03-03").decide("03-05").rules()
    assert "S08" not in Story(SURVEYED).accept("03-03").survey("03-04").decide("03-05").rules()
    assert "S08" not in Story(PLAIN).accept("03-03").decide("03-05").rules()


def test_s09_imported_survey_without_two_staff_or_three_parties() -> None:
    story = Story(SURVEYED).accept("03-03")
    story.run("schedule_survey", SURVEYOR, at("03-04"), requirements=["x"], survey_days=3)
    lone = [SurveyParticipant("甲", "approval_bureau", "s1"), SurveyParticipant("丙", "applicant")]
    story.imported(
        "SurveyConducted", SURVEYOR, at("03-05"), participants=lone, conclusion="pass", findings=""
    )
    flag = story.only("S09")
    assert "1 staff" in flag.detail and "regulator" in flag.detail
    assert "S09" not in Story(SURVEYED).accept("03-03").survey("03-04").rules()


# -- S10 / S11: extension and pauses ------------------------------------------------------------


def test_s10_extension_without_an_approver() -> None:
    story = Story().accept("03-03")
    story.imported("ExtensionGranted", REVIEWER, at("03-10"), days=5, reason="busy")
    assert "not an approver" in story.only("S10").detail
    # an invalid extension does not move the statutory date
    assert "S02" in story.decide("03-20").rules()


def test_s10_extension_after_expiry() -> None:
    story = Story().accept("03-03")
    story.imported("ExtensionGranted", APPROVER, at("03-18"), days=5, reason="late")
    assert "after the statutory due 2025-03-17" in story.only("S10").detail


def test_s10_not_raised_for_a_timely_approver_extension() -> None:
    story = Story().accept("03-03")
    story.run("extend", APPROVER, at("03-17"), days=10, reason="ok", statutory_due=date.max)
    assert "S10" not in story.rules()


def test_s11_pause_of_a_kind_not_allowed() -> None:
    story = Story().accept("03-03")
    story.imported(
        "ClockSuspended", REVIEWER, at("03-04"), kind="lunch", legal_basis="none", notified_at=None
    )
    assert story.only("S11").severity == "high"
    # and it does not stop the clock
    assert "S01" in story.rules(today="03-07")


def test_s11_not_raised_for_art45_or_item_allowed_kinds() -> None:
    story = Story(ItemLimits(10, 3, pause_kinds=("supplement_after_acceptance",))).accept("03-03")
    story.run(
        "suspend", REVIEWER, at("03-04"), kind="supplement_after_acceptance", legal_basis="item"
    )
    story.run("resume", REVIEWER, at("03-05"), result="ok")
    story.run("suspend", REVIEWER, at("03-06"), kind="expert_review", legal_basis="Art. 45")
    assert "S11" not in story.rules()


# -- S12 / S13: delivery and bad reviews ---------------------------------------------------------


def test_s12_delivery_later_than_ten_working_days() -> None:
    # decided Tue 3-4 → delivery due Tue 3-18.
    late = Story().accept("03-03").decide("03-04").seal_and_deliver("03-04", "03-19")
    flag = late.only("S12")
    assert flag.raised_at == midnight("03-19") and flag.cleared_at == at("03-19", 11)
    on_time = Story().accept("03-03").decide("03-04").seal_and_deliver("03-04", "03-18")
    assert "S12" not in on_time.rules()
    assert "S12" in Story().accept("03-03").decide("03-04").rules(today="03-19")


def test_s13_bad_review_not_handled_in_time() -> None:
    def reviewed(level: int) -> Story:
        story = Story().accept("03-03").decide("03-04").seal_and_deliver("03-04", "03-05")
        return story.run("evaluate", CLERK, at("03-05", 12), level=level, channel="window")

    assert "S13" in reviewed(5).rules(today="03-13")  # due Wed 3-12
    assert "S13" not in reviewed(5).rules(today="03-12")
    late = reviewed(4).run(
        "handle_bad_review", ADMIN, at("03-13"), verification="v", rectification="r"
    )
    assert late.only("S13").cleared_at == at("03-13")
    handled = reviewed(4).run(
        "handle_bad_review", ADMIN, at("03-12"), verification="v", rectification="r"
    )
    assert "S13" not in handled.rules()
    assert "S13" not in reviewed(3).rules()


# -- S14: catalogue --------------------------------------------------------------------------------


def _item_facts(promised: int, statutory: int, revise_to: int | None = None) -> ItemFacts:
    spec = {
        "name": "测试事项",
        "kind": "行政许可",
        "case_type": "promised",
        "statutory_days": statutory,
        "promised_days": promised,
        "needs_survey": False,
        "survey_days": 0,
        "joint": False,
        "materials": [],
        "pause_kinds": [],
    }
    item = Item.publish(code="XK-T", spec=spec, actor=ADMIN, at=at("03-03"))
    if revise_to is not None:
        item.revise(changes={"promised_days": revise_to}, reason="fix", actor=ADMIN, at=at("03-04"))
    facts = ItemFacts()
    for i, event in enumerate(item.collect_events(), start=1):
        facts = facts.apply(event, i)
    return facts


def test_s14_promised_above_statutory_and_its_fix() -> None:
    (flag,) = item_flags(_item_facts(25, 20))
    assert flag.rule == "S14" and flag.item_code == "XK-T" and flag.case_id is None and flag.open
    (fixed,) = item_flags(_item_facts(25, 20, revise_to=15))
    assert fixed.cleared_at == at("03-04") and fixed.evidence == (1, 2)
    assert item_flags(_item_facts(20, 20)) == []
    assert ItemFacts.from_dict(_item_facts(25, 20, 15).to_dict()) == _item_facts(25, 20, 15)


# -- S15: instant completion -------------------------------------------------------------------


def test_s15_accepted_and_decided_seconds_apart_on_a_non_instant_item() -> None:
    story = Story().accept("03-03", when=at("03-03", 10, 0, 0))
    story.decide("03-03", when=at("03-03", 10, 0, 20))
    assert story.only("S15").severity == "high"


def test_s15_not_raised_for_instant_items_or_real_gaps() -> None:
    instant = ItemLimits(3, 0, case_type="instant")
    story = Story(instant).accept("03-03", when=at("03-03", 10, 0, 0))
    assert "S15" not in story.decide("03-03", when=at("03-03", 10, 0, 20)).rules()
    slow = Story().accept("03-03", when=at("03-03", 10)).decide("03-03", when=at("03-03", 14))
    assert "S15" not in slow.rules()


# -- properties and config ---------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(decided_after=st.integers(min_value=0, max_value=25))
def test_s01_iff_decided_after_the_promised_due(decided_after: int) -> None:
    when = at("03-03", 16) + timedelta(days=decided_after)
    story = Story().accept("03-03").decide("", when=when)
    due = CAL.add_working_days(date(2025, 3, 3), 3)
    assert ("S01" in story.rules()) == (when.date() > due)


@settings(max_examples=40, deadline=None)
@given(gap_minutes=st.integers(min_value=0, max_value=4 * 24 * 60))
def test_s06_iff_gap_above_threshold(gap_minutes: int) -> None:
    entered = at("03-07", 12)
    story = Story().accept(
        "03-07", when=entered, occurred_at=entered - timedelta(minutes=gap_minutes)
    )
    assert ("S06" in story.rules()) == (gap_minutes * 60 > 86_400)


def test_every_rule_has_a_severity_and_flags_have_stable_ids() -> None:
    assert sorted(RULES) == [*(f"S{i:02d}" for i in range(1, 16)), "S17", "S18", "S19"]
    story = Story().accept("03-12").decide("03-20")
    assert [f.flag_id for f in story.flags()] == [f.flag_id for f in story.flags()]
    assert all(f.to_dict()["severity"] in ("high", "medium") for f in story.flags())


def test_supervision_config_from_env_and_json(tmp_path: Any) -> None:
    path = tmp_path / "sup.json"
    path.write_text('{"backdate_seconds": 7200}')
    env = {
        "CASESTORE_SUPERVISION_CONFIG": str(path),
        "CASESTORE_SUPERVISION_COMPLETION_GAP_SECONDS": "30",
    }
    cfg = load_settings(env).supervision()
    assert cfg.backdate_seconds == 7200 and cfg.completion_gap_seconds == 30
    with pytest.raises(SupervisionConfigError, match="unknown"):
        load_settings({"CASESTORE_SUPERVISION_CONFIG": str(path)}).supervision().with_values(
            {"x": 1}
        )
    with pytest.raises(SettingsError, match=r"CASESTORE_SUPERVISION_BACKDATE_SECONDS: .*integer"):
        load_settings({"CASESTORE_SUPERVISION_BACKDATE_SECONDS": "soon"})
