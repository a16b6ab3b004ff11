"""Every place that shows a case's stage agrees with the domain's one stage machine.

A hypothesis state machine drives random legal and illegal commands from any role
through ``CaseService.handle``, opens 一件事 bundles, and appends imported history that
breaks the rules (events recorded as they happened through ``Case.record_imported``,
as ``casestore import`` does: a supplement after acceptance, a decision without
acceptance, a seal on a denial, acceptance after a withdrawal ...). At random points
and at the end, the stage of every case is read from: the aggregate, the case facts
the compliance, supervision and hall-board views fold, the ``case_status`` view, the
``bundles`` view's children, and the SSE stream; all must be equal.
"""

from __future__ import annotations

import tempfile
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import orjson
from casestore.api.stream import StreamHub
from casestore.projections.engine.db import ViewDB
from casestore.projections.facts.casefacts import CaseFacts
from casestore.projections.readmodels.bundles import PROJECTION as BUNDLES
from casestore.projections.readmodels.bundles import BundleView
from casestore.projections.readmodels.case_status import PROJECTION as CASE_STATUS
from casestore.projections.readmodels.case_status import CaseStatusView
from casestore.projections.runtime.logsource import LogSource
from casestore.projections.runtime.worker import rebuild_into
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, initialize, rule

from casestore.domain import Actor, CasestoreError, ItemLimits, SurveyParticipant
from casestore.domain.roles import PERMISSIONS
from casestore.service import CASE_COMMANDS, CaseService, SubmitBundle, SubmitCase
from casestore.store.application import CasestoreApp
from tests.conftest import ADMIN, APPLICANT, CATALOGUE, FakeClock
from tests.property.test_case_lifecycle import NEXT_STEP, PAYLOADS, ROLES

PARTIES = [SurveyParticipant("甲", "approval_bureau", "s1"), SurveyParticipant("丙", "applicant")]
#: The fields of each event a legacy system may have recorded (valid shapes; the order
#: of the events is what breaks the rules).
IMPORTED: dict[str, st.SearchStrategy[dict[str, Any]]] = {
    "SupplementRequested": st.just({"missing": ["营业执照"]}),
    "SupplementReceived": st.just({"materials": ["营业执照"]}),
    "Accepted": st.just({"notice_no": "SL-legacy", "limits": ItemLimits(20, 10),
                         "promised_completion": date(2025, 3, 31)}),
    "Rejected": st.just({"reasons": ["不符合"], "legal_basis": "第32条", "apply_instead": ""}),
    "Withdrawn": st.just({"reason": "不办了"}),
    "ReviewRecorded": st.just({"stage_name": "审查", "opinion": "pass", "comment": ""}),
    "SurveyScheduled": st.just({"requirements": ["现场"], "survey_days": 3,
                                "parties": ["approval_bureau", "applicant"]}),
    "SurveyConducted": st.just({"participants": PARTIES, "conclusion": "pass", "findings": ""}),
    "ClockSuspended": st.just({"kind": "nap", "legal_basis": "无", "notified_at": None}),
    "ClockResumed": st.just({"result": "完成"}),
    "ExtensionGranted": st.just({"days": 12, "reason": "复杂"}),
    "Decided": st.sampled_from([
        {"outcome": "approve", "reasons": [], "remedies": ""},
        {"outcome": "deny", "reasons": ["不符合"], "remedies": "复议"},
    ]),
    "Sealed": st.just({"seal_id": "OTHER", "document_no": "D1", "certificate_no": "",
                       "valid_until": None, "document_sha256": "a" * 64}),
    "Delivered": st.just({"method": "mail", "tracking_no": "", "recipient": "张三"}),
    "Evaluated": st.just({"level": 5, "channel": "pad", "comment": ""}),
    "BadReviewHandled": st.just({"verification": "属实", "rectification": "整改",
                                 "handler": "a-1"}),
    "FollowUpRecorded": st.just({"satisfied": True, "notes": ""}),
    "Corrected": st.just({"corrects_version": 1, "fact": "x", "wrong_value": "a",
                          "correct_value": "b", "reason": "笔误"}),
}


