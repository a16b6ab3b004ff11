"""``casestore forget``, ``retention due`` and ``keys rotate`` (SPEC §10, issue 18).

    casestore forget SUBJECT --reason R --approved-by STAFF --by ADMIN [--ignore-retention]
    casestore retention due [--json]
    casestore keys rotate --new-key-file FILE

SUBJECT is the ID number or USCC. Exit codes: 0 done, 1 refused by a rule (nothing
destroyed, nothing appended), 2 usage or configuration (no master key), 3 cannot read.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import orjson
import typer
from rich.console import Console

if TYPE_CHECKING:
    from casestore.service.forgetting import Forgetting
    from casestore.store.application import CasestoreApp

retention_app = typer.Typer(no_args_is_help=True, help="Retention of subjects' personal data.")
keys_app = typer.Typer(no_args_is_help=True, help="The master key and the subjects' data keys.")
err = Console(stderr=True)

DbOpt = Annotated[
    str | None,
    typer.Option("--db", help="Database URL (default: $CASESTORE_DB or sqlite:///./casestore.db)"),
]


def _say(message: str) -> None:
    err.print(f"casestore: {message}", style="red", markup=False, highlight=False)


@contextmanager
def _store(db: str | None) -> Iterator[CasestoreApp]:
    from casestore.bootstrap import open_store
    from casestore.settings import SettingsError

    try:
        store = open_store(db)
    except SettingsError as e:
        _say(str(e))
        raise typer.Exit(2) from None
    try:
        yield store
    finally:
        store.close()


def _with_forgetting(db: str | None, what: Callable[[Forgetting], Any]) -> Any:
    from casestore.domain.errors import CasestoreError, InvalidCommand
    from casestore.service import utc_now
    from casestore.service.forgetting import Forgetting

    with _store(db) as store:
        try:
            forgetting = Forgetting(store, utc_now)
        except InvalidCommand as e:
            _say(e.message)
            raise typer.Exit(2) from None
        try:
            return what(forgetting)
        except CasestoreError as e:
            _say(f"refused: {e.message}")
            raise typer.Exit(1) from None


def forget(
    subject: Annotated[str, typer.Argument(help="the subject's ID number or USCC")],
    reason: Annotated[str, typer.Option("--reason", help="why (kept in the log)")],
    approved_by: Annotated[str, typer.Option("--approved-by", help="the second admin")],
    by: Annotated[str, typer.Option("--by", help="the admin who does it")],
    ignore_retention: Annotated[
        bool,
        typer.Option("--ignore-retention", help="a court order or a change in the law (say which)"),
    ] = False,
    db: DbOpt = None,
) -> None:
    """Destroy a subject's data keys and record SubjectForgotten (no personal data)."""
    done = _with_forgetting(
        db,
        lambda f: f.forget(
            subject,
            by=by,
            approved_by=approved_by,
            reason=reason,
            ignore_retention=ignore_retention,
        ),
    )
    typer.echo(
        f"forgotten: subject {done.subject_ref}, {len(done.key_ids)} key(s) destroyed, "
        f"{len(done.case_ids)} case(s); SubjectForgotten at position {done.position}"
    )


@retention_app.command()
def due(
    as_json: Annotated[bool, typer.Option("--json")] = False,
    db: DbOpt = None,
) -> None:
    """Subjects whose every case is closed and past its item's retention period."""
    subjects = _with_forgetting(db, lambda f: f.retention_due())
    rows = [
        {
            "subject_ref": s.subject_ref,
            "cases": [
                {
                    "case_no": c.case_no,
                    "item_code": c.item_code,
                    "stage": c.stage,
                    "closed_at": c.closed_at.isoformat() if c.closed_at else None,
                    "keep_until": c.keep_until.isoformat() if c.keep_until else None,
                }
                for c in s.cases
            ],
        }
        for s in subjects
    ]
    if as_json:
        typer.echo(orjson.dumps(rows).decode())
        return
    for row in rows:
        cases = ", ".join(f"{c['case_no']} (kept until {c['keep_until']})" for c in row["cases"])
        typer.echo(f"{row['subject_ref']}  {cases}")
    typer.echo(f"{len(rows)} subject(s) due")


@keys_app.command()
def rotate(
    new_key_file: Annotated[
        Path, typer.Option("--new-key-file", help="a file holding the new master key (base64)")
    ],
    db: DbOpt = None,
) -> None:
    """Re-wrap every data key under a new master key (the log is not touched); then set
    CASESTORE_CIPHER_KEY to the new key."""
    try:
        new = base64.b64decode(new_key_file.read_text("utf-8").strip(), validate=True)
    except (OSError, binascii.Error) as e:
        _say(f"cannot read the new master key: {e}")
        raise typer.Exit(2) from None
    if len(new) not in (16, 24, 32):
        _say("the new master key must decode to 16, 24 or 32 bytes")
        raise typer.Exit(2)
    with _store(db) as store:
        if store.subject_keys is None:
            _say("set CASESTORE_CIPHER_KEY to the current master key first")
            raise typer.Exit(2)
        count = store.subject_keys.rotate(new)
    typer.echo(f"re-wrapped {count} key(s); now set CASESTORE_CIPHER_KEY to the new key")
