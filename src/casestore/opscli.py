"""Operations verbs (SPEC §12): ``db migrate``, ``db grant ROLE``, ``backup``, ``restore``.

Registered on the ``casestore`` command by :mod:`casestore.cli`. Each builds through the
composition root (:mod:`casestore.bootstrap`). Exit codes as every verb: 0 ok, 1 the
restored data failed verification, 2 usage or configuration (a schema of another
version included), 3 cannot read or write.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Annotated

import psycopg
import typer
from rich.console import Console

from casestore.settings import Settings, SettingsError, load_settings
from casestore.store.schema import SCHEMA_VERSION, SchemaMismatch

EXIT_OK, EXIT_TAMPERED, EXIT_USAGE, EXIT_UNREADABLE = 0, 1, 2, 3
err = Console(stderr=True)
db_app = typer.Typer(no_args_is_help=True, help="Schema ownership: migrate and grant.")

DbOpt = Annotated[
    str | None,
    typer.Option("--db", help="Database URL (default: $CASESTORE_DB or sqlite:///./casestore.db)"),
]


def _fail(message: str, code: int) -> typer.Exit:
    err.print(f"casestore: {message}", style="red", markup=False, highlight=False, soft_wrap=True)
    return typer.Exit(code)


def _settings(db: str | None) -> Settings:
    try:
        return load_settings(db=db)
    except SettingsError as e:
        raise _fail(str(e), EXIT_USAGE) from None


@db_app.command("migrate")
def db_migrate(db: DbOpt = None) -> None:
    """Create or upgrade every table, trigger and function to this casestore's schema
    version, recorded in casestore_schema (idempotent; never downgrades). Run as the owner."""
    from casestore.bootstrap import migrate

    settings = _settings(db)
    try:
        done = migrate(settings)
    except SchemaMismatch as e:
        raise _fail(str(e), EXIT_USAGE) from None
    except psycopg.errors.InsufficientPrivilege as e:
        raise _fail(f"db migrate must run as the database owner: {e}", EXIT_USAGE) from None
    except (psycopg.OperationalError, OSError) as e:
        raise _fail(f"cannot reach the database: {e}", EXIT_UNREADABLE) from None
    before = "none (empty database)" if done.before is None else str(done.before)
    typer.echo(f"schema version {before} -> {done.after}")
    if done.views:
        typer.echo("read views created or rebuilt: " + ", ".join(done.views))
    for pair in done.revoked:
        typer.echo(f"revoked UPDATE, DELETE, TRUNCATE on {pair}")


@db_app.command("grant")
def db_grant(
    role: str,
    db: DbOpt = None,
    password_file: Annotated[
        str | None, typer.Option(help="file holding the role's password (created roles only)")
    ] = None,
) -> None:
    """Give ROLE the application's rights: SELECT and INSERT on the log and idempotency
    keys, its own read-side tables, never UPDATE/DELETE/TRUNCATE of the log nor CREATE."""
    from casestore.bootstrap import grant
    from casestore.store import schema

    settings = _settings(db)
    if not settings.db.startswith(("postgresql:", "postgres:")):
        raise _fail("db grant is for PostgreSQL (SQLite has no roles)", EXIT_USAGE)
    password = None
    if password_file:
        try:
            with open(os.path.expanduser(password_file), encoding="utf-8") as fh:
                password = fh.read().strip()
        except OSError as e:
            raise _fail(f"--password-file: {e}", EXIT_USAGE) from None
    try:
        schema.check(settings.db)
        grant(settings, role, password)
    except SchemaMismatch as e:
        raise _fail(str(e), EXIT_USAGE) from None
    except psycopg.errors.InsufficientPrivilege as e:
        raise _fail(f"db grant must run as the database owner: {e}", EXIT_USAGE) from None
    except (psycopg.OperationalError, OSError) as e:
        raise _fail(f"cannot reach the database: {e}", EXIT_UNREADABLE) from None
    typer.echo(f"granted {role} the application's rights at schema version {SCHEMA_VERSION}")


def backup(
    db: DbOpt = None,
    output: Annotated[Path, typer.Option("-o", "--output", help="a new or empty folder")] = Path(
        "casestore-backup"
    ),
) -> None:
    """Back up the log (SQLite: online backup API; PostgreSQL: one snapshot of the log,
    key, checkpoint and tree tables) with its digest and latest signed checkpoint beside it."""
    from casestore.backup import BackupError
    from casestore.backup import backup as take

    settings = _settings(db)
    try:
        manifest = take(settings.db, output)
    except BackupError as e:
        raise _fail(e.message, EXIT_USAGE) from None
    except (psycopg.Error, sqlite3.Error, OSError) as e:
        raise _fail(f"cannot read the database or write {output}: {e}", EXIT_UNREADABLE) from None
    signed = (
        f", checkpoint at tree size {manifest.checkpoint_size}"
        if manifest.checkpoint_size is not None
        else ", no signed checkpoint yet"
    )
    typer.echo(f"backup of {manifest.head} events in {output}: digest {manifest.digest}{signed}")


def restore(
    folder: Path,
    db: DbOpt = None,
    key: Annotated[
        str | None,
        typer.Option(help="the log's verifier key: also check the checkpoint's signature"),
    ] = None,
) -> None:
    """Restore a backup into an empty database; succeed only once `verify` passes against
    the backup's digest and checkpoint (exit 1 otherwise, and the database stays unusable)."""
    from casestore.backup import restore as load
    from casestore.bootstrap import migrate
    from casestore.domain.errors import InvalidCommand

    settings = _settings(db)
    try:
        report = load(folder, settings.db, key=key)
    except InvalidCommand as e:  # not a backup, a target that is not empty, ...
        raise _fail(e.message, EXIT_USAGE) from None
    except ValueError as e:  # a bad verifier key
        raise _fail(f"--key: {e}", EXIT_USAGE) from None
    except (psycopg.Error, sqlite3.Error, OSError) as e:
        raise _fail(f"cannot restore into {settings.db}: {e}", EXIT_UNREADABLE) from None
    for line in report.findings:
        typer.echo(line)
    if not report.ok:
        left = (
            "the database file was not created"
            if report.manifest.backend == "sqlite"
            else "the database carries no schema version, so no casestore process starts against it"
        )
        typer.echo(
            f"RESTORE REFUSED: the restored log does not verify against the backup's digest "
            f"{report.manifest.digest} ({len(report.findings)} findings); {left}"
        )
        raise typer.Exit(EXIT_TAMPERED)
    migrate(settings)  # stamps the version and builds the read views from the restored log
    typer.echo(report.checkpoint)
    typer.echo(
        f"RESTORED AND VERIFIED: {report.events} events, digest {report.manifest.digest} holds"
    )


def register(app: typer.Typer) -> None:
    app.add_typer(db_app, name="db")
    app.command()(backup)
    app.command()(restore)
