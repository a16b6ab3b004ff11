"""Rebuild throughput against a raw ordered scan of the same log, and memory while it runs.

``measure_rebuild(db_url, events)`` seeds the log up to ``events`` events (synthetic
case lifecycles, interleaved the way a busy hall interleaves them, saved through the
event store in large transactions), then on the same database in the same run:

- baseline: a raw ``SELECT ... FROM casestore_events ORDER BY notification_id`` read
  to the end with psycopg (server-side cursor, binary) or sqlite3, rows/s;
- each projection rebuilt from zero into a side target (the live view is untouched),
  events/s, and the ratio ``rebuild events/s ÷ raw rows/s`` (target ≥ 0.25);
- peak resident memory above the level before a projection's first rebuild, sampled
  every 20 ms, while rebuilding the first quarter of the log and then the whole log:
  equal figures mean memory does not grow with the log (pages are streamed, never
  loaded whole; the bounded row cache and two pages in flight are all it holds).

The machine may be shared, so the raw scan is repeated after every rebuild and each
ratio uses the mean of the scans just before and just after it; ``--repeat N`` rebuilds
each projection N times and reports the range of its ratios.

Before measuring, the log's Merkle tree is grown to its head (``TreeWorker.catch_up``, as
the ledger worker of ``casestore serve`` and ``project run`` keeps it): a rebuild then binds
each batch to the stored tree's root with one read, as it does on a running bureau's log,
instead of hashing the events itself (``projections/runtime/treebind.py``). ``--no-tree``
measures a log whose tree was never grown (about two SHA-256 per event more).

``--floor`` also measures the read side's own floor, with no projection at all: the log
read page by page into ``LogEvent`` objects (what every rebuild pays before its fold),
then the same with each event's actor and time decoded (the narrowest decode, all the
audit trail needs). Their ratios to the raw scan bound every rebuild's from above: a
projection's fold and writes come on top (issue 11's closing note: on SQLite this floor
is 0.35 of the raw scan, where the target for a whole rebuild is 0.25).

Every registered projection is measured unless ``--only`` names some. ``--events 0``
measures the log as it stands (e.g. one written by ``casestore simulate`` and copied to
the other backend with ``python -m casestore.bench.copylog``); ``--db`` may be given once
per backend.

Run: ``python -m casestore.bench.rebuild --db postgresql://... --events 1000000``, or on
a simulated log: ``--db sqlite:///sim.db --db postgresql://.../sim --events 0 --repeat 2``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import uuid4

from casestore.projections.engine.db import ViewDB, drop_target
from casestore.projections.runtime.logsource import LogSource
from casestore.projections.runtime.registry import all_projections, get_projection
from casestore.projections.runtime.worker import rebuild_into

from casestore.bootstrap import open_store
from casestore.domain import Actor, Case, ItemLimits, Party
from casestore.domain.index import CaseNumber
from casestore.store.application import CasestoreApp
from casestore.store.recorders import EVENTS_TABLE

PROJECTIONS: tuple[str, ...] = ()  # every registered projection
CLERK = Actor("c1", "clerk", "clerk", "W01")
STAFF = {
    "review": Actor("r1", "reviewer"),
    "decide": Actor("a1", "approver"),
    "seal": Actor("s1", "sealer"),
    "deliver": Actor("d1", "dispatcher", "", "W09"),
}
LIMITS = ItemLimits(statutory_days=20, promised_days=10)
OPEN_CASES = 2000  # cases in progress at once: each save advances a slice of them
PER_SAVE = 500


def _steps(case: Case, at: datetime) -> Iterator[None]:
    """One lifecycle (9 case events), one event per ``next``."""
    case.accept(
        notice_no="N", limits=LIMITS, promised_completion=date(2025, 3, 20), actor=CLERK, at=at
    )
    yield
    case.record_review(stage_name="审查", opinion="pass", actor=STAFF["review"], at=at)
    yield
    case.decide(outcome="approve", actor=STAFF["decide"], at=at)
    yield
    case.seal(
        seal_id="S",
        document_no="D",
        certificate_no="C",
        valid_until=None,
        document_sha256="ab" * 32,
        approval_seal_id="S",
        actor=STAFF["seal"],
        at=at,
    )
    yield
    case.deliver(method="window_pickup", recipient="R", actor=STAFF["deliver"], at=at)
    yield
    case.evaluate(level=1, channel="window", actor=CLERK, at=at)
    yield
    case.record_follow_up(satisfied=True, actor=CLERK, at=at)
    yield
    case.correct(
        corrects_version=1,
        fact="materials",
        wrong_value="a",
        correct_value="b",
        reason="typo",
        actor=CLERK,
        at=at,
    )
    yield


def seed(app: CasestoreApp, events: int, progress: Callable[[int], None] | None = None) -> int:
    """Append synthetic lifecycles until the log holds at least ``events`` events."""
    head = app.log.head()[0]
    at = datetime(2025, 3, 3, 1, tzinfo=UTC)
    running: list[tuple[Case, Iterator[None]]] = []
    serial = head
    while head < events:
        batch: list[Any] = []
        while len(running) < OPEN_CASES:
            serial += 1
            case_id, case_no = uuid4(), f"BENCH{serial:012d}"
            case = Case.submit(
                case_id=case_id,
                case_no=case_no,
                query_code_hash="-",
                item_code="XK-003",
                applicant=Party("张三", "resident_id", "110101199001011234"),
                actor=CLERK,
                at=at,
            )
            batch += [CaseNumber.register(case_no, case_id, CLERK, at)]
            running.append((case, _steps(case, at)))
        at += timedelta(seconds=1)
        touched = running[:PER_SAVE]
        running = running[PER_SAVE:]
        for case, steps in touched:
            if next(steps, StopIteration) is not StopIteration:
                running.append((case, steps))
            batch.append(case)
        app.save(*batch)
        head = app.log.head()[0]
        if progress is not None:
            progress(head)
    return head


def raw_scan(url: str) -> tuple[int, float]:
    """(rows, rows/s) of a plain ordered read of the whole log."""
    sql = (
        "SELECT notification_id, originator_id, originator_version, topic, state, "
        f"recorded_at, event_hash, chain_hash FROM {EVENTS_TABLE} ORDER BY notification_id"
    )
    rows = 0
    started = time.perf_counter()
    if url.startswith("sqlite"):
        import sqlite3

        from casestore.store.config import eventsourcing_env

        lite = sqlite3.connect(eventsourcing_env(url)["SQLITE_DBNAME"])
        for _ in lite.execute(sql):
            rows += 1
        lite.close()
    else:
        import psycopg

        with psycopg.connect(url) as pg, pg.cursor(name="bench_scan", binary=True) as cur:
            cur.itersize = 10_000
            cur.execute(sql)
            for _ in cur:
                rows += 1
    return rows, rows / (time.perf_counter() - started)


class RssSampler:
    """Peak resident set size above ``base`` (default: the level at start), sampled."""

    def __init__(self, interval: float = 0.02, base: int | None = None) -> None:
        self.interval = interval
        self.base = _rss() if base is None else base
        self.peak = self.base
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak = max(self.peak, _rss())

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss())

    @property
    def growth_mb(self) -> float:
        return (self.peak - self.base) / 2**20


def _grow_tree(db_url: str) -> float:
    """Grow the log's Merkle tree to its head as the ledger worker does; the seconds."""
    from casestore.ledger.store import LedgerStore
    from casestore.ledger.workers import TreeWorker

    started = time.perf_counter()
    store = LedgerStore(db_url)
    try:
        TreeWorker(store).catch_up()
    finally:
        store.close()
    return time.perf_counter() - started


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def read_floor(source: LogSource, batch: int, *, actor: bool) -> float:
    """Events/s of reading the whole log into ``LogEvent`` pages, no projection (with
    ``actor``: each event's actor and time decoded too, the narrowest decode)."""
    events = 0
    started = time.perf_counter()
    for page in source.pages(0, batch, personal=False):
        if actor:
            for event in page:
                event.actor()
        events += len(page)
    return events / (time.perf_counter() - started)


