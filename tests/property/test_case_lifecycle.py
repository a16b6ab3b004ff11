"""A hypothesis state machine over the case lifecycle, on the real SQLite store.

Random legal and illegal commands from any role. After every step: replaying the log
equals the live (cached) aggregate, versions are contiguous, a refused command left the
log unchanged and the hash chain verifies.
"""

from __future__ import annotations

import tempfile
from datetime import date
from pathlib import Path
from typing import Any
from uuid import UUID

from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
)

from casestore.domain import Actor, Case, CasestoreError, SurveyParticipant
from casestore.domain.roles import PERMISSIONS
from casestore.service import CASE_COMMANDS, CaseService, SubmitCase
from casestore.store.application import CasestoreApp
from casestore.store.integrity import verify_rows
from tests.conftest import ADMIN, APPLICANT, CATALOGUE, FakeClock

ROLES = ["clerk", "reviewer", "approver", "surveyor", "sealer", "dispatcher", "admin",
         "auditor", "inspector"]
PARTIES = [SurveyParticipant("甲", "approval_bureau", "s1"),
           SurveyParticipant("乙", "regulator", "s2"),
           SurveyParticipant("丙", "applicant")]
PAYLOADS: dict[str, st.SearchStrategy[dict[str, Any]]] = {
    "supplement-request": st.fixed_dictionaries({"missing": st.lists(st.sampled_from(
        ["营业执照", "身份证明", ""]), max_size=2)}),
    "supplement": st.fixed_dictionaries({"materials": st.lists(st.just("营业执照"), max_size=1)}),
    "accept": st.just({}),
    "reject": st.fixed_dictionaries({"reasons": st.lists(st.just("不符合"), max_size=1),
                                     "legal_basis": st.sampled_from(["第32条", ""])}),
    "withdraw": st.fixed_dictionaries({"reason": st.sampled_from(["不办了", ""])}),
    "review": st.fixed_dictionaries({"stage_name": st.just("审查"),
                                     "opinion": st.sampled_from(["pass", "return", "bad"])}),
    "survey-schedule": st.fixed_dictionaries({"requirements": st.just(["平面图"]),
                                              "survey_days": st.integers(0, 8)}),
    "survey-result": st.fixed_dictionaries({"participants": st.sampled_from(
        [PARTIES, PARTIES[:2]]), "conclusion": st.sampled_from(["pass", "rectify"])}),
    "suspend": st.fixed_dictionaries({"kind": st.sampled_from(["hearing", "nap"]),
                                      "legal_basis": st.just("第45条")}),
    "resume": st.fixed_dictionaries({"result": st.just("完成")}),
    "extend": st.fixed_dictionaries({"days": st.integers(0, 12), "reason": st.just("复杂")}),
    "decide": st.sampled_from([{"outcome": "approve"},
                               {"outcome": "deny", "reasons": ["不符合"], "remedies": "复议"},
                               {"outcome": "deny"}]),
    "seal": st.fixed_dictionaries({"seal_id": st.sampled_from(["XZSP-SEAL-001", "OTHER"]),
                                   "document_no": st.just("D1"), "certificate_no": st.just("C1"),
                                   "valid_until": st.just(date(2030, 1, 1)),
                                   "document_sha256": st.just("b" * 64)}),
    "deliver": st.sampled_from([{"method": "mail", "recipient": "张三", "tracking_no": "EMS1"},
                                {"method": "mail", "recipient": "张三"},
                                {"method": "window_pickup", "recipient": "张三"}]),
    "evaluate": st.fixed_dictionaries({"level": st.integers(0, 6), "channel": st.just("pad")}),
    "bad-review": st.fixed_dictionaries({"verification": st.just("属实"),
                                         "rectification": st.just("整改")}),
    "follow-up": st.fixed_dictionaries({"satisfied": st.booleans()}),
    "correct": st.fixed_dictionaries({"corrects_version": st.integers(0, 6),
                                      "fact": st.just("x"), "wrong_value": st.just("a"),
                                      "correct_value": st.just("b"), "reason": st.just("笔误")}),
}

