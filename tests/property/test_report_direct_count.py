"""Monthly report figures equal a direct count over the log at the recorded position.

Random histories (cases decided, evaluated and followed up on random days around the
2025 National Day holiday, green-channel cases, enquiries answered or not) are written
through the service; the report for October 2025 is built as the log stood when October
ended. The direct count below reads the domain events up to the report's position and
counts by the definitions in ``projections/reports/monthly.py`` with the clock rules of
行政许可法 (the working-day calendar only) — it shares no code with the views.
"""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from casestore.projections.engine.db import ViewDB
from casestore.projections.reports.build import monthly_report
from casestore.projections.reports.monthly import Month
from casestore.projections.runtime.worker import rebuild_as_of
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from casestore.domain import Actor
from casestore.domain.values import APPROVAL_SEAL_ID, local_date
from casestore.service import CaseService, SubmitCase
from casestore.service.commands import Accept, Decide, Deliver, Evaluate, RecordFollowUp, Seal
from casestore.service.practice import AnswerEnquiry, GrantAward, ReceiveEnquiry, RevokeAward
from casestore.store.application import CasestoreApp
from casestore.timelimits import ClockConfig, default_calendar
from tests.conftest import ADMIN, APPLICANT, APPROVER, CATALOGUE, FakeClock

OCTOBER = Month(2025, 10)
DAYS = [
    date(2025, 9, 30),
    date(2025, 10, 9),
    date(2025, 10, 11),
    date(2025, 10, 20),
    date(2025, 10, 31),
    date(2025, 11, 3),
    date(2025, 11, 10),
]
ITEMS = {"XK-001": 0, "XK-007": 3, "XK-011": 5}  # promised working days (catalogue)
WINDOWS = ["W01", "G01"]

case_plan = st.fixed_dictionaries(
    {
        "item": st.sampled_from(sorted(ITEMS)),
        "window": st.sampled_from(WINDOWS),
        "priority": st.booleans(),
        "days": st.lists(st.sampled_from(range(len(DAYS))), min_size=4, max_size=4).map(sorted),
        "steps": st.integers(1, 4),  # accepted; + decided; + evaluated; + followed up
        "outcome": st.sampled_from(["approve", "deny"]),
        "level": st.integers(1, 5),
        "satisfied": st.booleans(),
    }
)
enquiry_plan = st.tuples(
    st.sampled_from(range(len(DAYS))), st.none() | st.sampled_from(range(len(DAYS)))
)


def moment(day: date, hour: int, n: int) -> datetime:
    return datetime(
        day.year,
        day.month,
        day.day,
        hour,
        0,
        n % 60,
        tzinfo=datetime.fromisoformat("2025-01-01T00:00+08:00").tzinfo,
    )


