"""What per-subject keys cost (issue 18): commands and rebuilds with personal fields sealed
under each subject's data key (``CASESTORE_CIPHER_KEY`` set) against the same work in
clear, in the same run on the same backend.

Each round opens two fresh logs side by side, one per mode, and writes ``cases`` whole
lifecycles into each (submit with a new applicant, accept, review, decide, seal, deliver
naming the recipient: two of the six commands carry personal data, and every new
applicant creates and links a data key) through ``CaseService.handle``, alternating
between the modes every ten cases; then it rebuilds every projection from zero into a
side target, alternating per projection, with the key caches emptied before each
rebuild (every token opened anew). The machine is shared: fine alternation puts a burst
of load on both modes. ``--repeats`` rounds give one ratio per round and their range.
Targets (issue 18): commands ≥ 0.9× and rebuilds ≥ 0.9× of the clear log's.

    python -m casestore.bench.forget --dir /tmp/bench-forget --cases 300 --repeats 3

By default both logs are SQLite files in ``--dir`` (on ``/dev/shm`` no command waits for
a disk, so the sealing's CPU weighs most: the harshest case). ``--pg URL`` (a server URL
whose user may create databases) runs the same work on PostgreSQL, the deployed backend,
in two scratch databases per round, dropped after it.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import random
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from casestore.projections.engine.db import ViewDB, drop_target
from casestore.projections.runtime.logsource import LogSource
from casestore.projections.runtime.registry import all_projections
from casestore.projections.runtime.worker import rebuild_into

from casestore.domain import Actor
from casestore.service import Accept, CaseService, Review, SubmitCase
from casestore.service.commands import Decide, Deliver, Seal
from casestore.simulation.seeded import SeededDraws, SimClock
from casestore.simulation.world import applicant
from casestore.store.application import CasestoreApp

from .runner import create_scratch, drop_scratch
from .store import PLAIN_ITEMS, catalogue_path

CLERK = Actor("c1", "clerk", "clerk", "W01")
REVIEWER = Actor("r1", "reviewer")
APPROVER = Actor("a1", "approver")
SEALER = Actor("s1", "sealer")
DISPATCHER = Actor("d1", "dispatcher", "", "W09")
KEY_VARIABLE = "CASESTORE_CIPHER_KEY"
MODES = ("plain", "keys")


def _lifecycles(service: CaseService, cases: range, seed: int) -> int:
    """Whole lifecycles for ``cases`` (their numbers) through the service; the commands."""
    rng = random.Random(seed * 1_000_003 + cases.start)
    done = 0
    for n in cases:
        person = applicant(rng)
        sub = service.handle(
            SubmitCase(actor=CLERK, item_code=PLAIN_ITEMS[n % len(PLAIN_ITEMS)], applicant=person)
        )
        cid = sub.case_id
        service.handle(Accept(case_id=cid, actor=CLERK))
        service.handle(Review(case_id=cid, actor=REVIEWER, stage_name="审查", opinion="pass"))
        service.handle(Decide(case_id=cid, actor=APPROVER, outcome="approve"))
        service.handle(
            Seal(
                case_id=cid,
                actor=SEALER,
                seal_id="XZSP-SEAL-001",
                document_no=f"D{n}",
                document_sha256="0" * 64,
            )
        )
        service.handle(
            Deliver(case_id=cid, actor=DISPATCHER, method="window_pickup", recipient=person.name)
        )
        done += 6
    return done


def _open(directory: Path | str, mode: str, tag: str) -> tuple[CasestoreApp, CaseService]:
    """A fresh store, with a master key (``keys``) or without (``plain``): a SQLite file in
    ``directory``, or a scratch database on the PostgreSQL server ``directory`` names."""
    if mode == "keys":
        os.environ[KEY_VARIABLE] = base64.b64encode(os.urandom(32)).decode()
    try:
        if isinstance(directory, str):
            app = CasestoreApp(create_scratch(directory))
        else:
            app = CasestoreApp(f"sqlite:///{directory / f'forget-{mode}-{tag}.db'}")
    finally:
        os.environ.pop(KEY_VARIABLE, None)
    service = CaseService(app, clock=SimClock(datetime.now(UTC)), draws=SeededDraws())
    service.load_catalogue(catalogue_path(), Actor("bench-admin", "admin"))
    return app, service


def _round(
    directory: Path | str, cases: int, seed: int, chunk: int = 10
) -> dict[str, dict[str, float]]:
    """One round: both stores side by side, the work alternating between them in small
    slices (which goes first alternates too), so a burst of load on the shared machine
    falls on both."""
    stores = {m: _open(directory, m, str(seed)) for m in MODES}
    spent = {m: {"commands": 0.0, "command_s": 0.0, "events": 0.0, "rebuild_s": 0.0} for m in MODES}
    try:
        for n, start in enumerate(range(0, cases, chunk)):
            for mode in MODES if n % 2 == 0 else MODES[::-1]:
                t0 = time.perf_counter()
                done = _lifecycles(stores[mode][1], range(start, min(cases, start + chunk)), seed)
                spent[mode]["command_s"] += time.perf_counter() - t0
                spent[mode]["commands"] += done
        views = {m: (ViewDB(stores[m][0].db_url), LogSource(stores[m][0])) for m in MODES}
        for n, projection in enumerate(all_projections()):
            for mode in MODES if n % 2 == 0 else MODES[::-1]:
                app = stores[mode][0]
                if app.subject_keys is not None:  # every rebuild opens every token anew
                    app.subject_keys.keys.clear()
                    app.subject_keys.opened.clear()
                db, source = views[mode]
                head = app.log.head()[0]
                t0 = time.perf_counter()
                rebuild_into(source, db, projection, target="bench", upto=head)
                spent[mode]["rebuild_s"] += time.perf_counter() - t0
                spent[mode]["events"] += head
                drop_target(db, projection, "bench")
        for db, source in views.values():
            source.close()
            db.close()
    finally:
        for app, _ in stores.values():
            app.close()
            if isinstance(directory, str):
                drop_scratch(directory, app.db_url)
    return {
        m: {
            "commands_per_s": spent[m]["commands"] / spent[m]["command_s"],
            "rebuild_events_per_s": spent[m]["events"] / spent[m]["rebuild_s"],
        }
        for m in MODES
    }


def measure_forget(directory: Path | str, cases: int = 300, repeats: int = 3) -> dict[str, Any]:
    _round(directory, max(10, cases // 10), seed=99)  # warm-up (imports, first connections)
    rounds = [_round(directory, cases, seed=r) for r in range(repeats)]
    result: dict[str, Any] = {"cases": cases, "repeats": repeats, "rounds": rounds}
    for figure in ("commands_per_s", "rebuild_events_per_s"):
        ratios = [x["keys"][figure] / x["plain"][figure] for x in rounds]
        result[f"{figure}_ratio"] = [round(v, 3) for v in ratios]
        result[f"{figure}_ratio_range"] = [round(min(ratios), 3), round(max(ratios), 3)]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--dir", type=Path, default=None, help="where the SQLite files go")
    parser.add_argument("--cases", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--pg", default=None, help="a PostgreSQL server URL instead of SQLite")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        directory = args.dir or Path(tmp)
        directory.mkdir(parents=True, exist_ok=True)
        result = measure_forget(args.pg or directory, args.cases, args.repeats)
        result["backend"] = "postgresql" if args.pg else f"sqlite in {directory}"
    print(json.dumps(result, indent=1))
    for figure in ("commands_per_s", "rebuild_events_per_s"):
        low, high = result[f"{figure}_ratio_range"]
        print(f"{figure}: keys / clear = {low}–{high} (target ≥ 0.9)")


if __name__ == "__main__":
    main()
