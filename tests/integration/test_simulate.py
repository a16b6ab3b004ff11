"""``casestore simulate``: the same seed writes the same history; a 2,000-case history
raises every supervision rule S01–S15; the history looks like a bureau's."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from casestore.projections.engine.db import ViewDB
from casestore.projections.facts.casefacts import CaseFacts, ItemFacts
from casestore.projections.readmodels.supervision.projection import (
    RULES,
    SupervisionView,
    case_flags,
    item_flags,
)
from casestore.projections.runtime.commands import rebuild_projection

from casestore.domain import InvalidCommand
from casestore.domain.values import local_date
from casestore.simulate import run_simulation
from casestore.store.application import CasestoreApp
from casestore.store.audit import digest, verify
from casestore.timelimits.calendar import default_calendar

START = date(2025, 3, 1)


def simulate(url: str, cases: int, seed: int, days: int = 120) -> Any:
    return run_simulation(url, cases=cases, seed=seed, start=START, days=days, progress=False)


def test_the_same_seed_writes_the_same_history(tmp_path: Path) -> None:
    a = simulate(f"sqlite:///{tmp_path}/a.db", 300, seed=4)
    b = simulate(f"sqlite:///{tmp_path}/b.db", 300, seed=4)
    simulate(f"sqlite:///{tmp_path}/c.db", 300, seed=5)
    digests = [digest(CasestoreApp(f"sqlite:///{tmp_path}/{n}.db"))["digest"] for n in "abc"]
    assert digests[0] == digests[1] == a.digest == b.digest
    assert digests[2] != digests[0]
    app = CasestoreApp(f"sqlite:///{tmp_path}/a.db")
    assert verify(app).ok
    assert "simulated 300 cases" in str(a) and a.digest in str(a)


def test_simulate_refuses_a_store_that_holds_cases(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/s.db"
    simulate(url, 20, seed=1, days=20)
    app = CasestoreApp(url)
    head = app.log.head()
    with pytest.raises(InvalidCommand, match="empty store"):
        simulate(url, 20, seed=2, days=20)
    assert app.log.head() == head


def test_every_simulated_command_is_checked_against_the_grants(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A step by someone the log does not authorise stops the simulation (here the
    sealers' grants are revoked right after enrolment, so the first seal is refused)."""
    from casestore import simulate as simulator
    from casestore.simulation import staffing

    def without_sealers(authority: Any, roster: Any) -> None:
        staffing.enrol_roster(authority, roster)
        for sealer in roster.sealers:
            authority.revoke(
                sealer.staff_id, "sealer", by=roster.admin.staff_id, reason="测试：无人可盖章"
            )

    monkeypatch.setattr(simulator, "enrol_roster", without_sealers)
    with pytest.raises(RuntimeError, match=r"simulated step seal of case .* holds no role"):
        simulate(f"sqlite:///{tmp_path}/g.db", 60, seed=3, days=60)


_PRACTICE_TOPICS = (
    "casestore.domain.window:",
    "casestore.domain.enquiry:",
    "casestore.domain.award:",
)


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> tuple[CasestoreApp, Any]:
    url = f"sqlite:///{tmp_path_factory.mktemp('sim')}/history.db"
    summary = simulate(url, 2000, seed=1)
    return CasestoreApp(url), summary


def test_every_supervision_rule_is_raised_in_2000_cases(history: tuple[CasestoreApp, Any]) -> None:
    """The supervision projection, rebuilt over the simulated log, raises every rule."""
    app, summary = history
    result = rebuild_projection(app, "supervision")
    assert result.position == app.log.head()[0]
    db = ViewDB(app.db_url)
    last_day = summary.last_day
    counts = SupervisionView(db).counts(today=last_day)
    flags = SupervisionView(db).flags(today=last_day)
    db.close()
    raised = {rule for rule, n in counts.items() if n["total"]}
    assert raised == set(RULES), sorted(set(RULES) - raised)
    assert set(summary.anomalies) == set(RULES)
    # Each flag names its evidence in the log; a small seeded share, not a flood.
    assert all(flag["evidence"] for flag in flags)
    decided = sum(1 for row in app.log.iter_log() if row.topic.endswith("Case.Decided"))
    assert counts["S02"]["total"] < 0.06 * decided and counts["S01"]["total"] < 0.12 * decided


def test_the_rules_agree_with_the_pure_functions(history: tuple[CasestoreApp, Any]) -> None:
    """The same flags from the pure rule functions over each case's folded facts."""
    app, summary = history
    cases: dict[Any, list[tuple[Any, int]]] = defaultdict(list)
    items: dict[Any, list[tuple[Any, int]]] = defaultdict(list)
    for row, event in app.iter_events():
        if row.topic.startswith("casestore.domain.case:"):
            cases[row.originator_id].append((event, row.position))
        elif row.topic.startswith("casestore.domain.catalogue:"):
            items[row.originator_id].append((event, row.position))
    cal = default_calendar()
    raised: Counter[str] = Counter()
    for case_id, events in cases.items():
        for flag in case_flags(CaseFacts.fold(str(case_id), events), cal, summary.last_day):
            raised[flag.rule] += 1
    for events in items.values():
        facts = ItemFacts()
        for event, position in events:
            facts = facts.apply(event, position)
        raised.update(flag.rule for flag in item_flags(facts))
    assert set(raised) == set(RULES), sorted(set(RULES) - set(raised))


