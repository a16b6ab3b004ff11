"""Verifiable-log benchmarks (issue 13), each beside its baseline in the same run.

    python -m casestore.bench.ledger --db postgresql://… [--events 1000000] [--seconds 20]

Runs in a scratch database on the server of ``--db`` (dropped afterwards; a SQLite URL
runs in a temporary file) and prints JSON:

- ``commands``: review commands/s from 8 writers without the ledger worker and with the
  tree worker and the checkpoint signer running (default cadence, 10 s), ``--repeats``
  pairs in alternating order (without first, then with first, …), both sides through the
  same client; each pair's ratio, their range, and the ratio of the medians; target:
  with / without ≥ 0.95. Beside them, steadier than throughput on a shared machine: the
  process's CPU µs per command on each side, and the ledger thread's own CPU seconds.
- ``merge_delay``: during the runs with the ledger, seconds from each acknowledged command
  to the first signed checkpoint covering its position (the certificate-transparency
  term); target p99 ≤ cadence + 2 s.
- ``catch_up``: the tree grown from zero over the whole log (its nodes and leaf tiles),
  events/s, against a raw ordered scan of the event table; target ≥ 0.5×.
- ``proofs``: latency of an inclusion proof (what ``GET /log/inclusion`` computes) and of
  a whole case proof (``GET /cases/{id}/proof``) at the log's size, from a store that
  keeps the stored nodes in memory as the API's does, ``--proof-repeats`` rounds (p50 and
  p99 of each round, and the 1-minute load average around them), beside the same
  pool's round trip of ``SELECT 1`` in the same rounds (the floor a loaded machine puts
  under any statement); targets at 1,000,000 events: p99 ≤ 5 ms and ≤ 20 ms. Samples run
  back to back, or with ``--pace-ms`` of sleep before each (all three kinds alike), as
  requests arriving apart find a server: a loop that never sleeps is preempted by the
  machine's other work every few ms of CPU, a process woken by a request seldom. Before
  them the tree is grown to the log's head and, for a tree grown before leaf tiles, its
  missing tiles are written as the ledger worker writes them (``tiles_backfill``).

Seed a large log once and measure it again without re-seeding: ``--keep`` runs in the
database ``--db`` names, as it is (seeded only up to ``--events``, never dropped), e.g.
``--db postgresql://…/ledger1m --keep --only proofs --events 1000000`` (the first run
seeds: ~10 minutes for 1,000,000 events on 2 cores; later runs take under a minute).

(Over 400 lines: the four measurements share one scratch store, its seeding and the
baselines each is printed beside, so they stay one bench.)
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any
from uuid import UUID

from casestore.domain import Case
from casestore.ledger import proofs
from casestore.ledger.config import LedgerConfig
from casestore.ledger.notes import SignerKey
from casestore.ledger.runner import LedgerRunner
from casestore.ledger.store import HEAD, NODES, LedgerStore
from casestore.ledger.workers import Cadence, Signer, TreeWorker
from casestore.service import CaseService, Review
from casestore.store.application import CasestoreApp

from .baselines import percentiles
from .rebuild import raw_scan, seed
from .store import REVIEWER, accepted_cases

ORIGIN = "casestore.bench/log"
WRITERS = 8


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True, help="a PostgreSQL server URL, or sqlite:")
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--cadence", type=float, default=10.0)
    parser.add_argument("--proof-repeats", type=int, default=3)
    parser.add_argument(
        "--pace-ms", type=float, default=0.0, help="sleep before each proof latency sample"
    )
    parser.add_argument("--skip-commands", action="store_true")
    parser.add_argument(
        "--keep",
        action="store_true",
        help="run in the database --db names, as is and kept (seeded only up to --events): "
        "seed a large log once, then measure it again without re-seeding",
    )
    parser.add_argument(
        "--only",
        choices=("all", "proofs"),
        default="all",
        help="proofs: only the proof latencies (no commands, no catch-up)",
    )
    parser.add_argument(
        "--pg", action="store_true", help="PostgreSQL from $CASESTORE_BENCH_PG or a throwaway"
    )
    args = parser.parse_args(argv)
    if args.only == "proofs":
        args.skip_commands = True
    if args.keep:
        print(json.dumps(run(args.db, args), indent=1))
        return
    if args.db.startswith("sqlite") and not args.pg:
        with TemporaryDirectory() as tmp:
            print(json.dumps(run(f"sqlite:///{Path(tmp) / 'bench.db'}", args), indent=1))
        return
    from .runner import _postgres

    with _postgres(args.db) as (scratch, origin):
        if scratch is None:
            raise SystemExit(f"no PostgreSQL database: {origin}")
        print(json.dumps(run(scratch, args), indent=1))


def run(url: str, args: argparse.Namespace) -> dict[str, Any]:
    key = SignerKey.generate(ORIGIN)
    config = LedgerConfig(ORIGIN, key, Cadence(args.cadence))
    app = CasestoreApp(url)
    out: dict[str, Any] = {"db": url.split("@")[-1], "cadence_s": args.cadence}
    try:
        if not args.skip_commands:
            cases = accepted_cases(app, 2000)
            out.update(commands_and_merge_delay(app, cases, config, args.seconds, args.repeats))
        started = time.perf_counter()
        seed(app, args.events)
        out["seeded"] = {"events": app.log.head()[0], "s": round(time.perf_counter() - started)}
        if args.only == "all":
            out["catch_up"] = catch_up(app)
        out["proofs"] = proof_latency(app, key, args.proof_repeats, args.pace_ms / 1000)
    finally:
        app.close()
    return out


def commands_and_merge_delay(
    app: CasestoreApp, cases: list[UUID], config: LedgerConfig, seconds: float, repeats: int
) -> dict[str, Any]:
    """Commands/s without and with the ledger runner (tree worker and signer), in turns.

    Both sides run the same client (:func:`acknowledged_commands`: 8 writers recording
    each acknowledgement, and the checkpoint watcher); only the runner differs. The order
    alternates per repeat (without first, then with first, …) so that drift, and the
    cases growing longer run after run, hit both sides alike; each repeat's ratio is
    with ÷ without of that pair. Merge delays come from the runs with the ledger only.
    """
    without: list[float] = []
    with_ledger: list[float] = []
    ratios: list[float] = []
    cpu: dict[bool, list[float]] = {False: [], True: []}  # process CPU µs per command
    thread_cpu: list[float | None] = []  # the ledger thread's CPU seconds in the window
    orders: list[str] = []
    load: list[float] = [os.getloadavg()[0]]
    delays: list[float] = []
    store = LedgerStore(app.db_url)
    try:
        for n in range(repeats):
            sides = (False, True) if n % 2 == 0 else (True, False)
            rates: dict[bool, float] = {}
            for ledger in sides:
                if not ledger:
                    run = acknowledged_commands(app, cases, seconds, store, None)
                else:
                    TreeWorker(store).catch_up()  # start each run with the tree at the head
                    runner = LedgerRunner(app, config).start()
                    try:
                        patience = config.cadence.seconds + 10
                        run = acknowledged_commands(
                            app, cases, seconds, store, patience, runner.thread
                        )
                    finally:
                        runner.stop()
                    delays += run.delays
                    thread_cpu.append(run.thread_cpu_s)
                rates[ledger] = run.rate
                cpu[ledger].append(run.cpu_s / max(1, run.commands) * 1e6)
            without.append(rates[False])
            with_ledger.append(rates[True])
            ratios.append(rates[True] / rates[False])
            orders.append("with first" if sides[0] else "without first")
            load.append(os.getloadavg()[0])
    finally:
        store.close()
    ratio = statistics.median(with_ledger) / statistics.median(without)
    return {
        "commands": {
            "order": orders,
            "without_ledger_per_s": [round(r) for r in without],
            "with_ledger_per_s": [round(r) for r in with_ledger],
            "ratio_per_repeat": [round(r, 3) for r in ratios],
            "ratio_range": [round(min(ratios), 3), round(max(ratios), 3)],
            "ratio_median_of_repeats": round(statistics.median(ratios), 3),
            "ratio": round(ratio, 3),
            "target": 0.95,
            "load_1min": [round(v, 1) for v in load],
            # CPU is steadier than throughput on a shared machine: what each command cost
            # the whole process (writers, watcher, and the ledger thread when it runs)
            "cpu_us_per_command_without": [round(v) for v in cpu[False]],
            "cpu_us_per_command_with": [round(v) for v in cpu[True]],
            "ledger_thread_cpu_s": [None if v is None else round(v, 2) for v in thread_cpu],
        },
        "merge_delay": {
            "samples": len(delays),
            "p50_s": round(_quantile(delays, 0.5), 2),
            "p99_s": round(_quantile(delays, 0.99), 2),
            "max_s": round(max(delays), 2) if delays else None,
            "target_p99_s": config.cadence.seconds + 2,
        },
    }


@dataclass
class Run:
    """One side's run: commands/s, merge delays (s), and CPU spent in its window."""

    rate: float
    commands: int
    delays: list[float]
    cpu_s: float  # this process, all threads, while the writers ran
    thread_cpu_s: float | None  # the ledger thread alone (Linux), same window