def _floor(db_url: str, source: LogSource, batch: int, repeat: int) -> dict[str, Any]:
    """The read side's floor against raw scans on either side of each pass."""
    out: dict[str, Any] = {}
    for label, actor in (("events", False), ("events_and_actor", True)):
        ratios, rates = [], []
        for _ in range(max(1, repeat)):
            before = raw_scan(db_url)[1]
            rates.append(read_floor(source, batch, actor=actor))
            ratios.append(rates[-1] / ((before + raw_scan(db_url)[1]) / 2))
        out[label] = {
            "events_per_s": round(statistics.median(rates)),
            "ratio_to_raw_scan": round(statistics.median(ratios), 3),
            "ratio_range": [round(min(ratios), 3), round(max(ratios), 3)],
        }
    return out


def measure_rebuild(
    db_url: str,
    events: int,
    *,
    names: tuple[str, ...] = PROJECTIONS,
    batch: int = 10_000,
    repeat: int = 1,
    tree: bool = True,
    floor: bool = False,
) -> dict[str, Any]:
    """Seed to ``events``, then measure raw scan and rebuild rates and memory (see module doc)."""
    names = names or tuple(p.name for p in all_projections())
    app = open_store(db_url)
    started = time.perf_counter()
    head = seed(app, events)
    seeded_s = time.perf_counter() - started
    tree_s = _grow_tree(db_url) if tree else None
    db = ViewDB(db_url)
    source = LogSource(app)
    result: dict[str, Any] = {
        "backend": app.backend,
        "events": head,
        "seed_seconds": round(seeded_s, 1),
        "tree": "grown to the head" if tree else "not grown",
        "tree_seconds": None if tree_s is None else round(tree_s, 1),
        "batch": batch,
        "projections": {},
    }
    try:
        if floor:
            result["floor"] = _floor(db_url, source, batch, repeat)
        rows, raw_before = raw_scan(db_url)
        result["raw_scan_rows"] = rows
        scans = [raw_before]
        for name in names:
            projection = get_projection(name)
            base = _rss()  # one baseline for both sizes: Python keeps what it once took
            with RssSampler(base=base) as quarter:
                rebuild_into(source, db, projection, target="bench", upto=head // 4, batch=batch)
            drop_target(db, projection, "bench")
            rates: list[float] = []
            raws: list[float] = []
            ratios: list[float] = []
            full_growth = 0.0
            for _ in range(max(1, repeat)):
                with RssSampler(base=base) as full:
                    t0 = time.perf_counter()
                    built = rebuild_into(
                        source, db, projection, target="bench", upto=head, batch=batch
                    )
                    seconds = time.perf_counter() - t0
                drop_target(db, projection, "bench")
                full_growth = max(full_growth, full.growth_mb)
                # The machine is shared: scan again right after and compare with the mean
                # of the scans on either side of this rebuild.
                scans.append(raw_scan(db_url)[1])
                raws.append((scans[-2] + scans[-1]) / 2)
                rates.append(built.events / seconds)
                ratios.append(rates[-1] / raws[-1])
            result["projections"][name] = {
                "events_per_s": round(statistics.median(rates)),
                "raw_scan_rows_per_s": round(statistics.median(raws)),
                "ratio_to_raw_scan": round(statistics.median(ratios), 3),
                "ratio_range": [round(min(ratios), 3), round(max(ratios), 3)],
                "rss_peak_growth_mb_quarter_log": round(quarter.growth_mb, 1),
                "rss_peak_growth_mb_full_log": round(full_growth, 1),
            }
        result["raw_scan_rows_per_s"] = [round(r) for r in scans]
    finally:
        source.close()
        db.close()
        app.close()
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True, action="append", help="once per backend")
    parser.add_argument(
        "--events", type=int, default=100_000, help="seed up to this many (0: the log as is)"
    )
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--only", nargs="*", default=list(PROJECTIONS))
    parser.add_argument(
        "--no-tree", action="store_true", help="do not grow the log's Merkle tree first"
    )
    parser.add_argument(
        "--floor", action="store_true", help="also measure the read side's floor (no projection)"
    )
    args = parser.parse_args(argv)
    for url in args.db:
        result = measure_rebuild(
            url,
            args.events,
            names=tuple(args.only),
            batch=args.batch,
            repeat=args.repeat,
            tree=not args.no_tree,
            floor=args.floor,
        )
        print(json.dumps(result, indent=2), flush=True)


if __name__ == "__main__":
    main()
