"""``casestore staff``: enrol staff and grant or revoke their roles (SPEC §10).

    casestore staff enroll STAFF_ID --name NAME [--unit U] [--first-admin]
    casestore staff grant STAFF_ID ROLE [--window W] --by ADMIN_ID --reason R
    casestore staff second STAFF_ID --by ADMIN_ID
    casestore staff revoke STAFF_ID ROLE --by ADMIN_ID --reason R
    casestore staff suspend|reinstate|leave STAFF_ID --by ADMIN_ID --reason R

``--first-admin`` works only while the log holds no admin: it bootstraps the first one.
Granting the admin role takes two admins (四眼原则): ``grant … admin`` by one records the
proposal, ``second`` by another grants it (the only admin makes the second one alone).
Exit codes: 0 done, 1 refused by a rule (nothing appended), 2 usage.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

import typer
from rich.console import Console

staff_app = typer.Typer(no_args_is_help=True, help="Staff and the roles granted to them.")
err = Console(stderr=True)

DbOpt = Annotated[
    str | None,
    typer.Option("--db", help="Database URL (default: $CASESTORE_DB or sqlite:///./casestore.db)"),
]
By = Annotated[str, typer.Option("--by", help="the admin who does it")]
Reason = Annotated[str, typer.Option("--reason", help="why (kept in the log)")]


def _run(db: str | None, what: Callable[..., int]) -> None:
    from casestore.authority import Authority
    from casestore.bootstrap import open_store
    from casestore.domain.errors import CasestoreError
    from casestore.service import utc_now
    from casestore.settings import SettingsError

    try:
        store = open_store(db)
    except SettingsError as e:
        err.print(f"casestore: {e}", style="red", markup=False, highlight=False)
        raise typer.Exit(2) from None
    try:
        position = what(Authority(store, utc_now))
    except CasestoreError as e:
        err.print(f"[red]refused: {e.message}[/red]")
        raise typer.Exit(1) from None
    finally:
        store.close()
    typer.echo(f"recorded at position {position}")


@staff_app.command()
def enroll(
    staff_id: str,
    name: Annotated[str, typer.Option("--name")],
    unit: Annotated[str, typer.Option("--unit")] = "",
    first_admin: Annotated[
        bool, typer.Option("--first-admin", help="bootstrap the first admin (log has none)")
    ] = False,
    by: Annotated[str | None, typer.Option("--by", help="the admin who enrols")] = None,
    db: DbOpt = None,
) -> None:
    """Enrol a member of staff (holding no role until granted one)."""
    if not first_admin and not by:
        err.print("[red]give --by ADMIN_ID (or --first-admin for the very first admin)[/red]")
        raise typer.Exit(2)
    _run(
        db,
        lambda a: a.enroll(staff_id, name=name, unit=unit, by=by, first_admin=first_admin),
    )


@staff_app.command()
def grant(
    staff_id: str,
    role: str,
    by: By,
    reason: Reason,
    window: Annotated[str, typer.Option("--window")] = "",
    db: DbOpt = None,
) -> None:
    """Grant a role (only admins; never to themselves; admin is proposed, then seconded)."""
    _run(db, lambda a: a.grant(staff_id, role, by=by, reason=reason, window=window))
    if role == "admin":
        typer.echo(
            f"admin for {staff_id}: granted if {by} is the only admin, else proposed "
            f"(another admin runs: casestore staff second {staff_id} --by ADMIN_ID)"
        )


@staff_app.command()
def second(staff_id: str, by: By, db: DbOpt = None) -> None:
    """Second a proposed grant of the admin role (by an admin other than the proposer)."""
    _run(db, lambda a: a.second(staff_id, by=by))


@staff_app.command()
def revoke(staff_id: str, role: str, by: By, reason: Reason, db: DbOpt = None) -> None:
    """Revoke a role: it stops working at once (within a second in other processes)."""
    _run(db, lambda a: a.revoke(staff_id, role, by=by, reason=reason))


@staff_app.command()
def suspend(staff_id: str, by: By, reason: Reason, db: DbOpt = None) -> None:
    """Suspend every role of a member (停职)."""
    _run(db, lambda a: a.suspend(staff_id, by=by, reason=reason))


@staff_app.command()
def reinstate(staff_id: str, by: By, reason: Reason, db: DbOpt = None) -> None:
    """End a suspension (复职): the roles kept through it are in force again."""
    _run(db, lambda a: a.reinstate(staff_id, by=by, reason=reason))


@staff_app.command()
def leave(staff_id: str, by: By, reason: Reason, db: DbOpt = None) -> None:
    """Record that a member left: every grant ends."""
    _run(db, lambda a: a.leave(staff_id, by=by, reason=reason))
