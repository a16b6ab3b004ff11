"""``casestore simulate``: a realistic bureau history on a simulated clock, fixed by a seed.

The same ``(cases, seed, start, days)`` always writes the same events with the same
ids, case numbers, query codes and times, so two fresh stores end with the same
``casestore digest``. (Without ``start`` the period ends today, so pass it when a
history must be reproduced.)

How it works: the catalogue is published a week before the period; every intake
(item drawn with Zipf-like popularity, channel, applicant, agent) is drawn from the
seed; each case's life is planned ahead from its own generator
(:mod:`casestore.simulation.plans`), with a seeded share of every supervision anomaly
(:mod:`casestore.simulation.anomalies`); then all steps run in time order, each by an
actor the grants in the log admit at that moment (:mod:`casestore.simulation.staffing`),
through the service's own permission checks and command handlers on a simulated clock, and their
events are appended in batches of about a thousand per transaction, keeping log order
equal to time order. Breaches no live command accepts go through
``Case.record_imported``, as the importer does. S14 is one catalogue revision at the
very end of the period (a later acceptance of that item is refused, as it must be).

(A little over 400 lines: the time-ordered run of every plan through the service's
handlers and its batching are one loop.)
"""

from __future__ import annotations

import hashlib
import heapq
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from casestore.authority import Authority
from casestore.bootstrap import open_store, settings_for
from casestore.domain import Bundle, Case, InvalidCommand
from casestore.domain.values import Actor, local_date
from casestore.querycode import Pepper, QueryPeppers
from casestore.service import (
    CASE_COMMANDS,
    CaseCommand,
    CaseService,
    ExtendBundle,
    LoadCatalogue,
    SubmitBundle,
    SubmitCase,
    TimedCommand,
)
from casestore.settings import Settings
from casestore.simulation import anomalies, practice
from casestore.simulation.plans import CHANNEL_WEIGHTS, CaseKey, CasePlanner, Intake, Step
from casestore.simulation.seeded import SeededDraws, SimClock
from casestore.simulation.staffing import Granted, enrol_roster
from casestore.simulation.world import (
    APPLICANT_HOURS,
    EXTENDED_HOURS,
    OFFICE_HOURS,
    Roster,
    WorkTime,
    maybe,
    pick,
    popularity,
)
from casestore.store.application import CasestoreApp
from casestore.timelimits.calendar import default_calendar

CATALOGUE = Path(__file__).parent / "data" / "catalogue.json"
FLUSH_EVENTS = 1000
_EVENING = ((17 * 60 + 30, 19 * 60),)


#: The 本级人民政府负责人 the simulated bureau's joint extensions are approved by.
JOINT_APPROVER = "旬阳市人民政府副市长（分管审批）"


@dataclass
class SimulationSummary:
    """What a simulation wrote; ``str()`` is the report ``casestore simulate`` prints."""

    cases: int
    bundles: int
    events: int
    first_day: date
    last_day: date
    seconds: float
    digest: str
    anomalies: dict[str, int] = field(default_factory=dict)
    channels: dict[str, int] = field(default_factory=dict)
    samples: list[tuple[str, str]] = field(default_factory=list)
    practice: dict[str, int] = field(default_factory=dict)
    """Practice commands by kind: window, party-post, duty, enquiry, answer, refer, close,
    award."""

    def __str__(self) -> str:
        rate = self.events / self.seconds if self.seconds else 0.0
        lines = [
            f"simulated {self.cases} cases ({self.bundles} bundles) from {self.first_day} "
            f"to {self.last_day}: {self.events} events in {self.seconds:.1f} s "
            f"({rate:,.0f} events/s)",
            "channels: " + ", ".join(f"{k} {v}" for k, v in sorted(self.channels.items())),
            "seeded anomalies: " + ", ".join(f"{k} {v}" for k, v in sorted(self.anomalies.items())),
            "practice: " + ", ".join(f"{k} {v}" for k, v in sorted(self.practice.items())),
            f"digest {self.digest}",
        ]
        lines += [f"try: case {no} with query code {code}" for no, code in self.samples]
        return "\n".join(lines)


