"""What per-subject keys cost (issue 18): commands and rebuilds with personal fields sealed
under each subject's data key (``CASESTORE_CIPHER_KEY`` set) against the same work in
clear, in the same run on the same backend.

Each round writes a fresh log per mode — ``cases`` whole lifecycles (submit with a new
applicant, accept, review, decide, seal, deliver naming the recipient: two of the six
commands carry personal data, and every new applicant creates and links a data key) —
through ``CaseService.handle``, then rebuilds every projection from zero into a side
target. Modes alternate (which goes first alternates too) and ``--repeats`` rounds give
one ratio per round; the report gives each ratio's range. Targets (issue 18): commands
≥ 0.9× and rebuilds ≥ 0.9× of the clear log's.

    python -m casestore.bench.forget --dir /tmp/bench-forget --cases 300 --repeats 3
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

from .store import PLAIN_ITEMS, catalogue_path

CLERK = Actor("c1", "clerk", "clerk", "W01")
REVIEWER = Actor("r1", "reviewer")
APPROVER = Actor("a1", "approver")
SEALER = Actor("s1", "sealer")
DISPATCHER = Actor("d1", "dispatcher", "", "W09")
KEY_VARIABLE = "CASESTORE_CIPHER_KEY"


def _lifecycles(service: CaseService, cases: int, seed: int) -> int:
    """``cases`` whole lifecycles through the service; the number of commands."""
    rng = random.Random(seed)
    done = 0
    for n in range(cases):
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


def _round(directory: Path, mode: str, cases: int, seed: int, tag: str) -> dict[str, float]:
    url = f"sqlite:///{directory / f'forget-{mode}-{tag}.db'}"
    if mode == "keys":
        os.environ[KEY_VARIABLE] = base64.b64encode(os.urandom(32)).decode()
    else:
        os.environ.pop(KEY_VARIABLE, None)
    app = CasestoreApp(url)
    try:
        service = CaseService(app, clock=SimClock(datetime.now(UTC)), draws=SeededDraws())
        service.load_catalogue(catalogue_path(), Actor("bench-admin", "admin"))
        started = time.perf_counter()
        commands = _lifecycles(service, cases, seed)
        command_s = time.perf_counter() - started
        head = app.log.head()[0]
        db, source = ViewDB(url), LogSource(app)
        started = time.perf_counter()
        for projection in all_projections():
            rebuild_into(source, db, projection, target="bench", upto=head)
            drop_target(db, projection, "bench")
        rebuild_s = time.perf_counter() - started
        source.close()
        db.close()
        return {"commands_per_s": commands / command_s, "rebuild_events_per_s": head / rebuild_s}
    finally:
        app.close()
        os.environ.pop(KEY_VARIABLE, None)


def measure_forget(directory: Path, cases: int = 300, repeats: int = 3) -> dict[str, Any]:
    saved = os.environ.get(KEY_VARIABLE)
    rounds: list[dict[str, dict[str, float]]] = []
    try:
        for mode in ("plain", "keys"):  # warm-up (imports, first connections): not counted
            _round(directory, mode, max(1, cases // 10), seed=99, tag="warm")
        for r in range(repeats):
            order = ("plain", "keys") if r % 2 == 0 else ("keys", "plain")
            rounds.append({m: _round(directory, m, cases, seed=r, tag=str(r)) for m in order})
    finally:
        if saved is not None:
            os.environ[KEY_VARIABLE] = saved
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
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        directory = args.dir or Path(tmp)
        directory.mkdir(parents=True, exist_ok=True)
        result = measure_forget(directory, args.cases, args.repeats)
    print(json.dumps(result, indent=1))
    for figure in ("commands_per_s", "rebuild_events_per_s"):
        low, high = result[f"{figure}_ratio_range"]
        print(f"{figure}: keys / clear = {low}–{high} (target ≥ 0.9)")


if __name__ == "__main__":
    main()