def stages_everywhere(service: CaseService, db: ViewDB, source: LogSource,
                      cases: list[UUID], bundles: list[UUID]) -> dict[str, dict[UUID, str]]:
    """case id -> stage, as each reader computes it."""
    seen: dict[str, dict[UUID, str]] = {name: {} for name in (
        "domain", "case facts", "case_status", "bundles", "stream", "stream (cold)")}
    facts: dict[UUID, CaseFacts] = {}
    last_row = {}
    for row in service.log_rows(0):
        if row.topic.startswith("casestore.domain.case:Case."):
            old = facts.get(row.originator_id) or CaseFacts(str(row.originator_id))
            facts[row.originator_id] = old.apply(service.decode(row), row.position)
            last_row[row.originator_id] = row
    rebuild_into(source, db, CASE_STATUS)
    rebuild_into(source, db, BUNDLES)
    status = CaseStatusView(db)
    hub = StreamHub(service, service.app)  # reads the log itself: no need to start it
    items, _ = hub._read(0, service.head()[0] + 1, service.head()[0])
    cold = StreamHub(service, service.app)  # a hub that meets each case at its last event only
    for case_id in cases:
        seen["domain"][case_id] = service.case(case_id).stage
        seen["case facts"][case_id] = facts[case_id].stage
        row = status.get(str(case_id))
        assert row is not None
        seen["case_status"][case_id] = row["stage"]
        last = source.read(last_row[case_id].position - 1, 1, personal=False)[0]
        seen["stream (cold)"][case_id] = orjson.loads(cold._item(last).data)["stage"]
    for item in items:
        seen["stream"][UUID(item.case_id)] = orjson.loads(item.data)["stage"]
    for bundle_id in bundles:
        for child in BundleView(db).get(str(bundle_id))["children"]:
            seen["bundles"][UUID(child["case_id"])] = child["stage"]
    return seen


class StageAgreement(RuleBasedStateMachine):
    cases = Bundle("cases")

    @initialize(target=cases)
    def open_store(self) -> UUID:
        self.dir = tempfile.TemporaryDirectory()
        self.clock = FakeClock()
        url = f"sqlite:///{Path(self.dir.name) / 'stages.db'}"
        self.service = CaseService(CasestoreApp(url), clock=self.clock)
        self.service.load_catalogue(CATALOGUE, ADMIN)
        self.db = ViewDB(url)
        self.source = LogSource(self.service.app)
        self.known: list[UUID] = []
        self.opened_bundles: list[UUID] = []
        return self.submit("XK-019")

    def teardown(self) -> None:
        if hasattr(self, "service"):
            try:
                if self.known:
                    self.agree()
            finally:
                self.source.close()
                self.db.close()
                self.service.close()
                self.dir.cleanup()

    @rule(target=cases, item=st.sampled_from(["XK-003", "XK-019", "XK-001"]))
    def submit(self, item: str) -> UUID:
        sub = self.service.handle(SubmitCase(actor=Actor("c1", "clerk", window="W1"),
                                             item_code=item, applicant=APPLICANT))
        self.known.append(sub.case_id)
        return sub.case_id

    @rule()
    def submit_bundle(self) -> None:
        opened = self.service.handle(SubmitBundle(actor=Actor("c1", "clerk", window="W1"),
                                                  bundle_code="YJS-003", applicant=APPLICANT))
        self.opened_bundles.append(opened.bundle_id)
        self.known += [child.case_id for child in opened.children.values()]

    @rule(case_id=cases, data=st.data(), action=st.sampled_from(sorted(PAYLOADS)),
          right_role=st.booleans(), days=st.integers(0, 20))
    def command(self, case_id: UUID, data: st.DataObject, action: str, right_role: bool,
                days: int) -> None:
        """Any command, legal or not, from the right role or any other."""
        self.clock.advance(days=days)
        roles = sorted(PERMISSIONS[action]) if right_role else ROLES
        actor = Actor("x1", data.draw(st.sampled_from(roles)))
        payload = data.draw(PAYLOADS[action])
        try:
            self.service.handle(CASE_COMMANDS[action](case_id=case_id, actor=actor, **payload))
        except CasestoreError:
            return
        event(f"accepted {action}")

    @rule(case_id=cases)
    def progress(self, case_id: UUID) -> None:
        """One step along the usual path, so that late stages are reached too."""
        case = self.service.case(case_id)
        step = NEXT_STEP.get(case.stage)
        if case.suspended:
            step = ("resume", "reviewer", {"result": "程序结束"})
        if step is None:
            return
        action, role, payload = step
        try:
            self.service.handle(CASE_COMMANDS[action](case_id=case_id, actor=Actor("x1", role),
                                                      **payload))
        except CasestoreError:
            return  # e.g. a survey is still open

    @rule(case_id=cases, data=st.data(), name=st.sampled_from(sorted(IMPORTED)))
    def imported(self, case_id: UUID, data: st.DataObject, name: str) -> None:
        """A legacy event recorded as it happened, whatever the case's stage."""
        case = self.service.case(case_id)
        at = self.clock()
        case.record_imported(name, actor=Actor("legacy", "admin"), at=at,
                             occurred_at=at - timedelta(days=1),
                             fields=data.draw(IMPORTED[name]))
        self.service.record(case.collect_events())
        event(f"imported {name}")

    @rule()
    def agree(self) -> None:
        seen = stages_everywhere(
            self.service, self.db, self.source, self.known, self.opened_bundles
        )
        domain = seen.pop("domain")
        for reader, stages in seen.items():
            for case_id, stage in stages.items():
                assert stage == domain[case_id], (reader, case_id, stage, domain[case_id])
        assert set(seen["case_status"]) == set(domain) == set(seen["stream"]) & set(domain)


StageAgreement.TestCase.settings = settings(
    max_examples=25,
    stateful_step_count=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
TestStageAgreement = StageAgreement.TestCase
