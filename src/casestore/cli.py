"""The ``casestore`` command: the composition root of write side, read side and HTTP edge.

Every verb reads its configuration through :func:`_settings` (``--db`` wins over
``CASESTORE_DB``) and builds what it needs through :mod:`casestore.bootstrap`, the
composition root; it and this module alone import ``casestore.projections`` and
``casestore.api`` (lazily, inside the verbs that need them). Bad configuration is a
message naming the variable and exit code 2 (SPEC §12).

Over 400 lines: one short function per verb of SPEC §12 (each importing what it runs,
lazily, so ``casestore --help`` stays fast); the verbs' names and exit codes are a
contract and are read best in one listing.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated
from uuid import UUID

import click
import typer
from rich.console import Console

from casestore.forgetcli import forget, keys_app, retention_app
from casestore.settings import Settings, SettingsError, load_settings
from casestore.staffcli import staff_app

if TYPE_CHECKING:
    from casestore.projections.reports.monthly import Period
    from casestore.service import CaseService

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Event-sourced case tracking for an Administrative Approval Service Bureau.",
)
project_app = typer.Typer(no_args_is_help=True, help="Projection workers (read side).")
app.add_typer(project_app, name="project")
case_app = typer.Typer(no_args_is_help=True, help="One case, now or as it stood.")
app.add_typer(case_app, name="case")
report_app = typer.Typer(no_args_is_help=True, help="Reports the bureau writes (通报).")
app.add_typer(report_app, name="report")
app.add_typer(staff_app, name="staff")
app.add_typer(retention_app, name="retention")
app.add_typer(keys_app, name="keys")
app.command()(forget)
err = Console(stderr=True)

DbOpt = Annotated[
    str | None,
    typer.Option("--db", help="Database URL (default: $CASESTORE_DB or sqlite:///./casestore.db)"),
]


#: The database URL the running verb loaded (names the role in a permission refusal).
_LOADED_DB: list[str] = []


def _settings(db: str | None = None) -> Settings:
    """The validated settings (``--db`` wins over ``CASESTORE_DB``), or exit 2."""
    try:
        settings = load_settings(db=db)
    except SettingsError as e:
        _config_error(e)
        raise typer.Exit(2) from None
    _LOADED_DB.append(settings.db)
    return settings


def _refused_privilege(error: BaseException) -> bool:
    """Print what a "permission denied" lacked and how to run the verb instead; True if
    ``error`` was one (the caller exits 2: the wrong role for the verb is configuration)."""
    from casestore.store.denied import advice, denial, role_of

    found = denial(error)
    if found is None:
        return False
    args, given, skip = [], "", False
    for arg in sys.argv[1:]:
        if skip:
            given, skip = arg, False
            continue
        if arg == "--db" or arg.startswith("--db="):
            given, skip = arg.removeprefix("--db").removeprefix("="), arg == "--db"
            continue
        args.append(arg)
    # the verb's own settings, else the URL it was given (verbs outside this module)
    url = _LOADED_DB[-1] if _LOADED_DB else given or os.environ.get("CASESTORE_DB", "")
    role = role_of(url) if url else "the configured role"
    command = " ".join(["casestore", *args])
    err.print(
        f"casestore: {advice(found, role, command)}",
        style="red", markup=False, highlight=False, soft_wrap=True,
    )  # fmt: skip
    return True


def _config_error(e: SettingsError) -> None:
    err.print(f"casestore: {e}", style="red", markup=False, highlight=False, soft_wrap=True)


def _app(db: str | None):  # type: ignore[no-untyped-def]
    from casestore.bootstrap import open_store

    return open_store(_settings(db))


@contextmanager
def _store(settings: Settings):  # type: ignore[no-untyped-def]
    """The store the settings describe, closed when the verb is done (the read side's
    runtime reads the log through it: ``projections.runtime.port``)."""
    from casestore.bootstrap import open_store

    store = open_store(settings)
    try:
        yield store
    finally:
        store.close()


#: Exit codes of every command (README, "Exit codes"): auditors script against them.
EXIT_OK, EXIT_TAMPERED, EXIT_USAGE, EXIT_UNREADABLE = 0, 1, 2, 3


@contextmanager
def _fail_closed() -> Iterator[None]:
    """An auditor tool's errors as exit codes: 2 usage or configuration (a missing
    database included), 3 cannot read or internal error; never 1, which means TAMPERED."""
    from eventsourcing.persistence import PersistenceError

    from casestore.domain.errors import CasestoreError

    try:
        yield
    except (typer.Exit, typer.Abort, click.exceptions.ClickException):
        raise
    except CasestoreError as e:
        err.print(f"[red]{e.message}[/red]", soft_wrap=True)
        raise typer.Exit(EXIT_USAGE) from None
    except Exception as e:
        if _refused_privilege(e):
            raise typer.Exit(EXIT_USAGE) from None
        if isinstance(e, PersistenceError | OSError):
            err.print(f"[red]cannot read the log: {e}[/red]", soft_wrap=True)
        else:
            err.print(f"[red]internal error: {type(e).__name__}: {e}[/red]", soft_wrap=True)
        raise typer.Exit(EXIT_UNREADABLE) from None


@app.command()
def verify(
    db: DbOpt = None,
    digest: Annotated[str | None, typer.Option(help="POSITION:HASH saved earlier")] = None,
    independent: Annotated[
        bool, typer.Option(help="recompute every hash in Python, trusting no server-side code")
    ] = False,
    checkpoint: Annotated[
        Path | None, typer.Option(help="a signed checkpoint file the log prefix must equal")
    ] = None,
    key: Annotated[
        str | None, typer.Option(help="the log's verifier key (with --checkpoint)")
    ] = None,
) -> None:
    """Recompute the hash chain; name every altered, removed, inserted or reordered event.

    With ``--checkpoint FILE --key VKEY`` also prove the log's first N events are the tree
    the bureau signed (exit 1 when they are not)."""
    from casestore.store.audit import open_for_audit, parse_digest
    from casestore.store.audit import verify as run_verify

    if (checkpoint is None) != (key is None):
        err.print("[red]--checkpoint and --key go together[/red]")
        raise typer.Exit(EXIT_USAGE)

    saved = None
    if digest:
        try:
            saved = parse_digest(digest)
        except ValueError as e:
            err.print(f"[red]{e}[/red]")
            raise typer.Exit(EXIT_USAGE) from None
    with _fail_closed():
        report = run_verify(open_for_audit(_settings(db)), saved, independent=independent)
    for finding in report.findings:
        typer.echo(finding.line())
    status = "INTACT" if report.ok else f"TAMPERED ({len(report.findings)} findings)"
    typer.echo(
        f"{status}: {report.events} events, head {report.last_position}:"
        f"{report.last_chain_hash.hex()}" + (", digest verified" if saved and report.ok else "")
    )
    signed = True
    if checkpoint is not None and key is not None:
        from casestore.ledger.commands import verify_checkpoint_file

        signed = verify_checkpoint_file(_settings(db).db, checkpoint, key)
    raise typer.Exit(EXIT_OK if report.ok and signed else EXIT_TAMPERED)


@app.command()
def digest(
    db: DbOpt = None,
    position: Annotated[int | None, typer.Option(help="a past position")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Print the (position, hash) an auditor keeps to prove the log unchanged later."""
    import orjson

    from casestore.store.audit import digest as take_digest
    from casestore.store.audit import open_for_audit

    with _fail_closed():
        try:
            d = take_digest(open_for_audit(_settings(db)), position)
        except ValueError as e:  # no event at that position
            err.print(f"[red]{e}[/red]")
            raise typer.Exit(EXIT_USAGE) from None
    typer.echo(orjson.dumps(d).decode() if as_json else d["digest"])


