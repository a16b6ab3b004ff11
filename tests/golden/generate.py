"""Write the golden log of the schema version this checkout writes (see docs/events.md).

    python -m tests.golden.generate v1          # refuses to overwrite an existing version

A golden log is what one schema version of casestore wrote, kept forever so that every
later version proves it still reads it: ``log.jsonl`` is ``casestore export`` of a seeded
simulation on a fixed clock (stored bytes, ``recorded_at`` and both hashes per event),
``views.json`` holds every projection's rows rebuilt from that log by the code of that
version, and ``meta.json`` records how it was made (seed, cases, start, days, head digest,
the event-shape fingerprint of that version). ``tests/golden/test_golden.py`` replays
every version directory. The next schema version adds its own directory with this
script (after landing its upcaster); old directories are never regenerated.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

HERE = Path(__file__).resolve().parent
#: The history every golden log is made of (small: replayed by every CI run).
SEED = 1
CASES = 100
START = date(2025, 3, 3)
DAYS = 75
#: The event kinds that seed's history lacks, written by hand after it (see _withdrawal
#: and _rare_events): every event class has stored bytes in a golden log (test_golden).
WITHDRAWN_CASE = UUID("00000000-0000-4000-8000-00000000a001")
ACCESS_ID = UUID("00000000-0000-4000-8000-00000000a002")
FORGETTING_ID = UUID("00000000-0000-4000-8000-00000000a003")


def rows_json(value: Any) -> Any:
    """A view cell as JSON (bytes as hex) so that rows compare after a round trip."""
    if isinstance(value, bytes | bytearray | memoryview):
        return {"hex": bytes(value).hex()}
    if isinstance(value, list | tuple):
        return [rows_json(v) for v in value]
    return value


def view_rows(db_url: str) -> dict[str, dict[str, Any]]:
    """Every projection rebuilt from zero: {projection: {"version": n, "tables": {table: rows}}}.

    Rows are sorted (``snapshot``); the projection's version is kept so that a deliberate
    change of a projection (its version bumped) can re-record the views of old logs.
    """
    try:
        from casestore.projections.engine.db import ViewDB, snapshot
        from casestore.projections.runtime.commands import rebuild_projection
        from casestore.projections.runtime.registry import all_projections
    except ImportError:  # the read side's layout before 2026-11-28 (golden log v1)
        from casestore.projections.commands import (  # type: ignore[no-redef]
            rebuild_projection,
        )
        from casestore.projections.db import ViewDB, snapshot  # type: ignore[no-redef]
        from casestore.projections.registry import all_projections  # type: ignore[no-redef]

    import inspect

    # Since 2026-11-28 the runtime reads the log through a store the caller opens.
    log: Any = db_url
    if next(iter(inspect.signature(rebuild_projection).parameters)) != "db_url":
        from casestore.bootstrap import open_store

        log = open_store(db_url)
    out: dict[str, dict[str, Any]] = {}
    try:
        for projection in all_projections():
            rebuild_projection(log, projection.name, quiet=True)
            db = ViewDB(db_url)
            try:
                tables = snapshot(db, projection)
            finally:
                db.close()
            out[projection.name] = {
                "version": projection.version,
                "tables": {t: [rows_json(list(r)) for r in rows] for t, rows in tables.items()},
            }
    finally:
        if not isinstance(log, str):
            log.close()
    return out


def generate(version: str, *, force: bool = False) -> Path:
    from casestore.simulate import run_simulation
    from casestore.store.application import CasestoreApp
    from casestore.store.audit import digest, export_lines

    target = HERE / version
    if target.exists() and not force:
        raise SystemExit(f"{target} exists: a golden log is never regenerated")
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/golden.db"
        run_simulation(url, cases=CASES, seed=SEED, start=START, days=DAYS, progress=False)
        app = CasestoreApp(url)
        try:
            _withdrawal(app)
            _rare_events(app)
        finally:
            app.close()
        _legacy_import(url, Path(tmp))
        app = CasestoreApp(url)
        try:
            with (target / "log.jsonl").open("wb") as out:
                for line in export_lines(app):
                    out.write(line)
            head = digest(app)["digest"]
        finally:
            app.close()
        views = view_rows(url)
    _write_views(target, views)
    meta = {
        "schema_version": version,
        "seed": SEED,
        "cases": CASES,
        "start": START.isoformat(),
        "days": DAYS,
        "head_digest": head,
        "written_by_commit": _commit(),
        "fingerprint": _fingerprint(),
    }
    (target / "meta.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    return target


def _write_views(target: Path, views: dict[str, Any]) -> None:
    text = json.dumps(views, ensure_ascii=False, sort_keys=True, indent=0) + "\n"
    (target / "views.json").write_text(text, encoding="utf-8")


def rerecord_views(version: str) -> Path:
    """Re-record an old log's expected views with today's projections (the log never changes).

    Only for a deliberate projection change (its version bumped): review the diff.
    """
    from tests.golden import replay

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/golden.db"
        replay.load(version, url)
        _write_views(HERE / version, view_rows(url))
    return HERE / version


def _withdrawal(app: Any) -> None:
    """A case submitted and withdrawn (撤回) after the simulated period, through the domain."""
    from casestore.domain import Case
    from casestore.domain.index import CaseNumber
    from casestore.domain.values import Actor, Party

    clerk = Actor("golden-clerk", "clerk", "金样", "W01")
    at = datetime(2025, 5, 20, 2, 0, tzinfo=UTC)
    case = Case.submit(
        case_id=WITHDRAWN_CASE,
        case_no="GOLDEN-0001",
        query_code_hash="0" * 64,
        item_code="XK-001",
        applicant=Party("张三", "resident_id", "110101199003070011", phone="13800000000"),
        actor=clerk,
        at=at,
        materials=["申请书"],
    )
    case.withdraw(reason="申请人撤回", actor=clerk, at=at.replace(hour=3))
    # The number first: recorded_at stays monotone in log order, as the log requires.
    app.append(CaseNumber.register("GOLDEN-0001", WITHDRAWN_CASE, clerk, at), case)


def _rare_events(app: Any) -> None:
    """Events the seeded simulation never writes, through the domain, after the withdrawal
    (from golden log v5 on; an older checkout lacks some of these classes and skips them):
    a member of staff's whole career (grant, revoke, admin proposed, suspended, reinstated,
    left), a window and a bundle definition revised, an award revoked, one accountable
    read, and the withdrawn case's applicant forgotten."""
    try:
        from casestore.domain.access import Access
        from casestore.domain.award import Award
        from casestore.domain.catalogue import BundleDefinition, bundle_definition_id
        from casestore.domain.staff import Staff
        from casestore.domain.subject import Subject
        from casestore.domain.values import Actor
        from casestore.domain.window import Window, window_id
    except ImportError:
        return
    admin = Actor("admin-01", "admin", "系统管理员")
    at = datetime(2025, 5, 21, 2, 0, tzinfo=UTC)

    def tick(minutes: int) -> datetime:
        return at.replace(minute=minutes)

    temp = Staff.enroll(staff_id="golden-02", name="金样二", actor=admin, at=tick(0))
    temp.grant(role="clerk", reason="临时顶岗", window="W01", actor=admin, at=tick(1))
    temp.revoke(role="clerk", reason="顶岗结束", actor=admin, at=tick(2))
    temp.propose_admin(reason="备份管理员", actor=admin, at=tick(3))
    temp.suspend(reason="调查期间停职", actor=admin, at=tick(4))
    temp.reinstate(reason="调查结束", actor=admin, at=tick(5))
    temp.leave(reason="调离", actor=admin, at=tick(6))
    window = app.get(Window, window_id("W01"))
    window.revise(
        name="综合受理1号窗口（老年人优先）",
        window_type=window.window_type,
        actor=admin,
        at=tick(7),
    )
    bundle = app.get(BundleDefinition, bundle_definition_id("YJS-001"))
    bundle.revise(
        changes={"name": str(bundle.spec["name"]) + "（修订）"},
        reason="名称规范",
        actor=admin,
        at=tick(8),
    )
    granted = next(e for _, e in app.iter_events() if isinstance(e, Award.Granted))
    award = app.get(Award, granted.originator_id)
    award.revoke("登记错误", actor=admin, at=tick(9))
    read = Access.record(
        access_id=ACCESS_ID,
        actor=Actor("auditor-01", "auditor", "审计员", ""),
        route="GET /cases/{case_id}",
        purpose="金样审计",
        case_ids=[WITHDRAWN_CASE],
        at=tick(10),
    )
    forgotten = Subject.forget(
        forgetting_id=FORGETTING_ID,
        actor=admin,
        approved_by="golden-02",
        reason="申请人要求删除个人信息",
        subject_ref="golden-subject",
        key_ids=["golden-key-1"],
        case_ids=[WITHDRAWN_CASE],
        agent_case_ids=[],
        bundle_ids=[],
        ignore_retention=True,
        at=tick(11),
    )
    app.append(temp, window, bundle, award, read, forgotten)


