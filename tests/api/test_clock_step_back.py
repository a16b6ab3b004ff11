"""A server clock that steps back: recorded_at stays monotone, as-of reads and S07 stay true.

The writer floors each event's recorded_at at the log's last one, under the write lock
(SPEC §6, issue 12 item 5); the step back is counted on the recorder. Expected stages
and times are written by hand from the story below.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path

import pytest

from casestore.service import Accept, CaseService, Review, SubmitCase
from casestore.store.application import CasestoreApp
from tests.api.support import make_api
from tests.conftest import APPLICANT, CLERK, REVIEWER, FakeClock


def test_recorded_at_never_goes_back_and_as_of_reads_stay_true(
    app: CasestoreApp, service: CaseService, clock: FakeClock
) -> None:
    submitted = service.handle(
        SubmitCase(actor=CLERK, item_code="XK-003", applicant=APPLICANT)
    )  # 09:00
    case_id = submitted.case_id
    clock.advance(hours=1)
    service.handle(Accept(case_id=case_id, actor=CLERK))  # 10:00
    accepted_at = clock.now
    clock.advance(hours=-2)  # the server clock steps back to 08:00
    service.handle(Review(case_id=case_id, actor=REVIEWER, stage_name="审查", opinion="pass"))
    other = service.handle(
        SubmitCase(actor=CLERK, item_code="XK-003", applicant=APPLICANT)
    )  # still "08:00"

    rows = list(app.log.iter_log())
    times = [row.recorded_at_us for row in rows]
    assert times == sorted(times), "recorded_at goes back in position order"
    assert app.log.clock_steps_back >= 2  # the review and the second submission
    # 09:30 lies between the submission and the acceptance: the case was only received.
    half_past_nine = accepted_at - timedelta(minutes=30)
    assert service.case(case_id, as_of=half_past_nine).stage == "received"
    assert service.case(case_id, as_of=accepted_at + timedelta(seconds=1)).stage == ("under_review")
    assert service.case(other.case_id).stage == "received"
    # A restarted writer (no cache) floors at the stored head as well.
    fresh = CasestoreApp(app.db_url)
    try:
        CaseService(fresh, clock=clock).handle(Accept(case_id=other.case_id, actor=CLERK))
        again = [row.recorded_at_us for row in fresh.log.iter_log()]
        assert again == sorted(again) and fresh.log.clock_steps_back == 1
    finally:
        fresh.close()


def test_no_timestamp_inversion_flag_from_a_clock_step(tmp_path: Path) -> None:
    api = make_api(tmp_path / "api.db", workers=True)
    try:
        case_id = api.submit()["case_id"]
        api.clock.advance(hours=1)
        api.command(case_id, "accept", "clerk", {})
        api.clock.advance(hours=-3)  # NTP steps the clock back
        api.command(case_id, "review", "reviewer", {"stage_name": "审查", "opinion": "pass"})
        api.sync()
        flags = api.get("/supervision/flags", "inspector", params={"case": case_id}).json()
        assert "S07" not in {f["rule"] for f in flags["flags"]}, flags
        assert api.state.service.app.log.clock_steps_back >= 1
    finally:
        api.close()


def _clock_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "casestore.store" and r.levelno >= logging.WARNING
    ]


def test_concurrent_writer_skew_is_counted_silently_and_a_real_step_warns(
    app: CasestoreApp, service: CaseService, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    """Skew of a few hundred milliseconds (a command stamped before another one's commit)
    is floored and counted without a log line; a step back beyond ``CLOCK_STEP_WARN_US``
    warns once, and the next large step inside ``CLOCK_WARN_INTERVAL_S`` is only counted."""
    caplog.set_level(logging.DEBUG, logger="casestore.store")
    case_id = service.handle(
        SubmitCase(actor=CLERK, item_code="XK-003", applicant=APPLICANT)
    ).case_id
    clock.advance(hours=1)
    service.handle(Accept(case_id=case_id, actor=CLERK))
    clock.advance(milliseconds=-300)  # ordinary skew: well under one second
    service.handle(Review(case_id=case_id, actor=REVIEWER, stage_name="审查", opinion="pass"))
    assert app.log.clock_steps_back == 1
    assert app.log.clock_large_steps_back == 0
    assert _clock_warnings(caplog) == []

    clock.advance(hours=-2)  # the server clock steps back two hours
    service.handle(SubmitCase(actor=CLERK, item_code="XK-003", applicant=APPLICANT))
    warnings = _clock_warnings(caplog)
    assert len(warnings) == 1 and "server clock behind the log" in warnings[0], warnings
    assert app.log.clock_large_steps_back >= 1

    clock.advance(minutes=-5)  # steps again at once: counted, folded into the next warning
    before = app.log.clock_large_steps_back
    service.handle(SubmitCase(actor=CLERK, item_code="XK-003", applicant=APPLICANT))
    assert app.log.clock_large_steps_back > before
    assert len(_clock_warnings(caplog)) == 1


def test_skew_at_the_threshold_is_silent_and_just_past_it_warns(
    app: CasestoreApp, caplog: pytest.LogCaptureFixture
) -> None:
    """The threshold itself, on the recorder (as a batch reports it)."""
    caplog.set_level(logging.DEBUG, logger="casestore.store")
    log = app.log
    log._record_steps_back(3, 1_000_000)  # exactly one second: ordinary
    assert (log.clock_steps_back, log.clock_large_steps_back) == (3, 0)
    assert _clock_warnings(caplog) == []
    log._record_steps_back(2, 1_000_001)
    assert (log.clock_steps_back, log.clock_large_steps_back) == (5, 2)
    assert len(_clock_warnings(caplog)) == 1