@app.command()
def export(
    db: DbOpt = None,
    output: Annotated[Path | None, typer.Option("-o", "--output")] = None,
    after: int = 0,
    upto: Annotated[int | None, typer.Option()] = None,
) -> None:
    """Stream the log as JSON Lines with hashes (to stdout or a file)."""
    from casestore.store.audit import export_lines, open_for_audit

    with _fail_closed():
        audited = open_for_audit(_settings(db))  # before the output file: a refusal leaves no file
        out = output.open("wb") if output else sys.stdout.buffer
        try:
            for line in export_lines(audited, after, upto):
                out.write(line)
        finally:
            if output:
                out.close()


@app.command()
def token(
    staff: Annotated[str, typer.Option("--staff", help="an enrolled staff id")],
    ttl: Annotated[int, typer.Option(help="seconds, 60 to 86400")] = 8 * 3600,
    db: DbOpt = None,
) -> None:
    """Issue a development token for an enrolled staff member (needs CASESTORE_SECRET,
    at least 32 bytes). It names the member only: what they may do comes from the roles
    granted to them in the log (`casestore staff grant`)."""
    from casestore.authority import Authority
    from casestore.identity import BadConfiguration, InvalidToken, issue_dev_token

    store = _app(db)
    try:
        member = Authority(store, _utc_now).staff(staff)
    finally:
        store.close()
    if member is None:
        err.print(f"[red]{staff!r} is not enrolled: `casestore staff enroll {staff} ...`[/red]")
        raise typer.Exit(2)
    try:
        typer.echo(issue_dev_token(_settings(db).secret_value(), staff, ttl_seconds=ttl))
    except (InvalidToken, BadConfiguration) as e:
        err.print(f"[red]{e.message}[/red]")
        raise typer.Exit(2) from None