def run_simulation(
    db_url: Settings | str,
    *,
    cases: int,
    seed: int,
    start: date | None,
    days: int,
    progress: bool,
    peppers: QueryPeppers | None = None,
) -> SimulationSummary:
    """Write a simulated history of ``cases`` intakes over ``days`` days into an empty store.

    Query codes are digested with ``peppers`` (default: the settings' query pepper, else
    one derived from the seed, so a simulated log is reproducible — and its codes are
    no secret: simulated data only).
    """
    if cases < 1 or days < 1:
        raise InvalidCommand("simulate needs --cases >= 1 and --days >= 1")
    settings = settings_for(db_url)
    if peppers is None:
        peppers = settings.peppers() or simulation_peppers(seed)
    began = time.perf_counter()
    app = open_store(settings)
    try:
        summary = _simulate(app, cases, seed, start, days, progress, peppers)
    finally:
        app.close()
    summary.seconds = time.perf_counter() - began
    return summary


def simulation_peppers(seed: int) -> QueryPeppers:
    """The pepper a simulation with ``seed`` uses when none is configured."""
    key = hashlib.sha256(f"casestore-simulation-pepper:{seed}".encode()).digest()
    return QueryPeppers([Pepper("sim", key)])


def _simulate(
    app: CasestoreApp,
    cases: int,
    seed: int,
    start: date | None,
    days: int,
    progress: bool,
    peppers: QueryPeppers,
) -> SimulationSummary:
    _require_empty(app)
    first_day = start or (local_date(datetime.now(UTC)) - timedelta(days=days))
    horizon = WorkTime.at(first_day + timedelta(days=days), 0)
    if start is None:
        horizon = min(horizon, datetime.now(UTC).replace(microsecond=0))
    work = WorkTime(default_calendar())
    roster = Roster(seed)
    clock = SimClock(WorkTime.at(first_day - timedelta(days=7), 9 * 60))
    draws = SeededDraws()
    service = CaseService(app, clock=clock, draws=draws, peppers=peppers)
    authority = Authority(app, clock)
    enrol_roster(authority, roster)
    granted = Granted(authority)
    with granted.acting(roster.admin, "catalogue") as admin:
        service.load_catalogue(CATALOGUE, admin)
    catalogue = _catalogue()
    planner = CasePlanner(
        catalogue["items"],
        {b["code"]: b for b in catalogue["bundles"]},
        roster,
        work,
        horizon,
    )
    planner.clock_config = service.clock_config  # plan legal dates as the write side judges
    intakes = draw_intakes(planner, cases, seed, first_day, horizon)
    chosen = anomalies.assign(_candidates(planner, intakes, horizon), cases, random.Random(seed))
    runner = _Runner(app, service, clock, draws, planner, seed, chosen, horizon, granted)
    threads = practice.practice_threads(roster, work, seed, first_day, horizon)
    return runner.run(intakes, progress, first_day, threads)


def _catalogue() -> dict[str, Any]:
    import json

    data: dict[str, Any] = json.loads(CATALOGUE.read_text(encoding="utf-8"))
    return data


def _require_empty(app: CasestoreApp) -> None:
    for row in app.log.iter_log(page=100):
        if not row.topic.startswith("casestore.domain.catalogue:"):
            raise InvalidCommand(
                "simulate writes into an empty store; this one already holds cases "
                "(use a fresh --db)"
            )


def draw_intakes(
    planner: CasePlanner, cases: int, seed: int, first_day: date, horizon: datetime
) -> list[Intake]:
    """Every intake of the period, in time order (each from its own seeded generator)."""
    items = list(planner.items)
    weights = popularity(items)
    bundles = sorted(planner.bundles)
    span = max(1, (local_date(horizon) - first_day).days + 1)
    work = planner.work
    result = []
    for n in range(cases):
        rng = random.Random(f"{seed}:intake:{n}")
        channel = pick(rng, CHANNEL_WEIGHTS)
        code = rng.choice(bundles) if channel == "bundle" else rng.choices(items, weights)[0]
        for _ in range(20):
            day = first_day + timedelta(days=rng.randrange(span))
            at = _intake_time(work, rng, channel, day)
            if at is not None and at < horizon:
                break
        else:
            continue  # the period is too short for this channel: no intake
        agent = channel != "bundle" and maybe(rng, 0.08)
        result.append(Intake(n, at, channel, code, agent))
    result.sort(key=lambda i: (i.at, i.n))
    return result


def _intake_time(work: WorkTime, rng: random.Random, channel: str, day: date) -> datetime | None:
    working = work.working(day)
    if channel in ("online", "mobile"):
        return work.in_hours(rng, day, APPLICANT_HOURS)
    if channel == "extended":
        return work.in_hours(rng, day, _EVENING if working else EXTENDED_HOURS)
    if not working:
        return None
    return work.in_hours(rng, day, OFFICE_HOURS)