NEXT_STEP: dict[str, tuple[str, str, dict[str, Any]]] = {
    "received": ("accept", "clerk", {}),
    "accepted": ("review", "reviewer", {"stage_name": "审查", "opinion": "pass"}),
    "under_review": ("decide", "approver", {"outcome": "approve"}),
    "decided": ("seal", "sealer", {"seal_id": "XZSP-SEAL-001", "document_no": "D1",
                                   "certificate_no": "C1", "valid_until": None,
                                   "document_sha256": "c" * 64}),
    "sealed": ("deliver", "dispatcher", {"method": "electronic", "recipient": "张三"}),
}


class CaseLifecycle(RuleBasedStateMachine):
    cases = Bundle("cases")

    @initialize(target=cases)
    def open_store(self) -> UUID:
        self.dir = tempfile.TemporaryDirectory()
        self.clock = FakeClock()
        self.app = CasestoreApp(f"sqlite:///{Path(self.dir.name) / 'sm.db'}")
        self.service = CaseService(self.app, clock=self.clock)
        self.service.load_catalogue(CATALOGUE, ADMIN)
        self.known: list[UUID] = []
        return self.submit("XK-019")

    def teardown(self) -> None:
        if hasattr(self, "app"):
            self.app.close()
            self.dir.cleanup()

    @rule(target=cases, item=st.sampled_from(["XK-003", "XK-019", "XK-001", "XK-999"]))
    def submit(self, item: str) -> UUID:
        head = self.app.log.head()
        try:
            sub = self.service.handle(
                SubmitCase(actor=Actor("c1", "clerk", window="W1"), item_code=item,
                           applicant=APPLICANT))
        except CasestoreError:
            assert item == "XK-999" and self.app.log.head() == head
            return UUID(int=0)
        self.known.append(sub.case_id)
        assert self.app.log.head()[0] == head[0] + 2  # the case and its number index
        return sub.case_id

    @rule(case_id=cases, data=st.data(), action=st.sampled_from(sorted(PAYLOADS)),
          right_role=st.booleans(), days=st.integers(0, 30))
    def command(self, case_id: UUID, data: st.DataObject, action: str, right_role: bool,
                days: int) -> None:
        if case_id.int == 0:
            return
        self.clock.advance(days=days)
        roles = sorted(PERMISSIONS[action]) if right_role else ROLES
        role = data.draw(st.sampled_from(roles))
        payload = data.draw(PAYLOADS[action])
        head = self.app.log.head()
        before = self.app.get(Case, case_id).version
        try:
            command = CASE_COMMANDS[action](case_id=case_id, actor=Actor("x1", role), **payload)
            result = self.service.handle(command)
        except CasestoreError:
            assert self.app.log.head() == head, f"refused {action} appended"
            return
        event(f"accepted {action}")
        assert result.version == before + 1
        assert self.app.log.head()[0] == head[0] + 1

    @rule(case_id=cases)
    def progress(self, case_id: UUID) -> None:
        """Move a case one step along the usual path, so deep stages get explored too."""
        if case_id.int == 0:
            return
        case = self.app.get(Case, case_id)
        step = NEXT_STEP.get(case.stage)
        if case.stage == "delivered" and case.evaluation_level is None:
            step = ("evaluate", "clerk", {"level": 5, "channel": "pad"})
        if case.suspended:
            step = ("resume", "reviewer", {"result": "程序结束"})
        elif case.survey_open:
            step = ("survey-result", "surveyor", {"participants": PARTIES, "conclusion": "pass"})
        if step is None:
            return
        action, role, payload = step
        self.service.handle(CASE_COMMANDS[action](case_id=case_id, actor=Actor("x1", role),
                                                  **payload))
        event(f"progressed {action}")

    @invariant()
    def replay_equals_live(self) -> None:
        for case_id in getattr(self, "known", []):
            live = self.app.repository.get(case_id)  # the service's cached aggregate
            replayed = self.app.get(Case, case_id)  # from the log
            assert vars(replayed) == vars(live)
            versions = [e.originator_version for e in self.app.domain_events(case_id)]
            assert versions == list(range(1, len(versions) + 1))

    @invariant()
    def chain_verifies(self) -> None:
        if hasattr(self, "app"):
            assert verify_rows(self.app.log.iter_log()).ok


CaseLifecycle.TestCase.settings = settings(
    max_examples=40, stateful_step_count=40, deadline=None,
    suppress_health_check=[HealthCheck.too_slow])
TestCaseLifecycle = CaseLifecycle.TestCase