def test_the_history_looks_like_a_bureaus(history: tuple[CasestoreApp, Any]) -> None:
    app, summary = history
    cal = default_calendar()
    kinds: Counter[str] = Counter()
    methods: Counter[str] = Counter()
    levels: Counter[int] = Counter()
    outcomes: Counter[str] = Counter()
    channels: Counter[str] = Counter()
    rest_day_staff: Counter[str] = Counter()
    submitted_on_rest_days: dict[Any, bool] = {}
    bundle_extensions: Counter[Any] = Counter()
    services: Counter[str] = Counter()
    practice: Counter[str] = Counter()
    for row, event in app.iter_events():
        name = type(event).__name__
        if row.topic.startswith(_PRACTICE_TOPICS):  # windows, enquiries, awards
            practice[row.topic.split(":")[-1]] += 1
            continue
        kinds[name] += 1
        if row.topic.endswith(":Bundle.ExtensionGranted"):
            bundle_extensions[row.originator_id] += 1
            assert event.actor.role == "approver" and event.days == 15
            assert cal.is_working_day(local_date(event.timestamp))
        if not row.topic.startswith("casestore.domain.case:"):
            continue
        if name == "Submitted":
            channels[event.channel] += 1
            practice["green_channel"] += bool(event.priority)
            assert event.channel != "cross_province" or event.receiving_region
            submitted_on_rest_days[row.originator_id] = event.extended_hours
        if name == "Delivered":
            methods[event.method] += 1
            assert event.method != "mail" or event.tracking_no
        if name == "Evaluated":
            levels[event.level] += 1
        if name == "ServiceProvided":  # 免费刻章, 免费邮寄 cost the applicant nothing
            services[event.service] += 1
            assert event.service == "copying" or event.charged_fen == 0
            assert event.bureau_cost_fen > 0
        if name == "Decided":
            outcomes[event.outcome] += 1
        staff = event.actor.role != "applicant" and event.actor.staff_id != "portal"
        if staff and not cal.is_working_day(local_date(event.timestamp)):
            rest_day_staff[name] += 1
            assert submitted_on_rest_days.get(row.originator_id), (name, event.timestamp)
    assert set(channels) == {
        "window",
        "online",
        "mobile",
        "mail",
        "appointment",
        "home_visit",
        "cross_province",
    }
    assert summary.bundles > 0 and kinds["Opened"] == summary.bundles
    assert bundle_extensions and max(bundle_extensions.values()) == 1  # some, each once
    assert kinds["Registered"] == kinds["Submitted"]
    for name in ("SupplementRequested", "SurveyConducted", "ClockSuspended", "ExtensionGranted"):
        assert kinds[name] > 0, name
    for name in ("Sealed", "BadReviewHandled", "FollowUpRecorded", "Corrected", "Revised"):
        assert kinds[name] > 0, name
    assert 0.4 < methods["mail"] / sum(methods.values()) < 0.6  # about half are mailed
    assert services["mailing"] == methods["mail"]  # every mailed result: postage recorded
    assert services["copying"] > 0 and services["seal_engraving"] > 0
    assert outcomes["approve"] > 10 * outcomes["deny"] > 0  # mostly approvals
    assert levels[1] + levels[2] > 0.8 * sum(levels.values()) and levels[4] + levels[5] > 0
    assert rest_day_staff["Submitted"] > 0  # extended hours on rest days happen
    # the hall's practice: ten windows, the 领导带班 rota, enquiries, awards
    assert practice["Window.Registered"] == 10 and practice["Window.PartyPostMarked"] == 2
    assert practice["Window.DutyAssigned"] > 50
    assert practice["Enquiry.Received"] >= practice["Enquiry.Answered"] > 0
    assert practice["Enquiry.Referred"] > 0 and practice["Award.Granted"] > 0
    assert 0 < practice["green_channel"] < 0.1 * kinds["Submitted"]  # 招商引资绿色通道
    assert summary.practice["enquiry"] == practice["Enquiry.Received"]


@pytest.mark.pg
def test_simulate_on_postgresql(pg_db_url: str, tmp_path: Path) -> None:
    summary = simulate(pg_db_url, 150, seed=3, days=60)
    local = simulate(f"sqlite:///{tmp_path}/same.db", 150, seed=3, days=60)
    assert summary.digest == local.digest  # the same history whatever the backend
    app = CasestoreApp(pg_db_url)
    assert verify(app).ok
    app.close()


def test_a_simulated_history_keeps_no_applicant_data_in_clear(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a master key every applicant's name, ID number and phone is stored sealed only:
    no stored event holds one in clear (an applicant's own rating once named them in its
    actor, which is never sealed, so a forget left the name in the log and its export)."""
    import base64
    import os

    monkeypatch.setenv("CASESTORE_CIPHER_KEY", base64.b64encode(os.urandom(32)).decode())
    url = f"sqlite:///{tmp_path}/k.db"
    simulate(url, 60, seed=3, days=60)
    app = CasestoreApp(url)
    try:
        rows = list(app.log.iter_log())
        cases = {r.originator_id for r in rows if r.topic.endswith(":Case.Submitted")}
        held = set()
        for case_id in cases:
            applicant = app.domain_events(case_id)[0].applicant
            held |= {applicant.name, applicant.id_number, applicant.phone} - {""}
        assert len(held) > 60  # the values were read back (keys in hand)
        evaluated = [r for r in rows if r.topic.endswith(":Case.Evaluated")]
        assert evaluated  # the simulator's ratings are there to check
        leaks = {v for r in rows for v in held if v.encode() in bytes(r.state)}
        assert leaks == set()
    finally:
        app.close()
