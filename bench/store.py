"""casestore measurements: commands per second, verify, as-of reads (and rebuild, HTTP).

A command here is what a clerk's click costs: ``CaseService.handle(Review(…))`` on
an existing accepted case — load the case (from the in-process cache, or the store on
a miss) and append one event through the group committer. Writers work on disjoint
cases, so no command conflicts.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

from casestore.domain import Actor
from casestore.service import Accept, CaseService, Review, SubmitCase
from casestore.simulation.seeded import SeededDraws, SimClock
from casestore.simulation.world import applicant
from casestore.store.application import CasestoreApp
from casestore.store.audit import verify

from .baselines import percentiles, run_threads

CLERK = Actor("bench-clerk", "clerk", window="W01")
REVIEWER = Actor("bench-reviewer", "reviewer")
PLAIN_ITEMS = ("XK-007", "XK-011", "XK-013", "XK-017")  # promised items without a survey


def catalogue_path() -> Path:
    """The bundled demo catalogue (installed or in the source tree)."""
    import casestore

    return Path(casestore.__file__).parent / "data" / "catalogue.json"


def accepted_cases(app: CasestoreApp, count: int) -> list[UUID]:
    """``count`` submitted and accepted cases, written 100 aggregates per transaction."""
    clock, draws = SimClock(datetime.now(UTC)), SeededDraws()
    service = CaseService(app, clock=clock, draws=draws)
    service.load_catalogue(catalogue_path(), Actor("bench-admin", "admin"))
    rng = random.Random()
    draws.rng = random.Random(rng.getrandbits(64))
    ids: list[UUID] = []
    pending: list[Any] = []
    for n in range(count):
        clock.now = datetime.now(UTC)
        code = PLAIN_ITEMS[n % len(PLAIN_ITEMS)]
        new = service.open_case(SubmitCase(actor=CLERK, item_code=code, applicant=applicant(rng)))
        case, index = new.case, new.index
        service.decide(Accept(case_id=case.id, actor=CLERK), case)
        pending += [case, index]
        ids.append(case.id)
        if len(pending) >= 100:
            app.save(*pending)
            pending = []
    if pending:
        app.save(*pending)
    return ids


def commands(app: CasestoreApp, cases: list[UUID], writers: int, seconds: float) -> float:
    """Commands per second from ``writers`` threads, each on its own slice of cases."""
    service = CaseService(app)
    slices = [cases[i::writers] for i in range(writers)]

    def work(index: int, keep_going: Callable[[], bool]) -> int:
        mine, done = slices[index], 0
        while keep_going():
            case_id = mine[done % len(mine)]
            service.handle(
                Review(case_id=case_id, actor=REVIEWER, stage_name="审查", opinion="pass")
            )
            done += 1
        return done

    return run_threads(writers, seconds, work)


def conflicting_commands(
    app: CasestoreApp, cases: list[UUID], writers: int, seconds: float
) -> dict[str, float]:
    """Every writer on the same few cases with ``expected_version``: conflicts are reported."""
    from casestore.domain import ConcurrencyConflict

    service = CaseService(app)
    hot = cases[:4]
    outcomes = {"ok": 0, "conflicts": 0}
    lock = threading.Lock()

    def work(index: int, keep_going: Callable[[], bool]) -> int:
        done = 0
        while keep_going():
            case_id = hot[done % len(hot)]
            version = service.case(case_id).version
            try:
                review = Review(
                    case_id=case_id,
                    actor=REVIEWER,
                    stage_name="复核",
                    opinion="pass",
                    expected_version=version,
                )
                service.handle(review)
                key = "ok"
            except ConcurrencyConflict:
                key = "conflicts"
            with lock:
                outcomes[key] += 1
            done += 1
        return done

    rate = run_threads(writers, seconds, work)
    return {"commands_per_s": rate, **outcomes}


def verify_rate(app: CasestoreApp, independent: bool = False) -> dict[str, float]:
    """Events per second of a full verification (and whether the log is intact)."""
    started = time.perf_counter()
    report = verify(app, independent=independent)
    elapsed = time.perf_counter() - started
    return {"events": report.events, "events_per_s": report.events / elapsed, "ok": report.ok}


def as_of_reads(app: CasestoreApp, cases: list[UUID], samples: int) -> dict[str, float]:
    """Latency of ``service.case(id, as_of=…)`` at a random past moment of a random case."""
    service = CaseService(app)
    rng = random.Random(11)
    now = datetime.now(UTC)
    times = []
    for _ in range(samples):
        case_id = rng.choice(cases)
        first = app.domain_events(case_id, upto_version=1)[0].timestamp
        moment = first + (now - first) * rng.random()
        started = time.perf_counter()
        service.case(case_id, as_of=moment)
        times.append(time.perf_counter() - started)
    return percentiles(times)


def optional(module: str, function: str) -> Callable[..., dict[str, Any]] | None:
    """A measurement another module provides, or None when it is not there (yet)."""
    import importlib

    try:
        found = importlib.import_module(module)
    except ImportError:
        return None
    fn = getattr(found, function, None)
    return fn if callable(fn) else None