def acknowledged_commands(
    app: CasestoreApp,
    cases: list[UUID],
    seconds: float,
    store: LedgerStore,
    patience: float | None,
    ledger: threading.Thread | None = None,
) -> Run:
    """Commands/s from 8 writers, and each command's merge delay in seconds.

    A watcher polls the latest checkpoint every 50 ms from the start of the run; with
    ``patience`` it goes on until every acknowledged position is covered (or that many
    seconds after the run), and an event's merge delay is from its acknowledgement to the
    first poll that saw it covered. ``patience`` None (no ledger running): the same
    client work, no merge delays.
    """
    service = CaseService(app)
    slices = [cases[i::WRITERS] for i in range(WRITERS)]
    acked: list[list[tuple[int, float]]] = [[] for _ in range(WRITERS)]
    seen: list[tuple[float, int]] = []  # (time, checkpoint size), sizes only ever grow
    done = threading.Event()
    deadline = time.perf_counter() + seconds

    def work(index: int) -> None:
        mine, n = slices[index], 0
        while time.perf_counter() < deadline:
            command = Review(
                case_id=mine[n % len(mine)], actor=REVIEWER, stage_name="审查", opinion="pass"
            )
            result = service.handle(command)
            acked[index].append((result.position, time.monotonic()))
            n += 1

    def watch() -> None:
        while not done.wait(0.05):
            latest = store.latest_checkpoint()
            seen.append((time.monotonic(), latest.tree_size if latest else 0))

    watcher = threading.Thread(target=watch)
    watcher.start()
    cpu, own = os.times(), _thread_cpu(ledger)
    started = time.perf_counter()
    threads = [threading.Thread(target=work, args=(i,)) for i in range(WRITERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    after, own_after = os.times(), _thread_cpu(ledger)
    spent = (after.user - cpu.user) + (after.system - cpu.system)
    thread_s = own_after - own if own is not None and own_after is not None else None
    everything = [a for part in acked for a in part]
    rate = len(everything) / elapsed
    if patience is None:
        done.set()
        watcher.join()
        return Run(rate, len(everything), [], spent, thread_s)
    last = max((p for p, _ in everything), default=0)
    give_up = time.monotonic() + patience
    while time.monotonic() < give_up and not (seen and seen[-1][1] >= last):
        time.sleep(0.05)
    done.set()
    watcher.join()
    delays = []
    for position, at in everything:
        covered = next((t for t, size in seen if size >= position and t >= at), None)
        delays.append((covered if covered is not None else give_up) - at)
    return Run(rate, len(everything), delays, spent, thread_s)


def _thread_cpu(thread: threading.Thread | None) -> float | None:
    """CPU seconds a thread of this process has used (Linux ``/proc``; else None)."""
    if thread is None or thread.native_id is None:
        return None
    try:
        with open(f"/proc/self/task/{thread.native_id}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def catch_up(app: CasestoreApp) -> dict[str, Any]:
    """The tree grown from zero over the whole log, against a raw ordered scan (alternated)."""
    store = LedgerStore(app.db_url)
    raw: list[float] = []
    tree: list[float] = []
    try:
        for _ in range(2):
            raw.append(raw_scan(app.db_url)[1])
            with store.transaction() as conn:
                conn.execute(f"DELETE FROM {NODES}")
                conn.execute(f"DELETE FROM {HEAD}")
            started = time.perf_counter()
            grown = TreeWorker(store, batch=20_000).catch_up()
            tree.append(grown / (time.perf_counter() - started))
    finally:
        store.close()
    return {
        "raw_scan_rows_per_s": [round(r) for r in raw],
        "tree_events_per_s": [round(r) for r in tree],
        "ratio": round(statistics.median(tree) / statistics.median(raw), 3),
        "target": 0.5,
    }


def proof_latency(
    app: CasestoreApp, key: SignerKey, repeats: int = 3, pace: float = 0.0
) -> dict[str, Any]:
    """Inclusion and case proof latency, ``repeats`` rounds of 2000 and ~300 samples, from a
    store that keeps the stored nodes in memory as the API's does (its first proof loads
    them: reported apart as ``cold_first_ms``)."""
    grower = LedgerStore(app.db_url)
    try:
        worker = TreeWorker(grower)
        worker.catch_up()
        started = time.perf_counter()
        backfilled = worker.fill_tiles()
        backfill = {"tiles": backfilled, "s": round(time.perf_counter() - started, 1)}
        checkpoint = Signer(grower, key, ORIGIN).sign_now()
        assert checkpoint is not None
        size = checkpoint.tree_size
    finally:
        grower.close()
    store = LedgerStore(app.db_url, cache_nodes=True)  # as the API's
    rounds: list[dict[str, Any]] = []
    load = [os.getloadavg()[0]]
    try:
        rng = random.Random(13)
        started = time.perf_counter()
        proofs.inclusion(store, rng.randint(1, size), size)
        cold_ms = (time.perf_counter() - started) * 1000
        cases = [
            (r.originator_id, app.get(Case, r.originator_id).case_no)
            for r in _sample_rows(app, rng, 300)
            if r.version == 1
        ]
        events = 0
        for _ in range(repeats):
            inclusion = []
            for _ in range(2000):
                position = rng.randint(1, size)
                _pause(pace)
                started = time.perf_counter()
                proofs.inclusion(store, position, size)
                inclusion.append(time.perf_counter() - started)
            case_times = []
            rng.shuffle(cases)
            for case_id, case_no in cases:
                _pause(pace)
                started = time.perf_counter()
                doc = proofs.case_proof(store, case_id, case_no)
                case_times.append(time.perf_counter() - started)
                events += len(doc["events"])
            floor = []  # one trivial statement through the same pool: the machine's floor
            for _ in range(2000):
                _pause(pace)
                started = time.perf_counter()
                with store.connection() as conn:
                    conn.execute("SELECT 1").fetchall()
                floor.append(time.perf_counter() - started)
            rounds.append(
                {
                    "inclusion": percentiles(inclusion),
                    "case": percentiles(case_times),
                    "floor": percentiles(floor),
                }
            )
            load.append(os.getloadavg()[0])
    finally:
        store.close()

    def summary(kind: str, target: float, samples: int) -> dict[str, Any]:
        p50 = [r[kind]["p50_ms"] for r in rounds]
        p99 = [r[kind]["p99_ms"] for r in rounds]
        return {
            "p50_ms": [round(v, 2) for v in p50],
            "p99_ms": [round(v, 2) for v in p99],
            "p99_range_ms": [round(min(p99), 2), round(max(p99), 2)],
            "samples_per_round": samples,
            "target_p99_ms": target,
        }

    return {
        "tree_size": size,
        "pace_ms": pace * 1000,
        "tiles_backfill": backfill,
        "rounds": repeats,
        "load_1min": [round(v, 1) for v in load],
        "cold_first_ms": round(cold_ms, 1),
        "cached_nodes_bytes": store.cache.size_bytes() if store.cache else 0,
        "round_trip_select_1": summary("floor", 0, 2000),
        "inclusion": summary("inclusion", 5, 2000),
        "case_proof": {
            **summary("case", 20, len(cases)),
            "mean_events": round(events / max(1, repeats * len(cases)), 1),
        },
    }


def _pause(seconds: float) -> None:
    if seconds > 0:
        time.sleep(seconds)


def _sample_rows(app: CasestoreApp, rng: random.Random, n: int) -> list[Any]:
    """First events of random cases (a case's version 1 at a random place in the log)."""
    head = app.log.head()[0]
    rows = []
    for _ in range(n * 4):
        position = rng.randint(1, head)
        for row in app.log.iter_log(position - 1, upto=position + 50, page=60):
            if row.version == 1 and row.topic.endswith("Case.Submitted"):
                rows.append(row)
                break
        if len(rows) >= n:
            break
    return rows


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


if __name__ == "__main__":
    main()
