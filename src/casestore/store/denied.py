"""What a PostgreSQL "permission denied" means for the person who ran a command.

The application role made by ``casestore db grant`` may read and append, and may not
create tables (``store/roles.py``). A verb that needs more than that, run as that role,
used to end in "internal error: InsufficientPrivilege" and exit 3, the code that means
the database could not be read. It is a configuration matter (the wrong role for this
verb; retrying will not help): :func:`denial` names the privilege that was missing so
the CLI can say which role to run the verb as, and exit 2.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import psycopg
from psycopg.conninfo import conninfo_to_dict

_STATEMENT = re.compile(r"^LINE \d+: (\w+)(?: (\w+))?", re.MULTILINE)
_OBJECT = re.compile(r"permission denied for (\w+) (\S+)")


@dataclass(frozen=True)
class Denial:
    """A refused privilege: ``message`` is PostgreSQL's own words, ``privilege`` ours."""

    message: str
    privilege: str
    creates: bool  # the refused statement creates an object (a table, an index)


def exception_chain(error: BaseException) -> Iterator[BaseException]:
    """``error`` and what it was raised from (``__cause__``, else ``__context__``), once
    each: where a driver's error sits under eventsourcing's or our own wrappers."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def denial(error: BaseException) -> Denial | None:
    """The refused privilege behind ``error`` (or anything it was raised from), else None."""
    for e in exception_chain(error):
        if isinstance(e, psycopg.errors.InsufficientPrivilege):
            return _describe(e)
    return None


def _describe(e: psycopg.errors.InsufficientPrivilege) -> Denial:
    message = e.diag.message_primary or str(e).splitlines()[0]
    statement = _STATEMENT.search(str(e))
    verb = statement.group(1).upper() if statement else ""
    found = _OBJECT.search(message)
    kind, name = (found.group(1), found.group(2)) if found else ("", "")
    creates = verb == "CREATE"
    if kind == "schema" and creates:
        privilege = f"CREATE on schema {name} (creating {_what(statement)})"
    elif kind and verb:
        privilege = f"{verb} on {kind} {name}"
    elif kind:
        privilege = f"a privilege on {kind} {name}"
    else:
        privilege = "a privilege this command needs"
    return Denial(message=message, privilege=privilege, creates=creates)


def _what(statement: re.Match[str] | None) -> str:
    noun = (statement.group(2) or "") if statement else ""
    return f"a {noun.lower()}" if noun else "an object"


def role_of(url: str) -> str:
    """The database role a URL connects as ("the configured role" when it names none)."""
    try:
        user = conninfo_to_dict(url).get("user")
    except psycopg.ProgrammingError:
        return "the configured role"
    return str(user) if user else "the configured role"


def advice(found: Denial, role: str, command: str) -> str:
    """The refusal a CLI prints: what was refused, the missing privilege, and the fix."""
    head = f"permission denied: the database role {role} lacks {found.privilege} ({found.message})"
    if found.creates:
        then = (
            " A report's views the owner built are then read by the application role."
            if command.startswith("casestore report")
            else ""
        )
        return (
            f"{head}. The application role may not create tables (`casestore db grant`, "
            "SPEC §12): `db migrate`, `restore` and views built as of a moment (`report "
            "monthly`, `report year`, `project rebuild`, `project verify`) are the database "
            f"owner's work. Run `{command}` with --db naming the owner (the role that ran "
            f"`casestore db migrate`).{then}"
        )
    return (
        f"{head}. Run `{command}` as the database owner, or, if the application role "
        "should hold this right, have the owner run `casestore db migrate` and then "
        f"`casestore db grant {role}`."
    )