def _legacy_import(url: str, tmp: Path) -> None:
    """Two legacy cases imported as one batch (from golden log v4 on): the ``ImportBatch``
    events and case events with ``claimed_recorded_at``/``import_batch``, one of them
    back-dated (entered eight days after it happened), one honest. Older versions of this
    script lacked the importer's batch; it is skipped there."""
    try:
        from casestore.domain.imports import ImportBatch  # noqa: F401
        from casestore.importer import import_jsonl
    except ImportError:
        return
    clerk = {"staff_id": "legacy-07", "role": "clerk", "name": "旧系统", "window": "W02"}
    applicant = {"name": "张三", "id_type": "resident_id", "id_number": "110101199003070011"}
    lines = []
    for key, entered in (("honest", "10:02"), ("backdated", "16:00")):
        day = "2024-03-01" if key == "honest" else "2024-03-09"
        lines += [
            {
                "aggregate_id": f"golden-{key}",
                "type": "Submitted",
                "occurred_at": "2024-03-01T09:00:00+08:00",
                "recorded_at": "2024-03-01T09:05:00+08:00",
                "actor": clerk,
                "data": {
                    "case_no": f"LEGACY-{key}",
                    "item_code": "XK-001",
                    "applicant": applicant,
                },
            },
            {
                "aggregate_id": f"golden-{key}",
                "type": "Accepted",
                "occurred_at": "2024-03-01T10:00:00+08:00",
                "recorded_at": f"{day}T{entered}:00+08:00",
                "actor": clerk,
                "data": {
                    "notice_no": f"SL-{key}",
                    "limits": {"statutory_days": 20, "promised_days": 10},
                    "promised_completion": "2024-03-15",
                },
            },
        ]
    path = tmp / "legacy.jsonl"
    path.write_text("".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines))
    report = import_jsonl(url, path, progress=False)
    if not report.ok:
        raise SystemExit(f"the golden legacy import failed: {report.error_lines()}")


def _commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True, cwd=HERE
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def _fingerprint() -> dict[str, Any]:
    try:
        from casestore.domain.evolution import schema_fingerprint
    except ImportError:  # the first golden log predates the registry
        return {}
    return schema_fingerprint()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("version", help="directory name under tests/golden/, e.g. v2")
    parser.add_argument("--force", action="store_true", help="overwrite (never for a landed one)")
    parser.add_argument(
        "--views-only", action="store_true", help="re-record the views of an existing log"
    )
    args = parser.parse_args(argv)
    if args.views_only:
        target = rerecord_views(args.version)
    else:
        target = generate(args.version, force=args.force)
    print(f"wrote {target.relative_to(HERE.parent.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