def _utc_now() -> datetime:
    from casestore.service import utc_now

    return utc_now()


@app.command()
def keygen(
    signing: Annotated[
        str | None,
        typer.Option("--signing", metavar="NAME", help="an Ed25519 checkpoint key named NAME"),
    ] = None,
    witness: Annotated[
        str | None,
        typer.Option("--witness", metavar="NAME", help="a witness's Ed25519 cosigning key"),
    ] = None,
    pepper: Annotated[
        bool, typer.Option("--pepper", help="a CASESTORE_QUERY_PEPPER value instead")
    ] = False,
    kid: Annotated[str, typer.Option("--kid", help="the pepper's key id")] = "k1",
) -> None:
    """Print a new key: AES-256 for CASESTORE_CIPHER_KEY, a checkpoint signing key, or a
    query-code pepper.

    ``--signing NAME`` prints an Ed25519 private key and its verifier key in signed-note
    format; name it after the log origin (CASESTORE_LOG_ORIGIN). ``--witness NAME``
    prints a witness's private key and its C2SP cosigner verifier key (type 0x04, for
    CASESTORE_WITNESS_KEYS and ``proof verify --witness``). ``--pepper`` prints a
    new CASESTORE_QUERY_PEPPER (KID:BASE64)."""
    if signing is not None and witness is not None:
        err.print("[red]give --signing or --witness, not both[/red]")
        raise typer.Exit(2)
    if signing is not None or witness is not None:
        from casestore.ledger.commands import keygen_signing

        keygen_signing(signing if signing is not None else str(witness), witness=signing is None)
        return
    if pepper:
        from casestore.querycode import QueryPeppers

        typer.echo(QueryPeppers.generate(kid).setting())
        return
    from eventsourcing.cryptography import AESCipher

    typer.echo(AESCipher.create_key(32))