def write(
    url: str,
    cases: list[dict[str, Any]],
    enquiries: list[tuple[int, int | None]],
    awards: list[tuple[int, bool]] = (),  # type: ignore[assignment]
) -> None:
    actions: list[tuple[datetime, int, Any]] = []
    for n, c in enumerate(cases):
        d = [DAYS[i] for i in c["days"]]
        actions.append((moment(d[0], 9, n), 0, ("case", n, c)))
        for step in range(1, c["steps"]):
            actions.append((moment(d[step], 10 + step, n), step, ("case", n, c)))
    for n, (received, answered) in enumerate(enquiries):
        actions.append((moment(DAYS[received], 8, n), 0, ("enquiry", n, None)))
        if answered is not None and answered >= received:
            actions.append((moment(DAYS[answered], 16, n), 1, ("enquiry", n, None)))
    for n, (day, revoked) in enumerate(awards):
        actions.append((moment(DAYS[day], 17, n), 0, ("award", n, None)))
        if revoked:
            actions.append(
                (moment(DAYS[min(day + 1, len(DAYS) - 1)], 18, n), 1, ("award", n, None))
            )
    actions.sort(key=lambda a: (a[0], a[1], a[2][0], a[2][1]))
    clock = FakeClock(moment(DAYS[0], 7, 0))
    app = CasestoreApp(url)
    svc = CaseService(app, clock=clock, clock_config=ClockConfig(enquiry_days=5))
    svc.load_catalogue(CATALOGUE, ADMIN)
    ids: dict[tuple[str, int], Any] = {}
    try:
        for at, step, (kind, n, c) in actions:
            clock.now = max(clock.now, at)
            if kind == "award":
                if step == 0:
                    ids[(kind, n)] = svc.handle(
                        GrantAward(
                            actor=ADMIN,
                            kind="silk_banner",
                            recipient_kind="window",
                            recipient="W01",
                            giver="申请人",
                        )
                    ).case_id
                else:
                    svc.handle(RevokeAward(actor=ADMIN, award_id=ids[(kind, n)], reason="错"))
                continue
            if kind == "enquiry":
                clerk = Actor("c-1", "clerk", "窗口", "W01")
                if step == 0:
                    ids[(kind, n)] = svc.handle(
                        ReceiveEnquiry(actor=clerk, kind="request", topic="咨询")
                    ).case_id
                else:
                    svc.handle(AnswerEnquiry(actor=clerk, enquiry_id=ids[(kind, n)], answer="答"))
                continue
            clerk = Actor("c-1", "clerk", "窗口", c["window"])
            if step == 0:
                case = svc.handle(
                    SubmitCase(
                        actor=clerk,
                        item_code=c["item"],
                        applicant=APPLICANT,
                        priority=c["priority"],
                    )
                )
                ids[(kind, n)] = case.case_id
                svc.handle(Accept(actor=clerk, case_id=case.case_id))
            elif step == 1:
                svc.handle(
                    Decide(
                        actor=APPROVER,
                        case_id=ids[(kind, n)],
                        outcome=c["outcome"],
                        reasons=["不符合条件"] if c["outcome"] == "deny" else [],
                        remedies="可依法申请行政复议或提起行政诉讼"
                        if c["outcome"] == "deny"
                        else "",
                    )
                )
                if c["outcome"] == "approve":  # sealed and handed over at once
                    sealer, dispatcher = Actor("k-1", "sealer"), Actor("d-1", "dispatcher")
                    svc.handle(
                        Seal(
                            actor=sealer,
                            case_id=ids[(kind, n)],
                            seal_id=APPROVAL_SEAL_ID,
                            document_no=f"D-{n}",
                            document_sha256="ab" * 32,
                        )
                    )
                    svc.handle(
                        Deliver(
                            actor=dispatcher,
                            case_id=ids[(kind, n)],
                            method="window_pickup",
                            recipient="张三",
                        )
                    )
            elif step == 2:
                svc.handle(
                    Evaluate(
                        actor=clerk, case_id=ids[(kind, n)], level=c["level"], channel="window"
                    )
                )
            else:
                svc.handle(
                    RecordFollowUp(actor=clerk, case_id=ids[(kind, n)], satisfied=c["satisfied"])
                )
    finally:
        app.close()


