"""A realistic command workload for projection tests (and a check that it is varied).

Imported by the other ``test_projection_*`` modules: a simulated clock, the bureau's
staff, and random case lifecycles driven through :class:`CaseService`, so every
projection test runs on events the write side really produces.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

from casestore.projections.engine.base import Projection
from casestore.projections.engine.db import ViewDB, snapshot
from casestore.projections.runtime.logsource import LogSource
from casestore.projections.runtime.worker import rebuild_into

from casestore.domain import Actor
from casestore.domain.values import Party
from casestore.service import CASE_COMMANDS, CaseService, SubmitCase
from casestore.store.application import CasestoreApp

CATALOGUE = Path(__file__).parents[2] / "src" / "casestore" / "data" / "catalogue.json"
ITEMS = ("XK-001", "XK-003", "XK-004", "XK-006")
CLERKS = [Actor(f"c{n}", "clerk", f"clerk {n}", f"W0{n}") for n in range(1, 4)]
REVIEWER = Actor("r1", "reviewer", "reviewer", "")
APPROVER = Actor("a1", "approver", "approver", "")
SEALER = Actor("s1", "sealer", "sealer", "")
DISPATCHER = Actor("d1", "dispatcher", "dispatcher", "W09")
ADMIN = Actor("admin", "admin", "admin", "")


class SimClock:
    """A thread-safe simulated clock: each reading is one second after the last."""

    def __init__(self, start: datetime = datetime(2025, 3, 3, 1, 0, tzinfo=UTC)) -> None:
        self.now = start
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            self.now += timedelta(seconds=1)
            return self.now

    def jump_to(self, moment: datetime) -> None:
        with self._lock:
            self.now = max(self.now, moment)


def open_service(url: str, clock: Callable[[], datetime] | None = None) -> CaseService:
    """A service on ``url`` with the demo catalogue published."""
    service = CaseService(CasestoreApp(url), clock=clock or SimClock())
    service.load_catalogue(CATALOGUE, ADMIN)
    return service


def drive_case(service: CaseService, rng: random.Random) -> UUID:
    """One case through a random but legal lifecycle; returns its id."""
    clerk = rng.choice(CLERKS)
    sub = service.handle(
        SubmitCase(
            actor=clerk,
            item_code=rng.choice(ITEMS),
            applicant=Party("王小明", "resident_id", "110101199001011234"),
            channel=rng.choice(["window", "online", "mobile"]),
        )
    )
    cid = sub.case_id

    def do(action: str, actor: Actor, **payload: Any) -> None:
        service.handle(CASE_COMMANDS[action](case_id=cid, actor=actor, **payload))

    roll = rng.random()
    if roll < 0.2:
        do("supplement-request", clerk, missing=["营业执照副本"])
        if rng.random() < 0.3:
            do("withdraw", clerk, reason="applicant withdrew")
            return cid
        do("supplement", clerk, materials=["营业执照副本"])
    if roll > 0.9:
        do("reject", clerk, reasons=["not in scope"], legal_basis="Art. 32")
        return cid
    do("accept", clerk)
    if rng.random() < 0.3:
        return cid  # still in progress
    do("review", REVIEWER, stage_name="审查", opinion="pass")
    if rng.random() < 0.2:
        do("suspend", REVIEWER, kind="expert_review", legal_basis="Art. 45")
        if rng.random() < 0.5:
            return cid  # suspended
        do("resume", REVIEWER, result="expert opinion received")
    if rng.random() < 0.15:
        do("decide", APPROVER, outcome="deny", reasons=["unsafe"], remedies="复议 60 days")
        return cid
    do("decide", APPROVER, outcome="approve")
    do(
        "seal",
        SEALER,
        seal_id="XZSP-SEAL-001",
        document_no=f"D-{sub.case_no}",
        certificate_no=f"C-{sub.case_no}",
        valid_until=None,
        document_sha256="ab" * 32,
    )
    if rng.random() < 0.2:
        return cid
    do("deliver", DISPATCHER, method="window_pickup", recipient="王小明")
    level = rng.choice([1, 1, 2, 3, 5])
    do("evaluate", clerk, level=level, channel="window")
    if level >= 4:
        do("bad-review", APPROVER, verification="checked", rectification="retrained")
    return cid


def drive(service: CaseService, cases: int, seed: int) -> list[UUID]:
    """``cases`` lifecycles, one after another."""
    rng = random.Random(seed)
    return [drive_case(service, rng) for _ in range(cases)]


def drive_concurrently(service: CaseService, threads: int, cases_each: int, seed: int) -> None:
    """``threads`` writers at once; re-raises the first writer error."""
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            drive(service, cases_each, seed * 100 + n)
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    pool = [threading.Thread(target=writer, args=(n,)) for n in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    if errors:
        raise errors[0]


def fresh_rebuild(
    app: CasestoreApp, db: ViewDB, projection: Projection[Any], target: str = "fresh"
) -> dict[str, list[tuple[Any, ...]]]:
    """A full rebuild from zero into ``target``, as a snapshot."""
    source = LogSource(app)
    try:
        rebuild_into(source, db, projection, target=target, batch=700)
    finally:
        source.close()
    return snapshot(db, projection, target)


def test_the_workload_reaches_every_status(tmp_path: Path) -> None:
    service = open_service(f"sqlite:///{tmp_path}/w.db")
    from casestore.domain import Case

    stages = {service.app.get(Case, cid).stage for cid in drive(service, 60, seed=7)}
    assert {"delivered", "sealed", "accepted", "denied", "rejected", "withdrawn"} <= stages