@app.command()
def deadline(
    from_: Annotated[str, typer.Option("--from", help="start day (not counted)")],
    days: Annotated[int, typer.Option("--days", min=0, max=1000)],
    suspend: Annotated[list[str] | None, typer.Option("--suspend", help="FROM:TO")] = None,
    extend: Annotated[int, typer.Option("--extend")] = 0,
    joint: Annotated[bool, typer.Option("--joint")] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Compute a working-day deadline and explain it."""
    from casestore.timelimits.calendar import CalendarRangeError
    from casestore.timelimits.rules import ClockError, deadline_command

    try:
        typer.echo(deadline_command(from_, days, suspend or [], extend, as_json, joint=joint))
    except (ClockError, CalendarRangeError) as e:
        err.print(f"[red]{e}[/red]")
        raise typer.Exit(2) from None


@app.command()
def catalogue(
    verb: Annotated[str | None, typer.Argument(help="load (the default)", metavar="[load]")] = None,
    path: Annotated[Path | None, typer.Argument(help="catalogue JSON file")] = None,
    db: DbOpt = None,
) -> None:
    """`catalogue load FILE`: publish or revise the catalogue's items and 一件事 bundle
    definitions in the log (default file: the bundled demo catalogue)."""
    from casestore.bootstrap import write_side
    from casestore.domain import Actor

    if verb not in (None, "load"):  # `casestore catalogue FILE`, as before
        verb, path = "load", Path(verb)
    source = path or Path(__file__).parent / "data" / "catalogue.json"
    if not source.is_file():
        err.print(f"[red]no catalogue file at {source}[/red]")
        raise typer.Exit(2)
    wired = write_side(_settings(db))
    try:
        counts = wired.service.load_catalogue(source, Actor("catalogue", "admin"))
    finally:
        wired.close()
    typer.echo(counts)


@app.command()
def serve(
    db: DbOpt = None,
    host: str = "127.0.0.1",
    port: int = 8000,
    no_workers: Annotated[bool, typer.Option("--no-workers")] = False,
) -> None:
    """Run the HTTP API (with embedded projection workers unless --no-workers)."""
    from casestore.api.server import run_server

    settings = _settings(db)
    _require_schema(settings)
    run_server(settings, host=host, port=port, workers=not no_workers)


@app.command()
def demo(db: DbOpt = None, host: str = "127.0.0.1", port: int = 8000, cases: int = 3000) -> None:
    """Seed realistic data into an empty database, then serve it."""
    from casestore.api.server import run_demo

    run_demo(_settings(db), host=host, port=port, cases=cases)


@app.command()
def simulate(
    db: DbOpt = None,
    cases: int = 1000,
    seed: int = 1,
    start: Annotated[str | None, typer.Option(help="YYYY-MM-DD")] = None,
    days: int = 120,
) -> None:
    """Generate a realistic history on a simulated clock (deterministic per seed)."""
    from casestore.simulate import run_simulation

    summary = run_simulation(
        _settings(db),
        cases=cases,
        seed=seed,
        start=date.fromisoformat(start) if start else None,
        days=days,
        progress=True,
    )
    typer.echo(summary)


@case_app.command("show")
def case_show(
    case: Annotated[str, typer.Argument(help="case id (UUID) or case number")],
    version: Annotated[
        int | None, typer.Option("--version", min=1, help="after its Nth event")
    ] = None,
    as_of: Annotated[str | None, typer.Option("--as-of", help="ISO 8601 time with offset")] = None,
    db: DbOpt = None,
) -> None:
    """Print one case as JSON: now, after its Nth event, or as it stood at a moment."""
    import orjson

    from casestore.api.views import case_view
    from casestore.domain import CasestoreError

    if version is not None and as_of is not None:
        err.print("[red]give --version or --as-of, not both[/red]")
        raise typer.Exit(EXIT_USAGE)
    moment = None
    if as_of is not None:
        try:
            moment = datetime.fromisoformat(as_of)
        except ValueError:
            moment = None
        if moment is None or moment.tzinfo is None:
            err.print("[red]--as-of needs an ISO 8601 time with an offset[/red]")
            raise typer.Exit(EXIT_USAGE)
    from casestore.bootstrap import write_side

    service = write_side(_settings(db)).service
    try:
        case_id = _case_id(service, case)
        if version is not None:
            latest = service.case(case_id)
            if version > latest.version:
                err.print(f"[red]case {case_id} has {latest.version} events[/red]")
                raise typer.Exit(EXIT_TAMPERED)
            found = service.case(case_id, version=version)
        else:
            found = service.case(case_id, as_of=moment)
        events = service.events(case_id, upto_version=found.version)
        typer.echo(orjson.dumps(case_view(found, events), option=orjson.OPT_INDENT_2).decode())
    except CasestoreError as e:
        err.print(f"[red]{e}[/red]")
        raise typer.Exit(EXIT_TAMPERED) from None
    finally:
        service.close()


@app.command("document")
def document(
    case: Annotated[str, typer.Argument(help="case id (UUID) or case number")],
    kind: Annotated[
        str,
        typer.Argument(help="acceptance | rejection | supplement | decision | delivery-receipt"),
    ],
    output: Annotated[Path, typer.Option("-o", "--output", help="FILE.pdf")],
    base_url: Annotated[
        str, typer.Option("--base-url", help="where the applicant's page is served")
    ] = "http://127.0.0.1:8000",
    db: DbOpt = None,
) -> None:
    """A written notice of a case as a PDF, from the events that caused it, with the legal
    dates of its clocks and a QR code to the applicant's page."""
    from casestore.api.readside import ReadSide
    from casestore.bootstrap import calendar_for, write_side
    from casestore.domain.values import local_date
    from casestore.projections.reports.notices import notice_pdf
    from casestore.timeutil import utc_now

    settings = _settings(db)
    wired = write_side(settings)
    try:
        service = wired.service
        case_id = _case_id(service, case)
        found = service.case(case_id)
        events = service.events(case_id)
        read = ReadSide(settings.db, service, calendar_for(settings), settings.clock())
        try:
            clocks = read.clocks(found, events, local_date(utc_now()))
        finally:
            read.close()
        output.write_bytes(notice_pdf(kind, found, events, clocks, base_url))
    finally:
        wired.close()
    typer.echo(f"wrote {output}")


def _case_id(service: CaseService, case: str) -> UUID:
    """A case id given as a UUID or as its case number."""
    try:
        return UUID(case)
    except ValueError:
        return service.find_case_no(case)


@app.command(name="import")
def import_(
    file: Path,
    db: DbOpt = None,
    by: Annotated[str, typer.Option("--by", help="staff id of who imports")] = "importer",
) -> None:
    """Load legacy history from JSON Lines as one marked batch (who, file, SHA-256);
    claimed times become occurred_at, the legacy entry time claimed_recorded_at."""
    from casestore.domain.values import Actor
    from casestore.importer import import_jsonl

    actor = Actor(by, "system", "legacy import")
    report = import_jsonl(_settings(db), file, progress=True, by=actor)
    for line in report.error_lines():
        err.print(line)
    typer.echo(f"{report.summary()}; batch {report.batch_id}")
    raise typer.Exit(EXIT_OK if report.ok else EXIT_TAMPERED)


@app.command()
def bench(
    db: DbOpt = None,
    json: Annotated[Path | None, typer.Option("--json")] = None,
    quick: bool = False,
) -> None:
    """Benchmarks with ratios against raw baselines measured in the same run."""
    from casestore.bench.runner import main as run_bench

    run_bench(_settings(db).db, json_path=json, quick=quick)


@project_app.command("run")
def project_run(
    names: Annotated[list[str] | None, typer.Argument()] = None, db: DbOpt = None
) -> None:
    """Run projection workers until interrupted (one active per projection on PostgreSQL)."""
    from casestore.projections.runtime.commands import run

    settings = _settings(db)
    _require_schema(settings)
    ledger = _start_ledger(settings) if not names else None
    try:
        with _store(settings) as store:
            run(store, names or [])
    finally:
        if ledger is not None:
            ledger.stop()


def _start_ledger(settings: Settings):  # type: ignore[no-untyped-def]
    """The tree worker and checkpoint signer, beside every projection (SPEC §9)."""
    from casestore.bootstrap import open_store
    from casestore.ledger.config import LedgerConfig
    from casestore.ledger.runner import LedgerRunner

    return LedgerRunner(open_store(settings), LedgerConfig.from_settings(settings)).start()


@project_app.command("rebuild")
def project_rebuild(
    name: str,
    db: DbOpt = None,
    until: Annotated[str | None, typer.Option(help="ISO time")] = None,
    target: Annotated[
        str | None, typer.Option(help="keep the rebuild beside the live view under this name")
    ] = None,
) -> None:
    """Rebuild a projection into a fresh target and swap it in (blue/green)."""
    from casestore.projections.runtime.commands import rebuild

    with _store(_settings(db)) as store:
        rebuild(
            store,
            name,
            until=datetime.fromisoformat(until) if until else None,
            target=target,
        )


@project_app.command("retry")
def project_retry(name: str, db: DbOpt = None) -> None:
    """Re-apply a projection's parked events after a fix (a blue/green rebuild); exit 1
    when some are still parked."""
    from casestore.projections.runtime.commands import retry

    with _store(_settings(db)) as store:
        still = retry(store, name)
    raise typer.Exit(1 if still else 0)


@project_app.command("verify")
def project_verify(name: str, db: DbOpt = None) -> None:
    """Rebuild a projection up to its live position beside it; compare the rows' digests.

    Exit 0 when the live view is exactly what the log prefix it was built from derives,
    1 when a row differs or the tree root the view recorded is not the stored tree's root
    at that size. Prints both roots (base64, as checkpoints carry them)."""
    import base64

    from casestore.projections.runtime.verify import verify_projection

    settings = _settings(db)
    with _store(settings) as store:
        check = verify_projection(store, name)
    for table in sorted(check.live.tables):
        live, rebuilt = check.live.tables[table], check.rebuilt.tables[table]
        mark = "ok" if live == rebuilt else "DIFFERS"
        typer.echo(
            f"{table}: {check.live.rows[table]} rows live, {check.rebuilt.rows[table]} rebuilt, "
            f"digest {live[:16]} / {rebuilt[:16]} {mark}"
        )
    position = check.live.position

    def b64(root: bytes | None, missing: str) -> str:
        return base64.b64encode(root).decode() if root is not None else missing

    recorded = check.live.tree_root if check.live.tree_size == position else None
    tree_note = {True: "= the tree's root at that size", None: "(not compared)"}.get(
        check.root_ok, f"DIFFERS from the tree's root at that size, {b64(check.tree_root, '')}"
    )
    typer.echo(
        f"tree: recorded root {b64(recorded, '(not recorded yet: ahead of the tree worker)')}"
        f" {tree_note}; stored tree at size {position}: "
        f"{b64(check.tree_root, '(the tree has not grown to this size yet)')}"
    )
    status = "VERIFIED" if check.ok else "DIFFERS"
    typer.echo(
        f"{status}: {name} at position {position} = tree size {position}, "
        f"root {b64(recorded, '(not recorded yet)')}, view digest {check.live.digest}"
    )
    raise typer.Exit(0 if check.ok else 1)


@project_app.command("status")
def project_status(db: DbOpt = None) -> None:
    """Position and lag of every projection."""
    from casestore.projections.runtime.commands import status

    with _store(_settings(db)) as store:
        lines = status(store)
    for line in lines:
        typer.echo(line)


ReportOutput = Annotated[
    Path | None, typer.Option("-o", "--output", help="FILE.pdf, FILE.xlsx or FILE.json")
]
ReportAtPosition = Annotated[
    int | None, typer.Option("--at-position", min=0, help="recompute at this log position")
]
ReportFigure = Annotated[
    str | None, typer.Option("--figure", help="print one figure (its reproducing command)")
]


@report_app.command("monthly")
def report_monthly(
    month: Annotated[str, typer.Option("--month", help="YYYY-MM")],
    output: ReportOutput = None,
    at_position: ReportAtPosition = None,
    figure: ReportFigure = None,
    db: DbOpt = None,
) -> None:
    """The monthly 通报 as the log stood when the month ended (or at --at-position):
    every figure with its log position and the command that recomputes it."""
    from casestore.projections.reports.monthly import Month

    _report(Month.parse, month, output, at_position, figure, db)


@report_app.command("year")
def report_year(
    year: Annotated[str, typer.Option("--year", help="YYYY")],
    output: ReportOutput = None,
    at_position: ReportAtPosition = None,
    figure: ReportFigure = None,
    db: DbOpt = None,
) -> None:
    """The year summary (年度工作总结): the monthly 通报's figures over a calendar year,
    as the log stood when the year ended (or at --at-position), each reproducible."""
    from casestore.projections.reports.monthly import Year

    _report(Year.parse, year, output, at_position, figure, db)


def _report(
    parse: Callable[[str], Period],
    period: str,
    output: Path | None,
    at_position: int | None,
    figure: str | None,
    db: str | None,
) -> None:
    """``report monthly`` and ``report year``: one path, the period parsed by ``parse``
    (``Month.parse`` or ``Year.parse``) once the store is open."""
    from casestore.bootstrap import calendar_for, write_side
    from casestore.projections.reports.commands import run_report

    settings = _settings(db)
    wired = write_side(settings)
    try:
        lines = run_report(
            wired.service,
            wired.rebuild_as_of,
            settings.db,
            parse(period),
            output,
            at_position,
            figure,
            calendar=calendar_for(settings),
            config=settings.clock(),
        )
    finally:
        wired.close()
    for line in lines:
        typer.echo(line)


def _require_schema(settings: Settings) -> None:
    """A long-running process starts only against the schema version it was built for
    (exit 2 with what to run otherwise, SPEC §12)."""
    from casestore.bootstrap import require_schema
    from casestore.store.schema import SchemaMismatch

    try:
        require_schema(settings)
    except SchemaMismatch as e:
        err.print(f"casestore: {e}", style="red", markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(EXIT_USAGE) from None


def _register_ledger() -> None:
    from casestore.ledger.commands import register
    from casestore.opscli import register as register_ops

    register(app)
    register_ops(app)


_register_ledger()


def _configure_logging() -> None:
    """JSON lines on stderr from every verb of the process, at ``CASESTORE_LOG_LEVEL``
    (a bad configuration is reported by the verb itself, exit 2)."""
    from casestore.logs import configure

    try:
        level = load_settings().log_level
    except SettingsError:
        level = "info"
    configure(level)


def main() -> None:
    """Console-script entry point: a refused operation prints its reason, never a traceback.

    Exit codes: 0 success (INTACT), 1 TAMPERED (``verify``) or rows refused (``import``),
    2 usage or configuration, 3 the database cannot be read or written / internal error.
    """
    from eventsourcing.persistence import PersistenceError

    from casestore.domain.errors import CasestoreError

    _configure_logging()
    try:
        app(standalone_mode=True)
    except SettingsError as e:
        _config_error(e)
        sys.exit(EXIT_USAGE)
    except CasestoreError as e:
        err.print(f"[red]{type(e).__name__}: {e.message}[/red]")
        sys.exit(EXIT_USAGE)
    except Exception as e:
        if _refused_privilege(e):
            sys.exit(EXIT_USAGE)
        if isinstance(e, PersistenceError):
            err.print(f"[red]database error: {e}[/red]")
        else:
            err.print(f"[red]internal error: {type(e).__name__}: {e}[/red]")
        sys.exit(EXIT_UNREADABLE)