def direct_count(url: str, position: int, month: Month) -> dict[str, Any]:
    """Every figure counted straight from the domain events up to ``position``."""
    cal = default_calendar()
    cases: dict[Any, dict[str, Any]] = {}
    enquiries: dict[Any, dict[str, Any]] = {}
    awards: dict[Any, tuple[date, bool]] = {}
    app = CasestoreApp(url)
    try:
        for row, e in app.iter_events(0):
            if row.position > position:
                break
            name, day = type(e).__qualname__, local_date(e.occurred_at or e.timestamp)
            if name == "Case.Submitted":
                cases[e.originator_id] = {"window": e.actor.window, "priority": e.priority}
            elif name.startswith("Case."):
                c = cases[e.originator_id]
                if name == "Case.Accepted":
                    c["accepted"] = day
                    c["limits"] = (e.limits.promised_days, e.limits.statutory_days)
                elif name == "Case.Decided":
                    c["decided"], c["outcome"] = day, e.outcome
                elif name == "Case.Evaluated":
                    c["evaluated"], c["level"] = day, e.level
                elif name == "Case.FollowUpRecorded":
                    c.setdefault("follow_ups", []).append((day, e.satisfied))
            elif name == "Award.Granted":
                awards[e.originator_id] = (day, False)
            elif name == "Award.Revoked":
                awards[e.originator_id] = (awards[e.originator_id][0], True)
            elif name == "Enquiry.Received":
                enquiries[e.originator_id] = {"due": cal.add_working_days(day, e.handling_days)}
            elif name == "Enquiry.Answered":
                enquiries[e.originator_id].setdefault("stopped", day)
    finally:
        app.close()
    first, last = month.first, month.last
    inside = lambda d: d is not None and first <= d <= last  # noqa: E731
    out: dict[str, Any] = {}
    done = [c for c in cases.values() if inside(c.get("decided"))]
    out["completed"] = len(done)
    out["evaluated_completed"] = sum(1 for c in done if "level" in c)
    rated = [c for c in cases.values() if inside(c.get("evaluated"))]
    out["evaluations"] = len(rated)
    out["good"] = sum(1 for c in rated if c["level"] <= 3)
    out["bad_reviews"] = sum(1 for c in rated if c["level"] >= 4)
    calls = [ok for c in cases.values() for d, ok in c.get("follow_ups", []) if inside(d)]
    out["follow_ups"], out["follow_ups_satisfied"] = len(calls), sum(calls)

    def on_time(c: dict[str, Any], which: int) -> bool:
        return c["decided"] <= cal.add_working_days(c["accepted"], c["limits"][which])

    since = [c for c in cases.values() if c.get("decided") and c["decided"] <= last]
    out["decided_since_seal"] = len(since)
    out["on_time_promised_since_seal"] = sum(on_time(c, 0) for c in since)
    out["on_time_statutory_since_seal"] = sum(on_time(c, 1) for c in since)
    green = [c for c in done if c["priority"]]
    out["green_channel_decided"] = len(green)
    out["green_channel_on_time"] = sum(on_time(c, 0) for c in green)
    overdue: Counter[str] = Counter()
    for c in cases.values():
        running = []
        if "decided" not in c:
            running = [cal.add_working_days(c["accepted"], days) for days in c["limits"]]
        if any(due < last for due in running):
            overdue[c["window"]] += 1
    out["overdue_by_window"] = dict(overdue)
    kept = [d for d, revoked in awards.values() if inside(d) and not revoked]
    out["awards"] = {"锦旗": len(kept)} if kept else {}
    for rate, part, whole in (
        ("participation_rate", "evaluated_completed", "completed"),
        ("good_rate", "good", "evaluations"),
        ("follow_up_satisfaction_rate", "follow_ups_satisfied", "follow_ups"),
    ):
        out[rate] = round(out[part] / out[whole], 4) if out[whole] else None
    return out | _enquiry_counts(enquiries, month, url, position)


def _enquiry_counts(
    enquiries: dict[Any, dict[str, Any]], month: Month, url: str, position: int
) -> dict[str, Any]:
    app = CasestoreApp(url)
    received = 0
    try:
        for row, e in app.iter_events(0):
            if row.position > position:
                break
            if type(e).__qualname__ == "Enquiry.Received":
                received += month.first <= local_date(e.timestamp) <= month.last
    finally:
        app.close()
    late = 0
    for q in enquiries.values():
        raised = q["due"] + timedelta(days=1)
        stopped = q.get("stopped")
        if month.first <= raised <= month.last and (stopped is None or stopped > q["due"]):
            late += 1
    return {"enquiries_received": received, "enquiries_late": late}


@settings(
    max_examples=10,
    phases=[Phase.explicit, Phase.generate],
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
@given(
    cases=st.lists(case_plan, min_size=1, max_size=7),
    enquiries=st.lists(enquiry_plan, max_size=4),
    awards=st.lists(st.tuples(st.sampled_from(range(len(DAYS))), st.booleans()), max_size=3),
)
def test_report_figures_equal_a_direct_count_over_the_log(
    tmp_path_factory: Any,
    cases: list[dict[str, Any]],
    enquiries: list[Any],
    awards: list[tuple[int, bool]],
) -> None:
    url = f"sqlite:///{Path(tmp_path_factory.mktemp('report')) / 'log.db'}"
    write(url, cases, enquiries, awards)
    app, views = CasestoreApp(url), ViewDB(url)
    try:
        report = monthly_report(
            CaseService(app),
            partial(rebuild_as_of, app),
            views,
            OCTOBER,
            now=datetime.fromisoformat("2025-12-01T00:00+08:00"),
        )
        head = app.log.head()[0]
    finally:
        views.close()
        app.close()
    expected = direct_count(url, report.position, OCTOBER)
    tables = {"overdue_by_window", "flags_by_window", "awards"}
    figures = {f.key: dict(f.breakdown) if f.key in tables else f.value for f in report.figures}
    for key, value in expected.items():
        assert figures[key] == value, (key, figures[key], value)
    assert all(f.position == report.position <= head for f in report.figures)
    assert all(
        f.command.endswith(f"--at-position {report.position} --figure {f.key}")
        for f in report.figures
    )