def _candidates(
    planner: CasePlanner, intakes: list[Intake], horizon: datetime
) -> list[anomalies.Candidate]:
    end = local_date(horizon)
    cal = planner.cal
    return [
        anomalies.Candidate(
            i.n, planner.items[i.code], cal.working_days_between(local_date(i.at), end)
        )
        for i in intakes
        if i.channel != "bundle"
    ]


class _Runner:
    """Runs every planned step in time order and appends the events in batches."""

    def __init__(
        self,
        app: CasestoreApp,
        service: CaseService,
        clock: SimClock,
        draws: SeededDraws,
        planner: CasePlanner,
        seed: int,
        chosen: dict[int, str],
        horizon: datetime,
        granted: Granted,
    ) -> None:
        self.app, self.service, self.planner = app, service, planner
        self.granted = granted
        self.clock, self.draws = clock, draws
        self.seed, self.chosen, self.horizon = seed, chosen, horizon
        self.cases: dict[CaseKey, Case] = {}
        self.open_bundles: dict[int, Bundle] = {}  # intake number -> its bundle
        self.pending: list[Any] = []
        self.events = 0
        self.seeded: Counter[str] = Counter()
        self.channels: Counter[str] = Counter()
        self.bundles = 0
        self.samples: list[tuple[str, str]] = []
        self.enquiries: dict[Any, UUID] = {}
        self.practice: Counter[str] = Counter()
        self.last_at = horizon - timedelta(seconds=2)

    def run(
        self,
        intakes: list[Intake],
        progress: bool,
        first_day: date,
        threads: list[list[Step]] = (),  # type: ignore[assignment]
    ) -> SimulationSummary:
        heap: list[tuple[datetime, int, int, Intake | None, list[Step]]] = [
            (i.at, i.n, -1, i, []) for i in intakes
        ]
        # The hall's practice (windows, rota, enquiries, awards): threads of steps
        # numbered after every intake, interleaved by time.
        heap += [(t[0].at, _PRACTICE + k, 0, None, t) for k, t in enumerate(threads) if t]
        heapq.heapify(heap)
        start = WorkTime.at(first_day, 0)
        total = (self.horizon - start).total_seconds()
        with Progress(
            TextColumn("simulating {task.description}"),
            BarColumn(),
            TextColumn("{task.percentage:>3.0f}%"),
            TimeElapsedColumn(),
            disable=not progress,
            transient=True,
        ) as bar:
            task = bar.add_task(str(first_day), total=total)
            while heap:
                at, n, index, intake, steps = heapq.heappop(heap)
                if index < 0:
                    assert intake is not None
                    steps = self.planner.plan(intake, self.chosen.get(n), self.seed)
                    self.channels[intake.channel] += 1
                    self.bundles += intake.channel == "bundle"
                    self.seeded[self.chosen.get(n, "")] += n in self.chosen
                else:
                    self._step(steps[index])
                if index + 1 < len(steps):
                    heapq.heappush(heap, (steps[index + 1].at, n, index + 1, intake, steps))
                else:
                    self._forget(steps)
                if len(self.pending) >= FLUSH_EVENTS:
                    self._flush()
                    bar.update(
                        task,
                        completed=(at - start).total_seconds(),
                        description=str(local_date(at)),
                    )
            self._revise_catalogue()
            self._flush()
        position, chain = self.app.log.head()
        del self.seeded[""]
        return SimulationSummary(
            cases=sum(self.channels.values()),
            bundles=self.bundles,
            events=self.events,
            first_day=first_day,
            last_day=local_date(self.horizon - timedelta(microseconds=1)),
            seconds=0.0,
            digest=f"{position}:{(chain or bytes(32)).hex()}",
            anomalies=dict(self.seeded),
            channels=dict(self.channels),
            samples=self.samples,
            practice=dict(self.practice),
        )

    def _step(self, step: Step) -> None:
        self.clock.now = step.at
        try:
            if step.action.startswith("import:"):
                self._import(step)
            elif step.action.startswith("practice:"):
                with self.granted.acting(step.actor, practice.role_action(step)) as actor:
                    self._practice(step, actor)
            else:
                with self.granted.acting(step.actor, step.action) as actor:
                    self._live(step, actor)
        except Exception as e:
            raise RuntimeError(
                f"simulated step {step.action} of case {step.key} at {step.at}: {e}"
            ) from e
        self.last_at = step.at

    def _import(self, step: Step) -> None:
        self.cases[step.key].record_imported(
            step.action.removeprefix("import:"),
            actor=step.actor,
            at=step.at,
            occurred_at=step.occurred_at,
            fields=dict(step.payload),
        )
        self._collect(self.cases[step.key])

    def _practice(self, step: Step, actor: Actor) -> None:
        """A practice command (window, rota, enquiry, award), after what came before."""
        self._flush()  # the practice command is written now, after what came before
        action = step.action
        command: Any = practice.command(step, self.enquiries, actor)
        result = self.service.handle(command)
        if action == "practice:enquiry":
            self.enquiries[step.key] = result.case_id
        self.events += 1
        self.practice[action.removeprefix("practice:")] += 1

    def _live(self, step: Step, actor: Actor) -> None:
        """One command as the service runs it, by the actor the grants admit."""
        service = self.service
        action = step.action
        if action == "submit":
            self.draws.rng = random.Random(f"{self.seed}:ids:{step.key}")
            new = service.open_case(SubmitCase(actor=actor, **step.payload))
            self.cases[step.key] = new.case
            self._collect(new.case, new.index)
            if len(self.samples) < 3:
                self.samples.append((new.case.case_no, new.query_code))
        elif action == "submit-bundle":
            self.draws.rng = random.Random(f"{self.seed}:ids:{step.key}")
            p = step.payload
            opened = service.open_bundle(
                SubmitBundle(
                    actor=actor,
                    bundle_code=p["bundle_code"],
                    applicant=p["applicant"],
                    materials=p["materials"],
                )
            )
            self._collect(opened.bundle)
            self.open_bundles[step.key[0]] = opened.bundle
            for child, new in enumerate(opened.children):
                self.cases[(step.key[0], child)] = new.case
                self._collect(new.case, new.index)
        elif action == "bundle-extend":
            bundle = self.open_bundles[step.key[0]]
            self._flush()  # the joint clock reads the children's pauses from the store
            extend = ExtendBundle(
                actor=actor,
                bundle_id=bundle.id,
                reason=step.payload["reason"],
                approved_by=JOINT_APPROVER,
                approval_document=f"旬政审〔{local_date(step.at).year}〕{step.key[0]}号",
                applicant_told_at=step.at,
                told_how="electronic",
            )
            service.decide(extend, bundle)
            self._collect(bundle)
        else:
            case = self.cases[step.key]
            service.decide(_command(step, case.id, actor), case)
            self._collect(case)

    def _collect(self, *aggregates: Case | Bundle | Any) -> None:
        for aggregate in aggregates:
            self.pending.extend(aggregate.collect_events())

    def _forget(self, steps: list[Step]) -> None:
        for key in {s.key for s in steps}:
            self.cases.pop(key, None)
        if steps and steps[0].action == "submit-bundle":
            n = steps[0].key[0]
            for key in [k for k in self.cases if k[0] == n]:
                self.cases.pop(key)
            self.open_bundles.pop(n, None)

    def _flush(self) -> None:
        if self.pending:
            self.service.record(self.pending)
            self.events += len(self.pending)
            self.pending = []

    def _revise_catalogue(self) -> None:
        """S14: the least asked-for item is revised to promise more than the law allows."""
        self._flush()
        code = list(self.planner.items)[-1]
        statutory = int(self.service.item(code).spec["statutory_days"])
        self.clock.now = max(self.horizon - timedelta(seconds=1), self.last_at)
        with self.granted.acting(self.planner.roster.admin, "catalogue") as admin:
            self.service.handle(
                LoadCatalogue(
                    actor=admin,
                    items=[{"code": code, "promised_days": statutory + 5}],
                    reason="窗口承诺提速调整（待复核）",
                )
            )
        self.events += 1
        self.seeded[anomalies.CATALOGUE_RULE] += 1


#: Heap numbers of practice threads (after every intake number).
_PRACTICE = 10**9


def _command(step: Step, case_id: UUID, actor: Actor) -> CaseCommand:
    """The typed command a planned step names (``action`` is its role-matrix name)."""
    cls = CASE_COMMANDS[step.action]
    if issubclass(cls, TimedCommand):
        return cls(case_id=case_id, actor=actor, occurred_at=step.occurred_at, **step.payload)
    return cls(case_id=case_id, actor=actor, **step.payload)
